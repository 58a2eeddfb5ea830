//! The S4 part of `mirrorsim bench`: the cost of a snapshot against the volume size,
//! and the shared-block accounting of the copy-on-write pool across generations.

use crate::scenario::{self, Scenario};
use engine::{
    ArrayConfig, ArrayEngine, Controller, ControllerFactory, Input, MediaOp, MediaResult, Metadata, Output,
    ReqId, SpaceId,
};
use model::{Op, Value, VolumeId};
use sim::RunOptions;
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

/// A volume of `blocks` blocks; a writer writes `writes` single blocks over the first
/// `span` blocks; then three snapshots 1 s apart with no I/O in flight, and a delete.
pub fn s4_reference(blocks: u64, writes: u64, span: u64) -> Scenario {
    let text = format!(
        r#"{{ "name": "bench-s4-{blocks}",
             "arrays": [{{ "name": "A", "volumes": [{{ "name": "v", "blocks": {blocks} }}] }}],
             "hosts": [{{ "name": "w", "workload": {{ "volumes": ["v"], "concurrency": 4, "ops": {writes}, "read": 0,
                          "blocks": {{ "hot_set": {{ "hot_blocks": {span}, "hot": 1 }} }} }} }},
                      {{ "name": "admin" }}],
             "links": [{{ "name": "l1", "between": ["w", "A"] }}, {{ "name": "l2", "between": ["admin", "A"] }}],
             "timeline": [
               {{ "at": "5s", "do": {{ "snapshot": {{ "host": "admin", "volume": "v", "image": "s1" }} }} }},
               {{ "at": "6s", "do": {{ "snapshot": {{ "host": "admin", "volume": "v", "image": "s2" }} }} }},
               {{ "at": "7s", "do": {{ "snapshot": {{ "host": "admin", "volume": "v", "image": "s3" }} }} }},
               {{ "at": "8s", "do": {{ "delete_snapshot": {{ "host": "admin", "image": "s2" }} }} }}
             ],
             "limits": {{ "max_events": 1000000000, "max_time": "1000s" }} }}"#
    );
    scenario::parse(Path::new("<bench>"), &text).expect("the S4 reference scenario is valid")
}

/// A controller over instant, in-order media (no simulator): for counting what the
/// engine does, not how long it takes.
pub struct Driver {
    pub engine: Controller,
    media: BTreeMap<(SpaceId, u64), Value>,
    meta: Metadata,
    seq: u64,
    /// Media and metadata operations the engine submitted.
    pub media_ops: u64,
}

impl Driver {
    pub fn new(blocks: u64) -> Driver {
        let config = ArrayConfig {
            id: model::ArrayId(0),
            name: "A".into(),
            volumes: vec![(VolumeId(0), blocks)],
            change_grain: 1,
            remote_volumes: Vec::new(),
        };
        let mut d = Driver {
            engine: Controller::new(&config),
            media: BTreeMap::new(),
            meta: Metadata::new(),
            seq: 0,
            media_ops: 0,
        };
        d.feed(Input::Started);
        d
    }

    fn feed(&mut self, input: Input) -> usize {
        let mut queue = VecDeque::from([input]);
        let mut replies = 0;
        while let Some(i) = queue.pop_front() {
            let mut out = Vec::new();
            self.engine.handle(i, &mut out);
            for o in out {
                match o {
                    Output::Reply { result, .. } => {
                        assert!(result.is_ok(), "a benchmark command failed: {result:?}");
                        replies += 1;
                    }
                    Output::Media { io, op } => {
                        self.media_ops += 1;
                        let result = match op {
                            MediaOp::Read { space, block, len } => MediaResult::Read(
                                (0..u64::from(len))
                                    .map(|i| self.media.get(&(space, block + i)).copied().unwrap_or_default())
                                    .collect(),
                            ),
                            MediaOp::Write { space, block, values } => {
                                for (i, v) in values.into_iter().enumerate() {
                                    self.media.insert((space, block + i as u64), v);
                                }
                                MediaResult::Written
                            }
                            MediaOp::MetaPut { key, value }
                            | MediaOp::MetaPutAnnounced { key, value, .. } => {
                                self.meta.insert(key, value);
                                MediaResult::Written
                            }
                            MediaOp::MetaDelete { key } => {
                                self.meta.remove(&key);
                                MediaResult::Written
                            }
                            MediaOp::Allocated { .. } => MediaResult::Allocated(Vec::new()),
                        };
                        queue.push_back(Input::MediaDone { io, result });
                    }
                    _ => {}
                }
            }
        }
        replies
    }

    /// Runs one host request to completion.
    pub fn op(&mut self, op: Op) {
        self.seq += 1;
        let replies = self.feed(Input::Host { req: ReqId { host: 1, seq: self.seq }, op });
        assert_eq!(replies, 1);
    }
}

fn image(n: u32) -> VolumeId {
    VolumeId(VolumeId::IMAGE_BASE + n)
}

