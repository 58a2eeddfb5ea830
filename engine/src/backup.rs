//! Backup with a catalog (SPEC §2 S0): the controller's backup engine.
//!
//! A child module of `controller` (it extends [`Controller`] with the backup paths),
//! kept in its own file. The semantics are the model's (`model::backup`); this is how
//! the array keeps them.
//!
//! # The catalog
//! The catalog is part of the array's durable metadata area, a region distinct from
//! every data region (no host I/O and no backup region can reach it: a region naming
//! a catalog id is refused with `InsideCatalog`). One record per backup,
//! `backup/<id>`: its creation sequence number, state and regions; the host's
//! management information under `backup-info/<id>` (a separate key, so a
//! `record_backup` never races the record's state changes); a restore in progress
//! under `bkrestore/<seq>`. A restarted controller rebuilds the catalog from them.
//!
//! # Commands
//! Admin commands run one at a time (a queue); `list_backups` is answered at once from
//! memory (which holds exactly what is durable).
//!
//! - **`backup`**: the model's checks; then a **gate**: new host I/O to the source's
//!   and the destination's volumes is held and in-flight I/O drains, so the backup
//!   point is a cut with no write in flight (a write that began before the command
//!   lands wholly before it). Under the gate the allocation maps of both spaces are
//!   listed: the copy set is every chunk of the region allocated on either side (a
//!   chunk zero on both is already equal), so the cost follows the blocks written,
//!   not the region's size. Then the record `Copying` is made durable (the
//!   linearization point), the client is answered and held I/O resumes. No data is
//!   written before the record is durable, so a crash never leaves data without an
//!   entry.
//! - **The copier** copies the copy set chunk by chunk ([`BACKUP_CHUNK`] blocks,
//!   [`BACKUP_WINDOW`] chunks in flight), driven by media completions: read the source
//!   chunk, write the destination chunk. **Copy-before-write** keeps the point in time:
//!   a host write to a source chunk still in the copy set waits while the copier copies
//!   that chunk first (urgently), then runs. The destination is refused to hosts while
//!   copying, so nothing else writes it.
//! - **Complete** only once every destination write has completed (is durable): then
//!   the record `Complete` is put with [`MediaOp::MetaPutAnnounced`], so the
//!   transition is announced exactly when it becomes durable.
//! - **`restore_backup`**: the checks; a gate on the target's volume (held until the
//!   end); an intent record; the copy from the destination (read-only while the
//!   backup is `Complete`) to the target; the intent is deleted and the client
//!   answered. The restore takes effect at one instant for every host.
//! - **`record_backup`**: one put of the info; the answer once durable.
//! - **Racing commands** (`model::backup`, "Commands racing a backup or a restore"):
//!   a `pair_create`, remote pair create or `snapshot` naming a volume a backup or a
//!   restore gates is held (`Backups::hold`; a snapshot waits at the head of its
//!   queue) until the gate lifts, then checked against what the command left; a
//!   backup or restore naming a volume whose pair or image creation is not durable
//!   yet waits at the head of the admin queue (`backup_poll`, after every input).
//!   Only the S3 peer-side checks, which cannot wait, still count a gated volume as
//!   holding a backup.
//!
//! # Crash and restart
//! A record still `Copying` at boot is a copy the crash cut: the restarted controller
//! puts `Failed` (announced when durable); until then the entry is still `Copying` for
//! hosts. A restore intent found at boot is redone from the start under the gate (the
//! backup's destination cannot have changed), then deleted. A media error reading the
//! source also fails the backup.

use super::*;
use model::{BackupEvent, BackupId, BackupInfo, BackupState, CatalogEntry, Region};

/// Blocks per copy step of a backup or a restore.
pub const BACKUP_CHUNK: u64 = 64;
/// Chunks one backup's copier keeps in flight.
pub const BACKUP_WINDOW: usize = 4;

/// A catalog entry in the controller.
#[derive(Debug)]
pub(super) struct BEntry {
    /// Creation order (a retry over a failed destination holds it from then on).
    seq: u64,
    src: Region,
    dst: Region,
    state: BackupState,
    info: Option<BackupInfo>,
    /// A restart found it `Copying`: the `Failed` record is on its way.
    failing: bool,
    copy: Option<BCopy>,
}

/// A background copy: a backup's or a restore's.
#[derive(Debug, Default)]
struct BCopy {
    /// Chunks still to copy (chunk `i` is blocks `[i * BACKUP_CHUNK, ..)` of the region).
    todo: BTreeSet<u64>,
    urgent: BTreeSet<u64>,
    inflight: BTreeSet<u64>,
    /// Host writes waiting for a chunk (copy-before-write).
    waiters: BTreeMap<u64, Vec<(ReqId, Op)>>,
    blocks_copied: u64,
    /// Chunks whose destination write was submitted (the planted bug's view).
    #[cfg_attr(not(feature = "planted-bugs"), allow(dead_code))]
    writing: BTreeSet<u64>,
    /// The `Complete` record (or the restore's intent delete) is on its way.
    finishing: bool,
    /// A source read failed.
    failed: bool,
}

/// A restore in progress.
#[derive(Debug)]
struct BRestore {
    /// The client to answer (`None` for a restore redone after a restart).
    req: Option<ReqId>,
    /// The backup restored (its destination is `from`).
    id: BackupId,
    from: Region,
    to: Region,
    copy: BCopy,
    /// The intent record is durable.
    intent: bool,
    /// The allocation listings were issued; how many answers are awaited.
    listed: bool,
    listing: u8,
    /// Deletes of the failure records of earlier restores to exactly `to` awaited
    /// (a successful retry clears them before its intent goes).
    clearing: u32,
}

/// The phases of the admin command in progress.
#[derive(Debug)]
enum BAdmin {
    /// Waiting for the gated volumes to drain, then listing (`listing` awaited).
    Gate { req: ReqId, op: Op, listing: u8, listed: bool, todo: BTreeSet<u64> },
    /// The record is on its way.
    Record { req: ReqId, id: BackupId },
    /// A `record_backup` put is on its way.
    Info { req: ReqId, id: BackupId, info: BackupInfo },
    /// A restore runs (the slot is taken until it answers).
    Restore,
}

/// What a backup media I/O was for.
#[derive(Clone, Debug)]
pub(super) enum BPending {
    /// An allocation listing of the command in progress (a backup's).
    Listing {
        src_side: bool,
    },
    /// An allocation listing of a restore.
    RestoreListing {
        seq: u64,
        from_side: bool,
    },
    Record,
    Info,
    CopyRead {
        id: BackupId,
        chunk: u64,
    },
    CopyWrite {
        id: BackupId,
        chunk: u64,
    },
    Finished {
        id: BackupId,
    },
    Failed {
        id: BackupId,
    },
    RestoreIntent {
        seq: u64,
    },
    RestoreRead {
        seq: u64,
        chunk: u64,
    },
    RestoreWrite {
        seq: u64,
        chunk: u64,
    },
    RestoreDone {
        seq: u64,
    },
    /// The restore's failure record (announced) is durable.
    RestoreFailed {
        seq: u64,
    },
    /// A failure record of an earlier restore to the same target is deleted.
    RestoreCleared {
        seq: u64,
        failed: u64,
    },
}

/// The backup engine's state.
#[derive(Debug, Default)]
pub(super) struct Backups {
    entries: BTreeMap<BackupId, BEntry>,
    seq_next: u64,
    admin_queue: VecDeque<(ReqId, Op)>,
    admin: Option<BAdmin>,
    /// Volumes whose host I/O is held, with how many gates hold each.
    gated: BTreeMap<VolumeId, u32>,
    held: VecDeque<(ReqId, Op)>,
    restores: BTreeMap<u64, BRestore>,
    /// Failed restores (by their intent's sequence number, whose record now says
    /// failed): the backup and the target, which holds a partial copy.
    failed_restores: BTreeMap<u64, (BackupId, Region)>,
    /// Boot work: `Failed` records to put, restores to redo.
    boot_failed: Vec<BackupId>,
    /// Totals for the run report and the benchmark.
    pub(super) stats: BackupStats,
}

