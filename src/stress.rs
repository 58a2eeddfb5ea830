//! `mirrorsim stress`: the engine under real threads.
//!
//! Host threads and copier threads drive [`ThreadedArray`] (the in-memory engine
//! built from the thread-safe structures of `engine::shared`) at the same time. Every
//! operation is recorded with monotonic wall-clock timestamps: the invocation time is
//! read before the call, the completion time after it returns, so the recorded
//! real-time order is implied by the real one and the history can only be more
//! lenient than what happened, never stricter. The history is then judged by the same
//! linearizability checker as a simulated run (`checker::models::storage`, through
//! [`crate::linearizability::check`]) and the engine's own invariants (checked at
//! every quiescent point the array reaches). Exit codes: 0 every round passed, 1 a
//! violation, 2 bad flags, 3 a check ran out of budget.
//!
//! A stress run is a sequence of short *rounds* (a fresh array, `--ops` operations per
//! host thread, then the final reads and the verdict), so each history stays small
//! enough to check and every round starts a new race. Rounds cycle through the
//! scenarios:
//!
//! - `plain`: one volume, host reads and writes.
//! - `mirror`: a mirror pair created while hosts write (its initial copy races them),
//!   then `Mirrored`.
//! - `resync`: as `mirror`, then a command thread splits and resyncs it over and over
//!   while the copier runs (hosts also read and write the mirror: refused unless
//!   split).
//! - `snapshot`: a snapshot taken while hosts write the volume; hosts then read and
//!   write the image too.
//! - `restore`: as `resync`, with (unprotected) restores instead of resyncs: the
//!   copier copies mirror to source while hosts read the source (served from the
//!   mirror until a chunk is restored) and write it.
//!
//! **Outside the simulator.** This module reads the wall clock and spawns threads;
//! the determinism rules of the simulated path do not apply here (each use opts out
//! of the clippy ban with a reason). The `--seed` seeds each thread's choice of
//! operations, but the interleaving is the machine's: two runs differ.
//!
//! `--bench` measures throughput (host operations per second, checks off, no
//! perturbation) of each scenario with 1 and 2 host threads and the overhead of each
//! against `plain`.

use crate::linearizability::Outcome;
use engine::shared::{Broken, Layout, ThreadedArray};
use model::{
    Completion, History, HistoryOp, Op, OpResult, PairEvent, PairId, PairState, ProcessId, Reply, Value,
    VolumeId, VolumeSpec,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Blocks per volume: small, so threads collide on blocks and chunks.
pub const BLOCKS: u64 = 32;
/// Blocks per change-map bit and interlock chunk.
pub const GRAIN: u64 = 4;
/// Most blocks one host operation touches.
pub const LEN_MAX: u64 = 4;
/// Host operations per host thread per round: a stress round, a benchmark round.
pub const STRESS_OPS: u64 = 400;
pub const BENCH_OPS: u64 = 20_000;
/// Interleaved repetitions of each benchmark configuration.
const BENCH_REPS: u32 = 3;
/// Most host threads.
pub const THREADS_MAX: usize = 64;

const SOURCE: VolumeId = VolumeId(0);
const SECOND: VolumeId = VolumeId(1);
const PAIR: PairId = PairId(1);
/// The process of the array's own transitions (as `sim::array_process` of array 0).
const ARRAY_PROCESS: ProcessId = ProcessId(u32::MAX - 1);

/// A stress scenario.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Plain,
    Mirror,
    Resync,
    Snapshot,
    Restore,
}

impl Scenario {
    pub const ALL: [Scenario; 5] =
        [Scenario::Plain, Scenario::Mirror, Scenario::Resync, Scenario::Snapshot, Scenario::Restore];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Plain => "plain",
            Scenario::Mirror => "mirror",
            Scenario::Resync => "resync",
            Scenario::Snapshot => "snapshot",
            Scenario::Restore => "restore",
        }
    }

    fn layout(self, perturb: bool) -> Layout {
        let plain = self == Scenario::Plain;
        let volumes = if plain { vec![(SOURCE, BLOCKS)] } else { vec![(SOURCE, BLOCKS), (SECOND, BLOCKS)] };
        let paired = matches!(self, Scenario::Mirror | Scenario::Resync | Scenario::Restore);
        Layout {
            volumes,
            grain: GRAIN,
            pair: paired.then_some((PAIR, SOURCE, SECOND)),
            snapshot: (self == Scenario::Snapshot).then_some((PAIR, SOURCE, SECOND)),
            perturb,
        }
    }

    /// The volumes a round of this scenario judges.
    pub fn volumes(self) -> Vec<VolumeSpec> {
        let ids = if self == Scenario::Plain { vec![SOURCE] } else { vec![SOURCE, SECOND] };
        ids.into_iter().map(|id| VolumeSpec { id, blocks: BLOCKS }).collect()
    }
}

