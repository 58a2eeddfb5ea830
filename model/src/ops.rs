//! Operations, results and errors: what a client asks and what it is told.

use crate::backup::{BackupEvent, BackupId, BackupInfo, BackupState, CatalogEntry, Region};
use crate::ids::{GroupId, PairId, Value, VolumeId};
use crate::remote::{Fence, RemoteEvent, RemoteMode, RemoteState, SplitBrainPolicy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A client-visible operation.
///
/// Multi-block operations are atomic per block only, as on a SCSI or NVMe device: a
/// read concurrent with a multi-block write may see some blocks old and some new.
/// The checker therefore judges each block independently (P-compositionality).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Read `len` blocks starting at `block`.
    Read { vol: VolumeId, block: u64, len: u32 },
    /// Write `values` to consecutive blocks starting at `block`.
    Write { vol: VolumeId, block: u64, values: Vec<Value> },
    /// S2: make `mirror` a mirror of `source` (ShadowImage `paircreate`).
    PairCreate { pair: PairId, source: VolumeId, mirror: VolumeId },
    /// S2: freeze the mirror as a point-in-time image of the source (`pairsplit`).
    Split { pair: PairId },
    /// S2: bring the mirror back in step with the source (`pairresync`).
    Resync { pair: PairId },
    /// S2: make the source the mirror's image (`pairresync -restore`); a protected
    /// restore never writes the mirror.
    Restore { pair: PairId, protected: bool },
    /// S2: dissolve the pair (`pairsplit -S`).
    PairDelete { pair: PairId },
    /// S2: a transition the array makes by itself (a copy finished, a fault suspended
    /// the pair). Not a client request: the simulator records each one the engine
    /// announces as an instantaneous operation, so the model judges when it happened.
    PairEvent { pair: PairId, event: PairEvent },
    /// S3: make `secondary` (on another array) the remote copy of `primary`, in
    /// consistency group `group` (TrueCopy `paircreate`). The first pair of a group
    /// sets its mode, fence level and split-brain policy; later pairs must match.
    RemotePairCreate {
        pair: PairId,
        primary: VolumeId,
        secondary: VolumeId,
        group: GroupId,
        mode: RemoteMode,
        fence: Fence,
        split_brain: SplitBrainPolicy,
    },
    /// S3: planned suspension of a group (`pairsplit`, PSUS).
    Suspend { group: GroupId },
    /// S3: resynchronise a group from the primaries (`pairresync`).
    Resume { group: GroupId },
    /// S3: the secondaries take over (`horctakeover`, SSWS).
    Takeover { group: GroupId },
    /// S3: after a takeover, resynchronise in reverse: the secondaries are
    /// authoritative and the roles swap (`pairresync -swaps`).
    Failback { group: GroupId },
    /// S3: a transition the arrays make by themselves (copy done, link lost), recorded
    /// like [`Op::PairEvent`].
    RemoteEvent { group: GroupId, event: RemoteEvent },
    /// S4: `image` := `vol` at this instant, a point-in-time image (a VLUN: readable,
    /// writable, its writes private). The client names the image (an id from
    /// [`VolumeId::IMAGE_BASE`] up), as `lvcreate --snapshot --name` does.
    Snapshot { vol: VolumeId, image: VolumeId },
    /// S4: remove a point-in-time image.
    DeleteSnapshot { image: VolumeId },
    /// S0: `dst` := `src` at this instant, copied in the background; a catalog entry
    /// `backup` (named by the client) is created `Copying` (see [`crate::backup`]).
    Backup { backup: BackupId, src: Region, dst: Region },
    /// S0: store the host's management information in the backup's catalog entry.
    RecordBackup { backup: BackupId, info: BackupInfo },
    /// S0: the catalog entries of the backups whose source is on `src`.
    ListBackups { src: VolumeId },
    /// S0: `to` := the backup's destination (a `Complete` backup).
    RestoreBackup { backup: BackupId, to: Region },
    /// S0: a catalog entry's transition the array makes by itself, recorded like
    /// [`Op::PairEvent`].
    BackupEvent { backup: BackupId, event: BackupEvent },
}

/// The states of a mirror pair (SPEC §2 S2). A deleted pair no longer exists: its id
/// may be used again, and commands naming it are rejected with `NoSuchPair`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairState {
    /// The initial copy runs (ShadowImage COPY).
    Copy,
    /// The mirror follows the source (PAIR).
    Mirrored,
    /// The mirror is a point-in-time image, host-accessible (PSUS).
    Split,
    /// Changed blocks are copied source → mirror (COPY(RS)).
    Resync,
    /// Changed blocks are copied mirror → source; the mirror follows the source (RCPY).
    Restore,
    /// As `Restore`, but the mirror is never written; ends in `Split`.
    RestoreProtected,
    /// A fault stopped the mirroring (PSUE).
    Suspended,
}

