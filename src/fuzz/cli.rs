//! `mirrorsim fuzz` and `mirrorsim shrink`: arguments, output, exit codes.
//!
//! Exit codes: 0 no failure (fuzz) or the minimal scenario was written (shrink); 1 a
//! seed failed (fuzz) or the scenario does not fail (shrink: nothing to shrink); 2 bad
//! input (a flag, a scenario file, an output file that exists); 130 (fuzz) stopped by
//! Ctrl-C before any failure was found.

use super::campaign::{self, Interrupt, Options, SeedResult, Seeds, Shard, Summary};
use super::generate::to_json;
use super::planted::{self, PlantedBugs};
use super::save;
use super::shrink::{self, ShrinkError};
use crate::cli::fmt_ns;
use crate::scenario;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `--planted NAME`: switch on a planted bug (only in builds with the `planted-bugs`
/// feature; without it the flag does not exist).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PlantedArgs {
    /// Switch on a planted bug by name (repeatable). Only in builds with the
    /// `planted-bugs` feature.
    #[cfg(feature = "planted-bugs")]
    #[arg(long = "planted", value_name = "NAME")]
    pub names: Vec<String>,
}

impl PlantedArgs {
    pub fn bugs(&self) -> Result<PlantedBugs, String> {
        #[cfg(feature = "planted-bugs")]
        return PlantedBugs::parse(&self.names);
        #[cfg(not(feature = "planted-bugs"))]
        Ok(PlantedBugs::none())
    }
}

#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// How many seeds to run, from --seed-start (default 100).
    #[arg(long, conflicts_with = "time", value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: Option<u64>,
    /// Run new seeds for this much wall time instead: 90s, 5m, 1h.
    #[arg(long, value_parser = parse_wall_time)]
    pub time: Option<std::time::Duration>,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub seed_start: u64,
    /// Worker threads (default: the number of CPUs). Each simulation is single-threaded.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
    /// Run only the seeds with seed % N == I.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// text: failures and a summary; json: one object per seed and a summary line.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Where failing scenarios are saved (never overwriting a file).
    #[arg(long, value_name = "DIR", default_value = "failures")]
    pub failures: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print every seed with its swarm configuration (text format).
    #[arg(long)]
    pub verbose: bool,
    /// Print each seed's generated scenario (JSON) instead of running it:
    /// `--seed-start S --seeds 1 --generate-only > s.json` writes seed S's scenario.
    #[arg(long, conflicts_with = "time")]
    pub generate_only: bool,
    /// Which generators the seeds draw from: `standard` (what CI runs), or `full`,
    /// which adds those whose reach still finds open engine bugs (S3 two-array seeds,
    /// S0 backups; docs/fuzzing.md, "Profiles"). Part of what a seed means.
    #[arg(long, value_enum, default_value_t = super::generate::Profile::Standard)]
    pub profile: super::generate::Profile,
    /// Print the coverage report at the end: which pair states x commands, events and
    /// faults the seeds reached, with counts (JSON: always in the summary line).
    #[arg(long)]
    pub coverage: bool,
    /// Exit 1 if an important combination (marked * in the coverage report) was
    /// never reached: the CI campaign's guard against a generator that lost reach.
    #[arg(long, conflicts_with = "generate_only")]
    pub require_coverage: bool,
    #[command(flatten)]
    pub planted: PlantedArgs,
    /// Write an HTML report of each failure beside its saved scenario (same name,
    /// `.html`), rerunning the saved file with its seed.
    #[arg(long, conflicts_with = "generate_only")]
    pub report: bool,
}

#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    /// The failing scenario file (a saved fuzz failure, or any scenario).
    pub file: PathBuf,
    /// The seed that fails (default: the file's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where to write the minimal scenario (default: FILE with .min.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    #[command(flatten)]
    pub planted: PlantedArgs,
}

