//! S3 (remote replication): the library scenarios do what their descriptions say.
//! Each test runs one scenario and asserts the observable facts that make it the
//! scenario it claims to be (command outcomes, announced transitions, errors hosts
//! saw, copies), on top of its verdict (linearizability across takeover, the
//! engine's invariants).

use crate::support::{ok, outcomes, run_library as run};
use engine::{ControllerFactory, CopyKind};
use mirrorsim::runner::{self, RunReport};
use mirrorsim::scenario;
use model::{Completion, ErrorKind, Op, RemoteEvent};
use std::path::Path;

fn err(kind: ErrorKind) -> Completion {
    Completion::Returned(Err(kind))
}

fn events(r: &RunReport, event: RemoteEvent) -> usize {
    r.result
        .history
        .ops
        .iter()
        .filter(|o| matches!(o.op, Op::RemoteEvent { event: e, .. } if e == event))
        .count()
}

fn errors(r: &RunReport, kind: ErrorKind) -> usize {
    r.result.history.ops.iter().filter(|o| o.completion == err(kind)).count()
}

fn copies(r: &RunReport, kind: CopyKind) -> Vec<&sim::CopyRecord> {
    r.result.copies.iter().filter(|c| c.kind == kind).collect()
}

#[test]
fn planned_suspend_and_resume_copy_exactly_the_union() {
    let r = run("s3-planned-suspend-resume");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Suspend { .. })), vec![ok(), ok()]);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Resume { .. })), vec![ok()]);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Takeover { .. })), vec![ok()]);
    let resync = copies(&r, CopyKind::RemoteResync);
    assert_eq!(resync.len(), 1);
    assert!(resync[0].stats.blocks_copied > 0 && resync[0].finished_ns.is_some(), "{resync:?}");
    assert!(resync[0].stats.differing_blocks <= resync[0].stats.blocks_copied);
    assert_eq!(events(&r, RemoteEvent::Synced), 2, "the initial copy and the resync");
    assert_eq!(events(&r, RemoteEvent::LinkLost), 0, "a planned suspension is no link loss");
}

#[test]
fn fence_data_refuses_io_while_the_secondary_is_out_of_reach() {
    let r = run("s3-link-failure-sync-fence-data");
    assert_eq!(events(&r, RemoteEvent::LinkLost), 1);
    assert!(errors(&r, ErrorKind::Fenced) > 0, "writes fail while B cannot be reached");
    // Every fenced answer came after the link loss was announced.
    let lost = r
        .result
        .history
        .ops
        .iter()
        .position(|o| matches!(o.op, Op::RemoteEvent { .. } if o.op.to_string().contains("link_lost")))
        .unwrap();
    let first_fenced =
        r.result.history.ops.iter().position(|o| o.completion == err(ErrorKind::Fenced)).unwrap();
    assert!(r.result.history.ops[first_fenced].complete_ns >= r.result.history.ops[lost].complete_ns);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Resume { .. })), vec![ok()]);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Takeover { .. })), vec![ok()]);
}

#[test]
fn fence_never_goes_on_writing_and_tracks() {
    let r = run("s3-link-failure-sync-fence-never");
    assert_eq!(events(&r, RemoteEvent::LinkLost), 1);
    assert_eq!(errors(&r, ErrorKind::Fenced), 0);
    let resync = copies(&r, CopyKind::RemoteResync);
    assert!(resync.iter().any(|c| c.finished_ns.is_some() && c.stats.blocks_copied > 0), "{resync:?}");
}

#[test]
fn a_flapping_link_suspends_the_resync_and_resume_starts_over() {
    let r = run("s3-link-flapping-during-resync");
    assert!(events(&r, RemoteEvent::LinkLost) >= 2, "each long flap suspends the group");
    assert!(copies(&r, CopyKind::RemoteResync).iter().any(|c| c.finished_ns.is_none()), "a resync was cut");
    assert!(copies(&r, CopyKind::RemoteResync).iter().any(|c| c.finished_ns.is_some()), "a resync finished");
}

