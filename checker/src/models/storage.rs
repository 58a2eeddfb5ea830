//! mirrorsim's storage: volumes of blocks ([`model::StorageModel`]).
//!
//! Multi-block reads and writes are atomic per block only (see [`model::Op`]), so
//! [`StorageSpec`] partitions per `(volume, block)`: each multi-block operation is
//! projected into one single-block sub-operation per block, and each block is checked
//! as a [`BlockRegister`]. Rejections that depend on no state (no such volume, out of
//! range) are judged on their face. Commands that act on a whole volume at one
//! instant (split, restore, snapshot) must project to
//! [`Projection::Whole`], and a history containing one is checked as one object
//! against [`StorageSpec`]'s own [`Model`] impl.
//!
//! [`StorageSpec`]'s own [`Model`] impl applies a multi-block operation at one
//! instant; [`check_storage`] therefore first splits them per block
//! ([`split_per_block`]) so that the whole-object check has per-block semantics too.
//!
//! Block values are unique per write (SPEC §1), so each block's search is nearly
//! linear; the checker does not rely on it.

use crate::linearizability::{Budget, Model, Operation, Outcome};
use crate::partition::{Partitioned, Projection, check, check_partitioned};
use crate::report::{Report, Verdict};
use model::{
    BackupId, ErrorKind, GroupId, History, Op, OpResult, PairId, Reply, StorageModel, Value, VolumeId,
    VolumeSpec,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The storage specification over a fixed set of volumes.
#[derive(Clone, Debug)]
pub struct StorageSpec {
    volumes: Vec<VolumeSpec>,
    /// See [`StorageModel::lenient_split_brain`].
    lenient_split_brain: bool,
    /// An empty model, for the state-independent validation of requests.
    empty: StorageModel,
}

impl StorageSpec {
    pub fn new(volumes: &[VolumeSpec]) -> StorageSpec {
        StorageSpec {
            volumes: volumes.to_vec(),
            lenient_split_brain: false,
            empty: StorageModel::new(volumes),
        }
    }

    pub fn volumes(&self) -> &[VolumeSpec] {
        &self.volumes
    }
}

/// A block value as counterexamples print it: `w<writer>#<seq>+<offset>` for values
/// packed per SPEC §1, the plain number otherwise (histories from other systems).
pub fn describe_value(v: Value) -> String {
    match v.unpack() {
        Some(t) if t.writer != 0 => v.to_string(),
        _ => v.0.to_string(),
    }
}

/// Describes a storage result the way counterexamples print it.
pub fn describe_result(r: &OpResult) -> String {
    match r {
        Ok(Reply::Values(vs)) => {
            let inner: Vec<String> = vs.iter().map(|v| describe_value(*v)).collect();
            format!("[{}]", inner.join(" "))
        }
        Ok(Reply::Done) => "done".to_string(),
        Ok(Reply::Backups(entries)) => {
            let inner: Vec<String> = entries
                .iter()
                .map(|e| {
                    let label = e.info.as_ref().map_or(String::new(), |i| format!(" {:?}", i.label));
                    format!("{} {} -> {} {}{label}", e.backup, e.src, e.dst, e.state)
                })
                .collect();
            format!("catalog [{}]", inner.join(", "))
        }
        Err(e) => format!("error: {e}"),
    }
}

impl Model for StorageSpec {
    type Op = Op;
    type Ret = OpResult;
    type State = StorageModel;

    fn init(&self) -> StorageModel {
        let mut m = StorageModel::new(&self.volumes);
        m.lenient_split_brain = self.lenient_split_brain;
        m
    }

    fn step(&self, state: &StorageModel, op: &Op) -> (OpResult, Option<StorageModel>) {
        if let Err(e) = state.validate(op) {
            return (Err(e), None);
        }
        match op {
            Op::Read { vol, block, len } => {
                if let Err(e) = state.io_allowed(op) {
                    return (Err(e), None);
                }
                let values =
                    (0..u64::from(*len)).map(|i| state.block(*vol, block + i).expect("validated")).collect();
                (Ok(Reply::Values(values)), None)
            }
            _ => {
                let mut next = state.clone();
                match next.apply(op) {
                    Ok(r) => (Ok(r), Some(next)),
                    Err(e) => (Err(e), None),
                }
            }
        }
    }

    /// A read may fail with a media error wherever the model returns values: a media
    /// error observes nothing. Whether the engine was entitled to it (a fault was
    /// injected there; no mirror held the data) is judged outside linearizability.
    /// Likewise a command the model answers done may fail with a media error that
    /// changed nothing (S0: a restore that could not read its backup; what it left is
    /// the array's `restore_failed` event, judged as an operation of its own).
    fn matches(&self, expected: &OpResult, seen: &OpResult) -> bool {
        expected == seen
            || matches!((expected, seen), (Ok(Reply::Values(_) | Reply::Done), Err(ErrorKind::MediaError)))
    }

    fn read_only(&self, op: &Op, ret: &OpResult) -> bool {
        // A rejection has no effect (the model validates before it mutates). Listed
        // explicitly: an admin command added later is not a read.
        matches!(op, Op::Read { .. } | Op::ListBackups { .. }) || ret.is_err()
    }

    fn describe_op(&self, op: &Op) -> String {
        match op {
            Op::Write { vol, block, values } => {
                let vs: Vec<String> = values.iter().map(|v| describe_value(*v)).collect();
                format!("write({vol}, {block}, [{}])", vs.join(" "))
            }
            _ => op.to_string(),
        }
    }

    fn describe_ret(&self, ret: &OpResult) -> String {
        describe_result(ret)
    }

    fn describe_state(&self, _state: &StorageModel) -> String {
        "(volume contents)".to_string()
    }
}

/// One block of one volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockKey {
    pub vol: VolumeId,
    pub block: u64,
}

