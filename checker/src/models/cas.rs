//! A compare-and-set register: read, write, compare-and-set.
//!
//! Values are `u64`; a caller with richer values (the JSON-lines reader) numbers them
//! and passes their names for counterexamples.

use crate::linearizability::Model;

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
