//! The fast checker and the brute-force one agree on every small history: generated
//! linearizable ones and mutated ones that usually are not, with failed and unknown
//! outcomes, for every shipped model, partitioned and whole.

use crate::brute;
use crate::r#gen::{
    SnapRegs, cas_history, cas_history_sized, cas_history_with, kv_history, kv_history_with, snap_history,
    storage_history, storage_volumes,
};
use mirrorsim_checker::models::cas::{CasRegister, RegOp, RegRet};
use mirrorsim_checker::models::kv::Kv;
use mirrorsim_checker::models::storage::{StorageSpec, check_storage_ops, split_per_block};
use mirrorsim_checker::{Budget, Model, Operation, Outcome, Report, Verdict, check, check_partitioned};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::BTreeSet;

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

/// The history with every operation not in `keep` relaxed: a read-only one
/// dropped, any other made unknown (the counterexample's minimal-set semantics).
fn relax<M: Model>(
    model: &M,
    h: &[Operation<M::Op, M::Ret>],
    keep: &BTreeSet<u64>,
) -> Vec<Operation<M::Op, M::Ret>> {
    h.iter()
        .filter_map(|o| match &o.outcome {
            _ if keep.contains(&o.id) => Some(o.clone()),
            Outcome::Returned { value, .. } if model.read_only(&o.op, value) => None,
            Outcome::Returned { .. } => Some(Operation { outcome: Outcome::Unknown, ..o.clone() }),
            _ => Some(o.clone()),
        })
        .collect()
}

/// The counterexample's minimal set, judged by the brute force: with everything
/// else relaxed the history is still not linearizable, and (when reported
/// complete) relaxing any one more operation but the culprit makes it linearizable.
fn assert_minimal<M: Model>(model: &M, h: &[Operation<M::Op, M::Ret>], r: &Report, what: &str) {
    // Relaxed histories are all unknown operations, the brute force's worst case:
    // keep the test quick by judging the minimal sets of the shorter histories only.
    if h.len() > 10 {
        return;
    }
    let Some(c) = r.counterexample() else { return };
    let keep: BTreeSet<u64> = c.minimal.iter().map(|o| o.id).collect();
    assert!(keep.contains(&c.culprit.id), "{what}: the minimal set holds the culprit\n{r}");
    assert!(!brute::linearizable(model, &relax(model, h, &keep)), "{what}: minimal set is linearizable\n{r}");
    if c.minimal_complete {
        for &id in keep.iter().filter(|&&id| id != c.culprit.id) {
            let mut fewer = keep.clone();
            fewer.remove(&id);
            assert!(
                brute::linearizable(model, &relax(model, h, &fewer)),
                "{what}: minimal set is not 1-minimal (id {id} is unnecessary)\n{r}"
            );
        }
    }
}

/// Returns (fast, brute) for one seed of each model.
fn cas(seed: u64, mutated: bool) -> (bool, bool) {
    let h = cas_history(seed, mutated);
    let r = check(&CasRegister::default(), &h, &Budget::UNLIMITED);
    assert_minimal(&CasRegister::default(), &h, &r, &format!("cas seed {seed}"));
    (verdict_bool(&r), brute::linearizable(&CasRegister::default(), &h))
}

/// The late (stale-read) refutation, applied directly: whenever it refutes, the
/// brute force must agree the history is not linearizable, and the refutation's
/// witnesses must suffice on their own (every other operation relaxed).
fn cas_late_refutation_is_sound(seed: u64, mutated: bool) {
    let h = cas_history(seed, mutated);
    let refs: Vec<&Operation<RegOp, RegRet>> = h.iter().collect();
    if let Some(r) = CasRegister::default().refute_late(&refs) {
        assert!(
            !brute::linearizable(&CasRegister::default(), &h),
            "cas seed {seed}: refuted a linearizable history"
        );
        let keep: std::collections::BTreeSet<u64> =
            std::iter::once(r.op).chain(r.witnesses.iter().copied()).map(|i| h[i].id).collect();
        assert!(
            !brute::linearizable(&CasRegister::default(), &relax(&CasRegister::default(), &h, &keep)),
            "cas seed {seed}: the refutation's witnesses do not show the violation on their own"
        );
    }
}