impl fmt::Display for BlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} block {}", self.vol, self.block)
    }
}

/// A single block: a register of [`Value`]s starting at 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockRegister;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockOp {
    Read,
    Write(Value),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockRet {
    Read(Value),
    Done,
}

impl Model for BlockRegister {
    type Op = BlockOp;
    type Ret = BlockRet;
    type State = Value;

    fn init(&self) -> Value {
        Value::ZERO
    }

    fn step(&self, state: &Value, op: &BlockOp) -> (BlockRet, Option<Value>) {
        match *op {
            BlockOp::Read => (BlockRet::Read(*state), None),
            BlockOp::Write(v) => (BlockRet::Done, Some(v)),
        }
    }

    fn read_only(&self, op: &BlockOp, _ret: &BlockRet) -> bool {
        matches!(op, BlockOp::Read)
    }

    fn describe_op(&self, op: &BlockOp) -> String {
        match op {
            BlockOp::Read => "read".to_string(),
            BlockOp::Write(v) => format!("write {}", describe_value(*v)),
        }
    }

    fn describe_ret(&self, ret: &BlockRet) -> String {
        match ret {
            BlockRet::Read(v) => describe_value(*v),
            BlockRet::Done => "done".to_string(),
        }
    }

    fn describe_state(&self, state: &Value) -> String {
        describe_value(*state)
    }
}

impl Partitioned for StorageSpec {
    type Key = BlockKey;
    type Part = BlockRegister;

    fn part_model(&self, _key: &BlockKey) -> BlockRegister {
        BlockRegister
    }

