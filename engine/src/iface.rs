//! The engine interface (an API boundary).
//!
//! An array engine is a deterministic state machine driven by [`Input`]s and producing
//! [`Output`]s. The simulator delivers every input and carries out every output:
//!
//! - Host requests arrive as [`Input::Host`]; the engine answers each with exactly one
//!   [`Output::Reply`] (unless it crashes first). Requests may arrive twice (a link can
//!   duplicate messages): the engine must not apply a duplicate twice.
//! - Media I/O is asynchronous: [`Output::Media`] submits, [`Input::MediaDone`] completes.
//!   A media write is durable once its completion arrives, not before; at a crash,
//!   writes in flight may have landed wholly, partly (a torn multi-block write) or not
//!   at all. A write is acknowledged to a host only once the media says it is durable.
//! - Metadata the engine needs after a restart goes to the durable metadata area with
//!   [`MediaOp::MetaPut`]. A restarted controller is booted by
//!   [`EngineFactory::boot`] with exactly what was persisted there: controller memory
//!   is lost, media and metadata are kept.
//! - Timers: [`Output::Timer`] asks for [`Input::Timer`] after a delay. The engine
//!   never reads a clock.

use model::{ArrayId, GroupId, Op, OpResult, PairEvent, PairId, RemoteEvent, Value, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A host request: the host and that host's request sequence number. Unique per host
/// for the whole run; a duplicate delivery carries the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReqId {
    pub host: u32,
    pub seq: u64,
}

/// A media I/O, numbered by the engine (unique within one controller incarnation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IoId(pub u64);

/// A timer, numbered by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

/// A sparse physical block space on the array's media. The engine decides how volumes
/// map to spaces (one space per volume, a shared pool for snapshots, ...). Spaces
/// hold 2^64 blocks; storage is sparse and an unwritten block reads 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SpaceId(pub u32);

/// The durable metadata area: key → bytes. Survives controller crashes.
pub type Metadata = BTreeMap<String, Vec<u8>>;

/// What the engine is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The controller has just booted (first start or a restart). Always the first
    /// input of an incarnation: the place to resume background work.
    Started,
    /// A host request arrived.
    Host { req: ReqId, op: Op },
    /// A media I/O the engine submitted has completed.
    MediaDone { io: IoId, result: MediaResult },
    /// A timer the engine set has fired.
    Timer { timer: TimerId },
    /// A message from another array arrived over an array-to-array link.
    Peer { from: ArrayId, msg: Vec<u8> },
}

/// What the engine asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Submit a media I/O; its completion comes back as [`Input::MediaDone`].
    Media { io: IoId, op: MediaOp },
    /// Answer a host request.
    Reply { req: ReqId, result: OpResult },
    /// Ask for [`Input::Timer`] after `after_ns` simulated nanoseconds.
    Timer { timer: TimerId, after_ns: u64 },
    /// Send a message to another array. Links may drop, delay, duplicate or reorder
    /// it, and a link that is down loses it: the engine must tolerate all of these.
    Send { to: ArrayId, msg: Vec<u8> },
    /// Tell the harness something happened inside the array (a real array's SIM or
    /// SNMP trap). Pair transitions the array makes by itself are judged by the model
    /// at the instant they are announced.
    Notice(Notice),
}

/// What the engine announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A pair changed state by itself (a copy finished; a fault suspended it). The
    /// simulator records it in the history as an instantaneous [`Op::PairEvent`].
    Pair { pair: PairId, event: PairEvent },
    /// A background copy began.
    CopyStarted { pair: PairId, kind: CopyKind },
    /// A background copy finished, with what it did.
    CopyFinished { pair: PairId, kind: CopyKind, stats: CopyStats },
    /// S3: a consistency group changed state by itself (a copy finished; the link was
    /// lost). Recorded as an instantaneous [`Op::RemoteEvent`].
    RemoteGroup { group: GroupId, event: RemoteEvent },
    /// S0: a catalog entry changed state by itself (the copy is durable; a crash cut
    /// it). Recorded as an instantaneous [`Op::BackupEvent`].
    Backup { backup: model::BackupId, event: model::BackupEvent },
    /// S0, for the run report only (not in the history): a backup's background copy
    /// ended, its `Complete` or `Failed` record durable, having written `blocks`.
    BackupCopied { backup: model::BackupId, blocks: u64 },
}

