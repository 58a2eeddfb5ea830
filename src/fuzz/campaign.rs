//! A fuzz campaign: many seeds, each a generated scenario run and judged, on a pool of
//! worker threads; results delivered in seed order; failures saved as replayable
//! scenario files.
//!
//! Each simulation is single-threaded and deterministic; only the campaign uses
//! threads (one simulation per worker at a time). Results are handed to the caller in
//! seed order whatever order the workers finish in, so a campaign's output is the same
//! for any `--jobs` (apart from wall times). Wall time is read here, outside the
//! simulator, for the `--time` budget and the speed report; it never feeds a run.

use super::generate::{self, Generated, Swarm};
use super::planted::{self, PlantedBugs};
use super::save;
use crate::runner::{self, Verdict};
use crate::scenario::{self, CheckName};
use engine::EngineFactory;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

/// `--shard I/N`: only the seeds with `seed % N == I`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Parses `I/N` with `N > 0` and `I < N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("invalid shard {s:?}: expected I/N with 0 <= I < N, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("invalid shard {s:?}: the shard count must be positive"));
        }
        if index >= count {
            return Err(format!("invalid shard {s:?}: the index must be below the count ({count})"));
        }
        Ok(Shard { index, count })
    }

    pub fn contains(&self, seed: u64) -> bool {
        seed % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The seeds of a campaign: `start`, `start + 1`, ... (`count` of them, or without
/// end), keeping only those of the shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    pub start: u64,
    pub count: Option<u64>,
    pub shard: Option<Shard>,
}

impl Seeds {
    /// The `k`-th seed this campaign runs, if any.
    pub fn nth(&self, k: u64) -> Option<u64> {
        let (step, first) = match self.shard {
            None => (1, self.start),
            Some(s) => {
                let offset = (s.index + s.count - self.start % s.count) % s.count;
                (s.count, self.start.checked_add(offset)?)
            }
        };
        let seed = first.checked_add(k.checked_mul(step)?)?;
        match self.count {
            Some(n) if seed - self.start >= n => None,
            _ => Some(seed),
        }
    }

    /// How many seeds the campaign runs (`None`: without end).
    pub fn len(&self) -> Option<u64> {
        let n = self.count?;
        Some(match self.shard {
            None => n,
            Some(_) => {
                // Seeds are increasing: count those below start + n.
                let mut lo = 0u64;
                let mut hi = n;
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if self.nth(mid).is_some() { lo = mid + 1 } else { hi = mid }
                }
                lo
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

/// What a campaign runs and where failures go.
#[derive(Clone, Debug)]
pub struct Options {
    pub seeds: Seeds,
    /// Stop taking new seeds after this much wall time.
    pub time: Option<std::time::Duration>,
    pub jobs: usize,
    /// Where failing scenarios are saved (`None`: not saved).
    pub failures_dir: Option<PathBuf>,
    pub planted: PlantedBugs,
    /// Which generators the seeds draw from.
    pub profile: generate::Profile,
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct SeedResult {
    pub seed: u64,
    pub swarm: Swarm,
    pub verdict: Verdict,
    /// The failing check of a violation or unknown verdict.
    pub check: Option<CheckName>,
    pub details: Option<String>,
    pub ops: u64,
    pub events: u64,
    pub sim_ns: u64,
    pub trace_hash: u64,
    pub wall_ms: f64,
    /// Where the failing scenario was saved.
    pub saved: Option<PathBuf>,
    /// Why saving it failed.
    pub save_error: Option<String>,
    pub replay: Option<String>,
    /// The generated scenario (kept for failures only).
    pub scenario: Option<Generated>,
    /// The combinations this run reached ([`super::coverage`]).
    pub facts: super::coverage::RunFacts,
}

impl SeedResult {
    /// A failure: a violation, or a run that ended on a bound (for a generated
    /// scenario, which always expects to pass, a bound means a hang or a liveness
    /// failure). A check that ran out of budget is not a failure.
    pub fn failed(&self) -> bool {
        matches!(self.verdict, Verdict::Violation { .. } | Verdict::Ending(_))
    }

    pub fn unknown(&self) -> bool {
        matches!(self.verdict, Verdict::Unknown { .. })
    }

    /// One JSON line.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "type": "seed",
            "seed": self.seed,
            "verdict": self.verdict.code(),
            "check": self.check.map(|c| c.name()),
            "ops": self.ops,
            "events": self.events,
            "sim_ns": self.sim_ns,
            "trace_hash": format!("{:016x}", self.trace_hash),
            "wall_ms": (self.wall_ms * 1000.0).round() / 1000.0,
            "swarm": self.swarm,
            "saved": self.saved.as_ref().map(|p| p.display().to_string()),
            "save_error": self.save_error,
            "replay": self.replay,
            "details": self.details,
        })
    }
}

/// The file stem a failure of `seed` is saved under.
pub fn failure_stem(seed: u64, verdict: &Verdict) -> String {
    let what = match verdict {
        Verdict::Violation { check, .. } | Verdict::Unknown { check, .. } => check.name().to_string(),
        Verdict::Ending(e) => e.name().replace('_', "-"),
        Verdict::Pass => "pass".into(),
    };
    format!("fuzz-seed-{seed}-{what}")
}

/// The path a generated scenario pretends to have until it is saved (plain characters,
/// so the runner's replay command quotes nothing and can be rewritten).
fn placeholder(seed: u64) -> String {
    format!("fuzz-seed-{seed}")
}

/// Generates the scenario of `seed`, runs and judges it on `factory`.
pub fn run_seed(seed: u64, profile: generate::Profile, factory: &dyn EngineFactory) -> SeedResult {
    let start = wall_now();
    let generated = generate::generate_with(seed, profile);
    let sc = scenario::validate(Path::new(&placeholder(seed)), generated.file.clone())
        .unwrap_or_else(|e| panic!("the generator made an invalid scenario from seed {seed}: {e}"));
    let r = runner::run_within(&sc, seed, factory, false, &crate::linearizability::fuzz_budget());
    let facts = super::coverage::run_facts(&sc.config, &r.result);
    let wall_ms = start.elapsed().as_secs_f64() * 1e3;
    let check = match &r.verdict {
        Verdict::Violation { check, .. } | Verdict::Unknown { check, .. } => Some(*check),
        _ => None,
    };
    let mut result = SeedResult {
        seed,
        swarm: generated.swarm.clone(),
        verdict: r.verdict,
        check,
        details: r.details,
        ops: r.stats.ops,
        events: r.events,
        sim_ns: r.sim_ns,
        trace_hash: r.trace_hash,
        wall_ms,
        saved: None,
        save_error: None,
        replay: None,
        scenario: None,
        facts,
    };
    if result.failed() {
        result.scenario = Some(generated);
    }
    result
}

/// Saves a failing seed's scenario under `dir` and points its replay command at the
/// file.
pub fn save_failure(r: &mut SeedResult, dir: &Path, planted: &PlantedBugs) {
    let Some(generated) = &r.scenario else { return };
    let mut file = generated.file.clone();
    file.description = format!(
        "Found by mirrorsim fuzz: seed {} gave {}{}. Swarm: {}.",
        r.seed,
        r.verdict.code(),
        if planted.is_empty() { String::new() } else { format!(" with planted bugs {:?}", planted.names()) },
        r.swarm
    );
    match save::save_new(dir, &failure_stem(r.seed, &r.verdict), &generate::to_json(&file)) {
        Ok(path) => {
            let shown = path.display().to_string();
            let replay = format!("mirrorsim replay {shown} --seed {}{}", r.seed, planted.cli_args());
            let old = format!("mirrorsim replay {} --seed {}", placeholder(r.seed), r.seed);
            r.details = r.details.take().map(|d| {
                d.replace(&old, &replay).replace(&format!("({})", placeholder(r.seed)), &format!("({shown})"))
            });
            r.replay = Some(replay);
            r.saved = Some(path);
        }
        Err(e) => r.save_error = Some(format!("{}: cannot save the failing scenario: {e}", dir.display())),
    }
}

/// How a campaign ended.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub seeds_run: u64,
    pub passed: u64,
    pub failed: u64,
    pub unknown: u64,
    /// `(seed, verdict code, saved file)` of every failure, in seed order.
    pub failures: Vec<(u64, String, Option<PathBuf>)>,
    /// `(seed, verdict code)` of every unknown verdict, in seed order.
    pub unknowns: Vec<(u64, String)>,
    /// Stopped by an interrupt (Ctrl-C) before its seeds were done.
    pub interrupted: bool,
    /// Seeds in flight when a second interrupt abandoned them.
    pub abandoned: u64,
    pub wall_s: f64,
    pub events: u64,
    /// What the seeds run reached.
    pub coverage: super::coverage::Coverage,
}

impl Summary {
    pub fn seeds_per_s(&self) -> f64 {
        if self.wall_s > 0.0 { self.seeds_run as f64 / self.wall_s } else { 0.0 }
    }
}

/// Interrupt requests: the first stops taking new seeds; the second abandons the ones
/// in flight.
#[derive(Debug, Default)]
pub struct Interrupt(AtomicUsize);

impl Interrupt {
    pub fn request(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[allow(clippy::disallowed_methods)] // Wall time: the --time budget and speed reports only.
fn wall_now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Runs a campaign: `on_result` sees every seed's result in seed order (failures
/// already saved). Returns when every seed is done, the time budget is spent, or an
/// interrupt stops it.
pub fn run(opts: &Options, interrupt: &Arc<Interrupt>, mut on_result: impl FnMut(&SeedResult)) -> Summary {
    let start = wall_now();
    let next = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<(u64, SeedResult)>();
    let deadline = opts.time.map(|t| start + t);
    let mut workers = Vec::new();
    for _ in 0..opts.jobs.max(1) {
        let (next, tx, interrupt, planted, seeds, profile) =
            (next.clone(), tx.clone(), interrupt.clone(), opts.planted.clone(), opts.seeds, opts.profile);
        #[allow(clippy::disallowed_methods)]
        // The campaign's worker pool; each simulation stays single-threaded.
        let handle = std::thread::spawn(move || {
            let factory = planted::factory(&planted);
            loop {
                if interrupt.count() > 0 || deadline.is_some_and(|d| wall_now() >= d) {
                    return;
                }
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(seed) = seeds.nth(k) else { return };
                let r = run_seed(seed, profile, factory.as_ref());
                if tx.send((k, r)).is_err() {
                    return;
                }
            }
        });
        workers.push(handle);
    }
    drop(tx);

    let mut summary = Summary::default();
    summary.coverage.profile = opts.profile;
    let mut pending: BTreeMap<u64, SeedResult> = BTreeMap::new();
    let mut emitted = 0u64;
    loop {
        if interrupt.count() >= 2 {
            summary.abandoned = next.load(Ordering::SeqCst).min(opts.seeds.len().unwrap_or(u64::MAX))
                - emitted
                - pending.len() as u64;
            break;
        }
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok((k, r)) => {
                pending.insert(k, r);
                while let Some(r) = pending.remove(&emitted) {
                    account(&mut summary, r, opts, &mut on_result);
                    emitted += 1;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if summary.abandoned == 0 {
        for w in workers {
            let _ = w.join();
        }
    }
    // Abandoned: the results that arrived past the gap are reported too.
    for (_, r) in std::mem::take(&mut pending) {
        account(&mut summary, r, opts, &mut on_result);
    }
    summary.interrupted = interrupt.count() > 0;
    summary.wall_s = start.elapsed().as_secs_f64();
    summary
}

/// Saves a failure, counts the result and hands it on.
fn account(
    summary: &mut Summary,
    mut r: SeedResult,
    opts: &Options,
    on_result: &mut impl FnMut(&SeedResult),
) {
    if r.failed()
        && let Some(dir) = &opts.failures_dir
    {
        save_failure(&mut r, dir, &opts.planted);
    }
    summary.seeds_run += 1;
    summary.events += r.events;
    summary.coverage.add(&r.facts);
    if r.failed() {
        summary.failed += 1;
        summary.failures.push((r.seed, r.verdict.code(), r.saved.clone()));
    } else if r.unknown() {
        summary.unknown += 1;
        summary.unknowns.push((r.seed, r.verdict.code()));
    } else {
        summary.passed += 1;
    }
    on_result(&r);
}
