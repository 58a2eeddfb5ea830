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
