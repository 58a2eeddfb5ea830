//! Point-in-time images (SPEC §2 S4): the controller's snapshot engine.
//!
//! A child module of `controller` (it extends [`Controller`] with the image paths),
//! kept in its own file.
//!
//! # Design: copy-on-write into a shared pool
//!
//! An origin volume stays in place (its space, `SpaceId(volume id)`); every image of
//! it has a **lookup table** `block → pool block` in one array-wide pool space
//! ([`POOL_SPACE`]). A block absent from an image's table is still the origin's: the
//! image reads it from the origin. Chosen over redirect-on-write because the origin's
//! layout, its read path and its recovery stay exactly as they are: the extra cost is
//! paid only by the first write to a block after a snapshot (dm-snapshot's exception
//! store), and reads of the origin never go through a table.
//!
//! - **Origin write** (multi-step): take the family's block locks; for each block some
//!   image still shares with the origin, read the old data, write it once to fresh pool
//!   blocks, and make the table entries of every image lacking it durable
//!   (`snap/t/<image>/<block>`); only then write the new data to the origin. One pool
//!   block copied for all the images that shared it: shared blocks are counted
//!   (`refs`), not copied again.
//! - **Image write** (redirect): new data to fresh pool blocks, then the table entries,
//!   then the old pool blocks are released (freed when no table holds them).
//! - **Image read**: each block from its pool block, or from the origin.
//! - **The family lock.** The tables of an origin and its images are guarded by one
//!   lock per family, independent of the images: every origin write and image I/O
//!   holds it shared (`inflight`), `snapshot` and `delete_snapshot` take it exclusively
//!   (new I/O is held, in-flight I/O drains, then the image record is put: the
//!   linearization point). So a write that began before a snapshot lands wholly
//!   before it: its copy-on-write saw the image set the snapshot extends. Block locks
//!   inside the family serialize I/O to the same block index (a copy-on-write must not
//!   copy data a concurrent write already replaced).
//! - **Cost.** `snapshot` is one metadata put whatever the volume size; `delete` one
//!   put plus one delete per table entry the image holds.
//! - **Pool blocks are never reused** within an incarnation (the allocator only grows),
//!   so a read that looked up a pool block just freed still reads the data it meant.
//! - **Crash.** Image records and table entries are durable metadata; a restart rebuilds
//!   the tables and reference counts from them, deletes entries of images whose record
//!   is gone (a delete interrupted by the crash), and allocates pool blocks above every
//!   one referenced. A pool block written whose entry never became durable is garbage
//!   no table names. An origin write interrupted after its table entries but before
//!   its data: the images hold the old data, the origin too: consistent.
//! - **Admin commands** (`snapshot`, `delete_snapshot`) run one at a time per array.

use super::*;

/// The pool space holding the images' private blocks (copied-on-write origin data and
/// the images' own writes).
pub const POOL_SPACE: SpaceId = SpaceId(u32::MAX);

/// A table entry for a block whose old data could not be read when it had to be
/// copied (a latent sector error under the origin): the image reads it with a media
/// error from then on, as the origin would have. Never a real pool block.
const BAD: u64 = u64::MAX;

#[derive(Debug, Default)]
pub(super) struct Snapshots {
    images: BTreeMap<VolumeId, Image>,
    families: BTreeMap<VolumeId, Family>,
    /// Pool block → how many tables name it.
    refs: BTreeMap<u64, u32>,
    pool_next: u64,
    ops: BTreeMap<u64, SnapOp>,
    op_next: u64,
    /// The admin command in progress, and those waiting (one at a time).
    admin: Option<(ReqId, Op)>,
    admin_queue: VecDeque<(ReqId, Op)>,
    /// Statistics for the benchmark: pool blocks written by copy-on-write, and by
    /// image writes.
    pub(super) cow_blocks: u64,
    pub(super) image_write_blocks: u64,
    /// Writes of other paths (S3) in flight per volume with no family (a family
    /// counts its own in `inflight`).
    hooked: BTreeMap<VolumeId, u32>,
}

#[derive(Debug)]
struct Image {
    origin: VolumeId,
    blocks: u64,
    table: BTreeMap<u64, u64>,
}

#[derive(Debug, Default)]
struct Family {
    images: BTreeSet<VolumeId>,
    /// I/O holding the family lock shared.
    inflight: u32,
    /// Set while an admin command holds (or waits for) the lock exclusively.
    gate: bool,
    held: VecDeque<(ReqId, Op)>,
    /// Block indices locked by an operation in flight.
    locked: BTreeSet<u64>,
    /// I/O waiting for a block lock, in arrival order.
    waiting: VecDeque<(ReqId, Op)>,
    /// Writes of other paths waiting for the gate or a block lock, in arrival order:
    /// `(block, values, completion, host)`.
    deferred: VecDeque<(u64, Vec<Value>, Pending, bool)>,
}

#[derive(Debug)]
struct SnapOp {
    req: ReqId,
    family: VolumeId,
    kind: Kind,
    /// Media I/Os of the current step still in flight.
    left: u32,
    first: u64,
    len: u64,
}

