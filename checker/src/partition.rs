//! P-compositionality: a model whose objects split into independent parts (registers
//! per key, blocks per volume) is checked one part at a time, which is exponentially
//! cheaper than checking the whole. An operation may also say it touches every part
//! (a split or a snapshot reads the whole volume at one instant); then the history is
//! checked as one object.

use crate::linearizability::{Budget, Meter, Model, Operation, Outcome, PartVerdict, check_part, summarize};
use crate::report::{Counterexample, Report, Verdict};
use std::collections::BTreeMap;
use std::fmt;

/// What one operation means for each independent part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Projection<K, O, R> {
    /// The operation touches every part at one instant: the history must be checked
    /// as one object.
    Whole,
    /// The operation's effect and observation on each part it touches: `(part,
    /// sub-operation, sub-result)`; the sub-result is `None` exactly when the outcome
    /// is unknown. Empty for an operation with neither effect nor observation (an
    /// unknown read, a rejection that depends on no state).
    Parts(Vec<(K, O, Option<R>)>),
    /// The client's result is impossible in every state (a read of the wrong length,
    /// a rejection of a valid request): a violation wherever it is placed. `expected`
    /// says what the model would return.
    Impossible { expected: String },
}

/// A model that splits into independent parts, each a [`Model`] of its own.
///
/// **Contract:** for a history without [`Projection::Whole`] operations, the history
/// is linearizable against `Self` exactly when every part's projected history is
/// linearizable against its part model (Herlihy & Wing's locality, or per-block
/// atomicity for storage).
pub trait Partitioned: Model {
    type Key: Ord + Clone + fmt::Display;
    type Part: Model;

    /// The sequential specification of one part.
    fn part_model(&self, key: &Self::Key) -> Self::Part;

    /// Projects an operation and the client's result (`None`: unknown outcome).
    #[allow(clippy::type_complexity)]
    fn project(
        &self,
        op: &Self::Op,
        ret: Option<&Self::Ret>,
    ) -> Projection<Self::Key, <Self::Part as Model>::Op, <Self::Part as Model>::Ret>;
}

/// Checks a history against a model as one object.
pub fn check<M: Model>(model: &M, history: &[Operation<M::Op, M::Ret>], budget: &Budget) -> Report {
    let mut meter = Meter::new(budget, None);
    check_whole(model, history, &mut meter)
}

/// [`check`] with a cancel hook polled every few thousand steps (for a wall-clock
/// budget in a CLI; the simulator never passes one).
pub fn check_with_cancel<M: Model>(
    model: &M,
    history: &[Operation<M::Op, M::Ret>],
    budget: &Budget,
    cancel: &mut dyn FnMut() -> bool,
) -> Report {
    let mut meter = Meter::new(budget, Some(cancel));
    check_whole(model, history, &mut meter)
}

/// Checks a history part by part, or as one object if an operation touches every part.
pub fn check_partitioned<M: Partitioned>(
    model: &M,
    history: &[Operation<M::Op, M::Ret>],
    budget: &Budget,
) -> Report {
    let mut meter = Meter::new(budget, None);
    partitioned(model, history, &mut meter)
}

/// [`check_partitioned`] with a cancel hook (see [`check_with_cancel`]).
pub fn check_partitioned_with_cancel<M: Partitioned>(
    model: &M,
    history: &[Operation<M::Op, M::Ret>],
    budget: &Budget,
    cancel: &mut dyn FnMut() -> bool,
) -> Report {
    let mut meter = Meter::new(budget, Some(cancel));
    partitioned(model, history, &mut meter)
}

fn count<O, R>(history: &[Operation<O, R>], meter: &mut Meter<'_>) {
    meter.stats.ops = history.len() as u64;
    meter.stats.unknown_ops = history.iter().filter(|o| matches!(o.outcome, Outcome::Unknown)).count() as u64;
}

fn check_whole<M: Model>(model: &M, history: &[Operation<M::Op, M::Ret>], meter: &mut Meter<'_>) -> Report {
    count(history, meter);
    meter.stats.partitions = 1;
    meter.stats.whole_object = true;
    let verdict = check_part(model, history, "whole object", meter).into_verdict();
    Report { verdict, stats: std::mem::take(&mut meter.stats) }
}

type PartOps<M> =
    Vec<Operation<<<M as Partitioned>::Part as Model>::Op, <<M as Partitioned>::Part as Model>::Ret>>;

fn partitioned<M: Partitioned>(
    model: &M,
    history: &[Operation<M::Op, M::Ret>],
    meter: &mut Meter<'_>,
) -> Report {
    let mut parts: BTreeMap<M::Key, PartOps<M>> = BTreeMap::new();
    let mut impossible: Option<Counterexample> = None;
    for o in history {
        let ret = match &o.outcome {
            Outcome::Failed => continue,
            Outcome::Returned { value, .. } => Some(value),
            Outcome::Unknown => None,
        };
        match model.project(&o.op, ret) {
            Projection::Whole => return check_whole(model, history, meter),
            Projection::Impossible { expected } => {
                if impossible.is_none() {
                    impossible = Some(Counterexample {
                        partition: "any state (the result is impossible wherever it is placed)".to_string(),
                        state: "(any)".to_string(),
                        culprit: summarize(model, o),
                        expected,
                        seen: ret.map(|r| model.describe_ret(r)).unwrap_or_default(),
                        minimal: vec![summarize(model, o)],
                        minimal_complete: true,
                        ..Counterexample::default()
                    });
                }
            }
            Projection::Parts(subs) => {
                for (key, op, sub_ret) in subs {
                    // A projection keeps the outcome's kind, except that a part which
                    // cannot judge a result may take it as unknown (S3's split brain).
                    assert!(sub_ret.is_none() || ret.is_some(), "a projection invents no outcome");
                    let outcome = match (sub_ret, &o.outcome) {
                        (Some(value), Outcome::Returned { time, .. }) => {
                            Outcome::Returned { value, time: *time }
                        }
                        _ => Outcome::Unknown,
                    };
                    let sub = Operation { id: o.id, process: o.process, op, call: o.call, outcome };
                    parts.entry(key).or_default().push(sub);
                }
            }
        }
    }
    count(history, meter);
    if let Some(c) = impossible {
        return Report {
            verdict: Verdict::NotLinearizable(Box::new(c)),
            stats: std::mem::take(&mut meter.stats),
        };
    }
    meter.stats.partitions = parts.len() as u64;
    let mut verdict = Verdict::Linearizable;
    for (key, ops) in parts {
        let part = model.part_model(&key);
        match check_part(&part, &ops, &key.to_string(), meter) {
            PartVerdict::Linearizable => {}
            v => {
                verdict = v.into_verdict();
                break;
            }
        }
    }
    Report { verdict, stats: std::mem::take(&mut meter.stats) }
}
