//! Shared helpers for the integration tests.

use mirrorsim::scenario::{self, Scenario};
use std::path::{Path, PathBuf};

/// Every scenario of the library, loaded.
pub fn library() -> Vec<Scenario> {
    let paths = mirrorsim::cli::scenario_paths(&[PathBuf::from("scenarios")]).expect("the library exists");
    paths
        .iter()
        .map(|p| scenario::load(p).unwrap_or_else(|e| panic!("library scenario is invalid: {e}")))
        .collect()
}

/// Loads one scenario from text.
pub fn scenario(text: &str) -> Scenario {
    scenario::parse(Path::new("inline.json"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// Loads a library scenario (`scenarios/NAME.json`).
pub fn load_library(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
    scenario::load(Path::new(&path)).expect("a library scenario loads")
}

/// Runs a library scenario with its own seed on our engine and asserts what every
/// run must show: it met its expected outcome, and every finished copy (initial copy,
/// resync, restore; local or remote) copied exactly the union of the change maps
/// (SPEC §2).
pub fn run_library(name: &str) -> mirrorsim::runner::RunReport {
    let sc = load_library(name);
    let r = mirrorsim::runner::run(&sc, sc.file.seed, &engine::ControllerFactory::default(), false);
    assert!(r.expected_met, "{name}: {}\n{}", r.verdict, r.details.clone().unwrap_or_default());
    for c in &r.result.copies {
        if c.finished_ns.is_some() {
            assert_eq!(c.stats.blocks_copied, c.stats.union_blocks, "{name}: {c:?}");
        }
    }
    r
}

/// The outcomes of the operations `pred` picks, in history order.
pub fn outcomes(
    r: &mirrorsim::runner::RunReport,
    pred: impl Fn(&model::Op) -> bool,
) -> Vec<model::Completion> {
    r.result.history.ops.iter().filter(|o| pred(&o.op)).map(|o| o.completion.clone()).collect()
}

/// A command's `done`.
pub fn ok() -> model::Completion {
    model::Completion::Returned(Ok(model::Reply::Done))
}
