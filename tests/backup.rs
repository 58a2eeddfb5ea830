//! S0 (backup with a catalog): the library scenarios do what their descriptions say.

use crate::support::{ok, outcomes, run_library as run};
use mirrorsim::runner::RunReport;
use model::{BackupEvent, BackupState, CatalogEntry, Completion, ErrorKind, Op, Reply};

fn err(e: ErrorKind) -> Completion {
    Completion::Returned(Err(e))
}

/// The announced catalog transitions, in order.
fn events(r: &RunReport) -> Vec<BackupEvent> {
    r.result
        .history
        .ops
        .iter()
        .filter_map(|o| match o.op {
            Op::BackupEvent { event, .. } => Some(event),
            _ => None,
        })
        .collect()
}

/// The catalogs `list_backups` returned, in order.
fn listings(r: &RunReport) -> Vec<Vec<CatalogEntry>> {
    r.result
        .history
        .ops
        .iter()
        .filter_map(|o| match (&o.op, &o.completion) {
            (Op::ListBackups { .. }, Completion::Returned(Ok(Reply::Backups(l)))) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

/// Reads of the volume `vol` that returned values, and those refused with `e`.
fn reads(r: &RunReport, vol: u32, e: ErrorKind) -> (usize, usize) {
    let mut n = (0, 0);
    for o in &r.result.history.ops {
        if let Op::Read { vol: v, .. } = o.op
            && v.0 == vol
        {
            match &o.completion {
                Completion::Returned(Ok(_)) => n.0 += 1,
                Completion::Returned(Err(x)) if *x == e => n.1 += 1,
                _ => {}
            }
        }
    }
    n
}

fn states(l: &[CatalogEntry]) -> Vec<BackupState> {
    l.iter().map(|e| e.state).collect()
}

#[test]
fn backup_under_writes() {
    let r = run("s0-backup-under-writes");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Backup { .. })), vec![ok(), ok()]);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::RecordBackup { .. })), vec![ok(), ok()]);
    assert_eq!(events(&r), vec![BackupEvent::Complete, BackupEvent::Complete]);
    let l = listings(&r);
    assert_eq!(l.len(), 2);
    assert_eq!(states(&l[0]), vec![BackupState::Copying], "listed during the copy");
    assert_eq!(l[0][0].info.as_ref().map(|i| i.label.as_str()), Some("nightly"));
    assert_eq!(states(&l[1]), vec![BackupState::Complete; 2]);
    assert_eq!(l[1][1].info.as_ref().map(|i| i.generation), Some(2));
    let (values, refused) = reads(&r, 1, ErrorKind::NotAccessible);
    assert!(
        values >= 50 && refused >= 5,
        "backup volume reads: {values} values, {refused} refused while copying"
    );
}

#[test]
fn crash_mid_copy_leaves_a_failed_entry() {
    let r = run("s0-crash-mid-copy");
    assert_eq!(r.stats.array_crashes, 1);
    // The first backup was cut: failed, never complete; the retry completes.
    assert_eq!(events(&r), vec![BackupEvent::Failed, BackupEvent::Complete]);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Backup { .. })), vec![ok(), ok()]);
    let l = listings(&r);
    assert_eq!(states(&l[0]), vec![BackupState::Failed]);
    assert_eq!(l[0][0].info.as_ref().map(|i| i.generation), Some(7), "the record survived the crash");
    assert_eq!(states(&l[1]), vec![BackupState::Failed, BackupState::Complete]);
    let (_, inconsistent) = reads(&r, 1, ErrorKind::Inconsistent);
    assert!(inconsistent >= 1, "the failed destination read inconsistent before the retry");
}

#[test]
fn restore_from_a_catalog_entry() {
    let r = run("s0-restore-from-catalog");
    assert_eq!(events(&r), vec![BackupEvent::Complete]);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::RestoreBackup { .. })), vec![ok(), ok()]);
    let l = listings(&r);
    assert_eq!(l[0][0].info.as_ref().map(|i| i.label.as_str()), Some("before-upgrade"));
    let (values, _) = reads(&r, 2, ErrorKind::NotAccessible);
    assert!(values >= 20, "the scratch volume is read ({values})");
}

#[test]
fn bad_regions_are_refused_with_clear_errors() {
    let r = run("s0-bad-regions");
    assert_eq!(
        outcomes(&r, |o| matches!(o, Op::Backup { .. })),
        vec![
            err(ErrorKind::RegionOverlap),
            ok(),
            err(ErrorKind::DestinationBusy),
            err(ErrorKind::InsideCatalog),
            err(ErrorKind::OutOfRange),
            err(ErrorKind::InvalidRegion),
        ]
    );
    assert_eq!(
        outcomes(&r, |o| matches!(o, Op::RestoreBackup { .. })),
        vec![
            err(ErrorKind::BackupState(BackupState::Copying)),
            err(ErrorKind::RegionOverlap),
            err(ErrorKind::InsideCatalog)
        ]
    );
    assert_eq!(outcomes(&r, |o| matches!(o, Op::RecordBackup { .. })), vec![err(ErrorKind::NoSuchBackup)]);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::PairCreate { .. })), vec![err(ErrorKind::HasBackups)]);
    assert_eq!(states(&listings(&r)[0]), vec![BackupState::Complete]);
}

