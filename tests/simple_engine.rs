//! The example engine (`examples/simple-engine`, docs/engines.md) through the same
//! library scenarios as ours. It passes every Foundation scenario (host I/O under
//! link, host and array faults), every S2 scenario (mirror pairs: its own simple
//! design, host I/O queued while a copy or command runs) and every S1 scenario (the
//! backup flows need only S2 underneath). It refuses remote groups (S3), images
//! (S4) and array-side backups (S0), so the checks fail it on those: a harness that let it pass them would be
//! broken.

use mirrorsim::runner::{self, RunReport, Verdict};
use mirrorsim::scenario;
use simple_engine::SimpleFactory;

fn library(prefix_filter: impl Fn(&str) -> bool) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir("scenarios")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s != "schema" && prefix_filter(s)))
        .collect();
    files.sort();
    files
}

fn is_foundation(name: &str) -> bool {
    !["s0-", "s1-", "s2-", "s3-", "s4-"].iter().any(|p| name.starts_with(p))
}

fn run(f: &std::path::Path) -> RunReport {
    let sc = scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
    runner::run(&sc, sc.file.seed, &SimpleFactory, false)
}

/// Runs each file and asserts it met its expected outcome, and that every finished
/// copy copied exactly the union of the change maps (SPEC §2; here the dirty set).
fn assert_passes(files: &[std::path::PathBuf]) -> Vec<RunReport> {
    files
        .iter()
        .map(|f| {
            let r = run(f);
            assert!(
                r.expected_met,
                "{}: got {}\n{}",
                f.display(),
                r.verdict,
                r.details.clone().unwrap_or_default()
            );
            assert!(r.stats.ops_ok > 0, "{}: the engine answered nothing", f.display());
            for c in r.result.copies.iter().filter(|c| c.finished_ns.is_some()) {
                assert_eq!(c.stats.blocks_copied, c.stats.union_blocks, "{}: {c:?}", f.display());
                assert!(c.stats.differing_blocks <= c.stats.blocks_copied, "{}: {c:?}", f.display());
            }
            r
        })
        .collect()
}

#[test]
fn the_simple_engine_passes_every_foundation_scenario() {
    let files = library(is_foundation);
    assert!(files.len() >= 7, "{files:?}");
    assert_passes(&files);
}

#[test]
fn the_simple_engine_passes_every_mirror_pair_scenario_copying_exactly_the_dirty_set() {
    let files = library(|n| n.starts_with("s2-"));
    assert!(files.len() >= 10, "{files:?}");
    let reports = assert_passes(&files);
    let finished = |kind| {
        reports
            .iter()
            .flat_map(|r| &r.result.copies)
            .filter(|c| c.kind == kind && c.finished_ns.is_some() && c.stats.blocks_copied > 0)
            .count()
    };
    // The library exercises every kind of copy this engine makes, crashes included.
    for kind in [
        engine::CopyKind::Initial,
        engine::CopyKind::Resync,
        engine::CopyKind::Restore,
        engine::CopyKind::RestoreProtected,
    ] {
        assert!(finished(kind) > 0, "no finished {} copy in the S2 library", kind.name());
    }
}

#[test]
fn the_simple_engine_passes_every_backup_scenario() {
    let files = library(|n| n.starts_with("s1-"));
    assert!(!files.is_empty());
    assert_passes(&files);
}

#[test]
fn the_checks_fail_the_simple_engine_where_it_refuses_remote_groups_images_and_backups() {
    for f in library(|n| n.starts_with("s0-") || n.starts_with("s3-") || n.starts_with("s4-")) {
        let r = run(&f);
        assert!(
            matches!(r.verdict, Verdict::Violation { .. }) && !r.expected_met,
            "{}: an engine without remote groups, images or backups must not pass, got {}",
            f.display(),
            r.verdict
        );
    }
}
