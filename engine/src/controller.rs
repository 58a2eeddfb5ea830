//! mirrorsim's own array controller.
//!
//! Volumes map one-to-one onto media spaces (`SpaceId(volume id)`). Host reads and
//! writes are validated by the same rules as the model, then become media I/O; a
//! write is answered only once the media reports it durable. Requests are
//! de-duplicated per host with a bounded window of recently seen sequence numbers (a
//! SCSI target's tagged-command check): a duplicate is dropped, the original answers.
//!
//! # Mirror pairs (SPEC §2 S2)
//!
//! A pair is a durable **record** (`pair/<id>`: volumes, state, a change-map
//! generation, the floor below which generations are garbage, and the initial copy's
//! cursor) plus **change maps**: one durable metadata key per (generation, side,
//! chunk) bit, a chunk being `change_grain` blocks. The rules:
//!
//! - **Write-intent.** Every host write to a paired volume first makes its chunk's bit
//!   of the current generation durable (source side or mirror side), then writes the
//!   data. In states where the mirror follows the source the bit is an activity-log
//!   entry (the write goes to both volumes and may tear between them at a crash); in
//!   `Split`/`Suspended` it records a difference.
//! - **Generations.** A command that starts a copy (`resync`, `restore`) bumps the
//!   generation: the bits of older generations are the copy set (the union of both
//!   sides' maps), new writes set bits of the new generation. A split bumps the
//!   generation and raises the floor (the activity log of the mirrored period is
//!   garbage). So a split, a resync start and a restore start cost one metadata write
//!   whatever the volume size.
//! - **The copier** copies one chunk at a time per slot (`COPY_WINDOW` slots), driven by
//!   media completions: read both sides, count differing blocks, write the target,
//!   then delete the chunk's old-generation bits (cleared only once both sides hold
//!   the data). Host writes and the copier interlock per chunk: a write waits for a
//!   chunk being copied, the copier skips a chunk with writes in flight.
//! - **Restore.** Reads of the source for chunks not yet restored are served from the
//!   mirror. In an unprotected restore host writes go to both volumes (the mirror
//!   follows the source again), so the copier's later copy of the chunk carries them.
//!   In a protected restore the mirror is never written: a host write to a chunk not
//!   yet restored first has the copier restore that chunk (copy-before-write), then
//!   lands on the source only.
//! - **Commands** gate the pair: host I/O to both volumes is held, in-flight I/O and
//!   the copier drain, the new record is made durable (the linearization point), the
//!   client is answered, and held I/O resumes. A split or delete of a `Mirrored` pair
//!   with a recovery copy running waits for it; a delete during a restore waits for
//!   the restore to finish (the source must become the image).
//! - **Crash and restart.** The controller rebuilds pairs from the records and bits.
//!   In a state where the mirror follows the source, every bit at or above the floor
//!   may mark a torn mirrored write: those chunks are copied again (a `Recovery` copy,
//!   or part of the resumed copy), under a new generation.
//! - **Media errors.** A source read that fails while the mirror holds the chunk is
//!   served from the mirror, and a `Copy`/`Mirrored`/`Resync` pair is suspended.
//! - **Transitions the array makes by itself** (copy finished, suspended) are
//!   announced with [`Notice::Pair`] at the instant they take effect.

use crate::iface::{
    ArrayConfig, ArrayEngine, CopyKind, CopyStats, EngineFactory, Input, IoId, MediaOp, MediaResult,
    Metadata, Notice, Output, Probe, ReqId, SpaceId,
};
use model::{ErrorKind, Op, OpResult, PairEvent, PairId, PairState, Reply, Value, VolumeId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[path = "remote.rs"]
mod remote;
pub use remote::{JOURNAL_MAX, LOST_TICKS, RETRY_TICKS, TICK_NS};
#[path = "snapshot.rs"]
mod snapshot;
pub use snapshot::{POOL_SPACE, SnapshotStats};
#[path = "backup.rs"]
mod backup;
pub use backup::{BACKUP_CHUNK, BACKUP_WINDOW, BackupStats};

/// How many recent request ids per host the controller remembers for de-duplication.
/// A request older than the window is treated as a duplicate; hosts keep far fewer
/// operations open than this.
pub const DEDUP_WINDOW: usize = 4096;
/// Chunks the copier of one pair keeps in flight.
pub const COPY_WINDOW: usize = 8;
/// The initial copy makes its cursor durable every this many chunks.
const CURSOR_EVERY: u64 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Source,
    Mirror,
}