/// Why a background copy runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CopyKind {
    /// The initial copy after `pair_create`.
    Initial,
    /// `resync`: source → mirror.
    Resync,
    /// `restore`: mirror → source.
    Restore,
    /// `restore(protected)`: mirror → source, the mirror never written.
    RestoreProtected,
    /// After a controller restart: blocks a mirrored write may have left different.
    Recovery,
    /// S3: a remote pair's initial copy (primary → secondary over the link).
    RemoteInitial,
    /// S3: `resume` (the union of both change maps, primary → secondary).
    RemoteResync,
    /// S3: `failback` (the union of both change maps, secondary → old primary).
    RemoteFailback,
}

impl CopyKind {
    pub fn name(self) -> &'static str {
        match self {
            CopyKind::Initial => "initial",
            CopyKind::Resync => "resync",
            CopyKind::Restore => "restore",
            CopyKind::RestoreProtected => "restore_protected",
            CopyKind::Recovery => "recovery",
            CopyKind::RemoteInitial => "remote_initial",
            CopyKind::RemoteResync => "remote_resync",
            CopyKind::RemoteFailback => "remote_failback",
        }
    }
}

/// What one background copy did (SPEC §2: resync and restore copy exactly the union of
/// the two change maps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Blocks written by the copier.
    pub blocks_copied: u64,
    /// Blocks covered by the union of the change maps (and, for an initial copy, by
    /// the allocated extents of either volume) when the copy began.
    pub union_blocks: u64,
    /// Of the blocks copied, those whose content actually differed.
    pub differing_blocks: u64,
    /// Change-map bits (chunks) copied.
    pub chunks: u64,
}

/// A media I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaOp {
    /// Read `len` consecutive blocks.
    Read { space: SpaceId, block: u64, len: u32 },
    /// Write consecutive blocks. Multi-block writes can tear at a crash.
    Write { space: SpaceId, block: u64, values: Vec<Value> },
    /// Store `value` under `key` in the durable metadata area (atomic per key).
    MetaPut { key: String, value: Vec<u8> },
    /// Remove `key` from the durable metadata area.
    MetaDelete { key: String },
    /// List the allocated (ever written, non-zero) blocks of a space, in order: a thin
    /// array's allocation map (SCSI GET LBA STATUS). Cost follows the blocks listed.
    Allocated { space: SpaceId },
    /// A [`MediaOp::MetaPut`] that *is* a transition the array makes by itself (the
    /// record saying a copy finished or a pair suspended): the simulator announces
    /// `notice` exactly when the put becomes durable, at its completion or, if the
    /// controller crashes with it in flight and it lands, at the crash. An engine that
    /// announced after the completion instead would lose the announcement when a crash
    /// falls between the two, and the restarted controller could not tell whether to
    /// repeat it.
    MetaPutAnnounced { key: String, value: Vec<u8>, notice: Notice },
}

/// The completion of a media I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaResult {
    /// The blocks read, in order.
    Read(Vec<Value>),
    /// The write or metadata update is durable.
    Written,
    /// The media could not read some block (a media error).
    ReadError { block: u64 },
    /// The allocated blocks of a space, ascending.
    Allocated(Vec<u64>),
}

