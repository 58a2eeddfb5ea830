//! The one integration-test binary. Table of contents:
//!
//! - `determinism`: same seed, same trace hash (naming the first diverging event);
//!   different seeds, different hashes.
//! - `differential`: generated single-client workloads agree with the model.
//! - `library`: every library scenario meets its expected outcome; insta snapshots of
//!   each run's summary.
//! - `mirror_pairs`: each S2 scenario does what it claims (commands, transitions,
//!   errors seen, copies; every finished copy copied exactly the union).
//! - `offload`: each S1 scenario does what it claims (backups complete or fail as
//!   described, held writes, lost messages, crashes); a backup without the cache
//!   flush is caught.
//! - `remote`: each S3 scenario does what it claims (fence levels, link loss,
//!   resync copying exactly the union, takeover's pre-resync image, split-brain
//!   policies, controller crashes).
//! - `images`: each S4 scenario does what it claims (snapshot and delete outcomes,
//!   image reads before and after, refusals); the checker rejects an image that
//!   changes after its snapshot.
//! - `backup`: each S0 scenario does what it claims (catalog states and transitions,
//!   a crash mid-copy leaving a failed entry, restores, refusals with their errors).
//! - `broken`: every file in `tests/broken/` is rejected with exactly the error in its
//!   `.err` sibling.
//! - `judging`: deliberately broken engines are caught (the checks can fail).
//! - `cli`: exit codes and output formats of the binary.
//! - `fuzz`: scenario generation (determinism, validity, write-load-replay), fuzz
//!   campaigns (seed order, shards, jobs), failures saved without overwriting,
//!   shrinking, the planted canary, the fuzz and shrink command lines.
//! - `fuzz_timing`: the generator's timed races (the restore racer's slow write tail,
//!   full-profile backups with a crash timed into their copy's end).
//! - `regression`: every scenario in `tests/regression/` meets its expectation.
//! - `stress`: the threaded engine under real threads: every stress scenario passes
//!   and exercises its commands; removing the interlock, the lookup table's lock or
//!   the gate's wait is caught (bounded by rounds, never by wall time); the command's
//!   JSON and its flag errors.
//! - `report`: the HTML report of a failing run (planted bugs) or history file: the
//!   violation highlighted, prefix, seed, replay; no overwrite without --force; the
//!   page in headless Chromium (installed when missing) runs its script cleanly.
//! - `schema`: the committed JSON Schema of scenario files is fresh, and every library
//!   scenario names it in `$schema`.
//! - `simple_engine`: the example engine (examples/simple-engine) passes the Foundation,
//!   S1 and S2 scenarios (every finished copy copied exactly its dirty set) and is
//!   failed by the checks on the S3 and S4 ones (it refuses remote groups and images).
//! - `planted`: each engine-level planted bug (S2 pairs) is caught by its scenarios
//!   (library or `tests/planted/`) and, where the generator reaches it, by a fuzz
//!   campaign; the correct engine passes the same (test builds have the feature).

mod backup;
mod broken;
mod cli;
mod determinism;
mod differential;
mod fuzz;
mod fuzz_timing;
mod images;
mod judging;
mod library;
mod mirror_pairs;
mod offload;
#[cfg(feature = "planted-bugs")]
mod planted;
mod regression;
mod remote;
#[cfg(feature = "planted-bugs")]
mod report;
mod schema;
mod simple_engine;
mod stress;
mod support;