/// What the backup engine did (the run report's and the benchmark's figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupStats {
    /// Blocks the backups' copiers wrote to destinations.
    pub blocks_copied: u64,
    /// Blocks restores wrote back.
    pub blocks_restored: u64,
    /// Chunks copied early for a host write (copy-before-write).
    pub urgent_chunks: u64,
    pub completed: u64,
    pub failed: u64,
    /// Restores answered done, and restores failed on an unreadable backup block.
    pub restores_done: u64,
    pub restores_failed: u64,
}

fn record_key(id: BackupId) -> String {
    format!("backup/{:08x}", id.0)
}

fn info_key(id: BackupId) -> String {
    format!("backup-info/{:08x}", id.0)
}

fn restore_key(seq: u64) -> String {
    format!("bkrestore/{seq:016x}")
}

fn encode_region(r: &Region) -> String {
    format!("{} {} {}", r.vol.0, r.start, r.blocks)
}

fn encode_record(e: &BEntry, state: BackupState) -> Vec<u8> {
    format!("{} {} {} {}", e.seq, state.name(), encode_region(&e.src), encode_region(&e.dst)).into_bytes()
}

fn decode_record(bytes: &[u8]) -> Option<(u64, BackupState, Region, Region)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let f: Vec<&str> = text.split(' ').collect();
    if f.len() != 8 {
        return None;
    }
    let n = |i: usize| f[i].parse::<u64>().ok();
    let region = |i: usize| {
        Some(Region { vol: VolumeId(u32::try_from(n(i)?).ok()?), start: n(i + 1)?, blocks: n(i + 2)? })
    };
    Some((n(0)?, BackupState::from_name(f[1])?, region(2)?, region(5)?))
}

/// A restore's record: the intent, or (`failed`) the record of its failure.
fn encode_restore(id: BackupId, from: &Region, to: &Region, failed: bool) -> Vec<u8> {
    let tail = if failed { " failed" } else { "" };
    format!("{} {} {}{tail}", id.0, encode_region(from), encode_region(to)).into_bytes()
}

fn decode_restore(bytes: &[u8]) -> Option<(BackupId, Region, Region, bool)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (text, failed) = match text.strip_suffix(" failed") {
        Some(t) => (t, true),
        None => (text, false),
    };
    let f: Vec<u64> = text.split(' ').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    if f.len() != 7 {
        return None;
    }
    let r = |i: usize| {
        Some(Region { vol: VolumeId(u32::try_from(f[i]).ok()?), start: f[i + 1], blocks: f[i + 2] })
    };
    Some((BackupId(u32::try_from(f[0]).ok()?), r(1)?, r(4)?, failed))
}

/// The chunks of `region` holding a block of `allocated` (a space's listing).
fn chunks_in(region: &Region, allocated: &[u64], into: &mut BTreeSet<u64>) {
    for b in allocated {
        if *b >= region.start && *b < region.end() {
            into.insert((b - region.start) / BACKUP_CHUNK);
        }
    }
}

/// The blocks of chunk `c` of a region: `(first, len)`.
fn chunk_span(region: &Region, c: u64) -> (u64, u32) {
    let first = region.start + c * BACKUP_CHUNK;
    (first, (region.end() - first).min(BACKUP_CHUNK) as u32)
}

impl Backups {
    /// Rebuilds the catalog from the durable metadata.
    pub(super) fn boot(meta: &Metadata) -> Backups {
        let mut b = Backups::default();
        for (key, value) in meta {
            if let Some(h) = key.strip_prefix("backup/")
                && let Ok(id) = u32::from_str_radix(h, 16)
                && let Some((seq, state, src, dst)) = decode_record(value)
            {
                let id = BackupId(id);
                b.seq_next = b.seq_next.max(seq + 1);
                let failing = state == BackupState::Copying;
                if failing {
                    b.boot_failed.push(id);
                }
                b.entries.insert(id, BEntry { seq, src, dst, state, info: None, failing, copy: None });
            } else if let Some(h) = key.strip_prefix("bkrestore/")
                && let Ok(seq) = u64::from_str_radix(h, 16)
                && let Some((id, from, to, failed)) = decode_restore(value)
            {
                b.seq_next = b.seq_next.max(seq + 1);
                if failed {
                    b.failed_restores.insert(seq, (id, to));
                    continue;
                }
                let copy = BCopy::default();
                b.restores.insert(
                    seq,
                    BRestore {
                        req: None,
                        id,
                        from,
                        to,
                        copy,
                        intent: true,
                        listed: false,
                        listing: 0,
                        clearing: 0,
                    },
                );
                *b.gated.entry(to.vol).or_default() += 1;
            }
        }
        for (key, value) in meta {
            if let Some(h) = key.strip_prefix("backup-info/")
                && let Ok(id) = u32::from_str_radix(h, 16)
                && let Some(e) = b.entries.get_mut(&BackupId(id))
            {
                e.info = serde_json::from_slice(value).ok();
            }
        }
        b
    }

    /// Entries that hold their destination (no newer entry has the same one).
    fn holding(&self) -> impl Iterator<Item = (&BackupId, &BEntry)> {
        self.entries.iter().filter(|(_, e)| !self.entries.values().any(|o| o.dst == e.dst && o.seq > e.seq))
    }

    fn copying(&self) -> impl Iterator<Item = &BEntry> {
        self.entries.values().filter(|e| e.state == BackupState::Copying)
    }

    /// True if `vol` holds a backup's region (see `model::backup`): it cannot join a
    /// pair or have images. Asked by `pair_create` and `snapshot` only once no backup
    /// or restore command in progress gates the volume (they wait for it: see
    /// [`Backups::gates`]).
    pub(super) fn holds_regions(&self, vol: VolumeId) -> bool {
        self.copying().any(|e| e.src.vol == vol)
            || self.holding().any(|(_, e)| e.dst.vol == vol)
            || self.failed_targets().any(|r| r.vol == vol)
    }

    /// The targets of failed restores not restored since.
    fn failed_targets(&self) -> impl Iterator<Item = &Region> {
        self.failed_restores.values().map(|(_, r)| r)
    }

    /// [`Backups::holds_regions`], or gated by a backup or restore command in progress:
    /// for the S3 peer-side checks, which cannot wait for the command to answer.
    pub(super) fn has_backups(&self, vol: VolumeId) -> bool {
        self.holds_regions(vol) || self.gated.contains_key(&vol)
    }

    /// True while a backup or restore command in progress gates `vol` (its outcome is
    /// not durable yet). A `pair_create` or `snapshot` naming the volume waits until
    /// the command answers, then is judged on the state it left: never on an outcome
    /// a crash could still undo.
    pub(super) fn gates(&self, vol: VolumeId) -> bool {
        self.gated.contains_key(&vol)
    }

    /// Holds an admin command until the gates lift (see [`Backups::gates`]); a crash
    /// loses it, like every request in flight.
    pub(super) fn hold(&mut self, req: ReqId, op: Op) {
        self.held.push_back((req, op));
    }

    pub(super) fn busy(&self) -> bool {
        self.admin.is_some()
            || !self.admin_queue.is_empty()
            || !self.restores.is_empty()
            || self.entries.values().any(|e| e.copy.is_some() || e.failing)
    }

    pub(super) fn admin_waits_for(&self, vol: VolumeId) -> bool {
        self.gated.contains_key(&vol)
    }
}

impl Controller {
    /// True if the backup engine must see this host I/O: its volume is gated, it
    /// touches a destination, or it writes a source chunk still to copy.
    pub(super) fn backup_claims(&self, op: &Op) -> bool {
        let Some(vol) = op.volume() else { return false };
        if self.bk.gated.contains_key(&vol) {
            return true;
        }
        let (first, count) = op.extent();
        self.bk.holding().any(|(_, e)| e.dst.touches(vol, first, count))
            || self.bk.failed_targets().any(|r| r.touches(vol, first, count))
            || (op.is_write()
                && self.bk.entries.values().any(|e| e.copy.is_some() && e.src.touches(vol, first, count)))
    }

