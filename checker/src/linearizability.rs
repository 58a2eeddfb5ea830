//! The generic checker: a sequential specification ([`Model`]), a history of
//! [`Operation`]s, and the search for a linearization.
//!
//! # Algorithm
//!
//! Wing & Gong's search with Lowe's just-in-time linearization, as in Porcupine: the
//! calls and returns of the operations with a known result sit in a doubly linked
//! list in real-time order. From the head, each call before the first return is a
//! candidate: apply it to the model; if the model's result matches the client's and
//! the new configuration (set of linearized operations, state) was never explored,
//! unlink the call and its return ("lift" it), push it on a stack and start again
//! from the head. Reaching a return means that operation was not linearized in time:
//! pop the stack, relink, and try the next candidate. The history is linearizable
//! when every operation with a known result has been lifted.
//!
//! Operations with an unknown outcome (Jepsen's `:info`) have no return entry. They
//! live in a second list in invocation order and are candidates, after the known
//! ones, whenever they were invoked before the first pending return. Never taking
//! effect is the same as taking effect after everything else, so an unknown
//! operation is never required: the search ends as soon as the known ones are
//! placed. Unknown operations are placed *lazily*: in any linearization, an unknown
//! operation `u` can be moved later past an operation `o` that commutes with it (same
//! result for `o`, same final state), since `u` has no return to respect; it can be
//! dropped if it changes nothing, or if `o` absorbs it (`u; o` equals `o`, as a write
//! overwritten). Repeating this (and ordering adjacent commuting unknown operations
//! by index) ends in a normal form where every unknown operation changes the state
//! and is immediately followed by an operation that observes it or does not commute
//! with it. The search only builds normal forms: after placing `u` it refuses a next
//! operation that commutes with or absorbs it. Because that refusal depends on the
//! path, a configuration whose last move placed `u` in state `s` is memoized with a
//! marker for `(u, s)`. Identical unknown operations (equal `Op`s) are
//! interchangeable, so they are used in invocation order: one is placed only once
//! every identical one invoked before it is. Adjacent commuting unknown operations
//! are likewise kept in invocation order. Known operations with equal requests and
//! equal results are placed in the order of their intervals when one's interval
//! starts and ends no later than the other's.
//!
//! A known operation whose result shows it changes no state ([`Model::read_only`]:
//! a read) and that matches now is placed greedily and never reconsidered: any
//! linearization from the current configuration can be reordered to put it first,
//! since wherever it sat it returned the same result and changed nothing. This
//! makes reads nearly free. (Being a no-op *now* is not enough: a write of the
//! current value may not be a no-op later.)
//!
//! # Data structures
//!
//! The lists are index arrays (dancing links: relinking in reverse order of
//! unlinking restores them exactly). States are interned once in an open-addressing
//! table and named by `u32`. The set of linearized operations is a 128-bit Zobrist
//! fingerprint updated in O(1), so a memo entry is 24 bytes whatever the history's
//! length (see [`crate::table::MemoTable`] for why a collision can only ever make
//! the verdict stricter, and how unlikely it is). Nothing is allocated per step
//! except the states the model itself builds.
//!
//! When a partition has at most 128 unknown operations, the fingerprint covers the
//! known operations only and the placed unknown ones are a 128-bit mask compared by
//! *inclusion* ([`DomTable`]): a configuration is skipped when one with the same
//! known set and state (and lazy marker) already failed with a subset of its
//! unknown operations placed. Fewer unknown operations placed only leaves more
//! options (any of them may stay unplaced, and identical ones are interchangeable),
//! so that failure implies this one. Without it, every subset of unknown operations
//! that leads to the same state is a configuration of its own (2^20 of them for 20
//! unknown writes of a few values).
//!
//! The counterexample comes from the deepest stack the search reached, kept as it
//! goes at amortised O(1) per push: no second search, no per-operation records.