    fn project(&self, op: &Op, ret: Option<&OpResult>) -> Projection<BlockKey, BlockOp, BlockRet> {
        // Admin commands (and the array's own pair events) act on whole volumes at one
        // instant. Without them every rejection depends only on the request.
        if !op.is_io() {
            return Projection::Whole;
        }
        if let (Op::Read { .. }, Some(Err(ErrorKind::MediaError))) = (op, ret) {
            return Projection::Parts(Vec::new()); // observes nothing (see `matches`)
        }
        match (self.empty.validate_static(op), ret) {
            (Err(_), None) => return Projection::Parts(Vec::new()),
            (Err(e), Some(Err(seen))) if e == *seen => return Projection::Parts(Vec::new()),
            (Err(e), Some(_)) => return Projection::Impossible { expected: format!("error: {e}") },
            (Ok(()), Some(Err(_))) => {
                let expected = if op.is_write() { "done" } else { "the blocks' values" };
                return Projection::Impossible { expected: expected.to_string() };
            }
            (Ok(()), _) => {}
        }
        match op {
            Op::Read { vol, block, len } => match ret {
                None => Projection::Parts(Vec::new()),
                Some(Ok(Reply::Values(vs))) if vs.len() == *len as usize => Projection::Parts(
                    vs.iter()
                        .enumerate()
                        .map(|(i, v)| {
                            (
                                BlockKey { vol: *vol, block: block + i as u64 },
                                BlockOp::Read,
                                Some(BlockRet::Read(*v)),
                            )
                        })
                        .collect(),
                ),
                Some(_) => Projection::Impossible { expected: format!("{len} values") },
            },
            Op::Write { vol, block, values } => {
                let sub_ret = match ret {
                    None => None,
                    Some(Ok(Reply::Done)) => Some(BlockRet::Done),
                    Some(_) => return Projection::Impossible { expected: "done".to_string() },
                };
                Projection::Parts(
                    values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            (BlockKey { vol: *vol, block: block + i as u64 }, BlockOp::Write(*v), sub_ret)
                        })
                        .collect(),
                )
            }
            _ => Projection::Whole,
        }
    }
}

/// Splits every valid multi-block read and write into single-block operations with
/// the same process, interval and outcome (a read's values sliced per block).
///
/// Multi-block operations are atomic per block only, so this is their meaning; it
/// makes a whole-object check (whose model would otherwise apply a write to all its
/// blocks at one instant) judge by the same rule as the per-block check. Rejected
/// requests and results of the wrong shape are kept whole for [`Partitioned::project`]
/// to judge.
pub fn split_per_block(
    volumes: &[VolumeSpec],
    ops: Vec<Operation<Op, OpResult>>,
) -> Vec<Operation<Op, OpResult>> {
    let empty = StorageModel::new(volumes);
    let mut out = Vec::with_capacity(ops.len());
    for o in ops {
        let splittable = empty.validate_static(&o.op).is_ok()
            && o.op.extent().1 > 1
            && match (&o.op, &o.outcome) {
                (_, Outcome::Failed | Outcome::Unknown) => true,
                (Op::Read { len, .. }, Outcome::Returned { value: Ok(Reply::Values(vs)), .. }) => {
                    vs.len() == *len as usize
                }
                (Op::Write { .. }, Outcome::Returned { value: Ok(Reply::Done), .. }) => true,
                _ => false,
            };
        if !splittable {
            out.push(o);
            continue;
        }
        match &o.op {
            Op::Read { vol, block, len } => {
                for i in 0..*len {
                    let outcome = match &o.outcome {
                        Outcome::Returned { value: Ok(Reply::Values(vs)), time } => {
                            Outcome::Returned { value: Ok(Reply::Values(vec![vs[i as usize]])), time: *time }
                        }
                        other => other.clone(),
                    };
                    let op = Op::Read { vol: *vol, block: block + u64::from(i), len: 1 };
                    out.push(Operation { id: o.id, process: o.process, op, call: o.call, outcome });
                }
            }
            Op::Write { vol, block, values } => {
                for (i, v) in values.iter().enumerate() {
                    let op = Op::Write { vol: *vol, block: block + i as u64, values: vec![*v] };
                    out.push(Operation {
                        id: o.id,
                        process: o.process,
                        op,
                        call: o.call,
                        outcome: o.outcome.clone(),
                    });
                }
            }
            _ => out.push(o),
        }
    }
    out
}