/// How long a stress run goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// This many rounds (what tests use: no wall-clock limit).
    Rounds(u64),
    /// Rounds until this much wall time has passed (the round under way finishes).
    Time(Duration),
}

/// A checked stress configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub threads: usize,
    pub scenarios: Vec<Scenario>,
    /// Host operations per host thread per round.
    pub ops: u64,
    pub bound: Bound,
    pub seed: u64,
    /// Judge each round's history (off only when measuring throughput).
    pub check: bool,
    /// Yield inside the race windows (see `Layout::perturb`).
    pub perturb: bool,
    /// Protections removed (only with the `planted-bugs` feature).
    pub broken: Broken,
    /// Host threads address only the first volume (the benchmark: every scenario
    /// then runs the same host workload, and only the engine's work differs).
    pub source_only: bool,
}

/// A round's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// `check` is `invariants` or `linearizability`.
    Violation {
        check: &'static str,
        detail: String,
    },
    Unknown(String),
}

impl Verdict {
    pub fn code(&self) -> String {
        match self {
            Verdict::Pass => "pass".into(),
            Verdict::Violation { check, .. } => format!("violation:{check}"),
            Verdict::Unknown(_) => "unknown:linearizability".into(),
        }
    }
}

/// One round's result.
#[derive(Debug)]
pub struct Round {
    pub index: u64,
    pub scenario: Scenario,
    /// Host operations (the throughput's numerator).
    pub host_ops: u64,
    /// Operations in the history (commands, events and final reads included).
    pub history_ops: usize,
    /// Wall time of the threaded part (threads started to all joined).
    pub wall: Duration,
    pub verdict: Verdict,
    pub history: History,
}

/// What a whole stress run found.
#[derive(Debug, Default)]
pub struct Summary {
    pub rounds: u64,
    pub host_ops: u64,
    pub history_ops: u64,
    pub wall: Duration,
    /// The first round that failed (violation), if any.
    pub violation: Option<Round>,
    /// Rounds whose check gave up.
    pub unknown: u64,
}

impl Summary {
    pub fn ops_per_s(&self) -> f64 {
        self.host_ops as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// The process exit code: 1 a violation, 3 an unknown verdict, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.violation.is_some() {
            1
        } else if self.unknown > 0 {
            3
        } else {
            0
        }
    }
}

/// A small per-thread generator (splitmix64). Threads make the run
/// non-deterministic anyway; this only spreads the operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The round's monotonic clock: nanoseconds since the round began, from 1 (0 is the
/// instant of the set-up operations).
struct Clock(Instant);

impl Clock {
    #[allow(clippy::disallowed_methods)] // Stress runs outside the simulator: real time is its clock.
    fn start() -> Clock {
        Clock(Instant::now())
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }
}

/// Records one operation: invocation time before, completion time after.
fn record(
    clock: &Clock,
    out: &mut Vec<HistoryOp>,
    process: ProcessId,
    op: Op,
    f: impl FnOnce(&Op) -> OpResult,
) {
    let invoke_ns = clock.now();
    let result = f(&op);
    let complete_ns = clock.now();
    out.push(HistoryOp {
        process,
        op,
        invoke_ns,
        complete_ns: Some(complete_ns),
        completion: Completion::Returned(result),
        invoke_event: invoke_ns,
        complete_event: Some(complete_ns),
    });
}

fn instant(process: ProcessId, op: Op, at: u64) -> HistoryOp {
    HistoryOp {
        process,
        op,
        invoke_ns: at,
        complete_ns: Some(at),
        completion: Completion::Returned(Ok(Reply::Done)),
        invoke_event: at,
        complete_event: Some(at),
    }
}

/// What a round's threads share besides the array.
struct Shared {
    clock: Clock,
    /// Host operations completed.
    done: AtomicU64,
    /// Raised when every host thread has finished.
    stop: AtomicBool,
    /// Split-resync cycles the command thread has completed.
    cycles: AtomicU64,
    /// Host threads parked until the first cycle.
    parked: AtomicU64,
}