use crate::report::{Counterexample, OpSummary, Stats, UnknownReason, Verdict};
use crate::table::{DomTable, StateTable, fx_hash, lazy_marker, zobrist};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification: a deterministic state machine.
///
/// **Contract:** `step` is a pure function of its arguments, and every operation is
/// defined in every state (an operation the object rejects returns an error result).
pub trait Model {
    /// Operations compare equal when they are the same request: identical unknown
    /// operations are interchangeable, which the search exploits.
    type Op: Clone + Eq + Hash + Debug;
    type Ret: Clone + Eq + Hash + Debug;
    type State: Clone + Eq + Hash + Debug;

    /// The initial state.
    fn init(&self) -> Self::State;

    /// Applies `op` to `state`: the result the object returns, and the next state, or
    /// `None` when the state is unchanged (which saves a clone for reads).
    fn step(&self, state: &Self::State, op: &Self::Op) -> (Self::Ret, Option<Self::State>);

    /// Whether the client's `seen` result is allowed when the model returns
    /// `expected`. Equality by default.
    fn matches(&self, expected: &Self::Ret, seen: &Self::Ret) -> bool {
        expected == seen
    }

    /// Whether `op`, returning `ret`, leaves every state unchanged (a read; a
    /// compare-and-set that did not swap; a rejection). Such an operation is placed
    /// greedily and never reconsidered, which makes reads nearly free. `false` (the
    /// default) is always correct; `true` must hold for *every* state in which `op`
    /// returns `ret`, not only the current one.
    fn read_only(&self, _op: &Self::Op, _ret: &Self::Ret) -> bool {
        false
    }

    /// A cheap, sound refutation tried before the search: an operation with a known
    /// result that no linearization of `ops` can give (a read of a value no
    /// operation invoked before its response could have written), with what the
    /// model could return instead. `ops` are the operations that may have taken
    /// effect (no failed ones), in the caller's order. `None` (the default) claims
    /// nothing; the search decides. Must never refute a linearizable history.
    fn refute(&self, _ops: &[&Operation<Self::Op, Self::Ret>]) -> Option<Refutation> {
        None
    }

    /// A sound refutation too costly or too coarse to try first: called once the
    /// search has spent [`LATE_REFUTE_AFTER`] steps on a partition without a
    /// verdict. Same contract as [`Model::refute`]. Default: nothing.
    fn refute_late(&self, _ops: &[&Operation<Self::Op, Self::Ret>]) -> Option<Refutation> {
        None
    }

    /// Unknown-outcome operations (indices into `ops`) that can be left out: for
    /// each, any linearization that places it stays valid with it removed (its
    /// effect is never observed: a put whose value no read sees). Leaving them out
    /// spares the search from offering them at every step. Default: none.
    fn droppable_unknown(&self, _ops: &[&Operation<Self::Op, Self::Ret>]) -> Vec<usize> {
        Vec::new()
    }

    /// A deterministic hash of a state; equal states must hash equal.
    fn state_hash(&self, state: &Self::State) -> u64 {
        fx_hash(state)
    }

    /// Bytes a state owns outside itself (for the memory budget).
    fn state_heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    fn describe_op(&self, op: &Self::Op) -> String {
        format!("{op:?}")
    }

    fn describe_ret(&self, ret: &Self::Ret) -> String {
        format!("{ret:?}")
    }

    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}

/// What [`Model::refute`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refutation {
    /// Index into the `ops` slice of an operation whose result is impossible.
    pub op: usize,
    /// What the model could have returned instead, for the counterexample.
    pub expected: String,
    /// Other operations (indices into `ops`) the refutation rests on; empty when
    /// the operation's result is impossible on its own.
    pub witnesses: Vec<usize>,
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<R> {
    /// The client saw `value` at `time`.
    Returned { value: R, time: u64 },
    /// The operation certainly did not take effect (Jepsen's `:fail`).
    Failed,
    /// No response (the client crashed or timed out; Jepsen's `:info`): it may take
    /// effect at any point after its invocation, or never.
    Unknown,
}

/// One operation of a history.
///
/// Times are any clock the caller likes (simulator event indices, file line
/// numbers). Operation `a` precedes `b` in real time when `a` returned strictly before
/// `b` was invoked; equal times count as concurrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<O, R> {
    /// The caller's name for the operation, reported in counterexamples.
    pub id: u64,
    pub process: u64,
    pub op: O,
    /// Invocation time.
    pub call: u64,
    pub outcome: Outcome<R>,
}

