//! The fast checker and the brute-force one agree on every small history: generated
//! linearizable ones and mutated ones that usually are not, with failed and unknown
//! outcomes, for every shipped model, partitioned and whole.

use crate::brute;
use crate::r#gen::{
    SnapRegs, cas_history, cas_history_sized, cas_history_with, kv_history, kv_history_with, snap_history,
    storage_history, storage_volumes,
};
use mirrorsim_checker::models::cas::CasRegister;
use mirrorsim_checker::models::kv::Kv;
use mirrorsim_checker::models::storage::{StorageSpec, check_storage_ops, split_per_block};
use mirrorsim_checker::{Budget, Report, Verdict, check, check_partitioned};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn verdict_bool(r: &Report) -> bool {
    match &r.verdict {
        Verdict::Linearizable => true,
        Verdict::NotLinearizable(c) => {
            assert!(!c.culprit.op.is_empty(), "a counterexample names its culprit");
            false
        }
        Verdict::Unknown { reason } => panic!("unexpected unknown: {reason}"),
    }
}

/// Returns (fast, brute) for one seed of each model.
fn cas(seed: u64, mutated: bool) -> (bool, bool) {
    let h = cas_history(seed, mutated);
    (
        verdict_bool(&check(&CasRegister::default(), &h, &Budget::UNLIMITED)),
        brute::linearizable(&CasRegister::default(), &h),
    )
}

fn kv(seed: u64, mutated: bool) -> (bool, bool) {
    let h = kv_history(seed, mutated);
    let fast = verdict_bool(&check_partitioned(&Kv, &h, &Budget::UNLIMITED));
    let whole = verdict_bool(&check(&Kv, &h, &Budget::UNLIMITED));
    assert_eq!(fast, whole, "kv seed {seed}: partitioned and whole-object checks disagree");
    (fast, brute::linearizable(&Kv, &h))
}

/// Storage is atomic per block: the reference is the brute force over the history
/// with multi-block operations split per block; the fast checker also sees them
/// unsplit (its projection does the splitting).
fn storage(seed: u64, mutated: bool) -> (bool, bool) {
    let h = storage_history(seed, mutated);
    let vols = storage_volumes();
    let spec = StorageSpec::new(&vols);
    let split = split_per_block(&vols, h.clone());
    let fast = verdict_bool(&check_partitioned(&spec, &h, &Budget::UNLIMITED));
    let whole = verdict_bool(&check(&spec, &split, &Budget::UNLIMITED));
    let adapter = verdict_bool(&check_storage_ops(&vols, h, &Budget::UNLIMITED));
    assert_eq!(fast, whole, "storage seed {seed}: partitioned and whole-object checks disagree");
    assert_eq!(fast, adapter, "storage seed {seed}: check_storage_ops disagrees");
    (fast, brute::linearizable(&spec, &split))
}

fn snap(seed: u64, mutated: bool) -> (bool, bool) {
    let h = snap_history(seed, mutated);
    (verdict_bool(&check_partitioned(&SnapRegs, &h, &Budget::UNLIMITED)), brute::linearizable(&SnapRegs, &h))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/crosscheck.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn cas_register_agrees_with_brute_force(seed in any::<u64>(), mutated in any::<bool>()) {
        let (fast, brute) = cas(seed, mutated);
        prop_assert_eq!(fast, brute);
    }

    #[test]
    fn kv_agrees_with_brute_force(seed in any::<u64>(), mutated in any::<bool>()) {
        let (fast, brute) = kv(seed, mutated);
        prop_assert_eq!(fast, brute);
    }

    #[test]
    fn storage_agrees_with_brute_force(seed in any::<u64>(), mutated in any::<bool>()) {
        let (fast, brute) = storage(seed, mutated);
        prop_assert_eq!(fast, brute);
    }

    #[test]
    fn whole_object_snapshots_agree_with_brute_force(seed in any::<u64>(), mutated in any::<bool>()) {
        let (fast, brute) = snap(seed, mutated);
        prop_assert_eq!(fast, brute);
    }
}

/// The generator is worth something only if both verdicts are common: count them
/// over fixed seeds (and cross-check those too).
#[test]
fn generated_histories_cover_both_verdicts() {
    type Case = fn(u64, bool) -> (bool, bool);
    for (name, f) in [("cas", cas as Case), ("kv", kv), ("storage", storage), ("snapshot", snap)] {
        let (mut ok, mut bad) = (0, 0);
        for seed in 0..1500u64 {
            let (fast, brute) = f(seed, seed % 2 == 1);
            assert_eq!(fast, brute, "{name} seed {seed}");
            if fast {
                ok += 1;
            } else {
                bad += 1;
            }
        }
        eprintln!("{name}: {ok} linearizable, {bad} not");
        assert!(ok >= 300 && bad >= 300, "{name}: {ok} linearizable, {bad} not: the generator is lopsided");
    }
}

/// Many unknown outcomes (half of all operations), where the lazy placement of
/// unknown operations does most of its pruning.
#[test]
fn unknown_heavy_histories_agree_with_brute_force() {
    let (mut ok, mut bad) = (0, 0);
    for seed in 0..4000u64 {
        let mutated = seed % 2 == 1;
        let h = cas_history_with(seed, mutated, 50);
        let fast = verdict_bool(&check(&CasRegister::default(), &h, &Budget::UNLIMITED));
        assert_eq!(fast, brute::linearizable(&CasRegister::default(), &h), "cas seed {seed}");
        let h = kv_history_with(seed, mutated, 50);
        let fast_kv = verdict_bool(&check_partitioned(&Kv, &h, &Budget::UNLIMITED));
        assert_eq!(fast_kv, brute::linearizable(&Kv, &h), "kv seed {seed}");
        assert_eq!(fast_kv, verdict_bool(&check(&Kv, &h, &Budget::UNLIMITED)), "kv whole, seed {seed}");
        if fast { ok += 1 } else { bad += 1 }
    }
    assert!(ok >= 600 && bad >= 600, "{ok} linearizable, {bad} not");
}

/// Longer histories (up to 13 operations, 6 processes) with half the outcomes
/// unknown: the same configuration is reached with many different sets of unknown
/// operations placed, which is where the memo's dominance rule (a configuration
/// explored with fewer unknown operations placed covers one with more) prunes.
#[test]
fn unknown_subsets_agree_with_brute_force() {
    let (mut ok, mut bad) = (0, 0);
    for seed in 0..800u64 {
        let mutated = seed % 2 == 1;
        let h = cas_history_sized(seed, mutated, 50, 6, 13);
        let fast = verdict_bool(&check(&CasRegister::default(), &h, &Budget::UNLIMITED));
        assert_eq!(fast, brute::linearizable(&CasRegister::default(), &h), "cas seed {seed}");
        if fast { ok += 1 } else { bad += 1 }
    }
    assert!(ok >= 200 && bad >= 200, "{ok} linearizable, {bad} not");
}