/// One host thread's operations. In `resync`, the second half of them waits for the
/// first split-resync cycle, so every round races host I/O against a resync's copy
/// however the threads are scheduled.
fn host(
    array: &ThreadedArray,
    sh: &Shared,
    scenario: Scenario,
    thread: usize,
    ops: u64,
    seed: u64,
    source_only: bool,
) -> Vec<HistoryOp> {
    let (clock, done) = (&sh.clock, &sh.done);
    let mut rng = Rng(seed ^ (thread as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
    let writer = u16::try_from(thread + 1).expect("at most THREADS_MAX threads");
    let process = ProcessId(thread as u32);
    let mut out = Vec::with_capacity(ops as usize);
    let mut seq = 0u32;
    for n in 0..ops {
        if matches!(scenario, Scenario::Resync | Scenario::Restore) && n == ops / 2 {
            sh.parked.fetch_add(1, Ordering::SeqCst);
            wait_until(&sh.stop, || sh.cycles.load(Ordering::SeqCst) >= 1);
            sh.parked.fetch_sub(1, Ordering::SeqCst);
        }
        let vol =
            if !source_only && scenario != Scenario::Plain && rng.below(4) == 0 { SECOND } else { SOURCE };
        let block = rng.below(BLOCKS);
        let len = (1 + rng.below(LEN_MAX)).min(BLOCKS - block);
        let op = if rng.below(2) == 0 {
            Op::Read { vol, block, len: len as u32 }
        } else {
            seq += 1;
            let values = (0..len).map(|i| Value::pack(writer, seq, i as u16)).collect();
            Op::Write { vol, block, values }
        };
        record(clock, &mut out, process, op, |op| array.execute(op));
        done.fetch_add(1, Ordering::Relaxed);
    }
    out
}

/// Waits (briefly sleeping) until `cond` holds or `stop` is raised; returns `cond()`.
fn wait_until(stop: &AtomicBool, cond: impl Fn() -> bool) -> bool {
    while !cond() {
        if stop.load(Ordering::SeqCst) {
            return cond();
        }
        std::thread::sleep(Duration::from_micros(20));
    }
    true
}

/// The command thread: the scenario's admin commands, from its own process.
fn commands(
    array: &ThreadedArray,
    sh: &Shared,
    scenario: Scenario,
    process: ProcessId,
    total: u64,
    threads: usize,
) -> Vec<HistoryOp> {
    let (clock, done, stop) = (&sh.clock, &sh.done, &sh.stop);
    let mut out = Vec::new();
    let exec = |op: &Op| array.execute(op);
    match scenario {
        Scenario::Plain => {}
        Scenario::Mirror => {
            record(
                clock,
                &mut out,
                process,
                Op::PairCreate { pair: PAIR, source: SOURCE, mirror: SECOND },
                exec,
            );
        }
        Scenario::Resync | Scenario::Restore => {
            record(
                clock,
                &mut out,
                process,
                Op::PairCreate { pair: PAIR, source: SOURCE, mirror: SECOND },
                exec,
            );
            let settled = || matches!(array.pair_state(), Some(PairState::Mirrored | PairState::Split));
            while wait_until(stop, settled) && !stop.load(Ordering::SeqCst) {
                if array.pair_state() == Some(PairState::Mirrored) {
                    record(clock, &mut out, process, Op::Split { pair: PAIR }, exec);
                }
                let from = done.load(Ordering::SeqCst);
                let all_parked = || sh.parked.load(Ordering::SeqCst) == threads as u64;
                wait_until(stop, || done.load(Ordering::SeqCst) >= from + 16 || all_parked());
                let copy = if scenario == Scenario::Resync {
                    Op::Resync { pair: PAIR }
                } else {
                    Op::Restore { pair: PAIR, protected: false }
                };
                record(clock, &mut out, process, copy, exec);
                // Often refused (the copy is still running): the refusal is judged too.
                record(clock, &mut out, process, Op::Split { pair: PAIR }, exec);
                sh.cycles.fetch_add(1, Ordering::SeqCst);
            }
        }
        Scenario::Snapshot => {
            wait_until(stop, || done.load(Ordering::SeqCst) >= total / 4);
            record(clock, &mut out, process, Op::Split { pair: PAIR }, exec);
            // Read the volume right after the snapshot: a write that lands after this
            // read must not show in the image.
            record(clock, &mut out, process, Op::Read { vol: SOURCE, block: 0, len: BLOCKS as u32 }, exec);
        }
    }
    out
}

/// The copier thread: copy passes while the pair copies; the end of each copy is
/// the array's `copy_done` event.
fn copier(array: &ThreadedArray, sh: &Shared) -> Vec<HistoryOp> {
    let (clock, stop) = (&sh.clock, &sh.stop);
    let mut out = Vec::new();
    let mut passes = 0u32;
    while !stop.load(Ordering::SeqCst) {
        if !matches!(array.pair_state(), Some(PairState::Copy | PairState::Resync)) {
            passes = 0;
            std::thread::sleep(Duration::from_micros(20));
            continue;
        }
        let pass = array.copy_pass();
        passes += 1;
        if pass.remaining <= 1 || passes >= 4 {
            finish(array, clock, &mut out);
            passes = 0;
        }
    }
    out
}

fn finish(array: &ThreadedArray, clock: &Clock, out: &mut Vec<HistoryOp>) {
    if let Some(at) = array.finish_copy(|| clock.now()) {
        out.push(instant(ARRAY_PROCESS, Op::PairEvent { pair: PAIR, event: PairEvent::CopyDone }, at));
    }
}

/// Runs one round: a fresh array, the threads, the final reads, the verdict.
///
/// Real threads are what this driver exists for: they are scoped (`std::thread::scope`),
/// so they end with the round.
pub fn round(config: &Config, scenario: Scenario, index: u64) -> Round {
    let layout = scenario.layout(config.perturb);
    let array = build(&layout, config.broken);
    let sh = Shared {
        clock: Clock::start(),
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        cycles: AtomicU64::new(0),
        parked: AtomicU64::new(0),
    };
    let threads = config.threads;
    let total = config.ops * threads as u64;
    let seed = config.seed.wrapping_add(index.wrapping_mul(0x9E37_79B9));
    let collected = Mutex::new(Vec::new());
    let started = sh.clock.now();
    std::thread::scope(|s| {
        let (array, sh, stop, collected) = (&array, &sh, &sh.stop, &collected);
        let admin = s.spawn(move || commands(array, sh, scenario, ProcessId(threads as u32), total, threads));
        let copy = s.spawn(move || copier(array, sh));
        let hosts: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || host(array, sh, scenario, t, config.ops, seed, config.source_only)))
            .collect();
        for h in hosts {
            let ops = h.join().expect("a host thread panicked");
            collected.lock().expect("no thread panics holding it").extend(ops);
        }
        stop.store(true, Ordering::SeqCst);
        for t in [admin, copy] {
            let ops = t.join().expect("a stress thread panicked");
            collected.lock().expect("no thread panics holding it").extend(ops);
        }
    });
    let clock = &sh.clock;
    let wall = Duration::from_nanos(clock.now() - started);
    let mut ops = collected.into_inner().expect("no thread panicked");

    // Quiescent: finish a copy still running, split the pair so the final reads see
    // the mirror, and read every volume back.
    let admin = ProcessId(threads as u32);
    let exec = |op: &Op| array.execute(op);
    finish(&array, clock, &mut ops);
    if array.pair_state() == Some(PairState::Mirrored) {
        record(clock, &mut ops, admin, Op::Split { pair: PAIR }, exec);
    }
    array.check_quiescent();
    let audit = ProcessId(threads as u32 + 1);
    for v in scenario.volumes() {
        record(clock, &mut ops, audit, Op::Read { vol: v.id, block: 0, len: BLOCKS as u32 }, exec);
    }

    let mut history_ops: Vec<HistoryOp> = array
        .setup_ops()
        .into_iter()
        .map(|op| {
            let process =
                if op.is_io() || matches!(op, Op::PairEvent { .. }) { ARRAY_PROCESS } else { admin };
            instant(process, op, 0)
        })
        .collect();
    ops.sort_by_key(|o| (o.invoke_ns, o.complete_ns));
    history_ops.extend(ops);
    let history = History { ops: history_ops };
    let verdict = if config.check { judge(&array, &history, scenario) } else { Verdict::Pass };
    Round { index, scenario, host_ops: total, history_ops: history.ops.len(), wall, verdict, history }
}