/// The static configuration of one array: its volumes. Given at every boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayConfig {
    /// This array's id (the peers' ids are those of [`Input::Peer`] and [`Output::Send`]).
    pub id: ArrayId,
    pub name: String,
    pub volumes: Vec<(VolumeId, u64)>,
    /// Blocks per change-map bit (a power of two, 1 to 2^20): the granularity at
    /// which mirror pairs track changed blocks and copy them.
    pub change_grain: u64,
    /// S3: the volumes of the other arrays, `(volume, array, blocks)`, so a remote
    /// pair's command can find its peer.
    pub remote_volumes: Vec<(VolumeId, ArrayId, u64)>,
}

/// What an engine may be asked to check about itself (SPEC §4.3 invariants). The
/// simulator probes at every media write and at quiescent points.
pub enum Probe<'a> {
    /// The engine has just submitted this media write.
    MediaWrite { space: SpaceId, block: u64, len: u64 },
    /// A moment to compare media contents (after a copy finished; at the end of the
    /// settle phase).
    Quiescent { media: &'a dyn MediaView },
}

/// Read access to an array's media for invariant checks (no latency, no faults).
pub trait MediaView {
    /// The value of a block (0 if never written).
    fn block(&self, space: SpaceId, block: u64) -> Value;
    /// The allocated blocks of a space in `[from, to)`, ascending.
    fn allocated(&self, space: SpaceId, from: u64, to: u64) -> Vec<u64>;
}

/// S3: one remote pair as one of its arrays sees it, for the simulator's cross-array
/// invariant probe (the change maps cover every block where the two sides differ).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotePairView {
    pub group: GroupId,
    pub pair: PairId,
    /// This array's volume of the pair and its media space.
    pub volume: VolumeId,
    pub space: SpaceId,
    pub blocks: u64,
    /// This array holds the primary (in the model's current roles).
    pub primary: bool,
    /// This array's view of the group's state.
    pub state: model::RemoteState,
    /// The secondaries hold a whole image (an initial copy finished).
    pub consistent: bool,
    /// Nothing of the group is in motion here: its record is durable, no copy, apply,
    /// restore or link-loss record runs. The probe compares only settled views.
    pub settled: bool,
    /// The block ranges `[start, end)` this side's change map (and marks) cover.
    pub covered: Vec<(u64, u64)>,
    /// The block ranges with a write or copy in flight here (not judged).
    pub busy: Vec<(u64, u64)>,
}

/// An array controller under test.
pub trait ArrayEngine {
    /// Handles one input, appending any outputs to `out` (which the caller empties).
    fn handle(&mut self, input: Input, out: &mut Vec<Output>);

    /// A short description of the engine's current state for traces and reports.
    fn describe(&self) -> String {
        String::new()
    }

    /// True while the engine has background work it will carry on by itself (a copy,
    /// a resync). The simulator lets a run settle until no engine is busy.
    fn busy(&self) -> bool {
        false
    }

    /// Checks the engine's invariants at a probe; `Err` names the one that failed.
    /// The default checks nothing.
    fn check(&self, _probe: &Probe<'_>) -> Result<(), String> {
        Ok(())
    }

    /// S3: this array's remote pairs, for the simulator's cross-array probe. The
    /// default reports none (nothing is checked).
    fn remote_pairs(&self) -> Vec<RemotePairView> {
        Vec::new()
    }
}

/// Boots engines: at the start of a run and after every controller restart.
pub trait EngineFactory {
    /// The engine's name, for reports.
    fn name(&self) -> &str;

    /// A controller for `config` whose memory holds only what it can rebuild from
    /// `metadata` (empty on first boot).
    fn boot(&self, config: &ArrayConfig, metadata: &Metadata) -> Box<dyn ArrayEngine>;

    /// Planted-bug zoo only: defects the simulator plants in its own simulated hosts
    /// for this run (a file server that skips its cache flush before a backup, ...),
    /// by name. Every real engine leaves this empty.
    fn host_defects(&self) -> std::collections::BTreeSet<&'static str> {
        std::collections::BTreeSet::new()
    }
}
