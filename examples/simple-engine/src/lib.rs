//! A deliberately simple array engine, to show how to plug your own engine into
//! mirrorsim (docs/engines.md walks through it). It trades speed for obviousness:
//! where the production controller (`engine/src/controller.rs`) overlaps work, this
//! one waits. It is correct for what it supports and says so honestly for the rest.
//!
//! - **Host I/O** (the Foundation scenarios). Every request is checked by the model's
//!   own rule ([`model::StorageModel::validate`]); a write goes straight to the media
//!   (write-through, volume `v` on space `v`) and is acknowledged only when the media
//!   says it is durable; a read answers what the media returns, or `media_error`.
//! - **Duplicates**: each request id is remembered (per incarnation: the simulator
//!   never delivers after a crash a message sent before it); a duplicate is dropped
//!   and the original answers. The memory grows with the run: fine for an example.
//! - **Mirror pairs (S2)**, the simplest correct design:
//!   - a durable *record* per pair (`simple/pair/<id>` = `uid source mirror state`);
//!   - a durable *dirty set*: one metadata key per block (`simple/dirty/<id>/<uid>/<block>`)
//!     that may differ between source and mirror. In `Split` a host write first makes
//!     its blocks' keys durable, then writes (write-intent). The dirty set is the
//!     change map: a resync or restore copies exactly it, one block per bit;
//!   - a pair is *busy* while a command or a copy runs: host I/O and further
//!     commands to its volumes are simply queued (not served) until it is idle again.
//!     So a restoring source is read only after the restore finished, and the copier
//!     never races a host write;
//!   - a command waits for the host I/O in flight on the pair's volumes to drain, then
//!     makes the new record durable (the linearization point) and answers;
//!   - the copier copies runs of consecutive blocks, one run at a time, driven by
//!     media completions: read both sides (to count differing blocks), write the
//!     target, then delete the run's dirty keys. A copy that changes the state ends
//!     with a [`MediaOp::MetaPutAnnounced`] of the new record: the `copy_done` event is
//!     announced exactly when the record saying so is durable;
//!   - in `Mirrored` a write goes to both volumes without a dirty key; a crash may
//!     tear it between them, so a restarted controller copies every allocated block
//!     of a `Mirrored` pair again (a `Recovery` copy) before serving it. `Copy`
//!     restarts its initial copy; `Resync`/`Restore` resume from the dirty set;
//!   - a source read that fails in `Mirrored` is served from the mirror.
//! - **Not done** (refused with the model's error kinds): remote groups (S3), point
//!   in time images (S4). Pairs are never suspended; a copier read error is retried
//!   every millisecond (a media error under a copy stalls it: the run then ends with
//!   a settle timeout, which the harness reports).