impl<O, R> Operation<O, R> {
    pub fn ret_time(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Returned { time, .. } => Some(time.max(self.call)),
            _ => None,
        }
    }
}

/// Limits for one check. Exceeding one gives [`Verdict::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Model steps, summed over partitions.
    pub steps_max: Option<u64>,
    /// Estimated bytes held by the search's tables at any moment.
    pub memory_bytes_max: Option<u64>,
}

impl Budget {
    pub const UNLIMITED: Budget = Budget { steps_max: None, memory_bytes_max: None };
}

impl Default for Budget {
    /// 10^9 steps (minutes of work) and 4 GiB.
    fn default() -> Budget {
        Budget { steps_max: Some(1_000_000_000), memory_bytes_max: Some(4 << 30) }
    }
}

/// Counts the work of one check (across partitions) against its budget.
pub(crate) struct Meter<'a> {
    pub budget: Budget,
    pub stats: Stats,
    /// Polled every few thousand steps; returning `true` abandons the check.
    pub cancel: Option<&'a mut dyn FnMut() -> bool>,
}

impl<'a> Meter<'a> {
    pub fn new(budget: &Budget, cancel: Option<&'a mut dyn FnMut() -> bool>) -> Self {
        Meter { budget: *budget, stats: Stats::default(), cancel }
    }
}

/// What a single partition's search concluded.
pub(crate) enum PartVerdict {
    Linearizable,
    NotLinearizable(Box<Counterexample>),
    Unknown(UnknownReason),
}

impl PartVerdict {
    pub fn into_verdict(self) -> Verdict {
        match self {
            PartVerdict::Linearizable => Verdict::Linearizable,
            PartVerdict::NotLinearizable(c) => Verdict::NotLinearizable(c),
            PartVerdict::Unknown(reason) => Verdict::Unknown { reason },
        }
    }
}

pub(crate) fn summarize<M: Model>(model: &M, o: &Operation<M::Op, M::Ret>) -> OpSummary {
    OpSummary {
        id: o.id,
        process: o.process,
        op: model.describe_op(&o.op),
        outcome: match &o.outcome {
            Outcome::Returned { value, .. } => format!("ok {}", model.describe_ret(value)),
            Outcome::Failed => "fail".to_string(),
            Outcome::Unknown => "unknown".to_string(),
        },
        call: o.call,
        ret: o.ret_time(),
    }
}

const NIL: u32 = u32::MAX;
/// How far back the symmetry precomputation looks for an equal operation.
const SYMMETRY_SCAN_MAX: usize = 64;
const PREFIX_TAIL_MAX: usize = 8;

#[derive(Clone, Copy)]
enum Cursor {
    /// Scanning the known list at this entry.
    Known(u32),
    /// Scanning the unknown list at this entry; candidates were invoked at or before
    /// `bound` (the first pending return).
    Unknown(u32, u64),
}

#[derive(Clone, Copy)]
struct Frame {
    /// Where to resume when this frame is popped (the lifted entry).
    at: Cursor,
    op: u32,
    prev_state: u32,
    /// A greedy placement (a matching read): popping it means its node failed too.
    forced: bool,
}