#[test]
fn takeover_mid_resync_restores_the_pre_resync_image() {
    let r = run("s3-primary-crash-mid-resync-takeover");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Takeover { .. })), vec![ok()]);
    assert!(
        copies(&r, CopyKind::RemoteResync).iter().all(|c| c.finished_ns.is_none()),
        "the resync never ended"
    );
    // The secondary was read after the takeover (hosts and the audit): the checks
    // judged it against the pre-resync image.
    let reads = r.result.history.ops.iter().filter(|o| {
        matches!(o.op, Op::Read { vol, .. } if vol.0 == 1)
            && matches!(o.completion, Completion::Returned(Ok(_)))
    });
    assert!(reads.count() > 0);
}

#[test]
fn split_brain_obeys_each_policy() {
    for (name, resume, failback) in [
        ("s3-split-brain-refuse", err(ErrorKind::SplitBrain), err(ErrorKind::SplitBrain)),
        (
            "s3-split-brain-discard-secondary",
            ok(),
            Completion::Returned(Err(ErrorKind::RemoteWrongState(model::RemoteState::Resync))),
        ),
        ("s3-split-brain-discard-primary", err(ErrorKind::SplitBrain), ok()),
    ] {
        let r = run(name);
        assert_eq!(outcomes(&r, |o| matches!(o, Op::Takeover { .. })), vec![ok()], "{name}");
        assert_eq!(outcomes(&r, |o| matches!(o, Op::Resume { .. })), vec![resume], "{name}");
        assert_eq!(outcomes(&r, |o| matches!(o, Op::Failback { .. })), vec![failback], "{name}");
    }
}

#[test]
fn random_controller_crashes_suspend_and_resume_without_loss() {
    let r = run("s3-random-controller-crashes");
    assert!(r.result.stats.array_crashes > 0);
    assert!(events(&r, RemoteEvent::LinkLost) > 0, "a crash suspends the group");
    assert!(outcomes(&r, |o| matches!(o, Op::Resume { .. })).contains(&ok()));
}

#[test]
fn same_seed_same_verdict_on_more_seeds() {
    // Each S3 scenario on a few more seeds: the expected outcome holds.
    for name in [
        "s3-link-failure-sync-fence-data",
        "s3-split-brain-discard-primary",
        "s3-primary-crash-mid-resync-takeover",
    ] {
        let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let sc = scenario::load(Path::new(&path)).expect("loads");
        for seed in 2..4 {
            let r = runner::run(&sc, seed, &ControllerFactory::default(), false);
            assert!(r.expected_met, "{name} seed {seed}: {}\n{}", r.verdict, r.details.unwrap_or_default());
        }
    }
}

fn discarded(r: &RunReport, by: mirrorsim::remote_report::DiscardedBy) -> usize {
    r.remote.data_loss.iter().filter(|d| d.by == by).count()
}

#[test]
fn sync_with_fence_data_loses_no_acknowledged_write() {
    use mirrorsim::remote_report::DiscardedBy;
    let r = run("s3-link-failure-sync-fence-data");
    let windows = &r.remote.recovery.windows;
    assert_eq!(windows.len(), 1, "the takeover was judged");
    assert!(windows[0].observed_blocks > 0, "the secondary was read after the takeover");
    assert!(windows[0].lost.is_empty() && windows[0].time_lost_ns == 0, "{:?}", windows[0]);
    assert!(r.remote.data_loss.is_empty(), "{:?}", r.remote.data_loss);
    assert_eq!(discarded(&r, DiscardedBy::Takeover), 0);
}

#[test]
fn the_data_loss_report_names_what_each_command_discarded() {
    use mirrorsim::remote_report::DiscardedBy;
    // Fence never: writes in flight at the suspension before the takeover are gone.
    let r = run("s3-link-failure-sync-fence-never");
    assert!(discarded(&r, DiscardedBy::Takeover) > 0, "{:?}", r.remote.data_loss);
    // discard_primary: the failback discards what the old primary wrote after the takeover.
    let r = run("s3-split-brain-discard-primary");
    assert!(discarded(&r, DiscardedBy::Failback) > 0);
    assert!(discarded(&r, DiscardedBy::Takeover) > 0, "the lag at the takeover");
    assert_eq!(discarded(&r, DiscardedBy::Resume), 0);
    for d in &r.remote.data_loss {
        let o = &r.result.history.ops[d.write.index];
        assert!(matches!(o.op, Op::Write { vol, .. } if vol == d.write.vol), "{d:?} names a write");
        assert_eq!(o.completion, ok(), "{d:?} was acknowledged");
        // A takeover discards the writes invoked before it completed (concurrent ones
        // included); a resume or failback those invoked before it.
        let cmd = &r.result.history.ops[d.command];
        let bound =
            if d.by == DiscardedBy::Takeover { cmd.complete_ns.expect("answered") } else { cmd.invoke_ns };
        assert!(o.invoke_ns < bound, "{d:?} before the command");
    }
    // discard_secondary: the resume discards what hosts wrote to the secondary, and the
    // old primary's writes survive (the resume makes it authoritative again).
    let r = run("s3-split-brain-discard-secondary");
    assert!(discarded(&r, DiscardedBy::Resume) > 0);
    assert_eq!(discarded(&r, DiscardedBy::Takeover) + discarded(&r, DiscardedBy::Failback), 0);
    // refuse: nothing resolved, the lag at the takeover stands.
    let r = run("s3-split-brain-refuse");
    assert_eq!(r.remote.data_loss.len(), discarded(&r, DiscardedBy::Takeover));
    assert!(!r.remote.data_loss.is_empty());
}

