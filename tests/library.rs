use crate::support::library;
use engine::ControllerFactory;
use mirrorsim::runner;

#[test]
fn every_library_scenario_meets_its_expected_outcome_with_a_snapshot() {
    let scenarios = library();
    assert!(scenarios.len() >= 5, "the library holds at least five scenarios");
    for sc in scenarios {
        let r = runner::run(&sc, sc.file.seed, &ControllerFactory::default(), false);
        assert!(
            r.expected_met,
            "{}: expected {:?}, got {}\n{}",
            sc.name(),
            sc.file.expect,
            r.verdict,
            r.details.unwrap_or_default()
        );
        let s = r.stats;
        let summary = format!(
            "scenario: {}\nseed: {}\nverdict: {}\nending: {}\ntrace_hash: {:016x}\nevents: {}\nsim_ns: {}\nops: {} (ok {}, failed {}, unknown {})\naudit_reads: {}\nmessages: {} (dropped {})\nmedia_ios: {}\ncrashes: arrays {}, hosts {}; link downs {}\n",
            r.scenario,
            r.seed,
            r.verdict,
            r.ending.name(),
            r.trace_hash,
            r.events,
            r.sim_ns,
            s.ops,
            s.ops_ok,
            s.ops_failed,
            s.ops_unknown,
            s.audit_reads,
            s.messages,
            s.messages_dropped,
            s.media_ios,
            s.array_crashes,
            s.host_crashes,
            s.link_downs
        );
        insta::assert_snapshot!(sc.name().to_string(), summary);
    }
}

#[test]
fn fault_scenarios_really_inject_their_faults() {
    let expected = ["array-crash-write-burst", "host-crash-inflight", "link-flapping", "random-faults"];
    let mut seen = Vec::new();
    for sc in library() {
        let r = runner::run(&sc, sc.file.seed, &ControllerFactory::default(), false);
        let s = r.stats;
        match sc.name() {
            "array-crash-write-burst" => assert_eq!(s.array_crashes, 2),
            "host-crash-inflight" => assert!(s.host_crashes >= 2 && s.ops_unknown > 0, "{s:?}"),
            "link-flapping" => assert!(s.link_downs >= 7 && s.ops_failed + s.ops_unknown > 0, "{s:?}"),
            "random-faults" => {
                assert!(s.array_crashes > 0 && s.host_crashes > 0 && s.link_downs > 0, "{s:?}")
            }
            _ => continue,
        }
        seen.push(sc.name().to_string());
    }
    assert_eq!(seen, expected, "every fault scenario of the library is checked (renamed or removed?)");
}