/// A wall-clock duration: a whole number and a unit (ms, s, m, h).
pub fn parse_wall_time(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || {
        format!("invalid duration {s:?}: expected a whole number and a unit (ms, s, m, h), e.g. 90s or 5m")
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad()),
    };
    let total = n.checked_mul(ms).ok_or_else(|| format!("duration {s:?} is too large"))?;
    if total == 0 {
        return Err(format!("invalid duration {s:?}: must be positive"));
    }
    Ok(std::time::Duration::from_millis(total))
}

fn progress_bar(len: Option<u64>, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(n) => (
            ProgressBar::new(n),
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} seeds  {per_sec}  {msg}",
        ),
        None => (ProgressBar::new_spinner(), "{spinner} {elapsed_precise} {pos} seeds  {per_sec}  {msg}"),
    };
    bar.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// `mirrorsim fuzz`.
pub fn fuzz(args: &FuzzArgs) -> u8 {
    let planted = match args.planted.bugs() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: --planted: {e}");
            return 2;
        }
    };
    let count = if args.time.is_some() { None } else { Some(args.seeds.unwrap_or(100)) };
    if let Some(n) = count
        && args.seed_start.checked_add(n - 1).is_none()
    {
        eprintln!(
            "error: --seed-start {} with --seeds {n} runs past the largest seed ({})",
            args.seed_start,
            u64::MAX
        );
        return 2;
    }
    let seeds = Seeds { start: args.seed_start, count, shard: args.shard };
    if args.generate_only {
        let mut k = 0;
        while let Some(seed) = seeds.nth(k) {
            print!("{}", super::generate::generate_with(seed, args.profile).to_json());
            k += 1;
        }
        return 0;
    }
    let jobs = args
        .jobs
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let opts = Options {
        seeds,
        time: args.time,
        jobs,
        failures_dir: Some(args.failures.clone()),
        planted: planted.clone(),
        profile: args.profile,
    };
    let interrupt = Arc::new(Interrupt::default());
    {
        let interrupt = interrupt.clone();
        // Fails only if a handler is already installed (a second campaign in one
        // process): that one keeps working.
        let _ = ctrlc::set_handler(move || {
            interrupt.request();
            if interrupt.count() == 1 {
                eprintln!("\ninterrupted: finishing the seeds in flight (Ctrl-C again to abandon them)");
            }
        });
    }
    let text = args.format == OutputFormat::Text;
    if text {
        let range = match (count, args.time) {
            (Some(n), _) => format!("seeds {}..{}", args.seed_start, args.seed_start as u128 + n as u128),
            (None, Some(t)) => format!("seeds from {} for {:?}", args.seed_start, t),
            (None, None) => unreachable!("count is set without --time"),
        };
        let shard = args.shard.map(|s| format!(", shard {s}")).unwrap_or_default();
        let bugs =
            if planted.is_empty() { String::new() } else { format!(", planted bugs {:?}", planted.names()) };
        let to_run = seeds.len().map(|n| format!(" ({n} to run)")).unwrap_or_default();
        println!(
            "fuzz: {range}{shard}{to_run}, {jobs} jobs{bugs}; failures are saved under {}",
            args.failures.display()
        );
    }
    let bar = progress_bar(seeds.len(), args.quiet || !std::io::stderr().is_terminal());
    bar.set_message("0 failures");
    let mut failures = 0u64;
    let summary = campaign::run(&opts, &interrupt, |r| {
        bar.inc(1);
        if r.failed() {
            failures += 1;
            bar.set_message(format!("{failures} failures"));
        }
        bar.suspend(|| print_seed(r, args, &planted));
        if let (true, Some(saved)) = (args.report, &r.saved) {
            match crate::report_html::report_saved_failure(saved, r.seed, &planted) {
                Ok(html) => bar.suspend(|| eprintln!("report: {}", html.display())),
                Err(e) => bar.suspend(|| eprintln!("error: {e}")),
            }
        }
    });
    bar.finish_and_clear();
    print_summary(&summary, args, &opts, &planted);
    let missing = summary.coverage.missing();
    if args.require_coverage && !summary.interrupted && !missing.is_empty() && summary.failed == 0 {
        eprintln!(
            "error: --require-coverage: {} important combinations never reached: {}",
            missing.len(),
            missing.join("; ")
        );
        return 1;
    }
    if summary.failed > 0 {
        1
    } else if summary.interrupted {
        130
    } else {
        0
    }
}

