//! The engine-level planted bugs of the S2 pair (`engine/src/controller.rs`) and of S4
//! images (`engine/src/snapshot.rs`), switched by
//! `ControllerFactory::with_planted`): each one is caught, with one of the checks its
//! catalog entry names, (a) by the S2 scenario library or a dedicated scenario under
//! `tests/planted/`, and (b) by a fuzz campaign over a fixed seed range where the
//! generator reaches it; the correct engine passes the same scenarios and seeds.
//!
//! S3's `async-out-of-order` (in `engine/src/remote.rs`) is caught by the async
//! scenarios' prefix check (`checker::prefix`); its fuzz campaign comes with the S3
//! fuzz generator. S3's `failback-forgets-unshipped-writes` and
//! `split-brain-not-detected` have dedicated scenarios; the two-array seeds that
//! reach them are in the `full` profile, which `campaign` below does not run.
//!
//! The host-level bug of S1 (`offload-without-flush`, in the simulated file server)
//! is caught the same way, by the offload check.
//!
//! Every planted bug has a campaign (S0's `catalog-complete-before-durable` in the
//! `full` profile, through `backup_command`'s crash timed into a copy's end); see
//! docs/fuzzing.md for the detection table.

use mirrorsim::fuzz::campaign::{self, Interrupt, Options, Seeds};
use mirrorsim::fuzz::generate::Profile;
use mirrorsim::fuzz::planted::{self, CATALOG, Level, PlantedBugs};
use mirrorsim::runner::{self, Verdict};
use mirrorsim::scenario;
use std::path::Path;
use std::sync::Arc;

/// Each engine bug and the scenarios that must catch it.
const SCENARIOS: &[(&str, &[&str])] = &[
    (
        "resync-ignores-mirror-map",
        &["scenarios/s2-resync-after-both-sides-wrote.json", "scenarios/s2-crash-during-resync.json"],
    ),
    ("restore-overwrites-host-write", &["scenarios/s2-protected-restore.json"]),
    ("protected-restore-writes-mirror", &["scenarios/s2-protected-restore.json"]),
    ("split-without-drain", &["tests/planted/split-without-drain.json"]),
    ("bit-after-data", &["tests/planted/bit-after-data.json"]),
    (
        "copy-done-early",
        &[
            "scenarios/s2-initial-copy-under-load.json",
            "scenarios/s2-resync-after-both-sides-wrote.json",
            "scenarios/s2-restore.json",
            "scenarios/s2-protected-restore.json",
        ],
    ),
    (
        "snapshot-outside-lock",
        &[
            "scenarios/s4-snapshot-under-writes.json",
            "scenarios/s4-snapshot-cut.json",
            "scenarios/s4-generations-and-deletes.json",
            "scenarios/s4-writable-image.json",
        ],
    ),
    ("catalog-complete-before-durable", &["tests/planted/catalog-complete-before-durable.json"]),
    (
        "async-out-of-order",
        &["tests/planted/async-out-of-order.json", "tests/planted/async-out-of-order-consistency-group.json"],
    ),
    (
        "bit-cleared-before-remote-ack",
        &["scenarios/s3-link-failure-sync-fence-never.json", "scenarios/s3-link-flapping-during-resync.json"],
    ),
    ("failback-forgets-unshipped-writes", &["tests/planted/failback-forgets-unshipped-writes.json"]),
    (
        "split-brain-not-detected",
        &[
            "tests/planted/split-brain-not-detected.json",
            "scenarios/s3-split-brain-refuse.json",
            "scenarios/s3-split-brain-discard-primary.json",
        ],
    ),
];

/// Fuzz campaigns that must catch a bug: (bug, profile, first seed, seeds). Each range
/// holds the first seed that catches it from that start (docs/fuzzing.md). The S3 and
/// S0 bugs need the `full` profile (two-array seeds, array-side backups).
const CAMPAIGNS: &[(&str, Profile, u64, u64)] = &[
    ("copy-done-early", Profile::Standard, 0, 5),
    ("resync-ignores-mirror-map", Profile::Standard, 8, 5),
    ("bit-after-data", Profile::Standard, 18, 5),
    ("protected-restore-writes-mirror", Profile::Standard, 8, 5),
    ("offload-without-flush", Profile::Standard, 12, 5),
    ("snapshot-outside-lock", Profile::Standard, 0, 5),
    ("restore-overwrites-host-write", Profile::Standard, 59, 5),
    ("split-without-drain", Profile::Standard, 322, 5),
    ("bit-cleared-before-remote-ack", Profile::Full, 3, 5),
    ("async-out-of-order", Profile::Full, 23, 5),
    ("split-brain-not-detected", Profile::Full, 43, 5),
    ("failback-forgets-unshipped-writes", Profile::Full, 3, 5),
    ("catalog-complete-before-durable", Profile::Full, 50, 5),
];

