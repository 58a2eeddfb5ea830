//! The event loop and the simulated world.

mod offload;
mod remote_probe;

pub use offload::{OFFLOAD_WITHOUT_FLUSH, WINDOW_MAX_NS};

use crate::config::{Action, BlockDist, Endpoint, FaultRate, SimConfig};
use crate::rng::{Prng, Stream};
use crate::trace::{DropReason, Trace, TraceKind};
use engine::{
    ArrayConfig, ArrayEngine, CopyKind, CopyStats, EngineFactory, Input, IoId, MediaOp, MediaResult,
    MediaView, Metadata, Notice, Output, Probe, ReqId, SpaceId, TimerId,
};
use model::{
    ArrayId, Completion, ErrorKind, History, HistoryOp, HostId, Op, OpResult, PairEvent, PairId, ProcessId,
    RemoteEvent, Reply, Value, VolumeId,
};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// The host id the harness uses for its audit reads (they bypass the links).
pub const AUDITOR_HOST: u32 = u32::MAX;
/// The process id of the auditor in the history.
const AUDITOR_PROCESS: ProcessId = ProcessId(u32::MAX);

/// The history process of array `a`'s announced pair transitions.
pub fn array_process(a: ArrayId) -> ProcessId {
    ProcessId(u32::MAX - 1 - a.0)
}
/// Audit reads cover at most this many blocks each.
const AUDIT_READ_LEN_MAX: u64 = 1024;
/// After finding no path to an array, a host waits this long before its next try.
const NO_PATH_BACKOFF_NS: u64 = 1_000_000;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The workload ran, everything settled, and the audit read every written block.
    Completed,
    /// The event bound was hit.
    MaxEvents,
    /// The simulated-time bound was hit.
    MaxTime,
    /// After the faults stopped, the world did not settle within the bound (liveness).
    SettleTimeout,
}

impl Ending {
    pub fn name(self) -> &'static str {
        match self {
            Ending::Completed => "completed",
            Ending::MaxEvents => "max_events",
            Ending::MaxTime => "max_time",
            Ending::SettleTimeout => "settle_timeout",
        }
    }
}

/// Options of one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    pub seed: u64,
    /// Keep every trace event in memory (for `replay --trace` and diagnostics).
    pub record_trace: bool,
}

/// Counters of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Host operations invoked (audit reads excluded).
    pub ops: u64,
    pub ops_ok: u64,
    pub ops_failed: u64,
    pub ops_unknown: u64,
    pub audit_reads: u64,
    pub messages: u64,
    pub messages_dropped: u64,
    pub media_ios: u64,
    pub array_crashes: u64,
    pub host_crashes: u64,
    pub link_downs: u64,
    /// When the workload phase ended and settling began.
    pub settle_start_ns: u64,
    pub admin_ops: u64,
    pub media_faults: u64,
}

/// One background copy an engine ran (from its start and finish notices).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyRecord {
    pub array: ArrayId,
    pub pair: PairId,
    pub kind: CopyKind,
    pub started_ns: u64,
    /// `None` if the copy never finished (a crash interrupted it; the restarted
    /// controller reports the rest as a new copy).
    pub finished_ns: Option<u64>,
    pub stats: CopyStats,
}

/// S0: a backup copy an engine finished (its `BackupCopied` notice; not traced).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupCopy {
    pub array: ArrayId,
    pub backup: model::BackupId,
    pub blocks: u64,
    pub at_ns: u64,
}

/// An invariant an engine reported broken at a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolation {
    pub array: ArrayId,
    pub event: u64,
    pub time_ns: u64,
    pub message: String,
}

/// An injected media fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaFault {
    pub array: ArrayId,
    pub space: u32,
    pub block: u64,
    pub at_ns: u64,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunResult {
    pub seed: u64,
    pub ending: Ending,
    pub history: History,
    /// Index in `history.ops` where the audit reads begin.
    pub audit_start: usize,
    pub trace: Trace,
    pub events: u64,
    pub sim_ns: u64,
    pub stats: RunStats,
    pub copies: Vec<CopyRecord>,
    pub backup_copies: Vec<BackupCopy>,
    /// The first invariant violation each array reported, in order.
    pub violations: Vec<InvariantViolation>,
    pub media_faults: Vec<MediaFault>,
    /// S1: one file history per file server (application writes, inhibit windows,
    /// crashes, tape records).
    pub files: Vec<model::files::FileHistory>,
}

#[derive(Clone, Debug)]
enum Msg {
    Request {
        req: ReqId,
        op: Op,
    },
    Response {
        req: ReqId,
        result: OpResult,
    },
    /// Array to array; `seq` numbers the sender's peer messages (for the trace).
    Peer {
        from: ArrayId,
        seq: u64,
        msg: Vec<u8>,
    },
    /// Host to host (S1); `id` is the backup it concerns (for the trace).
    Host {
        from: HostId,
        id: u64,
        msg: offload::HostMsg,
    },
}

impl Msg {
    fn req(&self) -> u64 {
        match self {
            Msg::Request { req, .. } | Msg::Response { req, .. } => req.seq,
            Msg::Peer { seq, .. } => *seq,
            Msg::Host { id, .. } => *id,
        }
    }
}

#[derive(Clone, Debug)]
enum Ev {
    HostNext { host: u32, slot: u32, life: u32 },
    HostTimeout { host: u32, slot: u32, req: u64 },
    AdminTimeout { host: u32, req: u64 },
    Deliver { link: u32, epoch: u64, to: Endpoint, msg: Msg },
    MediaDone { array: u32, incarnation: u32, io: IoId },
    EngineTimer { array: u32, incarnation: u32, timer: TimerId },
    Action { action: Action, timeline: bool },
    RandomFault { kind: FaultKind },
    Offload(offload::OffloadEv),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultKind {
    LinkFlap,
    ArrayCrash,
    HostCrash,
}

struct Queued {
    time: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    /// Reversed: the heap pops the earliest (time, seq) first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

#[derive(Clone, Copy, Debug)]
struct OpenOp {
    req: u64,
    hist: usize,
}

#[derive(Clone, Debug)]
struct Slot {
    process: ProcessId,
    open: Option<OpenOp>,
}

struct HostState {
    up: bool,
    life: u32,
    restart_pending: bool,
    slots: Vec<Slot>,
    issued: u64,
    req_next: u64,
    write_seq: u32,
    writer: u16,
    rng: Prng,
    done: bool,
    /// Admin commands awaiting an answer: request, history index.
    admin: Vec<OpenOp>,
}

/// Sparse media: an absent block holds 0 (writing 0 frees it).
#[derive(Default)]
struct Media {
    spaces: BTreeMap<SpaceId, BTreeMap<u64, Value>>,
    meta: Metadata,
    /// Blocks that read with an error until written.
    bad: BTreeSet<(SpaceId, u64)>,
}

impl Media {
    fn read(&self, space: SpaceId, block: u64, len: u32) -> Vec<Value> {
        let data = self.spaces.get(&space);
        (0..u64::from(len))
            .map(|i| data.and_then(|d| d.get(&(block + i)).copied()).unwrap_or(Value::ZERO))
            .collect()
    }

