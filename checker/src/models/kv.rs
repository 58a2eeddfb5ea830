//! A key-value store of strings: get, put, append. An absent key reads as `""`.
//!
//! Keys are independent objects, so [`Kv`] partitions per key into [`KvKey`]
//! registers.

use crate::linearizability::{Model, Operation, Outcome, Refutation};
use crate::partition::{Partitioned, Projection};
use std::collections::{BTreeMap, BTreeSet};

/// The whole store (used only for whole-object checks; see [`Partitioned`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kv;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    Get(String),
    Put(String, String),
    Append(String, String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvRet {
    /// What a get read.
    Value(String),
    /// A put or append took effect.
    Done,
}

impl KvOp {
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get(k) | KvOp::Put(k, _) | KvOp::Append(k, _) => k,
        }
    }
}

fn describe_ret(ret: &KvRet) -> String {
    match ret {
        KvRet::Value(v) => format!("{v:?}"),
        KvRet::Done => "done".to_string(),
    }
}

impl Model for Kv {
    type Op = KvOp;
    type Ret = KvRet;
    type State = BTreeMap<String, String>;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(&self, state: &Self::State, op: &KvOp) -> (KvRet, Option<Self::State>) {
        match op {
            KvOp::Get(k) => (KvRet::Value(state.get(k).cloned().unwrap_or_default()), None),
            KvOp::Put(k, v) => {
                let mut s = state.clone();
                s.insert(k.clone(), v.clone());
                (KvRet::Done, Some(s))
            }
            KvOp::Append(k, v) => {
                let mut s = state.clone();
                s.entry(k.clone()).or_default().push_str(v);
                (KvRet::Done, Some(s))
            }
        }
    }

    fn read_only(&self, op: &KvOp, _ret: &KvRet) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn state_heap_bytes(&self, state: &Self::State) -> usize {
        state.iter().map(|(k, v)| k.capacity() + v.capacity() + 48).sum()
    }

    fn describe_op(&self, op: &KvOp) -> String {
        match op {
            KvOp::Get(k) => format!("get {k:?}"),
            KvOp::Put(k, v) => format!("put {k:?} {v:?}"),
            KvOp::Append(k, v) => format!("append {k:?} {v:?}"),
        }
    }

    fn describe_ret(&self, ret: &KvRet) -> String {
        describe_ret(ret)
    }
}

/// One key: a string register with append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvKey;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyOp {
    Get,
    Put(String),
    Append(String),
}

