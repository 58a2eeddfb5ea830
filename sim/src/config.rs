//! The simulated world, as the simulator sees it: already validated, names resolved
//! to indices. Scenario files are converted into this (the file format is a boundary
//! of its own and lives in the `mirrorsim` package).

use crate::dist::Dist;
use crate::rng::Ratio;
use model::files::FileLayout;
use model::{ArrayId, HostId, Op, PairId, VolumeId, VolumeSpec};

/// Everything a run needs besides the seed and the engine.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub arrays: Vec<ArraySpec>,
    pub volumes: Vec<VolumeInfo>,
    pub hosts: Vec<HostSpec>,
    pub links: Vec<LinkSpec>,
    /// Scheduled actions, in time order.
    pub timeline: Vec<TimedAction>,
    pub random_faults: RandomFaults,
    pub limits: Limits,
    /// S1: file servers and backup servers (host roles); empty in most scenarios.
    pub offload: Offload,
}

impl SimConfig {
    /// The model's view of the volumes: the declared ones (an image exists only once
    /// a snapshot made it).
    pub fn volume_specs(&self) -> Vec<VolumeSpec> {
        self.volumes
            .iter()
            .filter(|v| !v.id.is_image())
            .map(|v| VolumeSpec { id: v.id, blocks: v.blocks })
            .collect()
    }

    /// A volume or image by id.
    pub fn volume(&self, id: VolumeId) -> Option<&VolumeInfo> {
        match self.volumes.get(id.0 as usize) {
            Some(v) if v.id == id => Some(v),
            _ => self.volumes.iter().find(|v| v.id == id),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ArraySpec {
    pub name: String,
    pub media: MediaSpec,
    /// Blocks per change-map bit, given to the engine ([`engine::ArrayConfig`]).
    pub change_grain: u64,
}

/// Media latencies.
#[derive(Clone, Copy, Debug)]
pub struct MediaSpec {
    pub read_ns: Dist,
    pub write_ns: Dist,
    pub meta_ns: Dist,
    /// At a crash, a multi-block write in flight may land block by block (torn).
    pub torn_writes: bool,
}

/// A declared volume, or (S4) a point-in-time image a snapshot entry names: an id
/// from `VolumeId::IMAGE_BASE` up, on its volume's array, with its volume's size.
#[derive(Clone, Debug)]
pub struct VolumeInfo {
    pub name: String,
    pub id: VolumeId,
    pub array: ArrayId,
    pub blocks: u64,
}

#[derive(Clone, Debug)]
pub struct HostSpec {
    pub name: String,
    pub workload: Option<Workload>,
    /// A host gives up on an operation after this long: its outcome is unknown.
    pub op_timeout_ns: u64,
}

/// A closed-loop workload: `concurrency` slots, each issuing one operation at a time.
#[derive(Clone, Debug)]
pub struct Workload {
    pub volumes: Vec<VolumeId>,
    pub concurrency: u32,
    /// Operations this host issues in all.
    pub ops: u64,
    /// Probability that an operation is a read.
    pub read: Ratio,
    pub blocks: BlockDist,
    /// Blocks per operation (at least 1).
    pub len: Dist,
    /// Pause between a completion and the slot's next operation.
    pub think_ns: Dist,
}

/// Where operations land inside a volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockDist {
    Uniform,
    /// With probability `hot`, a block among the first `hot_blocks`.
    HotSet {
        hot_blocks: u64,
        hot: Ratio,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    Host(HostId),
    Array(ArrayId),
}

#[derive(Clone, Debug)]
pub struct LinkSpec {
    pub name: String,
    pub ends: [Endpoint; 2],
    pub latency_ns: Dist,
    pub drop: Ratio,
    pub duplicate: Ratio,
    /// With this probability a message is held back by an extra `reorder_delay_ns`.
    pub reorder: Ratio,
    pub reorder_delay_ns: Dist,
}

#[derive(Clone, Debug)]
pub struct TimedAction {
    pub at_ns: u64,
    pub action: Action,
}

/// A scheduled fault or repair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    LinkDown {
        link: usize,
    },
    LinkUp {
        link: usize,
    },
    /// Down for `down_ns`, up for `up_ns`, `times` times.
    LinkFlap {
        link: usize,
        down_ns: u64,
        up_ns: u64,
        times: u32,
    },
    /// The controller loses its memory; media and metadata stay. Restarts after
    /// `restart_after_ns` if given.
    CrashArray {
        array: ArrayId,
        restart_after_ns: Option<u64>,
    },
    RestartArray {
        array: ArrayId,
    },
    /// The host loses its cache; its open operations end with no response.
    CrashHost {
        host: HostId,
        restart_after_ns: Option<u64>,
    },
    RestartHost {
        host: HostId,
    },
    /// A host sends an admin command to an array (the host's first link to it).
    Admin {
        host: HostId,
        array: ArrayId,
        op: Op,
    },
    /// The media block at `space`/`block` of an array reads with an error until it is
    /// written (a latent sector error; a write remaps it). mirrorsim's controller
    /// keeps volume `n` in space `n`.
    MediaError {
        array: ArrayId,
        space: u32,
        block: u64,
    },
    /// S1: backup server `host` (an index into [`Offload::backup_servers`]) starts an
    /// offloaded backup of file `file` of its file server.
    OffloadBackup {
        backup_server: usize,
        file: u32,
    },
}

/// Faults drawn at random while the workload runs. Each kind is off when `None`.
#[derive(Clone, Debug, Default)]
pub struct RandomFaults {
    pub link_flap: Option<FaultRate>,
    pub array_crash: Option<FaultRate>,
    pub host_crash: Option<FaultRate>,
}

/// A random fault: the gap between two is uniform in `0..=2*mean_interval_ns`; the
/// target is down for a sample of `down_ns`; `targets` empty means any.
#[derive(Clone, Debug)]
pub struct FaultRate {
    pub mean_interval_ns: u64,
    pub down_ns: Dist,
    pub targets: Vec<usize>,
}

/// Bounds on a run. Hitting one ends the run with a named outcome.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_time_ns: u64,
    pub max_events: u64,
    /// Simulated time allowed, after the workload and faults end, for everything in
    /// flight to settle (liveness bound).
    pub settle_ns: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_time_ns: 60_000_000_000, max_events: 50_000_000, settle_ns: 10_000_000_000 }
    }
}