    pub(super) fn backup_io(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        let vol = op.volume().expect("host I/O");
        let (first, count) = op.extent();
        if self.bk.gated.contains_key(&vol) {
            return self.bk.held.push_back((req, op));
        }
        // The model's rules of host I/O to a destination (after the volume's own).
        let refusal = match self.validate(&op) {
            Err(e) => Some(e),
            Ok(v) if v.inconsistent => Some(ErrorKind::Inconsistent),
            Ok(_) => {
                let mut r = None;
                if self.bk.failed_targets().any(|t| t.touches(vol, first, count)) {
                    r = Some(ErrorKind::Inconsistent); // a failed restore's partial copy
                }
                for (_, e) in self.bk.holding().filter(|(_, e)| e.dst.touches(vol, first, count)) {
                    match e.state {
                        BackupState::Copying => r = Some(ErrorKind::NotAccessible),
                        BackupState::Complete if op.is_write() => r = Some(ErrorKind::NotAccessible),
                        BackupState::Complete => {}
                        BackupState::Failed => r = r.or(Some(ErrorKind::Inconsistent)),
                    }
                    if r == Some(ErrorKind::NotAccessible) {
                        break;
                    }
                }
                r
            }
        };
        if let Some(e) = refusal {
            return out.push(Output::Reply { req, result: Err(e) });
        }
        if op.is_write() {
            // Copy-before-write: the first source chunk still to copy.
            let mut wait = None;
            for (id, e) in &self.bk.entries {
                let Some(copy) = &e.copy else { continue };
                if !e.src.touches(vol, first, count) {
                    continue;
                }
                let lo = first.max(e.src.start) - e.src.start;
                let hi = (first + count).min(e.src.end()) - 1 - e.src.start;
                if let Some(&c) = copy.todo.range(lo / BACKUP_CHUNK..=hi / BACKUP_CHUNK).next() {
                    wait = Some((*id, c));
                    break;
                }
            }
            if let Some((id, c)) = wait {
                let copy = self.bk.entries.get_mut(&id).expect("exists").copy.as_mut().expect("copying");
                if !copy.inflight.contains(&c) && copy.urgent.insert(c) {
                    self.bk.stats.urgent_chunks += 1;
                }
                copy.waiters.entry(c).or_default().push((req, op));
                return self.backup_pump(id, out);
            }
        }
        self.plain_io(req, op, vol, out)
    }

    pub(super) fn backup_admin(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        match op {
            Op::ListBackups { src } => {
                let list = self
                    .bk
                    .entries
                    .iter()
                    .filter(|(_, e)| e.src.vol == src)
                    .map(|(id, e)| CatalogEntry {
                        backup: *id,
                        src: e.src,
                        dst: e.dst,
                        state: e.state,
                        info: e.info.clone(),
                    })
                    .collect();
                out.push(Output::Reply { req, result: Ok(Reply::Backups(list)) });
            }
            Op::BackupEvent { .. } => {
                // Not a client request: the array makes these transitions by itself.
                out.push(Output::Reply { req, result: Err(ErrorKind::NotAccessible) });
            }
            _ => {
                self.bk.admin_queue.push_back((req, op));
                self.backup_try_admin(out);
            }
        }
    }

    /// The checks of a region before any catalog rule (the model's order).
    fn backup_region_check(&self, r: &Region, blocks: u64) -> Result<(), ErrorKind> {
        if r.vol.is_catalog() {
            return Err(ErrorKind::InsideCatalog);
        }
        let v = self.volumes.get(&r.vol).ok_or(ErrorKind::NoSuchVolume)?;
        if r.blocks == 0 || r.blocks != blocks || r.vol.is_image() {
            return Err(ErrorKind::InvalidRegion);
        }
        match r.start.checked_add(r.blocks) {
            Some(end) if end <= v.blocks => Ok(()),
            _ => Err(ErrorKind::OutOfRange),
        }
    }

    fn backup_volume_check(&self, vol: VolumeId) -> Result<(), ErrorKind> {
        let v = &self.volumes[&vol];
        if v.pair.is_some() || self.remote.in_pair(vol) {
            return Err(ErrorKind::InPair);
        }
        if self.snaps.has_images(vol) {
            return Err(ErrorKind::HasImages);
        }
        if v.inconsistent {
            return Err(ErrorKind::Inconsistent);
        }
        Ok(())
    }

    /// `backup`'s rules, in the model's order.
    fn backup_check(&self, id: BackupId, src: &Region, dst: &Region) -> Result<(), ErrorKind> {
        if src.vol.is_catalog() || dst.vol.is_catalog() {
            return Err(ErrorKind::InsideCatalog);
        }
        for r in [src, dst] {
            self.volumes.get(&r.vol).ok_or(ErrorKind::NoSuchVolume)?;
        }
        self.backup_region_check(src, dst.blocks)?;
        self.backup_region_check(dst, src.blocks)?;
        if src.overlaps(dst) {
            return Err(ErrorKind::RegionOverlap);
        }
        if self.bk.entries.contains_key(&id) {
            return Err(ErrorKind::BackupExists);
        }
        self.backup_volume_check(src.vol)?;
        self.backup_volume_check(dst.vol)?;
        let retry = |e: &BEntry| e.state == BackupState::Failed && e.dst == *dst;
        if self.bk.holding().any(|(_, e)| e.dst.overlaps(dst) && !retry(e))
            || self.bk.copying().any(|e| e.src.overlaps(dst) || e.dst.overlaps(src))
        {
            return Err(ErrorKind::DestinationBusy);
        }
        if self.bk.holding().any(|(_, e)| e.state == BackupState::Failed && e.dst.overlaps(src))
            || self.bk.failed_targets().any(|r| r.overlaps(src) || r.overlaps(dst))
        {
            return Err(ErrorKind::Inconsistent);
        }
        Ok(())
    }

    /// `restore_backup`'s rules, in the model's order; the backup's destination.
    fn restore_check(&self, id: BackupId, to: &Region) -> Result<Region, ErrorKind> {
        let e = self.bk.entries.get(&id).ok_or(ErrorKind::NoSuchBackup)?;
        self.backup_region_check(to, e.dst.blocks)?;
        if e.state != BackupState::Complete {
            return Err(ErrorKind::BackupState(e.state));
        }
        if to.overlaps(&e.dst) {
            return Err(ErrorKind::RegionOverlap);
        }
        self.backup_volume_check(to.vol)?;
        if self.bk.holding().any(|(_, h)| h.dst.overlaps(to)) || self.bk.copying().any(|c| c.src.overlaps(to))
        {
            return Err(ErrorKind::DestinationBusy);
        }
        if self.bk.failed_targets().any(|r| r.overlaps(to) && r != to) {
            return Err(ErrorKind::Inconsistent);
        }
        Ok(e.dst)
    }

    fn gate(&mut self, vols: &[VolumeId]) {
        for v in vols {
            *self.bk.gated.entry(*v).or_default() += 1;
        }
    }

    fn ungate(&mut self, vols: &[VolumeId], out: &mut Vec<Output>) {
        for v in vols {
            let n = self.bk.gated.get_mut(v).expect("gated");
            *n -= 1;
            if *n == 0 {
                self.bk.gated.remove(v);
            }
        }
        let held: Vec<(ReqId, Op)> = std::mem::take(&mut self.bk.held).into_iter().collect();
        self.rerun(held, out);
        // A snapshot command waiting for this gate (at the head of its queue).
        self.snap_try_admin(out);
    }

    /// True while a command that would make `vol` a pair member or an origin is in
    /// progress and not yet durable (a crash may still undo it): a backup or restore
    /// naming the volume waits rather than answer `InPair`/`HasImages` on it.
    fn backup_waits_on(&self, vol: VolumeId) -> bool {
        self.volumes
            .get(&vol)
            .and_then(|v| v.pair)
            .is_some_and(|p| self.pairs.get(&p).is_some_and(|pair| !pair.live))
            || self.snaps.creating(vol)
            || self.remote.creating_on(vol)
    }

