//! An in-memory array served by many threads at once, built from the shared
//! structures: the engine `mirrorsim stress` drives with real host and copier
//! threads.
//!
//! Its layout is fixed when it is built ([`Layout`]): plain volumes, at most one
//! mirror pair slot (source, mirror) and at most one snapshot slot (volume, image).
//! It answers the same [`Op`]s with the same results as the model:
//!
//! - **Plain volumes**: a read or write is one atomic load or store per block.
//! - **The mirror pair** (SPEC §2 S2, without protected restore and delete): host I/O passes the
//!   pair's command [`Gate`]; commands (`pair_create`, `split`, `resync`) and the
//!   end of a copy inhibit it, so they see no I/O half-done. In `Mirrored` a write
//!   goes to both volumes, block by block under a striped block lock (two writes
//!   to one block must reach the two volumes in the same order). In `Split` a write
//!   sets its side's [`ChangeMap`] bit, then writes its volume. A copy (`Copy`,
//!   `Resync`) copies the chunks whose source-map bit is set (a resync first
//!   absorbs the mirror's map into the source's: the union); host writes to the
//!   source meanwhile hold their chunks in the [`Interlock`], set the bit (the chunk
//!   is copied again) and write the source only. The copier claims a chunk with
//!   [`Interlock::try_copy`], clears its bit and copies it; its last pass runs under
//!   the gate's inhibit and the pair becomes `Mirrored` there, the instant the
//!   caller records as the `copy_done` event. An (unprotected) restore copies the
//!   same union the other way, mirror to source: host reads of the source are served
//!   from the mirror for chunks whose bit is still set, host writes go to both
//!   volumes (the mirror follows the source again) holding their chunks in the
//!   interlock, and the copier clears a chunk's bit only after copying it.
//! - **The snapshot slot** (SPEC §2 S4) is a volume with a [`LookupTable`]; until the
//!   snapshot is taken its image volume is not accessible, afterwards it is the
//!   volume's image at that instant, readable and privately writable.
//!
//! The model has no snapshot operation yet, so a history records the snapshot slot as
//! what it means in the model: a pair created and `Mirrored` before any I/O (the image
//! is not accessible and has no data of its own) whose `split` is the snapshot
//! (image := volume at that instant, host-accessible and writable, its writes
//! private). [`ThreadedArray::setup_ops`] lists those set-up operations.
//!
//! The engine's own invariants (as `ArrayEngine::check` in the simulated engine) are
//! checked at every quiescent point it reaches (under an inhibit, and when the caller
//! asks with [`ThreadedArray::check_quiescent`]): in `Mirrored` the mirror equals the
//! source; in `Split` every chunk that differs has a bit.

use super::blocks::Blocks;
use super::change_map::ChangeMap;
use super::gate::Gate;
use super::interlock::Interlock;
use super::lookup::{ImageIx, LookupTable};
use super::sync::{AtomicU64, Mutex, Ordering, lock};
use model::{ErrorKind, Op, OpResult, PairEvent, PairId, PairState, Reply, Value, VolumeId};
use std::collections::BTreeMap;

/// Stripes of the block lock that orders mirrored writes.
const STRIPES: u64 = 64;

/// What a threaded array holds.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Every volume and its size in blocks (pair and snapshot volumes included).
    pub volumes: Vec<(VolumeId, u64)>,
    /// Blocks per change-map bit and interlock chunk.
    pub grain: u64,
    /// The pair slot: (pair id, source, mirror). The pair does not exist until a
    /// `pair_create` names exactly this.
    pub pair: Option<(PairId, VolumeId, VolumeId)>,
    /// The snapshot slot: (the pair id histories use for it, volume, image).
    pub snapshot: Option<(PairId, VolumeId, VolumeId)>,
    /// Yield the thread inside the race windows (between a copier's read of a chunk
    /// and its write; between a host write's bit and its data), so a stress run hits
    /// the interleavings the protections exist for more often. Off when measuring.
    pub perturb: bool,
}

/// Which protections to remove (only for showing the stress catches their absence).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Broken {
    pub interlock: bool,
    pub change_map: bool,
    pub lookup: bool,
    pub gate: bool,
}

#[derive(Debug)]
struct PairSlot {
    id: PairId,
    source: VolumeId,
    mirror: VolumeId,
    /// 0: no pair; otherwise `1 + index in PairState::ALL`. Changed only under an
    /// inhibit, so a gate pass reads a stable value.
    state: AtomicU64,
    gate: Gate,
    source_map: ChangeMap,
    mirror_map: ChangeMap,
    interlock: Interlock,
    stripes: Box<[Mutex<()>]>,
}