impl Side {
    fn tag(self) -> char {
        match self {
            Side::Source => 's',
            Side::Mirror => 'm',
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Volume {
    blocks: u64,
    space: SpaceId,
    inconsistent: bool,
    /// Host media I/O in flight on this volume.
    inflight: u32,
    pair: Option<PairId>,
}

/// The durable part of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    uid: u64,
    source: VolumeId,
    mirror: VolumeId,
    state: PairState,
    /// The current change-map generation.
    epoch: u64,
    /// Bits of generations below the floor are garbage.
    floor: u64,
    /// The initial copy still has to copy the allocated chunks from here on.
    cursor: Option<u64>,
}

impl Record {
    fn key(pair: PairId) -> String {
        format!("pair/{:08x}", pair.0)
    }

    fn encode(&self) -> Vec<u8> {
        let cursor = self.cursor.map_or("-".to_string(), |c| c.to_string());
        format!(
            "{} {} {} {} {} {} {}",
            self.uid,
            self.source.0,
            self.mirror.0,
            self.state.name(),
            self.epoch,
            self.floor,
            cursor
        )
        .into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<Record> {
        let text = std::str::from_utf8(bytes).ok()?;
        let f: Vec<&str> = text.split(' ').collect();
        if f.len() != 7 {
            return None;
        }
        Some(Record {
            uid: f[0].parse().ok()?,
            source: VolumeId(f[1].parse().ok()?),
            mirror: VolumeId(f[2].parse().ok()?),
            state: PairState::from_name(f[3])?,
            epoch: f[4].parse().ok()?,
            floor: f[5].parse().ok()?,
            cursor: if f[6] == "-" { None } else { Some(f[6].parse().ok()?) },
        })
    }

    /// States in which host writes to the source also go to the mirror.
    fn mirroring(&self) -> bool {
        matches!(self.state, PairState::Copy | PairState::Mirrored | PairState::Resync | PairState::Restore)
    }
}

/// The record of a pair being suspended. From a clean `Mirrored` pair the mirror holds
/// every block, so the activity log is garbage (a new generation and floor, as at a
/// split); from a copy, the bits still to copy stay.
fn pending_rec(mut rec: Record, clean: bool) -> Record {
    rec.state = PairState::Suspended;
    if clean {
        rec.epoch += 1;
        rec.floor = rec.epoch;
    }
    rec
}

fn bit_key(uid: u64, epoch: u64, side: Side, chunk: u64) -> String {
    format!("map/{uid:016x}/{epoch:016x}/{}/{chunk:016x}", side.tag())
}

fn parse_bit_key(key: &str) -> Option<(u64, u64, Side, u64)> {
    let mut it = key.strip_prefix("map/")?.split('/');
    let uid = u64::from_str_radix(it.next()?, 16).ok()?;
    let epoch = u64::from_str_radix(it.next()?, 16).ok()?;
    let side = match it.next()? {
        "s" => Side::Source,
        "m" => Side::Mirror,
        _ => return None,
    };
    let chunk = u64::from_str_radix(it.next()?, 16).ok()?;
    Some((uid, epoch, side, chunk))
}

fn inconsistent_key(vol: VolumeId) -> String {
    format!("inconsistent/{:08x}", vol.0)
}

/// A change-map bit: durable, or on its way with requests waiting for it.
#[derive(Debug)]
enum Bit {
    Putting(Vec<(ReqId, Op)>),
    Durable,
}

/// One chunk being copied.
#[derive(Debug, Default)]
struct CopyTask {
    from: Option<Vec<Value>>,
    to: Option<Vec<Value>>,
    writing: bool,
}

#[derive(Debug)]
struct CopyJob {
    kind: CopyKind,
    stats: CopyStats,
    /// Allocation listings still awaited (initial copy).
    listing: u8,
    since_cursor: u64,
}

/// What to do once a pair's record is durable.
#[derive(Debug)]
enum After {
    Admin {
        req: ReqId,
        op: Op,
    },
    /// A delete: the mirror's inconsistent mark is durable; now remove the record.
    DeleteMarked {
        req: ReqId,
    },
    Deleted {
        req: ReqId,
        inconsistent: bool,
    },
    Finished,
    Suspended,
    Quiet,
}

#[derive(Debug)]
struct Pair {
    rec: Record,
    /// False while `pair_create` makes the record durable.
    live: bool,
    bits: BTreeMap<(u64, Side, u64), Bit>,
    pending: BTreeSet<u64>,
    urgent: BTreeSet<u64>,
    copying: BTreeMap<u64, CopyTask>,
    /// Host writes in flight per chunk.
    writers: BTreeMap<u64, u32>,
    /// Host requests waiting for a chunk the copier holds (or must restore first).
    waiters: BTreeMap<u64, Vec<(ReqId, Op)>>,
    gate: bool,
    held: VecDeque<(ReqId, Op)>,
    admin: VecDeque<(ReqId, Op)>,
    admin_running: bool,
    copy: Option<CopyJob>,
    copier_io: u32,
    bit_puts: u32,
    rec_put: Option<After>,
    /// The record that put writes: the pair's record once the put is durable.
    rec_next: Option<Record>,
    /// A suspension waits for the record put in flight.
    suspend_wanted: bool,
}

impl Pair {
    fn new(rec: Record, live: bool) -> Pair {
        Pair {
            rec,
            live,
            bits: BTreeMap::new(),
            pending: BTreeSet::new(),
            urgent: BTreeSet::new(),
            copying: BTreeMap::new(),
            writers: BTreeMap::new(),
            waiters: BTreeMap::new(),
            gate: false,
            held: VecDeque::new(),
            admin: VecDeque::new(),
            admin_running: false,
            copy: None,
            copier_io: 0,
            bit_puts: 0,
            rec_put: None,
            rec_next: None,
            suspend_wanted: false,
        }
    }
}

#[derive(Clone, Debug)]
enum Pending {
    /// A segment of a host read: `values[off..off+len]` of aggregate `agg`.
    Read {
        agg: u64,
        off: usize,
        block: u64,
        len: u32,
        from_mirror: bool,
    },
    /// One media write of a host write.
    Write {
        agg: u64,
    },
    BitPut {
        pair: PairId,
        key: (u64, Side, u64),
    },
    RecordPut {
        pair: PairId,
    },
    CopyRead {
        pair: PairId,
        chunk: u64,
        from: bool,
    },
    CopyWrite {
        pair: PairId,
        chunk: u64,
    },
    Allocated {
        pair: PairId,
    },
    /// Garbage collection and marks nobody waits for.
    Forget,
    /// S3 (`remote.rs`).
    Remote(remote::RPending),
    /// S0: a step of the backup engine (see `backup.rs`).
    Backup(backup::BPending),
    /// S4: a step of a snapshot-engine operation (see `snapshot.rs`).
    Snap {
        op: u64,
    },
    /// S4: one block of an image read.
    SnapRead {
        op: u64,
        off: u32,
    },
    /// S3 × S4: a media write another path (the remote module) makes into a volume's
    /// space, counted while in flight so a snapshot of the volume drains it; `then`
    /// is the write's own completion (see `snapshot.rs`, "Writes of other paths").
    Hooked {
        vol: VolumeId,
        then: Box<Pending>,
    },
}

#[derive(Debug)]
struct ReadAgg {
    req: ReqId,
    vol: VolumeId,
    values: Vec<Value>,
    left: u32,
    failed: bool,
}

#[derive(Debug)]
struct WriteAgg {
    req: ReqId,
    pair: Option<PairId>,
    vols: Vec<VolumeId>,
    chunks: (u64, u64),
    left: u32,
}

#[derive(Debug, Default)]
struct SeenWindow {
    /// Every id at or below the floor counts as seen.
    floor: Option<u64>,
    recent: BTreeSet<u64>,
}

impl SeenWindow {
    /// Records `seq`; returns false if it was seen before (a duplicate).
    fn insert(&mut self, seq: u64) -> bool {
        if self.floor.is_some_and(|f| seq <= f) || !self.recent.insert(seq) {
            return false;
        }
        while self.recent.len() > DEDUP_WINDOW {
            let lowest = self.recent.pop_first().expect("non-empty");
            self.floor = Some(lowest);
        }
        true
    }
}

/// The controller's state. Everything here is controller memory, lost at a crash.
pub struct Controller {
    grain: u64,
    volumes: BTreeMap<VolumeId, Volume>,
    pending: BTreeMap<IoId, Pending>,
    seen: BTreeMap<u32, SeenWindow>,
    io_next: u64,
    pairs: BTreeMap<PairId, Pair>,
    reads: BTreeMap<u64, ReadAgg>,
    writes: BTreeMap<u64, WriteAgg>,
    agg_next: u64,
    uid_next: u64,
    /// Work to issue at `Input::Started` (a restart's record bumps and clean-up).
    boot_work: Vec<MediaOp>,
    /// Pairs whose record a restart changed (a new generation): written at
    /// `Input::Started` as the pair's one record put in flight, so no later put of the
    /// same key can be overtaken by it.
    boot_records: Vec<PairId>,
    /// The first invariant this controller found broken.
    violation: Option<String>,
    /// The planted bugs switched on (see [`ControllerFactory::with_planted`]); read only
    /// in builds with the feature `planted-bugs`.
    #[cfg_attr(not(feature = "planted-bugs"), allow(dead_code))]
    planted: BTreeSet<&'static str>,
    /// S3: remote pairs and consistency groups (`remote.rs`).
    remote: remote::Remote,
    /// S4: point-in-time images (`snapshot.rs`).
    snaps: snapshot::Snapshots,
    /// S0: backups and the catalog (`backup.rs`).
    bk: backup::Backups,
}

impl Controller {
    pub fn new(config: &ArrayConfig) -> Controller {
        Controller::boot(config, &Metadata::new())
    }

    /// Rebuilds the controller from the durable metadata.
    pub fn boot(config: &ArrayConfig, meta: &Metadata) -> Controller {
        Controller::boot_planted(config, meta, BTreeSet::new())
    }

    /// Rebuilds the controller from the durable metadata, with these planted bugs
    /// switched on (they take effect only in builds with the feature `planted-bugs`).
    pub fn boot_planted(
        config: &ArrayConfig,
        meta: &Metadata,
        planted: BTreeSet<&'static str>,
    ) -> Controller {
        let volumes = config
            .volumes
            .iter()
            .map(|&(id, blocks)| {
                (id, Volume { blocks, space: SpaceId(id.0), inconsistent: false, inflight: 0, pair: None })
            })
            .collect();
        let mut c = Controller {
            grain: config.change_grain.max(1),
            volumes,
            pending: BTreeMap::new(),
            seen: BTreeMap::new(),
            io_next: 0,
            pairs: BTreeMap::new(),
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
            agg_next: 0,
            uid_next: 1,
            boot_work: Vec::new(),
            boot_records: Vec::new(),
            violation: None,
            planted,
            remote: remote::Remote::boot(config, meta),
            snaps: snapshot::Snapshots::default(),
            bk: backup::Backups::boot(meta),
        };
        let (snaps, snap_work) = snapshot::Snapshots::boot(meta);
        c.snaps = snaps;
        c.boot_work.extend(snap_work);
        let mut by_uid: BTreeMap<u64, PairId> = BTreeMap::new();
        for (key, value) in meta {
            if let Some(id) = key.strip_prefix("pair/").and_then(|h| u32::from_str_radix(h, 16).ok()) {
                if let Some(rec) = Record::decode(value) {
                    c.uid_next = c.uid_next.max(rec.uid + 1);
                    by_uid.insert(rec.uid, PairId(id));
                    for v in [rec.source, rec.mirror] {
                        if let Some(vol) = c.volumes.get_mut(&v) {
                            vol.pair = Some(PairId(id));
                        }
                    }
                    c.pairs.insert(PairId(id), Pair::new(rec, true));
                }
            } else if let Some(h) = key.strip_prefix("inconsistent/")
                && let Some(vol) =
                    u32::from_str_radix(h, 16).ok().and_then(|v| c.volumes.get_mut(&VolumeId(v)))
            {
                vol.inconsistent = true;
            }
        }
        for key in meta.keys() {
            let Some((uid, epoch, side, chunk)) = parse_bit_key(key) else { continue };
            c.uid_next = c.uid_next.max(uid + 1);
            match by_uid.get(&uid).and_then(|p| c.pairs.get_mut(p)) {
                Some(pair) if epoch >= pair.rec.floor => {
                    pair.bits.insert((epoch, side, chunk), Bit::Durable);
                }
                _ => c.boot_work.push(MediaOp::MetaDelete { key: key.clone() }),
            }
        }
        let ids: Vec<PairId> = c.pairs.keys().copied().collect();
        for id in ids {
            let mirror = c.pairs[&id].rec.mirror;
            if c.volumes.get(&mirror).is_some_and(|v| v.inconsistent) {
                c.volumes.get_mut(&mirror).expect("exists").inconsistent = false;
                c.boot_work.push(MediaOp::MetaDelete { key: inconsistent_key(mirror) });
            }
            let pair = c.pairs.get_mut(&id).expect("exists");
            if pair.rec.mirroring() {
                // Any bit may mark a mirrored write torn by the crash: copy them all
                // again under a new generation.
                let top = pair.bits.keys().map(|k| k.0).max().unwrap_or(0);
                pair.rec.epoch = pair.rec.epoch.max(top) + 1;
                c.boot_records.push(id);
            }
        }
        c
    }

    fn submit(&mut self, op: MediaOp, pending: Pending, out: &mut Vec<Output>) {
        let io = IoId(self.io_next);
        self.io_next += 1;
        self.pending.insert(io, pending);
        out.push(Output::Media { io, op });
    }

    fn violate(&mut self, what: String) {
        if self.violation.is_none() {
            self.violation = Some(what);
        }
    }

    fn chunks_of(&self, block: u64, len: u64) -> (u64, u64) {
        (block / self.grain, (block + len - 1) / self.grain)
    }

    fn chunk_range(&self, vol: VolumeId, chunk: u64) -> (u64, u64) {
        let blocks = self.volumes[&vol].blocks;
        let start = chunk * self.grain;
        (start, (start + self.grain).min(blocks) - start)
    }

    // ---- host requests ------------------------------------------------------------

    fn host(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        if !self.seen.entry(req.host).or_default().insert(req.seq) {
            return; // A duplicate delivery: the original answers.
        }
        if op.is_io() {
            self.io(req, op, out);
        } else {
            self.admin(req, op, out);
        }
    }

    /// The model's state-independent rule, applied to this array's volumes.
    fn validate(&self, op: &Op) -> Result<Volume, ErrorKind> {
        let vol = *self.volumes.get(&op.volume().expect("host I/O")).ok_or(ErrorKind::NoSuchVolume)?;
        let (first, count) = op.extent();
        match first.checked_add(count) {
            Some(end) if count > 0 && end <= vol.blocks => Ok(vol),
            _ => Err(ErrorKind::OutOfRange),
        }
    }

    fn io(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        if self.backup_claims(&op) {
            return self.backup_io(req, op, out);
        }
        if self.snap_claims(&op) {
            return self.snap_io(req, op, out);
        }
        let vol = match self.validate(&op) {
            Ok(v) if v.inconsistent => Err(ErrorKind::Inconsistent),
            other => other,
        };
        let vol = match vol {
            Ok(vol) => vol,
            Err(e) => return out.push(Output::Reply { req, result: Err(e) }),
        };
        let vid = op.volume().expect("host I/O");
        if self.remote.claims(&op) {
            return self.remote_io(req, op, out);
        }
        let Some(p) = vol.pair else {
            return self.plain_io(req, op, vid, out);
        };
        let pair = self.pairs.get_mut(&p).expect("a volume's pair exists");
        if pair.gate || !pair.live {
            pair.held.push_back((req, op));
            return;
        }
        let side = if vid == pair.rec.source { Side::Source } else { Side::Mirror };
        if side == Side::Mirror && pair.rec.state != PairState::Split {
            return out.push(Output::Reply { req, result: Err(ErrorKind::NotAccessible) });
        }
        match op {
            Op::Read { block, len, .. } => self.pair_read(req, p, side, vid, block, len, out),
            Op::Write { .. } => self.pair_write(req, op, p, side, out),
            _ => unreachable!("host I/O"),
        }
    }

    fn new_agg(&mut self) -> u64 {
        self.agg_next += 1;
        self.agg_next
    }

    fn plain_io(&mut self, req: ReqId, op: Op, vid: VolumeId, out: &mut Vec<Output>) {
        let space = self.volumes[&vid].space;
        match op {
            Op::Read { block, len, .. } => {
                self.start_read(req, vid, len, vec![(0, block, len, space, false)], out)
            }
            Op::Write { block, values, .. } => {
                let agg = self.new_agg();
                self.writes
                    .insert(agg, WriteAgg { req, pair: None, vols: vec![vid], chunks: (0, 0), left: 1 });
                self.volumes.get_mut(&vid).expect("exists").inflight += 1;
                self.submit(MediaOp::Write { space, block, values }, Pending::Write { agg }, out);
            }
            _ => unreachable!("host I/O"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn pair_read(
        &mut self,
        req: ReqId,
        p: PairId,
        side: Side,
        vid: VolumeId,
        block: u64,
        len: u32,
        out: &mut Vec<Output>,
    ) {
        let pair = &self.pairs[&p];
        let restoring = matches!(pair.rec.state, PairState::Restore | PairState::RestoreProtected);
        // Segments of the read: (offset, block, len, from the mirror).
        let mut segs: Vec<(usize, u64, u32, bool)> = Vec::new();
        let mut b = block;
        let end = block + u64::from(len);
        while b < end {
            let chunk = b / self.grain;
            let seg_end = ((chunk + 1) * self.grain).min(end);
            let from_mirror = side == Side::Mirror || (restoring && pair.pending.contains(&chunk));
            match segs.last_mut() {
                Some(last) if last.3 == from_mirror => last.2 += (seg_end - b) as u32,
                _ => segs.push(((b - block) as usize, b, (seg_end - b) as u32, from_mirror)),
            }
            b = seg_end;
        }
        let spaces = [self.volumes[&pair.rec.source].space, self.volumes[&pair.rec.mirror].space];
        let segs = segs
            .into_iter()
            .map(|(off, block, len, from_mirror)| {
                (off, block, len, spaces[usize::from(from_mirror)], from_mirror)
            })
            .collect();
        self.start_read(req, vid, len, segs, out);
    }

    /// Starts a host read of `len` blocks of `vid` as media reads of segments
    /// `(offset in the answer, block, length, space, from the pair's mirror)`; the
    /// answer goes out when every segment is back.
    fn start_read(
        &mut self,
        req: ReqId,
        vid: VolumeId,
        len: u32,
        segs: Vec<(usize, u64, u32, SpaceId, bool)>,
        out: &mut Vec<Output>,
    ) {
        let agg = self.new_agg();
        let values = vec![Value::ZERO; len as usize];
        self.reads.insert(agg, ReadAgg { req, vol: vid, values, left: segs.len() as u32, failed: false });
        for (off, block, len, space, from_mirror) in segs {
            self.volumes.get_mut(&vid).expect("exists").inflight += 1;
            self.submit(
                MediaOp::Read { space, block, len },
                Pending::Read { agg, off, block, len, from_mirror },
                out,
            );
        }
    }

    fn pair_write(&mut self, req: ReqId, op: Op, p: PairId, side: Side, out: &mut Vec<Output>) {
        let Op::Write { block, ref values, .. } = op else { unreachable!("a write") };
        let (c0, c1) = self.chunks_of(block, values.len() as u64);
        let pair = self.pairs.get_mut(&p).expect("exists");
        let state = pair.rec.state;
        // A protected restore restores a chunk before a host write lands on it.
        #[allow(unused_mut)]
        let mut copy_before_write = state == PairState::RestoreProtected;
        // Planted: the write lands on a chunk not yet restored without the
        // copy-before-write, so the copier later overwrites it with the image.
        #[cfg(feature = "planted-bugs")]
        if self.planted.contains("restore-overwrites-host-write") {
            copy_before_write = false;
        }
        if copy_before_write && let Some(&c) = pair.pending.range(c0..=c1).next() {
            for c in pair.pending.range(c0..=c1).copied().collect::<Vec<_>>() {
                pair.urgent.insert(c);
            }
            pair.waiters.entry(c).or_default().push((req, op));
            return self.pump(p, out);
        }
        // The copier holds a chunk: wait for it.
        if let Some((&c, _)) = pair.copying.range(c0..=c1).next() {
            pair.waiters.entry(c).or_default().push((req, op));
            return;
        }
        // A write that goes to both volumes waits for overlapping writes in flight:
        // two concurrent writes to a block must land in the same order on both.
        if side == Side::Source
            && pair.rec.mirroring()
            && let Some((&c, _)) = pair.writers.range(c0..=c1).next()
        {
            pair.waiters.entry(c).or_default().push((req, op));
            return;
        }
        // Write-intent: the bits are durable before the data is written.
        let epoch = pair.rec.epoch;
        let mut missing = Vec::new();
        let mut wait_on = None;
        for c in c0..=c1 {
            match pair.bits.get(&(epoch, side, c)) {
                Some(Bit::Durable) => {}
                Some(Bit::Putting(_)) => wait_on = Some((epoch, side, c)),
                None => missing.push(c),
            }
        }
        // Planted: the bits are put, but the data write does not wait for them (the
        // bit becomes durable after, or concurrently with, the data).
        #[cfg(feature = "planted-bugs")]
        if self.planted.contains("bit-after-data") && (!missing.is_empty() || wait_on.is_some()) {
            let uid = pair.rec.uid;
            for &c in &missing {
                pair.bits.insert((epoch, side, c), Bit::Putting(Vec::new()));
            }
            pair.bit_puts += missing.len() as u32;
            for c in missing {
                self.submit(
                    MediaOp::MetaPut { key: bit_key(uid, epoch, side, c), value: Vec::new() },
                    Pending::BitPut { pair: p, key: (epoch, side, c) },
                    out,
                );
            }
            return self.pair_write_data(req, op, p, side, (c0, c1), out);
        }
        if !missing.is_empty() || wait_on.is_some() {
            let uid = pair.rec.uid;
            let key = wait_on.unwrap_or_else(|| (epoch, side, missing[0]));
            for &c in &missing {
                pair.bits.insert((epoch, side, c), Bit::Putting(Vec::new()));
            }
            match pair.bits.get_mut(&key) {
                Some(Bit::Putting(w)) => w.push((req, op)),
                _ => unreachable!("just inserted"),
            }
            pair.bit_puts += missing.len() as u32;
            for c in missing {
                self.submit(
                    MediaOp::MetaPut { key: bit_key(uid, epoch, side, c), value: Vec::new() },
                    Pending::BitPut { pair: p, key: (epoch, side, c) },
                    out,
                );
            }
            return;
        }
        self.pair_write_data(req, op, p, side, (c0, c1), out);
    }

    /// The data part of a host write to a pair (its bits are durable): the media
    /// writes, to both volumes where the mirror follows the source.
    fn pair_write_data(
        &mut self,
        req: ReqId,
        op: Op,
        p: PairId,
        side: Side,
        (c0, c1): (u64, u64),
        out: &mut Vec<Output>,
    ) {
        let pair = self.pairs.get_mut(&p).expect("exists");
        for c in c0..=c1 {
            *pair.writers.entry(c).or_default() += 1;
        }
        #[allow(unused_mut)]
        let mut mirroring = pair.rec.mirroring();
        // Planted: a protected restore still mirrors host writes of the source.
        #[cfg(feature = "planted-bugs")]
        if self.planted.contains("protected-restore-writes-mirror")
            && pair.rec.state == PairState::RestoreProtected
        {
            mirroring = true;
        }
        let vols = match side {
            Side::Mirror => vec![pair.rec.mirror],
            Side::Source if mirroring => vec![pair.rec.source, pair.rec.mirror],
            Side::Source => vec![pair.rec.source],
        };
        let agg = self.new_agg();
        let Op::Write { block, values, .. } = op else { unreachable!("a write") };
        for v in &vols {
            let space = self.volumes[v].space;
            self.volumes.get_mut(v).expect("exists").inflight += 1;
            let values = values.clone();
            self.submit(MediaOp::Write { space, block, values }, Pending::Write { agg }, out);
        }
        self.writes
            .insert(agg, WriteAgg { req, pair: Some(p), left: vols.len() as u32, vols, chunks: (c0, c1) });
    }

    /// Re-runs requests that waited (for a bit, a chunk, a gate) from the top.
    fn rerun(&mut self, reqs: Vec<(ReqId, Op)>, out: &mut Vec<Output>) {
        for (req, op) in reqs {
            if op.is_io() {
                self.io(req, op, out);
            } else {
                self.admin(req, op, out);
            }
        }
    }

    // ---- admin commands -----------------------------------------------------------

    fn admin(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        // S0: a remote pair on a primary a backup or restore command gates waits for it.
        if let Op::RemotePairCreate { primary, .. } = op
            && self.bk.gates(primary)
        {
            return self.bk.hold(req, op);
        }
        if self.remote.claims(&op) {
            return self.remote_admin(req, op, out);
        }
        if matches!(op, Op::Snapshot { .. } | Op::DeleteSnapshot { .. }) {
            return self.snap_admin(req, op, out);
        }
        if matches!(
            op,
            Op::Backup { .. }
                | Op::RecordBackup { .. }
                | Op::ListBackups { .. }
                | Op::RestoreBackup { .. }
                | Op::BackupEvent { .. }
        ) {
            return self.backup_admin(req, op, out);
        }
        if let Op::PairCreate { pair, source, mirror } = op {
            return self.pair_create(req, pair, source, mirror, out);
        }
        if let Op::PairEvent { .. } = op {
            // Not a client request: the array makes these transitions by itself.
            return out.push(Output::Reply { req, result: Err(ErrorKind::NotAccessible) });
        }
        let p = op.pair().expect("an admin command names a pair");
        let Some(pair) = self.pairs.get_mut(&p) else {
            return out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchPair) });
        };
        pair.admin.push_back((req, op));
        self.try_admin(p, out);
    }

    fn pair_create(
        &mut self,
        req: ReqId,
        p: PairId,
        source: VolumeId,
        mirror: VolumeId,
        out: &mut Vec<Output>,
    ) {
        let check = || -> Result<(), ErrorKind> {
            let blocks_of = |v: VolumeId| match v.is_image() {
                true => self.snaps.image_blocks(v),
                false => self.volumes.get(&v).map(|x| x.blocks),
            };
            let sb = blocks_of(source).ok_or(ErrorKind::NoSuchVolume)?;
            let mb = blocks_of(mirror).ok_or(ErrorKind::NoSuchVolume)?;
            if self.pairs.contains_key(&p) || self.remote.pair_exists(p) {
                return Err(ErrorKind::PairExists);
            }
            // An image never joins a pair (S4).
            if source == mirror || sb != mb || source.is_image() || mirror.is_image() {
                return Err(ErrorKind::InvalidPair);
            }
            let (s, m) = (&self.volumes[&source], &self.volumes[&mirror]);
            if s.pair.is_some()
                || m.pair.is_some()
                || self.remote.in_pair(source)
                || self.remote.in_pair(mirror)
            {
                return Err(ErrorKind::InPair);
            }
            if self.snaps.has_images(source) || self.snaps.has_images(mirror) {
                return Err(ErrorKind::HasImages);
            }
            if self.bk.holds_regions(source) || self.bk.holds_regions(mirror) {
                return Err(ErrorKind::HasBackups);
            }
            if s.inconsistent {
                return Err(ErrorKind::Inconsistent);
            }
            Ok(())
        };
        // S0: a volume a backup or restore command gates: wait for its answer (and a
        // remote create in progress on it: `Remote::creating_on`).
        if self.bk.gates(source)
            || self.bk.gates(mirror)
            || self.remote.creating_on(source)
            || self.remote.creating_on(mirror)
        {
            return self.bk.hold(req, Op::PairCreate { pair: p, source, mirror });
        }
        if let Err(e) = check() {
            return out.push(Output::Reply { req, result: Err(e) });
        }
        let rec = Record {
            uid: self.uid_next,
            source,
            mirror,
            state: PairState::Copy,
            epoch: 1,
            floor: 0,
            cursor: Some(0),
        };
        self.uid_next += 1;
        let mut pair = Pair::new(rec, false);
        pair.admin.push_back((req, Op::PairCreate { pair: p, source, mirror }));
        self.pairs.insert(p, pair);
        for v in [source, mirror] {
            self.volumes.get_mut(&v).expect("checked").pair = Some(p);
        }
        self.try_admin(p, out);
    }

    /// Whether nothing of the pair is in flight (so a command can take effect).
    fn drained(&self, p: PairId) -> bool {
        let pair = &self.pairs[&p];
        pair.copier_io == 0
            && pair.bit_puts == 0
            && pair.rec_put.is_none()
            && [pair.rec.source, pair.rec.mirror].iter().all(|v| self.volumes[v].inflight == 0)
    }

    fn try_admin(&mut self, p: PairId, out: &mut Vec<Output>) {
        let Some(pair) = self.pairs.get_mut(&p) else { return };
        let Some((req, op)) = pair.admin.front().cloned() else { return };
        if !pair.admin_running {
            let state = pair.rec.state;
            let recovering = pair.copy.is_some();
            let wait = match op {
                Op::PairDelete { .. } => {
                    matches!(state, PairState::Restore | PairState::RestoreProtected)
                        || (state == PairState::Mirrored && recovering)
                }
                Op::Split { .. } => state == PairState::Mirrored && recovering,
                _ => false,
            };
            if wait {
                return;
            }
            pair.admin_running = true;
            pair.gate = true;
        }
        #[allow(unused_mut)]
        let mut drained = self.drained(p);
        // Planted: a split takes effect without waiting for the host writes in flight
        // (an in-flight mirrored write reaches the mirror after the split point).
        #[cfg(feature = "planted-bugs")]
        if self.planted.contains("split-without-drain") && matches!(op, Op::Split { .. }) {
            let pair = &self.pairs[&p];
            drained = pair.copier_io == 0 && pair.bit_puts == 0 && pair.rec_put.is_none();
        }
        if !drained {
            return;
        }
        let pair = self.pairs.get_mut(&p).expect("exists");
        if !pair.live {
            // pair_create: the record is the linearization point.
            let rec = pair.rec;
            return self.put_record(p, rec, After::Admin { req, op }, out);
        }
        let mut rec = pair.rec;
        let state = rec.state;
        let allowed: &[PairState] = match op {
            Op::Split { .. } => &[PairState::Mirrored],
            Op::Resync { .. } => &[PairState::Split, PairState::Suspended],
            Op::Restore { .. } => &[PairState::Split],
            _ => &[],
        };
        if !matches!(op, Op::PairDelete { .. }) && !allowed.contains(&state) {
            out.push(Output::Reply { req, result: Err(ErrorKind::WrongState(state)) });
            return self.admin_done(p, out);
        }
        match op {
            Op::Split { .. } => {
                rec.state = PairState::Split;
                rec.epoch += 1;
                rec.floor = rec.epoch;
            }
            Op::Resync { .. } => {
                rec.state = PairState::Resync;
                rec.epoch += 1;
            }
            Op::Restore { protected, .. } => {
                rec.state = if protected { PairState::RestoreProtected } else { PairState::Restore };
                rec.epoch += 1;
            }
            Op::PairDelete { .. } => {
                let inconsistent = !matches!(state, PairState::Mirrored | PairState::Split);
                if inconsistent {
                    pair.rec_put = Some(After::DeleteMarked { req });
                    return self.submit(
                        MediaOp::MetaPut { key: inconsistent_key(rec.mirror), value: Vec::new() },
                        Pending::RecordPut { pair: p },
                        out,
                    );
                }
                pair.rec_put = Some(After::Deleted { req, inconsistent: false });
                return self.submit(
                    MediaOp::MetaDelete { key: Record::key(p) },
                    Pending::RecordPut { pair: p },
                    out,
                );
            }
            _ => unreachable!("admin commands"),
        }
        self.put_record(p, rec, After::Admin { req, op }, out);
    }

    /// The head command is answered: lift the gate, resume held I/O, go on.
    fn admin_done(&mut self, p: PairId, out: &mut Vec<Output>) {
        let held = match self.pairs.get_mut(&p) {
            Some(pair) => {
                pair.admin.pop_front();
                pair.admin_running = false;
                pair.gate = false;
                std::mem::take(&mut pair.held).into_iter().collect()
            }
            None => Vec::new(),
        };
        self.rerun(held, out);
        self.pump(p, out);
        self.try_admin(p, out);
    }

    fn record_durable(&mut self, p: PairId, out: &mut Vec<Output>) {
        let pair = self.pairs.get_mut(&p).expect("a record put for a pair");
        let after = pair.rec_put.take().expect("a record put in flight");
        if let Some(rec) = pair.rec_next.take() {
            pair.rec = rec;
        }
        match after {
            After::Admin { req, op } => {
                let pair = self.pairs.get_mut(&p).expect("exists");
                let kind = match op {
                    Op::PairCreate { mirror, .. } => {
                        pair.live = true;
                        let v = self.volumes.get_mut(&mirror).expect("exists");
                        if v.inconsistent {
                            v.inconsistent = false;
                            self.submit(
                                MediaOp::MetaDelete { key: inconsistent_key(mirror) },
                                Pending::Forget,
                                out,
                            );
                        }
                        Some(CopyKind::Initial)
                    }
                    Op::Split { .. } => {
                        // The mirrored period's activity log is garbage now.
                        self.drop_garbage(p, out);
                        None
                    }
                    Op::Resync { .. } => Some(CopyKind::Resync),
                    Op::Restore { protected: true, .. } => Some(CopyKind::RestoreProtected),
                    Op::Restore { protected: false, .. } => Some(CopyKind::Restore),
                    _ => unreachable!("admin commands with a record put"),
                };
                out.push(Output::Reply { req, result: Ok(Reply::Done) });
                if let Some(kind) = kind {
                    self.start_copy(p, kind, out);
                }
                self.admin_done(p, out);
            }
            After::DeleteMarked { req } => {
                self.pairs.get_mut(&p).expect("exists").rec_put =
                    Some(After::Deleted { req, inconsistent: true });
                self.submit(MediaOp::MetaDelete { key: Record::key(p) }, Pending::RecordPut { pair: p }, out);
            }
            After::Deleted { req, inconsistent } => {
                let pair = self.pairs.remove(&p).expect("exists");
                for v in [pair.rec.source, pair.rec.mirror] {
                    self.volumes.get_mut(&v).expect("exists").pair = None;
                }
                self.volumes.get_mut(&pair.rec.mirror).expect("exists").inconsistent = inconsistent;
                for k in pair.bits.keys() {
                    let key = bit_key(pair.rec.uid, k.0, k.1, k.2);
                    self.submit(MediaOp::MetaDelete { key }, Pending::Forget, out);
                }
                out.push(Output::Reply { req, result: Ok(Reply::Done) });
                // Everything that waited now addresses independent volumes (or no pair).
                let mut rest: Vec<(ReqId, Op)> = pair.held.into_iter().collect();
                for (_, w) in pair.waiters {
                    rest.extend(w);
                }
                rest.extend(pair.admin.into_iter().skip(1));
                self.rerun(rest, out);
            }
            After::Finished => {
                let pair = self.pairs.get_mut(&p).expect("exists");
                let job = pair.copy.take().expect("a finishing copy");
                // (The copy-done transition was announced as its record became durable.)
                if job.stats.blocks_copied != job.stats.union_blocks {
                    self.violate(format!(
                        "{p}: the {} copy wrote {} blocks but the union of the change maps covers {}",
                        job.kind.name(),
                        job.stats.blocks_copied,
                        job.stats.union_blocks
                    ));
                }
                out.push(Output::Notice(Notice::CopyFinished { pair: p, kind: job.kind, stats: job.stats }));
                self.after_record(p, out);
            }
            After::Suspended => {
                self.drop_garbage(p, out);
                let pair = self.pairs.get_mut(&p).expect("exists");
                pair.copy = None;
                pair.urgent.clear();
                // (The suspension was announced as its record became durable.)
                self.after_record(p, out);
            }
            After::Quiet => self.after_record(p, out),
        }
    }

    /// Forgets (and deletes) the bits of generations below the floor.
    fn drop_garbage(&mut self, p: PairId, out: &mut Vec<Output>) {
        let pair = self.pairs.get_mut(&p).expect("exists");
        let uid = pair.rec.uid;
        let garbage: Vec<(u64, Side, u64)> =
            pair.bits.range(..(pair.rec.floor, Side::Source, 0)).map(|(k, _)| *k).collect();
        for k in &garbage {
            pair.bits.remove(k);
        }
        for k in garbage {
            self.submit(MediaOp::MetaDelete { key: bit_key(uid, k.0, k.1, k.2) }, Pending::Forget, out);
        }
    }

    fn after_record(&mut self, p: PairId, out: &mut Vec<Output>) {
        if self.pairs.get(&p).is_some_and(|x| x.suspend_wanted) {
            self.pairs.get_mut(&p).expect("exists").suspend_wanted = false;
            self.suspend(p, out);
        }
        self.pump(p, out);
        self.try_admin(p, out);
    }

    /// Makes `rec` the pair's durable record; it becomes the pair's record in memory
    /// when the put completes (then `after` runs). One record put per pair at a time.
    ///
    /// A put that changes the state by the array's own decision (a copy finished, a
    /// fault suspended the pair) carries the announcement, made when it is durable
    /// ([`MediaOp::MetaPutAnnounced`]).
    fn put_record(&mut self, p: PairId, rec: Record, after: After, out: &mut Vec<Output>) {
        let pair = self.pairs.get_mut(&p).expect("exists");
        debug_assert!(pair.rec_put.is_none(), "one record put per pair at a time");
        let event = match after {
            After::Finished if rec.state != pair.rec.state => Some(PairEvent::CopyDone),
            After::Suspended => Some(PairEvent::Suspended),
            _ => None,
        };
        pair.rec_put = Some(after);
        pair.rec_next = Some(rec);
        let (key, value) = (Record::key(p), rec.encode());
        let op = match event {
            Some(event) => MediaOp::MetaPutAnnounced { key, value, notice: Notice::Pair { pair: p, event } },
            None => MediaOp::MetaPut { key, value },
        };
        self.submit(op, Pending::RecordPut { pair: p }, out);
    }

    fn suspend(&mut self, p: PairId, out: &mut Vec<Output>) {
        let pair = self.pairs.get_mut(&p).expect("exists");
        if !matches!(pair.rec.state, PairState::Copy | PairState::Mirrored | PairState::Resync) {
            return;
        }
        if pair.rec_put.is_some() {
            pair.suspend_wanted = true;
            return;
        }
        let clean = pair.rec.state == PairState::Mirrored && pair.copy.is_none();
        let rec = pending_rec(pair.rec, clean);
        self.put_record(p, rec, After::Suspended, out);
    }

    // ---- the copier ---------------------------------------------------------------

    /// Begins a background copy of every chunk with bits of older generations (and,
    /// for an initial copy, every allocated chunk from the cursor on).
    fn start_copy(&mut self, p: PairId, kind: CopyKind, out: &mut Vec<Output>) {
        let grain = self.grain;
        let pair = self.pairs.get_mut(&p).expect("exists");
        let epoch = pair.rec.epoch;
        #[allow(unused_mut)]
        let mut chunks: BTreeSet<u64> = pair.bits.keys().filter(|k| k.0 < epoch).map(|k| k.2).collect();
        // Planted: the copy set is built from the source side's bits only (the
        // mirror's change map is ignored: the DRBD bitmap bug class).
        #[cfg(feature = "planted-bugs")]
        if self.planted.contains("resync-ignores-mirror-map") {
            chunks = pair.bits.keys().filter(|k| k.0 < epoch && k.1 == Side::Source).map(|k| k.2).collect();
        }
        let blocks = self.volumes[&pair.rec.source].blocks;
        let union: u64 = chunks.iter().map(|c| (c * grain + grain).min(blocks) - c * grain).sum();
        pair.pending = chunks;
        let listing = if pair.rec.cursor.is_some() { 2 } else { 0 };
        pair.copy = Some(CopyJob {
            kind,
            stats: CopyStats { union_blocks: union, ..CopyStats::default() },
            listing,
            since_cursor: 0,
        });
        out.push(Output::Notice(Notice::CopyStarted { pair: p, kind }));
        if listing > 0 {
            let spaces = [self.volumes[&pair.rec.source].space, self.volumes[&pair.rec.mirror].space];
            for space in spaces {
                self.submit(MediaOp::Allocated { space }, Pending::Allocated { pair: p }, out);
            }
        }
        self.pump(p, out);
    }

    fn allocated(&mut self, p: PairId, blocks: Vec<u64>, out: &mut Vec<Output>) {
        let grain = self.grain;
        let Some(pair) = self.pairs.get_mut(&p) else { return };
        let Some(job) = pair.copy.as_mut() else { return };
        let from = pair.rec.cursor.unwrap_or(0);
        let vol_blocks = self.volumes[&pair.rec.source].blocks;
        for b in blocks {
            let c = b / grain;
            if c >= from && pair.pending.insert(c) {
                job.stats.union_blocks += (c * grain + grain).min(vol_blocks) - c * grain;
            }
        }
        job.listing -= 1;
        self.pump(p, out);
    }

    /// Starts chunk copies while slots are free; finishes the copy when none is left.
    fn pump(&mut self, p: PairId, out: &mut Vec<Output>) {
        let Some(pair) = self.pairs.get(&p) else { return };
        let Some(job) = pair.copy.as_ref() else { return };
        if pair.gate || !pair.live || job.listing > 0 || pair.rec_put.is_some() {
            return;
        }
        // Planted: an off-by-one in what is left to start: when one pending chunk is
        // left that no slot has started, it is dropped, and the copy reports done
        // with it never copied.
        #[cfg(feature = "planted-bugs")]
        if self.planted.contains("copy-done-early") {
            let unstarted: Vec<u64> =
                pair.pending.iter().filter(|c| !pair.copying.contains_key(c)).copied().collect();
            if let [last] = unstarted[..] {
                self.pairs.get_mut(&p).expect("exists").pending.remove(&last);
            }
        }
        let pair = &self.pairs[&p];
        let restore = matches!(pair.rec.state, PairState::Restore | PairState::RestoreProtected);
        let (from, to) =
            if restore { (pair.rec.mirror, pair.rec.source) } else { (pair.rec.source, pair.rec.mirror) };
        loop {
            let pair = &self.pairs[&p];
            let free =
                |c: &&u64| !pair.copying.contains_key(c) && pair.writers.get(c).copied().unwrap_or(0) == 0;
            let next = pair.urgent.iter().find(free).or_else(|| {
                if pair.copying.len() < COPY_WINDOW { pair.pending.iter().find(free) } else { None }
            });
            let Some(&chunk) = next else { break };
            let (block, len) = self.chunk_range(from, chunk);
            let pair = self.pairs.get_mut(&p).expect("exists");
            pair.copying.insert(chunk, CopyTask::default());
            pair.copier_io += 2;
            for (vol, is_from) in [(from, true), (to, false)] {
                let space = self.volumes[&vol].space;
                self.submit(
                    MediaOp::Read { space, block, len: len as u32 },
                    Pending::CopyRead { pair: p, chunk, from: is_from },
                    out,
                );
            }
        }
        let pair = &self.pairs[&p];
        if pair.pending.is_empty() && pair.copying.is_empty() && pair.rec_put.is_none() {
            let mut rec = pair.rec;
            rec.cursor = None;
            rec.state = match rec.state {
                PairState::RestoreProtected => PairState::Split,
                PairState::Suspended | PairState::Split => return, // not a copying state
                _ => PairState::Mirrored,
            };
            self.put_record(p, rec, After::Finished, out);
        }
    }

    fn copy_read(&mut self, p: PairId, chunk: u64, from: bool, result: MediaResult, out: &mut Vec<Output>) {
        let Some(pair) = self.pairs.get_mut(&p) else { return };
        pair.copier_io -= 1;
        let values = match result {
            MediaResult::Read(v) => v,
            // The target's old content is read only to count differing blocks; an
            // unreadable target block counts as differing (the copy rewrites it, which
            // repairs it).
            MediaResult::ReadError { .. } if !from => Vec::new(),
            _ => {
                // The copy cannot read its source: a mirror copy stops (PSUE); a
                // restore leaves the chunk for later.
                pair.copying.remove(&chunk);
                let waiters = pair.waiters.remove(&chunk).unwrap_or_default();
                if from && !matches!(pair.rec.state, PairState::Restore | PairState::RestoreProtected) {
                    self.suspend(p, out);
                }
                self.rerun(waiters, out);
                return self.try_admin(p, out);
            }
        };
        let Some(task) = pair.copying.get_mut(&chunk) else { return self.try_admin(p, out) };
        if from {
            task.from = Some(values);
        } else {
            task.to = Some(values);
        }
        if task.from.is_none() || task.to.is_none() || task.writing {
            return;
        }
        task.writing = true;
        let (src, dst) = (task.from.clone().expect("read"), task.to.take().expect("read"));
        let differing = src.iter().enumerate().filter(|(i, a)| dst.get(*i) != Some(*a)).count() as u64;
        let restore = matches!(pair.rec.state, PairState::Restore | PairState::RestoreProtected);
        let to = if restore { pair.rec.source } else { pair.rec.mirror };
        if let Some(job) = pair.copy.as_mut() {
            job.stats.differing_blocks += differing;
        }
        pair.copier_io += 1;
        let (block, _) = self.chunk_range(to, chunk);
        let space = self.volumes[&to].space;
        self.submit(MediaOp::Write { space, block, values: src }, Pending::CopyWrite { pair: p, chunk }, out);
    }

    fn copy_written(&mut self, p: PairId, chunk: u64, out: &mut Vec<Output>) {
        let Some(pair) = self.pairs.get_mut(&p) else { return };
        pair.copier_io -= 1;
        let Some(task) = pair.copying.remove(&chunk) else { return self.try_admin(p, out) };
        let len = task.from.as_ref().map_or(0, |v| v.len() as u64);
        pair.pending.remove(&chunk);
        pair.urgent.remove(&chunk);
        let (uid, epoch) = (pair.rec.uid, pair.rec.epoch);
        // Both sides hold the chunk now: its older bits may go.
        let old: Vec<(u64, Side, u64)> =
            pair.bits.keys().filter(|k| k.2 == chunk && k.0 < epoch).copied().collect();
        for k in &old {
            pair.bits.remove(k);
        }
        let mut persist_cursor = None;
        if let Some(job) = pair.copy.as_mut() {
            job.stats.blocks_copied += len;
            job.stats.chunks += 1;
            job.since_cursor += 1;
            if pair.rec.cursor.is_some() && job.since_cursor >= CURSOR_EVERY && pair.rec_put.is_none() {
                job.since_cursor = 0;
                pair.rec.cursor = Some(pair.pending.first().copied().unwrap_or(chunk + 1));
                persist_cursor = Some(pair.rec);
            }
        }
        let waiters = pair.waiters.remove(&chunk).unwrap_or_default();
        for k in old {
            self.submit(MediaOp::MetaDelete { key: bit_key(uid, k.0, k.1, k.2) }, Pending::Forget, out);
        }
        if let Some(rec) = persist_cursor {
            self.put_record(p, rec, After::Quiet, out);
        }
        self.rerun(waiters, out);
        self.pump(p, out);
        self.try_admin(p, out);
    }

    // ---- media completions --------------------------------------------------------

    fn media_done(&mut self, io: IoId, result: MediaResult, out: &mut Vec<Output>) {
        let pending = self.pending.remove(&io).expect("a completion for an I/O this incarnation submitted");
        self.dispatch(pending, result, out);
    }

    /// The completion of one media operation, to the path that submitted it.
    fn dispatch(&mut self, pending: Pending, result: MediaResult, out: &mut Vec<Output>) {
        match pending {
            Pending::Read { agg, off, block, len, from_mirror } => {
                self.read_done(agg, off, block, len, from_mirror, result, out)
            }
            Pending::Write { agg } => self.write_done(agg, out),
            Pending::BitPut { pair, key } => {
                let Some(pr) = self.pairs.get_mut(&pair) else { return };
                pr.bit_puts -= 1;
                let waiters = match pr.bits.insert(key, Bit::Durable) {
                    Some(Bit::Putting(w)) => w,
                    _ => Vec::new(),
                };
                self.rerun(waiters, out);
                self.try_admin(pair, out);
            }
            Pending::RecordPut { pair } => self.record_durable(pair, out),
            Pending::CopyRead { pair, chunk, from } => self.copy_read(pair, chunk, from, result, out),
            Pending::CopyWrite { pair, chunk } => self.copy_written(pair, chunk, out),
            Pending::Allocated { pair } => {
                let MediaResult::Allocated(blocks) = result else { panic!("an allocation listing") };
                self.allocated(pair, blocks, out);
            }
            Pending::Forget => {}
            Pending::Remote(p) => self.remote_media(p, result, out),
            Pending::Snap { op } => self.snap_media_done(op, None, result, out),
            Pending::Backup(p) => self.backup_media_done(p, result, out),
            Pending::SnapRead { op, off } => self.snap_media_done(op, Some(off), result, out),
            Pending::Hooked { vol, then } => self.snap_hooked_done(vol, *then, result, out),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn read_done(
        &mut self,
        agg: u64,
        off: usize,
        block: u64,
        len: u32,
        from_mirror: bool,
        result: MediaResult,
        out: &mut Vec<Output>,
    ) {
        let vid = self.reads[&agg].vol;
        match result {
            MediaResult::Read(values) => {
                self.reads.get_mut(&agg).expect("open").values[off..off + values.len()]
                    .copy_from_slice(&values);
            }
            MediaResult::ReadError { .. } => {
                if !from_mirror && self.mirror_holds(vid, block, len) {
                    // Serve the segment from the mirror; the pair stops mirroring.
                    let p = self.volumes[&vid].pair.expect("paired");
                    let space = self.volumes[&self.pairs[&p].rec.mirror].space;
                    self.submit(
                        MediaOp::Read { space, block, len },
                        Pending::Read { agg, off, block, len, from_mirror: true },
                        out,
                    );
                    self.suspend(p, out);
                    return;
                }
                self.reads.get_mut(&agg).expect("open").failed = true;
            }
            other => panic!("media result {other:?} for a read"),
        }
        self.volumes.get_mut(&vid).expect("exists").inflight -= 1;
        let a = self.reads.get_mut(&agg).expect("open");
        a.left -= 1;
        if a.left > 0 {
            return;
        }
        let a = self.reads.remove(&agg).expect("open");
        let result: OpResult =
            if a.failed { Err(ErrorKind::MediaError) } else { Ok(Reply::Values(a.values)) };
        out.push(Output::Reply { req: a.req, result });
        self.after_volume_io(vid, out);
    }

    /// Whether the mirror of `vid`'s pair holds the same data as the source for these
    /// blocks (so a failed source read can be served from it).
    fn mirror_holds(&self, vid: VolumeId, block: u64, len: u32) -> bool {
        let Some(p) = self.volumes[&vid].pair else { return false };
        let pair = &self.pairs[&p];
        if vid != pair.rec.source {
            return false;
        }
        let (c0, c1) = self.chunks_of(block, u64::from(len));
        let clean = |c: u64| !pair.pending.contains(&c) && !pair.copying.contains_key(&c);
        match pair.rec.state {
            PairState::Mirrored => (c0..=c1).all(clean),
            PairState::Copy | PairState::Resync => {
                pair.copy.as_ref().is_some_and(|j| j.listing == 0) && (c0..=c1).all(clean)
            }
            // Suspended: the mirror holds a chunk the initial copy reached (below its
            // durable cursor) that no bit marks as different or still to copy.
            PairState::Suspended => (c0..=c1).all(|c| {
                clean(c) && pair.rec.cursor.is_none_or(|k| c < k) && !pair.bits.keys().any(|k| k.2 == c)
            }),
            _ => false,
        }
    }

    fn write_done(&mut self, agg: u64, out: &mut Vec<Output>) {
        let a = self.writes.get_mut(&agg).expect("open");
        a.left -= 1;
        if a.left > 0 {
            return;
        }
        let a = self.writes.remove(&agg).expect("open");
        for v in &a.vols {
            self.volumes.get_mut(v).expect("exists").inflight -= 1;
        }
        out.push(Output::Reply { req: a.req, result: Ok(Reply::Done) });
        if let Some(p) = a.pair {
            let mut woken = Vec::new();
            if let Some(pair) = self.pairs.get_mut(&p) {
                for c in a.chunks.0..=a.chunks.1 {
                    let n = pair.writers.get_mut(&c).expect("counted");
                    *n -= 1;
                    if *n == 0 {
                        pair.writers.remove(&c);
                        if !pair.copying.contains_key(&c) {
                            woken.extend(pair.waiters.remove(&c).unwrap_or_default());
                        }
                    }
                }
            }
            self.rerun(woken, out);
            self.pump(p, out);
        }
        for v in a.vols {
            self.after_volume_io(v, out);
        }
    }

    fn after_volume_io(&mut self, vid: VolumeId, out: &mut Vec<Output>) {
        if let Some(p) = self.volumes[&vid].pair {
            self.try_admin(p, out);
        }
        self.remote_volume_idle(vid, out);
        if self.snaps.admin_waits_for(vid) {
            self.snap_try_admin(out);
        }
        self.backup_volume_idle(vid, out);
    }

    fn started(&mut self, out: &mut Vec<Output>) {
        self.remote_started(out);
        self.backup_started(out);
        for op in std::mem::take(&mut self.boot_work) {
            self.submit(op, Pending::Forget, out);
        }
        for p in std::mem::take(&mut self.boot_records) {
            let rec = self.pairs[&p].rec;
            self.put_record(p, rec, After::Quiet, out);
        }
        let ids: Vec<PairId> = self.pairs.keys().copied().collect();
        for p in ids {
            let pair = &self.pairs[&p];
            let epoch = pair.rec.epoch;
            let needs = pair.rec.cursor.is_some() || pair.bits.keys().any(|k| k.0 < epoch);
            let kind = match pair.rec.state {
                PairState::Copy => CopyKind::Initial,
                PairState::Resync => CopyKind::Resync,
                PairState::Restore => CopyKind::Restore,
                PairState::RestoreProtected => CopyKind::RestoreProtected,
                PairState::Mirrored => CopyKind::Recovery,
                PairState::Split | PairState::Suspended => continue,
            };
            if needs || kind != CopyKind::Recovery {
                self.start_copy(p, kind, out);
            }
        }
    }
}

impl ArrayEngine for Controller {
    fn handle(&mut self, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Started => self.started(out),
            Input::Host { req, op } => self.host(req, op, out),
            Input::MediaDone { io, result } => self.media_done(io, result, out),
            // Only S3 sets timers and speaks to peers.
            Input::Timer { .. } => self.remote_timer(out),
            Input::Peer { from, msg } => self.remote_peer(from, msg, out),
        }
        self.backup_poll(out);
        self.remote_intercept(out);
    }

    fn remote_pairs(&self) -> Vec<crate::iface::RemotePairView> {
        self.remote_views()
    }

    fn describe(&self) -> String {
        let mut s = format!("{} volumes, {} media I/Os pending", self.volumes.len(), self.pending.len());
        for (p, pair) in &self.pairs {
            s.push_str(&format!(
                "; {p} {} epoch {} pending {}",
                pair.rec.state,
                pair.rec.epoch,
                pair.pending.len()
            ));
        }
        s.push_str(&self.remote.describe());
        s
    }

    fn busy(&self) -> bool {
        self.pairs.values().any(|p| p.copy.is_some() || !p.admin.is_empty() || p.rec_put.is_some() || !p.live)
            || self.remote.busy()
            || self.snaps.busy()
            || self.bk.busy()
    }

    fn check(&self, probe: &Probe<'_>) -> Result<(), String> {
        if let Some(v) = &self.violation {
            return Err(v.clone());
        }
        self.remote_check(probe)?;
        self.snaps.check_refs()?;
        match probe {
            Probe::MediaWrite { space, block, len } => {
                for (p, pair) in &self.pairs {
                    let m = &self.volumes[&pair.rec.mirror];
                    if pair.rec.state == PairState::RestoreProtected && m.space == *space {
                        return Err(format!(
                            "{p}: a media write to the mirror ({} blocks at {block}) during a protected restore",
                            len
                        ));
                    }
                }
                Ok(())
            }
            Probe::Quiescent { media } => {
                // In Mirrored with no copy left, the mirror holds every block of the
                // source (blocks with a write in flight excepted).
                for (p, pair) in &self.pairs {
                    let tracked = matches!(pair.rec.state, PairState::Split)
                        && pair.copy.is_none()
                        && pair.live
                        && pair.rec_put.is_none();
                    if !tracked
                        && (pair.rec.state != PairState::Mirrored || pair.copy.is_some() || !pair.live)
                    {
                        continue;
                    }
                    let (s, m) = (&self.volumes[&pair.rec.source], &self.volumes[&pair.rec.mirror]);
                    let mut blocks = media.allocated(s.space, 0, s.blocks);
                    blocks.extend(media.allocated(m.space, 0, m.blocks));
                    blocks.sort_unstable();
                    blocks.dedup();
                    for b in blocks {
                        let chunk = b / self.grain;
                        if pair.writers.contains_key(&chunk) {
                            continue;
                        }
                        // Split: the change maps cover every block that differs.
                        if tracked && pair.bits.keys().any(|k| k.2 == chunk) {
                            continue;
                        }
                        let (x, y) = (media.block(s.space, b), media.block(m.space, b));
                        if x != y {
                            let what = if tracked {
                                "is split and no change-map bit covers block"
                            } else {
                                "is mirrored but differs at block"
                            };
                            return Err(format!("{p} {what} {b}: source {x}, mirror {y}"));
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// Boots [`Controller`]s. `ControllerFactory::default()` boots the engine as it is.
#[derive(Clone, Debug, Default)]
pub struct ControllerFactory {
    planted: BTreeSet<&'static str>,
}

impl ControllerFactory {
    /// A factory whose controllers have these planted bugs switched on (the names of
    /// `mirrorsim::fuzz::planted::CATALOG` with level `Engine`). The defects are
    /// compiled only with this crate's feature `planted-bugs`: without it the names are
    /// carried but nothing reads them, and the controllers are the correct engine.
    pub fn with_planted(planted: BTreeSet<&'static str>) -> ControllerFactory {
        ControllerFactory { planted }
    }

    /// The planted bugs this factory switches on.
    pub fn planted(&self) -> &BTreeSet<&'static str> {
        &self.planted
    }
}

impl EngineFactory for ControllerFactory {
    fn name(&self) -> &str {
        "mirrorsim"
    }

    fn boot(&self, config: &ArrayConfig, metadata: &Metadata) -> Box<dyn ArrayEngine> {
        Box::new(Controller::boot_planted(config, metadata, self.planted.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Value;

    fn config() -> ArrayConfig {
        ArrayConfig {
            id: model::ArrayId(0),
            name: "A".into(),
            volumes: vec![(VolumeId(0), 1 << 40)],
            change_grain: 1,
            remote_volumes: Vec::new(),
        }
    }

    #[test]
    fn write_is_acknowledged_only_after_media_completion() {
        let mut c = Controller::new(&config());
        let mut out = Vec::new();
        let req = ReqId { host: 1, seq: 1 };
        let values = vec![Value::pack(1, 1, 0)];
        c.handle(
            Input::Host { req, op: Op::Write { vol: VolumeId(0), block: 5, values: values.clone() } },
            &mut out,
        );
        assert_eq!(
            out,
            vec![Output::Media { io: IoId(0), op: MediaOp::Write { space: SpaceId(0), block: 5, values } }]
        );
        out.clear();
        c.handle(Input::MediaDone { io: IoId(0), result: MediaResult::Written }, &mut out);
        assert_eq!(out, vec![Output::Reply { req, result: Ok(Reply::Done) }]);
    }

    #[test]
    fn duplicates_are_dropped_and_invalid_requests_rejected() {
        let mut c = Controller::new(&config());
        let mut out = Vec::new();
        let req = ReqId { host: 1, seq: 7 };
        let op = Op::Read { vol: VolumeId(0), block: 0, len: 1 };
        c.handle(Input::Host { req, op: op.clone() }, &mut out);
        c.handle(Input::Host { req, op }, &mut out);
        assert_eq!(out.len(), 1, "the duplicate must not be submitted again");
        out.clear();
        let bad = ReqId { host: 1, seq: 8 };
        c.handle(Input::Host { req: bad, op: Op::Read { vol: VolumeId(3), block: 0, len: 1 } }, &mut out);
        assert_eq!(out, vec![Output::Reply { req: bad, result: Err(ErrorKind::NoSuchVolume) }]);
    }

    #[test]
    fn dedup_window_is_bounded() {
        let mut w = SeenWindow::default();
        for s in 0..(DEDUP_WINDOW as u64 + 10) {
            assert!(w.insert(s));
        }
        assert!(w.recent.len() <= DEDUP_WINDOW);
        assert!(!w.insert(3), "ids below the floor count as seen");
        assert!(!w.insert(DEDUP_WINDOW as u64 + 5));
    }

    #[test]
    fn records_and_bit_keys_round_trip() {
        let rec = Record {
            uid: 3,
            source: VolumeId(1),
            mirror: VolumeId(2),
            state: PairState::RestoreProtected,
            epoch: 9,
            floor: 4,
            cursor: Some(17),
        };
        assert_eq!(Record::decode(&rec.encode()), Some(rec));
        let rec = Record { cursor: None, ..rec };
        assert_eq!(Record::decode(&rec.encode()), Some(rec));
        assert_eq!(parse_bit_key(&bit_key(3, 9, Side::Mirror, 1 << 39)), Some((3, 9, Side::Mirror, 1 << 39)));
        assert_eq!(Record::decode(b"garbage"), None);
    }
}
