//! The linearizability check of a run: the run's client history against the storage
//! model, partitioned per block (see `checker::models::storage`).

use checker::{Budget, Verdict};
use model::{History, VolumeSpec};

/// What the linearizability check concluded about a run.
pub enum Outcome {
    /// `whole`: false when a history with admin commands passed per block part but
    /// its whole-object pass hit its bound (see `checker::models::storage`).
    Linearizable { whole: bool },
    /// The explanation: partition, prefix, the operation that cannot be placed, what
    /// the model would return versus what the client saw, the concurrent operations.
    Violation(String),
    /// A budget ran out.
    Unknown(String),
}

/// The budget a simulated run's check gets: deterministic (steps and memory, never
/// wall time), so the same seed gets the same verdict on every machine.
pub fn run_budget() -> Budget {
    Budget { steps_max: Some(200_000_000), memory_bytes_max: Some(2 << 30) }
}

/// Checks a run's history (audit reads included: they are ordinary reads).
pub fn check(history: &History, volumes: &[VolumeSpec]) -> Outcome {
    let report = checker::models::storage::check_storage(history, volumes, &run_budget());
    match report.verdict {
        Verdict::Linearizable => Outcome::Linearizable { whole: report.stats.whole_object },
        Verdict::NotLinearizable(cx) => Outcome::Violation(cx.to_string()),
        Verdict::Unknown { reason } => Outcome::Unknown(reason.to_string()),
    }
}
