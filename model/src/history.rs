//! A client history: what every client asked, when, and what it was told.
//!
//! Each operation has an invocation and, unless its client crashed or timed out, a
//! completion. Times are simulated nanoseconds (or, for histories from real systems,
//! any monotonic clock). A process has at most one operation open at a time; a
//! client whose operation ended with an unknown outcome continues as a new process
//! (Jepsen's convention), because the old operation may still take effect.

use crate::ops::{Op, OpResult};
use serde::{Deserialize, Serialize};

/// A sequential client: at most one operation open at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProcessId(pub u32);

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Completion {
    /// The system answered with a result the model defines (values, done, or a model
    /// error such as `NotAccessible`).
    Returned(OpResult),
    /// The operation certainly did not take effect (it was never delivered, e.g. no
    /// path to the array). Jepsen's `:fail`.
    Failed(String),
    /// No answer: the client crashed or timed out. The operation may take effect at
    /// any point after its invocation, or never. Jepsen's `:info`.
    Unknown,
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryOp {
    pub process: ProcessId,
    pub op: Op,
    pub invoke_ns: u64,
    /// When the completion was observed; `None` for [`Completion::Unknown`].
    pub complete_ns: Option<u64>,
    pub completion: Completion,
    /// Index of the simulator event that invoked the operation (for reports).
    pub invoke_event: u64,
    /// Index of the simulator event that completed it, if any.
    pub complete_event: Option<u64>,
}

/// A whole history, operations in invocation order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub ops: Vec<HistoryOp>,
}