#[test]
fn async_lag_loses_the_journal_at_a_takeover_under_load() {
    use mirrorsim::remote_report::DiscardedBy;
    let r = run("s3-async-lag");
    assert!(copies(&r, CopyKind::RemoteInitial).iter().all(|c| c.finished_ns.is_some()));
    assert_eq!(events(&r, RemoteEvent::LinkLost), 1, "the cut link suspends the group");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Takeover { .. })), vec![ok()]);
    let w = &r.remote.recovery.windows;
    assert_eq!(w.len(), 1);
    assert!(!w[0].lost.is_empty() && w[0].time_lost_ns > 0, "a non-zero recovery point: {:?}", w[0]);
    assert!(w[0].observed_blocks > 0);
    assert_eq!(discarded(&r, DiscardedBy::Takeover), w[0].lost.len());
    // Linearizability does not judge it (the loss is allowed); the prefix check does.
    let sc = crate::support::load_library("s3-async-lag");
    assert!(sc.checks.contains(&scenario::CheckName::RemotePrefix));
    assert!(!sc.checks.contains(&scenario::CheckName::Linearizability));
}

#[test]
fn a_full_async_journal_suspends_the_group_by_itself() {
    let r = run("s3-async-journal-full");
    assert_eq!(r.result.stats.link_downs, 0, "no link fault: the journal filled");
    assert!(events(&r, RemoteEvent::LinkLost) >= 1, "announced as link_lost");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Resume { .. })), vec![ok()]);
    // The initial copy was cut by the full journal: the resume starts it over (an
    // interrupted initial copy is never resumed from the bits alone) and it finishes.
    let initial = copies(&r, CopyKind::RemoteInitial);
    assert!(initial.len() >= 2 && initial[0].finished_ns.is_none(), "{initial:?}");
    let last = initial.last().expect("two");
    assert!(last.finished_ns.is_some() && last.stats.blocks_copied > 0, "{initial:?}");
    assert_eq!(last.stats.blocks_copied, last.stats.union_blocks, "exactly the union: {last:?}");
    let sc = crate::support::load_library("s3-async-journal-full");
    assert!(sc.checks.contains(&scenario::CheckName::Linearizability), "the takeover loses nothing");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Takeover { .. })), vec![ok()]);
    let w = &r.remote.recovery.windows[0];
    assert!(w.lost.is_empty() && w.observed_blocks > 0, "in step after the resync: {w:?}");
}

#[test]
fn a_consistency_group_of_three_keeps_dependent_writes_in_order() {
    let r = run("s3-consistency-group-dependent-writes");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::RemotePairCreate { .. })), vec![ok(), ok(), ok()]);
    let initial = copies(&r, CopyKind::RemoteInitial);
    assert_eq!(initial.len(), 3);
    assert!(initial.iter().all(|c| c.finished_ns.is_some() && c.stats.blocks_copied > 0), "{initial:?}");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Takeover { .. })), vec![ok()]);
    // The single-request host wrote consecutive, hence dependent, writes on different
    // volumes of the group.
    let app: Vec<&model::HistoryOp> = r
        .result
        .history
        .ops
        .iter()
        .filter(|o| o.process.0 == 0 && matches!(o.op, Op::Write { .. }) && o.completion == ok())
        .collect();
    assert!(
        app.windows(2)
            .any(|p| p[0].op.volume() != p[1].op.volume() && p[0].complete_ns < Some(p[1].invoke_ns))
    );
    // Every secondary of the group was observed after the takeover, and the prefix
    // check judged them together.
    let w = &r.remote.recovery.windows[0];
    assert!(w.observed_blocks > 0 && !w.lost.is_empty(), "{w:?}");
    for vol in [3, 4, 5] {
        assert!(
            r.result.history.ops.iter().any(|o| matches!(o.op, Op::Read { vol: v, .. } if v.0 == vol)
                && matches!(o.completion, Completion::Returned(Ok(_)))),
            "secondary vol{vol} read"
        );
    }
}

