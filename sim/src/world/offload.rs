//! S1: offloaded backup between two servers (SPEC §2 S1), the host roles.
//!
//! A **file server** is a host with a write-back cache and a file table (each file a
//! list of extents on one volume `V`, the source of a mirror pair with mirror `M`).
//! Its application writes files through closed-loop slots: a write takes
//! `cache_write_ns` to enter the cache (it is *in flight* meanwhile), lands there and
//! is acknowledged. Writes to one file enter the cache in the order they were issued
//! (a per-file FIFO: a write never completes before an earlier write to its file). A
//! background flusher writes the dirty blocks to `V` every `flush_interval_ns`, one
//! array write per block carrying the application's value unchanged, at most one
//! flush in flight per block (so flushes of one block reach the array in order); a
//! block is clean once a flush of its current value is acknowledged.
//!
//! A **backup server** owns a tape (a sink that keeps what was written to it) and
//! talks to its file server over a host-to-host link.
//!
//! # The protocol
//!
//! 1. The backup server sends `Prepare{backup, file}`.
//! 2. The file server opens an inhibit window on the file: new application writes to
//!    it are held in a FIFO (writes to other files are not). It waits for the file's
//!    writes in flight, flushes the file's dirty blocks and waits for those flushes,
//!    then sends `split` to the array.
//! 3. On the split's success it lifts the inhibit (held writes enter the cache in
//!    their order) and answers `Prepared{M, the file's extents}`.
//! 4. The backup server reads the extents from `M`, writes them to tape, and sends
//!    `Done{backup}`; the file server answers `DoneAck` and resyncs the pair.
//!
//! # Lost messages, crashes, retries
//!
//! - Every message is idempotent. A duplicate `Prepare` for the backup in progress is
//!   ignored until the answer exists, then answered again; a `Prepare` for another
//!   backup while one is in progress is answered `busy`. `Done` for a backup the file
//!   server does not know is acknowledged (it already resynced).
//! - The backup server resends `Prepare`, a mirror read and `Done` after `retry_ns`,
//!   at most `tries` times each; then it gives up on the backup (outcome `Failed`,
//!   best-effort `Done` so the pair is resynced).
//! - If the split is refused because the pair is not `Mirrored` (a resync still
//!   copying), or its answer is lost, the file server **closes the window at once**
//!   (held writes proceed), resyncs first if the pair was left split, and opens a new
//!   window after [`RETRY_BACKOFF_NS`]: an inhibit never waits for a background copy.
//!   A backup has one window per attempt; the tape record names the one whose split
//!   it copied. After [`PREPARE_ATTEMPTS_MAX`] attempts it answers an error.
//! - A file server that answered and hears no `Done` within `lease_ns` resyncs on
//!   its own (the backup server is presumed dead); a late read of `M` is then refused
//!   by the array (`NotAccessible`), so such a backup fails, it never copies a mixed
//!   image.
//! - A flush write, split or resync with no answer within the host's `op_timeout` is
//!   sent again as a new request (the first one's outcome is unknown in the history).
//!   A flush retry writes the same value; this assumes the timeout exceeds the
//!   worst-case delivery and service time, so a timed-out write has either landed or
//!   never will (a SCSI initiator aborts a task before retrying it).
//! - **File-server crash:** the cache (dirty blocks included), held writes, writes in
//!   flight and the protocol state are lost; data already flushed is on `V`. On
//!   restart it resyncs the pair (refused harmlessly if `Mirrored`), so a split left
//!   by the crash is undone; the backup server's retried `Prepare` starts over.
//! - **Backup-server crash:** the tape keeps the partial record (outcome
//!   `Unfinished`); the file server's lease resyncs the pair.

use super::{Ev, Msg, Phase, World};
use crate::config::{Endpoint, FileServerSpec};
use crate::trace::TraceKind;
use engine::ReqId;
use model::files::{BackupOutcome, FileHistory, FileWrite, InhibitWindow, TapeRecord};
use model::{ArrayId, Completion, ErrorKind, HostId, Op, OpResult, PairState, Reply, Value, VolumeId};
use std::collections::{BTreeMap, VecDeque};

/// After a refused or unanswered split, the file server waits this long before it
/// opens a new inhibit window.
pub const RETRY_BACKOFF_NS: u64 = 1_000_000;
/// Inhibit windows one prepare may open before the file server answers an error.
pub const PREPARE_ATTEMPTS_MAX: u32 = 64;
/// An inhibit window whose flushes and split have not completed after this long is
/// abandoned: the inhibit is lifted and the prepare answered with an error (the
/// array is unreachable; the application must not stay blocked).
pub const WINDOW_MAX_NS: u64 = 50_000_000;
/// Blocks per mirror read of the backup server.
pub const BACKUP_READ_LEN_MAX: u64 = 256;
/// Dirty blocks the flusher writes per tick (the rest wait for the next tick).
pub const FLUSH_BATCH_MAX: usize = 256;
/// The planted host defect (see `EngineFactory::host_defects`): a file server that
/// prepares a backup without flushing the file's dirty cache blocks, so the tape
/// misses the application's cached writes.
pub const OFFLOAD_WITHOUT_FLUSH: &str = "offload-without-flush";

/// A message on a host-to-host link.
#[derive(Clone, Debug)]
pub enum HostMsg {
    Prepare { backup: u64, file: u32 },
    Prepared { backup: u64, answer: Result<Prepared, String> },
    Done { backup: u64 },
    DoneAck { backup: u64 },
}

