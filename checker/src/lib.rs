//! Checkers: each property family in a module of its own.
//!
//! - Linearizability ([`linearizability`], [`partition`], [`models`]): a generic
//!   checker over a sequential specification ([`Model`]), with P-compositionality
//!   ([`Partitioned`]), first-class unknown outcomes, budgets, and counterexamples
//!   ([`Report`]). See the crate README for the algorithm.
//! - [`history_format`]: the JSON-lines history files `mirrorsim check` reads.
//! - [`differential`]: one client, no faults: the engine answers exactly as the model.
//! - [`durability`]: every acknowledged write survives crashes.
//! - [`offload`]: S1's file-level history: the tape, held writes, the files.
//! - [`prefix`]: S3: a secondary holds a prefix of its primary's acknowledged writes
//!   across the consistency group; the recovery point of every takeover.
//!
//! **Architecture Invariant:** nothing here reads the wall clock, spawns a thread or
//! iterates a hash table: a verdict is a pure function of the history and the
//! budget. (A wall-clock budget is the caller's cancel hook, and only the CLI passes
//! one.)

#![deny(clippy::disallowed_types)]

pub mod differential;
pub mod durability;
pub mod history_format;
pub mod linearizability;
pub mod models;
pub mod offload;
pub mod partition;
pub mod prefix;
pub mod report;
mod shrink;
pub mod table;

pub use linearizability::{Budget, Model, Operation, Outcome, Refutation};
pub use models::storage::{check_storage, check_storage_ops, storage_operations};
pub use partition::{
    Partitioned, Projection, check, check_partitioned, check_partitioned_with_cancel, check_with_cancel,
};
pub use report::{Counterexample, OpSummary, Report, Stats, UnknownReason, Verdict};