#[test]
fn a_failback_reports_the_old_primarys_unshipped_writes_as_discarded() {
    use mirrorsim::remote_report::DiscardedBy;
    // The primary wrote while the link was down; the secondary took over and wrote
    // nothing; the failback (no split brain) makes the old primary follow the new one,
    // so exactly its writes since the link loss are discarded, each named by write.
    let path = Path::new("tests/planted/failback-forgets-unshipped-writes.json");
    let sc = scenario::load(path).unwrap();
    let r = runner::run(&sc, sc.file.seed, &ControllerFactory::default(), false);
    assert!(r.expected_met, "{}", r.details.clone().unwrap_or_default());
    let ops = &r.result.history.ops;
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Failback { .. })), vec![ok()]);
    let lost = ops.iter().position(|o| matches!(o.op, Op::RemoteEvent { event: RemoteEvent::LinkLost, .. }));
    let lost_ns = ops[lost.expect("the link loss was announced")].invoke_ns;
    let fb = ops.iter().position(|o| matches!(o.op, Op::Failback { .. })).unwrap();
    assert!(discarded(&r, DiscardedBy::Failback) > 0, "{:?}", r.remote.data_loss);
    assert_eq!(discarded(&r, DiscardedBy::Resume), 0);
    let primary = sc.config.volume_specs()[0].id;
    for d in r.remote.data_loss.iter().filter(|d| d.by == DiscardedBy::Failback) {
        let o = &ops[d.write.index];
        assert_eq!(d.command, fb, "{d:?}");
        assert!(matches!(o.op, Op::Write { vol, .. } if vol == primary), "{d:?}: a write to the old primary");
        assert_eq!(o.completion, ok(), "{d:?} was acknowledged");
        assert!(o.complete_ns.unwrap() > lost_ns, "{d:?}: acknowledged after the link loss");
        assert!(o.invoke_ns < ops[fb].invoke_ns, "{d:?}: before the failback");
    }
    // Refused for split brain: nothing resolved, nothing discarded but the takeover's lag.
    let path = Path::new("tests/planted/split-brain-not-detected.json");
    let sc = scenario::load(path).unwrap();
    let r = runner::run(&sc, sc.file.seed, &ControllerFactory::default(), false);
    assert!(r.expected_met, "{}", r.details.clone().unwrap_or_default());
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Failback { .. })), vec![err(ErrorKind::SplitBrain)]);
    assert_eq!(r.remote.data_loss.len(), discarded(&r, DiscardedBy::Takeover));
}

#[test]
fn unreadable_pre_resync_block_suspends_the_resync_and_the_takeover_keeps_the_image() {
    let r = run("s3-media-error");
    assert!(r.expected_met, "{}", r.verdict);
    // Both resumes are accepted, and each resync suspends the group with an error
    // (the target refuses to overwrite a block whose pre-resync content it cannot
    // save) instead of retrying forever or panicking.
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Resume { .. })), vec![ok(), ok()]);
    assert_eq!(events(&r, RemoteEvent::LinkLost), 2);
    assert!(copies(&r, CopyKind::RemoteResync).iter().all(|c| c.finished_ns.is_none()), "no resync finished");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Takeover { .. })), vec![ok()]);
    // The secondary's bad block still reads with an error (justified: the runner
    // checks every media error against the injected faults).
    assert!(
        r.result.history.ops.iter().any(|o| matches!(o.op, Op::Read { vol, block, len } if vol.0 == 1
            && (block..block + u64::from(len)).contains(&5))
            && o.completion == err(ErrorKind::MediaError)),
        "a read of the secondary's bad block answered media_error"
    );
}