/// Checks one history (or one partition of one) as a single object.
pub(crate) fn check_part<M: Model>(
    model: &M,
    history: &[Operation<M::Op, M::Ret>],
    partition: &str,
    meter: &mut Meter<'_>,
) -> PartVerdict {
    // The operations that may have taken effect, as local indices.
    let mut ops: Vec<&Operation<M::Op, M::Ret>> =
        history.iter().filter(|o| !matches!(o.outcome, Outcome::Failed)).collect();
    assert!(ops.len() < (u32::MAX / 2) as usize, "history too long");
    let drop = model.droppable_unknown(&ops);
    if !drop.is_empty() {
        let mut keep = vec![true; ops.len()];
        for i in drop {
            assert!(ops[i].ret_time().is_none(), "only unknown operations are droppable");
            keep[i] = false;
        }
        let mut k = keep.iter();
        ops.retain(|_| *k.next().expect("one flag per op"));
    }
    if let Some(r) = model.refute(&ops) {
        return refuted(model, &ops, r, partition);
    }
    let steps_before = meter.stats.steps;
    // A short search first: most histories are decided in a few thousand steps, with
    // the search's own counterexample. Past that, a model's costlier refutation
    // (stale reads) is tried before the search goes on with the whole budget.
    let early = steps_before.saturating_add(LATE_REFUTE_AFTER);
    let capped = meter.budget.steps_max.is_none_or(|m| m > early);
    let mut searched = if capped {
        let saved = meter.budget.steps_max;
        meter.budget.steps_max = Some(early);
        let s = search(model, &ops, meter);
        meter.budget.steps_max = saved;
        s
    } else {
        search(model, &ops, meter)
    };
    if capped && matches!(searched, Searched::Unknown(UnknownReason::Steps { .. })) {
        if let Some(r) = model.refute_late(&ops) {
            return refuted(model, &ops, r, partition);
        }
        searched = search(model, &ops, meter);
    }
    match searched {
        Searched::Linearizable => PartVerdict::Linearizable,
        Searched::Unknown(reason) => PartVerdict::Unknown(reason),
        Searched::NotLinearizable { best, culprit } => {
            let mut c = counterexample(model, &ops, &best, culprit, partition);
            let search_steps = meter.stats.steps - steps_before;
            let (kept, complete) = crate::shrink::shrink(model, &ops, culprit, search_steps, meter);
            c.minimal = kept.iter().map(|&i| summarize(model, ops[i])).collect();
            c.minimal_complete = complete;
            PartVerdict::NotLinearizable(Box::new(c))
        }
    }
}

/// Steps the search takes on a partition before [`Model::refute_late`] is tried.
pub const LATE_REFUTE_AFTER: u64 = 20_000;

/// The verdict for a refuted partition: the impossible operation and, as the minimal
/// set, it with the operations the refutation rests on.
fn refuted<M: Model>(
    model: &M,
    ops: &[&Operation<M::Op, M::Ret>],
    r: Refutation,
    partition: &str,
) -> PartVerdict {
    assert!(ops[r.op].ret_time().is_some(), "a refutation names an operation with a known result");
    let mut c = counterexample(model, ops, &[], r.op, partition);
    c.state = "(any: the result is impossible wherever it is placed)".to_string();
    c.expected = r.expected;
    let mut minimal: Vec<usize> = std::iter::once(r.op).chain(r.witnesses.iter().copied()).collect();
    minimal.sort_by_key(|&i| (ops[i].call, i));
    minimal.dedup();
    c.minimal = minimal.iter().map(|&i| summarize(model, ops[i])).collect();
    // A refutation with witnesses keeps all of them; it is not shrunk further.
    c.minimal_complete = r.witnesses.is_empty();
    PartVerdict::NotLinearizable(Box::new(c))
}

/// What the search concluded.
pub(crate) enum Searched {
    Linearizable,
    /// `best`: the deepest linearizable prefix (local indices, in order); `culprit`:
    /// the first operation to return that is not in it.
    NotLinearizable {
        best: Vec<u32>,
        culprit: usize,
    },
    Unknown(UnknownReason),
}