impl PairState {
    /// Every state, in declaration order.
    pub const ALL: [PairState; 7] = [
        PairState::Copy,
        PairState::Mirrored,
        PairState::Split,
        PairState::Resync,
        PairState::Restore,
        PairState::RestoreProtected,
        PairState::Suspended,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PairState::Copy => "copy",
            PairState::Mirrored => "mirrored",
            PairState::Split => "split",
            PairState::Resync => "resync",
            PairState::Restore => "restore",
            PairState::RestoreProtected => "restore_protected",
            PairState::Suspended => "suspended",
        }
    }

    pub fn from_name(name: &str) -> Option<PairState> {
        PairState::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for PairState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A transition an array makes by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairEvent {
    /// The background copy finished: `Copy`, `Resync`, `Restore` → `Mirrored`;
    /// `RestoreProtected` → `Split`.
    CopyDone,
    /// A fault (a media error) stopped the mirroring: `Copy`, `Mirrored`, `Resync` →
    /// `Suspended`.
    Suspended,
}

impl fmt::Display for PairEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PairEvent::CopyDone => "copy_done",
            PairEvent::Suspended => "suspended",
        })
    }
}

impl Op {
    /// The volume a read or write addresses; `None` for admin commands.
    pub fn volume(&self) -> Option<VolumeId> {
        match self {
            Op::Read { vol, .. } | Op::Write { vol, .. } => Some(*vol),
            _ => None,
        }
    }

    /// The blocks a read or write touches: `(first, count)`; `(0, 0)` for admin
    /// commands.
    pub fn extent(&self) -> (u64, u64) {
        match self {
            Op::Read { block, len, .. } => (*block, u64::from(*len)),
            Op::Write { block, values, .. } => (*block, values.len() as u64),
            _ => (0, 0),
        }
    }

    /// True for host I/O (reads and writes), false for admin commands and events.
    pub fn is_io(&self) -> bool {
        matches!(self, Op::Read { .. } | Op::Write { .. })
    }

    /// The pair an admin command or event names.
    pub fn pair(&self) -> Option<PairId> {
        match self {
            Op::Read { .. } | Op::Write { .. } => None,
            Op::PairCreate { pair, .. }
            | Op::Split { pair }
            | Op::Resync { pair }
            | Op::Restore { pair, .. }
            | Op::PairDelete { pair }
            | Op::PairEvent { pair, .. }
            | Op::RemotePairCreate { pair, .. } => Some(*pair),
            Op::Suspend { .. }
            | Op::Resume { .. }
            | Op::Takeover { .. }
            | Op::Failback { .. }
            | Op::RemoteEvent { .. }
            | Op::Snapshot { .. }
            | Op::DeleteSnapshot { .. }
            | Op::Backup { .. }
            | Op::RecordBackup { .. }
            | Op::ListBackups { .. }
            | Op::RestoreBackup { .. }
            | Op::BackupEvent { .. } => None,
        }
    }

    /// The consistency group a remote command or event names (S3).
    pub fn group(&self) -> Option<GroupId> {
        match self {
            Op::RemotePairCreate { group, .. }
            | Op::Suspend { group }
            | Op::Resume { group }
            | Op::Takeover { group }
            | Op::Failback { group }
            | Op::RemoteEvent { group, .. } => Some(*group),
            _ => None,
        }
    }

    pub fn is_write(&self) -> bool {
        matches!(self, Op::Write { .. })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Read { vol, block, len } => write!(f, "read({vol}, {block}, len {len})"),
            Op::Write { vol, block, values } => {
                write!(f, "write({vol}, {block}, [")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "])")
            }
            Op::PairCreate { pair, source, mirror } => write!(f, "pair_create({pair}, {source} -> {mirror})"),
            Op::Split { pair } => write!(f, "split({pair})"),
            Op::Resync { pair } => write!(f, "resync({pair})"),
            Op::Restore { pair, protected } => {
                write!(f, "restore({pair}{})", if *protected { ", protected" } else { "" })
            }
            Op::PairDelete { pair } => write!(f, "pair_delete({pair})"),
            Op::PairEvent { pair, event } => write!(f, "event({pair}, {event})"),
            Op::RemotePairCreate { pair, primary, secondary, group, mode, fence, split_brain } => write!(
                f,
                "remote_pair_create({pair}, {primary} -> {secondary}, {group}, {mode}, fence {fence}, \
                 split brain {split_brain})"
            ),
            Op::Suspend { group } => write!(f, "suspend({group})"),
            Op::Resume { group } => write!(f, "resume({group})"),
            Op::Takeover { group } => write!(f, "takeover({group})"),
            Op::Failback { group } => write!(f, "failback({group})"),
            Op::RemoteEvent { group, event } => write!(f, "event({group}, {event})"),
            Op::Snapshot { vol, image } => write!(f, "snapshot({vol} -> {image})"),
            Op::DeleteSnapshot { image } => write!(f, "delete_snapshot({image})"),
            Op::Backup { backup, src, dst } => write!(f, "backup({backup}, {src} -> {dst})"),
            Op::RecordBackup { backup, info } => write!(
                f,
                "record_backup({backup}, label {:?}, generation {}, host time {}, source {:?})",
                info.label, info.generation, info.host_time, info.source
            ),
            Op::ListBackups { src } => write!(f, "list_backups({src})"),
            Op::RestoreBackup { backup, to } => write!(f, "restore_backup({backup} -> {to})"),
            Op::BackupEvent { backup, event } => write!(f, "event({backup}, {event})"),
        }
    }
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The values read, one per block.
    Values(Vec<Value>),
    /// The command took effect.
    Done,
    /// S0: catalog entries (`list_backups`), in id order.
    Backups(Vec<CatalogEntry>),
}