impl HostMsg {
    pub fn backup(&self) -> u64 {
        match self {
            HostMsg::Prepare { backup, .. }
            | HostMsg::Prepared { backup, .. }
            | HostMsg::Done { backup }
            | HostMsg::DoneAck { backup } => *backup,
        }
    }
}

/// The file server's answer: where the image is.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub array: ArrayId,
    pub mirror: VolumeId,
    pub extents: Vec<(u64, u64)>,
    /// Harness bookkeeping: the inhibit window (index in the file history) whose split
    /// made the image, so the checker knows which instant the tape must reflect.
    pub window: usize,
}

/// The offload events.
#[derive(Clone, Debug)]
pub enum OffloadEv {
    AppNext {
        fs: usize,
        slot: usize,
        life: u32,
    },
    AppWriteDone {
        fs: usize,
        write: usize,
        life: u32,
    },
    FlushTick {
        fs: usize,
        life: u32,
    },
    /// A request of the file server or backup server got no answer in time.
    RequestTimeout {
        host: u32,
        req: u64,
        life: u32,
    },
    /// The file server's back-off after a refused split is over.
    PrepareRetry {
        fs: usize,
        backup: u64,
        life: u32,
    },
    Lease {
        fs: usize,
        backup: u64,
        life: u32,
    },
    /// A window's deadline ([`WINDOW_MAX_NS`]).
    WindowDeadline {
        fs: usize,
        window: usize,
        life: u32,
    },
    BackupTimeout {
        bs: usize,
        token: u64,
        life: u32,
    },
}

#[derive(Clone, Copy, Debug)]
struct Cached {
    value: Value,
    dirty: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Flush {
        block: u64,
        value: Value,
    },
    Split {
        backup: u64,
    },
    Resync,
    /// A backup server's mirror read.
    Read {
        backup: u64,
    },
}

#[derive(Clone, Copy, Debug)]
struct Request {
    hist: usize,
    purpose: Purpose,
}

#[derive(Clone, Debug)]
enum FsPhase {
    /// The window is open: waiting for writes in flight and flushes, then the split.
    Draining { window: usize, split_sent: bool },
    /// Between attempts (no window open).
    Waiting,
    /// Answered; waiting for `Done` (or the lease).
    Answered { answer: Prepared },
}

#[derive(Clone, Debug)]
struct FsBackup {
    id: u64,
    file: u32,
    from: HostId,
    attempts: u32,
    phase: FsPhase,
}

#[derive(Default)]
struct FileQueue {
    /// Writes accepted into the cache pipeline, not yet landed.
    inflight: u32,
    /// When the last accepted write lands (FIFO per file).
    last_done_ns: u64,
    /// Writes held by an inhibit window, in issue order.
    held: VecDeque<(usize, usize)>,
}

struct Fs {
    slots: Vec<Option<usize>>,
    issued: u64,
    cache: BTreeMap<u64, Cached>,
    dirty: u64,
    /// Volume block → request of the flush in flight.
    flushing: BTreeMap<u64, u64>,
    files: Vec<FileQueue>,
    backup: Option<FsBackup>,
    flush_armed: bool,
}

#[derive(Clone, Debug)]
enum BsPhase {
    Preparing,
    Reading { answer: Prepared, extent: usize, offset: u64, req: Option<u64> },
    Finishing,
}

#[derive(Clone, Debug)]
struct BsBackup {
    id: u64,
    tape: usize,
    tries: u32,
    token: u64,
    phase: BsPhase,
}

struct Bs {
    backup: Option<BsBackup>,
    token_next: u64,
}

/// The offload roles' state, kept beside the world's.
pub(super) struct OffloadState {
    fs: Vec<Fs>,
    bs: Vec<Bs>,
    /// One per file server.
    pub(super) histories: Vec<FileHistory>,
    /// Requests to arrays of the role hosts: (host, req) → what for.
    requests: BTreeMap<(u32, u64), Request>,
    backup_next: u64,
    /// The planted defect [`OFFLOAD_WITHOUT_FLUSH`] is on.
    skip_flush: bool,
}

impl OffloadState {
    pub(super) fn new(cfg: &crate::config::SimConfig, factory: &dyn engine::EngineFactory) -> OffloadState {
        let o = &cfg.offload;
        OffloadState {
            fs: o
                .file_servers
                .iter()
                .map(|f| Fs {
                    slots: vec![None; f.app.concurrency as usize],
                    issued: 0,
                    cache: BTreeMap::new(),
                    dirty: 0,
                    flushing: BTreeMap::new(),
                    files: f.files.iter().map(|_| FileQueue::default()).collect(),
                    backup: None,
                    flush_armed: false,
                })
                .collect(),
            bs: o.backup_servers.iter().map(|_| Bs { backup: None, token_next: 0 }).collect(),
            histories: o
                .file_servers
                .iter()
                .map(|f| FileHistory {
                    host: f.host,
                    volume: f.volume,
                    files: f.files.clone(),
                    cache_write_ns_max: f.cache_write_ns.max(),
                    writes: Vec::new(),
                    windows: Vec::new(),
                    crashes: Vec::new(),
                    tape: Vec::new(),
                })
                .collect(),
            requests: BTreeMap::new(),
            backup_next: 0,
            skip_flush: factory.host_defects().contains(OFFLOAD_WITHOUT_FLUSH),
        }
    }
}

