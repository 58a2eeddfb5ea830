//! `mirrorsim bench`, S1 part: the worst-case inhibit window of offloaded backups.
//!
//! A file server's application writes a hot file and a cold file (256 blocks) with 8
//! writes in flight; a backup server backs up the hot file three times in four and
//! the cold file once, every 10ms plus 10us per hot-file block. The sweep
//! varies the hot file's size and the flusher's interval (the longer the interval,
//! the more dirty cache blocks an inhibit must flush). Every window is simulated time
//! from the inhibit to its lift; the report gives the mean and the worst over all
//! seeds, and the dirty blocks the worst one flushed.

use crate::scenario::{self, Scenario};
use engine::ControllerFactory;
use sim::RunOptions;
use std::path::Path;

/// The S1 reference scenario.
pub fn s1_reference(file_blocks: u64, flush_interval: &str, backups: u32) -> Scenario {
    // Room for the tape copy and the resync between two backups.
    let every_us = 10_000 + 10 * file_blocks;
    let timeline: Vec<String> = (0..backups)
        .map(|i| {
            format!(
                r#"{{ "at": "{}us", "do": {{ "offload_backup": {{ "host": "bs", "file": "{}" }} }} }}"#,
                5_000 + every_us * u64::from(i),
                if i % 4 == 3 { "cold" } else { "hot" }
            )
        })
        .collect();
    let ops = every_us / 16 * u64::from(backups);
    let text = format!(
        r#"{{ "name": "bench-s1-{file_blocks}-{flush_interval}",
             "arrays": [{{ "name": "A", "volumes": [{{ "name": "v", "blocks": 65536 }}, {{ "name": "m", "blocks": 65536 }}] }}],
             "hosts": [
               {{ "name": "fs", "file_server": {{ "volume": "v", "pair": "p", "flush_interval": "{flush_interval}",
                  "files": [{{ "name": "hot", "extents": [[0, {file_blocks}]], "weight": 3 }}, {{ "name": "cold", "extents": [[32768, 256]] }}],
                  "app": {{ "ops": {ops}, "concurrency": 8, "len": {{ "uniform": [1, 8] }}, "think": "50us" }} }} }},
               {{ "name": "bs", "backup_server": {{ "file_server": "fs" }} }}
             ],
             "links": [{{ "name": "l1", "between": ["fs", "A"] }}, {{ "name": "l2", "between": ["bs", "A"] }},
                       {{ "name": "lan", "between": ["bs", "fs"] }}],
             "timeline": [
               {{ "at": "0ms", "do": {{ "pair_create": {{ "host": "fs", "pair": "p", "source": "v", "mirror": "m" }} }} }},
               {}
             ],
             "limits": {{ "max_events": 1000000000, "max_time": "1000s" }} }}"#,
        timeline.join(",\n               ")
    );
    scenario::parse(Path::new("<bench>"), &text).expect("the S1 reference scenario is valid")
}

/// The windows of one configuration over some seeds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Windows {
    pub count: u64,
    pub total_ns: u64,
    pub worst_ns: u64,
    /// Dirty blocks the worst window flushed, and its file.
    pub worst_flushed: u64,
    pub worst_file: &'static str,
    pub backups_complete: u64,
    pub backups: u64,
}

/// Runs `sc` with seeds `1..=seeds` and gathers its inhibit windows.
pub fn windows(sc: &Scenario, seeds: u64) -> Windows {
    let mut w = Windows::default();
    for seed in 1..=seeds {
        let r =
            sim::run(&sc.config, &ControllerFactory::default(), &RunOptions { seed, record_trace: false });
        assert_eq!(r.ending, sim::Ending::Completed, "the S1 benchmark run did not complete");
        for f in &r.files {
            for x in &f.windows {
                let Some(end) = x.end_ns else { continue };
                let len = end - x.start_ns;
                w.count += 1;
                w.total_ns += len;
                if len > w.worst_ns {
                    w.worst_ns = len;
                    w.worst_flushed = x.flushed_blocks;
                    w.worst_file = if x.file == 0 { "hot" } else { "cold" };
                }
            }
            w.backups += f.tape.len() as u64;
            w.backups_complete +=
                f.tape.iter().filter(|t| t.outcome == model::files::BackupOutcome::Complete).count() as u64;
        }
    }
    w
}

/// Prints the S1 part of the benchmark.
pub fn run_s1(quick: bool, out: crate::bench::Out) {
    let (backups, seeds) = if quick { (6, 1) } else { (20, 5) };
    out.heading(
        "s1_inhibit",
        &format!(
            "S1 inhibit window (simulated): {backups} backups per run, seeds 1..={seeds}, 8 writes in flight, 1-8 blocks each"
        ),
    );
    for file_blocks in [16u64, 256, 4096] {
        for flush in ["1ms", "10ms", "100ms"] {
            let w = windows(&s1_reference(file_blocks, flush, backups), seeds);
            let fields = serde_json::json!({
                "hot_file_blocks": file_blocks, "flush_every": flush, "windows": w.count,
                "mean_ns": w.total_ns / w.count.max(1), "worst_ns": w.worst_ns, "worst_file": w.worst_file,
                "worst_flushed_blocks": w.worst_flushed, "backups_complete": w.backups_complete, "backups": w.backups,
            });
            out.row("s1_inhibit", fields, || {
                format!(
                    "  hot file {:>5} blocks, flush every {:>5}: {:>3} windows, mean {:>9}, worst {:>9} ({} file, flushed {:>5} blocks), {}/{} backups complete",
                    file_blocks,
                    flush,
                    w.count,
                    crate::cli::fmt_ns(w.total_ns / w.count.max(1)),
                    crate::cli::fmt_ns(w.worst_ns),
                    w.worst_file,
                    w.worst_flushed,
                    w.backups_complete,
                    w.backups
                )
            });
        }
    }
}