fn print_seed(r: &SeedResult, args: &FuzzArgs, planted: &PlantedBugs) {
    if args.format == OutputFormat::Json {
        println!("{}", r.json());
        return;
    }
    if args.verbose {
        println!(
            "seed {:>8}  {:<26} {:>6} ops {:>8} events  sim {:>10}  wall {:>6.0}ms",
            r.seed,
            r.verdict.code(),
            r.ops,
            r.events,
            fmt_ns(r.sim_ns),
            r.wall_ms
        );
        println!("    swarm: {}", r.swarm);
    }
    if !r.failed() {
        return;
    }
    println!("\n=== FAILURE seed {}: {}", r.seed, r.verdict.code());
    println!("seed: {}", r.seed);
    match (&r.saved, &r.save_error) {
        (Some(path), _) => {
            println!("replay: {}", r.replay.as_deref().unwrap_or_default());
            println!("shrink: mirrorsim shrink {}{}", path.display(), planted.cli_args());
        }
        (None, Some(e)) => println!("error: {e}"),
        (None, None) => {}
    }
    println!("swarm: {}", r.swarm);
    if let Some(d) = &r.details {
        println!("{d}");
    }
}

fn print_summary(s: &Summary, args: &FuzzArgs, opts: &Options, planted: &PlantedBugs) {
    if args.format == OutputFormat::Json {
        let failures: Vec<serde_json::Value> = s
            .failures
            .iter()
            .map(|(seed, verdict, file)| {
                json!({ "seed": seed, "verdict": verdict, "saved": file.as_ref().map(|p| p.display().to_string()) })
            })
            .collect();
        println!(
            "{}",
            json!({
                "type": "summary",
                "seed_start": opts.seeds.start,
                "seeds_requested": opts.seeds.count,
                "shard": opts.seeds.shard.map(|s| s.to_string()),
                "seeds": s.seeds_run,
                "passed": s.passed,
                "failed": s.failed,
                "unknown": s.unknown,
                "unknown_seeds": s.unknowns.iter().map(|(seed, _)| seed).collect::<Vec<_>>(),
                "failures": failures,
                "interrupted": s.interrupted,
                "abandoned": s.abandoned,
                "events": s.events,
                "jobs": opts.jobs,
                "planted": planted.names(),
                "wall_s": (s.wall_s * 1000.0).round() / 1000.0,
                "seeds_per_s": (s.seeds_per_s() * 100.0).round() / 100.0,
                "coverage": s.coverage.json(),
            })
        );
        return;
    }
    println!(
        "\nfuzz summary: {} seeds run: {} passed, {} failed, {} unknown (a check ran out of budget); {:.1}s wall, {:.2} seeds/s, {} jobs{}",
        s.seeds_run,
        s.passed,
        s.failed,
        s.unknown,
        s.wall_s,
        s.seeds_per_s(),
        opts.jobs,
        if s.interrupted {
            format!(
                "; INTERRUPTED{}",
                if s.abandoned > 0 {
                    format!(", {} in flight abandoned", s.abandoned)
                } else {
                    String::new()
                }
            )
        } else {
            String::new()
        }
    );
    if args.coverage || (args.require_coverage && !s.coverage.missing().is_empty()) {
        print!("{}", s.coverage.text());
    }
    if !s.unknowns.is_empty() {
        let shown: Vec<String> =
            s.unknowns.iter().take(20).map(|(seed, v)| format!("{seed} ({v})")).collect();
        println!("  unknown: seeds {}{}", shown.join(", "), if s.unknowns.len() > 20 { ", ..." } else { "" });
    }
    for (seed, verdict, file) in &s.failures {
        println!(
            "  FAILED seed {seed}: {verdict}{}",
            file.as_ref().map(|p| format!(" -> {}", p.display())).unwrap_or_default()
        );
    }
}