impl Model for KvKey {
    type Op = KeyOp;
    type Ret = KvRet;
    type State = String;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, op: &KeyOp) -> (KvRet, Option<String>) {
        match op {
            KeyOp::Get => (KvRet::Value(state.clone()), None),
            KeyOp::Put(v) => (KvRet::Done, Some(v.clone())),
            KeyOp::Append(v) => {
                let mut s = String::with_capacity(state.len() + v.len());
                s.push_str(state);
                s.push_str(v);
                (KvRet::Done, Some(s))
            }
        }
    }

    fn read_only(&self, op: &KeyOp, _ret: &KvRet) -> bool {
        matches!(op, KeyOp::Get)
    }

    fn state_heap_bytes(&self, state: &String) -> usize {
        state.capacity()
    }

    /// An unknown put of `v` that no get's value starts with: wherever it is placed,
    /// no get follows it before the next put (the get would read a string starting
    /// with `v`), appends return `done` in any state, and the next put overwrites
    /// it, so removing it keeps the linearization valid. (Not appends: dropping one
    /// would need a substring test against every get.)
    fn droppable_unknown(&self, ops: &[&Operation<KeyOp, KvRet>]) -> Vec<usize> {
        let mut reads: Vec<&str> = ops
            .iter()
            .filter_map(|o| match &o.outcome {
                Outcome::Returned { value: KvRet::Value(v), .. } => Some(v.as_str()),
                _ => None,
            })
            .collect();
        reads.sort_unstable();
        (0..ops.len())
            .filter(|&i| match (&ops[i].op, &ops[i].outcome) {
                (KeyOp::Put(v), Outcome::Unknown) => {
                    // The reads starting with `v` are contiguous in sorted order,
                    // from the first one not less than `v`.
                    let at = reads.partition_point(|r| *r < v.as_str());
                    !reads.get(at).is_some_and(|r| r.starts_with(v.as_str()))
                }
                _ => false,
            })
            .collect()
    }

    /// A get of a non-empty `v` is impossible unless some operation invoked no later
    /// than its response could leave `v`: a put of exactly `v`, or an append of a
    /// suffix of `v`. A result of the wrong kind is impossible too. Linear
    /// logarithmic (per get, one lookup per distinct append length).
    fn refute(&self, ops: &[&Operation<KeyOp, KvRet>]) -> Option<Refutation> {
        let mut puts: BTreeMap<&str, u64> = BTreeMap::new();
        let mut appends: BTreeMap<&str, u64> = BTreeMap::new();
        let mut lengths: BTreeSet<usize> = BTreeSet::new();
        for o in ops {
            let (map, v) = match &o.op {
                _ if matches!(o.outcome, Outcome::Failed) => continue,
                KeyOp::Get => continue,
                KeyOp::Put(v) => (&mut puts, v),
                KeyOp::Append(v) => {
                    lengths.insert(v.len());
                    (&mut appends, v)
                }
            };
            let e = map.entry(v.as_str()).or_insert(u64::MAX);
            *e = (*e).min(o.call);
        }
        let producible = |v: &str, ret: u64| {
            v.is_empty()
                || puts.get(v).is_some_and(|&c| c <= ret)
                || lengths.iter().any(|&l| {
                    l <= v.len()
                        && v.is_char_boundary(v.len() - l)
                        && appends.get(&v[v.len() - l..]).is_some_and(|&c| c <= ret)
                })
        };
        let mut first: Option<(u64, usize, &'static str)> = None;
        for (i, o) in ops.iter().enumerate() {
            let Outcome::Returned { value, .. } = &o.outcome else { continue };
            let ret = o.ret_time().expect("returned");
            let expected = match (&o.op, value) {
                (KeyOp::Get, KvRet::Value(v)) if producible(v, ret) => continue,
                (KeyOp::Get, KvRet::Value(_)) => {
                    "\"\", or a value put, or one ending with a value appended, by an operation \
                     invoked before it returned"
                }
                (KeyOp::Get, KvRet::Done) => "a value",
                (KeyOp::Put(_) | KeyOp::Append(_), KvRet::Done) => continue,
                (KeyOp::Put(_) | KeyOp::Append(_), KvRet::Value(_)) => "done",
            };
            if first.is_none_or(|f| (ret, i) < (f.0, f.1)) {
                first = Some((ret, i, expected));
            }
        }
        first.map(|(_, op, expected)| Refutation {
            op,
            expected: expected.to_string(),
            witnesses: Vec::new(),
        })
    }

    fn describe_op(&self, op: &KeyOp) -> String {
        match op {
            KeyOp::Get => "get".to_string(),
            KeyOp::Put(v) => format!("put {v:?}"),
            KeyOp::Append(v) => format!("append {v:?}"),
        }
    }

    fn describe_ret(&self, ret: &KvRet) -> String {
        describe_ret(ret)
    }

    fn describe_state(&self, state: &String) -> String {
        format!("{state:?}")
    }
}

/// A key, displayed as `key "k"`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyName(pub String);

impl std::fmt::Display for KeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key {:?}", self.0)
    }
}

impl Partitioned for Kv {
    type Key = KeyName;
    type Part = KvKey;

    fn part_model(&self, _key: &KeyName) -> KvKey {
        KvKey
    }

    fn project(&self, op: &KvOp, ret: Option<&KvRet>) -> Projection<KeyName, KeyOp, KvRet> {
        let key = KeyName(op.key().to_string());
        let sub = match op {
            KvOp::Get(_) => KeyOp::Get,
            KvOp::Put(_, v) => KeyOp::Put(v.clone()),
            KvOp::Append(_, v) => KeyOp::Append(v.clone()),
        };
        if matches!(sub, KeyOp::Get) && ret.is_none() {
            // An unknown get neither changes nor observes anything.
            return Projection::Parts(Vec::new());
        }
        Projection::Parts(vec![(key, sub, ret.cloned())])
    }
}
