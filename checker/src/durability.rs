//! The durability check: every acknowledged write survives crashes.
//!
//! Input: a history whose tail (from `audit_start`) holds the audit reads the
//! simulator made after everything settled. Because every write writes values no
//! other write wrote (SPEC §1), the value a block holds names the write that put it
//! there. For each audited block holding the value of write W, a violation is an
//! acknowledged write A to that block that began after W had completed (so A must
//! follow W in any legal order, yet the block does not show A or anything later), or a
//! value no write wrote, or 0 where an acknowledged write exists.

use model::{Completion, History, Op, Reply, Value, VolumeId};
use std::collections::BTreeMap;
use std::fmt;

/// A lost or corrupted block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub vol: VolumeId,
    pub block: u64,
    /// The value an acknowledged write put there that should have survived.
    pub expected: Value,
    /// What the audit read.
    pub actual: Value,
    /// The history index of the acknowledged write that was lost (if one was).
    pub lost_write: Option<usize>,
    /// The history index of the audit read.
    pub audit_read: usize,
    /// The simulator event that completed the audit read.
    pub event: u64,
    pub why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "block {}:{}: expected {} (or a later write), audit read {} at event {}: {}",
            self.vol, self.block, self.expected, self.actual, self.event, self.why
        )
    }
}

#[derive(Clone, Copy)]
struct WriteRec {
    index: usize,
    value: Value,
    invoke_ns: u64,
    /// When it was acknowledged (`Returned(Ok)`), if it was.
    acked_ns: Option<u64>,
    /// When it completed in any way other than unknown.
    complete_ns: Option<u64>,
    failed: bool,
}