/// The default output of `shrink FILE`: `FILE` with `.json` replaced by `.min.json`.
pub fn default_shrink_out(file: &Path) -> PathBuf {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    file.with_file_name(format!("{stem}.min.json"))
}

/// `mirrorsim shrink`.
pub fn shrink(args: &ShrinkArgs) -> u8 {
    let planted = match args.planted.bugs() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: --planted: {e}");
            return 2;
        }
    };
    let sc = match scenario::load(&args.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", crate::cli::describe_scenario_error(&e));
            return 2;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| default_shrink_out(&args.file));
    if out.exists() && !args.force {
        eprintln!(
            "error: {}: the output file exists; pass --force to overwrite it or --out to choose another",
            out.display()
        );
        return 2;
    }
    let seed = args.seed.unwrap_or(sc.file.seed);
    let factory = planted::factory(&planted);
    let spinner = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let s = ProgressBar::new_spinner();
        s.enable_steady_tick(std::time::Duration::from_millis(200));
        s
    };
    spinner.set_message("shrinking: first run");
    let result = shrink::shrink(&sc.file, seed, factory.as_ref(), &args.file, |size| {
        spinner.set_message(format!("shrinking: {size}"))
    });
    spinner.finish_and_clear();
    let shrunk = match result {
        Ok(s) => s,
        Err(e @ ShrinkError::Invalid(_)) => {
            eprintln!("error: {}: {e}", args.file.display());
            return 2;
        }
        Err(e @ ShrinkError::Passes { .. }) => {
            eprintln!("{}: {e}", args.file.display());
            return 1;
        }
    };
    let mut file = shrunk.file.clone();
    file.seed = seed;
    let note = format!(
        "Shrunk by mirrorsim shrink from {} (seed {seed}, {}): {}.",
        args.file.display(),
        shrunk.verdict,
        shrunk.before.compare(&shrunk.after)
    );
    file.description =
        if file.description.is_empty() { note } else { format!("{} {note}", file.description) };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: {}: cannot create the directory: {e}", dir.display());
        return 2;
    }
    if let Err(e) = save::write_atomic(&out, &to_json(&file), args.force) {
        eprintln!("error: {}: cannot write the minimal scenario: {e}", out.display());
        return 2;
    }
    let replay = format!("mirrorsim replay {} --seed {seed}{}", out.display(), planted.cli_args());
    if args.format == OutputFormat::Json {
        let size = |s: &shrink::Size| {
            json!({ "arrays": s.arrays, "volumes": s.volumes, "hosts": s.hosts, "links": s.links,
                    "timeline": s.timeline, "random_faults": s.random_faults, "ops": s.ops, "events": s.events })
        };
        println!(
            "{}",
            json!({
                "file": args.file.display().to_string(),
                "out": out.display().to_string(),
                "seed": seed,
                "verdict": shrunk.verdict,
                "runs": shrunk.runs,
                "steps": shrunk.steps,
                "before": size(&shrunk.before),
                "after": size(&shrunk.after),
                "replay": replay,
            })
        );
    } else {
        println!(
            "shrunk {} (seed {seed}, {}) in {} runs, {} steps kept",
            args.file.display(),
            shrunk.verdict,
            shrunk.runs,
            shrunk.steps
        );
        println!("  before: {}", shrunk.before);
        println!("  after:  {}", shrunk.after);
        println!("  {}", shrunk.before.compare(&shrunk.after));
        println!("wrote {}", out.display());
        println!("replay: {replay}");
    }
    0
}
