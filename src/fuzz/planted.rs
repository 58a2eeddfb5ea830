//! Planted bugs: named, switchable defects the fuzzer must catch.
//!
//! Compiled in only with the cargo feature `planted-bugs` (never in a default build):
//! without it [`CATALOG`] is empty and `--planted NAME` is not a flag at all. A run
//! selects bugs by name ([`PlantedBugs::parse`]); [`factory`] then builds the engine
//! factory that carries them.
//!
//! Two levels of bug plug in here:
//!
//! - **Harness-level** bugs live in this file as wrappers around the engine (they
//!   rewrite what the engine says). The `canary` is one: it corrupts every block the
//!   final audit reads, so every run that wrote anything must fail. It proves that
//!   failures are reported, saved and shrunk end to end.
//! - **Engine-level** bugs (a resync that ignores a change map, a restore copier that
//!   overwrites a host write, ...) live in `engine/src/controller.rs`, behind the
//!   `engine` feature `planted-bugs` that this package's feature turns on. The
//!   controller gets the set of names from its factory
//!   (`ControllerFactory::with_planted`, which [`factory`] calls with
//!   [`PlantedBugs::engine_names`]) and reads it at the exact spot of the correct
//!   code, compiled only with the feature:
//!   `#[cfg(feature = "planted-bugs")] if self.planted.contains("bit-after-data") { ... }`.
//!   The S3 bugs live the same way in `engine/src/remote.rs` (a child module of the
//!   controller).
//!   To add one: put the defect in the controller, add a [`PlantedBug`] entry with
//!   `level: Level::Engine` to [`CATALOG`]. The tests (`tests/planted.rs`) then prove
//!   each catalog entry is caught by one of its `caught_by` checks on the scenario
//!   library and by a fuzz campaign within a fixed seed budget.
//! - **Host-level** bugs (S1: a file server that skips its cache flush before a
//!   backup) live in the simulator's host roles (`sim/src/world/offload.rs`); the
//!   simulator asks the engine factory for them (`EngineFactory::host_defects`, which
//!   the [`Planted`] wrapper answers with the selected [`Level::Host`] names).

use crate::scenario::CheckName;
use engine::{ArrayConfig, ArrayEngine, ControllerFactory, EngineFactory, Metadata};
use std::collections::BTreeSet;

/// Where a planted bug lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A wrapper around the engine, in this file.
    Harness,
    /// Inside `engine/src/controller.rs`, switched by the controller factory.
    Engine,
    /// Inside a simulated host (`sim/src/world/offload.rs`), switched by the names
    /// the factory reports in `EngineFactory::host_defects`.
    Host,
}

/// One entry of the catalog.
#[derive(Clone, Copy, Debug)]
pub struct PlantedBug {
    pub name: &'static str,
    pub description: &'static str,
    pub level: Level,
    /// The checks that may report it (the first check of a scenario's list that sees
    /// the defect reports it).
    pub caught_by: &'static [CheckName],
}

