//! `mirrorsim bench`: the simulator's speed on reference scenarios.
//!
//! Reports simulated events per wall-second, host operations per wall-second and
//! simulated time per wall time; shows that cost is flat in volume size (2^20 vs 2^40
//! blocks) and linear in the number of hosts. Only the simulation is timed (the
//! checks are judged separately by their own benchmarks). Wall time is measured here,
//! outside the simulator, and never feeds a run.

use crate::scenario::{self, Scenario};
use engine::ControllerFactory;
use sim::RunOptions;
use std::path::Path;

/// The reference scenario: `hosts` hosts with 8 operations in flight each, a mixed
/// workload of 1-8 block reads and writes over one volume of `blocks` blocks.
pub fn reference(hosts: usize, blocks: u64, ops_per_host: u64) -> Scenario {
    let host_defs: Vec<String> = (0..hosts)
        .map(|i| format!(r#"{{ "name": "h{i}", "workload": {{ "volumes": ["v"], "concurrency": 8, "ops": {ops_per_host}, "read": "1/2", "len": {{ "uniform": [1, 8] }} }} }}"#))
        .collect();
    let links: Vec<String> =
        (0..hosts).map(|i| format!(r#"{{ "name": "l{i}", "between": ["h{i}", "A"] }}"#)).collect();
    let text = format!(
        r#"{{ "name": "bench-{hosts}h-{blocks}", "arrays": [{{ "name": "A", "volumes": [{{ "name": "v", "blocks": {blocks} }}] }}],
             "hosts": [{}], "links": [{}], "limits": {{ "max_events": 1000000000, "max_time": "1000s" }} }}"#,
        host_defs.join(","),
        links.join(",")
    );
    scenario::parse(Path::new("<bench>"), &text).expect("the reference scenario is valid")
}

/// One measured run.
#[derive(Clone, Copy, Debug)]
pub struct Measure {
    pub events: u64,
    pub ops: u64,
    pub sim_ns: u64,
    pub wall_s: f64,
}

impl Measure {
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.wall_s
    }
    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.wall_s
    }
    pub fn ns_per_event(&self) -> f64 {
        self.wall_s * 1e9 / self.events as f64
    }
}

/// Runs the simulation of `sc` (best of `reps`) and measures it.
#[allow(clippy::disallowed_methods)] // Wall time is what a benchmark measures.
pub fn measure(sc: &Scenario, reps: usize) -> Measure {
    let mut best: Option<Measure> = None;
    for rep in 0..reps {
        let start = std::time::Instant::now();
        let r = sim::run(
            &sc.config,
            &ControllerFactory::default(),
            &RunOptions { seed: 1 + rep as u64, record_trace: false },
        );
        let wall_s = start.elapsed().as_secs_f64();
        assert_eq!(r.ending, sim::Ending::Completed, "benchmark run did not complete");
        let m = Measure { events: r.events, ops: r.stats.ops, sim_ns: r.sim_ns, wall_s };
        if best.is_none_or(|b| m.ns_per_event() < b.ns_per_event()) {
            best = Some(m);
        }
    }
    best.expect("at least one repetition")
}

/// The S2 reference: a pair on two volumes of `blocks` blocks with `grain` blocks per
/// change-map bit; after a split, a writer writes `writes` single blocks spread over
/// the first `span` blocks; once it has finished, a resync (no host I/O concurrent
/// with the copy, so every copied block either differed or shares a chunk with one
/// that did), then a split, a restore, and a split again.
pub fn s2_reference(blocks: u64, grain: u64, writes: u64, span: u64) -> Scenario {
    let text = format!(
        r#"{{ "name": "bench-s2-{blocks}-{grain}",
             "arrays": [{{ "name": "A", "change_grain": {grain},
                          "volumes": [{{ "name": "src", "blocks": {blocks} }}, {{ "name": "mir", "blocks": {blocks} }}] }}],
             "hosts": [{{ "name": "w", "workload": {{ "volumes": ["src"], "concurrency": 4, "ops": {writes}, "read": 0,
                          "blocks": {{ "hot_set": {{ "hot_blocks": {span}, "hot": 1 }} }} }} }},
                      {{ "name": "admin" }}],
             "links": [{{ "name": "l1", "between": ["w", "A"] }}, {{ "name": "l2", "between": ["admin", "A"] }}],
             "timeline": [
               {{ "at": "0ms", "do": {{ "pair_create": {{ "host": "admin", "pair": "p", "source": "src", "mirror": "mir" }} }} }},
               {{ "at": "1ms", "do": {{ "split": {{ "host": "admin", "pair": "p" }} }} }},
               {{ "at": "5s", "do": {{ "resync": {{ "host": "admin", "pair": "p" }} }} }},
               {{ "at": "10s", "do": {{ "split": {{ "host": "admin", "pair": "p" }} }} }},
               {{ "at": "11s", "do": {{ "restore": {{ "host": "admin", "pair": "p" }} }} }},
               {{ "at": "16s", "do": {{ "split": {{ "host": "admin", "pair": "p" }} }} }}
             ],
             "limits": {{ "max_events": 1000000000, "max_time": "1000s" }} }}"#
    );
    scenario::parse(Path::new("<bench>"), &text).expect("the S2 reference scenario is valid")
}

