//! Thread-safe core structures of a replication engine, and an in-memory array built
//! from them that real threads drive (`mirrorsim stress`).
//!
//! The simulated engine ([`crate::controller`]) is sans-IO and single-threaded: the
//! simulator explores the orderings *between* events. A real array serves I/O on many
//! cores while copiers run beside it, and the races *inside* those events are where
//! replication engines lose data. These structures are `Send + Sync`; each module
//! doc says which race it exists for and how it corresponds to the controller:
//!
//! - [`change_map`]: bitmaps with set, test-and-clear and iteration while writers run.
//! - [`interlock`]: the per-chunk interlock between a host write and a copier.
//! - [`lookup`]: snapshot lookup tables with their lock.
//! - [`gate`]: the write-inhibit gate (the offloaded backup's inhibit, a pair's
//!   command gate).
//! - [`array`]: [`ThreadedArray`], the multi-threaded in-memory engine.
//!
//! Under `--cfg loom` ([`sync`] switches `std::sync` for loom's) the loom models in
//! `engine/tests/loom.rs` explore every interleaving of each race; each structure has
//! an `unprotected` variant (with the `planted-bugs` feature or under loom) whose
//! model must fail.
//!
//! This module runs on real threads: the determinism rules of the simulated path do
//! not apply to it, and nothing the simulator runs uses it.

pub mod array;
pub mod blocks;
pub mod change_map;
pub mod gate;
pub mod interlock;
pub mod lookup;
mod sync;

pub use array::{Broken, CopyPass, Layout, ThreadedArray};
pub use blocks::Blocks;
pub use change_map::ChangeMap;
pub use gate::Gate;
pub use interlock::Interlock;
pub use lookup::{ImageIx, LookupTable};