/// Every planted bug this build knows.
#[cfg(feature = "planted-bugs")]
pub const CATALOG: &[PlantedBug] = &[
    PlantedBug {
        name: "canary",
        description: "always fails: every block the final audit reads comes back with a value no write wrote",
        level: Level::Harness,
        caught_by: &[CheckName::Differential, CheckName::Durability, CheckName::Linearizability],
    },
    PlantedBug {
        name: "resync-ignores-mirror-map",
        description: "S2: a resync or restore builds its copy set from the source side's change map only, so blocks written on the split mirror are never copied back (DRBD's bitmap-merge bug class)",
        level: Level::Engine,
        caught_by: &[CheckName::Invariants, CheckName::Linearizability],
    },
    PlantedBug {
        name: "restore-overwrites-host-write",
        description: "S2: in a protected restore a host write to a chunk not yet restored lands without the copy-before-write, and the restore copier later overwrites it with the image",
        level: Level::Engine,
        caught_by: &[CheckName::Linearizability],
    },
    PlantedBug {
        name: "protected-restore-writes-mirror",
        description: "S2: a protected restore still mirrors host writes of the source to the mirror, so the mirror stops being the image (the bug seed 002's patent is about)",
        level: Level::Engine,
        caught_by: &[CheckName::Invariants, CheckName::Linearizability],
    },
    PlantedBug {
        name: "split-without-drain",
        description: "S2: a split takes effect without waiting for the mirrored writes in flight, so such a write reaches the mirror after the split point",
        level: Level::Engine,
        caught_by: &[CheckName::Linearizability, CheckName::Invariants],
    },
    PlantedBug {
        name: "bit-after-data",
        description: "S2: the write-intent bit is put concurrently with the data write instead of before it, so a crash can leave data no change map covers (md/DRBD write-intent ordering)",
        level: Level::Engine,
        caught_by: &[CheckName::Invariants, CheckName::Linearizability],
    },
    PlantedBug {
        name: "copy-done-early",
        description: "S2: an off-by-one in what is left: a copy (initial, resync, restore) reports done while one chunk is still pending, which is never copied",
        level: Level::Engine,
        caught_by: &[CheckName::Invariants, CheckName::Linearizability],
    },
    PlantedBug {
        name: "offload-without-flush",
        description: "S1: the file server prepares an offloaded backup without flushing the file's dirty cache blocks, so the mirror split misses the application's cached writes and the tape holds an older file",
        level: Level::Host,
        caught_by: &[CheckName::Offload],
    },
    PlantedBug {
        name: "snapshot-outside-lock",
        description: "S4: a snapshot creates the image's lookup table without taking the family lock, so a write whose copy-on-write already ran lands on the origin after the snapshot point and shows through the new image (half before, half after)",
        level: Level::Engine,
        caught_by: &[CheckName::Invariants, CheckName::Linearizability],
    },
    PlantedBug {
        name: "catalog-complete-before-durable",
        description: "S0: a backup's catalog entry is marked complete once every destination write has been submitted, not once every one is durable, so a reader (or a crash) can find a complete backup over partial data",
        level: Level::Engine,
        caught_by: &[CheckName::Linearizability],
    },
    PlantedBug {
        name: "async-out-of-order",
        description: "S3: an async primary holds one acknowledged write back until its next link tick while the writes after it ship, so the secondary applies a later write before an earlier acknowledged one and a link cut leaves it with a hole: not a prefix of the acknowledged write order",
        level: Level::Engine,
        // The cross-array probe sees it too: the late write lands over a newer one at
        // the secondary after its bit went, so a suspended group differs uncovered.
        caught_by: &[CheckName::RemotePrefix, CheckName::Invariants],
    },
    PlantedBug {
        name: "bit-cleared-before-remote-ack",
        description: "S3: a write's change-map bit is cleared once the write is done at the primary, whether or not the secondary acknowledged it, so writes a link loss or suspension kept from the secondary are missing from the next resync and the secondary keeps stale blocks (DRBD/SRDF invalid-track bookkeeping)",
        level: Level::Engine,
        // The cross-array probe (the change maps cover every differing block) sees
        // the uncovered difference as soon as the group is suspended; an async
        // secondary missing them after a takeover is no prefix.
        caught_by: &[CheckName::Linearizability, CheckName::Invariants, CheckName::RemotePrefix],
    },
    PlantedBug {
        name: "failback-forgets-unshipped-writes",
        description: "S3: the reverse resync at a failback copies only the new primary's change map and ignores the old primary's own (the writes it made that never reached the secondary before the takeover), so the new secondary keeps blocks the new primary never had and a later takeover shows them (SRDF's invalid tracks on the R1 side at failback)",
        level: Level::Engine,
        // The cross-array probe sees the stale blocks no change map covers once the
        // group is suspended again.
        caught_by: &[CheckName::Linearizability, CheckName::Invariants],
    },
    PlantedBug {
        name: "split-brain-not-detected",
        description: "S3: resume and failback ignore the generation identifiers (which side wrote since the suspension), so after both sides wrote while apart they proceed silently instead of obeying the split-brain policy, and one side's acknowledged writes are discarded unannounced (DRBD's split-brain detection)",
        level: Level::Engine,
        caught_by: &[CheckName::Linearizability, CheckName::RemotePrefix],
    },
];

/// Every planted bug this build knows: none without the `planted-bugs` feature.
#[cfg(not(feature = "planted-bugs"))]
pub const CATALOG: &[PlantedBug] = &[];