/// Why the model (and so the engine) rejects an operation. An error is a result: the
/// model says exactly when each is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The volume does not exist.
    NoSuchVolume,
    /// The extent runs past the end of the volume, or is empty.
    OutOfRange,
    /// The volume is not host-accessible in its current role.
    NotAccessible,
    /// The data is unreadable.
    MediaError,
    /// The volume was the mirror of a pair deleted before its copy finished: its
    /// content is no image of anything, so it rejects I/O until it is the mirror of a
    /// new pair.
    Inconsistent,
    /// No pair has this id.
    NoSuchPair,
    /// A pair with this id exists already.
    PairExists,
    /// The source or the mirror already belongs to a pair.
    InPair,
    /// The two volumes cannot form a pair (the same volume, or different sizes).
    InvalidPair,
    /// The command is not allowed in the pair's current state (which it names).
    WrongState(PairState),
    /// S3: no consistency group has this id.
    NoSuchGroup,
    /// S3: the command is not allowed in the group's current state (which it names).
    RemoteWrongState(RemoteState),
    /// S3: sync mode with fence level `data` and the secondary out of reach: the
    /// primary refuses host I/O.
    Fenced,
    /// S3: both sides wrote while apart and the group's split-brain policy refuses
    /// to discard the side this command would discard.
    SplitBrain,
    /// The array cannot tell whether the write took effect (the remote copy's answer
    /// was lost with the link). Not a model result: the simulator records it as an
    /// unknown outcome (Jepsen's `:info`).
    Indeterminate,
    /// S4: an image (or a volume) with this id exists already.
    ImageExists,
    /// S4: no image has this id.
    NoSuchImage,
    /// S4: the image id is not in the images' range, or the volume is itself an image
    /// (images of images are not supported).
    InvalidImage,
    /// S4: the volume has point-in-time images, so it cannot join a mirror pair.
    HasImages,
    /// S0: a backup or restore region lies inside an array's catalog.
    InsideCatalog,
    /// S0: the catalog has no entry with this id.
    NoSuchBackup,
    /// S0: the catalog has an entry with this id already (ids are never reused).
    BackupExists,
    /// S0: an empty region, regions of different sizes, or a region on an image.
    InvalidRegion,
    /// S0: the source and the destination (or the restore's target and the backup)
    /// overlap.
    RegionOverlap,
    /// S0: the destination holds a backup, or a copy in progress reads or writes it.
    DestinationBusy,
    /// S0: not allowed in the catalog entry's current state (which it names).
    BackupState(BackupState),
    /// S0: the volume holds a backup's region, so it cannot join a pair or have images.
    HasBackups,
}

impl ErrorKind {
    /// The snake_case name history files use: `not_accessible`, `wrong_state:split`.
    pub fn name(self) -> String {
        let s = match self {
            ErrorKind::NoSuchVolume => "no_such_volume",
            ErrorKind::OutOfRange => "out_of_range",
            ErrorKind::NotAccessible => "not_accessible",
            ErrorKind::MediaError => "media_error",
            ErrorKind::Inconsistent => "inconsistent",
            ErrorKind::NoSuchPair => "no_such_pair",
            ErrorKind::PairExists => "pair_exists",
            ErrorKind::InPair => "in_pair",
            ErrorKind::InvalidPair => "invalid_pair",
            ErrorKind::WrongState(s) => return format!("wrong_state:{}", s.name()),
            ErrorKind::NoSuchGroup => "no_such_group",
            ErrorKind::RemoteWrongState(s) => return format!("remote_wrong_state:{}", s.name()),
            ErrorKind::Fenced => "fenced",
            ErrorKind::SplitBrain => "split_brain",
            ErrorKind::Indeterminate => "indeterminate",
            ErrorKind::ImageExists => "image_exists",
            ErrorKind::NoSuchImage => "no_such_image",
            ErrorKind::InvalidImage => "invalid_image",
            ErrorKind::HasImages => "has_images",
            ErrorKind::InsideCatalog => "inside_catalog",
            ErrorKind::NoSuchBackup => "no_such_backup",
            ErrorKind::BackupExists => "backup_exists",
            ErrorKind::InvalidRegion => "invalid_region",
            ErrorKind::RegionOverlap => "region_overlap",
            ErrorKind::DestinationBusy => "destination_busy",
            ErrorKind::BackupState(s) => return format!("backup_state:{}", s.name()),
            ErrorKind::HasBackups => "has_backups",
        };
        s.to_string()
    }

