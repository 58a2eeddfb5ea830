//! S1 (offloaded backup between two servers): the library scenarios do what their
//! descriptions say, the offload check can fail, and the protocol survives lost
//! messages and crashes.

use engine::ControllerFactory;
use mirrorsim::runner::{self, RunReport, Verdict};
use mirrorsim::scenario::{self, CheckName, Scenario};
use model::files::{BackupOutcome, FileHistory};
use std::path::Path;

fn load(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
    scenario::load(Path::new(&path)).expect("a library scenario loads")
}

fn run_sc(sc: &Scenario) -> RunReport {
    runner::run(sc, sc.file.seed, &ControllerFactory::default(), false)
}

fn run(name: &str) -> RunReport {
    let r = run_sc(&load(name));
    assert!(r.expected_met, "{name}: {}\n{}", r.verdict, r.details.clone().unwrap_or_default());
    r
}

fn files(r: &RunReport) -> &FileHistory {
    &r.result.files[0]
}

fn complete(f: &FileHistory) -> usize {
    f.tape.iter().filter(|t| t.outcome == BackupOutcome::Complete).count()
}

#[test]
fn offload_under_load_backs_up_hot_and_cold_files_with_held_writes() {
    let r = run("s1-offload-under-load");
    let f = files(&r);
    assert_eq!(f.tape.len(), 5);
    assert_eq!(complete(f), 5, "{:?}", f.tape.iter().map(|t| &t.outcome).collect::<Vec<_>>());
    // Each backup flushed cached writes and held writes of its file only.
    assert!(f.windows.iter().all(|w| w.split && w.end_ns.is_some()));
    assert!(f.windows.iter().any(|w| w.flushed_blocks > 0));
    let held: Vec<_> = f.writes.iter().filter(|w| w.held_by.is_some()).collect();
    assert!(!held.is_empty());
    assert!(held.iter().all(|w| f.windows[w.held_by.unwrap()].file == w.file));
    // Writes to the other file went on during some window.
    let during_other = f.writes.iter().filter(|w| {
        w.held_by.is_none()
            && f.windows
                .iter()
                .any(|x| x.file != w.file && x.start_ns < w.invoke_ns && x.end_ns.unwrap() > w.invoke_ns)
    });
    assert!(during_other.count() > 0);
}

#[test]
fn a_backup_without_the_cache_flush_is_caught() {
    let mut sc = load("s1-offload-under-load");
    sc.config.offload.file_servers[0].skip_flush = true;
    let r = run_sc(&sc);
    let Verdict::Violation { check, summary } = &r.verdict else {
        panic!("expected a violation, got {}", r.verdict)
    };
    assert_eq!(*check, CheckName::Offload);
    assert!(summary.contains("tape"), "{summary}");
}