/// The search over `ops` (no failed operations).
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Op, M::Ret>],
    meter: &mut Meter<'_>,
) -> Searched {
    let n = ops.len();

    // Known list: entry 0 is the head sentinel, 1..=2k the calls and returns in
    // real-time order (calls first on equal times: concurrent), 2k+1 the tail.
    let mut events: Vec<(u64, bool, u32)> = Vec::new(); // (time, is_return, op)
    let mut unknown: Vec<(u64, u32)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        match o.ret_time() {
            Some(r) => {
                events.push((o.call, false, i as u32));
                events.push((r, true, i as u32));
            }
            None => unknown.push((o.call, i as u32)),
        }
    }
    events.sort_unstable();
    unknown.sort_unstable();

    let k_len = events.len() as u32;
    let k_end = k_len + 1;
    let mut k_next: Vec<u32> = (1..=k_len + 1).chain([NIL]).collect();
    let mut k_prev: Vec<u32> = [NIL].into_iter().chain(0..=k_len).collect();
    let mut e_op = vec![NIL; k_len as usize + 2];
    let mut e_ret = vec![false; k_len as usize + 2];
    let mut e_time = vec![0u64; k_len as usize + 2];
    let mut call_entry = vec![NIL; n];
    let mut ret_entry = vec![NIL; n];
    for (j, &(t, is_ret, op)) in events.iter().enumerate() {
        let e = j + 1;
        e_op[e] = op;
        e_ret[e] = is_ret;
        e_time[e] = t;
        if is_ret {
            ret_entry[op as usize] = e as u32;
        } else {
            call_entry[op as usize] = e as u32;
        }
    }

    let u_len = unknown.len() as u32;
    let u_end = u_len + 1;
    let mut u_next: Vec<u32> = (1..=u_len + 1).chain([NIL]).collect();
    let mut u_prev: Vec<u32> = [NIL].into_iter().chain(0..=u_len).collect();
    let mut u_op = vec![NIL; u_len as usize + 2];
    let mut u_time = vec![0u64; u_len as usize + 2];
    for (j, &(t, op)) in unknown.iter().enumerate() {
        u_op[j + 1] = op;
        u_time[j + 1] = t;
    }

    // For each unknown entry, the previous entry (in invocation order) with an equal
    // request, or NIL: it must be placed before this one is.
    let mut prev_same = vec![NIL; u_len as usize + 2];
    {
        let mut by_hash: Vec<(u64, u32)> =
            (1..=u_len).map(|e| (fx_hash(&ops[u_op[e as usize] as usize].op), e)).collect();
        by_hash.sort_unstable();
        for (i, &(h, e)) in by_hash.iter().enumerate() {
            let same = |&&(h2, e2): &&(u64, u32)| {
                h2 == h && ops[u_op[e2 as usize] as usize].op == ops[u_op[e as usize] as usize].op
            };
            if let Some(&(_, prev)) =
                by_hash[..i].iter().rev().take_while(|(h2, _)| *h2 == h).take(SYMMETRY_SCAN_MAX).find(same)
            {
                prev_same[e as usize] = prev;
            }
        }
    }
    let mut u_placed = vec![false; u_len as usize + 2];
    // Likewise for known operations: an equal request with an equal result whose
    // interval starts and ends no later must be placed first (swapping the two in any
    // linearization keeps both inside their intervals).
    let mut prev_same_known = vec![NIL; n];
    {
        let mut by_hash: Vec<(u64, u64, u32)> = (0..n as u32)
            .filter(|&i| ops[i as usize].ret_time().is_some())
            .map(|i| {
                let o = ops[i as usize];
                let Outcome::Returned { value, .. } = &o.outcome else { unreachable!("known op") };
                (fx_hash(&(&o.op, value)), o.call, i)
            })
            .collect();
        by_hash.sort_unstable();
        let seen = |i: u32| match &ops[i as usize].outcome {
            Outcome::Returned { value, .. } => value,
            _ => unreachable!("known op"),
        };
        for (j, &(h, _, i)) in by_hash.iter().enumerate() {
            let a = ops[i as usize];
            // The hint is optional (skipping it is sound), so the scan is bounded.
            let earlier =
                by_hash[..j].iter().rev().take_while(|(h2, _, _)| *h2 == h).take(SYMMETRY_SCAN_MAX).find(
                    |&&(_, _, k)| {
                        let b = ops[k as usize];
                        b.op == a.op && seen(k) == seen(i) && b.ret_time() <= a.ret_time()
                    },
                );
            if let Some(&(_, _, k)) = earlier {
                prev_same_known[i as usize] = k;
            }
        }
    }
    let mut placed = vec![false; n];

    let mut states: StateTable<M::State> = StateTable::new();
    let init = model.init();
    let h = model.state_hash(&init);
    let heap = model.state_heap_bytes(&init);
    let mut state = states.intern(init, h, heap);
    let mut memo = DomTable::new();
    // The fingerprint of the linearized operations: in dominance mode (at most 128
    // unknown operations) of the known ones only, the unknown ones being the mask
    // `umask` (bit `entry - 1`), compared by inclusion; otherwise of all of them.
    let dominance = u_len <= 128;
    let mut fp: u128 = 0;
    let mut umask: u128 = 0;
    let mut stack: Vec<Frame> = Vec::new();
    // The deepest stack seen (as ops), sharing `best_common` entries with `stack`.
    let mut best: Vec<u32> = Vec::new();
    let mut best_common = 0usize;
    let fixed_bytes = (k_len as usize + 2) * 21 + (u_len as usize + 2) * 16 + n * 8;

    let mut cursor = Cursor::Known(k_next[0]);
    let mut iterations: u64 = 0;

    let verdict = 'search: loop {
        if k_next[0] == k_end {
            break 'search PartVerdict::Linearizable;
        }
        // Budgets.
        iterations += 1;
        if iterations & 1023 == 0 {
            let bytes =
                (memo.bytes() + states.bytes() + fixed_bytes + stack.capacity() * 16 + best.capacity() * 4)
                    as u64;
            meter.stats.peak_bytes = meter.stats.peak_bytes.max(bytes);
            if let Some(max) = meter.budget.memory_bytes_max
                && bytes > max
            {
                break 'search PartVerdict::Unknown(UnknownReason::Memory { bytes_max: max });
            }
            if iterations & 4095 == 0
                && let Some(cancel) = meter.cancel.as_mut()
                && cancel()
            {
                break 'search PartVerdict::Unknown(UnknownReason::Cancelled);
            }
        }
        if memo.will_grow()
            && let Some(max) = meter.budget.memory_bytes_max
        {
            let projected = (memo.bytes() * 3 + states.bytes() + fixed_bytes) as u64;
            if projected > max {
                break 'search PartVerdict::Unknown(UnknownReason::Memory { bytes_max: max });
            }
        }
        if let Some(max) = meter.budget.steps_max
            && meter.stats.steps >= max
        {
            break 'search PartVerdict::Unknown(UnknownReason::Steps { steps_max: max });
        }

        // One move: try the candidate under the cursor, or advance, or backtrack.
        let mut pushed: Option<Frame> = None;
        // The lazy placement constraint: the unknown op placed last, and its state before.
        let lazy = match stack.last() {
            Some(&Frame { at: Cursor::Unknown(entry, _), op, prev_state, .. }) => {
                Some((op, prev_state, entry))
            }
            _ => None,
        };
        match cursor {
            Cursor::Known(e) if !e_ret[e as usize] => {
                let op = e_op[e as usize];
                let o = ops[op as usize];
                let Outcome::Returned { value: seen, .. } = &o.outcome else { unreachable!("known op") };
                let prev = prev_same_known[op as usize];
                if prev != NIL && !placed[prev as usize] {
                    cursor = Cursor::Known(k_next[e as usize]);
                    continue;
                }
                meter.stats.steps += 1;
                let (ret, next) = model.step(states.get(state), &o.op);
                let redundant = model.matches(&ret, seen)
                    && lazy.is_some_and(|(u, s0, _)| {
                        meter.stats.steps += 2;
                        let s1o = next.as_ref().unwrap_or(states.get(state));
                        lazy_redundant(
                            model,
                            states.get(s0),
                            &ops[u as usize].op,
                            &o.op,
                            Some(seen),
                            s1o,
                            true,
                        )
                    });
                if model.matches(&ret, seen) && !redundant {
                    let next_id = match next {
                        None => state,
                        Some(s) => {
                            let h = model.state_hash(&s);
                            let heap = model.state_heap_bytes(&s);
                            states.intern(s, h, heap)
                        }
                    };
                    let fp2 = fp ^ zobrist(op);
                    let forced = next_id == state && model.read_only(&o.op, seen);
                    if memo.insert(fp2, next_id, umask) {
                        pushed = Some(Frame { at: cursor, op, prev_state: state, forced });
                        // Lift the call and its return.
                        let r = ret_entry[op as usize];
                        for x in [e, r] {
                            let (p, nx) = (k_prev[x as usize], k_next[x as usize]);
                            k_next[p as usize] = nx;
                            k_prev[nx as usize] = p;
                        }
                        placed[op as usize] = true;
                        state = next_id;
                        fp = fp2;
                    } else if forced {
                        // Already explored with this read placed first: this node
                        // cannot succeed either.
                        cursor = Cursor::Unknown(u_end, 0);
                        continue;
                    }
                }
                if pushed.is_none() {
                    cursor = Cursor::Known(k_next[e as usize]);
                }
            }
            Cursor::Known(e) => {
                // The first pending return: the known candidates are exhausted.
                debug_assert!(e != k_end);
                cursor = Cursor::Unknown(u_next[0], e_time[e as usize]);
            }
            Cursor::Unknown(u, bound) if u != u_end && u_time[u as usize] <= bound => {
                let op = u_op[u as usize];
                let o = ops[op as usize];
                let prev = prev_same[u as usize];
                if prev != NIL && !u_placed[prev as usize] {
                    cursor = Cursor::Unknown(u_next[u as usize], bound);
                    continue;
                }
                meter.stats.steps += 1;
                let (_, next) = model.step(states.get(state), &o.op);
                let redundant = next.as_ref().is_some_and(|s1o| {
                    lazy.is_some_and(|(v, s0, v_entry)| {
                        meter.stats.steps += 2;
                        // Adjacent commuting unknown operations go in invocation order.
                        lazy_redundant(
                            model,
                            states.get(s0),
                            &ops[v as usize].op,
                            &o.op,
                            None,
                            s1o,
                            u < v_entry,
                        )
                    })
                });
                if let Some(s) = next.filter(|_| !redundant) {
                    let h = model.state_hash(&s);
                    let heap = model.state_heap_bytes(&s);
                    let next_id = states.intern(s, h, heap);
                    let (fp2, umask2) =
                        if dominance { (fp, umask | 1u128 << (u - 1)) } else { (fp ^ zobrist(op), 0) };
                    if next_id != state && memo.insert(fp2 ^ lazy_marker(op, state), next_id, umask2) {
                        pushed = Some(Frame { at: cursor, op, prev_state: state, forced: false });
                        let (p, nx) = (u_prev[u as usize], u_next[u as usize]);
                        u_next[p as usize] = nx;
                        u_prev[nx as usize] = p;
                        u_placed[u as usize] = true;
                        state = next_id;
                        fp = fp2;
                        umask = umask2;
                    }
                }
                if pushed.is_none() {
                    cursor = Cursor::Unknown(u_next[u as usize], bound);
                }
            }
            Cursor::Unknown(..) => {
                // Every candidate failed: backtrack to the last choice.
                loop {
                    let Some(f) = stack.pop() else {
                        break 'search PartVerdict::NotLinearizable(Box::default());
                    };
                    best_common = best_common.min(stack.len());
                    state = f.prev_state;
                    match f.at {
                        Cursor::Known(e) => {
                            let r = ret_entry[f.op as usize];
                            for x in [r, e] {
                                let (p, nx) = (k_prev[x as usize], k_next[x as usize]);
                                k_next[p as usize] = x;
                                k_prev[nx as usize] = x;
                            }
                            placed[f.op as usize] = false;
                            fp ^= zobrist(f.op);
                            cursor = Cursor::Known(k_next[e as usize]);
                        }
                        Cursor::Unknown(u, bound) => {
                            let (p, nx) = (u_prev[u as usize], u_next[u as usize]);
                            u_next[p as usize] = u;
                            u_prev[nx as usize] = u;
                            u_placed[u as usize] = false;
                            if dominance {
                                umask &= !(1u128 << (u - 1));
                            } else {
                                fp ^= zobrist(f.op);
                            }
                            cursor = Cursor::Unknown(u_next[u as usize], bound);
                        }
                    }
                    if !f.forced {
                        break;
                    }
                }
                continue;
            }
        }
        if let Some(f) = pushed {
            stack.push(f);
            if stack.len() > best.len() {
                best.truncate(best_common);
                best.extend(stack[best_common..].iter().map(|f| f.op));
                best_common = stack.len();
            }
            cursor = Cursor::Known(k_next[0]);
        }
    };
    meter.stats.memo_entries_max = meter.stats.memo_entries_max.max(memo.len() as u64);
    let bytes = (memo.bytes() + states.bytes() + fixed_bytes) as u64;
    meter.stats.peak_bytes = meter.stats.peak_bytes.max(bytes);
    drop(memo);
    drop(states);

    match verdict {
        PartVerdict::NotLinearizable(_) => {
            let mut in_prefix = vec![false; n];
            for &op in &best {
                in_prefix[op as usize] = true;
            }
            let culprit = events
                .iter()
                .find(|&&(_, is_ret, op)| is_ret && !in_prefix[op as usize])
                .map(|&(_, _, op)| op as usize)
                .expect("a non-linearizable history has a known operation the prefix lacks");
            Searched::NotLinearizable { best, culprit }
        }
        PartVerdict::Linearizable => Searched::Linearizable,
        PartVerdict::Unknown(reason) => Searched::Unknown(reason),
    }
}