#[test]
fn the_catalog_survives_a_restart() {
    let r = run("s0-catalog-survives-restart");
    assert_eq!(r.stats.array_crashes, 1);
    assert_eq!(events(&r), vec![BackupEvent::Complete]);
    let l = listings(&r);
    assert_eq!(states(&l[0]), vec![BackupState::Complete]);
    let info = l[0][0].info.as_ref().expect("recorded");
    assert_eq!((info.label.as_str(), info.generation, info.host_time), ("monthly", 12, 777));
    let (values, _) = reads(&r, 1, ErrorKind::NotAccessible);
    assert!(values >= 20, "the backup is read after the restart ({values})");
}

#[test]
fn a_restore_that_cannot_read_its_backup_fails_and_a_retry_clears_it() {
    let r = run("s0-restore-media-error");
    assert_eq!(r.stats.media_faults, 1);
    assert_eq!(
        outcomes(&r, |o| matches!(o, Op::RestoreBackup { .. })),
        vec![err(ErrorKind::MediaError), err(ErrorKind::Inconsistent), ok()],
        "b1 fails on its unreadable block; b2 to a region overlapping the target is refused; b2 to all of it is the retry"
    );
    let ev = events(&r);
    let to = model::Region { vol: model::VolumeId(0), start: 0, blocks: 256 };
    assert_eq!(ev, vec![BackupEvent::Complete, BackupEvent::Complete, BackupEvent::RestoreFailed { to }]);
    // Host I/O to the partial copy was refused between the failure and the retry.
    let refused = r
        .result
        .history
        .ops
        .iter()
        .filter(|o| o.op.is_io() && o.completion == err(ErrorKind::Inconsistent))
        .count();
    assert!(refused >= 5, "host I/O to the failed target is refused ({refused})");
    let (values, _) = reads(&r, 0, ErrorKind::Inconsistent);
    assert!(values >= 20, "the target is read again ({values})");
    assert_eq!(states(&listings(&r)[0]), vec![BackupState::Complete, BackupState::Complete]);
}

#[test]
fn the_run_report_gives_each_backup_its_blocks_time_and_state() {
    let r = run("s0-restore-media-error");
    let lines = mirrorsim::backup_report::analyse(&r.result);
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(l.state, BackupState::Complete);
        let copied = l.blocks_copied.expect("our engine reports its copies");
        assert!(copied > 0 && copied <= 256, "{copied} blocks of a 256-block region");
        let t = l.complete_ns.expect("complete") - l.invoked_ns;
        assert!(t > 0 && t < 10_000_000, "{t} ns from the command to complete");
    }
    assert_eq!((lines[0].restores_done, lines[0].restores_failed), (0, 1));
    assert_eq!((lines[1].restores_done, lines[1].restores_failed), (1, 0));
    let text = mirrorsim::backup_report::lines(&r.result);
    assert!(
        text[0].starts_with("catalog backup0 vol0[0+256] -> vol1[0+256] complete, copied "),
        "{}",
        text[0]
    );
    assert!(
        text[0].contains("complete after") && text[0].ends_with("restores 0 done 1 failed"),
        "{}",
        text[0]
    );
    let json = mirrorsim::backup_report::json(&r.result);
    assert_eq!(json[1]["state"], "complete");
    assert_eq!(json[1]["restores_done"], 1);
}

#[test]
fn the_benchmark_reference_copies_what_was_written_and_completes() {
    use mirrorsim::bench_s0::s0_reference;
    for blocks in [1u64 << 20, 1 << 40] {
        let r = sim::run(
            &s0_reference(blocks, 512, 1024).config,
            &engine::ControllerFactory::default(),
            &sim::RunOptions { seed: 1, record_trace: false },
        );
        assert_eq!(r.ending, sim::Ending::Completed);
        let l = mirrorsim::backup_report::analyse(&r);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].state, BackupState::Complete);
        // The copy set is the allocated chunks: all 8 of the written region, whatever
        // the volume's size.
        assert_eq!(l[0].blocks_copied, Some(512), "on 2^{}", blocks.ilog2());
    }
}

#[test]
fn coverage_names_the_backup_races_reached() {
    let facts = |name: &str| {
        let r = run(name);
        let sc = mirrorsim::scenario::load(std::path::Path::new(&format!("scenarios/{name}.json"))).unwrap();
        mirrorsim::fuzz::coverage::run_facts(&sc.config, &r.result)
    };
    let f = facts("s0-crash-mid-copy");
    for want in ["fault array_crash during backup copy", "backup event failed", "backup command backup -> ok"]
    {
        assert!(f.contains_key(want), "{want}: {f:?}");
    }
    let f = facts("s0-restore-from-catalog");
    assert!(f.contains_key("restore_backup with host writes to the target's volume"), "{f:?}");
    assert!(f.contains_key("backup copy with host writes to the source"), "{f:?}");
    let f = facts("s0-restore-media-error");
    assert_eq!(f.get("backup event restore_failed"), Some(&1));
    assert_eq!(f.get("backup command restore_backup -> media_error"), Some(&1));
}