    fn bad_block(&self, space: SpaceId, block: u64, len: u32) -> Option<u64> {
        let end = block.saturating_add(u64::from(len));
        self.bad.range((space, block)..(space, end)).next().map(|&(_, b)| b)
    }

    fn write(&mut self, space: SpaceId, block: u64, values: &[Value], mask: impl Fn(usize) -> bool) {
        let data = self.spaces.entry(space).or_default();
        for (i, v) in values.iter().enumerate() {
            if mask(i) {
                let b = block + i as u64;
                if *v == Value::ZERO {
                    data.remove(&b);
                } else {
                    data.insert(b, *v);
                }
                self.bad.remove(&(space, b));
            }
        }
    }
}

impl MediaView for Media {
    fn block(&self, space: SpaceId, block: u64) -> Value {
        self.read(space, block, 1)[0]
    }

    fn allocated(&self, space: SpaceId, from: u64, to: u64) -> Vec<u64> {
        self.spaces.get(&space).map_or_else(Vec::new, |d| d.range(from..to).map(|(b, _)| *b).collect())
    }
}

struct ArrayState {
    config: ArrayConfig,
    engine: Option<Box<dyn ArrayEngine>>,
    incarnation: u32,
    media: Media,
    inflight: BTreeMap<IoId, MediaOp>,
    rng: Prng,
}

struct LinkState {
    up: bool,
    epoch: u64,
    rng: Prng,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Workload,
    Settling,
    Audit,
}

struct World<'a> {
    cfg: &'a SimConfig,
    factory: &'a dyn EngineFactory,
    now: u64,
    seq: u64,
    events: u64,
    queue: BinaryHeap<Queued>,
    hosts: Vec<HostState>,
    arrays: Vec<ArrayState>,
    links: Vec<LinkState>,
    /// routes[host][array]: the links joining them, in configuration order.
    routes: Vec<Vec<Vec<u32>>>,
    /// peer_routes[array][array]: the array-to-array links joining them.
    peer_routes: Vec<Vec<Vec<u32>>>,
    peer_seq: u64,
    vol_array: BTreeMap<VolumeId, ArrayId>,
    history: History,
    trace: Trace,
    stats: RunStats,
    fault_rng: Prng,
    phase: Phase,
    timeline_pending: usize,
    deliveries_pending: u64,
    media_pending: u64,
    open_ops: u64,
    process_next: u32,
    out: Vec<Output>,
    audit: AuditState,
    copies: Vec<CopyRecord>,
    backup_copies: Vec<BackupCopy>,
    /// Open copies: (array, pair) → index in `copies`.
    copies_open: BTreeMap<(u32, PairId), usize>,
    violations: Vec<InvariantViolation>,
    violated: BTreeSet<usize>,
    media_faults: Vec<MediaFault>,
    offload: offload::OffloadState,
}

#[derive(Clone, Copy)]
struct AuditRead {
    array: ArrayId,
    vol: VolumeId,
    block: u64,
    len: u32,
}

#[derive(Default)]
struct AuditState {
    reads: Vec<AuditRead>,
    next: usize,
    open: Option<usize>,
    start: usize,
}

/// Runs one simulation to its end.
pub fn run(cfg: &SimConfig, factory: &dyn EngineFactory, opts: &RunOptions) -> RunResult {
    let mut w = World::new(cfg, factory, opts);
    let ending = w.run_loop();
    RunResult {
        seed: opts.seed,
        ending,
        audit_start: if w.phase == Phase::Audit { w.audit.start } else { w.history.ops.len() },
        history: w.history,
        trace: w.trace,
        events: w.events,
        sim_ns: w.now,
        stats: w.stats,
        copies: w.copies,
        backup_copies: w.backup_copies,
        violations: w.violations,
        media_faults: w.media_faults,
        files: w.offload.histories,
    }
}

impl<'a> World<'a> {
    fn new(cfg: &'a SimConfig, factory: &'a dyn EngineFactory, opts: &RunOptions) -> World<'a> {
        let seed = opts.seed;
        let arrays: Vec<ArrayState> = cfg
            .arrays
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let config = ArrayConfig {
                    id: ArrayId(i as u32),
                    name: a.name.clone(),
                    volumes: cfg
                        .volumes
                        .iter()
                        .filter(|v| v.array.0 as usize == i && !v.id.is_image())
                        .map(|v| (v.id, v.blocks))
                        .collect(),
                    change_grain: a.change_grain,
                    remote_volumes: cfg
                        .volumes
                        .iter()
                        .filter(|v| v.array.0 as usize != i)
                        .map(|v| (v.id, v.array, v.blocks))
                        .collect(),
                };
                let media = Media::default();
                let engine = Some(factory.boot(&config, &media.meta));
                ArrayState {
                    config,
                    engine,
                    incarnation: 0,
                    media,
                    inflight: BTreeMap::new(),
                    rng: Prng::new(seed, Stream::Media(i as u32)),
                }
            })
            .collect();
        let mut routes = vec![vec![Vec::new(); cfg.arrays.len()]; cfg.hosts.len()];
        let mut peer_routes = vec![vec![Vec::new(); cfg.arrays.len()]; cfg.arrays.len()];
        for (l, link) in cfg.links.iter().enumerate() {
            match link.ends {
                [Endpoint::Host(h), Endpoint::Array(a)] | [Endpoint::Array(a), Endpoint::Host(h)] => {
                    routes[h.0 as usize][a.0 as usize].push(l as u32)
                }
                [Endpoint::Array(a), Endpoint::Array(b)] => {
                    peer_routes[a.0 as usize][b.0 as usize].push(l as u32);
                    peer_routes[b.0 as usize][a.0 as usize].push(l as u32);
                }
                [Endpoint::Host(_), Endpoint::Host(_)] => {}
            }
        }
        let mut w = World {
            cfg,
            factory,
            now: 0,
            seq: 0,
            events: 0,
            queue: BinaryHeap::new(),
            hosts: Vec::new(),
            arrays,
            links: (0..cfg.links.len())
                .map(|i| LinkState { up: true, epoch: 0, rng: Prng::new(seed, Stream::Link(i as u32)) })
                .collect(),
            routes,
            peer_routes,
            peer_seq: 0,
            vol_array: cfg.volumes.iter().map(|v| (v.id, v.array)).collect(),
            history: History::default(),
            trace: Trace::new(opts.record_trace),
            stats: RunStats::default(),
            fault_rng: Prng::new(seed, Stream::Faults),
            phase: Phase::Workload,
            timeline_pending: cfg.timeline.len(),
            deliveries_pending: 0,
            media_pending: 0,
            open_ops: 0,
            process_next: 0,
            out: Vec::new(),
            audit: AuditState::default(),
            copies: Vec::new(),
            backup_copies: Vec::new(),
            copies_open: BTreeMap::new(),
            violations: Vec::new(),
            violated: BTreeSet::new(),
            media_faults: Vec::new(),
            offload: offload::OffloadState::new(cfg, factory),
        };
        for (i, h) in cfg.hosts.iter().enumerate() {
            let concurrency = h.workload.as_ref().map_or(0, |wl| wl.concurrency);
            let slots = (0..concurrency).map(|_| Slot { process: w.new_process(), open: None }).collect();
            w.hosts.push(HostState {
                up: true,
                life: 0,
                restart_pending: false,
                slots,
                issued: 0,
                req_next: 0,
                write_seq: 0,
                writer: u16::try_from(i + 1).expect("at most 65535 hosts"),
                rng: Prng::new(seed, Stream::Host(i as u32)),
                done: false,
                admin: Vec::new(),
            });
            for slot in 0..concurrency {
                w.schedule(0, Ev::HostNext { host: i as u32, slot, life: 0 });
            }
        }
        w.offload_init();
        for t in &cfg.timeline {
            w.schedule(t.at_ns, Ev::Action { action: t.action.clone(), timeline: true });
        }
        let rf = &cfg.random_faults;
        for (rate, kind) in [
            (&rf.link_flap, FaultKind::LinkFlap),
            (&rf.array_crash, FaultKind::ArrayCrash),
            (&rf.host_crash, FaultKind::HostCrash),
        ] {
            if let Some(rate) = rate {
                let gap = w.fault_rng.between(0, rate.mean_interval_ns.saturating_mul(2));
                w.schedule(gap, Ev::RandomFault { kind });
            }
        }
        for h in 0..w.hosts.len() {
            w.refresh_host_done(h);
        }
        for a in 0..w.arrays.len() {
            w.engine_input(a, Input::Started);
        }
        w
    }

    fn new_process(&mut self) -> ProcessId {
        let p = ProcessId(self.process_next);
        self.process_next += 1;
        p
    }

    fn schedule(&mut self, time: u64, ev: Ev) {
        if matches!(ev, Ev::Deliver { .. }) {
            self.deliveries_pending += 1;
        }
        self.queue.push(Queued { time, seq: self.seq, ev });
        self.seq += 1;
    }

    fn trace(&mut self, kind: TraceKind) {
        self.trace.push(self.events, self.now, kind);
    }

    fn run_loop(&mut self) -> Ending {
        let limits = self.cfg.limits;
        loop {
            if self.phase == Phase::Workload && self.workload_over() {
                self.begin_settling();
            }
            if self.phase == Phase::Settling && self.settled() {
                self.begin_audit();
            }
            // An engine may answer an audit read at once (a rejection): issue the next
            // one without waiting for an event.
            while self.phase == Phase::Audit && self.audit.open.is_none() {
                if self.audit.next == self.audit.reads.len() {
                    return Ending::Completed;
                }
                self.issue_audit_read();
            }
            let Some(q) = self.queue.pop() else {
                // Nothing left to happen: whatever is still open can never finish.
                return Ending::SettleTimeout;
            };
            if q.time > limits.max_time_ns {
                self.now = limits.max_time_ns;
                return Ending::MaxTime;
            }
            if self.phase == Phase::Settling
                && q.time > self.stats.settle_start_ns.saturating_add(limits.settle_ns)
            {
                self.now = self.stats.settle_start_ns + limits.settle_ns;
                return Ending::SettleTimeout;
            }
            if self.events >= limits.max_events {
                return Ending::MaxEvents;
            }
            debug_assert!(q.time >= self.now, "time never goes backwards");
            self.now = q.time;
            self.dispatch(q.ev);
            self.events += 1;
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::HostNext { host, slot, life } => self.host_next(host as usize, slot as usize, life),
            Ev::HostTimeout { host, slot, req } => self.host_timeout(host as usize, slot as usize, req),
            Ev::AdminTimeout { host, req } => self.admin_timeout(host as usize, req),
            Ev::Deliver { link, epoch, to, msg } => {
                self.deliveries_pending -= 1;
                self.deliver(link as usize, epoch, to, msg);
            }
            Ev::MediaDone { array, incarnation, io } => self.media_done(array as usize, incarnation, io),
            Ev::EngineTimer { array, incarnation, timer } => {
                let a = &self.arrays[array as usize];
                if a.incarnation == incarnation && a.engine.is_some() {
                    self.trace(TraceKind::EngineTimer { array, timer: timer.0 });
                    self.engine_input(array as usize, Input::Timer { timer });
                }
            }
            Ev::Action { action, timeline } => {
                if timeline {
                    self.timeline_pending -= 1;
                }
                self.act(action);
            }
            Ev::RandomFault { kind } => self.random_fault(kind),
            Ev::Offload(ev) => self.offload_event(ev),
        }
    }

    // ---- phases -------------------------------------------------------------------

    fn workload_over(&self) -> bool {
        self.timeline_pending == 0 && self.hosts.iter().all(|h| h.done) && self.offload_quiet()
    }

    fn refresh_host_done(&mut self, h: usize) {
        let host = &self.hosts[h];
        let budget = self.cfg.hosts[h].workload.as_ref().map_or(0, |w| w.ops);
        let idle = host.slots.iter().all(|s| s.open.is_none());
        let finished = host.up && host.issued >= budget && idle;
        let dead = !host.up && !host.restart_pending;
        self.hosts[h].done = finished || dead;
    }

    fn begin_settling(&mut self) {
        self.phase = Phase::Settling;
        self.stats.settle_start_ns = self.now;
        self.trace(TraceKind::Settle);
        for l in 0..self.links.len() {
            if !self.links[l].up {
                self.link_up(l);
            }
        }
        for a in 0..self.arrays.len() {
            if self.arrays[a].engine.is_none() {
                self.restart_array(a);
            }
        }
        // Hosts stay as they are: a crashed host issues nothing more.
    }

    fn settled(&self) -> bool {
        self.deliveries_pending == 0
            && self.media_pending == 0
            && self.open_ops == 0
            && self.arrays.iter().all(|a| a.engine.as_ref().is_some_and(|e| !e.busy()))
            && self.offload_settled()
    }

    fn begin_audit(&mut self) {
        for a in 0..self.arrays.len() {
            self.probe_quiescent(a);
        }
        self.phase = Phase::Audit;
        self.audit.start = self.history.ops.len();
        // Every block any write touched, whatever its outcome, merged into ranges.
        let mut written: BTreeMap<VolumeId, Vec<(u64, u64)>> = BTreeMap::new();
        for h in &self.history.ops {
            if let Op::Write { vol, block, values } = &h.op {
                written.entry(*vol).or_default().push((*block, values.len() as u64));
            }
        }
        // S3: a remote secondary is audited wherever its primary was written (and
        // the other way round, the roles swap at a failback).
        for h in &self.history.ops {
            if let Op::RemotePairCreate { primary, secondary, .. } = h.op {
                for (from, to) in [(primary, secondary), (secondary, primary)] {
                    let extents = written.get(&from).cloned().unwrap_or_default();
                    written.entry(to).or_default().extend(extents);
                }
            }
        }
        // S4: every image that exists at the end (its last successful command is a
        // snapshot, and no command on it has an unknown outcome) is read over the
        // blocks written to its volume too, so its content is judged.
        let mut images: BTreeMap<VolumeId, Option<VolumeId>> = BTreeMap::new();
        let mut unsure: BTreeSet<VolumeId> = BTreeSet::new();
        for h in &self.history.ops {
            let (image, made) = match h.op {
                Op::Snapshot { vol, image } => (image, Some(vol)),
                Op::DeleteSnapshot { image } => (image, None),
                _ => continue,
            };
            match &h.completion {
                Completion::Returned(Ok(_)) => {
                    images.insert(image, made);
                }
                Completion::Unknown => {
                    unsure.insert(image);
                }
                _ => {}
            }
        }
        let images: Vec<(VolumeId, VolumeId)> = images
            .into_iter()
            .filter(|(i, _)| !unsure.contains(i) && self.vol_array.contains_key(i))
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .collect();
        for (image, vol) in images {
            if let Some(extents) = written.get(&vol).cloned() {
                written.entry(image).or_default().extend(extents);
            }
        }
        // S0: a backup's destination (and a restore's target) is read wherever its
        // source was written, so the copy's content is judged.
        for (from, to) in backup_audit_maps(&self.history) {
            let extents = written.get(&from.vol).cloned().unwrap_or_default();
            for (b, n) in extents {
                let (lo, hi) = (b.max(from.start), (b + n).min(from.end()));
                if lo < hi {
                    written.entry(to.vol).or_default().push((lo - from.start + to.start, hi - lo));
                }
            }
        }
        for (vol, mut extents) in written {
            extents.sort_unstable();
            // The union of the written extents; the loop below cuts it into reads.
            let mut ranges: Vec<(u64, u64)> = Vec::new();
            for (start, len) in extents {
                let end = start + len;
                match ranges.last_mut() {
                    Some((_, e)) if start <= *e => *e = (*e).max(end),
                    _ => ranges.push((start, end)),
                }
            }
            let array = self.vol_array[&vol];
            for (s, e) in ranges {
                let mut b = s;
                while b < e {
                    let len = (e - b).min(AUDIT_READ_LEN_MAX);
                    self.audit.reads.push(AuditRead { array, vol, block: b, len: len as u32 });
                    b += len;
                }
            }
        }
    }

    fn issue_audit_read(&mut self) {
        let i = self.audit.next;
        self.audit.next += 1;
        let AuditRead { array, vol, block, len } = self.audit.reads[i];
        let op = Op::Read { vol, block, len };
        self.trace(TraceKind::Audit { array: array.0, vol: vol.0, block, len });
        self.audit.open = Some(self.record_invoke(AUDITOR_PROCESS, op.clone()));
        self.stats.audit_reads += 1;
        self.engine_input(
            array.0 as usize,
            Input::Host { req: ReqId { host: AUDITOR_HOST, seq: i as u64 }, op },
        );
    }

    // ---- hosts --------------------------------------------------------------------

    fn host_next(&mut self, h: usize, slot: usize, life: u32) {
        let Some(wl) = self.cfg.hosts[h].workload.as_ref() else { return };
        let host = &mut self.hosts[h];
        if !host.up || host.life != life || self.phase != Phase::Workload || host.slots[slot].open.is_some() {
            return;
        }
        if host.issued >= wl.ops {
            self.refresh_host_done(h);
            return;
        }
        host.issued += 1;
        let rng = &mut host.rng;
        let vol = wl.volumes[rng.below(wl.volumes.len() as u64) as usize];
        let vinfo = self.cfg.volume(vol).expect("a workload names known volumes");
        let len = wl.len.sample(rng).clamp(1, vinfo.blocks.min(u64::from(Value::WRITE_LEN_MAX)));
        let span = vinfo.blocks - len + 1;
        let block = match wl.blocks {
            BlockDist::Uniform => rng.below(span),
            BlockDist::HotSet { hot_blocks, hot } => {
                if rng.chance(hot) {
                    rng.below(hot_blocks.clamp(1, span))
                } else {
                    rng.below(span)
                }
            }
        };
        let read = rng.chance(wl.read);
        let op = if read {
            Op::Read { vol, block, len: len as u32 }
        } else {
            host.write_seq += 1;
            let (writer, seq) = (host.writer, host.write_seq);
            Op::Write { vol, block, values: (0..len).map(|i| Value::pack(writer, seq, i as u16)).collect() }
        };
        let req = host.req_next;
        host.req_next += 1;
        let process = host.slots[slot].process;
        let hist = self.record_invoke(process, op.clone());
        self.stats.ops += 1;
        self.trace(TraceKind::Invoke {
            host: h as u32,
            process: process.0,
            req,
            write: !read,
            vol: vol.0,
            block,
            len: len as u32,
        });
        let array = vinfo.array;
        let Some(link) = self.route(h, array.0 as usize) else {
            self.trace(TraceKind::NoPath { host: h as u32, req });
            self.complete(hist, Completion::Failed("no path to the array".into()));
            self.stats.ops_failed += 1;
            let think = wl.think_ns.sample(&mut self.hosts[h].rng);
            self.schedule(
                self.now + think + NO_PATH_BACKOFF_NS,
                Ev::HostNext { host: h as u32, slot: slot as u32, life },
            );
            return;
        };
        self.hosts[h].slots[slot].open = Some(OpenOp { req, hist });
        self.open_ops += 1;
        let timeout = self.cfg.hosts[h].op_timeout_ns;
        self.schedule(self.now + timeout, Ev::HostTimeout { host: h as u32, slot: slot as u32, req });
        let req = ReqId { host: h as u32, seq: req };
        self.send(link, Endpoint::Array(array), Msg::Request { req, op });
    }

    fn route(&self, h: usize, a: usize) -> Option<usize> {
        self.routes[h][a].iter().map(|&l| l as usize).find(|&l| self.links[l].up)
    }

    /// Appends an invocation to the history (outcome unknown until completed); returns
    /// its index.
    fn record_invoke(&mut self, process: ProcessId, op: Op) -> usize {
        self.history.ops.push(HistoryOp {
            process,
            op,
            invoke_ns: self.now,
            complete_ns: None,
            completion: Completion::Unknown,
            invoke_event: self.events,
            complete_event: None,
        });
        self.history.ops.len() - 1
    }

    fn complete(&mut self, hist: usize, completion: Completion) {
        let op = &mut self.history.ops[hist];
        if completion != Completion::Unknown {
            op.complete_ns = Some(self.now);
            op.complete_event = Some(self.events);
        }
        op.completion = completion;
    }

    fn host_response(&mut self, h: usize, req: u64, result: OpResult) {
        let Some(result) = self.offload_response(h, req, result) else { return };
        let host = &self.hosts[h];
        if let Some(i) = host.admin.iter().position(|o| o.req == req) {
            let open = self.hosts[h].admin.swap_remove(i);
            self.open_ops -= 1;
            let process = self.history.ops[open.hist].process;
            self.trace(TraceKind::Complete { host: h as u32, process: process.0, req, ok: result.is_ok() });
            if result == Err(ErrorKind::Indeterminate) {
                // S3: a command the array cannot tell took effect (a resume whose
                // `Begin` the peer may never have recorded): an unknown outcome.
                self.stats.ops_unknown += 1;
                return;
            }
            self.complete(open.hist, Completion::Returned(result));
            self.stats.ops_ok += 1;
            return;
        }
        let Some(slot) = host.slots.iter().position(|s| s.open.is_some_and(|o| o.req == req)) else {
            return; // Timed out already, or a duplicate answer.
        };
        let open = self.hosts[h].slots[slot].open.take().expect("found above");
        self.open_ops -= 1;
        let process = self.hosts[h].slots[slot].process;
        self.trace(TraceKind::Complete { host: h as u32, process: process.0, req, ok: result.is_ok() });
        if result == Err(ErrorKind::Indeterminate) {
            // The array cannot tell whether the write took effect (S3: its remote
            // copy's answer was lost): an unknown outcome, and the client goes on as
            // a new process, as after a timeout.
            self.stats.ops_unknown += 1;
            let p = self.new_process();
            self.hosts[h].slots[slot].process = p;
            self.after_op(h, slot);
            return;
        }
        self.complete(open.hist, Completion::Returned(result));
        self.stats.ops_ok += 1;
        self.after_op(h, slot);
    }

    fn after_op(&mut self, h: usize, slot: usize) {
        let wl = self.cfg.hosts[h].workload.as_ref().expect("a host with open ops has a workload");
        let think = wl.think_ns.sample(&mut self.hosts[h].rng);
        let life = self.hosts[h].life;
        self.schedule(self.now + think, Ev::HostNext { host: h as u32, slot: slot as u32, life });
        self.refresh_host_done(h);
    }

    fn host_timeout(&mut self, h: usize, slot: usize, req: u64) {
        let s = &self.hosts[h].slots[slot];
        if s.open.is_none_or(|o| o.req != req) {
            return;
        }
        let process = s.process;
        self.hosts[h].slots[slot].open = None;
        self.open_ops -= 1;
        self.stats.ops_unknown += 1;
        self.trace(TraceKind::Timeout { host: h as u32, process: process.0, req });
        // The operation may still take effect: this client continues as a new process.
        let p = self.new_process();
        self.hosts[h].slots[slot].process = p;
        self.after_op(h, slot);
    }

    /// A host sends an admin command (a new process: admin commands are not part of
    /// the host's workload slots).
    fn admin_invoke(&mut self, h: usize, array: ArrayId, op: Op) {
        if !self.hosts[h].up || self.phase != Phase::Workload {
            return;
        }
        let process = self.new_process();
        let host = &mut self.hosts[h];
        let req = host.req_next;
        host.req_next += 1;
        let hist = self.record_invoke(process, op.clone());
        self.stats.ops += 1;
        self.stats.admin_ops += 1;
        let pair = op.pair().map_or(u32::MAX, |p| p.0);
        self.trace(TraceKind::Admin { host: h as u32, process: process.0, req, pair });
        let Some(link) = self.route(h, array.0 as usize) else {
            self.trace(TraceKind::NoPath { host: h as u32, req });
            self.complete(hist, Completion::Failed("no path to the array".into()));
            self.stats.ops_failed += 1;
            return;
        };
        self.hosts[h].admin.push(OpenOp { req, hist });
        self.open_ops += 1;
        let timeout = self.cfg.hosts[h].op_timeout_ns;
        self.schedule(self.now + timeout, Ev::AdminTimeout { host: h as u32, req });
        let req = ReqId { host: h as u32, seq: req };
        self.send(link, Endpoint::Array(array), Msg::Request { req, op });
    }

    fn admin_timeout(&mut self, h: usize, req: u64) {
        let Some(i) = self.hosts[h].admin.iter().position(|o| o.req == req) else { return };
        let open = self.hosts[h].admin.swap_remove(i);
        self.open_ops -= 1;
        self.stats.ops_unknown += 1;
        let process = self.history.ops[open.hist].process;
        self.trace(TraceKind::Timeout { host: h as u32, process: process.0, req });
    }

    fn crash_host(&mut self, h: usize, restart_after_ns: Option<u64>) {
        if !self.hosts[h].up {
            return;
        }
        let mut open = 0;
        for s in 0..self.hosts[h].slots.len() {
            if self.hosts[h].slots[s].open.take().is_some() {
                open += 1;
            }
            let p = self.new_process();
            self.hosts[h].slots[s].process = p;
        }
        let admin = std::mem::take(&mut self.hosts[h].admin).len() as u64;
        open += admin;
        self.open_ops -= open;
        self.stats.ops_unknown += open;
        self.stats.host_crashes += 1;
        let host = &mut self.hosts[h];
        host.up = false;
        host.life += 1;
        host.restart_pending = restart_after_ns.is_some();
        self.trace(TraceKind::HostCrash { host: h as u32, open: open as u32 });
        self.offload_crash(h);
        self.reset_links_of(Endpoint::Host(HostId(h as u32)));
        if let Some(after) = restart_after_ns {
            self.schedule(
                self.now + after,
                Ev::Action { action: Action::RestartHost { host: HostId(h as u32) }, timeline: false },
            );
        }
        self.refresh_host_done(h);
    }

    fn restart_host(&mut self, h: usize) {
        let host = &mut self.hosts[h];
        host.restart_pending = false;
        if host.up {
            return;
        }
        host.up = true;
        let life = host.life;
        self.trace(TraceKind::HostRestart { host: h as u32 });
        for slot in 0..self.hosts[h].slots.len() {
            self.schedule(self.now, Ev::HostNext { host: h as u32, slot: slot as u32, life });
        }
        self.offload_restart(h);
        self.refresh_host_done(h);
    }

    // ---- links --------------------------------------------------------------------

    fn send(&mut self, l: usize, to: Endpoint, msg: Msg) {
        let spec = &self.cfg.links[l];
        let to_array = matches!(to, Endpoint::Array(_));
        let req = msg.req();
        self.stats.messages += 1;
        let link = &mut self.links[l];
        if !link.up {
            self.stats.messages_dropped += 1;
            self.trace(TraceKind::Drop { link: l as u32, req, reason: DropReason::LinkDown });
            return;
        }
        if link.rng.chance(spec.drop) {
            self.stats.messages_dropped += 1;
            self.trace(TraceKind::Drop { link: l as u32, req, reason: DropReason::Random });
            return;
        }
        let copies = if link.rng.chance(spec.duplicate) { 2 } else { 1 };
        let epoch = link.epoch;
        self.trace(TraceKind::Send { link: l as u32, to_array, req, copies });
        let mut msg = Some(msg);
        for c in 0..copies {
            let link = &mut self.links[l];
            let mut delay = spec.latency_ns.sample(&mut link.rng);
            if link.rng.chance(spec.reorder) {
                delay += spec.reorder_delay_ns.sample(&mut link.rng);
            }
            let msg = if c + 1 == copies { msg.take() } else { msg.clone() }.expect("sent once");
            self.schedule(self.now + delay, Ev::Deliver { link: l as u32, epoch, to, msg });
        }
    }

    fn deliver(&mut self, l: usize, epoch: u64, to: Endpoint, msg: Msg) {
        let req = msg.req();
        let reason = if !self.links[l].up {
            Some(DropReason::LinkDown)
        } else if self.links[l].epoch != epoch {
            Some(DropReason::StaleEpoch)
        } else {
            match to {
                Endpoint::Array(a) if self.arrays[a.0 as usize].engine.is_none() => {
                    Some(DropReason::EndpointDown)
                }
                Endpoint::Host(h) if !self.hosts[h.0 as usize].up => Some(DropReason::EndpointDown),
                _ => None,
            }
        };
        if let Some(reason) = reason {
            self.stats.messages_dropped += 1;
            self.trace(TraceKind::Drop { link: l as u32, req, reason });
            return;
        }
        self.trace(TraceKind::Deliver { link: l as u32, to_array: matches!(to, Endpoint::Array(_)), req });
        match (to, msg) {
            (Endpoint::Array(a), Msg::Request { req, op }) => {
                self.engine_input(a.0 as usize, Input::Host { req, op })
            }
            (Endpoint::Host(h), Msg::Response { req, result }) => {
                self.host_response(h.0 as usize, req.seq, result)
            }
            (Endpoint::Array(a), Msg::Peer { from, msg, .. }) => {
                self.engine_input(a.0 as usize, Input::Peer { from, msg })
            }
            (Endpoint::Host(h), Msg::Host { from, msg, .. }) => {
                self.offload_host_msg(h.0 as usize, from, msg)
            }
            (to, msg) => unreachable!("{msg:?} delivered to {to:?}"),
        }
    }

    fn reset_links_of(&mut self, end: Endpoint) {
        for (l, spec) in self.cfg.links.iter().enumerate() {
            if spec.ends.contains(&end) {
                self.links[l].epoch += 1;
            }
        }
    }

    fn link_down(&mut self, l: usize) {
        if !self.links[l].up {
            return;
        }
        self.links[l].up = false;
        self.links[l].epoch += 1;
        self.stats.link_downs += 1;
        self.trace(TraceKind::LinkDown { link: l as u32 });
    }

    fn link_up(&mut self, l: usize) {
        if self.links[l].up {
            return;
        }
        self.links[l].up = true;
        self.trace(TraceKind::LinkUp { link: l as u32 });
    }

    // ---- arrays -------------------------------------------------------------------

    fn engine_input(&mut self, a: usize, input: Input) {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        self.arrays[a].engine.as_mut().expect("input to a running engine").handle(input, &mut out);
        for o in out.drain(..) {
            self.engine_output(a, o);
        }
        self.out = out;
    }

    fn engine_output(&mut self, a: usize, o: Output) {
        match o {
            Output::Media { io, op } => {
                let media = self.cfg.arrays[a].media;
                let (kind, space, block, len, dist) = match &op {
                    MediaOp::Read { space, block, len } => (0u8, space.0, *block, *len, media.read_ns),
                    MediaOp::Write { space, block, values } => {
                        (1, space.0, *block, values.len() as u32, media.write_ns)
                    }
                    MediaOp::MetaPut { .. } | MediaOp::MetaPutAnnounced { .. } => (2, 0, 0, 0, media.meta_ns),
                    MediaOp::MetaDelete { .. } => (3, 0, 0, 0, media.meta_ns),
                    MediaOp::Allocated { space } => (5, space.0, 0, 0, media.meta_ns),
                };
                if let MediaOp::Write { space, block, values } = &op {
                    let probe = Probe::MediaWrite { space: *space, block: *block, len: values.len() as u64 };
                    self.probe(a, &probe);
                }
                let arr = &mut self.arrays[a];
                let latency = dist.sample(&mut arr.rng);
                let prev = arr.inflight.insert(io, op);
                assert!(prev.is_none(), "engine reused media I/O id {io:?} while it was in flight");
                let incarnation = arr.incarnation;
                self.media_pending += 1;
                self.stats.media_ios += 1;
                self.trace(TraceKind::MediaSubmit { array: a as u32, io: io.0, kind, space, block, len });
                self.schedule(self.now + latency, Ev::MediaDone { array: a as u32, incarnation, io });
            }
            Output::Reply { req, result } => {
                if req.host == AUDITOR_HOST {
                    let hist = self.audit.open.take().expect("an audit read is open");
                    self.complete(hist, Completion::Returned(result));
                    return;
                }
                let h = req.host as usize;
                if self.hosts[h].admin.iter().any(|o| o.req == req.seq) {
                    // An admin command took effect (or was refused): a quiescent point
                    // for the pair (a split has just taken its image).
                    self.probe_quiescent(a);
                }
                let Some(l) = self.route(h, a) else {
                    self.stats.messages_dropped += 1;
                    self.trace(TraceKind::Drop {
                        link: u32::MAX,
                        req: req.seq,
                        reason: DropReason::LinkDown,
                    });
                    return;
                };
                self.send(l, Endpoint::Host(HostId(req.host)), Msg::Response { req, result });
            }
            Output::Send { to, msg } => {
                let seq = self.peer_seq;
                self.peer_seq += 1;
                let link = self.peer_routes[a]
                    .get(to.0 as usize)
                    .and_then(|ls| ls.iter().map(|&l| l as usize).find(|&l| self.links[l].up));
                match link {
                    Some(l) => {
                        self.send(l, Endpoint::Array(to), Msg::Peer { from: ArrayId(a as u32), seq, msg })
                    }
                    None => {
                        self.stats.messages += 1;
                        self.stats.messages_dropped += 1;
                        self.trace(TraceKind::Drop {
                            link: u32::MAX,
                            req: seq,
                            reason: DropReason::LinkDown,
                        });
                    }
                }
            }
            Output::Timer { timer, after_ns } => {
                let incarnation = self.arrays[a].incarnation;
                self.schedule(self.now + after_ns, Ev::EngineTimer { array: a as u32, incarnation, timer });
            }
            Output::Notice(notice) => self.notice(a, notice),
        }
    }

    fn notice(&mut self, a: usize, notice: Notice) {
        match notice {
            Notice::Pair { pair, event } => {
                let what = match event {
                    PairEvent::CopyDone => 0,
                    PairEvent::Suspended => 1,
                };
                self.trace(TraceKind::Notice { array: a as u32, pair: pair.0, what });
                // An instantaneous operation of the array's own process.
                let hist =
                    self.record_invoke(array_process(ArrayId(a as u32)), Op::PairEvent { pair, event });
                self.complete(hist, Completion::Returned(Ok(Reply::Done)));
            }
            Notice::RemoteGroup { group, event } => {
                let what = match event {
                    RemoteEvent::Synced => 4,
                    RemoteEvent::LinkLost => 5,
                };
                self.trace(TraceKind::Notice { array: a as u32, pair: group.0, what });
                let hist =
                    self.record_invoke(array_process(ArrayId(a as u32)), Op::RemoteEvent { group, event });
                self.complete(hist, Completion::Returned(Ok(Reply::Done)));
                self.probe_remote();
            }
            Notice::Backup { backup, event } => {
                let what = match event {
                    model::BackupEvent::Complete => 6,
                    model::BackupEvent::Failed => 7,
                    model::BackupEvent::RestoreFailed { .. } => 8,
                };
                self.trace(TraceKind::Notice { array: a as u32, pair: backup.0, what });
                let hist =
                    self.record_invoke(array_process(ArrayId(a as u32)), Op::BackupEvent { backup, event });
                self.complete(hist, Completion::Returned(Ok(Reply::Done)));
            }
            Notice::CopyStarted { pair, kind } => {
                self.trace(TraceKind::Notice { array: a as u32, pair: pair.0, what: 2 });
                self.copies.push(CopyRecord {
                    array: ArrayId(a as u32),
                    pair,
                    kind,
                    started_ns: self.now,
                    finished_ns: None,
                    stats: CopyStats::default(),
                });
                self.copies_open.insert((a as u32, pair), self.copies.len() - 1);
            }
            Notice::BackupCopied { backup, blocks } => {
                let array = ArrayId(a as u32);
                self.backup_copies.push(BackupCopy { array, backup, blocks, at_ns: self.now });
            }
            Notice::CopyFinished { pair, kind, stats } => {
                self.trace(TraceKind::Notice { array: a as u32, pair: pair.0, what: 3 });
                match self.copies_open.remove(&(a as u32, pair)) {
                    Some(i) => {
                        self.copies[i].finished_ns = Some(self.now);
                        self.copies[i].stats = stats;
                    }
                    None => self.copies.push(CopyRecord {
                        array: ArrayId(a as u32),
                        pair,
                        kind,
                        started_ns: self.now,
                        finished_ns: Some(self.now),
                        stats,
                    }),
                }
                self.probe_quiescent(a);
            }
        }
    }

    /// Asks array `a`'s engine to check an invariant; records the first failure.
    fn probe(&mut self, a: usize, probe: &Probe<'_>) {
        if self.violated.contains(&a) {
            return;
        }
        let Some(engine) = self.arrays[a].engine.as_ref() else { return };
        if let Err(message) = engine.check(probe) {
            self.record_violation(a, message);
        }
    }

    /// [`World::probe`] with the array's media to compare.
    fn probe_quiescent(&mut self, a: usize) {
        if self.violated.contains(&a) {
            return;
        }
        let arr = &self.arrays[a];
        let Some(engine) = arr.engine.as_ref() else { return };
        if let Err(message) = engine.check(&Probe::Quiescent { media: &arr.media }) {
            self.record_violation(a, message);
        }
        self.probe_remote();
    }

    fn record_violation(&mut self, a: usize, message: String) {
        self.violated.insert(a);
        self.trace(TraceKind::Invariant { array: a as u32 });
        self.violations.push(InvariantViolation {
            array: ArrayId(a as u32),
            event: self.events,
            time_ns: self.now,
            message,
        });
    }

    fn media_done(&mut self, a: usize, incarnation: u32, io: IoId) {
        let arr = &mut self.arrays[a];
        if arr.incarnation != incarnation {
            return; // Resolved at the crash.
        }
        let op = arr.inflight.remove(&io).expect("a completion for an in-flight I/O");
        self.media_pending -= 1;
        let mut announce = None;
        let result = match op {
            MediaOp::Read { space, block, len } => match arr.media.bad_block(space, block, len) {
                Some(block) => MediaResult::ReadError { block },
                None => MediaResult::Read(arr.media.read(space, block, len)),
            },
            MediaOp::Allocated { space } => MediaResult::Allocated(arr.media.allocated(space, 0, u64::MAX)),
            MediaOp::Write { space, block, values } => {
                arr.media.write(space, block, &values, |_| true);
                MediaResult::Written
            }
            MediaOp::MetaPut { key, value } => {
                arr.media.meta.insert(key, value);
                MediaResult::Written
            }
            MediaOp::MetaPutAnnounced { key, value, notice } => {
                arr.media.meta.insert(key, value);
                announce = Some(notice);
                MediaResult::Written
            }
            MediaOp::MetaDelete { key } => {
                arr.media.meta.remove(&key);
                MediaResult::Written
            }
        };
        let kind = match &result {
            MediaResult::Read(_) => 0,
            MediaResult::Written => 1,
            MediaResult::ReadError { .. } => 4,
            MediaResult::Allocated(_) => 5,
        };
        self.trace(TraceKind::MediaDone { array: a as u32, io: io.0, kind });
        if let Some(notice) = announce {
            self.notice(a, notice);
        }
        self.engine_input(a, Input::MediaDone { io, result });
    }

    fn crash_array(&mut self, a: usize, restart_after_ns: Option<u64>) {
        if self.arrays[a].engine.is_none() {
            return;
        }
        let torn_allowed = self.cfg.arrays[a].media.torn_writes;
        let arr = &mut self.arrays[a];
        arr.engine = None;
        arr.incarnation += 1;
        // Media I/O in flight: each write landed wholly, not at all, or (with torn
        // writes on) block by block.
        let (mut torn, mut landed, mut lost) = (0u32, 0u32, 0u32);
        let inflight = std::mem::take(&mut arr.inflight);
        let mut announced = Vec::new();
        self.media_pending -= inflight.len() as u64;
        for (_, op) in inflight {
            let fate = arr.rng.below(if torn_allowed { 3 } else { 2 });
            match op {
                MediaOp::Read { .. } | MediaOp::Allocated { .. } => continue,
                MediaOp::Write { space, block, values } => match fate {
                    0 => lost += 1,
                    1 => {
                        landed += 1;
                        arr.media.write(space, block, &values, |_| true);
                    }
                    _ => {
                        torn += 1;
                        let mask: Vec<bool> = (0..values.len()).map(|_| arr.rng.below(2) == 1).collect();
                        arr.media.write(space, block, &values, |i| mask[i]);
                    }
                },
                MediaOp::MetaPut { key, value } => {
                    if fate == 0 {
                        lost += 1;
                    } else {
                        landed += 1;
                        arr.media.meta.insert(key, value);
                    }
                }
                MediaOp::MetaPutAnnounced { key, value, notice } => {
                    if fate == 0 {
                        lost += 1;
                    } else {
                        landed += 1;
                        arr.media.meta.insert(key, value);
                        announced.push(notice);
                    }
                }
                MediaOp::MetaDelete { key } => {
                    if fate == 0 {
                        lost += 1;
                    } else {
                        landed += 1;
                        arr.media.meta.remove(&key);
                    }
                }
            }
        }
        // A record put that landed made its transition: announce it now.
        for notice in announced {
            self.notice(a, notice);
        }
        self.stats.array_crashes += 1;
        // Copies in progress end unfinished; the restarted controller starts anew.
        self.copies_open.retain(|(arr, _), _| *arr != a as u32);
        self.trace(TraceKind::ArrayCrash { array: a as u32, torn, landed, lost });
        self.reset_links_of(Endpoint::Array(ArrayId(a as u32)));
        if let Some(after) = restart_after_ns {
            self.schedule(
                self.now + after,
                Ev::Action { action: Action::RestartArray { array: ArrayId(a as u32) }, timeline: false },
            );
        }
    }

    fn restart_array(&mut self, a: usize) {
        let arr = &mut self.arrays[a];
        if arr.engine.is_some() {
            return;
        }
        arr.engine = Some(self.factory.boot(&arr.config, &arr.media.meta));
        self.trace(TraceKind::ArrayRestart { array: a as u32 });
        self.engine_input(a, Input::Started);
    }

    // ---- faults -------------------------------------------------------------------

    fn act(&mut self, action: Action) {
        let faulting = self.phase == Phase::Workload;
        match action {
            Action::LinkDown { link } if faulting => self.link_down(link),
            Action::LinkUp { link } => self.link_up(link),
            Action::LinkFlap { link, down_ns, up_ns, times } if faulting => {
                let mut t = self.now;
                for _ in 0..times {
                    self.schedule(t, Ev::Action { action: Action::LinkDown { link }, timeline: false });
                    t += down_ns;
                    self.schedule(t, Ev::Action { action: Action::LinkUp { link }, timeline: false });
                    t += up_ns;
                }
            }
            Action::CrashArray { array, restart_after_ns } if faulting => {
                self.crash_array(array.0 as usize, restart_after_ns)
            }
            Action::RestartArray { array } => self.restart_array(array.0 as usize),
            Action::CrashHost { host, restart_after_ns } if faulting => {
                self.crash_host(host.0 as usize, restart_after_ns)
            }
            Action::RestartHost { host } => self.restart_host(host.0 as usize),
            Action::Admin { host, array, op } => self.admin_invoke(host.0 as usize, array, op),
            Action::MediaError { array, space, block } if faulting => {
                self.stats.media_faults += 1;
                self.media_faults.push(MediaFault { array, space, block, at_ns: self.now });
                self.trace(TraceKind::MediaFault { array: array.0, space, block });
                self.arrays[array.0 as usize].media.bad.insert((SpaceId(space), block));
            }
            Action::OffloadBackup { backup_server, file } => self.offload_backup_start(backup_server, file),
            _ => {} // A fault after the workload phase: faults have stopped.
        }
    }

    fn random_fault(&mut self, kind: FaultKind) {
        if self.phase != Phase::Workload {
            return;
        }
        let rf = &self.cfg.random_faults;
        let (rate, count): (&FaultRate, usize) = match kind {
            FaultKind::LinkFlap => (rf.link_flap.as_ref().expect("scheduled"), self.links.len()),
            FaultKind::ArrayCrash => (rf.array_crash.as_ref().expect("scheduled"), self.arrays.len()),
            FaultKind::HostCrash => (rf.host_crash.as_ref().expect("scheduled"), self.hosts.len()),
        };
        let rng = &mut self.fault_rng;
        let target = if rate.targets.is_empty() {
            rng.below(count as u64) as usize
        } else {
            rate.targets[rng.below(rate.targets.len() as u64) as usize]
        };
        let down = rate.down_ns.sample(rng);
        let gap = rng.between(1, rate.mean_interval_ns.saturating_mul(2).max(1));
        match kind {
            FaultKind::LinkFlap => {
                if self.links[target].up {
                    self.link_down(target);
                    self.schedule(
                        self.now + down,
                        Ev::Action { action: Action::LinkUp { link: target }, timeline: false },
                    );
                }
            }
            FaultKind::ArrayCrash => self.crash_array(target, Some(down)),
            FaultKind::HostCrash => self.crash_host(target, Some(down)),
        }
        self.schedule(self.now + gap, Ev::RandomFault { kind });
    }
}

/// S0: the region copies of the history's backups and restores, `(from, to)`: every
/// backup's source to its destination, and every restore's backup destination to its
/// target (so the audit reads the copies where their sources were written).
fn backup_audit_maps(history: &model::History) -> Vec<(model::Region, model::Region)> {
    let mut dst_of = BTreeMap::new();
    let mut maps = Vec::new();
    for h in &history.ops {
        if matches!(h.completion, Completion::Returned(Err(_)) | Completion::Failed(_)) {
            continue; // refused: nothing was copied
        }
        match &h.op {
            Op::Backup { backup, src, dst } => {
                dst_of.insert(*backup, *dst);
                maps.push((*src, *dst));
            }
            Op::RestoreBackup { backup, to } => {
                if let Some(dst) = dst_of.get(backup) {
                    maps.push((*dst, *to));
                }
            }
            _ => {}
        }
    }
    maps.retain(|(f, t)| f.blocks == t.blocks && !t.vol.is_catalog() && !f.vol.is_catalog());
    maps
}