#[cfg(feature = "planted-bugs")]
fn build(layout: &Layout, broken: Broken) -> ThreadedArray {
    ThreadedArray::with_broken(layout, broken)
}

#[cfg(not(feature = "planted-bugs"))]
fn build(layout: &Layout, broken: Broken) -> ThreadedArray {
    assert_eq!(broken, Broken::default(), "removing protections needs the planted-bugs feature");
    ThreadedArray::new(layout)
}

/// The engine's invariants first (a broken invariant explains more), then the
/// history against the model.
fn judge(array: &ThreadedArray, history: &History, scenario: Scenario) -> Verdict {
    if let Some(v) = array.violations().into_iter().next() {
        return Verdict::Violation { check: "invariants", detail: v };
    }
    match crate::linearizability::check(history, &scenario.volumes()) {
        Outcome::Linearizable { .. } => Verdict::Pass,
        Outcome::Violation(e) => Verdict::Violation { check: "linearizability", detail: e },
        Outcome::Unknown(r) => Verdict::Unknown(r),
    }
}

/// Runs rounds until the bound, stopping at the first violation. `each` sees every
/// round as it ends.
#[allow(clippy::disallowed_methods)] // The time bound is wall time, outside the simulator.
pub fn run(config: &Config, mut each: impl FnMut(&Round)) -> Summary {
    let start = Instant::now();
    let mut summary = Summary::default();
    for index in 0.. {
        let more = match config.bound {
            Bound::Rounds(n) => index < n,
            Bound::Time(d) => index == 0 || start.elapsed() < d,
        };
        if !more {
            break;
        }
        let scenario = config.scenarios[(index % config.scenarios.len() as u64) as usize];
        let r = round(config, scenario, index);
        each(&r);
        summary.rounds += 1;
        summary.host_ops += r.host_ops;
        summary.history_ops += r.history_ops as u64;
        summary.wall += r.wall;
        match r.verdict {
            Verdict::Pass => {}
            Verdict::Unknown(_) => summary.unknown += 1,
            Verdict::Violation { .. } => {
                summary.violation = Some(r);
                break;
            }
        }
    }
    summary
}

