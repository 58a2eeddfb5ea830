//! The example engine (`examples/simple-engine`, docs/engines.md) through the same
//! library scenarios as ours: it passes every Foundation scenario (host I/O under
//! link, host and array faults), and, since it refuses every admin command, the
//! checks fail it on every scenario that needs mirror pairs, remote groups or
//! snapshots.

use mirrorsim::runner::{self, Verdict};
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
    !["s1-", "s2-", "s3-", "s4-"].iter().any(|p| name.starts_with(p))
}

#[test]
fn the_simple_engine_passes_every_foundation_scenario() {
    let files = library(is_foundation);
    assert!(files.len() >= 7, "{files:?}");
    for f in &files {
        let sc = scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        let r = runner::run(&sc, sc.file.seed, &SimpleFactory, false);
        assert!(
            r.expected_met,
            "{}: expected {:?}, got {}\n{}",
            f.display(),
            sc.file.expect,
            r.verdict,
            r.details.unwrap_or_default()
        );
        assert!(r.stats.ops_ok > 0, "{}: the engine answered nothing", f.display());
    }
}

#[test]
fn the_checks_fail_the_simple_engine_where_it_refuses_admin_commands() {
    for f in library(|n| n.starts_with("s2-")) {
        let sc = scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        let r = runner::run(&sc, sc.file.seed, &SimpleFactory, false);
        assert!(
            matches!(r.verdict, Verdict::Violation { .. }) && !r.expected_met,
            "{}: an engine without mirror pairs must not pass, got {}",
            f.display(),
            r.verdict
        );
    }
}