fn entry(name: &str) -> &'static planted::PlantedBug {
    CATALOG.iter().find(|b| b.name == name).unwrap_or_else(|| panic!("{name} is in the catalog"))
}

#[test]
fn every_engine_bug_has_scenarios_that_catch_it() {
    let engine: Vec<&str> = CATALOG.iter().filter(|b| b.level == Level::Engine).map(|b| b.name).collect();
    let covered: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
    assert_eq!(engine, covered, "every engine-level catalog entry has its scenarios, in catalog order");
    assert!(engine.len() >= 6);
    for (bug, files) in SCENARIOS {
        let e = entry(bug);
        let factory = planted::factory(&PlantedBugs::parse(&[*bug]).unwrap());
        for f in *files {
            let sc = scenario::load(Path::new(f)).unwrap_or_else(|e| panic!("{e}"));
            let r = runner::run(&sc, sc.file.seed, factory.as_ref(), false);
            match &r.verdict {
                Verdict::Violation { check, .. } => assert!(
                    e.caught_by.contains(check),
                    "{bug} on {f}: caught by {}, not one of its checks {:?}",
                    check.name(),
                    e.caught_by
                ),
                other => panic!("{bug} on {f}: not caught ({other})"),
            }
        }
    }
}

/// Each host-level bug (S1's simulated hosts) and the scenarios that must catch it.
const HOST_SCENARIOS: &[(&str, &[&str])] = &[(
    "offload-without-flush",
    &[
        "scenarios/s1-offload-under-load.json",
        "scenarios/s1-lost-messages.json",
        "scenarios/s1-crash-during-inhibit.json",
    ],
)];

#[test]
fn every_host_bug_has_scenarios_that_catch_it() {
    let host: Vec<&str> = CATALOG.iter().filter(|b| b.level == Level::Host).map(|b| b.name).collect();
    let covered: Vec<&str> = HOST_SCENARIOS.iter().map(|(n, _)| *n).collect();
    assert_eq!(host, covered, "every host-level catalog entry has its scenarios, in catalog order");
    for (bug, files) in HOST_SCENARIOS {
        let e = entry(bug);
        let factory = planted::factory(&PlantedBugs::parse(&[*bug]).unwrap());
        for f in *files {
            let sc = scenario::load(Path::new(f)).unwrap_or_else(|e| panic!("{e}"));
            let r = runner::run(&sc, sc.file.seed, factory.as_ref(), false);
            match &r.verdict {
                Verdict::Violation { check, summary } => {
                    assert!(e.caught_by.contains(check), "{bug} on {f}: caught by {}", check.name());
                    // The tape misses cached writes: the check says which block and why.
                    assert!(
                        summary.contains("tape") && summary.contains("when the inhibit began"),
                        "{summary}"
                    );
                }
                other => panic!("{bug} on {f}: not caught ({other})"),
            }
        }
    }
}

#[test]
fn the_dedicated_scenarios_pass_on_the_correct_engine() {
    // (The library scenarios are judged by `library`.)
    let mut files: Vec<_> = std::fs::read_dir("tests/planted").unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 2);
    for f in files {
        let sc = scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        let r = runner::run(&sc, sc.file.seed, &engine::ControllerFactory::default(), false);
        assert_eq!(r.verdict, Verdict::Pass, "{}: {}", f.display(), r.details.unwrap_or_default());
    }
}

#[test]
fn an_empty_planted_set_is_the_correct_engine() {
    let sc = scenario::load(Path::new("scenarios/s2-protected-restore.json")).unwrap();
    let a = runner::run(&sc, 1, &engine::ControllerFactory::default(), false);
    let b = runner::run(&sc, 1, planted::factory(&PlantedBugs::none()).as_ref(), false);
    let c = runner::run(&sc, 1, &engine::ControllerFactory::with_planted(Default::default()), false);
    assert_eq!((a.trace_hash, a.verdict.code()), (b.trace_hash, b.verdict.code()));
    assert_eq!((a.trace_hash, a.verdict.code()), (c.trace_hash, c.verdict.code()));
}

