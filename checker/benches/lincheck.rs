//! Linearizability checker benchmarks: time and peak memory against history size,
//! clients, keys, unknown outcomes and verdict, for each shipped model.
//!
//! `cargo bench -p mirrorsim-checker --bench lincheck [-- quick] [only=kv|cas|cas-small|storage]`
//!
//! For the small hard CAS rows, `SEED=N` runs one seed only and `SLOW=1` prints every
//! history that took over 5 ms with its search and counterexample steps (to profile
//! one with `perf record`).
//!
//! Peak memory is measured by a counting global allocator: the most bytes live at
//! once during the check, above what was live before it (the history itself).
//! Histories come from a simulated concurrent execution (linearizable by
//! construction); "bad" ones have one read changed to a value never written, in the
//! second half.

#[path = "../tests/gen.rs"]
#[allow(dead_code)]
mod r#gen;

use r#gen::{Rng, simulate};
use mirrorsim_checker::models::cas::{CasRegister, RegOp, RegRet};
use mirrorsim_checker::models::kv::{Kv, KvOp, KvRet};
use mirrorsim_checker::models::storage::StorageSpec;
use mirrorsim_checker::{
    Budget, Operation, Outcome, Report, Verdict, check, check_partitioned, check_storage_ops,
};
use model::{Op, OpResult, Reply, Value, VolumeId, VolumeSpec};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`, returning its result, seconds and peak bytes above the starting level.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn measure<T>(f: impl FnOnce() -> T) -> (T, f64, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = std::time::Instant::now();
    let r = f();
    let secs = t.elapsed().as_secs_f64();
    (r, secs, PEAK.load(Ordering::Relaxed) - base)
}

fn verdict(r: &Report) -> &'static str {
    match r.verdict {
        Verdict::Linearizable => "ok",
        Verdict::NotLinearizable(_) => "VIOLATION",
        Verdict::Unknown { .. } => "unknown",
    }
}

struct Row {
    model: &'static str,
    ops: usize,
    clients: usize,
    keys: usize,
    unknown_pct: u64,
    bad: bool,
}

fn header() {
    println!(
        "{:<8} {:>9} {:>7} {:>6} {:>5} {:>4} {:>10} {:>11} {:>12} {:>10} {:>12} {:>10}",
        "model",
        "ops",
        "clients",
        "keys",
        "unk%",
        "bad",
        "verdict",
        "time ms",
        "ops/s",
        "peak MB",
        "steps",
        "memo max"
    );
}

fn print(row: &Row, r: &Report, secs: f64, peak: usize) {
    println!(
        "{:<8} {:>9} {:>7} {:>6} {:>5} {:>4} {:>10} {:>11.3} {:>12.0} {:>10.2} {:>12} {:>10}",
        row.model,
        row.ops,
        row.clients,
        row.keys,
        row.unknown_pct,
        if row.bad { "yes" } else { "no" },
        verdict(r),
        secs * 1e3,
        row.ops as f64 / secs,
        peak as f64 / (1 << 20) as f64,
        r.stats.steps,
        r.stats.memo_entries_max
    );
}

/// Changes one ok read in the second half to a value nobody wrote.
fn spoil<O, R>(
    ops: &mut [Operation<O, R>],
    rng: &mut Rng,
    is_read: impl Fn(&O) -> bool,
    never: impl Fn(&R) -> R,
) {
    let n = ops.len();
    for _ in 0..10_000 {
        let i = n / 2 + rng.below((n - n / 2) as u64) as usize;
        if is_read(&ops[i].op)
            && let Outcome::Returned { value, .. } = &mut ops[i].outcome
        {
            *value = never(value);
            return;
        }
    }
    panic!("no read to spoil");
}

fn kv_ops(
    n: usize,
    clients: usize,
    keys: usize,
    unknown_pct: u64,
    bad: bool,
    seed: u64,
) -> Vec<Operation<KvOp, KvRet>> {
    let mut rng = Rng(seed);
    let mut next = 0u64;
    let mut ops = simulate(&Kv, &mut rng, clients, n, unknown_pct, |r| {
        let k = format!("k{}", r.below(keys as u64));
        next += 1;
        match r.below(20) {
            0..10 => KvOp::Get(k),
            10..17 => KvOp::Put(k, format!("{next}")),
            _ => KvOp::Append(k, format!(",{next}")),
        }
    });
    if bad {
        spoil(&mut ops, &mut rng, |o| matches!(o, KvOp::Get(_)), |_| KvRet::Value("never-written".into()));
    }
    ops
}

fn run_kv(row: Row, budget: &Budget) -> (f64, usize) {
    let ops = kv_ops(row.ops, row.clients, row.keys, row.unknown_pct, row.bad, 7);
    let (r, secs, peak) = measure(|| check_partitioned(&Kv, &ops, budget));
    print(&row, &r, secs, peak);
    if row.bad {
        assert!(!r.is_linearizable(), "a spoiled history passed:\n{r}");
        explain(&r);
    }
    (secs, peak)
}

/// One line about a violation's counterexample: its minimal set and what it cost.
fn explain(r: &Report) {
    if let Some(c) = r.counterexample() {
        println!(
            "    counterexample: {}, minimal set of {} ops ({}), {} of the steps spent shrinking",
            c.partition,
            c.minimal.len(),
            if c.minimal_complete { "1-minimal" } else { "shrink budget ran out" },
            r.stats.counterexample_steps
        );
    }
}

fn cas_ops(
    n: usize,
    clients: usize,
    unknown: usize,
    values: u64,
    spoil_how: Spoil,
    seed: u64,
) -> Vec<Operation<RegOp, RegRet>> {
    let mut rng = Rng(seed);
    let mut ops = simulate(&CasRegister::default(), &mut rng, clients, n, 0, |r| match r.below(10) {
        0..4 => RegOp::Read,
        4..7 => RegOp::Write(1 + r.below(values)),
        _ => RegOp::Cas { expected: r.below(values + 1), new: 1 + r.below(values) },
    });
    // Turn `unknown` random operations into unknown outcomes (still linearizable).
    let mut made = 0;
    for _ in 0..100 * n {
        if made == unknown {
            break;
        }
        let i = rng.below(n as u64) as usize;
        if !matches!(ops[i].outcome, Outcome::Unknown) {
            ops[i].outcome = Outcome::Unknown;
            made += 1;
        }
    }
    match spoil_how {
        Spoil::No => {}
        Spoil::NeverWritten => {
            spoil(&mut ops, &mut rng, |o| matches!(o, RegOp::Read), |_| RegRet::Read(1_000_000))
        }
        // Another value of the same range: usually written by someone, so nothing
        // refutes it up front and the search must show it cannot be placed (when it
        // cannot: some of these histories stay linearizable).
        Spoil::OtherValue => spoil(
            &mut ops,
            &mut rng,
            |o| matches!(o, RegOp::Read),
            |r| match r {
                RegRet::Read(v) => RegRet::Read(v % values + 1),
                other => *other,
            },
        ),
    }
    ops
}

/// How a CAS history is spoiled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spoil {
    No,
    /// One read returns a value nobody wrote.
    NeverWritten,
    /// One read returns another value of the range.
    OtherValue,
}

fn storage_ops(
    n: usize,
    clients: usize,
    blocks: u64,
    unknown_pct: u64,
    bad: bool,
) -> (Vec<VolumeSpec>, Vec<Operation<Op, OpResult>>) {
    let vols = vec![VolumeSpec { id: VolumeId(0), blocks }];
    let spec = StorageSpec::new(&vols);
    let mut rng = Rng(11);
    let mut seq = 0u32;
    let mut ops = simulate(&spec, &mut rng, clients, n, unknown_pct, |r| {
        let len = 1 + r.below(4.min(blocks)) as u32;
        let block = r.below(blocks - u64::from(len) + 1);
        if r.chance(1, 2) {
            Op::Read { vol: VolumeId(0), block, len }
        } else {
            seq += 1;
            let values = (0..len).map(|i| Value::pack(1 + (seq >> 24) as u16, seq, i as u16)).collect();
            Op::Write { vol: VolumeId(0), block, values }
        }
    });
    if bad {
        spoil(
            &mut ops,
            &mut rng,
            |o| matches!(o, Op::Read { .. }),
            |v| match v {
                Ok(Reply::Values(vs)) => {
                    Ok(Reply::Values(vs.iter().map(|_| Value::pack(9999, 0, 0)).collect()))
                }
                other => other.clone(),
            },
        );
    }
    (vols, ops)
}

fn growth(label: &str, points: &[(usize, f64, usize)]) {
    let mut s = format!("  growth ({label}):");
    for w in points.windows(2) {
        let (n0, t0, m0) = w[0];
        let (n1, t1, m1) = w[1];
        s.push_str(&format!(
            "  x{} ops -> x{:.1} time, x{:.1} memory;",
            n1 / n0,
            t1 / t0,
            m1 as f64 / m0.max(1) as f64
        ));
    }
    println!("{s}");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    // `only=kv|cas|storage` runs one model's sections.
    let only = std::env::args().find_map(|a| a.strip_prefix("only=").map(str::to_string));
    let want = |m: &str| only.as_deref().is_none_or(|o| o == m);
    let big = if quick { 100_000 } else { 1_000_000 };
    let budget = Budget { steps_max: Some(300_000_000), memory_bytes_max: Some(2 << 30) };
    // For the single-key, high-concurrency rows that are exponential for this
    // algorithm family: show where they stop rather than wait.
    let small = Budget { steps_max: Some(50_000_000), memory_bytes_max: Some(1 << 30) };

    if want("kv") {
        kv_sections(big, &budget, &small);
    }
    if want("cas") || want("cas-small") {
        cas_sections(quick, big, &budget, !want("cas"));
    }
    if want("storage") {
        storage_sections(big, &budget);
    }
}

/// Why a linearizable single-key kv history with 50 concurrent clients may end
/// `unknown` (README: "Limits").
const KV_ONE_KEY_NOTE: &str =
    "  note: with one key, every operation is on one object, so partitioning cannot help, and
  about 50 operations are open at any moment. The search's configurations are (set of
  operations linearized, value), and within the window of open operations the sets
  it must tell apart grow exponentially: a put whose value nobody reads (most of them:
  the next put overwrites it) may be linearized at any point of its interval, and
  each choice leaves a different set; appends in different orders leave different
  strings. Up to about 16 clients the search finishes (10^5 ops, 8 clients: 0.5 s);
  from about 24 it exhausts 5*10^7 steps on 1000 operations. The verdict is then
  `unknown`, never a pass. A violation is still found at once when a read is
  impossible on its face (Model::refute), as in the counterexample rows below.";

fn kv_sections(big: usize, budget: &Budget, small: &Budget) {
    let (budget, small) = (*budget, *small);
    println!("== kv: growth with history length (64 clients, 1000 keys) ==");
    header();
    for unknown in [0, 1] {
        let mut pts = Vec::new();
        let mut n = 1000;
        while n <= big {
            let (t, m) = run_kv(
                Row { model: "kv", ops: n, clients: 64, keys: 1000, unknown_pct: unknown, bad: false },
                &budget,
            );
            pts.push((n, t, m));
            n *= 10;
        }
        growth(&format!("{unknown}% unknown"), &pts);
    }

    println!("\n== kv: target: 10^6 ops over 10^3 keys (8 and 256 clients), good and bad ==");
    header();
    for clients in [8, 256] {
        for bad in [false, true] {
            run_kv(Row { model: "kv", ops: big, clients, keys: 1000, unknown_pct: 0, bad }, &budget);
        }
    }

    println!("\n== kv: keys (10^5 ops, 64 clients) and clients (10^5 ops, 1000 keys) ==");
    header();
    for keys in [1, 10, 100, 10_000] {
        let b = if keys == 1 { &small } else { &budget };
        run_kv(Row { model: "kv", ops: 100_000, clients: 64, keys, unknown_pct: 0, bad: false }, b);
    }
    for clients in [8, 256] {
        run_kv(Row { model: "kv", ops: 100_000, clients, keys: 1000, unknown_pct: 1, bad: false }, &budget);
    }

    println!("\n== kv: one key, growth with length (8 clients) ==");
    header();
    let mut pts = Vec::new();
    let mut n = 1000;
    while n <= big {
        let (t, m) =
            run_kv(Row { model: "kv", ops: n, clients: 8, keys: 1, unknown_pct: 0, bad: false }, &budget);
        pts.push((n, t, m));
        n *= 10;
    }
    growth("1 key", &pts);
    run_kv(Row { model: "kv", ops: 100_000, clients: 256, keys: 1, unknown_pct: 0, bad: false }, &small);
    run_kv(Row { model: "kv", ops: 10_000, clients: 8, keys: 1, unknown_pct: 1, bad: false }, &small);
    run_kv(Row { model: "kv", ops: 100_000, clients: 8, keys: 1, unknown_pct: 1, bad: false }, &small);

    println!("\n== kv: one key, 50 clients, linearizable (no target; see the note) ==");
    header();
    for (n, unknown) in [(1_000, 0), (1_000, 1)] {
        run_kv(Row { model: "kv", ops: n, clients: 50, keys: 1, unknown_pct: unknown, bad: false }, &small);
    }
    println!("{KV_ONE_KEY_NOTE}");

    println!("\n== kv: target: counterexample, 50 clients ==");
    header();
    for (n, keys) in [(1_000, 1), (10_000, 1), (100_000, 100), (100_000, 1000), (big, 1000)] {
        let b = if keys == 1 { &small } else { &budget };
        run_kv(Row { model: "kv", ops: n, clients: 50, keys, unknown_pct: 0, bad: true }, b);
        run_kv(Row { model: "kv", ops: n, clients: 50, keys, unknown_pct: 1, bad: true }, b);
    }

    println!("\n== kv: counterexample, 50 clients, a get changed to read \"\" (not refutable up front) ==");
    header();
    for (n, keys) in [(10_000, 100), (100_000, 1000), (big, 1000)] {
        let row = Row { model: "kv", ops: n, clients: 50, keys, unknown_pct: 0, bad: true };
        let mut ops = kv_ops(n, 50, keys, 0, false, 7);
        let mut rng = Rng(99);
        // Usually a stale read (the key was written before); "" is always a value
        // the key may hold, so only the search can tell.
        spoil(&mut ops, &mut rng, |o| matches!(o, KvOp::Get(_)), |_| KvRet::Value(String::new()));
        let (r, secs, peak) = measure(|| check_partitioned(&Kv, &ops, &budget));
        print(&row, &r, secs, peak);
        explain(&r);
    }
}

fn cas_sections(quick: bool, big: usize, budget: &Budget, small_only: bool) {
    let budget = *budget;
    println!(
        "\n== cas-register: target: small hard histories (100 ops, 20 processes, 20 unknown, values 1..5) =="
    );
    let runs = if quick { 200 } else { 2000 };
    for how in [Spoil::No, Spoil::NeverWritten, Spoil::OtherValue] {
        let mut times = Vec::new();
        let mut peak_max = 0;
        let mut unknown_verdicts = 0;
        let mut violations = 0;
        let (mut minimal_max, mut minimal_incomplete) = (0, 0);
        let one: Option<u64> = std::env::var("SEED").ok().and_then(|s| s.parse().ok());
        for seed in 0..runs {
            if one.is_some_and(|o| o != seed) {
                continue;
            }
            let ops = cas_ops(100, 20, 20, 5, how, seed);
            let (r, secs, peak) = measure(|| check(&CasRegister::default(), &ops, &budget));
            times.push(secs * 1e3);
            if secs > 0.005 && std::env::var("SLOW").is_ok() {
                eprintln!(
                    "slow seed {seed}: {:.1} ms, {} steps of which {} for the counterexample, {}",
                    secs * 1e3,
                    r.stats.steps,
                    r.stats.counterexample_steps,
                    verdict(&r)
                );
            }
            peak_max = peak_max.max(peak);
            unknown_verdicts += usize::from(matches!(r.verdict, Verdict::Unknown { .. }));
            violations += usize::from(r.counterexample().is_some());
            if let Some(c) = r.counterexample() {
                minimal_max = minimal_max.max(c.minimal.len());
                minimal_incomplete += usize::from(!c.minimal_complete);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  {} histories{}: median {:.3} ms, p99 {:.3} ms, max {:.3} ms; peak memory max {:.2} MB; {} violations, {} unknown",
            runs,
            match how {
                Spoil::No => " (linearizable)",
                Spoil::NeverWritten => " with a read of a value never written [target]",
                Spoil::OtherValue => " with a read of another value in the range [not a target]",
            },
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1],
            peak_max as f64 / (1 << 20) as f64,
            violations,
            unknown_verdicts
        );
        if violations > 0 {
            println!(
                "    counterexamples (time included above): minimal sets of at most {minimal_max} ops, {minimal_incomplete} not shrunk to 1-minimal within their budget"
            );
        }
    }

    if small_only {
        return;
    }
    println!("\n== cas-register: one register, growth with length (8 clients, values 1..100) ==");
    header();
    let mut pts = Vec::new();
    let mut n = 1000;
    while n <= big {
        let ops = cas_ops(n, 8, n / 100, 100, Spoil::No, 3);
        let (r, secs, peak) = measure(|| check(&CasRegister::default(), &ops, &budget));
        print(&Row { model: "cas", ops: n, clients: 8, keys: 1, unknown_pct: 1, bad: false }, &r, secs, peak);
        pts.push((n, secs, peak));
        n *= 10;
    }
    growth("1% unknown", &pts);
    for clients in [64, 256] {
        let ops = cas_ops(10_000, clients, 0, 100, Spoil::No, 3);
        let (r, secs, peak) = measure(|| check(&CasRegister::default(), &ops, &budget));
        print(
            &Row { model: "cas", ops: 10_000, clients, keys: 1, unknown_pct: 0, bad: false },
            &r,
            secs,
            peak,
        );
        let ops = cas_ops(10_000, clients, 0, 100, Spoil::NeverWritten, 3);
        let (r, secs, peak) = measure(|| check(&CasRegister::default(), &ops, &budget));
        print(
            &Row { model: "cas", ops: 10_000, clients, keys: 1, unknown_pct: 0, bad: true },
            &r,
            secs,
            peak,
        );
    }
}

fn storage_sections(big: usize, budget: &Budget) {
    let budget = *budget;
    println!("\n== storage: multi-block reads and writes (1..4 blocks), per-block check ==");
    header();
    for (blocks, clients) in [(16u64, 8usize), (1000, 64), (10_000, 256)] {
        for unknown in [0, 1] {
            let mut pts = Vec::new();
            let mut n = 1000;
            while n <= big {
                let (vols, ops) = storage_ops(n, clients, blocks, unknown, false);
                let (r, secs, peak) = measure(|| check_storage_ops(&vols, ops, &budget));
                let row = Row {
                    model: "storage",
                    ops: n,
                    clients,
                    keys: blocks as usize,
                    unknown_pct: unknown,
                    bad: false,
                };
                print(&row, &r, secs, peak);
                pts.push((n, secs, peak));
                n *= 10;
            }
            growth(&format!("{blocks} blocks, {unknown}% unknown"), &pts);
        }
        let (vols, ops) = storage_ops(100_000, clients, blocks, 0, true);
        let (r, secs, peak) = measure(|| check_storage_ops(&vols, ops, &budget));
        print(
            &Row {
                model: "storage",
                ops: 100_000,
                clients,
                keys: blocks as usize,
                unknown_pct: 0,
                bad: true,
            },
            &r,
            secs,
            peak,
        );
    }
}