/// The planted bugs switched on for a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlantedBugs(BTreeSet<&'static str>);

impl PlantedBugs {
    /// No planted bug: the engine under test as it is.
    pub fn none() -> PlantedBugs {
        PlantedBugs::default()
    }

    /// The bugs with these names; an unknown name is an error listing the known ones.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<PlantedBugs, String> {
        let mut set = BTreeSet::new();
        for n in names {
            let n = n.as_ref();
            match CATALOG.iter().find(|b| b.name == n) {
                Some(b) => {
                    set.insert(b.name);
                }
                None if CATALOG.is_empty() => {
                    return Err(format!(
                        "unknown planted bug {n:?}: this build has none (build with --features planted-bugs)"
                    ));
                }
                None => {
                    let known: Vec<&str> = CATALOG.iter().map(|b| b.name).collect();
                    return Err(format!("unknown planted bug {n:?}; known: {}", known.join(", ")));
                }
            }
        }
        Ok(PlantedBugs(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().copied().collect()
    }

    /// The engine-level bugs, for the controller factory.
    pub fn engine_names(&self) -> BTreeSet<&'static str> {
        self.0
            .iter()
            .copied()
            .filter(|n| CATALOG.iter().any(|b| b.name == *n && b.level == Level::Engine))
            .collect()
    }

    /// The host-level bugs, for the simulator.
    pub fn host_names(&self) -> BTreeSet<&'static str> {
        self.0
            .iter()
            .copied()
            .filter(|n| CATALOG.iter().any(|b| b.name == *n && b.level == Level::Host))
            .collect()
    }

    /// The `--planted` arguments that select these bugs again (empty when none).
    pub fn cli_args(&self) -> String {
        self.0.iter().map(|n| format!(" --planted {n}")).collect()
    }
}

/// The engine factory for a run with `bugs`: our controller, wrapped by the
/// harness-level bugs.
pub fn factory(bugs: &PlantedBugs) -> Box<dyn EngineFactory> {
    let inner: Box<dyn EngineFactory> = Box::new(ControllerFactory::with_planted(bugs.engine_names()));
    if bugs.is_empty() {
        return inner;
    }
    Box::new(Planted { inner, bugs: bugs.clone() })
}

/// Wraps a factory's engines with the harness-level bugs.
struct Planted {
    inner: Box<dyn EngineFactory>,
    #[cfg_attr(not(feature = "planted-bugs"), allow(dead_code))]
    bugs: PlantedBugs,
}

impl EngineFactory for Planted {
    fn name(&self) -> &str {
        "planted"
    }

    fn boot(&self, config: &ArrayConfig, metadata: &Metadata) -> Box<dyn ArrayEngine> {
        #[allow(unused_mut)]
        let mut engine = self.inner.boot(config, metadata);
        #[cfg(feature = "planted-bugs")]
        if self.bugs.contains("canary") {
            engine = Box::new(bugs::Canary(engine));
        }
        engine
    }

    fn host_defects(&self) -> BTreeSet<&'static str> {
        self.bugs.host_names()
    }
}

#[cfg(feature = "planted-bugs")]
mod bugs {
    use engine::{ArrayEngine, Input, Output};
    use model::{Reply, Value};

    /// Writer 0xffff is never a host's (at most 65534 hosts; writer ids start at 1).
    pub const CANARY_VALUE: u64 = 0xffff_ffff_ffff_0000;

    /// The canary: corrupts every value the audit reads.
    pub struct Canary(pub Box<dyn ArrayEngine>);

    impl ArrayEngine for Canary {
        fn handle(&mut self, input: Input, out: &mut Vec<Output>) {
            let start = out.len();
            self.0.handle(input, out);
            for o in &mut out[start..] {
                if let Output::Reply { req, result: Ok(Reply::Values(values)) } = o
                    && req.host == sim::AUDITOR_HOST
                {
                    values.iter_mut().for_each(|v| *v = Value(CANARY_VALUE));
                }
            }
        }

        fn describe(&self) -> String {
            self.0.describe()
        }

        fn busy(&self) -> bool {
            self.0.busy()
        }
    }
}
