//! The threaded stress run (`mirrorsim stress`): bounded by rounds, never by wall time.

use engine::shared::Broken;
use mirrorsim::stress::{self, Bound, Config, Scenario, Summary, Verdict};
use model::{Completion, Op, PairEvent, Reply};

fn config(scenario: Scenario, rounds: u64, broken: Broken) -> Config {
    Config {
        threads: 2,
        scenarios: vec![scenario],
        ops: 300,
        bound: Bound::Rounds(rounds),
        seed: 7,
        check: true,
        perturb: true,
        broken,
        source_only: false,
    }
}

fn done(c: &Completion) -> bool {
    matches!(c, Completion::Returned(Ok(Reply::Done)))
}

/// Each scenario passes, and its history has what the scenario is about (so the pass
/// judged the interesting part, not an empty run).
#[test]
fn every_scenario_passes_and_exercises_its_commands() {
    for scenario in Scenario::ALL {
        let mut seen = Vec::new();
        let summary = stress::run(&config(scenario, 3, Broken::default()), |r| {
            let h = &r.history.ops;
            let count =
                |f: &dyn Fn(&Op) -> bool| h.iter().filter(|o| f(&o.op) && done(&o.completion)).count();
            seen.push((
                count(&|o| matches!(o, Op::Write { .. })),
                count(&|o| matches!(o, Op::Split { .. })),
                count(&|o| matches!(o, Op::Resync { .. } | Op::Restore { .. })),
                count(&|o| matches!(o, Op::PairEvent { event: PairEvent::CopyDone, .. })),
            ));
        });
        assert_eq!(summary.exit_code(), 0, "{}: {:?}", scenario.name(), summary.violation.map(|r| r.verdict));
        assert_eq!(summary.rounds, 3);
        assert_eq!(summary.host_ops, 3 * 600);
        assert!(!seen.is_empty());
        for (writes, splits, resyncs, copies) in seen {
            assert!(writes > 100, "{}: {writes} writes", scenario.name());
            match scenario {
                Scenario::Plain => assert_eq!((splits, resyncs, copies), (0, 0, 0)),
                // The initial copy ends, then the final split shows the mirror.
                Scenario::Mirror => assert!(copies >= 1 && splits == 1 && resyncs == 0),
                // Split and resync (or restore) cycles with the copier: each copy ends.
                Scenario::Resync | Scenario::Restore => {
                    assert!(resyncs >= 1 && copies > resyncs && splits >= resyncs)
                }
                // The snapshot is the split; the set-up's pair is Mirrored from the start.
                Scenario::Snapshot => assert!(splits == 1 && copies == 1 && resyncs == 0),
            }
        }
    }
}

fn until_violation(scenario: Scenario, broken: Broken) -> Summary {
    stress::run(&config(scenario, 200, broken), |_| {})
}

/// With the interlock removed, a copier writes stale data over a host write on the
/// mirror while clearing its bit: the stress run finds it (the engine's invariant at
/// the copy's end, or the history).
#[test]
fn the_stress_catches_a_broken_interlock() {
    let s = until_violation(Scenario::Resync, Broken { interlock: true, ..Broken::default() });
    let r = s.violation.expect("a broken interlock is caught within 200 rounds");
    assert!(matches!(r.verdict, Verdict::Violation { .. }), "{:?}", r.verdict);
}

/// With the lookup table's lock released before the data write, a snapshot shows a
/// write that came after it: the history is not linearizable.
#[test]
fn the_stress_catches_a_broken_lookup_table() {
    let s = until_violation(Scenario::Snapshot, Broken { lookup: true, ..Broken::default() });
    let r = s.violation.expect("a broken lookup table is caught within 200 rounds");
    assert_eq!(r.verdict.code(), "violation:linearizability");
}

/// With an inhibit that does not wait for writes in flight, a split or the end of a
/// copy sees a mirrored write half done (on the source, not yet on the mirror).
#[test]
fn the_stress_catches_a_gate_that_does_not_wait() {
    let s = until_violation(Scenario::Mirror, Broken { gate: true, ..Broken::default() });
    let r = s.violation.expect("a broken gate is caught within 200 rounds");
    assert!(matches!(r.verdict, Verdict::Violation { .. }), "{:?}", r.verdict);
}

fn mirrorsim(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorsim"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_judges_rounds_and_reports_json() {
    let (code, out, err) = mirrorsim(&[
        "stress",
        "--rounds",
        "4",
        "--ops",
        "100",
        "--scenario",
        "resync",
        "--scenario",
        "snapshot",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5, "{out}");
    let scenarios: Vec<&str> = lines[..4].iter().map(|l| l["scenario"].as_str().unwrap()).collect();
    assert_eq!(scenarios, ["resync", "snapshot", "resync", "snapshot"], "rounds cycle through the scenarios");
    assert!(lines[..4].iter().all(|l| l["verdict"] == "pass" && l["host_ops"] == 200));
    let summary = &lines[4];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["rounds"], 4);
    assert_eq!(summary["verdict"], "pass");
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    for (args, want) in [
        (&["stress", "--threads", "0"][..], "--threads: must be between 1 and 64, got 0"),
        (&["stress", "--threads", "65"][..], "--threads: must be between 1 and 64, got 65"),
        (&["stress", "--ops", "0"][..], "--ops: must be at least 1"),
        (&["stress", "--rounds", "0"][..], "--rounds: must be at least 1"),
        (&["stress", "--seconds", "0"][..], "--seconds: must be at least 1"),
        (&["stress", "--scenario", "raid5"][..], "invalid value 'raid5' for '--scenario"),
    ] {
        let (code, _, err) = mirrorsim(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// A restore without the interlock: the copier copies a chunk from the mirror over a
/// host write that went to both volumes.
#[test]
fn the_stress_catches_a_broken_interlock_in_a_restore() {
    let s = until_violation(Scenario::Restore, Broken { interlock: true, ..Broken::default() });
    let r = s.violation.expect("a broken interlock is caught within 200 rounds");
    assert!(matches!(r.verdict, Verdict::Violation { .. }), "{:?}", r.verdict);
}