/// Whether placing `o` right after unknown operation `u` (placed in state `s0`,
/// giving `s1o` after both) is redundant: `o` alone from `s0` gives the client's
/// result and the same state (`u` is absorbed), or, when `commute` is allowed, `o`
/// then `u` does (they commute, so `u` can go later).
fn lazy_redundant<M: Model>(
    model: &M,
    s0: &M::State,
    u: &M::Op,
    o: &M::Op,
    seen: Option<&M::Ret>,
    s1o: &M::State,
    commute: bool,
) -> bool {
    let (r, n) = model.step(s0, o);
    if seen.is_some_and(|seen| !model.matches(&r, seen)) {
        return false;
    }
    let s0o = n.as_ref().unwrap_or(s0);
    if s0o == s1o {
        return true;
    }
    if !commute {
        return false;
    }
    let (_, n2) = model.step(s0o, u);
    n2.as_ref().unwrap_or(s0o) == s1o
}

/// Builds the counterexample from the deepest prefix: replay it and say what the
/// model would return for the culprit (the first operation to return that is not
/// in it). The minimal set is left empty for the caller.
fn counterexample<M: Model>(
    model: &M,
    ops: &[&Operation<M::Op, M::Ret>],
    best: &[u32],
    culprit: usize,
    partition: &str,
) -> Counterexample {
    let mut in_prefix = vec![false; ops.len()];
    let mut state = model.init();
    for &op in best {
        in_prefix[op as usize] = true;
        if let (_, Some(s)) = model.step(&state, &ops[op as usize].op) {
            state = s;
        }
    }
    let c = ops[culprit];
    let (expected, _) = model.step(&state, &c.op);
    let Outcome::Returned { value: seen, time: c_ret } = &c.outcome else { unreachable!("known op") };
    let c_ret = (*c_ret).max(c.call);
    let mut concurrent_linearized = Vec::new();
    let mut concurrent_pending = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let overlaps = o.call <= c_ret && o.ret_time().is_none_or(|r| r >= c.call);
        if i == culprit || !overlaps {
            continue;
        }
        if in_prefix[i] {
            concurrent_linearized.push(summarize(model, o));
        } else {
            concurrent_pending.push(summarize(model, o));
        }
    }
    let tail_from = best.len().saturating_sub(PREFIX_TAIL_MAX);
    Counterexample {
        partition: partition.to_string(),
        prefix: best.iter().map(|&i| ops[i as usize].id).collect(),
        prefix_tail: best[tail_from..].iter().map(|&i| summarize(model, ops[i as usize])).collect(),
        state: model.describe_state(&state),
        culprit: summarize(model, c),
        expected: model.describe_ret(&expected),
        seen: model.describe_ret(seen),
        concurrent_linearized,
        concurrent_pending,
        minimal: Vec::new(),
        minimal_complete: false,
    }
}

impl Default for Counterexample {
    fn default() -> Self {
        Counterexample {
            partition: String::new(),
            prefix: Vec::new(),
            prefix_tail: Vec::new(),
            state: String::new(),
            culprit: OpSummary {
                id: 0,
                process: 0,
                op: String::new(),
                outcome: String::new(),
                call: 0,
                ret: None,
            },
            expected: String::new(),
            seen: String::new(),
            concurrent_linearized: Vec::new(),
            concurrent_pending: Vec::new(),
            minimal: Vec::new(),
            minimal_complete: false,
        }
    }
}
