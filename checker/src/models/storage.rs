//! mirrorsim's storage: volumes of blocks ([`model::StorageModel`]).
//!
//! Multi-block reads and writes are atomic per block only (see [`model::Op`]), so
//! [`StorageSpec`] partitions per `(volume, block)`: each multi-block operation is
//! projected into one single-block sub-operation per block, and each block is checked
//! as a [`BlockRegister`]. Rejections that depend on no state (no such volume, out of
//! range) are judged on their face. Commands that act on a whole volume at one
//! instant (split, snapshot: added by later issues) must project to
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
use crate::partition::{Partitioned, Projection, check_partitioned};
use crate::report::Report;
use model::{ErrorKind, History, Op, OpResult, Reply, StorageModel, Value, VolumeId, VolumeSpec};
use std::fmt;

/// The storage specification over a fixed set of volumes.
#[derive(Clone, Debug)]
pub struct StorageSpec {
    volumes: Vec<VolumeSpec>,
    /// An empty model, for the state-independent validation of requests.
    empty: StorageModel,
}

impl StorageSpec {
    pub fn new(volumes: &[VolumeSpec]) -> StorageSpec {
        StorageSpec { volumes: volumes.to_vec(), empty: StorageModel::new(volumes) }
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
        Err(e) => format!("error: {e}"),
    }
}

impl Model for StorageSpec {
    type Op = Op;
    type Ret = OpResult;
    type State = StorageModel;

    fn init(&self) -> StorageModel {
        StorageModel::new(&self.volumes)
    }

    fn step(&self, state: &StorageModel, op: &Op) -> (OpResult, Option<StorageModel>) {
        if let Err(e) = state.validate(op) {
            return (Err(e), None);
        }
        match op {
            Op::Read { vol, block, len } => {
                if let Err(e) = state.accessible(*vol) {
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
    fn matches(&self, expected: &OpResult, seen: &OpResult) -> bool {
        expected == seen || matches!((expected, seen), (Ok(Reply::Values(_)), Err(ErrorKind::MediaError)))
    }

    fn read_only(&self, op: &Op, ret: &OpResult) -> bool {
        // A rejection has no effect (the model validates before it mutates). Listed
        // explicitly: an admin command added later is not a read.
        matches!(op, Op::Read { .. }) || ret.is_err()
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
        match (self.empty.validate(op), ret) {
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
        let splittable = empty.validate(&o.op).is_ok()
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
pub fn check_storage_ops(
    volumes: &[VolumeSpec],
    ops: Vec<Operation<Op, OpResult>>,
    budget: &Budget,
) -> Report {
    let mut report =
        check_partitioned(&StorageSpec::new(volumes), &split_per_block(volumes, ops.clone()), budget);
    // Report the caller's operation counts, not the split ones.
    report.stats.ops = ops.len() as u64;
    report.stats.unknown_ops = ops.iter().filter(|o| matches!(o.outcome, Outcome::Unknown)).count() as u64;
    report
}

/// The error kinds by their snake_case names (the history file format's spelling).
pub fn error_kind_from_name(name: &str) -> Option<ErrorKind> {
    ErrorKind::from_name(name)
}