fn kv(seed: u64, mutated: bool) -> (bool, bool) {
    let h = kv_history(seed, mutated);
    let r = check_partitioned(&Kv, &h, &Budget::UNLIMITED);
    let fast = verdict_bool(&r);
    let whole_r = check(&Kv, &h, &Budget::UNLIMITED);
    let whole = verdict_bool(&whole_r);
    assert_eq!(fast, whole, "kv seed {seed}: partitioned and whole-object checks disagree");
    // The whole-object minimal set over the whole history; the partitioned one is
    // for one key, so the other keys' operations are relaxed too (which leaves them
    // linearizable: only unknown writes).
    assert_minimal(&Kv, &h, &whole_r, &format!("kv whole seed {seed}"));
    assert_minimal(&Kv, &h, &r, &format!("kv seed {seed}"));
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
    fn cas_stale_read_refutation_is_sound(seed in any::<u64>(), mutated in any::<bool>()) {
        cas_late_refutation_is_sound(seed, mutated);
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
        let r = check(&CasRegister::default(), &h, &Budget::UNLIMITED);
        assert_minimal(&CasRegister::default(), &h, &r, &format!("cas seed {seed}"));
        let fast = verdict_bool(&r);
        assert_eq!(fast, brute::linearizable(&CasRegister::default(), &h), "cas seed {seed}");
        if fast { ok += 1 } else { bad += 1 }
    }
    assert!(ok >= 200 && bad >= 200, "{ok} linearizable, {bad} not");
}

/// Reads changed to a value that may never have been written, or written only by
/// an operation invoked after the read returned, or by an unknown operation: the
/// up-front refutation ([`Model::refute`]) decides many of these without a search
/// (zero steps), and must agree with the brute force on every one.
#[test]
fn impossible_reads_agree_with_brute_force() {
    use crate::r#gen::Rng;
    use mirrorsim_checker::models::cas::RegRet;
    use mirrorsim_checker::models::kv::KvRet;
    let (mut refuted, mut searched_bad, mut ok) = (0, 0, 0);
    let mut tally = |r: &Report, brute: bool, what: String| {
        assert_eq!(verdict_bool(r), brute, "{what}\n{r}");
        match (brute, r.stats.steps) {
            (true, _) => ok += 1,
            (false, 0) => refuted += 1,
            (false, _) => searched_bad += 1,
        }
    };
    for seed in 0..1000u64 {
        let mut rng = Rng(seed ^ 0x5eed);
        let mut h = cas_history_sized(seed, false, 40, 5, 12);
        if let Some(o) = h
            .iter_mut()
            .filter(|o| matches!(o.outcome, Outcome::Returned { value: RegRet::Read(_), .. }))
            .last()
        {
            o.outcome = Outcome::Returned { value: RegRet::Read(rng.below(5)), time: o.ret_time().unwrap() };
        }
        let r = check(&CasRegister::default(), &h, &Budget::UNLIMITED);
        assert_minimal(&CasRegister::default(), &h, &r, &format!("cas seed {seed}"));
        tally(&r, brute::linearizable(&CasRegister::default(), &h), format!("cas seed {seed}"));

        let mut h = kv_history_with(seed, false, 40);
        let values = ["", "x", "y", "z", "xy", "yx", "zx", "q", "xq"];
        if let Some(o) = h
            .iter_mut()
            .filter(|o| matches!(o.outcome, Outcome::Returned { value: KvRet::Value(_), .. }))
            .last()
        {
            let v = values[rng.below(values.len() as u64) as usize].to_string();
            o.outcome = Outcome::Returned { value: KvRet::Value(v), time: o.ret_time().unwrap() };
        }
        let r = check_partitioned(&Kv, &h, &Budget::UNLIMITED);
        assert_minimal(&Kv, &h, &r, &format!("kv seed {seed}"));
        tally(&r, brute::linearizable(&Kv, &h), format!("kv seed {seed}"));
    }
    eprintln!("{refuted} refuted up front, {searched_bad} refuted by the search, {ok} linearizable");
    assert!(refuted >= 300 && searched_bad >= 100 && ok >= 300, "{refuted} / {searched_bad} / {ok}");
}
