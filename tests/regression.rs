//! The regression corpus: every scenario under `tests/regression/` (see its README)
//! meets its `expect` on the engine as it is, with the file's own seed.

use engine::ControllerFactory;
use mirrorsim::runner;
use std::path::Path;

#[test]
fn every_regression_scenario_meets_its_expectation() {
    let dir = Path::new("tests/regression");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/regression exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in &files {
        let sc = mirrorsim::scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        let r = runner::run(&sc, sc.file.seed, &ControllerFactory::default(), false);
        assert!(
            r.expected_met,
            "{}: expected {:?}, got {}\n{}",
            f.display(),
            sc.file.expect,
            r.verdict,
            r.details.unwrap_or_default()
        );
    }
}