    /// The inverse of [`ErrorKind::name`].
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        if let Some(state) = name.strip_prefix("wrong_state:") {
            return PairState::from_name(state).map(ErrorKind::WrongState);
        }
        if let Some(state) = name.strip_prefix("remote_wrong_state:") {
            return RemoteState::from_name(state).map(ErrorKind::RemoteWrongState);
        }
        if let Some(state) = name.strip_prefix("backup_state:") {
            return BackupState::from_name(state).map(ErrorKind::BackupState);
        }
        Some(match name {
            "no_such_volume" => ErrorKind::NoSuchVolume,
            "out_of_range" => ErrorKind::OutOfRange,
            "not_accessible" => ErrorKind::NotAccessible,
            "media_error" => ErrorKind::MediaError,
            "inconsistent" => ErrorKind::Inconsistent,
            "no_such_pair" => ErrorKind::NoSuchPair,
            "pair_exists" => ErrorKind::PairExists,
            "in_pair" => ErrorKind::InPair,
            "invalid_pair" => ErrorKind::InvalidPair,
            "no_such_group" => ErrorKind::NoSuchGroup,
            "fenced" => ErrorKind::Fenced,
            "split_brain" => ErrorKind::SplitBrain,
            "indeterminate" => ErrorKind::Indeterminate,
            "image_exists" => ErrorKind::ImageExists,
            "no_such_image" => ErrorKind::NoSuchImage,
            "invalid_image" => ErrorKind::InvalidImage,
            "has_images" => ErrorKind::HasImages,
            "inside_catalog" => ErrorKind::InsideCatalog,
            "no_such_backup" => ErrorKind::NoSuchBackup,
            "backup_exists" => ErrorKind::BackupExists,
            "invalid_region" => ErrorKind::InvalidRegion,
            "region_overlap" => ErrorKind::RegionOverlap,
            "destination_busy" => ErrorKind::DestinationBusy,
            "has_backups" => ErrorKind::HasBackups,
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::NoSuchVolume => "no such volume",
            ErrorKind::OutOfRange => "out of range",
            ErrorKind::NotAccessible => "not accessible",
            ErrorKind::MediaError => "media error",
            ErrorKind::Inconsistent => "inconsistent volume",
            ErrorKind::NoSuchPair => "no such pair",
            ErrorKind::PairExists => "pair exists",
            ErrorKind::InPair => "volume already in a pair",
            ErrorKind::InvalidPair => "invalid pair",
            ErrorKind::WrongState(s) => return write!(f, "not allowed in state {s}"),
            ErrorKind::NoSuchGroup => "no such consistency group",
            ErrorKind::RemoteWrongState(s) => return write!(f, "not allowed in remote state {s}"),
            ErrorKind::Fenced => "fenced: the secondary cannot be reached",
            ErrorKind::SplitBrain => "split brain: both sides wrote while apart",
            ErrorKind::Indeterminate => "indeterminate: the remote copy's answer was lost",
            ErrorKind::ImageExists => "image exists",
            ErrorKind::NoSuchImage => "no such image",
            ErrorKind::InvalidImage => "invalid image",
            ErrorKind::HasImages => "the volume has point-in-time images",
            ErrorKind::InsideCatalog => "the region lies inside the array's catalog",
            ErrorKind::NoSuchBackup => "no such backup in the catalog",
            ErrorKind::BackupExists => "the catalog has a backup with this id already",
            ErrorKind::InvalidRegion => "invalid region (empty, sizes differ, or on an image)",
            ErrorKind::RegionOverlap => "the regions overlap",
            ErrorKind::DestinationBusy => "the destination holds a backup or a copy in progress uses it",
            ErrorKind::BackupState(s) => return write!(f, "not allowed in backup state {s}"),
            ErrorKind::HasBackups => "the volume holds a backup's region",
        };
        f.write_str(s)
    }
}

/// The result of an operation, as the model defines it.
pub type OpResult = Result<Reply, ErrorKind>;
