//! The definition of linearizability, executed: search every order of the operations
//! that respects real time, for one in which the model gives every known result.
//! Failed operations are dropped; unknown ones may be placed anywhere after their
//! invocation, or nowhere. No memo, no pruning: exponential, for tiny histories only.

use mirrorsim_checker::{Model, Operation, Outcome};

pub fn linearizable<M: Model>(model: &M, history: &[Operation<M::Op, M::Ret>]) -> bool {
    let ops: Vec<&Operation<M::Op, M::Ret>> =
        history.iter().filter(|o| !matches!(o.outcome, Outcome::Failed)).collect();
    assert!(ops.len() <= 16, "brute force is for tiny histories");
    let mut placed = vec![false; ops.len()];
    search(model, &ops, &mut placed, &model.init())
}

fn ret_time<O, R>(o: &Operation<O, R>) -> Option<u64> {
    match o.outcome {
        Outcome::Returned { time, .. } => Some(time),
        _ => None,
    }
}

fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Op, M::Ret>],
    placed: &mut [bool],
    state: &M::State,
) -> bool {
    let all_known_placed =
        ops.iter().zip(placed.iter()).all(|(o, &p)| p || matches!(o.outcome, Outcome::Unknown));
    if all_known_placed {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        // Every operation that returned before this one was invoked must already be placed.
        let ready =
            (0..ops.len()).all(|j| placed[j] || j == i || ret_time(ops[j]).is_none_or(|r| r >= ops[i].call));
        if !ready {
            continue;
        }
        let (ret, next) = model.step(state, &ops[i].op);
        if let Outcome::Returned { value, .. } = &ops[i].outcome
            && !model.matches(&ret, value)
        {
            continue;
        }
        let next = next.unwrap_or_else(|| state.clone());
        placed[i] = true;
        let ok = search(model, ops, placed, &next);
        placed[i] = false;
        if ok {
            return true;
        }
    }
    false
}