/// One throughput measurement.
#[derive(Clone, Copy, Debug)]
pub struct Measure {
    pub scenario: Scenario,
    pub threads: usize,
    pub ops_per_s: f64,
    /// Against `plain` with the same threads, in percent (time per operation).
    pub overhead_pct: f64,
}

/// Measures every scenario with 1 and 2 host threads: `BENCH_REPS` interleaved
/// repetitions of `per / BENCH_REPS` each, keeping each configuration's best (the
/// machine's other load only ever slows a run down).
pub fn bench(per: Duration, ops: u64, seed: u64) -> Vec<Measure> {
    let configs: Vec<(usize, Scenario)> =
        [1, 2].into_iter().flat_map(|t| Scenario::ALL.into_iter().map(move |s| (t, s))).collect();
    let mut best = vec![0.0f64; configs.len()];
    for _ in 0..BENCH_REPS {
        for (i, &(threads, scenario)) in configs.iter().enumerate() {
            let config = Config {
                threads,
                scenarios: vec![scenario],
                ops,
                bound: Bound::Time(per / BENCH_REPS),
                seed,
                check: false,
                perturb: false,
                broken: Broken::default(),
                source_only: true,
            };
            best[i] = best[i].max(run(&config, |_| {}).ops_per_s());
        }
    }
    configs
        .iter()
        .zip(&best)
        .map(|(&(threads, scenario), &ops_per_s)| {
            let plain =
                configs.iter().zip(&best).find(|(c, _)| **c == (threads, Scenario::Plain)).map(|(_, b)| *b);
            let base = plain.expect("plain is measured");
            Measure { scenario, threads, ops_per_s, overhead_pct: (base / ops_per_s - 1.0) * 100.0 }
        })
        .collect()
}

/// The command's flags.
#[derive(clap::Args, Debug)]
pub struct StressArgs {
    /// Host threads (1 to 64); a command thread and a copier thread run beside them.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Run rounds for this many seconds (the round under way finishes).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Run exactly this many rounds instead of a time bound.
    #[arg(long)]
    pub rounds: Option<u64>,
    /// Host operations per host thread per round (default 400; 20000 with --bench,
    /// so thread start-up is a small part of what is measured).
    #[arg(long)]
    pub ops: Option<u64>,
    /// Which scenarios the rounds cycle through (repeatable; default: all).
    #[arg(long, value_enum)]
    pub scenario: Vec<Scenario>,
    /// Seeds the threads' choice of operations (the interleaving is the machine's).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Measure throughput instead (each scenario, 1 and 2 threads, `--seconds` each).
    #[arg(long)]
    pub bench: bool,
    #[arg(long, value_enum, default_value_t = crate::check_cmd::CheckFormat::Text)]
    pub format: crate::check_cmd::CheckFormat,
    /// No progress display (drawn on stderr only when it is a terminal).
    #[arg(long)]
    pub quiet: bool,
}

