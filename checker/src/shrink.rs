//! The counterexample's minimal set: the fewest operations whose observed results
//! cannot be linearized together.
//!
//! *Relaxing* an operation forgets what the client saw of it: a read-only one
//! ([`Model::read_only`]) is dropped, any other becomes an unknown outcome (it may
//! have taken effect at any point after its invocation, or not at all). A relaxed
//! history has every linearization the original has and more, so if it is still
//! not linearizable, the relaxed operations were not needed to show the violation.
//! (Dropping a write outright would not be sound: a read of its value would then
//! look impossible.) Delta debugging over the operations with a known result, the
//! culprit pinned, relaxes ever smaller chunks while the history stays
//! non-linearizable; when every single remaining operation has been tried, the set
//! is 1-minimal: restoring any relaxed operation is unnecessary, relaxing any kept
//! one makes the history linearizable.
//!
//! Bounded cost: the shrink gets `max(SHRINK_STEPS_MIN, SHRINK_FACTOR × the
//! search's steps)` model steps (and never more than what is left of the check's
//! own budget). If they run out, the set found so far is reported, still
//! non-linearizable but perhaps not minimal (`minimal_complete: false`).

use crate::linearizability::{Meter, Model, Operation, Outcome, Searched, search};
use crate::report::UnknownReason;

/// Steps the shrink may always take (a millisecond or so).
const SHRINK_STEPS_MIN: u64 = 200_000;
/// Steps the shrink may take per step of the search it explains.
const SHRINK_FACTOR: u64 = 2;
/// One trial may take at most this fraction of the shrink's steps: a relaxed
/// history that is hard to judge is given up on (its chunk kept) rather than
/// allowed to starve the other trials.
const TRIAL_SHARE: u64 = 8;

/// Returns the kept operations (indices into `ops`, in order, the culprit among
/// them) and whether the set is 1-minimal.
pub(crate) fn shrink<M: Model>(
    model: &M,
    ops: &[&Operation<M::Op, M::Ret>],
    culprit: usize,
    search_steps: u64,
    meter: &mut Meter<'_>,
) -> (Vec<usize>, bool) {
    let start = meter.stats.steps;
    let allowance = SHRINK_STEPS_MIN.max(search_steps.saturating_mul(SHRINK_FACTOR));
    let saved = meter.budget.steps_max;
    let limit = saved.map_or(start.saturating_add(allowance), |m| m.min(start.saturating_add(allowance)));
    let trial_max = (allowance / TRIAL_SHARE).max(SHRINK_STEPS_MIN / TRIAL_SHARE);

    // Latest invocation first: the operations after the culprit are usually
    // irrelevant and cheap to relax (unknown ones are placed only when needed), so
    // the first chunks tried are likely to go.
    let mut candidates: Vec<usize> =
        (0..ops.len()).filter(|&i| i != culprit && ops[i].ret_time().is_some()).collect();
    candidates.sort_by_key(|&i| (std::cmp::Reverse(ops[i].call), i));
    let mut keep = vec![false; ops.len()];
    keep[culprit] = true;
    for &i in &candidates {
        keep[i] = true;
    }
    let mut kept = candidates;
    let mut complete = true;
    // Complement removal with halving chunks (ddmin), starting with all at once.
    let mut chunk = kept.len();
    'outer: while chunk > 0 {
        let mut i = 0;
        while i < kept.len() {
            let now = meter.stats.steps;
            if now >= limit {
                complete = false;
                break 'outer;
            }
            meter.budget.steps_max = Some(limit.min(now + trial_max));
            let end = (i + chunk).min(kept.len());
            for &j in &kept[i..end] {
                keep[j] = false;
            }
            let verdict = still_violated(model, ops, &keep, meter);
            if verdict == Ok(true) {
                kept.drain(i..end);
                continue;
            }
            for &j in &kept[i..end] {
                keep[j] = true;
            }
            i = end;
            match verdict {
                Ok(_) => {}
                // Undecided within the trial's steps: keep the chunk, go on.
                Err(UnknownReason::Steps { .. }) => complete = false,
                // Cancelled, or out of memory: stop here.
                Err(_) => {
                    complete = false;
                    break 'outer;
                }
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2).min(kept.len().max(1));
    }
    meter.budget.steps_max = saved;
    meter.stats.counterexample_steps += meter.stats.steps - start;
    let mut out: Vec<usize> = (0..ops.len()).filter(|&i| keep[i]).collect();
    out.sort_by_key(|&i| (ops[i].call, i));
    (out, complete)
}

/// Whether the history with the operations not in `keep` relaxed is still not
/// linearizable; the reason when a budget ran out.
fn still_violated<M: Model>(
    model: &M,
    ops: &[&Operation<M::Op, M::Ret>],
    keep: &[bool],
    meter: &mut Meter<'_>,
) -> Result<bool, UnknownReason> {
    let relaxed: Vec<Operation<M::Op, M::Ret>> = ops
        .iter()
        .zip(keep)
        .filter_map(|(o, &k)| match &o.outcome {
            _ if k => Some((*o).clone()),
            Outcome::Returned { value, .. } if model.read_only(&o.op, value) => None,
            _ => Some(Operation { outcome: Outcome::Unknown, ..(*o).clone() }),
        })
        .collect();
    let refs: Vec<&Operation<M::Op, M::Ret>> = relaxed.iter().collect();
    if model.refute(&refs).is_some() {
        return Ok(true);
    }
    match search(model, &refs, meter) {
        Searched::NotLinearizable { .. } => Ok(true),
        Searched::Linearizable => Ok(false),
        Searched::Unknown(reason) => Err(reason),
    }
}