/// Converts a simulator history to checker operations.
///
/// Real-time order comes from the simulator's event indices (`invoke_event`,
/// `complete_event`), which are finer than nanoseconds; an operation that completed
/// at the same event another was invoked counts as concurrent with it. The id of an
/// operation is its index in `history.ops`.
pub fn storage_operations(history: &History) -> Vec<Operation<Op, OpResult>> {
    history
        .ops
        .iter()
        .enumerate()
        .map(|(i, h)| Operation {
            id: i as u64,
            process: u64::from(h.process.0),
            op: h.op.clone(),
            call: h.invoke_event,
            outcome: match &h.completion {
                model::Completion::Returned(r) => Outcome::Returned {
                    value: r.clone(),
                    // A returned operation always has a completion event; if a
                    // history lacks one, treat the operation as open to the end
                    // (lenient, never a false alarm).
                    time: h.complete_event.unwrap_or(u64::MAX),
                },
                model::Completion::Failed(_) => Outcome::Failed,
                model::Completion::Unknown => Outcome::Unknown,
            },
        })
        .collect()
}

/// Judges a simulator history against the storage model: per block, or as one
/// object when an operation touches a whole volume. Multi-block operations are
/// atomic per block (see [`split_per_block`]).
pub fn check_storage(history: &History, volumes: &[VolumeSpec], budget: &Budget) -> Report {
    check_storage_ops(volumes, storage_operations(history), budget)
}

/// [`check_storage`] for operations already converted (ids and times of your own).
///
/// Without admin commands, each block is checked on its own. With them (S2: a split
/// or restore acts on whole volumes at one instant), the volumes a pair ever joined
/// form a *component*, judged in two steps:
///
/// 1. Per part: every block index of the component (all its volumes' block `b`
///    together) is checked against the storage model with every admin command of the
///    component included. The projection of a global linearization is a
///    linearization of each part, so a part that fails proves a violation, cheaply.
/// 2. Whole: when every part passes, the component is checked as one object, which
///    also proves that each split or restore took its image at one instant (a
///    consistent cut across blocks). On a linearizable history this search rarely
///    backtracks.
pub fn check_storage_ops(
    volumes: &[VolumeSpec],
    ops: Vec<Operation<Op, OpResult>>,
    budget: &Budget,
) -> Report {
    let split = split_per_block(volumes, ops.clone());
    // I/O to an image (S4) is judged with the snapshots that make the image exist; any
    // admin command (S0's included) means components.
    let mut report = if ops.iter().all(|o| o.op.is_io() && !o.op.volume().is_some_and(|v| v.is_image())) {
        check_partitioned(&StorageSpec::new(volumes), &split, budget)
    } else {
        check_components(volumes, &split, budget)
    };
    // Report the caller's operation counts, not the split ones.
    report.stats.ops = ops.len() as u64;
    report.stats.unknown_ops = ops.iter().filter(|o| matches!(o.outcome, Outcome::Unknown)).count() as u64;
    report
}

/// A pair component's block `b` (`block` is `u64::MAX` for the component's control
/// part, which holds only its admin commands).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartKey {
    pub component: u32,
    pub block: u64,
}

impl fmt::Display for PartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.block == u64::MAX {
            write!(f, "component {} (admin commands)", self.component)
        } else {
            write!(f, "component {} block {}", self.component, self.block)
        }
    }
}

/// The storage model split into pair components and block indices (see
/// [`check_storage_ops`]).
struct Components {
    spec: StorageSpec,
    /// Component of each volume and of each pair id.
    of_volume: BTreeMap<VolumeId, u32>,
    of_pair: BTreeMap<PairId, u32>,
    /// S3: component of each consistency group.
    of_group: BTreeMap<GroupId, u32>,
    /// S0: component of each backup id.
    of_backup: BTreeMap<BackupId, u32>,
    /// The parts of each component: block indices touched by host I/O, each standing
    /// for its class (see [`backup_classes`]).
    blocks: BTreeMap<u32, BTreeSet<u64>>,
    /// S0: the class (its least block index) of each block index a backup or a restore
    /// relates to another; blocks absent here are their own class.
    class: BTreeMap<(u32, u64), u64>,
}

