//! The deterministic discrete-event simulator.
//!
//! Hosts, arrays (an engine over simulated media) and links, driven by one event
//! queue ordered by (simulated time, insertion sequence). Every random choice comes
//! from the run's seed through [`rng::Prng`]. A run has three phases: the workload
//! with its faults; settling (faults stop, everything is repaired, work in flight
//! finishes); and an audit that reads back every block the workload wrote.
//!
//! **Architecture Invariant:** nothing here reads the wall clock, spawns a thread,
//! iterates a hash map, or keeps global state. Same seed, same config, same binary:
//! the same trace hash.

pub mod config;
pub mod dist;
pub mod rng;
pub mod trace;
mod world;

pub use config::*;
pub use dist::Dist;
pub use rng::{Prng, Ratio, Stream};
pub use trace::{Trace, TraceEvent, TraceKind};
pub use world::{
    AUDITOR_HOST, BackupCopy, CopyRecord, Ending, InvariantViolation, MediaFault, OFFLOAD_WITHOUT_FLUSH,
    RunOptions, RunResult, RunStats, WINDOW_MAX_NS, array_process, run,
};
