//! The `mirrorsim` command line. Glue only: arguments become a checked configuration,
//! the library does the work. Exit codes: 0 every run met its expected outcome,
//! 1 a run did not (a property was violated, or held when a violation was expected),
//! 2 usage or input error, 3 (check) a verdict is unknown.

use clap::{Parser, Subcommand};
use engine::ControllerFactory;
use mirrorsim::cli::{fmt_ns, load_all, scenario_paths};
use mirrorsim::runner::{self, RunReport};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "mirrorsim",
    version,
    about = "Deterministic simulation and verification harness for storage replication"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `--report FILE [--force]` of `run` and `replay`.
#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// Write a self-contained HTML report of the run (with several scenarios: of the
    /// first run that did not meet its expected outcome).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Let --report replace an existing file.
    #[arg(long, requires = "report")]
    force: bool,
}

impl ReportArgs {
    /// Refuses an existing report file before any work is done (exit 2).
    fn refuse_existing(&self) -> Result<(), u8> {
        match &self.report {
            Some(p) if p.exists() && !self.force => {
                eprintln!(
                    "error: --report: {} already exists; choose another name or pass --force",
                    p.display()
                );
                Err(2)
            }
            _ => Ok(()),
        }
    }

    /// Writes the report of `r`; the exit code if that failed.
    fn write(&self, sc: &mirrorsim::scenario::Scenario, r: &RunReport) -> Result<(), u8> {
        let Some(path) = &self.report else { return Ok(()) };
        let html = mirrorsim::report_html::render(&mirrorsim::report_html::from_run(sc, r));
        mirrorsim::report_html::write_new(path, &html, self.force).map_err(|e| {
            eprintln!("error: {e}");
            2
        })
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenario files or directories of them, one run each, and judge every run.
    Run {
        /// Scenario files or directories (searched recursively for *.json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Run with this seed instead of each scenario's own.
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        report: ReportArgs,
        /// No progress bar (it is drawn on stderr only when stderr is a terminal and
        /// there is more than one scenario).
        #[arg(long)]
        quiet: bool,
    },
    /// Rerun one run and print its event trace and verdict.
    Replay {
        file: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
        /// Print every event, one line each: index, time_ns, kind, fields.
        #[arg(long)]
        trace: bool,
        /// Print the client history too, one operation a line.
        #[arg(long)]
        history: bool,
        #[command(flatten)]
        planted: mirrorsim::fuzz::cli::PlantedArgs,
        #[command(flatten)]
        report: ReportArgs,
        /// text: the trace and history lines if asked, then the verdict; json: one
        /// object with the fields of `run --format json` (plus `trace` and `history`
        /// arrays of lines when asked).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Judge history files (from mirrorsim or any system) for linearizability.
    Check(mirrorsim::check_cmd::CheckArgs),
    /// Run generated scenarios, one per seed, in parallel; save each failure.
    Fuzz(mirrorsim::fuzz::cli::FuzzArgs),
    /// Minimize a failing scenario while the same seed still gives the same verdict.
    Shrink(mirrorsim::fuzz::cli::ShrinkArgs),
    /// Combine the JSON-lines results of fuzz shards into one result and summary.
    Merge(mirrorsim::fuzz::merge::MergeArgs),
    /// Measure the simulator's speed on reference scenarios.
    Bench {
        /// Smaller runs (a quick smoke of the benchmark).
        #[arg(long)]
        quick: bool,
        /// text: tables; json: one object per line, a section's heading then its
        /// measurements (the same numbers, unformatted: ns, per second).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Drive the threaded in-memory engine with real host and copier threads and judge
    /// each round's history; or, with --bench, measure its throughput.
    Stress(mirrorsim::stress::StressArgs),
    /// Print the JSON Schema of scenario files (the library's copy is
    /// scenarios/schema.json: `mirrorsim schema > scenarios/schema.json`).
    Schema,
}

/// Rust ignores SIGPIPE, so `println!` to a reader that went away (`mirrorsim bench |
/// head`) panics. A command-line tool should end quietly there, as `cat` does: give
/// SIGPIPE back its default action.
fn quiet_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists; setting a
    // signal's disposition to its default has no other precondition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    quiet_on_a_closed_pipe();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run { paths, seed, format, report, quiet } => cmd_run(&paths, seed, format, &report, quiet),
        Command::Replay { file, seed, trace, history, planted, report, format } => match planted.bugs() {
            Ok(bugs) => cmd_replay(&file, seed, (trace, history), &bugs, &report, format),
            Err(e) => {
                eprintln!("error: --planted: {e}");
                2
            }
        },
        Command::Fuzz(args) => mirrorsim::fuzz::cli::fuzz(&args),
        Command::Shrink(args) => mirrorsim::fuzz::cli::shrink(&args),
        Command::Merge(args) => mirrorsim::fuzz::merge::merge(&args),
        Command::Bench { quick, format } => {
            mirrorsim::bench::run(quick, mirrorsim::bench::Out { json: format == Format::Json })
        }
        Command::Check(args) => u8::try_from(mirrorsim::check_cmd::run(&args)).unwrap_or(2),
        Command::Stress(args) => mirrorsim::stress::main(&args),
        Command::Schema => {
            print!("{}", mirrorsim::scenario::schema::schema_json());
            0
        }
    };
    ExitCode::from(code)
}

fn load(paths: &[PathBuf]) -> Result<Vec<mirrorsim::scenario::Scenario>, u8> {
    let files = scenario_paths(paths).map_err(|e| {
        eprintln!("error: {e}");
        2u8
    })?;
    load_all(&files).map_err(|errs| {
        for e in errs {
            eprintln!("{}", mirrorsim::cli::describe_scenario_error(&e));
        }
        2u8
    })
}

#[allow(clippy::disallowed_methods)] // Wall time of a run is reported, never fed to the simulator.
fn timed(f: impl FnOnce() -> RunReport) -> (RunReport, f64) {
    let start = std::time::Instant::now();
    let r = f();
    (r, start.elapsed().as_secs_f64() * 1e3)
}

fn cmd_run(paths: &[PathBuf], seed: Option<u64>, format: Format, report: &ReportArgs, quiet: bool) -> u8 {
    if let Err(code) = report.refuse_existing() {
        return code;
    }
    let scenarios = match load(paths) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut reported = false;
    let bar = mirrorsim::cli::progress_bar(scenarios.len() as u64, "runs", quiet || scenarios.len() < 2);
    let mut failed = Vec::new();
    if format == Format::Text {
        println!(
            "{:<36} {:>20} {:>8} {:>12} {:>10} {:<26} {:>9}",
            "scenario", "seed", "ops", "sim time", "events", "verdict", "wall"
        );
    }
    for sc in &scenarios {
        let seed = seed.unwrap_or(sc.file.seed);
        bar.set_message(sc.name().to_string());
        let (r, wall_ms) = timed(|| runner::run(sc, seed, &ControllerFactory::default(), false));
        bar.inc(1);
        bar.suspend(|| match format {
            Format::Text => {
                let verdict = if r.expected_met {
                    r.verdict.code()
                } else {
                    format!("{} UNEXPECTED", r.verdict.code())
                };
                println!(
                    "{:<36} {:>20} {:>8} {:>12} {:>10} {:<26} {:>7.0}ms",
                    r.scenario,
                    r.seed,
                    r.stats.ops,
                    fmt_ns(r.sim_ns),
                    r.events,
                    verdict,
                    wall_ms
                );
                for line in runner::copy_lines(&r.result) {
                    println!("    {line}");
                }
                for line in mirrorsim::offload_report::lines(&r.result, &host_names(sc)) {
                    println!("    {line}");
                }
                for line in mirrorsim::backup_report::lines(&r.result) {
                    println!("    {line}");
                }
                for line in mirrorsim::remote_report::lines(&r, sc, 10) {
                    println!("    {line}");
                }
            }
            Format::Json => println!("{}", json_line(&r, wall_ms, sc, &host_names(sc))),
        });
        if report.report.is_some() && !reported && (!r.expected_met || scenarios.len() == 1) {
            reported = true;
            if let Err(code) = report.write(sc, &r) {
                return code;
            }
        }
        if !r.expected_met {
            failed.push(r);
        }
    }
    bar.finish_and_clear();
    if let (Some(p), false) = (&report.report, reported) {
        eprintln!("note: every run met its expected outcome; no report written to {}", p.display());
    }
    if format == Format::Text {
        for r in &failed {
            println!(
                "\n--- {} (seed {}): expected {:?}, got {}",
                r.scenario,
                r.seed,
                scenarios.iter().find(|s| s.name() == r.scenario).map(|s| &s.file.expect),
                r.verdict
            );
            match &r.details {
                Some(d) => println!("{d}"),
                None => println!("reproduce: {}", r.replay_command()),
            }
        }
        println!(
            "\n{} runs: {} met their expected outcome, {} did not",
            scenarios.len(),
            scenarios.len() - failed.len(),
            failed.len()
        );
    }
    u8::from(!failed.is_empty())
}

fn json_line(
    r: &RunReport,
    wall_ms: f64,
    sc: &mirrorsim::scenario::Scenario,
    hosts: &[String],
) -> serde_json::Value {
    let expect = &sc.file.expect;
    serde_json::json!({
        "scenario": r.scenario,
        "path": r.path,
        "seed": r.seed,
        "verdict": r.verdict.code(),
        "expected": expect,
        "expected_met": r.expected_met,
        "trace_hash": format!("{:016x}", r.trace_hash),
        "ops": r.stats.ops,
        "ops_ok": r.stats.ops_ok,
        "ops_failed": r.stats.ops_failed,
        "ops_unknown": r.stats.ops_unknown,
        "events": r.events,
        "sim_ns": r.sim_ns,
        "wall_ms": (wall_ms * 1000.0).round() / 1000.0,
        "ending": r.ending.name(),
        "details": r.details,
        "replay": r.replay_command(),
        "copies": runner::copies_json(&r.result),
        "backups": mirrorsim::offload_report::json(&r.result, hosts),
        "catalog": mirrorsim::backup_report::json(&r.result),
        "notes": r.notes,
        "remote": mirrorsim::remote_report::json(r, sc),
    })
}

fn cmd_replay(
    file: &PathBuf,
    seed: Option<u64>,
    (trace, history): (bool, bool),
    planted: &mirrorsim::fuzz::PlantedBugs,
    report: &ReportArgs,
    format: Format,
) -> u8 {
    if let Err(code) = report.refuse_existing() {
        return code;
    }
    let sc = match load(std::slice::from_ref(file)) {
        Ok(mut s) => s.remove(0),
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(sc.file.seed);
    let factory = mirrorsim::fuzz::planted::factory(planted);
    let (r, wall_ms) = timed(|| runner::run(&sc, seed, factory.as_ref(), trace));
    let r = r.with_replay_args(planted.cli_args());
    if format == Format::Json {
        let mut v = json_line(&r, wall_ms, &sc, &host_names(&sc));
        if trace {
            v["trace"] = r.result.trace.events.iter().map(|e| e.line()).collect();
        }
        if history {
            v["history"] =
                r.result.history.ops.iter().enumerate().map(|(i, o)| runner::op_line(i, o)).collect();
        }
        println!("{v}");
        if let Err(code) = report.write(&sc, &r) {
            return code;
        }
        return u8::from(!r.expected_met);
    }
    if trace {
        println!("# columns: event index, simulated time (ns), event kind, fields (key=value)");
        for e in &r.result.trace.events {
            println!("{}", e.line());
        }
    }
    if history {
        println!("# history: index, process, invoke..complete (ns), operation -> outcome");
        for (i, o) in r.result.history.ops.iter().enumerate() {
            println!("{}", runner::op_line(i, o));
        }
    }
    println!(
        "SEED={} scenario {:?}: verdict {} ({}), {} ops, {} events, sim time {}, trace hash {:016x}, wall {:.0}ms",
        r.seed,
        r.scenario,
        r.verdict,
        if r.expected_met { "as expected" } else { "NOT as expected" },
        r.stats.ops,
        r.events,
        fmt_ns(r.sim_ns),
        r.trace_hash,
        wall_ms
    );
    for line in runner::copy_lines(&r.result) {
        println!("{line}");
    }
    for line in mirrorsim::offload_report::lines(&r.result, &host_names(&sc)) {
        println!("{line}");
    }
    for line in mirrorsim::backup_report::lines(&r.result) {
        println!("{line}");
    }
    for line in mirrorsim::remote_report::lines(&r, &sc, usize::MAX) {
        println!("{line}");
    }
    for note in &r.notes {
        println!("note: {note}");
    }
    if let Some(d) = &r.details {
        println!("{d}");
    }
    if let Err(code) = report.write(&sc, &r) {
        return code;
    }
    u8::from(!r.expected_met)
}

fn host_names(sc: &mirrorsim::scenario::Scenario) -> Vec<String> {
    sc.config.hosts.iter().map(|h| h.name.clone()).collect()
}