/// Simulated latency (ns) of each admin command of a run, by name, in order.
pub fn admin_latencies(r: &sim::RunResult) -> Vec<(String, u64)> {
    r.history
        .ops
        .iter()
        .filter(|o| !o.op.is_io() && !matches!(o.op, model::Op::PairEvent { .. }))
        .map(|o| {
            let name = o.op.to_string();
            let name = name.split('(').next().unwrap_or("?").to_string();
            (name, o.complete_ns.unwrap_or(o.invoke_ns) - o.invoke_ns)
        })
        .collect()
}

/// The S2 part of the benchmark: copy amplification per change-map granularity, and
/// the cost of split / resync start / restore start on 2^20 and 2^40 blocks.
pub fn run_s2(quick: bool, out: Out) {
    let writes = if quick { 400 } else { 4_000 };
    let span = 1u64 << 16;
    out.heading(
        "s2_amplification",
        &format!(
            "S2 copy amplification: {writes} single-block writes over {span} blocks after a split, then resync (blocks copied / blocks that differed)"
        ),
    );
    for grain in [1u64, 8, 64, 512] {
        let sc = s2_reference(1 << 20, grain, writes, span);
        let r =
            sim::run(&sc.config, &ControllerFactory::default(), &RunOptions { seed: 1, record_trace: false });
        assert_eq!(r.ending, sim::Ending::Completed, "the S2 benchmark run did not complete");
        for c in r.copies.iter().filter(|c| c.kind != engine::CopyKind::Initial && c.stats.union_blocks > 0) {
            let amp = c.stats.blocks_copied as f64 / c.stats.differing_blocks.max(1) as f64;
            let fields = serde_json::json!({
                "blocks_per_bit": grain, "copy": c.kind.name(), "union": c.stats.union_blocks,
                "copied": c.stats.blocks_copied, "differing": c.stats.differing_blocks, "amplification": amp,
                "copy_ns": c.finished_ns.map(|f| f - c.started_ns),
            });
            out.row("s2_amplification", fields, || {
                format!(
                    "  {:>3} blocks/bit {:<8} union {:>7} blocks, copied {:>7}, differing {:>6}, amplification {:>7.2}, copy time {}",
                    grain,
                    c.kind.name(),
                    c.stats.union_blocks,
                    c.stats.blocks_copied,
                    c.stats.differing_blocks,
                    amp,
                    c.finished_ns.map_or("unfinished".to_string(), |f| crate::cli::fmt_ns(f - c.started_ns))
                )
            });
        }
    }
    out.heading(
        "s2_command_cost",
        "S2 command cost (simulated latency) on volumes of 2^20 and 2^40 blocks, the same writes:",
    );
    let small = sim::run(
        &s2_reference(1 << 20, 1, writes, span).config,
        &ControllerFactory::default(),
        &RunOptions { seed: 1, record_trace: false },
    );
    let large = sim::run(
        &s2_reference(1 << 40, 1, writes, span).config,
        &ControllerFactory::default(),
        &RunOptions { seed: 1, record_trace: false },
    );
    for ((name, a), (_, b)) in admin_latencies(&small).into_iter().zip(admin_latencies(&large)) {
        let ratio = b as f64 / a.max(1) as f64;
        out.row(
            "s2_command_cost",
            serde_json::json!({ "command": name, "ns_2_20": a, "ns_2_40": b, "ratio": ratio }),
            || {
                format!(
                    "  {name:<12} 2^20: {:>10}   2^40: {:>10}   ratio {ratio:.2}",
                    crate::cli::fmt_ns(a),
                    crate::cli::fmt_ns(b)
                )
            },
        );
    }
    out.row(
        "s2_command_cost",
        serde_json::json!({ "whole_run_media_ios_2_20": small.stats.media_ios, "whole_run_media_ios_2_40": large.stats.media_ios }),
        || {
            format!(
                "  whole run: 2^20 {} media I/Os, 2^40 {} media I/Os (the same work whatever the size)",
                small.stats.media_ios, large.stats.media_ios
            )
        },
    );
}