impl World<'_> {
    fn fs_spec(&self, f: usize) -> &FileServerSpec {
        &self.cfg.offload.file_servers[f]
    }

    fn fs_host(&self, f: usize) -> usize {
        self.cfg.offload.file_servers[f].host.0 as usize
    }

    fn bs_host(&self, b: usize) -> usize {
        self.cfg.offload.backup_servers[b].host.0 as usize
    }

    fn offload_trace(&mut self, host: usize, what: u8, id: u64, n: u64) {
        self.trace(TraceKind::Offload { host: host as u32, what, id, n });
    }

    /// Starts the application slots of every file server.
    pub(super) fn offload_init(&mut self) {
        for f in 0..self.offload.fs.len() {
            for slot in 0..self.offload.fs[f].slots.len() {
                self.schedule(0, Ev::Offload(OffloadEv::AppNext { fs: f, slot, life: 0 }));
            }
        }
    }

    /// No role has work left that belongs to the workload phase.
    pub(super) fn offload_quiet(&self) -> bool {
        let fs_quiet = self.offload.fs.iter().enumerate().all(|(f, s)| {
            let h = &self.hosts[self.fs_host(f)];
            if !h.up {
                return !h.restart_pending;
            }
            s.issued >= self.fs_spec(f).app.ops
                && s.slots.iter().all(Option::is_none)
                && s.backup.is_none()
                && s.files.iter().all(|q| q.held.is_empty())
        });
        fs_quiet
            && self
                .offload
                .bs
                .iter()
                .enumerate()
                .all(|(b, s)| !self.hosts[self.bs_host(b)].up || s.backup.is_none())
    }

    /// Every cache is clean and no role request is open.
    pub(super) fn offload_settled(&self) -> bool {
        self.offload.requests.is_empty()
            && self
                .offload
                .fs
                .iter()
                .enumerate()
                .all(|(f, s)| !self.hosts[self.fs_host(f)].up || s.dirty == 0)
    }

    pub(super) fn offload_event(&mut self, ev: OffloadEv) {
        match ev {
            OffloadEv::AppNext { fs, slot, life } => self.app_next(fs, slot, life),
            OffloadEv::AppWriteDone { fs, write, life } => self.app_write_done(fs, write, life),
            OffloadEv::FlushTick { fs, life } => {
                if self.life_ok(self.fs_host(fs), life) {
                    self.offload.fs[fs].flush_armed = false;
                    self.flush(fs, None);
                }
            }
            OffloadEv::RequestTimeout { host, req, life } => {
                if !self.life_ok(host as usize, life) {
                    return;
                }
                let Some(r) = self.offload.requests.remove(&(host, req)) else { return };
                self.stats.ops_unknown += 1;
                let process = self.history.ops[r.hist].process;
                self.trace(TraceKind::Timeout { host, process: process.0, req });
                self.request_failed(host as usize, r.purpose, None);
            }
            OffloadEv::PrepareRetry { fs, backup, life } => {
                if !self.life_ok(self.fs_host(fs), life) {
                    return;
                }
                let s = &self.offload.fs[fs];
                if s.backup.as_ref().is_some_and(|b| b.id == backup && matches!(b.phase, FsPhase::Waiting)) {
                    self.open_window(fs);
                }
            }
            OffloadEv::Lease { fs, backup, life } => {
                if !self.life_ok(self.fs_host(fs), life) {
                    return;
                }
                let s = &self.offload.fs[fs];
                if s.backup
                    .as_ref()
                    .is_some_and(|b| b.id == backup && matches!(b.phase, FsPhase::Answered { .. }))
                {
                    let h = self.fs_host(fs);
                    self.offload_trace(h, 9, backup, 0);
                    self.offload.fs[fs].backup = None;
                    self.fs_admin(fs, Purpose::Resync);
                }
            }
            OffloadEv::WindowDeadline { fs, window, life } => {
                if self.life_ok(self.fs_host(fs), life) {
                    self.window_deadline(fs, window);
                }
            }
            OffloadEv::BackupTimeout { bs, token, life } => {
                if self.life_ok(self.bs_host(bs), life)
                    && self.offload.bs[bs].backup.as_ref().is_some_and(|b| b.token == token)
                {
                    self.bs_timeout(bs);
                }
            }
        }
    }

    fn life_ok(&self, h: usize, life: u32) -> bool {
        self.hosts[h].up && self.hosts[h].life == life
    }

    // ---- requests to arrays -------------------------------------------------------

    /// Sends `op` from role host `h` to `array` as a new request (a new process in the
    /// history). Returns the request, or `None` if no path was up (the operation then
    /// failed without being sent).
    fn role_request(&mut self, h: usize, array: ArrayId, op: Op, purpose: Purpose) -> Option<u64> {
        if self.phase == Phase::Audit {
            return None;
        }
        let process = self.new_process();
        let host = &mut self.hosts[h];
        let req = host.req_next;
        host.req_next += 1;
        let hist = self.record_invoke(process, op.clone());
        self.stats.ops += 1;
        match &op {
            Op::Read { vol, block, len } => self.trace(TraceKind::Invoke {
                host: h as u32,
                process: process.0,
                req,
                write: false,
                vol: vol.0,
                block: *block,
                len: *len,
            }),
            Op::Write { vol, block, values } => self.trace(TraceKind::Invoke {
                host: h as u32,
                process: process.0,
                req,
                write: true,
                vol: vol.0,
                block: *block,
                len: values.len() as u32,
            }),
            _ => {
                self.stats.admin_ops += 1;
                let pair = op.pair().map_or(u32::MAX, |p| p.0);
                self.trace(TraceKind::Admin { host: h as u32, process: process.0, req, pair });
            }
        }
        let Some(link) = self.route(h, array.0 as usize) else {
            self.trace(TraceKind::NoPath { host: h as u32, req });
            self.complete(hist, Completion::Failed("no path to the array".into()));
            self.stats.ops_failed += 1;
            return None;
        };
        self.offload.requests.insert((h as u32, req), Request { hist, purpose });
        let timeout = self.cfg.hosts[h].op_timeout_ns;
        let life = self.hosts[h].life;
        self.schedule(
            self.now + timeout,
            Ev::Offload(OffloadEv::RequestTimeout { host: h as u32, req, life }),
        );
        self.send(link, Endpoint::Array(array), Msg::Request { req: ReqId { host: h as u32, seq: req }, op });
        Some(req)
    }

    /// An answer from an array to a host. Returns it back if it is not a role
    /// request (the host's ordinary handling takes it).
    pub(super) fn offload_response(&mut self, h: usize, req: u64, result: OpResult) -> Option<OpResult> {
        let Some(r) = self.offload.requests.remove(&(h as u32, req)) else { return Some(result) };
        let process = self.history.ops[r.hist].process;
        self.trace(TraceKind::Complete { host: h as u32, process: process.0, req, ok: result.is_ok() });
        self.complete(r.hist, Completion::Returned(result.clone()));
        self.stats.ops_ok += 1;
        match result {
            Ok(reply) => self.request_done(h, r.purpose, reply),
            Err(e) => self.request_failed(h, r.purpose, Some(e)),
        }
        None
    }

    fn request_done(&mut self, h: usize, purpose: Purpose, reply: Reply) {
        match purpose {
            Purpose::Flush { block, value } => {
                let f = self.cfg.offload.file_server_of(HostId(h as u32)).expect("a file server flushes");
                self.flush_landed(f, block, value, true);
            }
            Purpose::Split { backup } => {
                let f = self.cfg.offload.file_server_of(HostId(h as u32)).expect("a file server splits");
                self.split_answered(f, backup, Ok(()));
            }
            Purpose::Resync => {}
            Purpose::Read { backup } => {
                let b = self.cfg.offload.backup_server_of(HostId(h as u32)).expect("a backup server reads");
                let Reply::Values(values) = reply else {
                    self.bs_fail(b, backup, "a mirror read returned no values".into());
                    return;
                };
                self.bs_read_done(b, backup, values);
            }
        }
    }

    /// A role request failed: refused by the array (`Some`), or no answer or no path
    /// (`None`).
    fn request_failed(&mut self, h: usize, purpose: Purpose, err: Option<ErrorKind>) {
        match purpose {
            Purpose::Flush { block, value } => {
                let f = self.cfg.offload.file_server_of(HostId(h as u32)).expect("a file server flushes");
                self.flush_landed(f, block, value, false);
            }
            Purpose::Split { backup } => {
                let f = self.cfg.offload.file_server_of(HostId(h as u32)).expect("a file server splits");
                self.split_answered(f, backup, Err(err));
            }
            Purpose::Resync => {}
            Purpose::Read { backup } => {
                let b = self.cfg.offload.backup_server_of(HostId(h as u32)).expect("a backup server reads");
                match err {
                    None => self.bs_retry_read(b, backup),
                    Some(e) => self.bs_fail(b, backup, format!("a mirror read failed: {e}")),
                }
            }
        }
    }

    // ---- the file server: application and cache ----------------------------------

    fn app_next(&mut self, f: usize, slot: usize, life: u32) {
        let h = self.fs_host(f);
        if !self.life_ok(h, life) || self.phase != Phase::Workload {
            return;
        }
        let spec = &self.cfg.offload.file_servers[f];
        let s = &self.offload.fs[f];
        if s.slots[slot].is_some() || s.issued >= spec.app.ops {
            return;
        }
        self.offload.fs[f].issued += 1;
        let host = &mut self.hosts[h];
        let rng = &mut host.rng;
        let total: u64 = spec.app.file_weights.iter().sum();
        let mut pick = rng.below(total);
        let mut file = 0;
        for (i, w) in spec.app.file_weights.iter().enumerate() {
            if pick < *w {
                file = i;
                break;
            }
            pick -= w;
        }
        let blocks = spec.files[file].blocks();
        let len = spec.app.len.sample(rng).clamp(1, blocks.min(u64::from(Value::WRITE_LEN_MAX)));
        let offset = rng.below(blocks - len + 1);
        host.write_seq += 1;
        let (writer, seq) = (host.writer, host.write_seq);
        let values: Vec<Value> = (0..len).map(|i| Value::pack(writer, seq, i as u16)).collect();
        let hist = &mut self.offload.histories[f];
        let w = hist.writes.len();
        hist.writes.push(FileWrite {
            file: file as u32,
            offset,
            values,
            invoke_ns: self.now,
            complete_ns: None,
            held_by: None,
        });
        self.offload.fs[f].slots[slot] = Some(w);
        self.offload_trace(h, 0, w as u64, file as u64);
        let inhibited = self.offload.fs[f].backup.as_ref().and_then(|b| match b.phase {
            FsPhase::Draining { window, .. } if b.file == file as u32 => Some(window),
            _ => None,
        });
        match inhibited {
            Some(window) => {
                self.offload.fs[f].files[file].held.push_back((slot, w));
                self.offload.histories[f].windows[window].held_writes += 1;
                self.offload.histories[f].writes[w].held_by = Some(window);
                self.offload_trace(h, 2, w as u64, window as u64);
            }
            None => self.accept_write(f, w),
        }
    }

    /// The write enters the cache pipeline: it lands after `cache_write_ns`, never
    /// before an earlier write to its file.
    fn accept_write(&mut self, f: usize, w: usize) {
        let h = self.fs_host(f);
        let file = self.offload.histories[f].writes[w].file as usize;
        let latency = self.cfg.offload.file_servers[f].cache_write_ns.sample(&mut self.hosts[h].rng);
        let q = &mut self.offload.fs[f].files[file];
        let at = (self.now + latency).max(q.last_done_ns);
        q.last_done_ns = at;
        q.inflight += 1;
        let life = self.hosts[h].life;
        self.schedule(at, Ev::Offload(OffloadEv::AppWriteDone { fs: f, write: w, life }));
    }

    fn app_write_done(&mut self, f: usize, w: usize, life: u32) {
        let h = self.fs_host(f);
        if !self.life_ok(h, life) {
            return;
        }
        let spec = &self.cfg.offload.file_servers[f];
        let write = &mut self.offload.histories[f].writes[w];
        write.complete_ns = Some(self.now);
        let layout = &spec.files[write.file as usize];
        let file = write.file as usize;
        let s = &mut self.offload.fs[f];
        for (i, v) in write.values.iter().enumerate() {
            let block = layout.block_of(write.offset + i as u64).expect("a write inside its file");
            let prev = s.cache.insert(block, Cached { value: *v, dirty: true });
            if !prev.is_some_and(|c| c.dirty) {
                s.dirty += 1;
            }
        }
        s.files[file].inflight -= 1;
        let slot = s.slots.iter().position(|o| *o == Some(w)).expect("a write has a slot");
        s.slots[slot] = None;
        self.offload_trace(h, 1, w as u64, file as u64);
        let think = self.cfg.offload.file_servers[f].app.think_ns.sample(&mut self.hosts[h].rng);
        self.schedule(self.now + think, Ev::Offload(OffloadEv::AppNext { fs: f, slot, life }));
        self.arm_flush(f);
        self.fs_advance(f);
    }

    fn arm_flush(&mut self, f: usize) {
        let s = &self.offload.fs[f];
        if s.flush_armed || s.dirty == 0 {
            return;
        }
        self.offload.fs[f].flush_armed = true;
        let h = self.fs_host(f);
        let life = self.hosts[h].life;
        let at = self.now + self.fs_spec(f).flush_interval_ns;
        self.schedule(at, Ev::Offload(OffloadEv::FlushTick { fs: f, life }));
    }

    /// Flushes dirty blocks that have no flush in flight: all of them (at most
    /// [`FLUSH_BATCH_MAX`]), or those of `file` only.
    fn flush(&mut self, f: usize, file: Option<usize>) -> u64 {
        let h = self.fs_host(f);
        let spec = &self.cfg.offload.file_servers[f];
        let (array, vol) = (spec.array, spec.volume);
        let s = &self.offload.fs[f];
        let pick: Vec<(u64, Value)> = match file {
            None => s
                .cache
                .iter()
                .filter(|(b, c)| c.dirty && !s.flushing.contains_key(b))
                .take(FLUSH_BATCH_MAX)
                .map(|(b, c)| (*b, c.value))
                .collect(),
            Some(file) => spec.files[file]
                .extents
                .iter()
                .flat_map(|&(start, len)| s.cache.range(start..start + len))
                .filter(|(b, c)| c.dirty && !s.flushing.contains_key(b))
                .map(|(b, c)| (*b, c.value))
                .collect(),
        };
        let mut issued = 0;
        for (block, value) in pick {
            let op = Op::Write { vol, block, values: vec![value] };
            if let Some(req) = self.role_request(h, array, op, Purpose::Flush { block, value }) {
                self.offload.fs[f].flushing.insert(block, req);
                issued += 1;
            }
        }
        self.arm_flush(f);
        issued
    }

    fn flush_landed(&mut self, f: usize, block: u64, value: Value, ok: bool) {
        let s = &mut self.offload.fs[f];
        s.flushing.remove(&block);
        if ok
            && let Some(c) = s.cache.get_mut(&block)
            && c.dirty
            && c.value == value
        {
            c.dirty = false;
            s.dirty -= 1;
        }
        self.arm_flush(f);
        self.fs_advance(f);
    }

    // ---- the file server: the protocol --------------------------------------------

    fn host_msg_to(&mut self, from: usize, to: HostId, msg: HostMsg) {
        let link = self.cfg.links.iter().enumerate().find_map(|(l, spec)| {
            let joins = spec.ends.contains(&Endpoint::Host(HostId(from as u32)))
                && spec.ends.contains(&Endpoint::Host(to));
            (joins && self.links[l].up).then_some(l)
        });
        let id = msg.backup();
        match link {
            Some(l) => self.send(l, Endpoint::Host(to), Msg::Host { from: HostId(from as u32), id, msg }),
            None => {
                self.stats.messages += 1;
                self.stats.messages_dropped += 1;
                self.trace(TraceKind::Drop {
                    link: u32::MAX,
                    req: id,
                    reason: crate::trace::DropReason::LinkDown,
                });
            }
        }
    }

    /// A host-to-host message arrived at host `h`.
    pub(super) fn offload_host_msg(&mut self, h: usize, from: HostId, msg: HostMsg) {
        let me = HostId(h as u32);
        if let Some(f) = self.cfg.offload.file_server_of(me) {
            match msg {
                HostMsg::Prepare { backup, file } => self.fs_prepare(f, from, backup, file),
                HostMsg::Done { backup } => {
                    let answered = self.offload.fs[f]
                        .backup
                        .as_ref()
                        .is_some_and(|b| b.id == backup && matches!(b.phase, FsPhase::Answered { .. }));
                    self.offload_trace(h, 6, backup, 0);
                    if answered {
                        self.offload.fs[f].backup = None;
                        self.fs_admin(f, Purpose::Resync);
                    }
                    self.host_msg_to(h, from, HostMsg::DoneAck { backup });
                }
                HostMsg::Prepared { .. } | HostMsg::DoneAck { .. } => {}
            }
        }
        if let Some(b) = self.cfg.offload.backup_server_of(me) {
            match msg {
                HostMsg::Prepared { backup, answer } => self.bs_prepared(b, backup, answer),
                HostMsg::DoneAck { backup } => {
                    if self.offload.bs[b]
                        .backup
                        .as_ref()
                        .is_some_and(|x| x.id == backup && matches!(x.phase, BsPhase::Finishing))
                    {
                        self.offload.bs[b].backup = None;
                    }
                }
                HostMsg::Prepare { .. } | HostMsg::Done { .. } => {}
            }
        }
    }

    fn fs_prepare(&mut self, f: usize, from: HostId, backup: u64, file: u32) {
        let h = self.fs_host(f);
        if file as usize >= self.fs_spec(f).files.len() {
            let answer = Err(format!("no file {file}"));
            self.host_msg_to(h, from, HostMsg::Prepared { backup, answer });
            return;
        }
        match &self.offload.fs[f].backup {
            Some(b) if b.id == backup => {
                if let FsPhase::Answered { answer } = &b.phase {
                    let answer = Ok(answer.clone());
                    self.host_msg_to(h, from, HostMsg::Prepared { backup, answer });
                }
                // Otherwise the answer is on its way once the split is done.
            }
            Some(_) => {
                let answer = Err("busy with another backup".to_string());
                self.host_msg_to(h, from, HostMsg::Prepared { backup, answer });
            }
            None => {
                self.offload.fs[f].backup =
                    Some(FsBackup { id: backup, file, from, attempts: 0, phase: FsPhase::Waiting });
                self.open_window(f);
            }
        }
    }

    fn open_window(&mut self, f: usize) {
        let h = self.fs_host(f);
        let b = self.offload.fs[f].backup.as_mut().expect("a backup in progress");
        b.attempts += 1;
        let (id, file, attempts, from) = (b.id, b.file, b.attempts, b.from);
        if attempts > PREPARE_ATTEMPTS_MAX {
            self.offload.fs[f].backup = None;
            let answer = Err(format!("the pair did not become ready in {PREPARE_ATTEMPTS_MAX} attempts"));
            self.host_msg_to(h, from, HostMsg::Prepared { backup: id, answer });
            return;
        }
        let windows = &mut self.offload.histories[f].windows;
        let window = windows.len();
        windows.push(InhibitWindow {
            backup: id,
            file,
            start_ns: self.now,
            end_ns: None,
            split: false,
            flushed_blocks: 0,
            held_writes: 0,
        });
        self.offload.fs[f].backup.as_mut().expect("above").phase =
            FsPhase::Draining { window, split_sent: false };
        self.offload_trace(h, 3, id, window as u64);
        let life = self.hosts[h].life;
        self.schedule(
            self.now + WINDOW_MAX_NS,
            Ev::Offload(OffloadEv::WindowDeadline { fs: f, window, life }),
        );
        self.fs_advance(f);
    }

    /// Closes window `window` (if still open): the inhibit is lifted, held writes
    /// enter the cache in their order.
    fn close_window(&mut self, f: usize, window: usize) {
        let h = self.fs_host(f);
        let w = &mut self.offload.histories[f].windows[window];
        if w.end_ns.is_some() {
            return;
        }
        w.end_ns = Some(self.now);
        let (backup, file, len) = (w.backup, w.file as usize, self.now - w.start_ns);
        self.offload_trace(h, 4, backup, len);
        let held = std::mem::take(&mut self.offload.fs[f].files[file].held);
        for (_, w) in held {
            self.accept_write(f, w);
        }
    }

    /// A window still open after [`WINDOW_MAX_NS`]: give the prepare up.
    fn window_deadline(&mut self, f: usize, window: usize) {
        let Some(b) = &self.offload.fs[f].backup else { return };
        let FsPhase::Draining { window: open, split_sent } = b.phase else { return };
        if open != window {
            return;
        }
        let (id, from) = (b.id, b.from);
        if split_sent {
            // The split may yet take effect: undo it, whatever happened.
            self.fs_admin(f, Purpose::Resync);
        }
        self.close_window(f, window);
        self.offload.fs[f].backup = None;
        let h = self.fs_host(f);
        let answer = Err(format!("the flush and split did not complete within {WINDOW_MAX_NS} ns"));
        self.host_msg_to(h, from, HostMsg::Prepared { backup: id, answer });
    }

    /// Drives an open window: writes in flight, then flushes, then the split.
    fn fs_advance(&mut self, f: usize) {
        let Some(b) = &self.offload.fs[f].backup else { return };
        let FsPhase::Draining { window, split_sent: false } = b.phase else { return };
        let (id, file) = (b.id, b.file as usize);
        let s = &self.offload.fs[f];
        if s.files[file].inflight > 0 {
            return;
        }
        if !self.offload.skip_flush {
            let layout = &self.fs_spec(f).files[file];
            let mut dirty = 0;
            let mut busy = false;
            for &(start, len) in &layout.extents {
                for (b, c) in s.cache.range(start..start + len) {
                    dirty += u64::from(c.dirty && !s.flushing.contains_key(b));
                    busy |= c.dirty;
                }
            }
            if dirty > 0 {
                let issued = self.flush(f, Some(file));
                self.offload.histories[f].windows[window].flushed_blocks += issued;
            }
            if busy {
                return; // Flushes in flight: back when they land.
            }
        }
        if let Some(FsBackup { phase: FsPhase::Draining { split_sent, .. }, .. }) =
            &mut self.offload.fs[f].backup
        {
            *split_sent = true;
        }
        self.fs_admin(f, Purpose::Split { backup: id });
    }

    fn fs_admin(&mut self, f: usize, purpose: Purpose) {
        let h = self.fs_host(f);
        let spec = self.fs_spec(f);
        let (array, pair) = (spec.array, spec.pair);
        let op = match purpose {
            Purpose::Split { .. } => Op::Split { pair },
            _ => Op::Resync { pair },
        };
        if self.role_request(h, array, op, purpose).is_none() {
            self.request_failed(h, purpose, None);
        }
    }

    fn split_answered(&mut self, f: usize, backup: u64, result: Result<(), Option<ErrorKind>>) {
        let h = self.fs_host(f);
        let Some(b) = &self.offload.fs[f].backup else { return };
        let FsPhase::Draining { window, split_sent: true } = b.phase else { return };
        if b.id != backup {
            return;
        }
        let (file, from) = (b.file as usize, b.from);
        self.offload.histories[f].windows[window].split = result.is_ok();
        self.close_window(f, window);
        match result {
            Ok(()) => {
                let spec = self.fs_spec(f);
                let answer = Prepared {
                    array: spec.array,
                    mirror: spec.mirror,
                    extents: spec.files[file].extents.clone(),
                    window,
                };
                self.offload.fs[f].backup.as_mut().expect("above").phase =
                    FsPhase::Answered { answer: answer.clone() };
                self.offload_trace(h, 5, backup, window as u64);
                self.host_msg_to(h, from, HostMsg::Prepared { backup, answer: Ok(answer) });
                let life = self.hosts[h].life;
                let at = self.now + self.fs_spec(f).lease_ns;
                self.schedule(at, Ev::Offload(OffloadEv::Lease { fs: f, backup, life }));
            }
            Err(err) => {
                // Not Mirrored, or no answer: retry later; resync first if the pair may
                // be split (a split answered too late, or left by a crash).
                if matches!(err, None | Some(ErrorKind::WrongState(PairState::Split | PairState::Suspended)))
                {
                    self.fs_admin(f, Purpose::Resync);
                }
                self.offload.fs[f].backup.as_mut().expect("above").phase = FsPhase::Waiting;
                let life = self.hosts[h].life;
                self.schedule(
                    self.now + RETRY_BACKOFF_NS,
                    Ev::Offload(OffloadEv::PrepareRetry { fs: f, backup, life }),
                );
            }
        }
    }

    // ---- the backup server --------------------------------------------------------

    /// The timeline asks backup server `b` to back up `file`.
    pub(super) fn offload_backup_start(&mut self, b: usize, file: u32) {
        let h = self.bs_host(b);
        if !self.hosts[h].up || self.phase != Phase::Workload {
            return;
        }
        let f = self.cfg.offload.backup_servers[b].file_server;
        let id = self.offload.backup_next;
        self.offload.backup_next += 1;
        let tape = &mut self.offload.histories[f].tape;
        let index = tape.len();
        let busy = self.offload.bs[b].backup.is_some();
        tape.push(TapeRecord {
            backup: id,
            file,
            window: None,
            requested_ns: self.now,
            finished_ns: None,
            values: Vec::new(),
            outcome: if busy {
                BackupOutcome::Failed("the backup server was busy".into())
            } else {
                BackupOutcome::Unfinished
            },
        });
        self.offload_trace(h, 7, id, u64::from(file));
        if busy {
            return;
        }
        self.offload.bs[b].backup =
            Some(BsBackup { id, tape: index, tries: 0, token: 0, phase: BsPhase::Preparing });
        self.bs_send(b);
    }

    fn bs_fs_host(&self, b: usize) -> HostId {
        let f = self.cfg.offload.backup_servers[b].file_server;
        self.cfg.offload.file_servers[f].host
    }

    /// (Re)sends what the backup server is waiting on, and arms its timeout.
    fn bs_send(&mut self, b: usize) {
        let h = self.bs_host(b);
        let to = self.bs_fs_host(b);
        let f = self.cfg.offload.backup_servers[b].file_server;
        let token = self.offload.bs[b].token_next;
        self.offload.bs[b].token_next += 1;
        let x = self.offload.bs[b].backup.as_mut().expect("a backup in progress");
        x.tries += 1;
        x.token = token;
        let (id, tape) = (x.id, x.tape);
        match x.phase.clone() {
            BsPhase::Preparing => {
                let file = self.offload.histories[f].tape[tape].file;
                self.host_msg_to(h, to, HostMsg::Prepare { backup: id, file });
            }
            BsPhase::Reading { answer, extent, offset, .. } => {
                let (start, len) = answer.extents[extent];
                let n = (len - offset).min(BACKUP_READ_LEN_MAX);
                let op = Op::Read { vol: answer.mirror, block: start + offset, len: n as u32 };
                let req = self.role_request(h, answer.array, op, Purpose::Read { backup: id });
                if let Some(BsBackup { phase: BsPhase::Reading { req: r, .. }, .. }) =
                    &mut self.offload.bs[b].backup
                {
                    *r = req;
                }
                if req.is_none() {
                    // No path: try again after the retry interval (the timeout below).
                }
            }
            BsPhase::Finishing => self.host_msg_to(h, to, HostMsg::Done { backup: id }),
        }
        let life = self.hosts[h].life;
        let at = self.now + self.cfg.offload.backup_servers[b].retry_ns;
        self.schedule(at, Ev::Offload(OffloadEv::BackupTimeout { bs: b, token, life }));
    }

    fn bs_timeout(&mut self, b: usize) {
        let tries = self.cfg.offload.backup_servers[b].tries;
        let x = self.offload.bs[b].backup.as_ref().expect("checked");
        let (id, phase) = (x.id, x.phase.clone());
        if let BsPhase::Reading { req: Some(_), .. } = phase {
            return; // A read is open: its own timeout drives the retry.
        }
        if x.tries < tries {
            self.bs_send(b);
            return;
        }
        match phase {
            BsPhase::Finishing => self.offload.bs[b].backup = None,
            BsPhase::Preparing => {
                self.bs_fail(b, id, format!("no answer to prepare_backup after {tries} tries"))
            }
            BsPhase::Reading { .. } => self.bs_fail(b, id, format!("the mirror read failed {tries} times")),
        }
    }

    fn bs_prepared(&mut self, b: usize, backup: u64, answer: Result<Prepared, String>) {
        let Some(x) = &self.offload.bs[b].backup else { return };
        if x.id != backup || !matches!(x.phase, BsPhase::Preparing) {
            return;
        }
        match answer {
            Ok(answer) => {
                let f = self.cfg.offload.backup_servers[b].file_server;
                self.offload.histories[f].tape[x.tape].window = Some(answer.window);
                let x = self.offload.bs[b].backup.as_mut().expect("above");
                x.tries = 0;
                x.phase = BsPhase::Reading { answer, extent: 0, offset: 0, req: None };
                self.bs_send(b);
            }
            Err(why) => self.bs_fail(b, backup, format!("the file server refused: {why}")),
        }
    }

    fn bs_read_done(&mut self, b: usize, backup: u64, values: Vec<Value>) {
        let h = self.bs_host(b);
        let f = self.cfg.offload.backup_servers[b].file_server;
        let Some(x) = self.offload.bs[b].backup.as_mut() else { return };
        if x.id != backup {
            return;
        }
        let BsPhase::Reading { answer, extent, offset, req } = &mut x.phase else { return };
        *req = None;
        let n = values.len() as u64;
        self.offload.histories[f].tape[x.tape].values.extend(values);
        *offset += n;
        if *offset >= answer.extents[*extent].1 {
            *extent += 1;
            *offset = 0;
        }
        x.tries = 0;
        if *extent < answer.extents.len() {
            self.bs_send(b);
            return;
        }
        let tape = &mut self.offload.histories[f].tape[x.tape];
        tape.outcome = BackupOutcome::Complete;
        tape.finished_ns = Some(self.now);
        x.phase = BsPhase::Finishing;
        self.offload_trace(h, 8, backup, n);
        self.bs_send(b);
    }

    fn bs_retry_read(&mut self, b: usize, backup: u64) {
        let tries = self.cfg.offload.backup_servers[b].tries;
        let Some(x) = self.offload.bs[b].backup.as_mut() else { return };
        if x.id != backup {
            return;
        }
        if let BsPhase::Reading { req, .. } = &mut x.phase {
            *req = None;
        }
        if x.tries < tries {
            self.bs_send(b);
        } else {
            self.bs_fail(b, backup, format!("the mirror read got no answer {tries} times"));
        }
    }

    /// Gives the backup up, and tells the file server (best effort) so it resyncs.
    fn bs_fail(&mut self, b: usize, backup: u64, why: String) {
        let h = self.bs_host(b);
        let f = self.cfg.offload.backup_servers[b].file_server;
        let Some(x) = self.offload.bs[b].backup.as_mut() else { return };
        if x.id != backup {
            return;
        }
        self.offload.histories[f].tape[x.tape].outcome = BackupOutcome::Failed(why);
        x.phase = BsPhase::Finishing;
        x.tries = 0;
        self.offload_trace(h, 10, backup, 0);
        self.bs_send(b);
    }

    // ---- crashes ------------------------------------------------------------------

    /// Host `h` crashed: a role loses everything but its tape.
    pub(super) fn offload_crash(&mut self, h: usize) {
        let me = HostId(h as u32);
        let mine: Vec<(u32, u64)> =
            self.offload.requests.range((h as u32, 0)..=(h as u32, u64::MAX)).map(|(k, _)| *k).collect();
        for k in mine {
            self.offload.requests.remove(&k);
            self.stats.ops_unknown += 1;
        }
        if let Some(f) = self.cfg.offload.file_server_of(me) {
            self.offload.histories[f].crashes.push(self.now);
            let s = &mut self.offload.fs[f];
            s.slots.iter_mut().for_each(|x| *x = None);
            s.cache.clear();
            s.dirty = 0;
            s.flushing.clear();
            s.flush_armed = false;
            for q in &mut s.files {
                *q = FileQueue::default();
            }
            s.backup = None;
        }
        if let Some(b) = self.cfg.offload.backup_server_of(me) {
            self.offload.bs[b].backup = None;
        }
    }

    /// Host `h` restarted: a file server resumes its application and resyncs the
    /// pair (a split left by the crash is undone; refused harmlessly if `Mirrored`).
    pub(super) fn offload_restart(&mut self, h: usize) {
        let Some(f) = self.cfg.offload.file_server_of(HostId(h as u32)) else { return };
        let life = self.hosts[h].life;
        for slot in 0..self.offload.fs[f].slots.len() {
            self.schedule(self.now, Ev::Offload(OffloadEv::AppNext { fs: f, slot, life }));
        }
        if self.phase != Phase::Audit {
            self.fs_admin(f, Purpose::Resync);
        }
    }
}