/// Most block indices one component's backup classes may hold before the whole
/// component becomes one part (class 0).
const CLASS_BLOCKS_MAX: usize = 1 << 16;

/// S0: a backup copies block `s + i` of its source to block `d + i` of its
/// destination (and a restore copies the destination to its target), so a part that
/// checks one block index must also see the blocks it was copied from. The block
/// indices touched by I/O are closed under the shifts of every backup and restore of
/// their component (over-approximating: a shift applies to an index whatever its
/// volume, which only makes parts larger), and joined into classes. `blocks` is
/// rewritten to hold one index per class, its least.
fn backup_classes(
    history: &[Operation<Op, OpResult>],
    of_volume: &BTreeMap<VolumeId, u32>,
    blocks: &mut BTreeMap<u32, BTreeSet<u64>>,
) -> BTreeMap<(u32, u64), u64> {
    // Per component, each copy: (from start, to start, blocks).
    let mut dst_of = BTreeMap::new();
    let mut shifts: BTreeMap<u32, Vec<(u64, u64, u64)>> = BTreeMap::new();
    for o in history {
        if let Op::Backup { backup, src, dst } = &o.op {
            dst_of.insert(*backup, *dst);
            if let Some(&c) = of_volume.get(&src.vol) {
                shifts.entry(c).or_default().push((src.start, dst.start, src.blocks));
            }
        }
    }
    for o in history {
        if let Op::RestoreBackup { backup, to } = &o.op
            && let (Some(dst), Some(&c)) = (dst_of.get(backup), of_volume.get(&to.vol))
        {
            shifts.entry(c).or_default().push((dst.start, to.start, dst.blocks.min(to.blocks)));
        }
    }
    let mut class = BTreeMap::new();
    for (c, copies) in shifts {
        let Some(touched) = blocks.get_mut(&c) else { continue };
        let mut parent: BTreeMap<u64, u64> = touched.iter().map(|b| (*b, *b)).collect();
        fn root(parent: &mut BTreeMap<u64, u64>, x: u64) -> u64 {
            let p = parent[&x];
            if p == x {
                return x;
            }
            let r = root(parent, p);
            parent.insert(x, r);
            r
        }
        let mut work: Vec<u64> = touched.iter().copied().collect();
        let mut whole = false;
        while let Some(b) = work.pop() {
            for &(from, to, n) in &copies {
                let related = [
                    (b >= from && b - from < n).then(|| to + (b - from)),
                    (b >= to && b - to < n).then(|| from + (b - to)),
                ];
                for r in related.into_iter().flatten() {
                    if let std::collections::btree_map::Entry::Vacant(e) = parent.entry(r) {
                        e.insert(r);
                        work.push(r);
                    }
                    let (x, y) = (root(&mut parent, b), root(&mut parent, r));
                    if x != y {
                        parent.insert(x.max(y), x.min(y));
                    }
                }
            }
            if parent.len() > CLASS_BLOCKS_MAX {
                whole = true;
                break;
            }
        }
        let keys: Vec<u64> = parent.keys().copied().collect();
        let mut reps = BTreeSet::new();
        for b in keys {
            let r = if whole { 0 } else { root(&mut parent, b) };
            class.insert((c, b), r);
            reps.insert(r);
        }
        for b in touched.iter() {
            class.entry((c, *b)).or_insert(if whole { 0 } else { *b });
        }
        *touched = reps;
    }
    class
}