#[derive(Debug)]
enum Kind {
    /// Origin write: `Cow` reading the old data, `CowWrite` copying it and putting the
    /// entries, then `Data`.
    OriginWrite {
        values: Vec<Value>,
        stage: Stage,
        copies: Vec<(u64, u64, Vec<VolumeId>)>,
        /// The old data of each copy, as read (`None`: unreadable).
        old: Vec<Option<Value>>,
        /// A write of another path: its completion, instead of a reply.
        then: Option<Box<Pending>>,
    },
    ImageWrite {
        image: VolumeId,
        pool: u64,
        stage: Stage,
    },
    ImageRead {
        values: Vec<Value>,
        failed: bool,
    },
    /// An admin command's metadata put.
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Read,
    Copy,
    Data,
    Entries,
}

fn image_key(image: VolumeId) -> String {
    format!("snap/i/{:08x}", image.0)
}

fn entry_key(image: VolumeId, block: u64) -> String {
    format!("snap/t/{:08x}/{block:016x}", image.0)
}

impl Snapshots {
    /// Rebuilds the images from the durable metadata; returns the clean-up to issue
    /// at `Input::Started` (entries of images whose record is gone).
    pub(super) fn boot(meta: &Metadata) -> (Snapshots, Vec<MediaOp>) {
        let mut s = Snapshots::default();
        let mut work = Vec::new();
        for (key, value) in meta.range("snap/i/".to_string().."snap/i0".to_string()) {
            let Some(id) = key.strip_prefix("snap/i/").and_then(|h| u32::from_str_radix(h, 16).ok()) else {
                continue;
            };
            let text = String::from_utf8_lossy(value);
            let mut f = text.split(' ').map(|x| x.parse::<u64>().ok());
            let (Some(Some(origin)), Some(Some(blocks))) = (f.next(), f.next()) else { continue };
            let image = VolumeId(id);
            let origin = VolumeId(origin as u32);
            s.images.insert(image, Image { origin, blocks, table: BTreeMap::new() });
            s.families.entry(origin).or_default().images.insert(image);
        }
        for (key, value) in meta.range("snap/t/".to_string().."snap/t0".to_string()) {
            let mut parts = key["snap/t/".len()..].split('/');
            let (Some(i), Some(b)) = (parts.next(), parts.next()) else { continue };
            let (Ok(i), Ok(b)) = (u32::from_str_radix(i, 16), u64::from_str_radix(b, 16)) else { continue };
            let pool = String::from_utf8_lossy(value).parse::<u64>().ok();
            match (s.images.get_mut(&VolumeId(i)), pool) {
                (Some(img), Some(p)) => {
                    img.table.insert(b, p);
                    if p != BAD {
                        *s.refs.entry(p).or_default() += 1;
                        s.pool_next = s.pool_next.max(p + 1);
                    }
                }
                _ => work.push(MediaOp::MetaDelete { key: key.clone() }),
            }
        }
        (s, work)
    }

    /// True if the volume is an origin with images (or an admin command is making it
    /// one): it cannot join a pair.
    pub(super) fn has_images(&self, vol: VolumeId) -> bool {
        self.families.get(&vol).is_some_and(|f| !f.images.is_empty())
            || matches!(self.admin, Some((_, Op::Snapshot { vol: v, .. })) if v == vol)
    }

    /// True while a `snapshot` of `vol` is in progress (its record not yet durable).
    pub(super) fn creating(&self, vol: VolumeId) -> bool {
        matches!(self.admin, Some((_, Op::Snapshot { vol: v, .. })) if v == vol)
    }

    /// The size of an image; `None` if no image has this id.
    pub(super) fn image_blocks(&self, image: VolumeId) -> Option<u64> {
        self.images.get(&image).map(|i| i.blocks)
    }

    /// True if the admin command in progress waits for I/O on `vol` to drain.
    pub(super) fn admin_waits_for(&self, vol: VolumeId) -> bool {
        self.families.get(&vol).is_some_and(|f| f.gate)
    }

    /// Pool blocks some table holds.
    pub(super) fn pool_used(&self) -> u64 {
        self.refs.len() as u64
    }

    /// The invariant of the shared-block accounting: every pool block's count is the
    /// number of table entries naming it, and no counted block is unnamed.
    pub(super) fn check_refs(&self) -> Result<(), String> {
        let mut count: BTreeMap<u64, u32> = BTreeMap::new();
        for img in self.images.values() {
            for p in img.table.values().filter(|p| **p != BAD) {
                *count.entry(*p).or_default() += 1;
            }
        }
        if count != self.refs {
            let diff = count
                .iter()
                .find(|(p, c)| self.refs.get(p) != Some(c))
                .map(|(p, c)| (*p, *c, self.refs.get(p).copied().unwrap_or(0)))
                .or_else(|| self.refs.iter().find(|(p, _)| !count.contains_key(p)).map(|(p, c)| (*p, 0, *c)));
            let (p, want, have) = diff.expect("maps differ");
            return Err(format!(
                "snapshot pool block {p}: {want} table entries name it, but it is counted {have}"
            ));
        }
        Ok(())
    }

    pub(super) fn busy(&self) -> bool {
        self.admin.is_some() || !self.ops.is_empty()
    }
}

impl Controller {
    /// Whether host I/O `op` belongs to the snapshot engine: any I/O to an image id,
    /// a write to an origin, a read of an origin while a command holds its lock (held,
    /// so reads cannot starve the command).
    pub(super) fn snap_claims(&self, op: &Op) -> bool {
        let Some(vol) = op.volume() else { return false };
        // A write to a volume in a remote pair takes the remote path, whose media write
        // comes back here (`snap_hooked_write`).
        vol.is_image()
            || self
                .snaps
                .families
                .get(&vol)
                .is_some_and(|f| f.gate || (op.is_write() && !self.remote.claims(op)))
    }