use engine::{
    ArrayConfig, ArrayEngine, CopyKind, CopyStats, EngineFactory, Input, IoId, MediaOp, MediaResult,
    Metadata, Notice, Output, Probe, ReqId, SpaceId, TimerId,
};
use model::{
    ErrorKind, Op, OpResult, PairEvent, PairId, PairState, Reply, StorageModel, Value, VolumeId, VolumeSpec,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The copier copies at most this many consecutive blocks per media I/O.
const RUN_MAX: u64 = 64;
/// A copier read that failed is retried after this long.
const RETRY_NS: u64 = 1_000_000;

/// Boots [`SimpleEngine`]s: pass `&SimpleFactory` to `mirrorsim::runner::run`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimpleFactory;

impl EngineFactory for SimpleFactory {
    fn name(&self) -> &str {
        "simple"
    }

    fn boot(&self, config: &ArrayConfig, metadata: &Metadata) -> Box<dyn ArrayEngine> {
        Box::new(SimpleEngine::boot(config, metadata))
    }
}

fn space(vol: VolumeId) -> SpaceId {
    SpaceId(vol.0)
}

fn record_key(p: PairId) -> String {
    format!("simple/pair/{}", p.0)
}

fn dirty_key(p: PairId, uid: &str, block: u64) -> String {
    format!("simple/dirty/{}/{uid}/{block}", p.0)
}

/// A mirror pair: the durable record's fields, the dirty set, and what it is doing.
struct Pair {
    /// Unique per pair incarnation (the creating request), so dirty keys of a
    /// deleted pair never count for a new pair with the same id.
    uid: String,
    source: VolumeId,
    mirror: VolumeId,
    state: PairState,
    /// Blocks whose dirty key is durable.
    dirty: BTreeSet<u64>,
    /// The command being carried out (it waits for in-flight host I/O to drain).
    cmd: Option<(ReqId, Op)>,
    /// The command's record put or delete has been submitted.
    cmd_submitted: bool,
    copy: Option<Copy>,
    /// Host requests and commands that arrived while the pair was busy.
    queue: VecDeque<(ReqId, Op)>,
    /// Extents of the mirrored host writes in flight.
    writing: Vec<(u64, u64)>,
    /// Mirrored host writes waiting for an overlapping one (counted in flight).
    blocked: VecDeque<(ReqId, Op)>,
}

impl Pair {
    fn busy(&self) -> bool {
        self.cmd.is_some() || self.copy.is_some()
    }

    fn record(&self, state: PairState) -> Vec<u8> {
        format!("{} {} {} {}", self.uid, self.source.0, self.mirror.0, state.name()).into_bytes()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Waiting for the allocation maps (initial and recovery copies).
    Listing,
    /// Reading the current run from both volumes.
    Reading,
    /// Writing the run to the target.
    Writing,
    /// Deleting the run's dirty keys.
    Clearing,
    /// Waiting to retry a failed read.
    Retrying,
    /// The record with the new state is being made durable.
    Announcing,
}

/// A background copy of `todo` from one volume to the other.
struct Copy {
    kind: CopyKind,
    from: VolumeId,
    to: VolumeId,
    todo: BTreeSet<u64>,
    stats: CopyStats,
    step: Step,
    /// Media I/O of the current step still to complete.
    waiting: u32,
    /// The run being copied: first block and length.
    run: (u64, u64),
    from_vals: Vec<Value>,
    /// `None`: the target could not be read.
    to_vals: Option<Vec<Value>>,
    /// The state the copy leads to (`None`: no state change, a recovery copy).
    next: Option<PairState>,
}

/// What a media I/O in flight is for.
enum Pending {
    /// A host read; on a media error, retry on `fallback` (the mirror of a mirrored pair).
    HostRead { req: ReqId, vol: VolumeId, fallback: Option<VolumeId>, block: u64, len: u32 },
    /// One of the data writes of a host write.
    HostWrite { req: ReqId },
    /// A dirty key a host write waits for.
    Dirty { req: ReqId, pair: PairId, block: u64 },
    /// A copier I/O (`target`: a read of the volume copied to).
    Copy { pair: PairId, target: bool },
    /// A command's record put or delete.
    Command { pair: PairId },
}

/// A host write waiting for its dirty keys or its data writes.
struct Write {
    vol: VolumeId,
    /// Outstanding media I/O (dirty keys first, then data writes).
    left: u32,
    /// The data writes to submit once the dirty keys are durable.
    then: Vec<(VolumeId, u64, Vec<Value>)>,
    /// A mirrored write's pair and extent (overlapping writes wait for it).
    extent: Option<(PairId, u64, u64)>,
}

/// One controller incarnation: what it knows is rebuilt from the metadata.
pub struct SimpleEngine {
    /// The model, used only for its validation rule (it holds no data here).
    rules: StorageModel,
    next_io: u64,
    next_timer: u64,
    pending: BTreeMap<IoId, Pending>,
    writes: BTreeMap<ReqId, Write>,
    timers: BTreeMap<TimerId, PairId>,
    /// Host requests in flight per volume (commands wait for them to drain).
    inflight: BTreeMap<VolumeId, u32>,
    pairs: BTreeMap<PairId, Pair>,
    /// Every request id seen in this incarnation.
    seen: BTreeSet<ReqId>,
}

impl SimpleEngine {
    /// A controller that knows what `metadata` says: the pair records and their
    /// dirty keys (keys of a deleted pair incarnation are ignored).
    pub fn boot(config: &ArrayConfig, metadata: &Metadata) -> SimpleEngine {
        let specs: Vec<VolumeSpec> =
            config.volumes.iter().map(|&(id, blocks)| VolumeSpec { id, blocks }).collect();
        let mut pairs = BTreeMap::new();
        for (key, value) in metadata {
            let Some(id) = key.strip_prefix("simple/pair/") else { continue };
            let text = String::from_utf8_lossy(value);
            let f: Vec<&str> = text.split(' ').collect();
            let (Ok(id), [uid, s, m, state]) = (id.parse(), f.as_slice()) else { continue };
            let (Ok(s), Ok(m), Some(state)) = (s.parse(), m.parse(), PairState::from_name(state)) else {
                continue;
            };
            pairs.insert(
                PairId(id),
                Pair {
                    uid: uid.to_string(),
                    source: VolumeId(s),
                    mirror: VolumeId(m),
                    state,
                    dirty: BTreeSet::new(),
                    cmd: None,
                    cmd_submitted: false,
                    copy: None,
                    queue: VecDeque::new(),
                    writing: vec![],
                    blocked: VecDeque::new(),
                },
            );
        }
        for key in metadata.keys() {
            let Some(rest) = key.strip_prefix("simple/dirty/") else { continue };
            let f: Vec<&str> = rest.split('/').collect();
            let [id, uid, block] = f.as_slice() else { continue };
            let (Ok(id), Ok(block)) = (id.parse(), block.parse()) else { continue };
            if let Some(p) = pairs.get_mut(&PairId(id)).filter(|p| p.uid == *uid) {
                p.dirty.insert(block);
            }
        }
        SimpleEngine {
            rules: StorageModel::new(&specs),
            next_io: 0,
            next_timer: 0,
            pending: BTreeMap::new(),
            writes: BTreeMap::new(),
            timers: BTreeMap::new(),
            inflight: BTreeMap::new(),
            pairs,
            seen: BTreeSet::new(),
        }
    }

    /// A controller on first boot (no metadata).
    pub fn new(config: &ArrayConfig) -> SimpleEngine {
        SimpleEngine::boot(config, &Metadata::new())
    }

    fn submit(&mut self, op: MediaOp, why: Pending, out: &mut Vec<Output>) {
        let io = IoId(self.next_io);
        self.next_io += 1;
        self.pending.insert(io, why);
        out.push(Output::Media { io, op });
    }

    fn pair_of(&self, vol: VolumeId) -> Option<PairId> {
        self.pairs.iter().find(|(_, p)| p.source == vol || p.mirror == vol).map(|(id, _)| *id)
    }

    /// Answers a host read or write and lets a command waiting for the drain go on.
    fn reply_io(&mut self, req: ReqId, vol: VolumeId, result: OpResult, out: &mut Vec<Output>) {
        out.push(Output::Reply { req, result });
        let n = self.inflight.entry(vol).or_default();
        *n -= 1;
        if let Some(p) = self.pair_of(vol) {
            self.step_command(p, out);
        }
    }

    /// A new host request.
    fn host(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        if !self.seen.insert(req) {
            return; // A duplicate delivery: the original answers.
        }
        if let Err(kind) = self.rules.validate(&op) {
            out.push(Output::Reply { req, result: Err(kind) });
            return;
        }
        self.dispatch(req, op, out);
    }

    /// A valid request: queued if its pair is busy, carried out otherwise.
    fn dispatch(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        let target = match &op {
            Op::Read { vol, .. } | Op::Write { vol, .. } => self.pair_of(*vol),
            Op::Split { pair } | Op::Resync { pair } | Op::Restore { pair, .. } | Op::PairDelete { pair } => {
                if !self.pairs.contains_key(pair) {
                    out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchPair) });
                    return;
                }
                Some(*pair)
            }
            Op::PairCreate { pair, source, mirror } => {
                self.pair_create(req, *pair, *source, *mirror, out);
                return;
            }
            Op::RemotePairCreate { .. } => {
                return out.push(Output::Reply { req, result: Err(ErrorKind::InvalidPair) });
            }
            Op::Suspend { .. } | Op::Resume { .. } | Op::Takeover { .. } | Op::Failback { .. } => {
                return out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchGroup) });
            }
            Op::Snapshot { .. } => {
                return out.push(Output::Reply { req, result: Err(ErrorKind::InvalidImage) });
            }
            Op::DeleteSnapshot { .. } => {
                return out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchImage) });
            }
            // S0 backups: not supported by this engine.
            Op::Backup { .. }
            | Op::RecordBackup { .. }
            | Op::ListBackups { .. }
            | Op::RestoreBackup { .. } => {
                return out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchBackup) });
            }
            // Events are what an engine announces, never what a host sends.
            Op::BackupEvent { .. } => {
                return out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchBackup) });
            }
            Op::PairEvent { .. } => {
                return out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchPair) });
            }
            Op::RemoteEvent { .. } => {
                return out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchGroup) });
            }
        };
        match target {
            Some(p) if self.pairs[&p].busy() => {
                self.pairs.get_mut(&p).expect("exists").queue.push_back((req, op))
            }
            Some(p) if !op.is_io() => self.command(p, req, op, out),
            _ => self.io(req, op, out),
        }
    }

    /// `pair_create`: the model's rules, in the model's order; then the record.
    fn pair_create(
        &mut self,
        req: ReqId,
        pair: PairId,
        source: VolumeId,
        mirror: VolumeId,
        out: &mut Vec<Output>,
    ) {
        let refuse = |kind| Output::Reply { req, result: Err(kind) };
        let (Some(s), Some(m)) = (self.rules.volume_blocks(source), self.rules.volume_blocks(mirror)) else {
            return out.push(refuse(ErrorKind::NoSuchVolume));
        };
        if self.pairs.contains_key(&pair) {
            return out.push(refuse(ErrorKind::PairExists));
        }
        if source == mirror || s != m || source.is_image() || mirror.is_image() {
            return out.push(refuse(ErrorKind::InvalidPair));
        }
        if self.pair_of(source).is_some() || self.pair_of(mirror).is_some() {
            return out.push(refuse(ErrorKind::InPair));
        }
        let p = Pair {
            uid: format!("{}.{}", req.host, req.seq),
            source,
            mirror,
            state: PairState::Copy,
            dirty: BTreeSet::new(),
            cmd: Some((req, Op::PairCreate { pair, source, mirror })),
            cmd_submitted: false,
            copy: None,
            queue: VecDeque::new(),
            writing: vec![],
            blocked: VecDeque::new(),
        };
        self.pairs.insert(pair, p);
        self.step_command(pair, out);
    }

    /// A command on an idle pair: refused at once in a wrong state, carried out
    /// otherwise.
    fn command(&mut self, p: PairId, req: ReqId, op: Op, out: &mut Vec<Output>) {
        let state = self.pairs[&p].state;
        let allowed: &[PairState] = match op {
            Op::Split { .. } => &[PairState::Mirrored],
            Op::Resync { .. } => &[PairState::Split, PairState::Suspended],
            Op::Restore { .. } => &[PairState::Split],
            _ => &PairState::ALL,
        };
        if !allowed.contains(&state) {
            out.push(Output::Reply { req, result: Err(ErrorKind::WrongState(state)) });
            return;
        }
        let pair = self.pairs.get_mut(&p).expect("exists");
        pair.cmd = Some((req, op));
        pair.cmd_submitted = false;
        self.step_command(p, out);
    }

    /// Once the pair's volumes have no host I/O in flight, makes the command's record
    /// durable (or deletes it).
    fn step_command(&mut self, p: PairId, out: &mut Vec<Output>) {
        let Some(pair) = self.pairs.get(&p) else { return };
        let Some((_, op)) = &pair.cmd else { return };
        let drained = [pair.source, pair.mirror].iter().all(|v| self.inflight.get(v).is_none_or(|n| *n == 0));
        if pair.cmd_submitted || !drained {
            return;
        }
        let media = match op {
            Op::PairDelete { .. } => MediaOp::MetaDelete { key: record_key(p) },
            _ => MediaOp::MetaPut { key: record_key(p), value: pair.record(next_state(op)) },
        };
        self.pairs.get_mut(&p).expect("exists").cmd_submitted = true;
        self.submit(media, Pending::Command { pair: p }, out);
    }

    /// The command's record is durable: answer, start the copy it asks for.
    fn command_done(&mut self, p: PairId, out: &mut Vec<Output>) {
        let pair = self.pairs.get_mut(&p).expect("exists");
        let (req, op) = pair.cmd.take().expect("a command");
        out.push(Output::Reply { req, result: Ok(Reply::Done) });
        if let Op::PairDelete { .. } = op {
            // Only from idle Mirrored or Split: the mirror is already the image. The
            // dirty keys are garbage now (their uid is no pair's): delete them.
            let pair = self.pairs.remove(&p).expect("exists");
            for b in &pair.dirty {
                out.push(Output::Media {
                    io: IoId(self.next_io),
                    op: MediaOp::MetaDelete { key: dirty_key(p, &pair.uid, *b) },
                });
                self.next_io += 1;
            }
            for (req, op) in pair.queue {
                self.dispatch(req, op, out);
            }
            return;
        }
        pair.state = next_state(&op);
        match op {
            Op::PairCreate { .. } => self.start_copy(p, CopyKind::Initial, out),
            Op::Resync { .. } => self.start_copy(p, CopyKind::Resync, out),
            Op::Restore { protected: false, .. } => self.start_copy(p, CopyKind::Restore, out),
            Op::Restore { protected: true, .. } => self.start_copy(p, CopyKind::RestoreProtected, out),
            _ => self.pump(p, out),
        }
    }

    /// Serves what queued up while the pair was busy, until it is busy again.
    fn pump(&mut self, p: PairId, out: &mut Vec<Output>) {
        while let Some(pair) = self.pairs.get_mut(&p) {
            if pair.busy() {
                return;
            }
            let Some((req, op)) = pair.queue.pop_front() else { return };
            self.dispatch(req, op, out);
        }
    }

    /// A host read or write on an idle pair's volume or an unpaired one.
    fn io(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        let vol = op.volume().expect("host I/O");
        let pair = self.pair_of(vol).map(|id| {
            let p = &self.pairs[&id];
            (id, p.mirror, p.state, p.uid.clone())
        });
        if let Some((_, mirror, state, _)) = &pair
            && *mirror == vol
            && *state != PairState::Split
        {
            out.push(Output::Reply { req, result: Err(ErrorKind::NotAccessible) });
            return;
        }
        *self.inflight.entry(vol).or_default() += 1;
        self.start_io(req, op, pair, out);
    }

    /// Submits a host read or write (counted in flight).
    fn start_io(
        &mut self,
        req: ReqId,
        op: Op,
        pair: Option<(PairId, VolumeId, PairState, String)>,
        out: &mut Vec<Output>,
    ) {
        match op {
            Op::Read { vol, block, len } => {
                let fallback = pair.filter(|p| p.2 == PairState::Mirrored).map(|p| p.1);
                let why = Pending::HostRead { req, vol, fallback, block, len };
                self.submit(MediaOp::Read { space: space(vol), block, len }, why, out);
            }
            Op::Write { vol, block, values } => {
                let n = values.len() as u64;
                let mut write =
                    Write { vol, left: 0, then: vec![(vol, block, values.clone())], extent: None };
                match pair {
                    // Mirrored: both volumes (a crash may tear it: see `restart`). Two
                    // overlapping writes in flight could land in different orders on
                    // the two volumes, so a write waits for any overlapping one.
                    Some((id, mirror, PairState::Mirrored, _)) => {
                        let pair = self.pairs.get_mut(&id).expect("exists");
                        if pair.writing.iter().any(|&(b, m)| b < block + n && block < b + m) {
                            pair.blocked.push_back((req, Op::Write { vol, block, values }));
                            return;
                        }
                        pair.writing.push((block, n));
                        write.extent = Some((id, block, n));
                        write.then.push((mirror, block, values));
                    }
                    // Split: the dirty keys first (write-intent), then the data.
                    Some((id, _, _, uid)) => {
                        let dirty = &self.pairs[&id].dirty;
                        let missing: Vec<u64> = (block..block + n).filter(|b| !dirty.contains(b)).collect();
                        write.left = missing.len() as u32;
                        self.writes.insert(req, write);
                        for b in missing {
                            let put = MediaOp::MetaPut { key: dirty_key(id, &uid, b), value: vec![] };
                            self.submit(put, Pending::Dirty { req, pair: id, block: b }, out);
                        }
                        return self.write_step(req, out);
                    }
                    None => {}
                }
                self.writes.insert(req, write);
                self.write_step(req, out);
            }
            _ => unreachable!("host I/O"),
        }
    }

    /// Submits a host write's data once its dirty keys are durable; answers once
    /// every data write is.
    fn write_step(&mut self, req: ReqId, out: &mut Vec<Output>) {
        let w = self.writes.get_mut(&req).expect("a write");
        if w.left > 0 {
            return;
        }
        if w.then.is_empty() {
            let w = self.writes.remove(&req).expect("a write");
            if let Some((p, block, n)) = w.extent {
                // Let the writes this one blocked try again, in order.
                let pair = self.pairs.get_mut(&p).expect("a write holds its pair");
                pair.writing.retain(|&e| e != (block, n));
                let blocked = std::mem::take(&mut pair.blocked);
                let facts = (p, pair.mirror, pair.state, pair.uid.clone());
                for (req, op) in blocked {
                    self.start_io(req, op, Some(facts.clone()), out);
                }
            }
            return self.reply_io(req, w.vol, Ok(Reply::Done), out);
        }
        let parts = std::mem::take(&mut w.then);
        w.left = parts.len() as u32;
        for (vol, block, values) in parts {
            self.submit(MediaOp::Write { space: space(vol), block, values }, Pending::HostWrite { req }, out);
        }
    }

    /// Starts a copy: from the dirty set (resync, restore) or from the allocation
    /// maps of both volumes (initial, recovery).
    fn start_copy(&mut self, p: PairId, kind: CopyKind, out: &mut Vec<Output>) {
        let pair = self.pairs.get_mut(&p).expect("exists");
        let (from, to) = match kind {
            CopyKind::Restore | CopyKind::RestoreProtected => (pair.mirror, pair.source),
            _ => (pair.source, pair.mirror),
        };
        let next = match kind {
            CopyKind::Recovery => None,
            CopyKind::RestoreProtected => Some(PairState::Split),
            _ => Some(PairState::Mirrored),
        };
        let listing = matches!(kind, CopyKind::Initial | CopyKind::Recovery);
        pair.copy = Some(Copy {
            kind,
            from,
            to,
            todo: if listing { BTreeSet::new() } else { pair.dirty.clone() },
            stats: CopyStats::default(),
            step: Step::Listing,
            waiting: if listing { 2 } else { 0 },
            run: (0, 0),
            from_vals: vec![],
            to_vals: None,
            next,
        });
        out.push(Output::Notice(Notice::CopyStarted { pair: p, kind }));
        if listing {
            for vol in [from, to] {
                self.submit(
                    MediaOp::Allocated { space: space(vol) },
                    Pending::Copy { pair: p, target: false },
                    out,
                );
            }
        } else {
            self.copy_step(p, out);
        }
    }

    /// The copier's state machine, driven by media completions.
    fn copy_done_io(&mut self, p: PairId, target: bool, result: MediaResult, out: &mut Vec<Output>) {
        let copy = self.pairs.get_mut(&p).expect("exists").copy.as_mut().expect("a copy");
        copy.waiting -= 1;
        match (copy.step, result) {
            (Step::Listing, MediaResult::Allocated(blocks)) => copy.todo.extend(blocks),
            (Step::Reading, MediaResult::Read(values)) if target => copy.to_vals = Some(values),
            (Step::Reading, MediaResult::Read(values)) => copy.from_vals = values,
            // The target is about to be overwritten: an unreadable block just differs.
            (Step::Reading, MediaResult::ReadError { .. }) if target => copy.to_vals = None,
            (Step::Reading, MediaResult::ReadError { .. }) => copy.step = Step::Retrying,
            (Step::Announcing, _) => {
                let pair = self.pairs.get_mut(&p).expect("exists");
                let copy = pair.copy.take().expect("a copy");
                pair.state = copy.next.expect("a state change");
                out.push(Output::Notice(Notice::CopyFinished {
                    pair: p,
                    kind: copy.kind,
                    stats: copy.stats,
                }));
                return self.pump(p, out);
            }
            _ => {}
        }
        self.copy_step(p, out);
    }

    /// Moves the copier on once the current step's I/O has completed.
    fn copy_step(&mut self, p: PairId, out: &mut Vec<Output>) {
        let pair = self.pairs.get_mut(&p).expect("exists");
        let copy = pair.copy.as_mut().expect("a copy");
        if copy.waiting > 0 {
            return;
        }
        let (first, len) = copy.run;
        match copy.step {
            Step::Listing => {
                copy.stats.union_blocks = copy.todo.len() as u64;
                self.next_run(p, out);
            }
            Step::Retrying => {
                let timer = TimerId(self.next_timer);
                self.next_timer += 1;
                self.timers.insert(timer, p);
                out.push(Output::Timer { timer, after_ns: RETRY_NS });
            }
            Step::Reading => {
                let values = std::mem::take(&mut copy.from_vals);
                copy.stats.differing_blocks += match copy.to_vals.take() {
                    Some(old) => values.iter().zip(&old).filter(|(a, b)| a != b).count() as u64,
                    None => len,
                };
                copy.step = Step::Writing;
                copy.waiting = 1;
                let write = MediaOp::Write { space: space(copy.to), block: first, values };
                self.submit(write, Pending::Copy { pair: p, target: false }, out);
            }
            Step::Writing => {
                copy.stats.blocks_copied += len;
                copy.stats.chunks += len;
                copy.step = Step::Clearing;
                let bits: Vec<u64> = (first..first + len).filter(|b| pair.dirty.contains(b)).collect();
                copy.waiting = bits.len() as u32;
                let uid = pair.uid.clone();
                for b in bits {
                    let delete = MediaOp::MetaDelete { key: dirty_key(p, &uid, b) };
                    self.submit(delete, Pending::Copy { pair: p, target: false }, out);
                }
                self.copy_step(p, out);
            }
            Step::Clearing => {
                for b in first..first + len {
                    copy.todo.remove(&b);
                    pair.dirty.remove(&b);
                }
                self.next_run(p, out);
            }
            Step::Announcing => {}
        }
    }

    /// Reads the next run of consecutive blocks, or finishes the copy.
    fn next_run(&mut self, p: PairId, out: &mut Vec<Output>) {
        let pair = self.pairs.get_mut(&p).expect("exists");
        let copy = pair.copy.as_mut().expect("a copy");
        let Some(&first) = copy.todo.first() else {
            return match copy.next {
                // The new record is the announcement (`copy_done` exactly when durable).
                Some(next) => {
                    copy.step = Step::Announcing;
                    copy.waiting = 1;
                    let (key, value) = (record_key(p), pair.record(next));
                    let notice = Notice::Pair { pair: p, event: PairEvent::CopyDone };
                    self.submit(
                        MediaOp::MetaPutAnnounced { key, value, notice },
                        Pending::Copy { pair: p, target: false },
                        out,
                    );
                }
                None => {
                    let copy = pair.copy.take().expect("a copy");
                    out.push(Output::Notice(Notice::CopyFinished {
                        pair: p,
                        kind: copy.kind,
                        stats: copy.stats,
                    }));
                    self.pump(p, out);
                }
            };
        };
        let mut len = 1;
        while len < RUN_MAX && copy.todo.contains(&(first + len)) {
            len += 1;
        }
        copy.run = (first, len);
        copy.step = Step::Reading;
        copy.waiting = 2;
        let (from, to) = (space(copy.from), space(copy.to));
        for (s, target) in [(from, false), (to, true)] {
            let read = MediaOp::Read { space: s, block: first, len: len as u32 };
            self.submit(read, Pending::Copy { pair: p, target }, out);
        }
    }

    /// After a restart: resume what the records say was under way.
    fn restart(&mut self, out: &mut Vec<Output>) {
        let ids: Vec<PairId> = self.pairs.keys().copied().collect();
        for p in ids {
            let kind = match self.pairs[&p].state {
                PairState::Copy => CopyKind::Initial,
                // A mirrored write in flight at the crash may have torn between the
                // volumes, and no key says where: copy every allocated block again.
                PairState::Mirrored => CopyKind::Recovery,
                PairState::Resync => CopyKind::Resync,
                PairState::Restore => CopyKind::Restore,
                PairState::RestoreProtected => CopyKind::RestoreProtected,
                PairState::Split | PairState::Suspended => continue,
            };
            self.start_copy(p, kind, out);
        }
    }

    fn media_done(&mut self, io: IoId, result: MediaResult, out: &mut Vec<Output>) {
        let Some(why) = self.pending.remove(&io) else { return };
        match why {
            Pending::HostRead { req, vol, fallback, block, len } => match (result, fallback) {
                (MediaResult::Read(values), _) => self.reply_io(req, vol, Ok(Reply::Values(values)), out),
                // The mirror of a mirrored pair holds the same blocks.
                (MediaResult::ReadError { .. }, Some(m)) => {
                    let why = Pending::HostRead { req, vol, fallback: None, block, len };
                    self.submit(MediaOp::Read { space: space(m), block, len }, why, out);
                }
                _ => self.reply_io(req, vol, Err(ErrorKind::MediaError), out),
            },
            Pending::HostWrite { req } | Pending::Dirty { req, .. } => {
                if let Pending::Dirty { pair, block, .. } = why {
                    self.pairs.get_mut(&pair).expect("a write holds its pair").dirty.insert(block);
                }
                self.writes.get_mut(&req).expect("a write").left -= 1;
                self.write_step(req, out);
            }
            Pending::Copy { pair, target } => self.copy_done_io(pair, target, result, out),
            Pending::Command { pair } => self.command_done(pair, out),
        }
    }
}