#[test]
fn the_cross_array_probe_catches_a_bit_cleared_before_the_secondary_has_the_write() {
    // Planted `bit-cleared-before-remote-ack`: writes a link loss kept from the
    // secondary lose their bits. Once the group is suspended, the two sides differ
    // on blocks no change map covers: the simulator's cross-array probe says so
    // (before any read could show the stale block).
    use mirrorsim::fuzz::planted::{self, PlantedBugs};
    let factory = planted::factory(&PlantedBugs::parse(&["bit-cleared-before-remote-ack"]).unwrap());
    let sc = crate::support::load_library("s3-link-failure-sync-fence-never");
    let r = runner::run(&sc, sc.file.seed, factory.as_ref(), false);
    let v = r.result.violations.first().expect("an invariant violation");
    assert!(v.message.contains("no change-map bit covers it"), "{}", v.message);
    // The correct engine passes the same run.
    let r = runner::run(&sc, sc.file.seed, &ControllerFactory::default(), false);
    assert!(r.result.violations.is_empty(), "{:?}", r.result.violations);
}

/// The coverage report names the S3 races each scenario is about, in the group's
/// state as the model moves it.
#[test]
fn coverage_names_the_group_states_commands_events_and_faults_met() {
    let facts = |name: &str| {
        let r = run(name);
        let sc = scenario::load(Path::new(&format!("scenarios/{name}.json"))).unwrap();
        mirrorsim::fuzz::coverage::run_facts(&sc.config, &r.result)
    };
    let f = facts("s3-primary-crash-mid-resync-takeover");
    for want in [
        "remote command remote_pair_create in none -> ok",
        "remote event synced in copy",
        "remote command resume in suspended -> ok",
        "remote fault array_crash in resync",
        "remote command takeover in resync -> ok",
    ] {
        assert!(f.contains_key(want), "{want}: {f:?}");
    }
    let f = facts("s3-split-brain-refuse");
    assert!(f.contains_key("remote command resume in swapped -> split_brain"), "{f:?}");
    assert!(f.contains_key("remote write to the secondary in swapped -> ok"), "{f:?}");
    let f = facts("s3-link-failure-sync-fence-data");
    assert!(f.contains_key("remote event link_lost in pair"), "{f:?}");
    assert!(f.contains_key("remote write to the primary in suspended_error -> fenced"), "{f:?}");
    // Snapshots (S4) of remote volumes: each side, state and refusal.
    let f = facts("s3-snapshot-of-secondary");
    for want in [
        "remote snapshot of the secondary in pair -> ok",
        "remote snapshot of the primary in pair -> ok",
        "remote snapshot of the secondary in pair -> in_pair",
        "remote snapshot of the primary in suspended_error -> fenced",
        "remote snapshot of the secondary in suspended_error -> ok",
        "remote snapshot of the secondary in resync -> inconsistent",
    ] {
        assert!(f.contains_key(want), "{want}: {f:?}");
    }
}

