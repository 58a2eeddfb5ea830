//! The differential check: with one client and no faults, the engine and the model
//! answer every operation identically, step for step.
//!
//! The history must be sequential (each operation completes before the next begins);
//! the model replays it in order and every answer is compared.

use model::{Completion, History, Op, OpResult, Reply, StorageModel, Value, VolumeId, VolumeSpec};
use std::fmt;

/// The first step where the engine and the model disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Index of the operation in the history.
    pub index: usize,
    /// The simulator event that completed it (or invoked it, if it never completed).
    pub event: u64,
    pub op: Op,
    pub expected: OpResult,
    pub actual: Completion,
    /// For a read: the first block whose value differs, with the model's and the
    /// engine's value.
    pub block: Option<(VolumeId, u64, Value, Value)>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operation #{} at event {}: {}", self.index, self.event, self.op)?;
        match &self.block {
            Some((vol, block, want, got)) => {
                write!(f, "; block {vol}:{block}: the model reads {want}, the engine returned {got}")
            }
            None => write!(f, "; the model answers {:?}, the engine {:?}", self.expected, self.actual),
        }
    }
}

/// Why the differential check could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotSequential {
    /// Operation `later` began before operation `earlier` completed.
    Overlap { earlier: usize, later: usize },
}

/// Replays `history` against the model; the first disagreement is returned.
pub fn check(history: &History, volumes: &[VolumeSpec]) -> Result<Result<(), Mismatch>, NotSequential> {
    let mut model = StorageModel::new(volumes);
    let mut last_end: Option<(usize, u64)> = None;
    for (index, h) in history.ops.iter().enumerate() {
        if let Some((earlier, end)) = last_end
            && h.invoke_ns < end
        {
            return Err(NotSequential::Overlap { earlier, later: index });
        }
        last_end = Some((index, h.complete_ns.unwrap_or(u64::MAX)));
        if matches!(h.completion, Completion::Failed(_)) {
            continue; // Never delivered: no effect on the model.
        }
        let expected = model.apply(&h.op);
        let mismatch = |block| Mismatch {
            index,
            event: h.complete_event.unwrap_or(h.invoke_event),
            op: h.op.clone(),
            expected: expected.clone(),
            actual: h.completion.clone(),
            block,
        };
        match &h.completion {
            Completion::Returned(actual) if *actual == expected => {}
            Completion::Returned(Ok(Reply::Values(got))) => {
                let block = match (&expected, &h.op) {
                    (Ok(Reply::Values(want)), Op::Read { vol, block, .. }) => want
                        .iter()
                        .zip(got)
                        .position(|(w, g)| w != g)
                        .map(|i| (*vol, block + i as u64, want[i], got[i])),
                    _ => None,
                };
                return Ok(Err(mismatch(block)));
            }
            _ => return Ok(Err(mismatch(None))),
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{HistoryOp, ProcessId};

    fn op(op: Op, t: u64, completion: Completion) -> HistoryOp {
        HistoryOp {
            process: ProcessId(0),
            op,
            invoke_ns: t,
            complete_ns: Some(t + 1),
            completion,
            invoke_event: t,
            complete_event: Some(t + 1),
        }
    }

    const V: VolumeId = VolumeId(0);

    fn vols() -> Vec<VolumeSpec> {
        vec![VolumeSpec { id: V, blocks: 16 }]
    }

    #[test]
    fn agreeing_history_passes_and_a_stale_read_is_named() {
        let w = Value::pack(1, 1, 0);
        let mut h = History {
            ops: vec![
                op(Op::Write { vol: V, block: 3, values: vec![w] }, 0, Completion::Returned(Ok(Reply::Done))),
                op(
                    Op::Read { vol: V, block: 2, len: 2 },
                    10,
                    Completion::Returned(Ok(Reply::Values(vec![Value::ZERO, w]))),
                ),
            ],
        };
        assert_eq!(check(&h, &vols()), Ok(Ok(())));
        h.ops[1].completion = Completion::Returned(Ok(Reply::Values(vec![Value::ZERO, Value::ZERO])));
        let m = check(&h, &vols()).unwrap().unwrap_err();
        assert_eq!(m.index, 1);
        assert_eq!(m.block, Some((V, 3, w, Value::ZERO)));
        assert!(m.to_string().contains("block vol0:3"), "{m}");
    }

    #[test]
    fn wrong_error_and_overlap_are_reported() {
        let h = History {
            ops: vec![op(
                Op::Read { vol: V, block: 16, len: 1 },
                0,
                Completion::Returned(Ok(Reply::Values(vec![Value::ZERO]))),
            )],
        };
        let m = check(&h, &vols()).unwrap().unwrap_err();
        assert_eq!(m.expected, Err(model::ErrorKind::OutOfRange));
        let ok_read = || Completion::Returned(Ok(Reply::Values(vec![Value::ZERO])));
        let mut h2 = History { ops: vec![op(Op::Read { vol: V, block: 0, len: 1 }, 0, ok_read())] };
        h2.ops[0].complete_ns = Some(10);
        h2.ops.push(op(Op::Read { vol: V, block: 0, len: 1 }, 5, ok_read()));
        assert_eq!(check(&h2, &vols()), Err(NotSequential::Overlap { earlier: 0, later: 1 }));
    }
}
