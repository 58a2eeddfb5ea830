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
    /// Write a self-contained HTML report of the (one) history file: its operations
    /// per process, the violation and the longest linearizable prefix.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Let --report replace an existing file.
    #[arg(long, requires = "report")]
    pub force: bool,
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
    if let Some(out) = &args.report {
        if args.files.len() != 1 {
            eprintln!("error: --report draws one history file; {} were given", args.files.len());
            return 2;
        }
        if out.exists() && !args.force {
            eprintln!(
                "error: --report: {} already exists; choose another name or pass --force",
                out.display()
            );
            return 2;
        }
    }
    let (mut violation, mut bad, mut unknown) = (false, false, false);
    for file in &args.files {
        let name = file.display().to_string();
        #[allow(clippy::disallowed_methods)]
        // the CLI's check time and wall-clock budget; never in a simulated run
        let start = std::time::Instant::now();
        let read = std::fs::read_to_string(file);
        let outcome = match &read {
            Err(e) => FileOutcome::BadInput(FormatError { line: 0, message: format!("cannot read: {e}") }),
            Ok(text) => {
                let deadline = args.budget_ms.map(|ms| start + std::time::Duration::from_millis(ms));
                #[allow(clippy::disallowed_methods)] // see above
                let mut cancel = move || deadline.is_some_and(|d| std::time::Instant::now() > d);
                match check_text(kind, text, &budget, &mut cancel) {
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
        if let (CheckFormat::Text, FileOutcome::BadInput(e), Ok(text)) = (args.format, &outcome, &read)
            && e.line > 0
        {
            use std::io::IsTerminal;
            eprintln!("{}", history_diagnostic(&name, text, e, std::io::stderr().is_terminal()));
        }
        if let (Some(out), FileOutcome::Checked(r), Ok(text)) = (&args.report, &outcome, &read) {
            let html =
                crate::report_html::render(&crate::report_html::from_history_text(file, kind, text, r));
            if let Err(e) = crate::report_html::write_new(out, &html, args.force) {
                eprintln!("error: {e}");
                bad = true;
            }
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

/// A bad history line for a person (stderr; the verdict line on stdout stays as it
/// is): the line with the offending field underlined where the message names one in
/// backticks, else the whole line, and where the format is documented.
pub fn history_diagnostic(name: &str, text: &str, e: &FormatError, color: bool) -> String {
    let (start, end) =
        crate::scenario::diagnostic::line_bounds(text, e.line).unwrap_or((text.len(), text.len()));
    let line = &text[start..end];
    let field =
        e.message.split('`').nth(1).and_then(|f| line.find(&format!("\"{f}\"")).map(|i| (i, f.len() + 2)));
    let span = match field {
        Some((i, len)) => start + i..start + i + len,
        None => {
            let lead = line.len() - line.trim_start().len();
            start + lead..end.max(start + lead)
        }
    };
    crate::scenario::diagnostic::snippet(
        &format!("{name}:{}: {}", e.line, e.message),
        name,
        text,
        Some(span),
        "here",
        "one JSON object per line: process, type, f, value (and key); see docs/history-format.md",
        color,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_history_line_is_shown_with_its_field_underlined() {
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":\"é\",\"type\":\"ok\",\"f\":\"read\"}\n";
        let e = FormatError { line: 2, message: "`process` must be a non-negative integer".into() };
        let out = history_diagnostic("h.jsonl", text, &e, false);
        assert!(out.starts_with("error: h.jsonl:2: `process` must be"), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        let src = lines.iter().position(|l| l.contains(" | {")).expect("the source line");
        let caret = lines[src + 1];
        assert_eq!(caret.find('^'), lines[src].find("\"process\""), "{out}");
        assert_eq!(caret.matches('^').count(), "\"process\"".len(), "{out}");
        assert!(out.contains("help: one JSON object per line"), "{out}");
    }

    #[test]
    fn without_a_named_field_the_whole_line_is_underlined() {
        let text = "  not json\n";
        let e = FormatError { line: 1, message: "not JSON".into() };
        let out = history_diagnostic("h", text, &e, false);
        let caret = out.lines().find(|l| l.contains('^')).unwrap();
        assert_eq!(caret.matches('^').count(), "not json".len(), "{out}");
    }
}
