//! S2 (local mirror pairs): the library scenarios do what their descriptions say.
//! Each test runs one scenario and asserts the observable facts that make it the
//! scenario it claims to be (the command outcomes, the announced transitions, the
//! errors hosts saw, the copies), on top of its verdict.

use crate::support::{ok, outcomes, run_library as run};
use engine::{ControllerFactory, CopyKind};
use mirrorsim::runner::RunReport;
use model::{Completion, ErrorKind, Op, PairEvent, Reply};

fn events(r: &RunReport, event: PairEvent) -> usize {
    r.result
        .history
        .ops
        .iter()
        .filter(|o| matches!(o.op, Op::PairEvent { event: e, .. } if e == event))
        .count()
}

fn errors(r: &RunReport, kind: ErrorKind) -> usize {
    r.result.history.ops.iter().filter(|o| o.completion == Completion::Returned(Err(kind))).count()
}

fn mirror_reads_ok(r: &RunReport) -> usize {
    r.result
        .history
        .ops
        .iter()
        .filter(|o| {
            matches!(o.op, Op::Read { vol, .. } if vol.0 == 1)
                && matches!(o.completion, Completion::Returned(Ok(Reply::Values(_))))
                && o.process.0 != u32::MAX
        })
        .count()
}

#[test]
fn split_under_load_takes_three_images_and_the_backup_reads_them() {
    let r = run("s2-split-under-load");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Split { .. })), vec![ok(), ok(), ok()]);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Resync { .. })), vec![ok(), ok()]);
    assert_eq!(events(&r, PairEvent::CopyDone), 3, "initial copy and two resyncs");
    assert!(mirror_reads_ok(&r) > 100, "the backup host read the split mirror");
}

#[test]
fn resync_after_both_sides_wrote_copies_chunks_of_both_maps() {
    let r = run("s2-resync-after-both-sides-wrote");
    let resync = r.result.copies.iter().find(|c| c.kind == CopyKind::Resync).expect("a resync ran");
    assert!(resync.stats.blocks_copied > 0 && resync.stats.differing_blocks > 0);
    assert_eq!(resync.stats.blocks_copied % 8, 0, "whole chunks of 8 blocks are copied");
    let mirror_writes = r
        .result
        .history
        .ops
        .iter()
        .filter(|o| matches!(o.op, Op::Write { vol, .. } if vol.0 == 1) && o.completion == ok())
        .count();
    assert!(mirror_writes > 50, "the tester wrote the split mirror");
}

#[test]
fn restores_make_the_source_the_image_and_protected_keeps_the_mirror() {
    let r = run("s2-restore");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Restore { protected: false, .. })), vec![ok()]);
    assert!(r.result.copies.iter().any(|c| c.kind == CopyKind::Restore && c.finished_ns.is_some()));
    let r = run("s2-protected-restore");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Restore { protected: true, .. })), vec![ok()]);
    let restore = r.result.copies.iter().find(|c| c.kind == CopyKind::RestoreProtected).expect("ran");
    assert!(restore.stats.blocks_copied > 0 && restore.finished_ns.is_some());
    assert!(mirror_reads_ok(&r) > 100, "the backup host read the mirror before and after the restore");
}

#[test]
fn controller_crashes_interrupt_copies_that_resume_and_finish() {
    for (name, kind) in [
        ("s2-crash-during-resync", CopyKind::Resync),
        ("s2-crash-during-restore", CopyKind::RestoreProtected),
    ] {
        let r = run(name);
        assert_eq!(r.stats.array_crashes, 2, "{name}");
        let copies: Vec<_> = r.result.copies.iter().filter(|c| c.kind == kind).collect();
        assert!(copies.len() >= 2, "{name}: the copy was interrupted and resumed: {copies:?}");
        assert!(copies.iter().any(|c| c.finished_ns.is_none()), "{name}: an interrupted copy");
        assert!(copies.last().expect("resumed").finished_ns.is_some(), "{name}: the resumed copy finished");
    }
}

#[test]
fn a_media_error_while_mirrored_is_served_from_the_mirror_and_suspends_the_pair() {
    let r = run("s2-media-error-mirrored");
    assert_eq!(r.stats.media_faults, 3);
    assert_eq!(events(&r, PairEvent::Suspended), 1);
    assert_eq!(errors(&r, ErrorKind::MediaError), 0, "no host saw a media error");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Resync { .. })), vec![ok()], "resync from suspended");
}