impl Components {
    fn new(volumes: &[VolumeSpec], history: &[Operation<Op, OpResult>]) -> Components {
        // Union-find over volumes and pair ids: a pair joins its volumes.
        let mut parent: BTreeMap<(u8, u32), (u8, u32)> = BTreeMap::new();
        fn find(parent: &mut BTreeMap<(u8, u32), (u8, u32)>, x: (u8, u32)) -> (u8, u32) {
            let p = *parent.entry(x).or_insert(x);
            if p == x {
                return x;
            }
            let r = find(parent, p);
            parent.insert(x, r);
            r
        }
        for v in volumes {
            find(&mut parent, (0, v.id.0));
        }
        for o in history {
            // S4: an image joins its origin; I/O may name an image no snapshot made.
            if let Some(vol) = o.op.volume() {
                find(&mut parent, (0, vol.0));
            }
            match o.op {
                Op::Snapshot { vol, image } => {
                    let a = find(&mut parent, (0, vol.0));
                    let b = find(&mut parent, (0, image.0));
                    parent.insert(b, a);
                }
                Op::DeleteSnapshot { image } => {
                    find(&mut parent, (0, image.0));
                }
                // S0: a backup joins its id and both regions' volumes; a restore joins
                // its target; a listing names a volume.
                Op::Backup { backup, src, dst } => {
                    let a = find(&mut parent, (3, backup.0));
                    for v in [src.vol, dst.vol] {
                        let b = find(&mut parent, (0, v.0));
                        if b != a {
                            parent.insert(b, a);
                        }
                    }
                }
                Op::RestoreBackup { backup, to } => {
                    let a = find(&mut parent, (3, backup.0));
                    let b = find(&mut parent, (0, to.vol.0));
                    if b != a {
                        parent.insert(b, a);
                    }
                }
                Op::RecordBackup { backup, .. } | Op::BackupEvent { backup, .. } => {
                    find(&mut parent, (3, backup.0));
                }
                Op::ListBackups { src } => {
                    find(&mut parent, (0, src.0));
                }
                _ => {}
            }
            if let Some(pair) = o.op.pair() {
                let a = find(&mut parent, (1, pair.0));
                let joined = match o.op {
                    Op::PairCreate { source, mirror, .. } => [source, mirror],
                    Op::RemotePairCreate { primary, secondary, .. } => [primary, secondary],
                    _ => continue,
                };
                for v in joined {
                    let b = find(&mut parent, (0, v.0));
                    parent.insert(b, a);
                }
            }
            // S3: a consistency group joins its pairs.
            if let Some(group) = o.op.group() {
                let g = find(&mut parent, (2, group.0));
                if let Some(pair) = o.op.pair() {
                    let a = find(&mut parent, (1, pair.0));
                    if a != g {
                        parent.insert(a, g);
                    }
                }
            }
        }
        let nodes: Vec<(u8, u32)> = parent.keys().copied().collect();
        let mut ids: BTreeMap<(u8, u32), u32> = BTreeMap::new();
        let (mut of_volume, mut of_pair, mut of_group) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let mut of_backup = BTreeMap::new();
        for n in nodes {
            let root = find(&mut parent, n);
            let next = ids.len() as u32;
            let id = *ids.entry(root).or_insert(next);
            match n.0 {
                0 => of_volume.insert(VolumeId(n.1), id),
                1 => of_pair.insert(PairId(n.1), id),
                2 => of_group.insert(GroupId(n.1), id),
                _ => of_backup.insert(BackupId(n.1), id),
            };
        }
        let mut blocks: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
        for o in history {
            if let Some(vol) = o.op.volume()
                && let Some(&c) = of_volume.get(&vol)
            {
                let (first, n) = o.op.extent();
                let set = blocks.entry(c).or_default();
                for b in first..first.saturating_add(n.min(1 << 16)) {
                    set.insert(b);
                }
            }
        }
        let class = backup_classes(history, &of_volume, &mut blocks);
        Components { spec: StorageSpec::new(volumes), of_volume, of_pair, of_group, of_backup, blocks, class }
    }

    /// The part of block `block` of component `c`: its class under the backups'
    /// shifts (S0), or the block itself.
    fn part_of(&self, c: u32, block: u64) -> u64 {
        self.class.get(&(c, block)).copied().unwrap_or(block)
    }
}

impl Components {
    /// The component an admin command or event belongs to.
    /// The component of an S2 or S3 admin command (by its pair or group).
    fn admin_component(&self, op: &Op) -> Option<u32> {
        match (op.group(), op.pair()) {
            (Some(g), _) => Some(self.of_group[&g]),
            (None, Some(p)) => Some(self.of_pair[&p]),
            (None, None) => None,
        }
    }
}

