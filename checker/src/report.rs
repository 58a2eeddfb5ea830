//! Verdicts, statistics and counterexamples: what a check says, for people (Display)
//! and for programs (serde).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    pub stats: Stats,
}

/// The verdict. `Unknown` is never a pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Box<Counterexample>),
    /// A budget ran out before the search finished.
    Unknown {
        reason: UnknownReason,
    },
}

/// Why a check gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "budget", rename_all = "snake_case")]
pub enum UnknownReason {
    /// More than `steps_max` model steps.
    Steps { steps_max: u64 },
    /// The search's tables would exceed `bytes_max`.
    Memory { bytes_max: u64 },
    /// The caller's cancel hook (the CLI's wall-clock budget) fired.
    Cancelled,
}

/// What the search did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Operations in the history (failed ones included).
    pub ops: u64,
    /// Operations whose outcome is unknown.
    pub unknown_ops: u64,
    /// Independent partitions checked (1 for a whole-object check).
    pub partitions: u64,
    /// Whether the history was checked as one object (some operation touched every part).
    pub whole_object: bool,
    /// Model steps taken, over all partitions.
    pub steps: u64,
    /// Largest memo (configurations explored) of any partition.
    pub memo_entries_max: u64,
    /// Largest estimated footprint of the search's tables, bytes.
    pub peak_bytes: u64,
    /// Of `steps`, those spent shrinking a counterexample to its minimal set.
    #[serde(default)]
    pub counterexample_steps: u64,
}

/// One operation, described for a reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpSummary {
    /// The caller's id for the operation (history index, or file line of its invocation).
    pub id: u64,
    pub process: u64,
    /// The operation as the partition's model sees it.
    pub op: String,
    /// `ok <result>` or `unknown`.
    pub outcome: String,
    /// Invocation time (the caller's clock: event index or line number).
    pub call: u64,
    /// Completion time; `None` for an unknown outcome.
    pub ret: Option<u64>,
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The independent part that failed (`whole object` when unpartitioned).
    pub partition: String,
    /// The longest linearizable prefix the search found, in linearization order (ids).
    pub prefix: Vec<u64>,
    /// The last few operations of that prefix, described.
    pub prefix_tail: Vec<OpSummary>,
    /// The model's state after the prefix.
    pub state: String,
    /// The operation that cannot be placed after the prefix: the first one to return
    /// that is not in it.
    pub culprit: OpSummary,
    /// What the model returns for the culprit in `state`.
    pub expected: String,
    /// What the client saw.
    pub seen: String,
    /// The operations whose interval overlaps the culprit's, already in the prefix
    /// (they could have been ordered after it instead; the search tried).
    pub concurrent_linearized: Vec<OpSummary>,
    /// The operations overlapping the culprit that are not in the prefix: each of them
    /// either cannot be placed before it either, or placing it leads nowhere.
    pub concurrent_pending: Vec<OpSummary>,
    /// A minimal set of operations (the culprit among them, in invocation order)
    /// whose results cannot be linearized together even if every other operation is
    /// treated as unknown (it may have taken effect at any point after its
    /// invocation, or not at all) and every other read is ignored.
    #[serde(default)]
    pub minimal: Vec<OpSummary>,
    /// Whether `minimal` is 1-minimal (relaxing any one of its operations makes the
    /// history linearizable). `false` when the shrinking budget ran out first: the
    /// set still shows the violation but may hold an unnecessary operation.
    #[serde(default)]
    pub minimal_complete: bool,
}

impl Report {
    pub fn is_linearizable(&self) -> bool {
        matches!(self.verdict, Verdict::Linearizable)
    }

    /// The counterexample, if the verdict is a violation.
    pub fn counterexample(&self) -> Option<&Counterexample> {
        match &self.verdict {
            Verdict::NotLinearizable(c) => Some(c),
            _ => None,
        }
    }

    /// A one-line summary: `linearizable`, `NOT linearizable (partition …: op …)`, or
    /// `unknown (…)`.
    pub fn headline(&self) -> String {
        match &self.verdict {
            Verdict::Linearizable => "linearizable".to_string(),
            Verdict::NotLinearizable(c) => format!(
                "NOT linearizable: {}: {} by process {} (id {}): expected {}, saw {}",
                c.partition, c.culprit.op, c.culprit.process, c.culprit.id, c.expected, c.seen
            ),
            Verdict::Unknown { reason } => format!("unknown: {reason}"),
        }
    }
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownReason::Steps { steps_max } => write!(f, "step budget of {steps_max} exhausted"),
            UnknownReason::Memory { bytes_max } => {
                write!(f, "memory budget of {} MiB exhausted", bytes_max / (1 << 20))
            }
            UnknownReason::Cancelled => write!(f, "time budget exhausted"),
        }
    }
}

impl fmt::Display for OpSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[id {}] process {}: {} -> {} (", self.id, self.process, self.op, self.outcome)?;
        match self.ret {
            Some(r) => write!(f, "{}..{})", self.call, r),
            None => write!(f, "{}..)", self.call),
        }
    }
}

const LIST_MAX: usize = 20;

fn list(f: &mut fmt::Formatter<'_>, title: &str, ops: &[OpSummary]) -> fmt::Result {
    if ops.is_empty() {
        return writeln!(f, "  {title}: none");
    }
    writeln!(f, "  {title}:")?;
    for op in ops.iter().take(LIST_MAX) {
        writeln!(f, "    {op}")?;
    }
    if ops.len() > LIST_MAX {
        writeln!(f, "    ... and {} more", ops.len() - LIST_MAX)?;
    }
    Ok(())
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  partition: {}", self.partition)?;
        writeln!(
            f,
            "  longest linearizable prefix: {} operations{}",
            self.prefix.len(),
            if self.prefix.len() > self.prefix_tail.len() { ", ending with:" } else { ":" }
        )?;
        for op in &self.prefix_tail {
            writeln!(f, "    {op}")?;
        }
        writeln!(f, "  model state after the prefix: {}", self.state)?;
        writeln!(f, "  cannot place: {}", self.culprit)?;
        writeln!(f, "    the model returns: {}", self.expected)?;
        writeln!(f, "    the client saw:    {}", self.seen)?;
        list(f, "concurrent operations already in the prefix", &self.concurrent_linearized)?;
        list(f, "concurrent operations not placeable before it", &self.concurrent_pending)?;
        list(
            f,
            &format!(
                "{}minimal set of operations that cannot be linearized together (every other \
                 operation treated as unknown)",
                if self.minimal_complete { "" } else { "(shrinking budget ran out) not necessarily " }
            ),
            &self.minimal,
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(
            f,
            "{} ({} ops, {} unknown, {} {}, {} steps)",
            match &self.verdict {
                Verdict::Linearizable => "linearizable".to_string(),
                Verdict::NotLinearizable(_) => "NOT linearizable".to_string(),
                Verdict::Unknown { reason } => format!("unknown: {reason}"),
            },
            s.ops,
            s.unknown_ops,
            s.partitions,
            if s.whole_object { "whole-object check" } else { "partitions" },
            s.steps
        )?;
        if let Verdict::NotLinearizable(c) = &self.verdict {
            write!(f, "{c}")?;
        }
        Ok(())
    }
}