/// S1: the host roles of offloaded backup (SPEC §2 S1).
#[derive(Clone, Debug, Default)]
pub struct Offload {
    pub file_servers: Vec<FileServerSpec>,
    pub backup_servers: Vec<BackupServerSpec>,
}

impl Offload {
    /// The file server role of host `h`, if it has one.
    pub fn file_server_of(&self, h: HostId) -> Option<usize> {
        self.file_servers.iter().position(|f| f.host == h)
    }

    /// The backup server role of host `h`, if it has one.
    pub fn backup_server_of(&self, h: HostId) -> Option<usize> {
        self.backup_servers.iter().position(|b| b.host == h)
    }
}

/// A file server: a host with a write-back cache and a file table (files are extents
/// on `volume`, the source of mirror pair `pair` whose mirror is `mirror`), running an
/// application that writes the files.
#[derive(Clone, Debug)]
pub struct FileServerSpec {
    pub host: HostId,
    pub array: ArrayId,
    pub volume: VolumeId,
    pub pair: PairId,
    pub mirror: VolumeId,
    pub files: Vec<FileLayout>,
    pub app: AppWorkload,
    /// How long the cache takes to take in (and acknowledge) one application write.
    pub cache_write_ns: Dist,
    /// The background flusher writes every dirty block this often.
    pub flush_interval_ns: u64,
    /// After answering a prepare, the file server resyncs the pair on its own if no
    /// `backup_done` came within this long (the backup server is presumed dead).
    pub lease_ns: u64,
}

/// The application of a file server: closed-loop slots writing files.
#[derive(Clone, Debug)]
pub struct AppWorkload {
    pub concurrency: u32,
    /// Writes in all.
    pub ops: u64,
    /// Relative weight of each file (index as in `FileServerSpec::files`).
    pub file_weights: Vec<u64>,
    /// Blocks per write (clamped to the file).
    pub len: Dist,
    pub think_ns: Dist,
}

/// A backup server: a host with a tape, linked to its file server (a host-to-host
/// link) and to the array holding the mirror.
#[derive(Clone, Debug)]
pub struct BackupServerSpec {
    pub host: HostId,
    /// Index into [`Offload::file_servers`].
    pub file_server: usize,
    /// A prepare (or a `backup_done`, or a mirror read) unanswered for this long is
    /// sent again, at most `tries` times in all.
    pub retry_ns: u64,
    pub tries: u32,
}