impl Components {
    /// The component of an admin command (a pair or group command, or a snapshot
    /// command by its image's volume); `None` for host I/O.
    fn command_component(&self, op: &Op) -> Option<u32> {
        match op {
            Op::Snapshot { image, .. } | Op::DeleteSnapshot { image } => Some(self.of_volume[image]),
            Op::Backup { backup, .. }
            | Op::RecordBackup { backup, .. }
            | Op::RestoreBackup { backup, .. }
            | Op::BackupEvent { backup, .. } => Some(self.of_backup[backup]),
            Op::ListBackups { src } => Some(self.of_volume[src]),
            _ => self.admin_component(op),
        }
    }
}

impl Model for Components {
    type Op = Op;
    type Ret = OpResult;
    type State = StorageModel;

    fn init(&self) -> StorageModel {
        self.spec.init()
    }
    fn step(&self, state: &StorageModel, op: &Op) -> (OpResult, Option<StorageModel>) {
        self.spec.step(state, op)
    }
    fn matches(&self, expected: &OpResult, seen: &OpResult) -> bool {
        self.spec.matches(expected, seen)
    }
    fn read_only(&self, op: &Op, ret: &OpResult) -> bool {
        self.spec.read_only(op, ret)
    }
    fn describe_op(&self, op: &Op) -> String {
        self.spec.describe_op(op)
    }
    fn describe_ret(&self, ret: &OpResult) -> String {
        self.spec.describe_ret(ret)
    }
    fn describe_state(&self, state: &StorageModel) -> String {
        self.spec.describe_state(state)
    }
}

impl Partitioned for Components {
    type Key = PartKey;
    type Part = StorageSpec;

    fn part_model(&self, _key: &PartKey) -> StorageSpec {
        // A part sees one block index: split brain (writes to any block) is the
        // whole-object pass's to judge.
        let mut spec = self.spec.clone();
        spec.lenient_split_brain = true;
        spec
    }

    fn project(&self, op: &Op, ret: Option<&OpResult>) -> Projection<PartKey, Op, OpResult> {
        if let Some(c) = self.command_component(op) {
            // S3: whether `resume` or `failback` finds split brain depends on writes
            // to any block of the group, which no single part sees: the parts take
            // its outcome as unknown and the whole-object pass judges it.
            let ret = match op {
                Op::Resume { .. } | Op::Failback { .. } => None,
                _ => ret.cloned(),
            };
            let mut parts = vec![(PartKey { component: c, block: u64::MAX }, op.clone(), ret.clone())];
            for &block in self.blocks.get(&c).into_iter().flatten() {
                parts.push((PartKey { component: c, block }, op.clone(), ret.clone()));
            }
            return Projection::Parts(parts);
        }
        if let (Op::Read { .. }, Some(Err(ErrorKind::MediaError))) = (op, ret) {
            return Projection::Parts(Vec::new());
        }
        if let Err(e) = self.spec.empty.validate_static(op) {
            return match ret {
                None => Projection::Parts(Vec::new()),
                Some(Err(seen)) if *seen == e => Projection::Parts(Vec::new()),
                Some(_) => Projection::Impossible { expected: format!("error: {e}") },
            };
        }
        let vol = op.volume().expect("host I/O");
        let c = self.of_volume[&vol];
        let (first, n) = op.extent();
        let mut parts = Vec::with_capacity(n as usize);
        if n > 1 && matches!(ret, Some(Err(_))) {
            // A refusal may depend on any block of the extent (S0: one block inside a
            // backup's destination refuses the whole request): every part it touches
            // judges the whole request (a refusal has no effect).
            for i in 0..n {
                let key = PartKey { component: c, block: self.part_of(c, first + i) };
                if !parts.iter().any(|(k, _, _)| *k == key) {
                    parts.push((key, op.clone(), ret.cloned()));
                }
            }
            return Projection::Parts(parts);
        }
        for i in 0..n {
            let block = first + i;
            let sub_ret = match ret {
                Some(Ok(Reply::Values(vs))) => match vs.get(i as usize) {
                    Some(v) => Some(Ok(Reply::Values(vec![*v]))),
                    None => return Projection::Impossible { expected: format!("{n} values") },
                },
                other => other.cloned(),
            };
            let sub = match op {
                Op::Read { vol, .. } => Op::Read { vol: *vol, block, len: 1 },
                Op::Write { vol, values, .. } => {
                    Op::Write { vol: *vol, block, values: vec![values[i as usize]] }
                }
                _ => unreachable!("host I/O"),
            };
            let key = PartKey { component: c, block: self.part_of(c, block) };
            // S0: blocks of one class share a part; the first block of the class judges
            // a multi-block operation kept whole (a rejection).
            if parts.iter().any(|(k, _, _)| *k == key) {
                continue;
            }
            parts.push((key, sub, sub_ret));
        }
        Projection::Parts(parts)
    }
}

