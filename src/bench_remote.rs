//! `mirrorsim bench`, S3 part: the simulator's speed on a two-array reference (a
//! sync remote pair under the Foundation reference's workload), next to the
//! Foundation figure.

use crate::bench::{Measure, measure};
use crate::scenario::{self, Scenario};
use std::path::Path;

/// The S3 reference: `hosts` hosts with 8 operations in flight each (1-8 block ops,
/// half reads) on a primary of `blocks` blocks on array A, replicated synchronously
/// (fence `never`) to array B over one array link, created at the start.
pub fn s3_reference(hosts: usize, blocks: u64, ops_per_host: u64) -> Scenario {
    let host_defs: Vec<String> = (0..hosts)
        .map(|i| format!(r#"{{ "name": "h{i}", "workload": {{ "volumes": ["p"], "concurrency": 8, "ops": {ops_per_host}, "read": "1/2", "len": {{ "uniform": [1, 8] }} }} }}"#))
        .collect();
    let mut links: Vec<String> =
        (0..hosts).map(|i| format!(r#"{{ "name": "l{i}", "between": ["h{i}", "A"] }}"#)).collect();
    links.push(r#"{ "name": "admin-a", "between": ["admin", "A"] }"#.to_string());
    links.push(r#"{ "name": "remote", "between": ["A", "B"] }"#.to_string());
    let text = format!(
        r#"{{ "name": "bench-s3-{hosts}h-{blocks}",
             "arrays": [{{ "name": "A", "volumes": [{{ "name": "p", "blocks": {blocks} }}] }},
                        {{ "name": "B", "volumes": [{{ "name": "r", "blocks": {blocks} }}] }}],
             "hosts": [{}, {{ "name": "admin" }}], "links": [{}],
             "timeline": [{{ "at": 0, "do": {{ "remote_pair_create": {{ "host": "admin", "pair": "p", "primary": "p", "secondary": "r", "group": "g" }} }} }}],
             "limits": {{ "max_events": 1000000000, "max_time": "1000s" }} }}"#,
        host_defs.join(","),
        links.join(",")
    );
    scenario::parse(Path::new("<bench>"), &text).expect("the S3 reference scenario is valid")
}

/// Prints the S3 reference next to the Foundation figure `foundation`.
pub fn run_s3(quick: bool, foundation: &Measure, out: crate::bench::Out) {
    let ops = if quick { 2_000 } else { 25_000 };
    let reps = if quick { 1 } else { 3 };
    let m = measure(&s3_reference(8, 1 << 20, ops), reps);
    out.heading(
        "s3_reference",
        &format!(
            "S3 two-array reference: the same workload on a sync remote pair (A -> B over one array link), {ops} ops per host"
        ),
    );
    out.row(
        "s3_reference",
        serde_json::json!({
            "events_per_s": m.events_per_s(), "ops_per_s": m.ops_per_s(), "ns_per_event": m.ns_per_event(),
            "events": m.events, "ops": m.ops, "wall_s": m.wall_s,
            "foundation_events_per_s": foundation.events_per_s(), "foundation_ops_per_s": foundation.ops_per_s(),
        }),
        || {
            format!(
                "  {:>12.0} simulated events/s   {:>10.0} host ops/s   {:>8.1} ns/event   ({} events, {} ops, {:.3}s); Foundation {:.0} events/s, {:.0} host ops/s",
                m.events_per_s(),
                m.ops_per_s(),
                m.ns_per_event(),
                m.events,
                m.ops,
                m.wall_s,
                foundation.events_per_s(),
                foundation.ops_per_s()
            )
        },
    );
}
