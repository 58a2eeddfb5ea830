//! S1 (offloaded backup between two servers): the library scenarios do what their
//! descriptions say, and the protocol survives lost messages and crashes. (That the
//! offload check can fail is `planted::offload_without_flush_is_caught`.)

use crate::support::{load_library as load, run_library as run};
use engine::ControllerFactory;
use mirrorsim::runner::{self, RunReport};
use mirrorsim::scenario::Scenario;
use model::files::{BackupOutcome, FileHistory};

fn run_sc(sc: &Scenario) -> RunReport {
    runner::run(sc, sc.file.seed, &ControllerFactory::default(), false)
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
fn a_file_server_crash_during_the_inhibit_loses_only_its_cache_and_the_retry_completes() {
    let r = run("s1-crash-during-inhibit");
    let f = files(&r);
    assert_eq!(f.crashes.len(), 1);
    let crash = f.crashes[0];
    // The window open at the crash stays open; the retried prepare opened another.
    let open: Vec<_> = f.windows.iter().filter(|w| w.end_ns.is_none()).collect();
    assert_eq!(open.len(), 1, "{:?}", f.windows);
    assert!(open[0].start_ns < crash && !open[0].split);
    let first = &f.tape[0];
    assert_eq!(first.outcome, BackupOutcome::Complete);
    let w = &f.windows[first.window.expect("answered")];
    assert!(w.split && w.start_ns > crash && w.backup == first.backup);
    // The crash lost writes (in flight, held or cached) and the check still passes.
    assert!(f.writes.iter().any(|w| w.complete_ns.is_none() && w.invoke_ns < crash));
    assert_eq!(complete(f), 2);
}

#[test]
fn lost_and_duplicated_host_messages_are_retried_and_answered_idempotently() {
    let r = run("s1-lost-messages");
    let f = files(&r);
    assert_eq!(complete(f), 5, "{:?}", f.tape);
    assert!(r.stats.messages_dropped > 0);
    for t in &f.tape {
        // One successful split per backup, whatever the duplicates; a refused attempt
        // (the pair still resyncing) closes its window at once.
        let splits = f.windows.iter().filter(|w| w.backup == t.backup && w.split).count();
        assert_eq!(splits, 1, "backup {}: {:?}", t.backup, f.windows);
    }
}

#[test]
fn a_backup_server_crash_leaves_a_partial_record_and_the_lease_resyncs() {
    let r = run("s1-backup-server-crash");
    let f = files(&r);
    assert_eq!(f.tape[0].outcome, BackupOutcome::Unfinished);
    assert!(f.tape[0].values.len() < f.files[0].blocks() as usize);
    assert_eq!(f.tape[1].outcome, BackupOutcome::Complete);
    // Two resyncs: the lease's, and the second backup's backup_done.
    let resyncs = r.result.history.ops.iter().filter(|o| matches!(o.op, model::Op::Resync { .. })).count();
    assert_eq!(resyncs, 2);
}

#[test]
fn the_run_report_gives_each_backup_its_inhibit_windows() {
    let sc = load("s1-crash-during-inhibit");
    let r = run_sc(&sc);
    let names: Vec<String> = sc.config.hosts.iter().map(|h| h.name.clone()).collect();
    let lines = mirrorsim::offload_report::lines(&r.result, &names);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("backup 0 of fs:hot") && lines[0].contains("cut by a crash + "),
        "{lines:?}"
    );
    assert!(lines[1].contains("(1 window)") && lines[1].ends_with(|c: char| c.is_ascii_digit() || c == 's'));
    let worst = mirrorsim::offload_report::worst_window_ns(&r.result).expect("windows closed");
    let f = files(&r);
    assert!(f.windows.iter().filter_map(|w| w.end_ns.map(|e| e - w.start_ns)).all(|n| n <= worst));
}

#[test]
fn the_benchmark_reference_backs_up_every_time() {
    let w = mirrorsim::bench_offload::windows(&mirrorsim::bench_offload::s1_reference(64, "10ms", 4), 1);
    assert_eq!((w.backups, w.backups_complete), (4, 4));
    assert!(w.count >= 4 && w.worst_ns > 0 && w.worst_ns < sim::WINDOW_MAX_NS);
}
