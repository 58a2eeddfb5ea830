//! Differential testing: with one client and no faults, our engine answers exactly as
//! the reference model, step for step, over generated workloads and seeds.

use crate::support::scenario;
use engine::ControllerFactory;
use mirrorsim::runner::{self, Verdict};
use mirrorsim::scenario::CheckName;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_the_model(
        seed in any::<u64>(),
        blocks_log2 in 3u32..41,
        len_max in 1u64..16,
        read_num in 0u64..=4,
        hot in proptest::option::of(1u64..8),
        ops in 50u64..400,
    ) {
        let blocks = 1u64 << blocks_log2;
        let len_max = len_max.min(blocks);
        let hot = hot.map(|h| format!(r#", "blocks": {{ "hot_set": {{ "hot_blocks": {}, "hot": "3/4" }} }}"#, h.min(blocks))).unwrap_or_default();
        let sc = scenario(&format!(
            r#"{{ "name": "diff", "seed": {seed},
                 "arrays": [{{ "name": "A", "volumes": [{{ "name": "v", "blocks": {blocks} }}] }}],
                 "hosts": [{{ "name": "h", "workload": {{ "volumes": ["v"], "ops": {ops}, "read": "{read_num}/4",
                              "len": {{ "uniform": [1, {len_max}] }}{hot} }} }}],
                 "links": [{{ "name": "l", "between": ["h", "A"], "duplicate": "1/10", "reorder": "1/10" }}] }}"#
        ));
        prop_assert!(sc.checks.contains(&CheckName::Differential));
        let r = runner::run(&sc, seed, &ControllerFactory::default(), false);
        prop_assert_eq!(&r.verdict, &Verdict::Pass, "{}", r.details.unwrap_or_default());
        prop_assert_eq!(r.stats.ops, ops);
    }
}