    pub(super) fn snap_io(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        let vol = op.volume().expect("host I/O");
        let (first, len) = op.extent();
        let (family, blocks) = if vol.is_image() {
            match self.snaps.images.get(&vol) {
                Some(img) => (img.origin, img.blocks),
                None => return out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchVolume) }),
            }
        } else {
            (vol, self.volumes[&vol].blocks)
        };
        if len == 0 || first.checked_add(len).is_none_or(|end| end > blocks) {
            return out.push(Output::Reply { req, result: Err(ErrorKind::OutOfRange) });
        }
        let fam = self.snaps.families.get_mut(&family).expect("an image's family");
        if fam.gate {
            return fam.held.push_back((req, op));
        }
        if (first..first + len).any(|b| fam.locked.contains(&b)) {
            return fam.waiting.push_back((req, op));
        }
        fam.locked.extend(first..first + len);
        fam.inflight += 1;
        let id = self.snaps.op_next;
        self.snaps.op_next += 1;
        match op {
            Op::Write { values, .. } if vol.is_image() => {
                let pool = self.snaps.pool_next;
                self.snaps.pool_next += len;
                self.snaps.image_write_blocks += len;
                let kind = Kind::ImageWrite { image: vol, pool, stage: Stage::Data };
                self.snaps.ops.insert(id, SnapOp { req, family, kind, left: 1, first, len });
                let w = MediaOp::Write { space: POOL_SPACE, block: pool, values };
                self.submit(w, Pending::Snap { op: id }, out);
            }
            Op::Write { values, .. } => self.start_origin_write(id, req, family, first, values, None, out),
            Op::Read { .. } => {
                let img = &self.snaps.images[&vol];
                let reads: Vec<(SpaceId, u64)> = (first..first + len)
                    .map(|b| match img.table.get(&b) {
                        Some(&p) => (POOL_SPACE, p),
                        None => (self.volumes[&family].space, b),
                    })
                    .collect();
                if reads.contains(&(POOL_SPACE, BAD)) {
                    // Unreadable since its copy-on-write found a media error.
                    out.push(Output::Reply { req, result: Err(ErrorKind::MediaError) });
                    return self.snap_release(family, first, len, out);
                }
                let kind = Kind::ImageRead { values: vec![Value::ZERO; len as usize], failed: false };
                self.snaps.ops.insert(id, SnapOp { req, family, kind, left: len as u32, first, len });
                for (i, (space, block)) in reads.into_iter().enumerate() {
                    let m = MediaOp::Read { space, block, len: 1 };
                    self.submit(m, Pending::SnapRead { op: id, off: i as u32 }, out);
                }
            }
            _ => unreachable!("host I/O"),
        }
    }

    /// A media completion of a snapshot-engine operation (`off`: a read's block).
    pub(super) fn snap_media_done(
        &mut self,
        id: u64,
        off: Option<u32>,
        result: MediaResult,
        out: &mut Vec<Output>,
    ) {
        let op = self.snaps.ops.get_mut(&id).expect("a live snapshot op");
        op.left -= 1;
        match (&mut op.kind, off) {
            (Kind::ImageRead { values, failed }, Some(i)) => {
                match result {
                    MediaResult::Read(v) => values[i as usize] = v[0],
                    _ => *failed = true,
                }
                if op.left == 0 {
                    let op = self.snaps.ops.remove(&id).expect("live");
                    let Kind::ImageRead { values, failed } = op.kind else { unreachable!() };
                    let result = if failed { Err(ErrorKind::MediaError) } else { Ok(Reply::Values(values)) };
                    out.push(Output::Reply { req: op.req, result });
                    self.snap_release(op.family, op.first, op.len, out);
                }
            }
            (Kind::OriginWrite { old, .. }, Some(i)) => {
                if let MediaResult::Read(v) = result {
                    old[i as usize] = Some(v[0]);
                }
                if op.left == 0 {
                    self.origin_write_step(id, out);
                }
            }
            (Kind::OriginWrite { .. }, None) if op.left == 0 => self.origin_write_step(id, out),
            (Kind::ImageWrite { .. }, _) if op.left == 0 => self.image_write_step(id, out),
            (Kind::Admin, _) if op.left == 0 => {
                let op = self.snaps.ops.remove(&id).expect("live");
                self.snap_admin_durable(op.req, out);
            }
            _ => {}
        }
    }

    fn origin_write_step(&mut self, id: u64, out: &mut Vec<Output>) {
        let op = self.snaps.ops.get_mut(&id).expect("live");
        let (first, family) = (op.first, op.family);
        let Kind::OriginWrite { values, stage, copies, old, .. } = &mut op.kind else { unreachable!() };
        match *stage {
            Stage::Read => {
                // The readable old blocks go to consecutive fresh pool blocks; an
                // unreadable one gets the BAD entry (the write itself goes on: writing
                // a bad sector remaps it).
                let pool = self.snaps.pool_next;
                let mut data = Vec::with_capacity(copies.len());
                for (c, o) in copies.iter_mut().zip(old.iter()) {
                    match o {
                        Some(v) => {
                            c.1 = pool + data.len() as u64;
                            data.push(*v);
                        }
                        None => c.1 = BAD,
                    }
                }
                self.snaps.pool_next += data.len() as u64;
                self.snaps.cow_blocks += data.len() as u64;
                *stage = Stage::Copy;
                if data.is_empty() {
                    op.left = 0;
                    return self.origin_write_step(id, out);
                }
                op.left = 1;
                let m = MediaOp::Write { space: POOL_SPACE, block: pool, values: data };
                self.submit(m, Pending::Snap { op: id }, out);
            }
            Stage::Copy => {
                let puts: Vec<(String, u64)> = copies
                    .iter()
                    .flat_map(|(b, p, imgs)| imgs.iter().map(move |i| (entry_key(*i, *b), *p)))
                    .collect();
                *stage = Stage::Entries;
                op.left = puts.len() as u32;
                for (key, p) in puts {
                    let m = MediaOp::MetaPut { key, value: p.to_string().into_bytes() };
                    self.submit(m, Pending::Snap { op: id }, out);
                }
            }
            Stage::Entries => {
                for (b, p, imgs) in copies.iter() {
                    for i in imgs {
                        self.snaps
                            .images
                            .get_mut(i)
                            .expect("images stay while I/O runs")
                            .table
                            .insert(*b, *p);
                        if *p != BAD {
                            *self.snaps.refs.entry(*p).or_default() += 1;
                        }
                    }
                }
                *stage = Stage::Data;
                op.left = 1;
                let m = MediaOp::Write {
                    space: self.volumes[&family].space,
                    block: first,
                    values: values.clone(),
                };
                self.submit(m, Pending::Snap { op: id }, out);
            }
            Stage::Data => {
                let op = self.snaps.ops.remove(&id).expect("live");
                match op.kind {
                    Kind::OriginWrite { then: Some(then), .. } => {
                        self.dispatch(*then, MediaResult::Written, out)
                    }
                    _ => out.push(Output::Reply { req: op.req, result: Ok(Reply::Done) }),
                }
                self.snap_release(op.family, op.first, op.len, out);
            }
        }
    }

    fn image_write_step(&mut self, id: u64, out: &mut Vec<Output>) {
        let op = self.snaps.ops.get_mut(&id).expect("live");
        let (first, len) = (op.first, op.len);
        let Kind::ImageWrite { image, pool, stage } = &mut op.kind else { unreachable!() };
        let (image, pool) = (*image, *pool);
        match *stage {
            Stage::Data => {
                *stage = Stage::Entries;
                op.left = len as u32;
                for i in 0..len {
                    let m = MediaOp::MetaPut {
                        key: entry_key(image, first + i),
                        value: (pool + i).to_string().into_bytes(),
                    };
                    self.submit(m, Pending::Snap { op: id }, out);
                }
            }
            _ => {
                let img = self.snaps.images.get_mut(&image).expect("images stay while I/O runs");
                let mut released = Vec::new();
                for i in 0..len {
                    if let Some(old) = img.table.insert(first + i, pool + i) {
                        released.push(old);
                    }
                    *self.snaps.refs.entry(pool + i).or_default() += 1;
                }
                for old in released {
                    self.snaps.release_pool(old);
                }
                let op = self.snaps.ops.remove(&id).expect("live");
                out.push(Output::Reply { req: op.req, result: Ok(Reply::Done) });
                self.snap_release(op.family, op.first, op.len, out);
            }
        }
    }

    /// An operation of `family` finished: unlock its blocks, let waiting I/O and a
    /// waiting admin command go.
    fn snap_release(&mut self, family: VolumeId, first: u64, len: u64, out: &mut Vec<Output>) {
        let fam = self.snaps.families.get_mut(&family).expect("a family with I/O");
        for b in first..first + len {
            fam.locked.remove(&b);
        }
        fam.inflight -= 1;
        let waiting: Vec<(ReqId, Op)> = fam.waiting.drain(..).collect();
        let deferred: Vec<_> = fam.deferred.drain(..).collect();
        for (req, op) in waiting {
            self.snap_io(req, op, out);
        }
        for (block, values, then, host) in deferred {
            self.snap_hooked_write(family, block, values, then, host, out);
        }
        // S3: a new secondary's create may wait for its volume's I/O to drain.
        if self.remote_creating_on(family) && !self.snap_family_busy(family) {
            self.remote_volume_idle(family, out);
        }
        self.snap_try_admin(out);
    }

    /// True while I/O of `vol`'s family (origin writes, image I/O) is in flight.
    pub(super) fn snap_family_busy(&self, vol: VolumeId) -> bool {
        self.snaps.families.get(&vol).is_some_and(|f| f.inflight > 0)
    }

    // ---- writes of other paths (S3) ---------------------------------------------

    /// A media write another path makes into `vol`'s space (the remote module: a
    /// primary's local write, a secondary's apply, a copy, a restore of a pre-resync
    /// image, a doubt resolved). With images, it takes the origin-write path
    /// (copy-on-write under the family's block locks, counted as the family's I/O);
    /// while a snapshot or delete holds the family's lock it waits, unless `host`
    /// (the local write of a host write already in flight, which the command drains);
    /// without images it is only counted, so a snapshot that begins drains it.
    /// `then` gets the completion.
    pub(super) fn snap_hooked_write(
        &mut self,
        vol: VolumeId,
        block: u64,
        values: Vec<Value>,
        then: Pending,
        host: bool,
        out: &mut Vec<Output>,
    ) {
        let len = values.len() as u64;
        let Some(fam) = self.snaps.families.get_mut(&vol) else {
            *self.snaps.hooked.entry(vol).or_default() += 1;
            let space = self.volumes[&vol].space;
            let then = Box::new(then);
            return self.submit(MediaOp::Write { space, block, values }, Pending::Hooked { vol, then }, out);
        };
        let blocked = !host && (fam.gate || !fam.deferred.is_empty());
        if blocked || (block..block + len).any(|b| fam.locked.contains(&b)) {
            return fam.deferred.push_back((block, values, then, host));
        }
        fam.locked.extend(block..block + len);
        fam.inflight += 1;
        let id = self.snaps.op_next;
        self.snaps.op_next += 1;
        let req = ReqId { host: u32::MAX, seq: id };
        self.start_origin_write(id, req, vol, block, values, Some(Box::new(then)), out);
    }

    /// Starts origin write `id` of `values` at `first` (its blocks locked): reads the
    /// old data of every block some image of `family` still shares (one read per
    /// block, so a latent sector error costs only its own block), or writes at once
    /// when none does. `then` is the completion of a write of another path.
    #[allow(clippy::too_many_arguments)]
    fn start_origin_write(
        &mut self,
        id: u64,
        req: ReqId,
        family: VolumeId,
        first: u64,
        values: Vec<Value>,
        then: Option<Box<Pending>>,
        out: &mut Vec<Output>,
    ) {
        let len = values.len() as u64;
        let fam = &self.snaps.families[&family];
        // Which images still share each block with the origin.
        let copies: Vec<(u64, u64, Vec<VolumeId>)> = (first..first + len)
            .filter_map(|b| {
                let lacking: Vec<VolumeId> = fam
                    .images
                    .iter()
                    .copied()
                    .filter(|i| !self.snaps.images[i].table.contains_key(&b))
                    .collect();
                (!lacking.is_empty()).then_some((b, 0, lacking))
            })
            .collect();
        let space = self.volumes[&family].space;
        let old = vec![None; copies.len()];
        let reads: Vec<u64> = copies.iter().map(|c| c.0).collect();
        if reads.is_empty() {
            let kind = Kind::OriginWrite { values: values.clone(), stage: Stage::Data, copies, old, then };
            self.snaps.ops.insert(id, SnapOp { req, family, kind, left: 1, first, len });
            return self.submit(
                MediaOp::Write { space, block: first, values },
                Pending::Snap { op: id },
                out,
            );
        }
        let kind = Kind::OriginWrite { values, stage: Stage::Read, copies, old, then };
        self.snaps.ops.insert(id, SnapOp { req, family, kind, left: reads.len() as u32, first, len });
        for (i, block) in reads.into_iter().enumerate() {
            self.submit(
                MediaOp::Read { space, block, len: 1 },
                Pending::SnapRead { op: id, off: i as u32 },
                out,
            );
        }
    }

    /// A counted write of another path completed (no family when it began).
    pub(super) fn snap_hooked_done(
        &mut self,
        vol: VolumeId,
        then: Pending,
        result: MediaResult,
        out: &mut Vec<Output>,
    ) {
        let n = self.snaps.hooked.get_mut(&vol).expect("a counted write");
        *n -= 1;
        if *n == 0 {
            self.snaps.hooked.remove(&vol);
        }
        self.dispatch(then, result, out);
        self.snap_try_admin(out);
    }

    // ---- admin commands ---------------------------------------------------------

    pub(super) fn snap_admin(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        self.snaps.admin_queue.push_back((req, op));
        self.snap_try_admin(out);
    }

    /// The rules of the model (`model::images`), in its order.
    fn snapshot_check(&self, vol: VolumeId, image: VolumeId) -> Result<u64, ErrorKind> {
        let blocks = if vol.is_image() {
            self.snaps.images.get(&vol).ok_or(ErrorKind::NoSuchVolume)?.blocks
        } else {
            self.volumes.get(&vol).ok_or(ErrorKind::NoSuchVolume)?.blocks
        };
        if vol.is_image() || !image.is_image() {
            return Err(ErrorKind::InvalidImage);
        }
        if self.snaps.images.contains_key(&image) {
            return Err(ErrorKind::ImageExists);
        }
        let v = &self.volumes[&vol];
        if v.pair.is_some() {
            return Err(ErrorKind::InPair);
        }
        if self.bk.holds_regions(vol) {
            return Err(ErrorKind::HasBackups);
        }
        if v.inconsistent {
            return Err(ErrorKind::Inconsistent);
        }
        self.remote_snapshot_allowed(vol)?;
        Ok(blocks)
    }

    pub(super) fn snap_try_admin(&mut self, out: &mut Vec<Output>) {
        loop {
            if self.snaps.admin.is_none() {
                // S0: a snapshot of a volume a backup or restore command gates waits
                // for it to answer (`ungate` calls back).
                if let Some((_, Op::Snapshot { vol, .. })) = self.snaps.admin_queue.front()
                    && self.bk.gates(*vol)
                {
                    return;
                }
                // S3: a snapshot of a volume whose group holds its host I/O (a command
                // changing roles, a restarted primary's recovery) waits for it
                // (`release_held` calls back).
                if let Some((_, Op::Snapshot { vol, .. })) = self.snaps.admin_queue.front()
                    && self.remote_holds(*vol)
                {
                    return;
                }
                let Some((req, op)) = self.snaps.admin_queue.pop_front() else { return };
                let family = match op {
                    Op::Snapshot { vol, image } => match self.snapshot_check(vol, image) {
                        Ok(_) => vol,
                        Err(e) => {
                            out.push(Output::Reply { req, result: Err(e) });
                            continue;
                        }
                    },
                    Op::DeleteSnapshot { image } => match self.snaps.images.get(&image) {
                        Some(img) => img.origin,
                        None => {
                            out.push(Output::Reply { req, result: Err(ErrorKind::NoSuchImage) });
                            continue;
                        }
                    },
                    _ => unreachable!("a snapshot command"),
                };
                self.snaps.families.entry(family).or_default().gate = true;
                self.snaps.admin = Some((req, op));
            }
            let (req, op) = self.snaps.admin.clone().expect("set above");
            let family = match op {
                Op::Snapshot { vol, .. } => vol,
                Op::DeleteSnapshot { image } => self.snaps.images[&image].origin,
                _ => unreachable!(),
            };
            // Shared holders: the family's I/O, and I/O to the origin that began before
            // it was one (plain reads and writes).
            #[cfg_attr(not(feature = "planted-bugs"), allow(unused_mut))]
            let mut drained = self.snaps.families[&family].inflight == 0
                && self.volumes[&family].inflight == 0
                && !self.snaps.hooked.contains_key(&family);
            // Planted: the snapshot takes the table without the family lock, so a
            // write whose copy-on-write already ran lands on the origin after the
            // image exists (half before, half after the snapshot).
            #[cfg(feature = "planted-bugs")]
            if self.planted.contains("snapshot-outside-lock") && matches!(op, Op::Snapshot { .. }) {
                drained = true;
                self.snaps.families.get_mut(&family).expect("exists").gate = false;
            }
            if !drained || self.snaps.ops.values().any(|o| matches!(o.kind, Kind::Admin)) {
                return;
            }
            // S3: the group may have changed while the volume drained (a link loss
            // fenced the primary, a resync began at the secondary): its rule again, now
            // that nothing can change the volume until the record is durable.
            if let Op::Snapshot { vol, .. } = op
                && let Err(e) = self.remote_snapshot_allowed(vol)
            {
                self.snaps.admin = None;
                out.push(Output::Reply { req, result: Err(e) });
                self.snap_lift_gate(family, out);
                continue;
            }
            let id = self.snaps.op_next;
            self.snaps.op_next += 1;
            self.snaps.ops.insert(id, SnapOp { req, family, kind: Kind::Admin, left: 1, first: 0, len: 0 });
            let m = match op {
                Op::Snapshot { vol, image } => MediaOp::MetaPut {
                    key: image_key(image),
                    value: format!("{} {}", vol.0, self.volumes[&vol].blocks).into_bytes(),
                },
                Op::DeleteSnapshot { image } => MediaOp::MetaDelete { key: image_key(image) },
                _ => unreachable!(),
            };
            self.submit(m, Pending::Snap { op: id }, out);
            return;
        }
    }

    /// The admin command's record is durable: its linearization point.
    fn snap_admin_durable(&mut self, req: ReqId, out: &mut Vec<Output>) {
        let (r, op) = self.snaps.admin.take().expect("an admin command in progress");
        debug_assert_eq!(r, req);
        let family = match op {
            Op::Snapshot { vol, image } => {
                // The cut: no write to the origin may be in flight at the snapshot
                // point (it would land after it, and show through the new image).
                let (fam_io, vol_io) = (self.snaps.families[&vol].inflight, self.volumes[&vol].inflight);
                if fam_io + vol_io > 0 {
                    self.violate(format!(
                        "snapshot {image} of {vol} took effect with {} I/Os to the volume in flight",
                        fam_io + vol_io
                    ));
                }
                let blocks = self.volumes[&vol].blocks;
                self.snaps.images.insert(image, Image { origin: vol, blocks, table: BTreeMap::new() });
                self.snaps.families.get_mut(&vol).expect("gated").images.insert(image);
                vol
            }
            Op::DeleteSnapshot { image } => {
                let img = self.snaps.images.remove(&image).expect("checked");
                for (b, p) in &img.table {
                    self.snaps.release_pool(*p);
                    self.submit(MediaOp::MetaDelete { key: entry_key(image, *b) }, Pending::Forget, out);
                }
                self.snaps.families.get_mut(&img.origin).expect("exists").images.remove(&image);
                img.origin
            }
            _ => unreachable!(),
        };
        out.push(Output::Reply { req, result: Ok(Reply::Done) });
        self.snap_lift_gate(family, out);
        self.snap_try_admin(out);
    }

    /// The admin command of `family` is over: lift its lock, let held I/O go.
    fn snap_lift_gate(&mut self, family: VolumeId, out: &mut Vec<Output>) {
        let fam = self.snaps.families.get_mut(&family).expect("exists");
        fam.gate = false;
        let held: Vec<(ReqId, Op)> = fam.held.drain(..).collect();
        let deferred: Vec<_> = fam.deferred.drain(..).collect();
        if fam.images.is_empty() {
            // No image left: the volume is plain again (nothing of the family is in
            // flight: the command drained it), and the held I/O takes the plain path.
            debug_assert!(fam.inflight == 0 && fam.waiting.is_empty());
            self.snaps.families.remove(&family);
        }
        for (req, op) in held {
            self.io(req, op, out);
        }
        for (block, values, then, host) in deferred {
            self.snap_hooked_write(family, block, values, then, host, out);
        }
    }
}