/// Checks every audited block; returns the first violation in audit order.
pub fn check(history: &History, audit_start: usize) -> Result<(), Violation> {
    // Per block, every write that touched it.
    let mut writes: BTreeMap<(VolumeId, u64), Vec<WriteRec>> = BTreeMap::new();
    let mut by_value: BTreeMap<Value, usize> = BTreeMap::new();
    for (index, h) in history.ops[..audit_start].iter().enumerate() {
        let Op::Write { vol, block, values } = &h.op else { continue };
        let (acked_ns, failed) = match &h.completion {
            Completion::Returned(Ok(Reply::Done)) => (h.complete_ns, false),
            Completion::Returned(Err(_)) | Completion::Failed(_) => (None, true),
            _ => (None, false),
        };
        for (i, v) in values.iter().enumerate() {
            writes.entry((*vol, block + i as u64)).or_default().push(WriteRec {
                index,
                value: *v,
                invoke_ns: h.invoke_ns,
                acked_ns,
                complete_ns: h.complete_ns,
                failed,
            });
            by_value.insert(*v, index);
        }
    }
    for (audit_read, h) in history.ops.iter().enumerate().skip(audit_start) {
        let Op::Read { vol, block: first, .. } = h.op else { continue };
        let event = h.complete_event.unwrap_or(h.invoke_event);
        let values = match &h.completion {
            Completion::Returned(Ok(Reply::Values(v))) => v,
            other => {
                return Err(Violation {
                    vol,
                    block: first,
                    expected: Value::ZERO,
                    actual: Value::ZERO,
                    lost_write: None,
                    audit_read,
                    event,
                    why: format!("the audit read could not read the block: {other:?}"),
                });
            }
        };
        for (i, &actual) in values.iter().enumerate() {
            let block = first + i as u64;
            let recs = writes.get(&(vol, block)).map_or(&[][..], |v| v.as_slice());
            let violation = |expected: Value, lost_write: Option<usize>, why: String| Violation {
                vol,
                block,
                expected,
                actual,
                lost_write,
                audit_read,
                event,
                why,
            };
            // The write whose value the block holds, and the instant after which any
            // write that began must be ordered after it.
            let shown = if actual.is_zero() {
                None
            } else {
                match recs.iter().find(|r| r.value == actual) {
                    Some(r) if r.failed => {
                        return Err(violation(
                            actual,
                            None,
                            format!(
                                "the block holds the value of write #{} which was reported failed",
                                r.index
                            ),
                        ));
                    }
                    Some(r) => Some(*r),
                    None => {
                        let why = match by_value.get(&actual) {
                            Some(w) => format!("the block holds a value write #{w} wrote to another block"),
                            None => "the block holds a value no write wrote".to_string(),
                        };
                        return Err(violation(Value::ZERO, None, why));
                    }
                }
            };
            let must_follow = |a: &WriteRec| match shown {
                None => true,
                Some(w) => w.complete_ns.is_some_and(|c| a.invoke_ns > c),
            };
            if let Some(lost) = recs.iter().find(|a| {
                a.acked_ns.is_some() && a.index != shown.map_or(usize::MAX, |w| w.index) && must_follow(a)
            }) {
                let why = match shown {
                    None => format!("acknowledged write #{} is lost: the block reads 0", lost.index),
                    Some(w) => format!(
                        "acknowledged write #{} (invoked at {} ns, acknowledged at {} ns) is lost: the block holds write #{}, which completed before it began",
                        lost.index,
                        lost.invoke_ns,
                        lost.acked_ns.unwrap_or_default(),
                        w.index
                    ),
                };
                return Err(violation(lost.value, Some(lost.index), why));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{HistoryOp, ProcessId};

    const V: VolumeId = VolumeId(0);

    fn write(seq: u32, t0: u64, t1: Option<u64>, completion: Completion) -> HistoryOp {
        HistoryOp {
            process: ProcessId(seq),
            op: Op::Write { vol: V, block: 0, values: vec![Value::pack(1, seq, 0)] },
            invoke_ns: t0,
            complete_ns: t1,
            completion,
            invoke_event: t0,
            complete_event: t1,
        }
    }

    fn audit(v: Value) -> HistoryOp {
        HistoryOp {
            process: ProcessId(99),
            op: Op::Read { vol: V, block: 0, len: 1 },
            invoke_ns: 1000,
            complete_ns: Some(1001),
            completion: Completion::Returned(Ok(Reply::Values(vec![v]))),
            invoke_event: 1000,
            complete_event: Some(1001),
        }
    }

    fn ok() -> Completion {
        Completion::Returned(Ok(Reply::Done))
    }

    #[test]
    fn last_acknowledged_write_survives() {
        let h = History {
            ops: vec![write(1, 0, Some(10), ok()), write(2, 20, Some(30), ok()), audit(Value::pack(1, 2, 0))],
        };
        assert_eq!(check(&h, 2), Ok(()));
    }

    #[test]
    fn overwritten_by_an_older_write_is_a_lost_write() {
        let h = History {
            ops: vec![write(1, 0, Some(10), ok()), write(2, 20, Some(30), ok()), audit(Value::pack(1, 1, 0))],
        };
        let v = check(&h, 2).unwrap_err();
        assert_eq!(v.lost_write, Some(1));
        assert_eq!(v.expected, Value::pack(1, 2, 0));
    }

    #[test]
    fn concurrent_and_unknown_writes_may_win() {
        // Overlapping writes: either may be last.
        let h = History {
            ops: vec![write(1, 0, Some(30), ok()), write(2, 10, Some(20), ok()), audit(Value::pack(1, 1, 0))],
        };
        assert_eq!(check(&h, 2), Ok(()));
        // An unknown-outcome write may land after an acknowledged one.
        let h = History {
            ops: vec![
                write(1, 0, None, Completion::Unknown),
                write(2, 20, Some(30), ok()),
                audit(Value::pack(1, 1, 0)),
            ],
        };
        assert_eq!(check(&h, 2), Ok(()));
    }

    #[test]
    fn zero_after_an_ack_and_foreign_values_are_violations() {
        let h = History { ops: vec![write(1, 0, Some(10), ok()), audit(Value::ZERO)] };
        assert!(check(&h, 1).unwrap_err().why.contains("reads 0"));
        let h = History { ops: vec![write(1, 0, Some(10), ok()), audit(Value::pack(9, 9, 0))] };
        assert!(check(&h, 1).unwrap_err().why.contains("no write wrote"));
        let h = History {
            ops: vec![
                write(1, 0, Some(10), Completion::Failed("no path".into())),
                audit(Value::pack(1, 1, 0)),
            ],
        };
        assert!(check(&h, 1).unwrap_err().why.contains("reported failed"));
    }
}