/// The state a command leads to.
fn next_state(op: &Op) -> PairState {
    match op {
        Op::PairCreate { .. } => PairState::Copy,
        Op::Split { .. } => PairState::Split,
        Op::Resync { .. } => PairState::Resync,
        Op::Restore { protected: false, .. } => PairState::Restore,
        Op::Restore { protected: true, .. } => PairState::RestoreProtected,
        _ => PairState::Mirrored,
    }
}

impl ArrayEngine for SimpleEngine {
    fn handle(&mut self, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Started => self.restart(out),
            Input::Peer { .. } => {}
            Input::Timer { timer } => {
                // Retry the failed run's reads.
                let Some(p) = self.timers.remove(&timer) else { return };
                let copy = self.pairs.get_mut(&p).and_then(|x| x.copy.as_mut()).expect("a retrying copy");
                copy.from_vals.clear();
                copy.to_vals = None;
                copy.todo.insert(copy.run.0);
                self.next_run(p, out);
            }
            Input::Host { req, op } => self.host(req, op, out),
            Input::MediaDone { io, result } => self.media_done(io, result, out),
        }
    }

    fn describe(&self) -> String {
        let mut s = format!("simple: {} I/O in flight", self.pending.len());
        for (id, p) in &self.pairs {
            s.push_str(&format!(
                "; {id} {} dirty {} queued {}{}",
                p.state.name(),
                p.dirty.len(),
                p.queue.len(),
                p.copy.as_ref().map_or(String::new(), |c| format!(" copying {} left", c.todo.len()))
            ));
        }
        s
    }

    fn busy(&self) -> bool {
        self.pairs.values().any(|p| p.busy() || !p.queue.is_empty())
    }

    /// Two invariants: a protected restore never writes the mirror; an idle mirrored
    /// pair's volumes hold the same blocks.
    fn check(&self, probe: &Probe<'_>) -> Result<(), String> {
        for (id, p) in &self.pairs {
            match probe {
                Probe::MediaWrite { space: s, block, .. } => {
                    if p.state == PairState::RestoreProtected && *s == space(p.mirror) {
                        return Err(format!("{id}: a protected restore wrote the mirror at block {block}"));
                    }
                }
                Probe::Quiescent { media } => {
                    let idle =
                        [p.source, p.mirror].iter().all(|v| self.inflight.get(v).is_none_or(|n| *n == 0));
                    if p.state != PairState::Mirrored || p.busy() || !idle {
                        continue;
                    }
                    let blocks = self.rules.volume_blocks(p.source).unwrap_or(0);
                    let mut all = media.allocated(space(p.source), 0, blocks);
                    all.extend(media.allocated(space(p.mirror), 0, blocks));
                    for b in all {
                        let (x, y) = (media.block(space(p.source), b), media.block(space(p.mirror), b));
                        if x != y {
                            return Err(format!("{id} is mirrored but differs at block {b}: {x} vs {y}"));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ArrayConfig {
        ArrayConfig {
            id: model::ArrayId(0),
            name: "A".into(),
            volumes: vec![(VolumeId(0), 16), (VolumeId(1), 16)],
            change_grain: 1,
            remote_volumes: vec![],
        }
    }

    /// A media that completes every I/O at once, in submission order, and keeps the
    /// metadata; the engine's non-media outputs are returned, media ops logged.
    #[derive(Default)]
    struct Media {
        blocks: BTreeMap<(SpaceId, u64), Value>,
        meta: Metadata,
        log: Vec<MediaOp>,
    }

    impl Media {
        fn drive(&mut self, e: &mut SimpleEngine, input: Input) -> Vec<Output> {
            let mut todo = VecDeque::from([input]);
            let mut seen = Vec::new();
            while let Some(input) = todo.pop_front() {
                let mut out = Vec::new();
                e.handle(input, &mut out);
                for o in out {
                    let Output::Media { io, op } = o else {
                        seen.push(o);
                        continue;
                    };
                    self.log.push(op.clone());
                    let result = match op {
                        MediaOp::Read { space, block, len } => MediaResult::Read(
                            (block..block + u64::from(len))
                                .map(|b| self.blocks.get(&(space, b)).copied().unwrap_or(Value::ZERO))
                                .collect(),
                        ),
                        MediaOp::Write { space, block, values } => {
                            for (i, v) in values.into_iter().enumerate() {
                                self.blocks.insert((space, block + i as u64), v);
                            }
                            MediaResult::Written
                        }
                        MediaOp::MetaPut { key, value } => {
                            self.meta.insert(key, value);
                            MediaResult::Written
                        }
                        MediaOp::MetaPutAnnounced { key, value, notice } => {
                            self.meta.insert(key, value);
                            seen.push(Output::Notice(notice));
                            MediaResult::Written
                        }
                        MediaOp::MetaDelete { key } => {
                            self.meta.remove(&key);
                            MediaResult::Written
                        }
                        MediaOp::Allocated { space } => MediaResult::Allocated(
                            self.blocks.keys().filter(|(s, _)| *s == space).map(|(_, b)| *b).collect(),
                        ),
                    };
                    todo.push_back(Input::MediaDone { io, result });
                }
            }
            seen
        }
    }

    fn host(seq: u64, op: Op) -> Input {
        Input::Host { req: ReqId { host: 0, seq }, op }
    }

    fn write(seq: u64, vol: u32, block: u64) -> Input {
        host(seq, Op::Write { vol: VolumeId(vol), block, values: vec![Value(seq)] })
    }

    #[test]
    fn a_write_is_acknowledged_only_after_the_media_and_duplicates_are_dropped() {
        let mut e = SimpleEngine::new(&config());
        let mut out = Vec::new();
        let req = ReqId { host: 0, seq: 1 };
        let op = Op::Write { vol: VolumeId(0), block: 3, values: vec![Value(7)] };
        e.handle(Input::Host { req, op: op.clone() }, &mut out);
        let [Output::Media { io, .. }] = out[..] else { panic!("{out:?}") };
        out.clear();
        e.handle(Input::Host { req, op }, &mut out);
        assert!(out.is_empty(), "a duplicate is neither submitted nor answered");
        e.handle(Input::MediaDone { io, result: MediaResult::Written }, &mut out);
        assert_eq!(out, [Output::Reply { req, result: Ok(Reply::Done) }]);
    }

    #[test]
    fn a_split_write_makes_its_dirty_key_durable_first_and_resync_copies_exactly_the_dirty_set() {
        let mut m = Media::default();
        let mut e = SimpleEngine::new(&config());
        m.drive(&mut e, write(1, 0, 2));
        let pair = PairId(5);
        let out = m.drive(&mut e, host(2, Op::PairCreate { pair, source: VolumeId(0), mirror: VolumeId(1) }));
        assert!(out.contains(&Output::Notice(Notice::Pair { pair, event: PairEvent::CopyDone })), "{out:?}");
        assert_eq!(m.blocks[&(SpaceId(1), 2)], Value(1), "the initial copy");
        m.drive(&mut e, host(3, Op::Split { pair }));
        m.log.clear();
        m.drive(&mut e, write(4, 1, 9));
        assert!(
            matches!(&m.log[..], [MediaOp::MetaPut { key, .. }, MediaOp::Write { .. }] if key == "simple/dirty/5/0.2/9"),
            "write-intent: {:?}",
            m.log
        );
        // A restart rebuilds the pair and its dirty set from the metadata alone.
        let mut e = SimpleEngine::boot(&config(), &m.meta);
        assert!(m.drive(&mut e, Input::Started).is_empty(), "a split pair has nothing to resume");
        let out = m.drive(&mut e, host(5, Op::Resync { pair }));
        let stats = out.iter().find_map(|o| match o {
            Output::Notice(Notice::CopyFinished { stats, .. }) => Some(*stats),
            _ => None,
        });
        let stats = stats.expect("the resync finished");
        assert_eq!((stats.blocks_copied, stats.union_blocks, stats.differing_blocks), (1, 1, 1));
        assert_eq!(m.blocks[&(SpaceId(1), 9)], Value::ZERO, "the mirror's change is undone");
        assert!(!m.meta.keys().any(|k| k.starts_with("simple/dirty/")), "the dirty set is cleared");
        assert_eq!(m.meta[&record_key(pair)], b"0.2 0 1 mirrored");
    }

    #[test]
    fn host_io_to_a_busy_pair_waits_and_the_mirror_is_refused_unless_split() {
        let mut m = Media::default();
        let mut e = SimpleEngine::new(&config());
        let pair = PairId(1);
        let mut out = Vec::new();
        e.handle(host(1, Op::PairCreate { pair, source: VolumeId(0), mirror: VolumeId(1) }), &mut out);
        e.handle(write(2, 0, 0), &mut out);
        assert_eq!(out.len(), 1, "only the record put is submitted; the write waits: {out:?}");
        let out = m.drive(&mut e, host(3, Op::Read { vol: VolumeId(1), block: 0, len: 1 }));
        assert!(out.is_empty(), "a read of the busy pair's mirror waits too");
        let req = ReqId { host: 0, seq: 4 };
        let mut out = Vec::new();
        e.handle(Input::Host { req, op: Op::Split { pair: PairId(9) } }, &mut out);
        assert_eq!(out, [Output::Reply { req, result: Err(ErrorKind::NoSuchPair) }]);
    }
}
