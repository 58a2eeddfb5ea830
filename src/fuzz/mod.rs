//! Fuzzing and reproduction: random scenarios from seeds, campaigns over many seeds,
//! shrinking a failure to a minimal scenario, and planted bugs that prove failures are
//! caught.
//!
//! - [`generate`]: a seed becomes a valid [`crate::scenario::ScenarioFile`] (swarm
//!   testing: each seed enables a random subset of fault kinds with random weights);
//! - [`menu`]: the kinds of timeline entries the generator can emit, the one place to
//!   extend when the scenario format gains actions;
//! - [`campaign`]: `mirrorsim fuzz`, seeds on a worker pool, results in seed order,
//!   failures saved;
//! - [`shrink`]: `mirrorsim shrink`, greedy minimisation keeping the verdict;
//! - [`planted`]: the planted-bug catalog (feature `planted-bugs`) and the engine
//!   factory that carries them;
//! - [`coverage`]: the "sometimes" report: which pair states x commands, events and
//!   faults a campaign reached, and the important combinations CI requires;
//! - [`merge`]: `mirrorsim merge`, the JSON-lines results of shards as one campaign;
//! - [`remote`]: S3 in generated scenarios: two-array topologies with remote groups,
//!   the `remote_*` menu items and the liveness phase;
//! - [`backup_timing`]: S0 backups' volumes and the crash timed into a copy's end;
//! - [`save`]: atomic, never-overwriting file writes;
//! - [`cli`]: the two commands' arguments and output.

pub mod backup_timing;
pub mod campaign;
pub mod cli;
pub mod coverage;
pub mod generate;
pub mod menu;
pub mod merge;
pub mod offload;
pub mod planted;
pub mod race;
pub mod remote;
pub mod rng;
pub mod save;
pub mod shrink;

pub use generate::{Generated, Swarm, generate};
pub use planted::PlantedBugs;
