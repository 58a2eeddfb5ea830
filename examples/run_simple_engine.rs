//! Runs scenario files on the example engine (`examples/simple-engine`) instead of
//! mirrorsim's controller, and judges each run with the same checks:
//!
//! ```sh
//! cargo run --example run_simple_engine -- scenarios/steady-state.json scenarios/
//! ```
//!
//! Exit codes as `mirrorsim run`: 0 every run met its expected outcome, 1 some run did
//! not, 2 bad input. This is the whole of "plugging in an engine" from the outside:
//! load, then `mirrorsim::runner::run` with your `EngineFactory` (docs/engines.md).

use mirrorsim::cli::{load_all, scenario_paths};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: run_simple_engine SCENARIO_OR_DIR...");
        return ExitCode::from(2);
    }
    let files = match scenario_paths(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let scenarios = match load_all(&files) {
        Ok(s) => s,
        Err(errs) => {
            for e in errs {
                eprintln!("{}", mirrorsim::cli::describe_scenario_error(&e));
            }
            return ExitCode::from(2);
        }
    };
    let mut missed = 0;
    for sc in &scenarios {
        let r = mirrorsim::runner::run(sc, sc.file.seed, &simple_engine::SimpleFactory, false);
        println!(
            "{:<40} {:<28} {}",
            r.scenario,
            r.verdict.code(),
            if r.expected_met { "as expected" } else { "NOT as expected" }
        );
        if !r.expected_met {
            if let Some(d) = &r.details {
                println!("{d}");
            }
            missed += 1;
        }
    }
    println!("{} runs on the simple engine: {missed} did not meet their expected outcome", scenarios.len());
    ExitCode::from(u8::from(missed > 0))
}
