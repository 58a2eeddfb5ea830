//! A compare-and-set register: read, write, compare-and-set.
//!
//! Values are `u64`; a caller with richer values (the JSON-lines reader) numbers them
//! and passes their names for counterexamples.

use crate::linearizability::{Model, Operation, Outcome, Refutation};
use std::collections::BTreeMap;

/// The register. Starts at `init`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CasRegister {
    pub init: u64,
    /// Display names of values (`names[v]` for value `v`), for counterexamples.
    pub names: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegOp {
    Read,
    Write(u64),
    /// Sets `new` if the register holds `expected`.
    Cas {
        expected: u64,
        new: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegRet {
    Read(u64),
    Written,
    /// Whether the compare-and-set took effect. (In Jepsen histories a CAS that did
    /// not is `fail`, i.e. left out; this result exists for callers that report it.)
    Cas(bool),
}

impl CasRegister {
    fn name(&self, v: u64) -> String {
        match self.names.get(v as usize) {
            Some(n) => n.clone(),
            None => v.to_string(),
        }
    }
}

impl Model for CasRegister {
    type Op = RegOp;
    type Ret = RegRet;
    type State = u64;

    fn init(&self) -> u64 {
        self.init
    }

    fn step(&self, state: &u64, op: &RegOp) -> (RegRet, Option<u64>) {
        match *op {
            RegOp::Read => (RegRet::Read(*state), None),
            RegOp::Write(v) => (RegRet::Written, Some(v)),
            RegOp::Cas { expected, new } if expected == *state => (RegRet::Cas(true), Some(new)),
            RegOp::Cas { .. } => (RegRet::Cas(false), None),
        }
    }

    fn read_only(&self, op: &RegOp, ret: &RegRet) -> bool {
        matches!((op, ret), (RegOp::Read, _) | (RegOp::Cas { .. }, RegRet::Cas(false)))
    }

    /// A read of `v` (or a swapping compare-and-set expecting `v`) is impossible
    /// unless `v` is the initial value or some other operation invoked no later than
    /// its response writes `v` (a write, or a compare-and-set not known to have
    /// failed). A result of the wrong kind is impossible too. Linear-logarithmic,
    /// and it spares the search an exhaustive walk of every prefix (exponential in
    /// the unknown operations) before it could conclude the same.
    fn refute(&self, ops: &[&Operation<RegOp, RegRet>]) -> Option<Refutation> {
        // The two earliest invocations of an operation that may write each value.
        let mut producers: BTreeMap<u64, [(u64, usize); 2]> = BTreeMap::new();
        for (i, o) in ops.iter().enumerate() {
            let v = match (o.op, &o.outcome) {
                (_, Outcome::Failed) | (RegOp::Read, _) => continue,
                (RegOp::Cas { .. }, Outcome::Returned { value: RegRet::Cas(false), .. }) => continue,
                (RegOp::Write(v), _) | (RegOp::Cas { new: v, .. }, _) => v,
            };
            let e = producers.entry(v).or_insert([(u64::MAX, usize::MAX); 2]);
            if (o.call, i) < e[0] {
                e[1] = e[0];
                e[0] = (o.call, i);
            } else if (o.call, i) < e[1] {
                e[1] = (o.call, i);
            }
        }
        let written_before = |v: u64, i: usize, ret: u64| {
            producers
                .get(&v)
                .is_some_and(|p| p.iter().any(|&(call, j)| j != i && j != usize::MAX && call <= ret))
        };
        // The impossible operation that returned first: (response, index, what it needs).
        let mut first: Option<(u64, usize, Option<&str>)> = None;
        for (i, o) in ops.iter().enumerate() {
            let Outcome::Returned { value, .. } = &o.outcome else { continue };
            let ret = o.ret_time().expect("returned");
            let impossible = match (o.op, *value) {
                (RegOp::Read, RegRet::Read(v)) | (RegOp::Cas { expected: v, .. }, RegRet::Cas(true)) => {
                    v != self.init && !written_before(v, i, ret)
                }
                (RegOp::Cas { .. }, RegRet::Cas(false)) | (RegOp::Write(_), RegRet::Written) => false,
                _ => true,
            };
            let kind = match (o.op, *value) {
                (RegOp::Read, RegRet::Read(_)) | (RegOp::Cas { .. }, RegRet::Cas(_)) => None,
                (RegOp::Read, _) => Some("a value read"),
                (RegOp::Write(_), _) => Some("done"),
                (RegOp::Cas { .. }, _) => Some("swapped or not swapped"),
            };
            if impossible && first.is_none_or(|f| (ret, i) < (f.0, f.1)) {
                first = Some((ret, i, kind));
            }
        }
        let (ret, op, kind) = first?;
        let expected = match kind {
            Some(k) => k.to_string(),
            None => {
                let mut vs = vec![self.init];
                vs.extend(
                    producers.keys().copied().filter(|&v| v != self.init && written_before(v, op, ret)),
                );
                let shown: Vec<String> = vs.iter().take(8).map(|&v| self.name(v)).collect();
                let seen = match (ops[op].op, &ops[op].outcome) {
                    (RegOp::Read, Outcome::Returned { value: RegRet::Read(v), .. }) => *v,
                    (RegOp::Cas { expected, .. }, _) => expected,
                    _ => unreachable!("a value-impossible read or swap"),
                };
                format!(
                    "{}{}{} (no operation invoked before it returned writes {})",
                    match (ops[op].op, vs.len()) {
                        (RegOp::Read, 1) => "",
                        (RegOp::Read, _) => "one of ",
                        _ => "not swapped: the register holds one of ",
                    },
                    shown.join(", "),
                    if vs.len() > 8 { ", ..." } else { "" },
                    self.name(seen)
                )
            }
        };
        Some(Refutation { op, expected, witnesses: Vec::new() })
    }

    fn refute_late(&self, ops: &[&Operation<RegOp, RegRet>]) -> Option<Refutation> {
        self.refute_stale(ops)
    }

    fn describe_op(&self, op: &RegOp) -> String {
        match *op {
            RegOp::Read => "read".to_string(),
            RegOp::Write(v) => format!("write {}", self.name(v)),
            RegOp::Cas { expected, new } => format!("cas {} -> {}", self.name(expected), self.name(new)),
        }
    }

    fn describe_ret(&self, ret: &RegRet) -> String {
        match *ret {
            RegRet::Read(v) => self.name(v),
            RegRet::Written => "done".to_string(),
            RegRet::Cas(true) => "swapped".to_string(),
            RegRet::Cas(false) => "not swapped".to_string(),
        }
    }

    fn describe_state(&self, state: &u64) -> String {
        self.name(*state)
    }
}

impl CasRegister {
    /// Stale reads, refuted without a search. A read (or a successful CAS) that needs
    /// value `v` is impossible when every operation that may write `v` (and the
    /// initial value, if `v` is it) is *dead* for it: some write that certainly took
    /// effect (an acknowledged write or successful CAS) was invoked after that
    /// producer returned and returned before the read was invoked, so it is
    /// linearized between them; and producers invoked after the read returned cannot
    /// precede it at all. Then the last write before the read in any linearization
    /// would be a dead producer with a later write before the read: a contradiction.
    /// Unknown producers never die (they never returned). O(n log n).
    fn refute_stale(&self, ops: &[&Operation<RegOp, RegRet>]) -> Option<Refutation> {
        // Certain writes as (call, return, index), by call, with the suffix minimum
        // of returns (and which write has it).
        let mut kills: Vec<(u64, u64, usize)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match (o.op, &o.outcome) {
                (RegOp::Write(_), Outcome::Returned { .. })
                | (RegOp::Cas { .. }, Outcome::Returned { value: RegRet::Cas(true), .. }) => {
                    Some((o.call, o.ret_time().expect("returned"), i))
                }
                _ => None,
            })
            .collect();
        kills.sort_unstable();
        let mut suffix_min = vec![(u64::MAX, usize::MAX); kills.len() + 1];
        for i in (0..kills.len()).rev() {
            suffix_min[i] = suffix_min[i + 1].min((kills[i].1, kills[i].2));
        }
        // The certain write invoked strictly after `t` that returns first.
        let killed_after = |t: u64| suffix_min[kills.partition_point(|k| k.0 <= t)];
        // Producers of each value: (call, return or MAX, index).
        let mut producers: BTreeMap<u64, Vec<(u64, u64, usize)>> = BTreeMap::new();
        for (i, o) in ops.iter().enumerate() {
            let v = match (o.op, &o.outcome) {
                (_, Outcome::Failed) | (RegOp::Read, _) => continue,
                (RegOp::Cas { .. }, Outcome::Returned { value: RegRet::Cas(false), .. }) => continue,
                (RegOp::Write(v), _) | (RegOp::Cas { new: v, .. }, _) => v,
            };
            producers.entry(v).or_default().push((o.call, o.ret_time().unwrap_or(u64::MAX), i));
        }
        let mut first: Option<(u64, usize, u64, Vec<usize>)> = None;
        for (i, o) in ops.iter().enumerate() {
            let v = match (o.op, &o.outcome) {
                (RegOp::Read, Outcome::Returned { value: RegRet::Read(v), .. }) => *v,
                (RegOp::Cas { expected, .. }, Outcome::Returned { value: RegRet::Cas(true), .. }) => expected,
                _ => continue,
            };
            let (call, ret) = (o.call, o.ret_time().expect("returned"));
            if first.as_ref().is_some_and(|f| (f.0, f.1) < (ret, i)) {
                continue;
            }
            // The witnesses: each producer that could precede, and the write that
            // killed it (and the one that killed the initial value).
            let mut witnesses = Vec::new();
            let init_dead = v != self.init || {
                let (k_ret, k) = suffix_min[0];
                witnesses.push(k);
                k_ret < call
            };
            let all_dead = init_dead
                && producers.get(&v).is_none_or(|ps| {
                    ps.iter().all(|&(p_call, p_ret, p)| {
                        if p_call > ret {
                            return true;
                        }
                        let (k_ret, k) =
                            if p_ret == u64::MAX { (u64::MAX, usize::MAX) } else { killed_after(p_ret) };
                        witnesses.extend([p, k]);
                        k_ret < call
                    })
                });
            if all_dead {
                witnesses.retain(|&w| w != usize::MAX && w != i);
                first = Some((ret, i, v, witnesses));
            }
        }
        let (_, op, v, witnesses) = first?;
        Some(Refutation {
            op,
            witnesses,
            expected: format!(
                "not {}: every write of it was certainly overwritten before this operation began (a stale read)",
                self.name(v)
            ),
        })
    }
}