/// Checks the flags into a configuration.
pub fn config(args: &StressArgs) -> Result<Config, String> {
    if args.threads == 0 || args.threads > THREADS_MAX {
        return Err(format!("--threads: must be between 1 and {THREADS_MAX}, got {}", args.threads));
    }
    let ops = args.ops.unwrap_or(if args.bench { BENCH_OPS } else { STRESS_OPS });
    if ops == 0 {
        return Err("--ops: must be at least 1".into());
    }
    if args.seconds == 0 {
        return Err("--seconds: must be at least 1".into());
    }
    if args.rounds == Some(0) {
        return Err("--rounds: must be at least 1".into());
    }
    let scenarios = if args.scenario.is_empty() { Scenario::ALL.to_vec() } else { args.scenario.clone() };
    Ok(Config {
        threads: args.threads,
        scenarios,
        ops,
        bound: args.rounds.map_or(Bound::Time(Duration::from_secs(args.seconds)), Bound::Rounds),
        seed: args.seed,
        check: true,
        perturb: true,
        broken: Broken::default(),
        source_only: false,
    })
}

/// Runs the command; returns the exit code.
pub fn main(args: &StressArgs) -> u8 {
    let json = args.format == crate::check_cmd::CheckFormat::Json;
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if args.bench {
        let per = Duration::from_secs(args.seconds);
        let measures = bench(per, config.ops, args.seed);
        if !json {
            println!("{:<10} {:>7} {:>14} {:>10}", "scenario", "threads", "ops/s", "overhead");
        }
        for m in measures {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"type": "bench", "scenario": m.scenario.name(), "threads": m.threads,
                        "ops_per_s": m.ops_per_s, "overhead_pct": m.overhead_pct})
                );
            } else {
                println!(
                    "{:<10} {:>7} {:>14.0} {:>9.1}%",
                    m.scenario.name(),
                    m.threads,
                    m.ops_per_s,
                    m.overhead_pct
                );
            }
        }
        return 0;
    }
    let bar = crate::cli::progress_bar(args.rounds, "rounds", args.quiet);
    let summary = run(&config, |r| {
        bar.inc(1);
        bar.set_message(format!("{}: {}", r.scenario.name(), r.verdict.code()));
        if json {
            bar.suspend(|| println!(
                "{}",
                serde_json::json!({"type": "round", "round": r.index, "scenario": r.scenario.name(),
                    "host_ops": r.host_ops, "history_ops": r.history_ops, "wall_ms": r.wall.as_secs_f64() * 1e3,
                    "verdict": r.verdict.code()})
            ));
        }
    });
    bar.finish_and_clear();
    let names: Vec<&str> = config.scenarios.iter().map(|s| s.name()).collect();
    if json {
        println!(
            "{}",
            serde_json::json!({"type": "summary", "threads": config.threads, "scenarios": names,
                "rounds": summary.rounds, "host_ops": summary.host_ops, "history_ops": summary.history_ops,
                "ops_per_s": summary.ops_per_s(), "unknown": summary.unknown,
                "verdict": summary.violation.as_ref().map_or("pass".to_string(), |r| r.verdict.code())})
        );
    } else {
        println!(
            "stress: {} host threads, scenarios {}: {} rounds, {} host ops ({} history ops judged), {:.0} ops/s while threaded",
            config.threads,
            names.join(","),
            summary.rounds,
            summary.host_ops,
            summary.history_ops,
            summary.ops_per_s()
        );
        if summary.unknown > 0 {
            println!("{} rounds: the linearizability check gave up (unknown)", summary.unknown);
        }
    }
    if let Some(r) = &summary.violation {
        let Verdict::Violation { check, detail } = &r.verdict else { unreachable!("a violation") };
        eprintln!("round {} ({}): {check} violation: {detail}", r.index, r.scenario.name());
    } else if !json {
        println!("verdict: {}", if summary.unknown > 0 { "unknown" } else { "pass" });
    }
    summary.exit_code()
}