    /// Moves a waiting backup or restore command on (called after every input: what it
    /// waits for, a pair's or an image's record, is another engine's).
    pub(super) fn backup_poll(&mut self, out: &mut Vec<Output>) {
        if self.bk.admin.is_none() && !self.bk.admin_queue.is_empty() {
            self.backup_try_admin(out);
        }
        // A `pair_create` held by a remote create in progress (`Remote::creating_on`)
        // goes on once that create is over.
        let free = |c: &Controller, op: &Op| match *op {
            Op::PairCreate { source, mirror, .. } => {
                [source, mirror].iter().all(|&v| !c.remote.creating_on(v) && !c.bk.gates(v))
            }
            _ => false,
        };
        if self.bk.held.iter().any(|(_, op)| free(self, op)) {
            let held: Vec<(ReqId, Op)> = std::mem::take(&mut self.bk.held).into_iter().collect();
            self.rerun(held, out);
        }
    }

    fn backup_drained(&self, vols: &[VolumeId]) -> bool {
        vols.iter().all(|v| self.volumes[v].inflight == 0)
    }

    /// Starts the next admin command, or moves the one in progress on.
    pub(super) fn backup_try_admin(&mut self, out: &mut Vec<Output>) {
        loop {
            match &mut self.bk.admin {
                None => {
                    let vols: Vec<VolumeId> = match self.bk.admin_queue.front() {
                        None => return,
                        Some((_, Op::Backup { src, dst, .. })) => vec![src.vol, dst.vol],
                        Some((_, Op::RestoreBackup { to, .. })) => vec![to.vol],
                        Some(_) => Vec::new(),
                    };
                    if vols.iter().any(|v| self.backup_waits_on(*v)) {
                        return; // Retried by `backup_poll`.
                    }
                    let Some((req, op)) = self.bk.admin_queue.pop_front() else { return };
                    match op {
                        Op::Backup { backup, src, dst } => match self.backup_check(backup, &src, &dst) {
                            Ok(()) => {
                                self.gate(&[src.vol, dst.vol]);
                                self.bk.admin = Some(BAdmin::Gate {
                                    req,
                                    op,
                                    listing: 0,
                                    listed: false,
                                    todo: BTreeSet::new(),
                                });
                            }
                            Err(e) => out.push(Output::Reply { req, result: Err(e) }),
                        },
                        Op::RestoreBackup { backup, to } => match self.restore_check(backup, &to) {
                            Ok(from) => self.restore_start(Some(req), backup, from, to, out),
                            Err(e) => out.push(Output::Reply { req, result: Err(e) }),
                        },
                        Op::RecordBackup { backup, info } => {
                            if !self.bk.entries.contains_key(&backup) {
                                out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchBackup) });
                                continue;
                            }
                            let value = serde_json::to_vec(&info).expect("plain data");
                            self.submit(
                                MediaOp::MetaPut { key: info_key(backup), value },
                                Pending::Backup(BPending::Info),
                                out,
                            );
                            self.bk.admin = Some(BAdmin::Info { req, id: backup, info });
                        }
                        _ => unreachable!("S0 commands"),
                    }
                }
                Some(BAdmin::Gate { op: Op::Backup { src, dst, .. }, listing, listed, .. }) => {
                    let (src, dst) = (*src, *dst);
                    if *listed || *listing > 0 {
                        return;
                    }
                    if !self.backup_drained(&[src.vol, dst.vol]) {
                        return;
                    }
                    if let Some(BAdmin::Gate { listing, .. }) = &mut self.bk.admin {
                        *listing = 2;
                    }
                    for (vol, src_side) in [(src.vol, true), (dst.vol, false)] {
                        let space = self.volumes[&vol].space;
                        self.submit(
                            MediaOp::Allocated { space },
                            Pending::Backup(BPending::Listing { src_side }),
                            out,
                        );
                    }
                    return;
                }
                Some(_) => return,
            }
        }
    }

    /// Called when a volume's in-flight host I/O drops (a gate may be drained).
    pub(super) fn backup_volume_idle(&mut self, vol: VolumeId, out: &mut Vec<Output>) {
        if self.bk.admin_waits_for(vol) {
            self.backup_try_admin(out);
            let waiting: Vec<u64> = self
                .bk
                .restores
                .iter()
                .filter(|(_, r)| r.to.vol == vol && r.intent && !r.listed)
                .map(|(s, _)| *s)
                .collect();
            for seq in waiting {
                self.restore_list(seq, out);
            }
        }
    }

    pub(super) fn backup_media_done(&mut self, p: BPending, result: MediaResult, out: &mut Vec<Output>) {
        match p {
            BPending::Listing { src_side } => {
                let MediaResult::Allocated(blocks) = result else { panic!("an allocation listing") };
                let Some(BAdmin::Gate { op: Op::Backup { backup, src, dst }, listing, listed, todo, req }) =
                    &mut self.bk.admin
                else {
                    unreachable!("a listing of the backup in progress")
                };
                chunks_in(if src_side { src } else { dst }, &blocks, todo);
                *listing -= 1;
                if *listing > 0 {
                    return;
                }
                *listed = true;
                let (req, id, src, dst) = (*req, *backup, *src, *dst);
                let seq = self.bk.seq_next;
                self.bk.seq_next += 1;
                let todo = std::mem::take(todo);
                let e = BEntry {
                    seq,
                    src,
                    dst,
                    state: BackupState::Copying,
                    info: None,
                    failing: false,
                    copy: Some(BCopy { todo, ..BCopy::default() }),
                };
                let value = encode_record(&e, BackupState::Copying);
                self.bk.admin = Some(BAdmin::Record { req, id });
                self.bk.entries.insert(id, e);
                // The entry exists for the checks from now on, but the copier starts
                // only once the record is durable.
                self.submit(
                    MediaOp::MetaPut { key: record_key(id), value },
                    Pending::Backup(BPending::Record),
                    out,
                );
            }
            BPending::Record => {
                let Some(BAdmin::Record { req, id }) = self.bk.admin.take() else { unreachable!("a record") };
                let e = &self.bk.entries[&id];
                let vols = [e.src.vol, e.dst.vol];
                out.push(Output::Reply { req, result: Ok(Reply::Done) });
                self.ungate(&vols, out);
                self.backup_pump(id, out);
                self.backup_try_admin(out);
            }
            BPending::Info => {
                let Some(BAdmin::Info { req, id, info }) = self.bk.admin.take() else { unreachable!("info") };
                self.bk.entries.get_mut(&id).expect("exists").info = Some(info);
                out.push(Output::Reply { req, result: Ok(Reply::Done) });
                self.backup_try_admin(out);
            }
            BPending::CopyRead { id, chunk } => {
                let e = &self.bk.entries[&id];
                match result {
                    MediaResult::Read(values) => {
                        let (first, _) = chunk_span(&e.dst, chunk);
                        let space = self.volumes[&e.dst.vol].space;
                        self.submit(
                            MediaOp::Write { space, block: first, values },
                            Pending::Backup(BPending::CopyWrite { id, chunk }),
                            out,
                        );
                        #[cfg(feature = "planted-bugs")]
                        if self.planted.contains("catalog-complete-before-durable") {
                            // Planted: the entry is marked complete once every write
                            // is *submitted*, not once every write is durable.
                            let copy =
                                self.bk.entries.get_mut(&id).expect("exists").copy.as_mut().expect("copying");
                            copy.writing.insert(chunk);
                            if copy.todo.iter().all(|c| copy.writing.contains(c)) {
                                self.backup_finish(id, out);
                            }
                        }
                    }
                    MediaResult::ReadError { .. } => {
                        let copy =
                            self.bk.entries.get_mut(&id).expect("exists").copy.as_mut().expect("copying");
                        copy.failed = true;
                        copy.inflight.remove(&chunk);
                        self.backup_pump(id, out);
                    }
                    other => panic!("media result {other:?} for a copy read"),
                }
            }
            BPending::CopyWrite { id, chunk } => {
                let (_, len) = chunk_span(&self.bk.entries[&id].dst, chunk);
                // (With the planted bug the copy may be over already.)
                let Some(copy) = self.bk.entries.get_mut(&id).expect("exists").copy.as_mut() else { return };
                copy.inflight.remove(&chunk);
                copy.todo.remove(&chunk);
                copy.blocks_copied += u64::from(len);
                self.bk.stats.blocks_copied += u64::from(len);
                let woken = copy.waiters.remove(&chunk).unwrap_or_default();
                self.rerun(woken, out);
                self.backup_pump(id, out);
            }
            BPending::Finished { id } => {
                let e = self.bk.entries.get_mut(&id).expect("exists");
                e.state = BackupState::Complete;
                if let Some(c) = &e.copy {
                    out.push(Output::Notice(Notice::BackupCopied { backup: id, blocks: c.blocks_copied }));
                }
                let waiters: Vec<(ReqId, Op)> =
                    e.copy.take().map(|c| c.waiters.into_values().flatten().collect()).unwrap_or_default();
                self.bk.stats.completed += 1;
                self.rerun(waiters, out);
            }
            BPending::Failed { id } => {
                let e = self.bk.entries.get_mut(&id).expect("exists");
                e.state = BackupState::Failed;
                e.failing = false;
                if let Some(c) = &e.copy {
                    out.push(Output::Notice(Notice::BackupCopied { backup: id, blocks: c.blocks_copied }));
                }
                let waiters: Vec<(ReqId, Op)> =
                    e.copy.take().map(|c| c.waiters.into_values().flatten().collect()).unwrap_or_default();
                self.bk.stats.failed += 1;
                self.rerun(waiters, out);
            }
            BPending::RestoreIntent { seq } => {
                self.bk.restores.get_mut(&seq).expect("a restore").intent = true;
                self.restore_list(seq, out);
            }
            BPending::RestoreListing { seq, from_side } => {
                let MediaResult::Allocated(blocks) = result else { panic!("an allocation listing") };
                let r = self.bk.restores.get_mut(&seq).expect("a restore");
                let region = if from_side { r.from } else { r.to };
                chunks_in(&region, &blocks, &mut r.copy.todo);
                r.listing -= 1;
                if r.listing == 0 {
                    self.restore_pump(seq, out);
                }
            }
            BPending::RestoreRead { seq, chunk } => {
                let r = &self.bk.restores[&seq];
                let values = match result {
                    MediaResult::Read(values) => values,
                    // A media error on the backup's destination: no other copy holds
                    // that block as it was at the backup point, so the restore fails
                    // (once the chunks in flight are done: see `restore_pump`).
                    MediaResult::ReadError { .. } => {
                        let r = self.bk.restores.get_mut(&seq).expect("a restore");
                        r.copy.failed = true;
                        r.copy.inflight.remove(&chunk);
                        return self.restore_pump(seq, out);
                    }
                    other => panic!("media result {other:?} for a restore read"),
                };
                if r.copy.failed {
                    // Failing: write nothing more (the target is partial anyway).
                    let r = self.bk.restores.get_mut(&seq).expect("a restore");
                    r.copy.inflight.remove(&chunk);
                    return self.restore_pump(seq, out);
                }
                let (first, _) = chunk_span(&r.to, chunk);
                let space = self.volumes[&r.to.vol].space;
                self.submit(
                    MediaOp::Write { space, block: first, values },
                    Pending::Backup(BPending::RestoreWrite { seq, chunk }),
                    out,
                );
            }
            BPending::RestoreWrite { seq, chunk } => {
                let r = self.bk.restores.get_mut(&seq).expect("a restore");
                let (_, len) = chunk_span(&r.to, chunk);
                r.copy.inflight.remove(&chunk);
                r.copy.todo.remove(&chunk);
                r.copy.blocks_copied += u64::from(len);
                self.bk.stats.blocks_restored += u64::from(len);
                self.restore_pump(seq, out);
            }
            BPending::RestoreDone { seq } => {
                let r = self.bk.restores.remove(&seq).expect("a restore");
                self.bk.stats.restores_done += 1;
                if let Some(req) = r.req {
                    out.push(Output::Reply { req, result: Ok(Reply::Done) });
                    self.bk.admin = None;
                }
                self.ungate(&[r.to.vol], out);
                self.backup_try_admin(out);
            }
            BPending::RestoreFailed { seq } => {
                let r = self.bk.restores.remove(&seq).expect("a restore");
                self.bk.stats.restores_failed += 1;
                self.bk.failed_restores.insert(seq, (r.id, r.to));
                if let Some(req) = r.req {
                    out.push(Output::Reply { req, result: Err(ErrorKind::MediaError) });
                    self.bk.admin = None;
                }
                self.ungate(&[r.to.vol], out);
                self.backup_try_admin(out);
            }
            BPending::RestoreCleared { seq, failed } => {
                self.bk.failed_restores.remove(&failed);
                let r = self.bk.restores.get_mut(&seq).expect("a restore");
                r.clearing -= 1;
                if r.clearing == 0 {
                    self.submit(
                        MediaOp::MetaDelete { key: restore_key(seq) },
                        Pending::Backup(BPending::RestoreDone { seq }),
                        out,
                    );
                }
            }
        }
    }

    /// Keeps a backup's copier busy; finishes it when every chunk is durable.
    fn backup_pump(&mut self, id: BackupId, out: &mut Vec<Output>) {
        let e = self.bk.entries.get_mut(&id).expect("exists");
        if e.failing || matches!(self.bk.admin, Some(BAdmin::Record { id: r, .. }) if r == id) {
            return; // The record is not durable yet, or the copy was cut.
        }
        let Some(copy) = e.copy.as_mut() else { return };
        if copy.finishing {
            return;
        }
        if copy.failed {
            if copy.inflight.is_empty() {
                copy.finishing = true;
                e.failing = true;
                let value = encode_record(e, BackupState::Failed);
                let notice = Notice::Backup { backup: id, event: BackupEvent::Failed };
                self.submit(
                    MediaOp::MetaPutAnnounced { key: record_key(id), value, notice },
                    Pending::Backup(BPending::Failed { id }),
                    out,
                );
            }
            return;
        }
        let free = BACKUP_WINDOW.saturating_sub(copy.inflight.len());
        let mut next: Vec<u64> = Vec::new();
        for c in copy.urgent.iter().chain(copy.todo.iter()) {
            if next.len() >= free {
                break;
            }
            if copy.todo.contains(c) && !copy.inflight.contains(c) && !next.contains(c) {
                next.push(*c);
            }
        }
        let todo = &copy.todo;
        copy.urgent.retain(|c| !next.contains(c) && todo.contains(c));
        for c in &next {
            copy.inflight.insert(*c);
        }
        let src = e.src;
        if copy.todo.is_empty() && copy.inflight.is_empty() {
            return self.backup_finish(id, out);
        }
        for c in next {
            let (first, len) = chunk_span(&src, c);
            let space = self.volumes[&src.vol].space;
            self.submit(
                MediaOp::Read { space, block: first, len },
                Pending::Backup(BPending::CopyRead { id, chunk: c }),
                out,
            );
        }
    }

    /// Every block of the copy is durable: the record `Complete`, announced when it is.
    fn backup_finish(&mut self, id: BackupId, out: &mut Vec<Output>) {
        let e = self.bk.entries.get_mut(&id).expect("exists");
        let copy = e.copy.as_mut().expect("copying");
        if copy.finishing {
            return;
        }
        copy.finishing = true;
        let value = encode_record(e, BackupState::Complete);
        let notice = Notice::Backup { backup: id, event: BackupEvent::Complete };
        self.submit(
            MediaOp::MetaPutAnnounced { key: record_key(id), value, notice },
            Pending::Backup(BPending::Finished { id }),
            out,
        );
    }

    /// A restore: gate the target, put the intent, then list and copy.
    fn restore_start(
        &mut self,
        req: Option<ReqId>,
        id: BackupId,
        from: Region,
        to: Region,
        out: &mut Vec<Output>,
    ) {
        let seq = self.bk.seq_next;
        self.bk.seq_next += 1;
        self.gate(&[to.vol]);
        let copy = BCopy::default();
        self.bk.restores.insert(
            seq,
            BRestore { req, id, from, to, copy, intent: false, listed: false, listing: 0, clearing: 0 },
        );
        // The admin slot stays taken until the restore answers.
        self.bk.admin = Some(BAdmin::Restore);
        let value = encode_restore(id, &from, &to, false);
        self.submit(
            MediaOp::MetaPut { key: restore_key(seq), value },
            Pending::Backup(BPending::RestoreIntent { seq }),
            out,
        );
    }

    /// Once the intent is durable and the target drained: list both spaces (under the
    /// gate, so the listing is the target's allocation at the restore point).
    fn restore_list(&mut self, seq: u64, out: &mut Vec<Output>) {
        let r = &self.bk.restores[&seq];
        if !r.intent || r.listed || self.volumes[&r.to.vol].inflight > 0 {
            return;
        }
        let (from, to) = (r.from, r.to);
        let r = self.bk.restores.get_mut(&seq).expect("a restore");
        r.listed = true;
        r.listing = 2;
        for (vol, from_side) in [(from.vol, true), (to.vol, false)] {
            let space = self.volumes[&vol].space;
            self.submit(
                MediaOp::Allocated { space },
                Pending::Backup(BPending::RestoreListing { seq, from_side }),
                out,
            );
        }
    }

    fn restore_pump(&mut self, seq: u64, out: &mut Vec<Output>) {
        let r = self.bk.restores.get_mut(&seq).expect("a restore");
        if r.copy.finishing {
            return;
        }
        if r.copy.failed {
            if r.copy.inflight.is_empty() {
                // The failure record replaces the intent (a restart does not redo it),
                // announced when durable; then the answer.
                r.copy.finishing = true;
                let value = encode_restore(r.id, &r.from, &r.to, true);
                let notice = Notice::Backup { backup: r.id, event: BackupEvent::RestoreFailed { to: r.to } };
                self.submit(
                    MediaOp::MetaPutAnnounced { key: restore_key(seq), value, notice },
                    Pending::Backup(BPending::RestoreFailed { seq }),
                    out,
                );
            }
            return;
        }
        let free = BACKUP_WINDOW.saturating_sub(r.copy.inflight.len());
        let next: Vec<u64> =
            r.copy.todo.iter().filter(|c| !r.copy.inflight.contains(c)).take(free).copied().collect();
        for c in &next {
            r.copy.inflight.insert(*c);
        }
        if r.copy.todo.is_empty() && r.copy.inflight.is_empty() {
            r.copy.finishing = true;
            // A retry of failed restores to exactly this target: their records go
            // first (a crash between redoes this restore, which clears them again).
            let to = r.to;
            let failed: Vec<u64> =
                self.bk.failed_restores.iter().filter(|(_, (_, t))| *t == to).map(|(s, _)| *s).collect();
            if failed.is_empty() {
                return self.submit(
                    MediaOp::MetaDelete { key: restore_key(seq) },
                    Pending::Backup(BPending::RestoreDone { seq }),
                    out,
                );
            }
            self.bk.restores.get_mut(&seq).expect("a restore").clearing = failed.len() as u32;
            for f in failed {
                self.submit(
                    MediaOp::MetaDelete { key: restore_key(f) },
                    Pending::Backup(BPending::RestoreCleared { seq, failed: f }),
                    out,
                );
            }
            return;
        }
        let from = r.from;
        for c in next {
            let (first, len) = chunk_span(&from, c);
            let space = self.volumes[&from.vol].space;
            self.submit(
                MediaOp::Read { space, block: first, len },
                Pending::Backup(BPending::RestoreRead { seq, chunk: c }),
                out,
            );
        }
    }

    /// At `Input::Started`: fail the copies the crash cut, redo the restores.
    pub(super) fn backup_started(&mut self, out: &mut Vec<Output>) {
        for id in std::mem::take(&mut self.bk.boot_failed) {
            let e = &self.bk.entries[&id];
            let value = encode_record(e, BackupState::Failed);
            let notice = Notice::Backup { backup: id, event: BackupEvent::Failed };
            self.submit(
                MediaOp::MetaPutAnnounced { key: record_key(id), value, notice },
                Pending::Backup(BPending::Failed { id }),
                out,
            );
        }
        let seqs: Vec<u64> = self.bk.restores.keys().copied().collect();
        for seq in seqs {
            self.restore_list(seq, out);
        }
    }

    /// The backup engine's accounting.
    pub fn backup_stats(&self) -> BackupStats {
        self.bk.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::ArrayEngine;
    use model::{ArrayId, OpResult, StorageModel, VolumeSpec};

    const A: VolumeId = VolumeId(0);
    const B: VolumeId = VolumeId(1);
    const C: VolumeId = VolumeId(2);
    const BLOCKS: u64 = 1024;

    /// A controller over in-order media whose completions the test releases (so a
    /// crash can fall between any two), and a model fed the same operations.
    struct Rig {
        c: Controller,
        config: ArrayConfig,
        media: BTreeMap<(SpaceId, u64), Value>,
        meta: Metadata,
        seq: u64,
        queue: VecDeque<Input>,
        replies: Vec<(ReqId, OpResult)>,
        notices: Vec<Notice>,
        /// Unreadable media blocks (a write repairs one).
        bad: BTreeSet<(SpaceId, u64)>,
        /// The report-only `BackupCopied` notices.
        copied: Vec<(BackupId, u64)>,
    }

    impl Rig {
        fn new() -> Rig {
            let config = ArrayConfig {
                id: ArrayId(0),
                name: "A".into(),
                volumes: vec![(A, BLOCKS), (B, BLOCKS), (C, BLOCKS)],
                change_grain: 1,
                remote_volumes: Vec::new(),
            };
            let mut r = Rig {
                c: Controller::new(&config),
                config,
                media: BTreeMap::new(),
                meta: Metadata::new(),
                seq: 0,
                queue: VecDeque::new(),
                replies: Vec::new(),
                notices: Vec::new(),
                bad: BTreeSet::new(),
                copied: Vec::new(),
            };
            r.queue.push_back(Input::Started);
            r.run(usize::MAX);
            r
        }

        /// A crash: media and metadata kept, everything in flight lost.
        fn restart(&mut self) {
            self.queue.clear();
            self.c = Controller::boot(&self.config, &self.meta);
            self.queue.push_back(Input::Started);
        }

        /// Handles up to `steps` inputs.
        fn run(&mut self, steps: usize) {
            for _ in 0..steps {
                let Some(i) = self.queue.pop_front() else { return };
                let mut out = Vec::new();
                self.c.handle(i, &mut out);
                for o in out {
                    match o {
                        Output::Reply { req, result } => self.replies.push((req, result)),
                        Output::Notice(Notice::BackupCopied { backup, blocks }) => {
                            self.copied.push((backup, blocks))
                        }
                        Output::Notice(n) => self.notices.push(n),
                        Output::Media { io, op } => {
                            let result = match op {
                                MediaOp::Read { space, block, len } => {
                                    match (block..block + u64::from(len))
                                        .find(|b| self.bad.contains(&(space, *b)))
                                    {
                                        Some(b) => MediaResult::ReadError { block: b },
                                        None => MediaResult::Read(
                                            (0..u64::from(len))
                                                .map(|i| {
                                                    self.media
                                                        .get(&(space, block + i))
                                                        .copied()
                                                        .unwrap_or_default()
                                                })
                                                .collect(),
                                        ),
                                    }
                                }
                                MediaOp::Write { space, block, values } => {
                                    for (i, v) in values.into_iter().enumerate() {
                                        self.bad.remove(&(space, block + i as u64));
                                        self.media.insert((space, block + i as u64), v);
                                    }
                                    MediaResult::Written
                                }
                                MediaOp::MetaPut { key, value } => {
                                    self.meta.insert(key, value);
                                    MediaResult::Written
                                }
                                MediaOp::MetaPutAnnounced { key, value, notice } => {
                                    self.meta.insert(key, value);
                                    self.notices.push(notice);
                                    MediaResult::Written
                                }
                                MediaOp::MetaDelete { key } => {
                                    self.meta.remove(&key);
                                    MediaResult::Written
                                }
                                MediaOp::Allocated { space } => MediaResult::Allocated(
                                    self.media
                                        .range((space, 0)..(SpaceId(space.0 + 1), 0))
                                        .filter(|(_, v)| !v.is_zero())
                                        .map(|((_, b), _)| *b)
                                        .collect(),
                                ),
                            };
                            self.queue.push_back(Input::MediaDone { io, result });
                        }
                        _ => {}
                    }
                }
            }
        }

        fn send(&mut self, op: Op) -> ReqId {
            self.seq += 1;
            let req = ReqId { host: 1, seq: self.seq };
            self.queue.push_back(Input::Host { req, op });
            req
        }

        fn op(&mut self, op: Op) -> OpResult {
            let req = self.send(op);
            self.run(usize::MAX);
            let i = self.replies.iter().position(|(r, _)| *r == req).expect("answered");
            self.replies.remove(i).1
        }

        fn write(&mut self, vol: VolumeId, block: u64, seq: u32) {
            let values = vec![Value::pack(1, seq, 0)];
            assert_eq!(self.op(Op::Write { vol, block, values }), Ok(Reply::Done));
        }

        fn read(&mut self, vol: VolumeId, block: u64) -> OpResult {
            self.op(Op::Read { vol, block, len: 1 })
        }
    }

    fn reg(vol: VolumeId, start: u64, blocks: u64) -> Region {
        Region { vol, start, blocks }
    }

    fn vals(seq: u32) -> OpResult {
        Ok(Reply::Values(vec![if seq == 0 { Value::ZERO } else { Value::pack(1, seq, 0) }]))
    }

    fn backup(id: u32, src: Region, dst: Region) -> Op {
        Op::Backup { backup: BackupId(id), src, dst }
    }

    #[test]
    fn copy_before_write_keeps_the_point_in_time_and_complete_follows_the_data() {
        let mut r = Rig::new();
        for b in 0..512 {
            r.write(A, b, b as u32 + 1);
        }
        let req = r.send(backup(1, reg(A, 0, 512), reg(B, 256, 512)));
        // Run until the backup is answered, then write the source's last chunk
        // before the copier can have reached it.
        while !r.replies.iter().any(|(q, _)| *q == req) {
            r.run(1);
        }
        assert_eq!(r.replies.pop().map(|x| x.1), Some(Ok(Reply::Done)));
        assert!(r.notices.is_empty(), "not complete yet");
        r.write(A, 511, 9999);
        assert_eq!(r.c.backup_stats().urgent_chunks, 1, "the written chunk was copied first");
        r.run(usize::MAX);
        assert_eq!(r.notices, vec![Notice::Backup { backup: BackupId(1), event: BackupEvent::Complete }]);
        assert_eq!(r.read(B, 256 + 511), vals(512), "the source at the backup point");
        assert_eq!(r.read(B, 256), vals(1));
        assert_eq!(r.read(A, 511), vals(9999));
        assert_eq!(r.c.backup_stats().blocks_copied, 512, "the allocated chunks only");
        assert_eq!(r.copied, vec![(BackupId(1), 512)], "reported with the complete record");
        assert_eq!(
            r.op(Op::Write { vol: B, block: 300, values: vec![Value::pack(1, 1, 0)] }),
            Err(ErrorKind::NotAccessible)
        );
    }

    #[test]
    fn a_crash_mid_copy_leaves_the_entry_failed_never_complete() {
        let mut r = Rig::new();
        for b in 0..512 {
            r.write(A, b, b as u32 + 1);
        }
        let req = r.send(backup(1, reg(A, 0, 512), reg(B, 0, 512)));
        while !r.replies.iter().any(|(q, _)| *q == req) {
            r.run(1);
        }
        r.run(6); // a few chunks, not all
        assert!(r.notices.is_empty());
        r.restart();
        assert_eq!(r.read(B, 0), Err(ErrorKind::NotAccessible), "still copying until the record says failed");
        r.run(usize::MAX);
        assert_eq!(r.notices, vec![Notice::Backup { backup: BackupId(1), event: BackupEvent::Failed }]);
        assert_eq!(r.read(B, 0), Err(ErrorKind::Inconsistent));
        let Ok(Reply::Backups(list)) = r.op(Op::ListBackups { src: A }) else { panic!() };
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].state, BackupState::Failed);
        // A retry over the same destination holds it again; it completes.
        assert_eq!(r.op(backup(2, reg(A, 0, 512), reg(B, 0, 512))), Ok(Reply::Done));
        assert_eq!(r.read(B, 100), vals(101));
        r.restart();
        r.run(usize::MAX);
        assert_eq!(r.read(B, 100), vals(101), "the catalog survives a restart");
        let Ok(Reply::Backups(list)) = r.op(Op::ListBackups { src: A }) else { panic!() };
        assert_eq!(
            list.iter().map(|e| e.state).collect::<Vec<_>>(),
            vec![BackupState::Failed, BackupState::Complete]
        );
    }

    #[test]
    fn record_restore_and_a_restore_cut_by_a_crash_is_redone() {
        let mut r = Rig::new();
        for b in 0..300 {
            r.write(A, b, b as u32 + 1);
        }
        assert_eq!(r.op(backup(1, reg(A, 0, 300), reg(B, 0, 300))), Ok(Reply::Done));
        let info = BackupInfo { label: "nightly".into(), generation: 3, host_time: 77, source: "/db".into() };
        assert_eq!(r.op(Op::RecordBackup { backup: BackupId(1), info: info.clone() }), Ok(Reply::Done));
        for b in 0..300 {
            r.write(A, b, 1000 + b as u32);
        }
        let req = r.send(Op::RestoreBackup { backup: BackupId(1), to: reg(A, 0, 300) });
        r.run(12);
        assert!(!r.replies.iter().any(|(q, _)| *q == req), "cut mid-restore");
        r.restart();
        r.run(usize::MAX);
        for b in [0, 150, 299] {
            assert_eq!(r.read(A, b), vals(b as u32 + 1), "block {b} restored after the restart");
        }
        assert!(r.meta.keys().all(|k| !k.starts_with("bkrestore/")), "the intent is gone");
        let Ok(Reply::Backups(list)) = r.op(Op::ListBackups { src: A }) else { panic!() };
        assert_eq!(list[0].info, Some(info), "the host's information survives a restart");
        assert_eq!(r.op(Op::RestoreBackup { backup: BackupId(1), to: reg(B, 400, 300) }), Ok(Reply::Done));
        assert_eq!(r.read(B, 400 + 299), vals(300));
    }

    #[test]
    fn refusals_follow_the_model() {
        let mut r = Rig::new();
        let mut m =
            StorageModel::new(&[VolumeSpec { id: A, blocks: BLOCKS }, VolumeSpec { id: B, blocks: BLOCKS }]);
        let cat = VolumeId(VolumeId::CATALOG_BASE);
        let ops = vec![
            Op::Write { vol: A, block: 3, values: vec![Value::pack(1, 1, 0)] },
            backup(1, reg(A, 0, 8), reg(cat, 0, 8)),
            backup(1, reg(A, 0, 8), reg(VolumeId(7), 0, 8)),
            backup(1, reg(A, 0, 8), reg(B, 0, 9)),
            backup(1, reg(A, BLOCKS - 4, 8), reg(B, 0, 8)),
            backup(1, reg(A, 0, 8), reg(A, 4, 8)),
            backup(1, reg(A, 0, 8), reg(A, 8, 8)),
            backup(1, reg(B, 0, 8), reg(A, 100, 8)),
            backup(2, reg(B, 0, 8), reg(A, 12, 8)),
            backup(2, reg(A, 100, 8), reg(B, 0, 8)),
            Op::Read { vol: A, block: 8, len: 4 },
            Op::Write { vol: A, block: 9, values: vec![Value::pack(1, 2, 0)] },
            Op::RestoreBackup { backup: BackupId(1), to: reg(B, 0, 8) },
            Op::RestoreBackup { backup: BackupId(1), to: reg(B, 0, 7) },
            Op::RestoreBackup { backup: BackupId(1), to: reg(A, 12, 8) },
            Op::RestoreBackup { backup: BackupId(1), to: reg(A, 20, 8) },
            Op::RecordBackup { backup: BackupId(5), info: BackupInfo::default_for_tests() },
            Op::PairCreate { pair: model::PairId(1), source: A, mirror: B },
            Op::Snapshot { vol: A, image: VolumeId(VolumeId::IMAGE_BASE) },
            Op::ListBackups { src: A },
        ];
        for op in ops {
            let want = m.apply(&op);
            // The engine's copies finish at once here: announce them to the model.
            let got = r.op(op.clone());
            for n in std::mem::take(&mut r.notices) {
                let Notice::Backup { backup, event } = n else { continue };
                m.apply(&Op::BackupEvent { backup, event }).unwrap();
            }
            assert_eq!(got, want, "{op}");
        }
    }

    /// Runs until `req` is answered; its answer.
    fn until(r: &mut Rig, req: ReqId) -> OpResult {
        while !r.replies.iter().any(|(q, _)| *q == req) {
            assert!(!r.queue.is_empty(), "{req:?} never answered");
            r.run(1);
        }
        let i = r.replies.iter().position(|(q, _)| *q == req).expect("answered");
        r.replies.remove(i).1
    }

    /// A restore gates its target until it answers; a `pair_create` or `snapshot` of
    /// the target arriving meanwhile waits for the answer and is then judged on what
    /// the restore left (no backup region on the target): done, never `HasBackups`
    /// (fuzz profile full, the regression case pair-create-refused-during-a-restore).
    #[test]
    fn pair_create_and_snapshot_racing_a_restore_wait_for_it() {
        for racer in [
            Op::PairCreate { pair: model::PairId(1), source: A, mirror: C },
            Op::Snapshot { vol: A, image: VolumeId(VolumeId::IMAGE_BASE) },
        ] {
            let mut r = Rig::new();
            for b in 0..300 {
                r.write(A, b, b as u32 + 1);
            }
            assert_eq!(r.op(backup(1, reg(A, 0, 300), reg(B, 0, 300))), Ok(Reply::Done));
            r.write(A, 5, 7777);
            let restore = r.send(Op::RestoreBackup { backup: BackupId(1), to: reg(A, 0, 300) });
            r.run(3); // the intent is on its way: the target is gated
            assert!(r.c.bk.gates(A));
            let racing = r.send(racer.clone());
            r.run(2);
            assert!(r.replies.is_empty(), "{racer} waits for the restore");
            assert_eq!(until(&mut r, restore), Ok(Reply::Done));
            assert_eq!(until(&mut r, racing), Ok(Reply::Done), "{racer}");
            r.run(usize::MAX);
            assert_eq!(r.read(A, 5), vals(6), "restored before {racer}");
        }
    }

    /// A `pair_create` held by a backup's gate is lost with the crash that cuts the
    /// backup before its record: it never answers `HasBackups` for a backup that never
    /// was (fuzz seed 1142 of the full profile).
    #[test]
    fn a_command_held_by_a_backup_lost_in_a_crash_was_never_refused() {
        let mut r = Rig::new();
        r.write(A, 1, 1);
        let bk = r.send(backup(1, reg(A, 0, 8), reg(B, 0, 8)));
        let pc = r.send(Op::PairCreate { pair: model::PairId(1), source: A, mirror: C });
        r.run(1);
        assert!(r.c.bk.gates(A) && r.replies.is_empty());
        r.run(1);
        assert!(!r.replies.iter().any(|(q, _)| *q == pc), "held, not refused");
        r.restart();
        r.run(usize::MAX);
        assert!(!r.replies.iter().any(|(q, _)| *q == bk || *q == pc), "both lost");
        assert_eq!(r.op(Op::PairCreate { pair: model::PairId(1), source: A, mirror: C }), Ok(Reply::Done));
        assert_eq!(r.op(Op::ListBackups { src: A }), Ok(Reply::Backups(vec![])));
    }

    /// A backup naming a volume whose `pair_create` is not durable yet waits for it,
    /// then answers `InPair`: never `InPair` for a pair a crash may still undo (fuzz
    /// seed 761 of the full profile).
    #[test]
    fn a_backup_racing_a_pair_create_waits_for_its_record() {
        let mut r = Rig::new();
        let pc = r.send(Op::PairCreate { pair: model::PairId(1), source: A, mirror: C });
        let bk = r.send(backup(1, reg(A, 0, 8), reg(B, 0, 8)));
        r.run(2); // the pair's record is on its way; the backup arrived
        assert!(r.replies.is_empty(), "the backup waits for the pair's record");
        assert_eq!(until(&mut r, pc), Ok(Reply::Done));
        assert_eq!(until(&mut r, bk), Err(ErrorKind::InPair));
        // Once the gate is gone, a held destination refuses a pair.
        let mut r = Rig::new();
        assert_eq!(r.op(backup(1, reg(C, 0, 8), reg(B, 0, 8))), Ok(Reply::Done));
        let pc = r.send(Op::PairCreate { pair: model::PairId(2), source: A, mirror: B });
        assert_eq!(until(&mut r, pc), Err(ErrorKind::HasBackups));
    }

    /// A restore that cannot read a block of its backup fails (no retry for ever):
    /// answered `MediaError`, `RestoreFailed` announced, the target refused
    /// `Inconsistent` (across a restart too) until a restore to exactly it succeeds.
    #[test]
    fn a_restore_on_an_unreadable_backup_block_fails_until_retried() {
        let mut r = Rig::new();
        for b in 0..300 {
            r.write(A, b, b as u32 + 1);
        }
        assert_eq!(r.op(backup(1, reg(A, 0, 300), reg(B, 0, 300))), Ok(Reply::Done));
        r.notices.clear();
        let space_b = r.c.volumes[&B].space;
        r.bad.insert((space_b, 130));
        let to = reg(A, 0, 300);
        let restore = Op::RestoreBackup { backup: BackupId(1), to };
        assert_eq!(r.op(restore.clone()), Err(ErrorKind::MediaError));
        assert_eq!(
            r.notices,
            vec![Notice::Backup { backup: BackupId(1), event: BackupEvent::RestoreFailed { to } }]
        );
        assert_eq!(r.read(A, 0), Err(ErrorKind::Inconsistent));
        assert_eq!(r.read(A, 300), vals(0), "outside the target");
        r.restart();
        r.run(usize::MAX);
        assert_eq!(r.read(A, 299), Err(ErrorKind::Inconsistent), "the failure survives a restart");
        assert_eq!(
            r.op(Op::PairCreate { pair: model::PairId(1), source: A, mirror: C }),
            Err(ErrorKind::HasBackups)
        );
        assert_eq!(
            r.op(Op::RestoreBackup { backup: BackupId(1), to: reg(A, 1, 300) }),
            Err(ErrorKind::Inconsistent)
        );
        assert_eq!(r.op(restore.clone()), Err(ErrorKind::MediaError), "still unreadable");
        assert_eq!(r.c.backup_stats().restores_failed, 1, "counted since the restart");
        r.bad.clear();
        assert_eq!(r.op(restore), Ok(Reply::Done), "the retry");
        assert_eq!(r.read(A, 130), vals(131));
        r.restart();
        r.run(usize::MAX);
        assert_eq!(r.read(A, 0), vals(1));
        assert!(r.meta.keys().all(|k| !k.starts_with("bkrestore/")), "no failure record left");
    }

    trait ForTests {
        fn default_for_tests() -> Self;
    }

    impl ForTests for BackupInfo {
        fn default_for_tests() -> BackupInfo {
            BackupInfo { label: "l".into(), generation: 1, host_time: 2, source: "s".into() }
        }
    }
}