#[derive(Debug)]
struct SnapSlot {
    id: PairId,
    volume: VolumeId,
    image: VolumeId,
    table: LookupTable,
    /// Serializes snapshot commands.
    command: Mutex<()>,
}

/// What one copier pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyPass {
    /// Chunks copied.
    pub copied: u64,
    /// Chunks skipped because host writes held them.
    pub skipped: u64,
    /// Bits still set after the pass.
    pub remaining: u64,
}

/// The in-memory multi-threaded array. `Send + Sync`: share it by reference.
#[derive(Debug)]
pub struct ThreadedArray {
    volumes: BTreeMap<VolumeId, Blocks>,
    grain: u64,
    perturb: bool,
    pair: Option<PairSlot>,
    snap: Option<SnapSlot>,
    violations: Mutex<Vec<String>>,
}

fn state_code(s: Option<PairState>) -> u64 {
    s.map_or(0, |s| 1 + PairState::ALL.iter().position(|x| *x == s).expect("a state") as u64)
}

fn state_of(code: u64) -> Option<PairState> {
    code.checked_sub(1).map(|i| PairState::ALL[i as usize])
}

impl ThreadedArray {
    pub fn new(layout: &Layout) -> ThreadedArray {
        ThreadedArray::build(layout, Broken::default())
    }

    /// The array with the named protections removed.
    #[cfg(any(loom, feature = "planted-bugs"))]
    pub fn with_broken(layout: &Layout, broken: Broken) -> ThreadedArray {
        ThreadedArray::build(layout, broken)
    }

    fn build(layout: &Layout, broken: Broken) -> ThreadedArray {
        assert!(layout.grain > 0, "a chunk has at least one block");
        let volumes: BTreeMap<VolumeId, Blocks> =
            layout.volumes.iter().map(|(id, blocks)| (*id, Blocks::new(*blocks))).collect();
        let size = |v: VolumeId| volumes.get(&v).map(Blocks::len).expect("a slot names a declared volume");
        let pair = layout.pair.map(|(id, source, mirror)| {
            assert_eq!(size(source), size(mirror), "a pair's volumes have one size");
            let chunks = size(source).div_ceil(layout.grain);
            PairSlot {
                id,
                source,
                mirror,
                state: AtomicU64::new(0),
                gate: make_gate(broken.gate),
                source_map: make_map(chunks, broken.change_map),
                mirror_map: make_map(chunks, broken.change_map),
                interlock: make_interlock(broken.interlock),
                stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            }
        });
        let snap = layout.snapshot.map(|(id, volume, image)| {
            assert_eq!(size(volume), size(image), "an image has its volume's size");
            SnapSlot {
                id,
                volume,
                image,
                table: make_table(broken.lookup).perturbed(layout.perturb),
                command: Mutex::new(()),
            }
        });
        ThreadedArray {
            volumes,
            grain: layout.grain,
            perturb: layout.perturb,
            pair,
            snap,
            violations: Mutex::new(Vec::new()),
        }
    }

    /// The operations a history starts with to describe this array's set-up in the
    /// model's terms: the snapshot slot as a pair that is `Mirrored` from the start.
    pub fn setup_ops(&self) -> Vec<Op> {
        match &self.snap {
            Some(s) => vec![
                Op::PairCreate { pair: s.id, source: s.volume, mirror: s.image },
                Op::PairEvent { pair: s.id, event: PairEvent::CopyDone },
            ],
            None => Vec::new(),
        }
    }