/// Prints the S4 benchmark.
pub fn run_s4(quick: bool, out: crate::bench::Out) {
    let writes = if quick { 400 } else { 4_000 };
    out.heading(
        "s4_snapshot_cost",
        &format!(
            "S4 snapshot cost: metadata and media operations of one snapshot, {writes} blocks written first"
        ),
    );
    for blocks in [1u64 << 10, 1 << 20, 1 << 30, 1 << 40] {
        let mut d = Driver::new(blocks);
        for i in 0..writes {
            let block = (i * 7919) % blocks;
            d.op(Op::Write { vol: VolumeId(0), block, values: vec![Value::pack(1, i as u32 + 1, 0)] });
        }
        let before = d.media_ops;
        d.op(Op::Snapshot { vol: VolumeId(0), image: image(0) });
        let n = d.media_ops - before;
        out.row(
            "s4_snapshot_cost",
            serde_json::json!({ "log2_blocks": blocks.ilog2(), "operations": n }),
            || format!("  2^{:<2} blocks: {n} media/metadata operation(s) for the snapshot", blocks.ilog2()),
        );
    }
    out.heading("s4_latency", "S4 snapshot latency (simulated, no I/O in flight) on 2^20 and 2^40 blocks:");
    let runs: Vec<sim::RunResult> = [1u64 << 20, 1 << 40]
        .iter()
        .map(|&b| {
            let r = sim::run(
                &s4_reference(b, writes, 1 << 16).config,
                &ControllerFactory::default(),
                &RunOptions { seed: 1, record_trace: false },
            );
            assert_eq!(r.ending, sim::Ending::Completed, "the S4 benchmark run did not complete");
            r
        })
        .collect();
    let (small, large) = (crate::bench::admin_latencies(&runs[0]), crate::bench::admin_latencies(&runs[1]));
    for ((name, a), (_, b)) in small.into_iter().zip(large) {
        let ratio = b as f64 / a.max(1) as f64;
        out.row(
            "s4_latency",
            serde_json::json!({ "command": name, "ns_2_20": a, "ns_2_40": b, "ratio": ratio }),
            || {
                format!(
                    "  {name:<16} 2^20: {:>10}   2^40: {:>10}   ratio {ratio:.2}",
                    crate::cli::fmt_ns(a),
                    crate::cli::fmt_ns(b)
                )
            },
        );
    }
    let (gens, per_gen, span) = if quick { (4u32, 200u64, 256u64) } else { (8, 2_000, 4_096) };
    out.heading(
        "s4_shared_blocks",
        &format!(
            "S4 shared blocks: {gens} generations of a 2^20-block volume, {per_gen} single-block writes over {span} hot blocks after each\n  (copied: pool blocks written by copy-on-write; entries: table entries of all images; a copy shared by k images is one block, k entries)"
        ),
    );
    let mut d = Driver::new(1 << 20);
    let mut seq = 0u32;
    let mut write_round = |d: &mut Driver, salt: u64| {
        for i in 0..per_gen {
            seq += 1;
            let block = (i * 2_654_435_761 + salt) % span;
            d.op(Op::Write { vol: VolumeId(0), block, values: vec![Value::pack(1, seq, 0)] });
        }
    };
    write_round(&mut d, 0);
    for g in 0..gens {
        d.op(Op::Snapshot { vol: VolumeId(0), image: image(g) });
        write_round(&mut d, u64::from(g) + 1);
        let s = d.engine.snapshot_stats();
        let per = s.entries as f64 / s.pool_used.max(1) as f64;
        let fields = serde_json::json!({
            "after_generation": g + 1, "copied": s.cow_blocks, "pool_used": s.pool_used, "entries": s.entries,
            "entries_per_pool_block": per,
        });
        out.row("s4_shared_blocks", fields, || {
            format!(
                "  after generation {:>2}: copied {:>6}  pool used {:>6}  entries {:>6}  entries per pool block {per:.2}",
                g + 1,
                s.cow_blocks,
                s.pool_used,
                s.entries
            )
        });
    }
    for g in 0..gens {
        let before = d.engine.snapshot_stats();
        d.op(Op::DeleteSnapshot { image: image(g) });
        let after = d.engine.snapshot_stats();
        let fields = serde_json::json!({
            "delete_generation": g + 1, "pool_used_before": before.pool_used, "pool_used_after": after.pool_used,
            "freed": before.pool_used - after.pool_used, "entries_before": before.entries, "entries_after": after.entries,
        });
        out.row("s4_shared_blocks", fields, || {
            format!(
                "  delete generation {:>2}: pool used {:>6} -> {:>6} (freed {:>5}), entries {:>6} -> {:>6}",
                g + 1,
                before.pool_used,
                after.pool_used,
                before.pool_used - after.pool_used,
                before.entries,
                after.entries
            )
        });
    }
}