#[test]
fn fence_never_primary_crash_then_takeover_and_failback() {
    use mirrorsim::remote_report::DiscardedBy;
    use model::{Completion, VolumeId};
    let r = run("s3-fence-never-takeover");
    let ops = &r.result.history.ops;
    let (p0, r0) = (VolumeId(0), VolumeId(1));
    let write_to = |o: &model::HistoryOp, v: VolumeId| matches!(o.op, Op::Write { vol, .. } if vol == v);
    // The crash at 30ms caught sync writes in flight (no answer: possibly applied).
    let crash = 30_000_000;
    assert!(
        ops.iter().any(|o| write_to(o, p0) && o.invoke_ns < crash && o.completion == Completion::Unknown),
        "a sync write was in flight at the crash"
    );
    // The restarted primary suspended the group by itself, once.
    assert_eq!(events(&r, RemoteEvent::LinkLost), 1);
    let lost = ops
        .iter()
        .find(|o| matches!(o.op, Op::RemoteEvent { event: RemoteEvent::LinkLost, .. }))
        .and_then(|o| o.complete_ns)
        .unwrap();
    assert!(lost > crash + 5_000_000, "announced by the restarted primary");
    // Fence never: the primary goes on serving its hosts (nothing fenced).
    assert_eq!(errors(&r, ErrorKind::Fenced), 0);
    let takeover = ops.iter().find(|o| matches!(o.op, Op::Takeover { .. })).unwrap();
    assert_eq!(takeover.completion, ok());
    let took = takeover.complete_ns.unwrap();
    let primary_writes =
        ops.iter().filter(|o| write_to(o, p0) && o.invoke_ns > lost && o.completion == ok()).count();
    assert!(primary_writes > 0, "the primary wrote while apart");
    // The disaster-recovery host is refused until the takeover, then writes and reads.
    let dr_after = |pred: &dyn Fn(&model::HistoryOp) -> bool| {
        ops.iter().filter(|o| o.invoke_ns > took && o.process.0 != u32::MAX && pred(o)).count()
    };
    assert!(dr_after(&|o| write_to(o, r0) && o.completion == ok()) > 0, "DR writes after the takeover");
    assert!(
        dr_after(&|o| matches!(o.op, Op::Read { vol, .. } if vol == r0)
            && matches!(o.completion, Completion::Returned(Ok(model::Reply::Values(_)))))
            > 0,
        "DR reads after the takeover"
    );
    assert!(
        ops.iter()
            .any(|o| write_to(o, r0) && o.invoke_ns < took && o.completion == err(ErrorKind::NotAccessible)),
        "refused before"
    );
    // Both sides wrote: discard_primary lets the failback through, which copies the
    // secondary's side back and discards the old primary's writes since the suspension.
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Failback { .. })), vec![ok()]);
    let failback = copies(&r, CopyKind::RemoteFailback);
    assert!(failback.iter().any(|c| c.finished_ns.is_some() && c.stats.blocks_copied > 0), "{failback:?}");
    assert_eq!(events(&r, RemoteEvent::Synced), 2, "the initial copy and the failback");
    assert!(discarded(&r, DiscardedBy::Failback) > 0, "{:?}", r.remote.data_loss);
    for d in r.remote.data_loss.iter().filter(|d| d.by == DiscardedBy::Failback) {
        let o = &ops[d.write.index];
        assert!(write_to(o, p0) && o.completion == ok(), "{d:?}: an acknowledged primary write");
        assert!(o.complete_ns.unwrap() > lost, "{d:?}: written while apart, after the suspension");
    }
    // After the failback the old primary follows: its hosts are refused.
    let fb = ops.iter().find(|o| matches!(o.op, Op::Failback { .. })).and_then(|o| o.complete_ns).unwrap();
    assert!(
        ops.iter()
            .any(|o| write_to(o, p0) && o.invoke_ns > fb && o.completion == err(ErrorKind::NotAccessible))
    );
}

#[test]
fn snapshots_of_remote_volumes_image_what_each_side_holds() {
    let r = run("s3-snapshot-of-secondary");
    let snaps = outcomes(&r, |o| matches!(o, Op::Snapshot { .. }));
    assert_eq!(
        snaps,
        vec![
            ok(),                         // pair_img: the following sync secondary
            ok(),                         // prim_img: the primary
            err(ErrorKind::InPair),       // async_img: an async secondary
            ok(),                         // async_prim_img: an async primary
            err(ErrorKind::Fenced),       // fenced_img: the fenced primary
            ok(),                         // lost_img: the secondary after the loss
            err(ErrorKind::Inconsistent), // resync_img: a resync target
            ok(),                         // swapped_img: after the takeover
        ]
    );
    assert_eq!(outcomes(&r, |o| matches!(o, Op::DeleteSnapshot { .. })), vec![ok()]);
    // The readers on B read both images of the secondary while the pair went on (the
    // writes the link carried after each snapshot copied-on-write, never reaching them).
    let image = |n: u32| model::VolumeId(model::VolumeId::IMAGE_BASE + n);
    let reads = |vol| {
        r.result
            .history
            .ops
            .iter()
            .filter(|o| matches!(o.op, Op::Read { vol: v, .. } if v == vol))
            .filter(|o| matches!(o.completion, Completion::Returned(Ok(model::Reply::Values(_)))))
            .count()
    };
    assert!(reads(image(0)) > 20 && reads(image(5)) > 20, "{} {}", reads(image(0)), reads(image(5)));
    assert!(reads(image(1)) > 20, "the primary's image on A");
    assert_eq!(events(&r, RemoteEvent::LinkLost), 2, "both groups lost the link");
}