/// Step and memory bounds of the whole-object passes of one history (all its
/// components together). Beyond them the verdict rests on the per-part checks (which
/// prove every single-block property, the mirror's image per block included) and
/// `Stats::whole_object` is false: the cross-block consistency of a split's image is
/// then left to the engine's probes. A step of the whole-object search costs tens of
/// microseconds on a component of several volumes (the model state is every block of
/// every volume), so 2*10^5 steps keep a run under a few seconds.
pub const WHOLE_STEPS_MAX: u64 = 200_000;
pub const WHOLE_BYTES_MAX: u64 = 512 << 20;

/// Per part, then per component as one object (see [`check_storage_ops`]).
fn check_components(volumes: &[VolumeSpec], split: &[Operation<Op, OpResult>], budget: &Budget) -> Report {
    let comps = Components::new(volumes, split);
    let report = check_partitioned(&comps, split, budget);
    if !matches!(report.verdict, Verdict::Linearizable) {
        return report;
    }
    let mut stats = report.stats;
    let mut all_whole = true;
    let mut whole_steps = 0u64;
    // Every part passed: now each component with an admin command as one object.
    let with_admin: BTreeSet<u32> = split.iter().filter_map(|o| comps.command_component(&o.op)).collect();
    for c in with_admin {
        let ops: Vec<Operation<Op, OpResult>> = split
            .iter()
            .filter(|o| match comps.command_component(&o.op) {
                Some(k) => k == c,
                None => o.op.volume().and_then(|v| comps.of_volume.get(&v)) == Some(&c),
            })
            .cloned()
            .collect();
        let left = WHOLE_STEPS_MAX.saturating_sub(whole_steps);
        if left == 0 {
            all_whole = false;
            break;
        }
        let remaining = Budget {
            steps_max: Some(budget.steps_max.map_or(left, |m| m.saturating_sub(stats.steps).min(left))),
            memory_bytes_max: Some(
                budget.memory_bytes_max.map_or(WHOLE_BYTES_MAX, |m| m.min(WHOLE_BYTES_MAX)),
            ),
        };
        let whole = check(&comps.spec, &ops, &remaining);
        whole_steps += whole.stats.steps;
        stats.steps += whole.stats.steps;
        stats.peak_bytes = stats.peak_bytes.max(whole.stats.peak_bytes);
        stats.memo_entries_max = stats.memo_entries_max.max(whole.stats.memo_entries_max);
        match whole.verdict {
            Verdict::Linearizable => {}
            // Every part is linearizable; only the cross-block cut is unproven.
            Verdict::Unknown { .. } => all_whole = false,
            verdict => return Report { verdict, stats },
        }
    }
    stats.whole_object = all_whole;
    Report { verdict: Verdict::Linearizable, stats }
}

/// The error kinds by their snake_case names (the history file format's spelling).
pub fn error_kind_from_name(name: &str) -> Option<ErrorKind> {
    ErrorKind::from_name(name)
}
