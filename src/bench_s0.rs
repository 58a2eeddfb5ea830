//! The S0 part of `mirrorsim bench`: what a backup's catalog record costs against the
//! volume size, and the background copy's throughput (simulated time).

use crate::bench_s4::Driver;
use crate::scenario::{self, Scenario};
use engine::ControllerFactory;
use model::{BackupId, BackupInfo, Op, Region, VolumeId};
use sim::RunOptions;
use std::path::Path;

/// Two volumes of `blocks` blocks; a writer writes `writes` single blocks over the
/// first `region` blocks of `v`; at 5 s a backup of `v[0+region]` to `b[0+region]`,
/// recorded in the catalog at 6 s.
pub fn s0_reference(blocks: u64, region: u64, writes: u64) -> Scenario {
    let text = format!(
        r#"{{ "name": "bench-s0-{blocks}-{region}",
             "arrays": [{{ "name": "A", "volumes": [{{ "name": "v", "blocks": {blocks} }}, {{ "name": "b", "blocks": {blocks} }}] }}],
             "hosts": [{{ "name": "w", "workload": {{ "volumes": ["v"], "concurrency": 4, "ops": {writes}, "read": 0,
                          "blocks": {{ "hot_set": {{ "hot_blocks": {region}, "hot": 1 }} }} }} }},
                      {{ "name": "admin" }}],
             "links": [{{ "name": "l1", "between": ["w", "A"] }}, {{ "name": "l2", "between": ["admin", "A"] }}],
             "timeline": [
               {{ "at": "5s", "do": {{ "backup": {{ "host": "admin", "backup": "b1",
                   "source": {{ "volume": "v", "start": 0, "blocks": {region} }},
                   "destination": {{ "volume": "b", "start": 0, "blocks": {region} }} }} }} }},
               {{ "at": "6s", "do": {{ "record_backup": {{ "host": "admin", "backup": "b1", "label": "bench",
                   "generation": 1, "host_time": 1, "source": "v" }} }} }}
             ],
             "limits": {{ "max_events": 1000000000, "max_time": "1000s" }} }}"#
    );
    scenario::parse(Path::new("<bench>"), &text).expect("the S0 reference scenario is valid")
}

/// Prints the S0 benchmark.
pub fn run_s0(quick: bool, out: crate::bench::Out) {
    out.heading(
        "s0_record_cost",
        "S0 catalog cost: media/metadata operations of a backup of half the volume (nothing allocated, so nothing to copy) and of record_backup",
    );
    for blocks in [1u64 << 10, 1 << 20, 1 << 30, 1 << 40] {
        let mut d = Driver::new(blocks);
        let half = blocks / 2;
        let (src, dst) = (
            Region { vol: VolumeId(0), start: 0, blocks: half },
            Region { vol: VolumeId(0), start: half, blocks: half },
        );
        let before = d.media_ops;
        d.op(Op::Backup { backup: BackupId(1), src, dst });
        let backup_ops = d.media_ops - before;
        let info = BackupInfo { label: "bench".into(), generation: 1, host_time: 1, source: "v".into() };
        let before = d.media_ops;
        d.op(Op::RecordBackup { backup: BackupId(1), info });
        let record_ops = d.media_ops - before;
        out.row(
            "s0_record_cost",
            serde_json::json!({ "log2_blocks": blocks.ilog2(), "backup_operations": backup_ops, "record_operations": record_ops }),
            || {
                format!(
                    "  2^{:<2} blocks: backup {backup_ops} operation(s) (listings, the record, the complete record), record_backup {record_ops}",
                    blocks.ilog2()
                )
            },
        );
    }
    let regions: &[u64] = if quick { &[256, 1024] } else { &[1024, 4096, 16384] };
    out.heading(
        "s0_copy",
        "S0 backup copy (simulated time, default media): blocks copied and time from the command to complete, region written first",
    );
    for &region in regions {
        for blocks in [1u64 << 20, 1 << 40] {
            let r = sim::run(
                &s0_reference(blocks, region, region * 2).config,
                &ControllerFactory::default(),
                &RunOptions { seed: 1, record_trace: false },
            );
            assert_eq!(r.ending, sim::Ending::Completed, "the S0 benchmark run did not complete");
            let l = crate::backup_report::analyse(&r);
            let l = l.first().expect("the benchmark's backup");
            let copied = l.blocks_copied.unwrap_or(0);
            let ns = l.complete_ns.expect("the benchmark's backup completes") - l.invoked_ns;
            let per_s = copied as f64 * 1e9 / ns.max(1) as f64;
            out.row(
                "s0_copy",
                serde_json::json!({ "region_blocks": region, "log2_blocks": blocks.ilog2(), "blocks_copied": copied, "to_complete_ns": ns, "blocks_per_s": per_s }),
                || {
                    format!(
                        "  region {region:>6} of 2^{:<2}: copied {copied:>6} blocks in {:>10}, {per_s:>10.0} blocks/s",
                        blocks.ilog2(),
                        crate::cli::fmt_ns(ns)
                    )
                },
            );
        }
    }
}
