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

/// The budget of the check of a fuzz seed's run (`mirrorsim fuzz`): a tenth of
/// [`run_budget`]'s steps. A generated history that needs more (7 seeds of the
/// standard CI campaign's 3000, 4 of them `unknown` at the full budget too: many
/// operations with unknown outcomes on few blocks) costs minutes at the full budget;
/// a campaign is better spent on other seeds. Such a seed is `unknown`, not a failure;
/// `mirrorsim replay` judges it with the full budget. A violation found within the
/// bound is the same violation at any bound.
pub fn fuzz_budget() -> Budget {
    Budget { steps_max: Some(20_000_000), ..run_budget() }
}

/// Checks a run's history (audit reads included: they are ordinary reads).
pub fn check(history: &History, volumes: &[VolumeSpec]) -> Outcome {
    check_within(history, volumes, &run_budget())
}

/// [`check`] within `budget`.
pub fn check_within(history: &History, volumes: &[VolumeSpec], budget: &Budget) -> Outcome {
    let report = checker::models::storage::check_storage(history, volumes, budget);
    match report.verdict {
        Verdict::Linearizable => Outcome::Linearizable { whole: report.stats.whole_object },
        Verdict::NotLinearizable(cx) => Outcome::Violation(cx.to_string()),
        Verdict::Unknown { reason } => Outcome::Unknown(reason.to_string()),
    }
}