#[test]
fn delete_mid_copy_leaves_an_inconsistent_mirror_until_a_new_pair() {
    let r = run("s2-delete-mid-copy");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::PairDelete { .. })), vec![ok()]);
    assert!(errors(&r, ErrorKind::Inconsistent) > 10, "the backup host saw the inconsistent mirror");
    assert!(r.result.copies.iter().any(|c| c.finished_ns.is_none()), "the first copy never finished");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Split { .. })), vec![ok()], "the new pair copied and split");
}

#[test]
fn commands_from_the_wrong_state_are_refused_with_the_models_reason() {
    let r = run("s2-wrong-state-commands");
    use model::PairState::*;
    for (kind, at_least) in [
        (ErrorKind::NoSuchPair, 3),
        (ErrorKind::WrongState(Copy), 1),
        (ErrorKind::PairExists, 1),
        (ErrorKind::InPair, 1),
        (ErrorKind::WrongState(Mirrored), 3),
        (ErrorKind::WrongState(Split), 1),
    ] {
        assert!(errors(&r, kind) >= at_least, "{kind:?}: {}", errors(&r, kind));
    }
}

#[test]
fn the_initial_copy_copies_exactly_the_allocated_chunks() {
    let r = run("s2-initial-copy-under-load");
    let init = r.result.copies.iter().find(|c| c.kind == CopyKind::Initial).expect("ran");
    assert!(init.stats.union_blocks > 100, "the source held data when the pair was created");
    assert_eq!(init.stats.blocks_copied % 4, 0, "whole chunks of 4 blocks");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Split { .. })), vec![ok()]);
}

/// SPEC §2: a resync copies exactly the union of the change maps. With no host I/O
/// during the copy, at one block per bit every copied block differed (amplification
/// exactly 1.00); coarser bits copy whole chunks. And a split, a resync start and a
/// restore start cost the same simulated time and media I/Os on 2^20 and 2^40 blocks.
#[test]
fn copy_amplification_and_command_cost_do_not_depend_on_volume_size() {
    use mirrorsim::bench::{admin_latencies, s2_reference};
    let run = |blocks: u64, grain: u64| {
        let sc = s2_reference(blocks, grain, 300, 1 << 16);
        sim::run(&sc.config, &ControllerFactory::default(), &sim::RunOptions { seed: 1, record_trace: false })
    };
    let resync = |r: &sim::RunResult| {
        r.copies.iter().find(|c| c.kind == CopyKind::Resync).expect("a resync ran").stats
    };
    let exact = run(1 << 20, 1);
    let s = resync(&exact);
    assert!(s.differing_blocks > 250);
    assert_eq!((s.blocks_copied, s.union_blocks), (s.differing_blocks, s.differing_blocks));
    let coarse = resync(&run(1 << 20, 8));
    assert_eq!(coarse.differing_blocks, s.differing_blocks, "the same writes");
    assert!(coarse.blocks_copied > 4 * coarse.differing_blocks, "whole chunks of 8: {coarse:?}");
    let large = run(1 << 40, 1);
    assert_eq!(admin_latencies(&exact), admin_latencies(&large));
    assert_eq!(exact.stats.media_ios, large.stats.media_ios);
}

/// The coverage report names what each scenario is about: the library's crash
/// scenarios are counted as a crash during that copy, in that pair state.
#[test]
fn coverage_facts_name_the_races_the_scenarios_exercise() {
    use mirrorsim::fuzz::coverage::run_facts;
    for (name, want) in [
        ("s2-crash-during-resync", ["fault array_crash during resync copy", "command resync in split -> ok"]),
        (
            "s2-crash-during-restore",
            ["fault array_crash during restore_protected copy", "command restore in split -> ok"],
        ),
        ("s2-media-error-mirrored", ["fault media_error in mirrored", "event suspended in mirrored"]),
    ] {
        let sc = crate::support::load_library(name);
        let r = run(name);
        let facts = run_facts(&sc.config, &r.result);
        for w in want {
            assert!(facts.contains_key(w), "{name}: {w:?} not among {:?}", facts.keys().collect::<Vec<_>>());
        }
    }
}
