use crate::support::library;
use engine::ControllerFactory;
use sim::{RunOptions, TraceEvent};

/// The first event where two traces differ, described for a human.
fn first_divergence(a: &[TraceEvent], b: &[TraceEvent]) -> String {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return format!("first diverging event:\n  run 1: {}\n  run 2: {}", x.line(), y.line());
        }
    }
    format!("one trace is a prefix of the other ({} vs {} events)", a.len(), b.len())
}

#[test]
fn same_seed_same_trace_hash_for_every_library_scenario() {
    for sc in library() {
        let opts = RunOptions { seed: sc.file.seed, record_trace: true };
        let a = sim::run(&sc.config, &ControllerFactory::default(), &opts);
        let b = sim::run(&sc.config, &ControllerFactory::default(), &opts);
        assert!(
            a.trace.hash() == b.trace.hash(),
            "{}: seed {} gave two trace hashes; {}",
            sc.name(),
            opts.seed,
            first_divergence(&a.trace.events, &b.trace.events)
        );
        assert_eq!(a.history, b.history, "{}: same seed, different histories", sc.name());
        let last = a.trace.events.last().expect("a run traces events");
        assert!(
            // An audit read the engine answers at once (a refusal: a mirror not
            // accessible, an image deleted) is traced after the last event, with the
            // index the next event would have had.
            last.index <= a.events && a.trace.events.len() as u64 >= a.events / 2,
            "events are traced with their index"
        );
    }
}

#[test]
fn different_seeds_give_different_traces() {
    for sc in library() {
        let h1 =
            sim::run(&sc.config, &ControllerFactory::default(), &RunOptions { seed: 1, record_trace: false })
                .trace
                .hash();
        let h2 =
            sim::run(&sc.config, &ControllerFactory::default(), &RunOptions { seed: 2, record_trace: false })
                .trace
                .hash();
        assert_ne!(h1, h2, "{}: seeds 1 and 2 gave the same trace hash", sc.name());
    }
}

#[test]
fn recording_the_trace_does_not_change_the_run() {
    let sc = &library()[0];
    let a = sim::run(&sc.config, &ControllerFactory::default(), &RunOptions { seed: 9, record_trace: true });
    let b = sim::run(&sc.config, &ControllerFactory::default(), &RunOptions { seed: 9, record_trace: false });
    assert_eq!(a.trace.hash(), b.trace.hash());
    assert!(b.trace.events.is_empty());
}