impl Snapshots {
    fn release_pool(&mut self, p: u64) {
        if p == BAD {
            return;
        }
        let c = self.refs.get_mut(&p).expect("a counted pool block");
        *c -= 1;
        if *c == 0 {
            self.refs.remove(&p);
        }
    }
}

/// What the snapshot engine did, for `mirrorsim bench`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Pool blocks some image's table holds now (shared blocks counted once).
    pub pool_used: u64,
    /// Table entries of all images (a shared pool block counted once per image).
    pub entries: u64,
    /// Pool blocks written by copy-on-write so far (one per origin block, however
    /// many images shared it).
    pub cow_blocks: u64,
    /// Pool blocks written by image writes so far.
    pub image_write_blocks: u64,
}

impl Controller {
    /// The snapshot engine's accounting (see [`SnapshotStats`]).
    pub fn snapshot_stats(&self) -> SnapshotStats {
        SnapshotStats {
            pool_used: self.snaps.pool_used(),
            entries: self.snaps.images.values().flat_map(|i| i.table.values()).filter(|p| **p != BAD).count()
                as u64,
            cow_blocks: self.snaps.cow_blocks,
            image_write_blocks: self.snaps.image_write_blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::ArrayEngine;
    use model::{ArrayId, OpResult};

    /// A controller over instant, in-order media: every output is carried out at once.
    struct Rig {
        c: Controller,
        config: ArrayConfig,
        media: BTreeMap<(SpaceId, u64), Value>,
        meta: Metadata,
        seq: u64,
        /// Media and metadata operations submitted so far.
        media_ops: u64,
    }

    impl Rig {
        fn new(blocks: u64) -> Rig {
            let config = ArrayConfig {
                id: ArrayId(0),
                name: "A".into(),
                volumes: vec![(VolumeId(0), blocks), (VolumeId(1), blocks)],
                change_grain: 1,
                remote_volumes: Vec::new(),
            };
            let mut r = Rig {
                c: Controller::new(&config),
                config,
                media: BTreeMap::new(),
                meta: Metadata::new(),
                seq: 0,
                media_ops: 0,
            };
            r.drive(Input::Started);
            r
        }

        fn restart(&mut self) {
            self.c = Controller::boot(&self.config, &self.meta);
            self.drive(Input::Started);
        }

        fn drive(&mut self, input: Input) -> Vec<OpResult> {
            let mut queue = VecDeque::from([input]);
            let mut replies = Vec::new();
            while let Some(i) = queue.pop_front() {
                let mut out = Vec::new();
                self.c.handle(i, &mut out);
                for o in out {
                    match o {
                        Output::Reply { result, .. } => replies.push(result),
                        Output::Media { io, op } => {
                            self.media_ops += 1;
                            let result = match op {
                                MediaOp::Read { space, block, len } => MediaResult::Read(
                                    (0..u64::from(len))
                                        .map(|i| {
                                            self.media.get(&(space, block + i)).copied().unwrap_or_default()
                                        })
                                        .collect(),
                                ),
                                MediaOp::Write { space, block, values } => {
                                    for (i, v) in values.into_iter().enumerate() {
                                        self.media.insert((space, block + i as u64), v);
                                    }
                                    MediaResult::Written
                                }
                                MediaOp::MetaPut { key, value }
                                | MediaOp::MetaPutAnnounced { key, value, .. } => {
                                    self.meta.insert(key, value);
                                    MediaResult::Written
                                }
                                MediaOp::MetaDelete { key } => {
                                    self.meta.remove(&key);
                                    MediaResult::Written
                                }
                                MediaOp::Allocated { .. } => MediaResult::Allocated(Vec::new()),
                            };
                            queue.push_back(Input::MediaDone { io, result });
                        }
                        _ => {}
                    }
                }
            }
            replies
        }

        fn op(&mut self, op: Op) -> OpResult {
            self.seq += 1;
            let mut r = self.drive(Input::Host { req: ReqId { host: 1, seq: self.seq }, op });
            assert_eq!(r.len(), 1, "one reply");
            assert_eq!(self.c.check(&Probe::MediaWrite { space: POOL_SPACE, block: 0, len: 0 }), Ok(()));
            r.remove(0)
        }

        fn write(&mut self, vol: VolumeId, block: u64, seq: u32) {
            let values = vec![Value::pack(1, seq, 0)];
            assert_eq!(self.op(Op::Write { vol, block, values }), Ok(Reply::Done));
        }

        fn read(&mut self, vol: VolumeId, block: u64) -> OpResult {
            self.op(Op::Read { vol, block, len: 1 })
        }
    }

    fn img(n: u32) -> VolumeId {
        VolumeId(VolumeId::IMAGE_BASE + n)
    }

    fn vals(seq: u32) -> OpResult {
        Ok(Reply::Values(vec![if seq == 0 { Value::ZERO } else { Value::pack(1, seq, 0) }]))
    }

    const V: VolumeId = VolumeId(0);

    #[test]
    fn shared_blocks_are_counted_not_copied_and_a_delete_frees_what_only_it_held() {
        let mut r = Rig::new(64);
        for b in 0..8 {
            r.write(V, b, 1 + b as u32);
        }
        // Three generations share every block with the origin: no copy yet.
        for g in 0..3 {
            assert_eq!(r.op(Op::Snapshot { vol: V, image: img(g) }), Ok(Reply::Done));
        }
        assert_eq!(r.c.snapshot_stats(), SnapshotStats::default());
        // The first overwrite of a block copies it once for all three images.
        r.write(V, 0, 100);
        let s = r.c.snapshot_stats();
        assert_eq!((s.cow_blocks, s.pool_used, s.entries), (1, 1, 3));
        r.write(V, 0, 101); // no image shares block 0 any more: no copy
        assert_eq!(r.c.snapshot_stats().cow_blocks, 1);
        // A fourth generation, then block 0 again: one more copy, for it alone.
        assert_eq!(r.op(Op::Snapshot { vol: V, image: img(3) }), Ok(Reply::Done));
        r.write(V, 0, 102);
        let s = r.c.snapshot_stats();
        assert_eq!((s.cow_blocks, s.pool_used, s.entries), (2, 2, 4));
        // An image's own write is private and takes a pool block of its own.
        r.write(img(1), 1, 200);
        assert_eq!(r.read(img(1), 1), vals(200));
        assert_eq!(r.read(V, 1), vals(2));
        assert_eq!(r.read(img(0), 1), vals(2));
        let s = r.c.snapshot_stats();
        assert_eq!((s.pool_used, s.entries, s.image_write_blocks), (3, 5, 1));
        for g in 0..3 {
            assert_eq!(r.read(img(g), 0), vals(1), "generation {g}");
        }
        assert_eq!(r.read(img(3), 0), vals(101));
        // Deleting img1 frees only its private block; the shared copy stays for 0 and 2.
        assert_eq!(r.op(Op::DeleteSnapshot { image: img(1) }), Ok(Reply::Done));
        let s = r.c.snapshot_stats();
        assert_eq!((s.pool_used, s.entries), (2, 3));
        assert_eq!(r.op(Op::DeleteSnapshot { image: img(0) }), Ok(Reply::Done));
        assert_eq!(r.c.snapshot_stats().pool_used, 2, "img2 still holds the shared copy");
        assert_eq!(r.op(Op::DeleteSnapshot { image: img(2) }), Ok(Reply::Done));
        assert_eq!(r.c.snapshot_stats().pool_used, 1, "the last holder of the shared copy is gone");
        assert_eq!(r.op(Op::DeleteSnapshot { image: img(3) }), Ok(Reply::Done));
        assert_eq!(r.c.snapshot_stats().pool_used, 0);
        assert!(!r.meta.keys().any(|k| k.starts_with("snap/")), "no metadata left: {:?}", r.meta.keys());
        // The volume is plain again: it may join a pair.
        let p = model::PairId(1);
        assert_eq!(r.op(Op::PairCreate { pair: p, source: V, mirror: VolumeId(1) }), Ok(Reply::Done));
    }

    #[test]
    fn snapshot_cost_is_independent_of_volume_size_and_images_survive_a_restart() {
        for blocks in [64, 1 << 20, 1 << 40] {
            let mut r = Rig::new(blocks);
            for b in 0..32 {
                r.write(V, b * (blocks / 32), 1 + b as u32);
            }
            let before = r.media_ops;
            assert_eq!(r.op(Op::Snapshot { vol: V, image: img(0) }), Ok(Reply::Done));
            assert_eq!(r.media_ops - before, 1, "one metadata put for {blocks} blocks");
            r.write(V, 0, 500);
            r.write(img(0), blocks - 1, 600);
            r.restart();
            assert_eq!(r.read(img(0), 0), vals(1));
            assert_eq!(r.read(V, 0), vals(500));
            assert_eq!(r.read(img(0), blocks - 1), vals(600));
            assert_eq!(r.read(V, blocks - 1), vals(0));
            let s = r.c.snapshot_stats();
            assert_eq!((s.pool_used, s.entries), (2, 2), "rebuilt from the metadata");
            r.write(V, 0, 501); // the image already holds block 0: no copy
            assert_eq!(r.read(img(0), 0), vals(1));
            assert_eq!(r.c.snapshot_stats().pool_used, 2);
        }
    }

    #[test]
    fn refusals_follow_the_model() {
        let mut r = Rig::new(16);
        assert_eq!(r.read(img(0), 0), Err(ErrorKind::NoSuchVolume));
        assert_eq!(r.op(Op::Snapshot { vol: VolumeId(7), image: img(0) }), Err(ErrorKind::NoSuchVolume));
        assert_eq!(r.op(Op::Snapshot { vol: V, image: VolumeId(1) }), Err(ErrorKind::InvalidImage));
        assert_eq!(r.op(Op::Snapshot { vol: V, image: img(0) }), Ok(Reply::Done));
        assert_eq!(r.op(Op::Snapshot { vol: VolumeId(1), image: img(0) }), Err(ErrorKind::ImageExists));
        assert_eq!(r.op(Op::Snapshot { vol: img(0), image: img(1) }), Err(ErrorKind::InvalidImage));
        assert_eq!(r.op(Op::Read { vol: img(0), block: 15, len: 2 }), Err(ErrorKind::OutOfRange));
        let p = model::PairId(1);
        assert_eq!(
            r.op(Op::PairCreate { pair: p, source: V, mirror: VolumeId(1) }),
            Err(ErrorKind::HasImages)
        );
        assert_eq!(r.op(Op::PairCreate { pair: p, source: img(0), mirror: V }), Err(ErrorKind::InvalidPair));
        assert_eq!(r.op(Op::DeleteSnapshot { image: img(1) }), Err(ErrorKind::NoSuchImage));
    }
}