    /// The engine invariant violations found so far.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
    }

    /// The pair's state (`None` before `pair_create`).
    pub fn pair_state(&self) -> Option<PairState> {
        self.pair.as_ref().and_then(|p| state_of(p.state.load(Ordering::SeqCst)))
    }

    /// Executes one host operation or command, as the model would answer it.
    pub fn execute(&self, op: &Op) -> OpResult {
        match op {
            Op::Read { vol, block, len } => {
                self.validate(*vol, *block, u64::from(*len))?;
                self.read(*vol, *block, u64::from(*len)).map(Reply::Values)
            }
            Op::Write { vol, block, values } => {
                self.validate(*vol, *block, values.len() as u64)?;
                self.write(*vol, *block, values).map(|()| Reply::Done)
            }
            Op::PairCreate { pair, source, mirror } => self.pair_create(*pair, *source, *mirror),
            Op::Split { pair } => self.split(*pair),
            Op::Resync { pair } => self.resync(*pair),
            Op::Restore { pair, protected: false } => self.restore(*pair),
            // The stress driver issues only the commands above (docs/stress.md).
            _ => panic!("the threaded array does not implement {op}"),
        }
    }

    fn validate(&self, vol: VolumeId, block: u64, count: u64) -> Result<(), ErrorKind> {
        let v = self.volumes.get(&vol).ok_or(ErrorKind::NoSuchVolume)?;
        let end = block.checked_add(count).ok_or(ErrorKind::OutOfRange)?;
        if count == 0 || end > v.len() {
            return Err(ErrorKind::OutOfRange);
        }
        Ok(())
    }

    fn chunks(&self, block: u64, count: u64) -> std::ops::Range<u64> {
        block / self.grain..(block + count - 1) / self.grain + 1
    }

    fn read(&self, vol: VolumeId, block: u64, len: u64) -> Result<Vec<Value>, ErrorKind> {
        let data = &self.volumes[&vol];
        let plain = || (block..block + len).map(|b| Value(data.load(b))).collect();
        if let Some(p) = self.pair.as_ref().filter(|p| p.source == vol || p.mirror == vol) {
            let _pass = p.gate.enter();
            let state = state_of(p.state.load(Ordering::SeqCst));
            if vol == p.mirror && state.is_some_and(|s| s != PairState::Split) {
                return Err(ErrorKind::NotAccessible);
            }
            if vol == p.source && state == Some(PairState::Restore) {
                // A chunk not yet restored is read from the mirror (its bit is
                // cleared only after the copy, so a clear bit means the source has it).
                let mirror = &self.volumes[&p.mirror];
                let from = |b: u64| if p.source_map.is_set(b / self.grain) { mirror } else { data };
                return Ok((block..block + len).map(|b| Value(from(b).load(b))).collect());
            }
            return Ok(plain());
        }
        if let Some(s) = self.snap.as_ref().filter(|s| s.image == vol) {
            let source = &self.volumes[&s.volume];
            let values = s.table.read_image_range(source, ImageIx(0), block, len);
            return values.map(|v| v.into_iter().map(Value).collect()).ok_or(ErrorKind::NotAccessible);
        }
        Ok(plain())
    }

    fn write(&self, vol: VolumeId, block: u64, values: &[Value]) -> Result<(), ErrorKind> {
        let data = &self.volumes[&vol];
        if let Some(p) = self.pair.as_ref().filter(|p| p.source == vol || p.mirror == vol) {
            return self.pair_write(p, vol, block, values);
        }
        if let Some(s) = self.snap.as_ref() {
            if s.volume == vol {
                for (i, v) in values.iter().enumerate() {
                    s.table.write_volume(data, block + i as u64, v.0);
                }
                return Ok(());
            }
            if s.image == vol {
                let raw: Vec<u64> = values.iter().map(|v| v.0).collect();
                return s.table.write_image_range(ImageIx(0), block, &raw).ok_or(ErrorKind::NotAccessible);
            }
        }
        for (i, v) in values.iter().enumerate() {
            data.store(block + i as u64, v.0);
        }
        Ok(())
    }

    fn pair_write(&self, p: &PairSlot, vol: VolumeId, block: u64, values: &[Value]) -> Result<(), ErrorKind> {
        let _pass = p.gate.enter();
        let state = state_of(p.state.load(Ordering::SeqCst));
        let data = &self.volumes[&vol];
        let chunks = self.chunks(block, values.len() as u64);
        match state {
            None => {}
            Some(PairState::Restore) if vol == p.source => {
                // The mirror follows the source again; the copier must not copy the
                // chunk from the mirror while the write is half on both.
                let _hold = p.interlock.write(chunks);
                self.write_both(p, block, values);
                return Ok(());
            }
            Some(PairState::Mirrored) if vol == p.source => {
                self.write_both(p, block, values);
                return Ok(());
            }
            Some(PairState::Copy | PairState::Resync) if vol == p.source => {
                let _hold = p.interlock.write(chunks.clone());
                for c in chunks {
                    p.source_map.set(c);
                }
                self.perturb();
                store_all(data, block, values);
                return Ok(());
            }
            Some(PairState::Split) => {
                let map = if vol == p.source { &p.source_map } else { &p.mirror_map };
                for c in chunks {
                    map.set(c);
                }
            }
            Some(PairState::Suspended) if vol == p.source => {
                for c in chunks {
                    p.source_map.set(c);
                }
            }
            Some(_) if vol == p.mirror => return Err(ErrorKind::NotAccessible),
            Some(s) => panic!("the threaded array has no pair state {s}"),
        }
        store_all(data, block, values);
        Ok(())
    }

    fn pair_slot(&self, pair: PairId) -> Result<&PairSlot, ErrorKind> {
        self.pair.as_ref().filter(|p| p.id == pair).ok_or(ErrorKind::NoSuchPair)
    }

    fn pair_create(&self, pair: PairId, source: VolumeId, mirror: VolumeId) -> OpResult {
        let p = self
            .pair
            .as_ref()
            .filter(|p| (p.id, p.source, p.mirror) == (pair, source, mirror))
            .expect("pair_create names the array's pair slot");
        let _inhibit = p.gate.inhibit();
        if state_of(p.state.load(Ordering::SeqCst)).is_some() {
            return Err(ErrorKind::PairExists);
        }
        p.source_map.set_all();
        p.state.store(state_code(Some(PairState::Copy)), Ordering::SeqCst);
        Ok(Reply::Done)
    }

    fn split(&self, pair: PairId) -> OpResult {
        if let Some(s) = self.snap.as_ref().filter(|s| s.id == pair) {
            let _one = lock(&s.command);
            if s.table.images() > 0 {
                return Err(ErrorKind::WrongState(PairState::Split));
            }
            s.table.snapshot();
            return Ok(Reply::Done);
        }
        let p = self.pair_slot(pair)?;
        let _inhibit = p.gate.inhibit();
        match state_of(p.state.load(Ordering::SeqCst)) {
            None => Err(ErrorKind::NoSuchPair),
            Some(PairState::Mirrored) => {
                self.check_pair(p);
                p.state.store(state_code(Some(PairState::Split)), Ordering::SeqCst);
                Ok(Reply::Done)
            }
            Some(s) => Err(ErrorKind::WrongState(s)),
        }
    }

    fn resync(&self, pair: PairId) -> OpResult {
        let p = self.pair_slot(pair)?;
        let _inhibit = p.gate.inhibit();
        match state_of(p.state.load(Ordering::SeqCst)) {
            None => Err(ErrorKind::NoSuchPair),
            Some(PairState::Split | PairState::Suspended) => {
                self.check_pair(p);
                p.source_map.absorb(&p.mirror_map);
                p.state.store(state_code(Some(PairState::Resync)), Ordering::SeqCst);
                Ok(Reply::Done)
            }
            Some(s) => Err(ErrorKind::WrongState(s)),
        }
    }

    fn write_both(&self, p: &PairSlot, block: u64, values: &[Value]) {
        let (source, mirror) = (&self.volumes[&p.source], &self.volumes[&p.mirror]);
        for (i, v) in values.iter().enumerate() {
            let b = block + i as u64;
            let _order = lock(&p.stripes[(b % STRIPES) as usize]);
            source.store(b, v.0);
            mirror.store(b, v.0);
        }
    }

    fn restore(&self, pair: PairId) -> OpResult {
        let p = self.pair_slot(pair)?;
        let _inhibit = p.gate.inhibit();
        match state_of(p.state.load(Ordering::SeqCst)) {
            None => Err(ErrorKind::NoSuchPair),
            Some(PairState::Split) => {
                self.check_pair(p);
                p.source_map.absorb(&p.mirror_map);
                p.state.store(state_code(Some(PairState::Restore)), Ordering::SeqCst);
                Ok(Reply::Done)
            }
            Some(s) => Err(ErrorKind::WrongState(s)),
        }
    }

    /// Copies `chunk` in the pair's copy direction: source to mirror (`Copy`,
    /// `Resync`), mirror to source (`Restore`).
    fn copy_chunk(&self, p: &PairSlot, chunk: u64, restore: bool) {
        let (mut from, mut to) = (&self.volumes[&p.source], &self.volumes[&p.mirror]);
        if restore {
            std::mem::swap(&mut from, &mut to);
        }
        let blocks = chunk * self.grain..((chunk + 1) * self.grain).min(from.len());
        let values: Vec<u64> = blocks.clone().map(|b| from.load(b)).collect();
        self.perturb();
        for (b, v) in blocks.zip(values) {
            to.store(b, v);
        }
    }

    /// One pass of the copier over the chunks still to copy, beside host writes.
    /// Does nothing unless the pair is copying (`Copy`, `Resync`, `Restore`).
    pub fn copy_pass(&self) -> CopyPass {
        let mut pass = CopyPass::default();
        let Some(p) = &self.pair else { return pass };
        let chunks: Vec<u64> = p.source_map.iter().collect();
        for c in chunks {
            let _pass = p.gate.enter();
            let state = state_of(p.state.load(Ordering::SeqCst));
            if !matches!(state, Some(PairState::Copy | PairState::Resync | PairState::Restore)) {
                break;
            }
            let Some(_hold) = p.interlock.try_copy(c) else {
                pass.skipped += 1;
                continue;
            };
            if state == Some(PairState::Restore) {
                // Clear after the copy: host reads of the source go to the mirror
                // while the bit is set. (Restore writes go to both volumes and set no
                // bit, so none can be lost.)
                if p.source_map.is_set(c) {
                    self.copy_chunk(p, c, true);
                    p.source_map.test_and_clear(c);
                    pass.copied += 1;
                }
            } else if p.source_map.test_and_clear(c) {
                // Clear before reading: a write after this sets the bit again.
                self.copy_chunk(p, c, false);
                pass.copied += 1;
            }
        }
        pass.remaining = p.source_map.count();
        pass
    }

    /// Ends a copy: under the gate's inhibit, copies what is left and makes the pair
    /// `Mirrored`; `at` is called at that instant (the caller's `copy_done` time).
    /// `None` if the pair is not copying.
    pub fn finish_copy<T>(&self, at: impl FnOnce() -> T) -> Option<T> {
        let p = self.pair.as_ref()?;
        let _inhibit = p.gate.inhibit();
        let state = state_of(p.state.load(Ordering::SeqCst));
        if !matches!(state, Some(PairState::Copy | PairState::Resync | PairState::Restore)) {
            return None;
        }
        let rest: Vec<u64> = p.source_map.iter().collect();
        for c in rest {
            self.copy_chunk(p, c, state == Some(PairState::Restore));
            p.source_map.test_and_clear(c);
        }
        p.state.store(state_code(Some(PairState::Mirrored)), Ordering::SeqCst);
        self.check_pair(p);
        Some(at())
    }

    fn perturb(&self) {
        if self.perturb {
            std::thread::yield_now();
        }
    }

    /// Checks the engine's invariants; call it only when no thread uses the array.
    pub fn check_quiescent(&self) {
        if let Some(p) = &self.pair {
            self.check_pair(p);
        }
    }

    /// The pair's invariants, at a quiescent point (under an inhibit, or with no
    /// other thread running).
    fn check_pair(&self, p: &PairSlot) {
        let (s, m) = (&self.volumes[&p.source], &self.volumes[&p.mirror]);
        let state = state_of(p.state.load(Ordering::SeqCst));
        for b in 0..s.len() {
            let (x, y) = (s.load(b), m.load(b));
            if x == y {
                continue;
            }
            let c = b / self.grain;
            let msg = match state {
                Some(PairState::Mirrored) => {
                    format!("in mirrored, block {b} differs: source {}, mirror {}", Value(x), Value(y))
                }
                Some(PairState::Split | PairState::Suspended)
                    if !p.source_map.is_set(c) && !p.mirror_map.is_set(c) =>
                {
                    format!(
                        "in split, block {b} differs (source {}, mirror {}) but chunk {c} has no bit",
                        Value(x),
                        Value(y)
                    )
                }
                _ => continue,
            };
            lock(&self.violations).push(msg);
            return;
        }
    }
}