/// Prints the benchmark; returns the exit code.
pub fn run(quick: bool, out: Out) -> u8 {
    let ops = if quick { 2_000 } else { 25_000 };
    let reps = if quick { 1 } else { 3 };
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run `cargo run --release -- bench` for real numbers");
    }
    out.heading(
        "reference",
        &format!(
            "reference: 8 hosts x 8 in flight, 1-8 block ops, half reads, volume 2^20 blocks, {ops} ops per host (best of {reps})"
        ),
    );
    let m = measure(&reference(8, 1 << 20, ops), reps);
    let sim_wall = m.sim_ns as f64 / 1e9 / m.wall_s;
    out.row(
        "reference",
        serde_json::json!({
            "events_per_s": m.events_per_s(), "ops_per_s": m.ops_per_s(), "ns_per_event": m.ns_per_event(),
            "sim_per_wall": sim_wall, "events": m.events, "ops": m.ops, "wall_s": m.wall_s,
        }),
        || {
            format!(
                "  {:>12.0} simulated events/s   {:>10.0} host ops/s   {:>8.1} ns/event   sim/wall {:.2}   ({} events, {} ops, {:.3}s)",
                m.events_per_s(),
                m.ops_per_s(),
                m.ns_per_event(),
                sim_wall,
                m.events,
                m.ops,
                m.wall_s
            )
        },
    );
    out.heading("volume_size", "volume size: the same workload on 2^20 and 2^40 blocks");
    let small = measure(&reference(4, 1 << 20, ops), reps);
    let large = measure(&reference(4, 1 << 40, ops), reps);
    let ratio = large.ns_per_event() / small.ns_per_event();
    out.row(
        "volume_size",
        serde_json::json!({ "ns_per_event_2_20": small.ns_per_event(), "ns_per_event_2_40": large.ns_per_event(), "ratio": ratio }),
        || {
            format!(
                "  2^20: {:.1} ns/event   2^40: {:.1} ns/event   ratio 2^40/2^20 = {ratio:.2} (flat is 1.00)",
                small.ns_per_event(),
                large.ns_per_event()
            )
        },
    );
    out.heading("hosts", &format!("hosts: {ops} ops per host, 1 to 16 hosts"));
    let base = measure(&reference(1, 1 << 20, ops), reps);
    for hosts in [1usize, 2, 4, 8, 16] {
        let m = if hosts == 1 { base } else { measure(&reference(hosts, 1 << 20, ops), reps) };
        let per_host = m.wall_s / hosts as f64;
        let scaling = per_host / base.wall_s;
        out.row(
            "hosts",
            serde_json::json!({ "hosts": hosts, "events": m.events, "wall_s": m.wall_s, "wall_per_host_s": per_host, "per_host_vs_one": scaling }),
            || {
                format!(
                    "  {hosts:>2} hosts: {:>9} events  wall {:>7.3}s  wall per host {per_host:>7.4}s  x{scaling:.2} of 1 host per host (linear is 1.00)",
                    m.events, m.wall_s
                )
            },
        );
    }
    run_s2(quick, out);
    crate::bench_offload::run_s1(quick, out);
    crate::bench_remote::run_s3(quick, &m, out);
    crate::bench_s4::run_s4(quick, out);
    crate::bench_s0::run_s0(quick, out);
    0
}

/// Where the benchmark's results go: text tables, or one JSON object per line
/// (`--format json`): `{"section": ..., "about": ...}` for each section's heading, then
/// one object per measurement with the same numbers as the text row, unformatted
/// (times in ns, rates per second).
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// A section's heading: what the rows below measure.
    pub fn heading(&self, section: &str, about: &str) {
        if self.json {
            println!("{}", serde_json::json!({ "section": section, "about": about }));
        } else {
            println!("{about}");
        }
    }

    /// One measurement: `fields` in JSON, `text()` as a table row.
    pub fn row(&self, section: &str, mut fields: serde_json::Value, text: impl FnOnce() -> String) {
        if self.json {
            fields["section"] = section.into();
            println!("{fields}");
        } else {
            println!("{}", text());
        }
    }
}
