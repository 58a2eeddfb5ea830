//! `mirrorsim check FILE... --model cas-register|kv|storage`: judge history files
//! (from mirrorsim or from any system) for linearizability.
//!
//! One verdict line per file, with its check time. Exit codes: 0 every file
//! linearizable; 1 some file is not; 2 bad input (file, line and problem) and no
//! violation; 3 some check ran out of budget and there was no violation and no bad
//! input. The file format is `docs/history-format.md`.

use checker::history_format::{FormatError, ModelKind, check_text};
use checker::{Budget, Report, Verdict};
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckModel {
    /// One register: read, write, cas; starts as null.
    CasRegister,
    /// String values per key: get, put, append; absent keys read "".
    Kv,
    /// mirrorsim volumes: multi-block read and write, atomic per block.
    Storage,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFormat {
    Text,
    Json,
}

/// Check history files for linearizability.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// JSON-lines history files (see docs/history-format.md).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The sequential specification to check against.
    #[arg(long, value_enum)]
    pub model: CheckModel,
    /// Most model steps per file before the verdict is `unknown`.
    #[arg(long, default_value_t = 1_000_000_000)]
    pub budget_steps: u64,
    /// Most wall-clock milliseconds per file before the verdict is `unknown` (every model).
    #[arg(long)]
    pub budget_ms: Option<u64>,
    /// Most MiB the search's tables may hold per file before the verdict is `unknown`.
    #[arg(long, default_value_t = 4096)]
    pub budget_mem_mb: u64,
    /// Output: one line per file (text, with a counterexample below a violation), or
    /// one JSON object per file.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

/// What happened to one file.
enum FileOutcome {
    Checked(Report),
    BadInput(FormatError),
}

/// Runs the command; returns the process exit code.
pub fn run(args: &CheckArgs) -> i32 {
    let kind = match args.model {
        CheckModel::CasRegister => ModelKind::CasRegister,
        CheckModel::Kv => ModelKind::Kv,
        CheckModel::Storage => ModelKind::Storage,
    };
    let budget = Budget {
        steps_max: Some(args.budget_steps),
        memory_bytes_max: Some(args.budget_mem_mb.saturating_mul(1 << 20)),
    };
    let (mut violation, mut bad, mut unknown) = (false, false, false);
    for file in &args.files {
        let name = file.display().to_string();
        #[allow(clippy::disallowed_methods)]
        // the CLI's check time and wall-clock budget; never in a simulated run
        let start = std::time::Instant::now();
        let outcome = match std::fs::read_to_string(file) {
            Err(e) => FileOutcome::BadInput(FormatError { line: 0, message: format!("cannot read: {e}") }),
            Ok(text) => {
                let deadline = args.budget_ms.map(|ms| start + std::time::Duration::from_millis(ms));
                #[allow(clippy::disallowed_methods)] // see above
                let mut cancel = move || deadline.is_some_and(|d| std::time::Instant::now() > d);
                match check_text(kind, &text, &budget, &mut cancel) {
                    Ok(r) => FileOutcome::Checked(r),
                    Err(e) => FileOutcome::BadInput(e),
                }
            }
        };
        let ms = start.elapsed().as_secs_f64() * 1e3;
        match &outcome {
            FileOutcome::BadInput(_) => bad = true,
            FileOutcome::Checked(r) => match r.verdict {
                Verdict::Linearizable => {}
                Verdict::NotLinearizable(_) => violation = true,
                Verdict::Unknown { .. } => unknown = true,
            },
        }
        match args.format {
            CheckFormat::Text => print_text(&name, &outcome, ms),
            CheckFormat::Json => print_json(&name, kind, &outcome, ms),
        }
    }
    if violation {
        1
    } else if bad {
        2
    } else if unknown {
        3
    } else {
        0
    }
}

fn print_text(name: &str, outcome: &FileOutcome, ms: f64) {
    match outcome {
        FileOutcome::BadInput(e) if e.line == 0 => println!("{name}: bad input: {}", e.message),
        FileOutcome::BadInput(e) => println!("{name}:{}: bad input: {}", e.line, e.message),
        FileOutcome::Checked(r) => {
            let s = &r.stats;
            println!(
                "{name}: {} ({} ops, {} unknown, {} {}, {} steps) in {ms:.3} ms",
                r.headline(),
                s.ops,
                s.unknown_ops,
                s.partitions,
                if s.whole_object { "whole-object check" } else { "partitions" },
                s.steps
            );
            if let Some(c) = r.counterexample() {
                println!("  (operation ids and times are line numbers)");
                print!("{c}");
            }
        }
    }
}

fn print_json(name: &str, kind: ModelKind, outcome: &FileOutcome, ms: f64) {
    let v = match outcome {
        FileOutcome::BadInput(e) => serde_json::json!({
            "file": name,
            "model": kind.name(),
            "verdict": { "verdict": "bad_input", "line": e.line, "problem": e.message },
            "check_ms": ms,
        }),
        FileOutcome::Checked(r) => serde_json::json!({
            "file": name,
            "model": kind.name(),
            "verdict": r.verdict,
            "stats": r.stats,
            "check_ms": ms,
        }),
    };
    println!("{v}");
}