fn store_all(data: &Blocks, block: u64, values: &[Value]) {
    for (i, v) in values.iter().enumerate() {
        data.store(block + i as u64, v.0);
    }
}

macro_rules! maker {
    ($name:ident, $ty:ty, $new:expr, $broken:expr) => {
        #[cfg(any(loom, feature = "planted-bugs"))]
        fn $name(broken: bool) -> $ty {
            if broken { $broken } else { $new }
        }
        #[cfg(not(any(loom, feature = "planted-bugs")))]
        fn $name(broken: bool) -> $ty {
            assert!(!broken, "protections are removable only with the planted-bugs feature");
            $new
        }
    };
}

maker!(make_gate, Gate, Gate::new(), Gate::unprotected());
maker!(make_interlock, Interlock, Interlock::new(), Interlock::unprotected());
maker!(make_table, LookupTable, LookupTable::new(), LookupTable::unprotected());

#[cfg(any(loom, feature = "planted-bugs"))]
fn make_map(bits: u64, broken: bool) -> ChangeMap {
    if broken { ChangeMap::unprotected(bits) } else { ChangeMap::new(bits) }
}
#[cfg(not(any(loom, feature = "planted-bugs")))]
fn make_map(bits: u64, broken: bool) -> ChangeMap {
    assert!(!broken, "protections are removable only with the planted-bugs feature");
    ChangeMap::new(bits)
}