fn campaign(bugs: PlantedBugs, profile: Profile, start: u64, count: u64) -> Vec<(u64, Verdict)> {
    let o = Options {
        seeds: Seeds { start, count: Some(count), shard: None },
        time: None,
        jobs: 2,
        failures_dir: None,
        planted: bugs,
        profile,
    };
    let mut out = Vec::new();
    campaign::run(&o, &Arc::new(Interrupt::default()), |r| out.push((r.seed, r.verdict.clone())));
    out
}

/// Planted bugs no fuzz campaign catches yet, each proved by its scenarios above
/// instead. Empty now; this list may only shrink.
const NO_CAMPAIGN_YET: &[&str] = &[];

#[test]
fn every_planted_bug_has_a_fuzz_campaign_or_is_a_listed_gap() {
    let planted: Vec<&str> = CATALOG.iter().filter(|b| b.level != Level::Harness).map(|b| b.name).collect();
    let missing: Vec<&&str> = planted
        .iter()
        .filter(|n| !CAMPAIGNS.iter().any(|(c, ..)| c == *n) && !NO_CAMPAIGN_YET.contains(n))
        .collect();
    assert!(missing.is_empty(), "planted bugs with no fuzz campaign: {missing:?}");
    for gap in NO_CAMPAIGN_YET {
        assert!(planted.contains(gap), "{gap} is not in the catalog");
        assert!(!CAMPAIGNS.iter().any(|(c, ..)| c == gap), "{gap} has a campaign now: take it off the list");
    }
}

#[test]
fn fuzzing_catches_every_planted_bug_and_nothing_without_them() {
    for &(bug, profile, start, count) in CAMPAIGNS {
        let e = entry(bug);
        let results = campaign(PlantedBugs::parse(&[bug]).unwrap(), profile, start, count);
        let caught: Vec<u64> = results
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Violation { check, .. } if e.caught_by.contains(check)))
            .map(|(s, _)| *s)
            .collect();
        assert!(!caught.is_empty(), "{bug}: seeds {start}..{} catch nothing", start + count);
        // The same seeds on the correct engine find nothing.
        for (seed, v) in campaign(PlantedBugs::none(), profile, start, count) {
            assert!(
                !matches!(v, Verdict::Violation { .. } | Verdict::Ending(_)),
                "seed {seed} fails on the correct engine: {v}"
            );
        }
    }
}

#[test]
fn an_async_secondary_applying_out_of_order_is_not_a_prefix() {
    // The prefix check names the visible later write and the earlier acknowledged
    // write that is missing; the correct engine passes the same run (`library`).
    let bugs = PlantedBugs::parse(&["async-out-of-order"]).unwrap();
    let sc = scenario::load(Path::new("tests/planted/async-out-of-order.json")).unwrap();
    let r = runner::run(&sc, sc.file.seed, planted::factory(&bugs).as_ref(), false);
    match &r.verdict {
        Verdict::Violation { check, summary } => {
            assert_eq!(*check, scenario::CheckName::RemotePrefix);
            assert!(summary.contains("not a prefix") && summary.contains("is visible"), "{summary}");
            assert!(summary.contains("must be too"), "{summary}");
        }
        other => panic!("not caught: {other}"),
    }
}

/// The cross-array probe judges groups whose two sides are both in `pair`: a reverse
/// resync that left a block of the old primary's unshipped writes uncopied is caught
/// as soon as the failback ends (full seed 136), not only at a later suspension.
#[test]
fn a_failback_that_missed_a_block_is_caught_once_both_sides_are_paired() {
    let bugs = PlantedBugs::parse(&["failback-forgets-unshipped-writes"]).unwrap();
    let [(_, v)] = campaign(bugs, Profile::Full, 136, 1).try_into().unwrap();
    let Verdict::Violation { check, summary } = &v else { panic!("not caught: {v}") };
    assert_eq!(*check, scenario::CheckName::Invariants, "{summary}");
    assert!(
        summary.contains(", pair) and vol") && summary.contains(", pair) and no change-map bit covers it"),
        "{summary}"
    );
}
