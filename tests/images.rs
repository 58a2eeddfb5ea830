//! S4 (point-in-time images): the library scenarios do what their descriptions say,
//! and the checker rejects an image that changes after its snapshot.

use crate::support::{ok, outcomes, run_library as run};
use mirrorsim::runner::RunReport;
use model::{Completion, ErrorKind, History, HistoryOp, Op, ProcessId, Reply, Value, VolumeId, VolumeSpec};

fn err(e: ErrorKind) -> Completion {
    Completion::Returned(Err(e))
}

/// Host reads of images that returned values, and those that found no image.
fn image_reads(r: &RunReport) -> (usize, usize) {
    let reads =
        r.result.history.ops.iter().filter(|o| matches!(o.op, Op::Read { vol, .. } if vol.is_image()));
    let (mut values, mut missing) = (0, 0);
    for o in reads {
        match o.completion {
            Completion::Returned(Ok(Reply::Values(_))) => values += 1,
            Completion::Returned(Err(ErrorKind::NoSuchVolume)) => missing += 1,
            _ => {}
        }
    }
    (values, missing)
}

#[test]
fn snapshot_under_writes() {
    let r = run("s4-snapshot-under-writes");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Snapshot { .. })), vec![ok(), ok(), ok()]);
    let (values, missing) = image_reads(&r);
    assert!(values >= 50 && missing >= 10, "image reads: {values} with values, {missing} before the image");
    // Some image read returned a value written before its snapshot that the origin
    // has since overwritten (the copy-on-write path ran).
    assert!(r.result.violations.is_empty());
}

#[test]
fn a_small_snapshot_cut_is_proved_as_one_object() {
    let r = run("s4-snapshot-cut");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Snapshot { .. })), vec![ok()]);
    assert!(r.notes.is_empty(), "the whole-object pass completed: {:?}", r.notes);
    let (values, _) = image_reads(&r);
    assert!(values >= 10, "the image is read ({values} reads)");
}

#[test]
fn generations_and_deletes_across_a_crash() {
    let r = run("s4-generations-and-deletes");
    assert_eq!(outcomes(&r, |o| matches!(o, Op::Snapshot { .. })), vec![ok(); 7]);
    assert_eq!(outcomes(&r, |o| matches!(o, Op::DeleteSnapshot { .. })), vec![ok(); 3]);
    assert_eq!(r.stats.array_crashes, 1);
    // The sixth generation is read after the restart.
    let g6 = VolumeId(VolumeId::IMAGE_BASE + 5);
    let crash_ns = 24_000_000;
    assert!(r.result.history.ops.iter().any(|o| matches!(o.op, Op::Read { vol, .. } if vol == g6)
        && o.invoke_ns > crash_ns + 2_000_000
        && matches!(o.completion, Completion::Returned(Ok(Reply::Values(_))))));
    // The deleted second generation reads as no such volume until its name is reused.
    let g2 = VolumeId(VolumeId::IMAGE_BASE + 1);
    assert!(r.result.history.ops.iter().any(|o| matches!(o.op, Op::Read { vol, .. } if vol == g2)
        && (14_000_000..32_000_000).contains(&o.invoke_ns)
        && o.completion == err(ErrorKind::NoSuchVolume)));
}

#[test]
fn writable_image() {
    let r = run("s4-writable-image");
    let img = VolumeId(VolumeId::IMAGE_BASE);
    let writes = |from: u64, to: u64, want: Completion| {
        r.result
            .history
            .ops
            .iter()
            .filter(|o| {
                matches!(o.op, Op::Write { vol, .. } if vol == img)
                    && (from..to).contains(&o.invoke_ns)
                    && o.completion == want
            })
            .count()
    };
    assert!(writes(3_400_000, 40_000_000, ok()) >= 50, "the image takes writes");
    assert!(writes(0, 3_000_000, err(ErrorKind::NoSuchVolume)) >= 1, "none before the snapshot");
    assert!(writes(40_400_000, u64::MAX, err(ErrorKind::NoSuchVolume)) >= 1, "none after the delete");
    assert_eq!(r.stats.array_crashes, 1);
}

#[test]
fn refused_commands() {
    let r = run("s4-refused-commands");
    assert_eq!(
        outcomes(&r, |o| matches!(
            o,
            Op::Snapshot { .. } | Op::DeleteSnapshot { .. } | Op::PairCreate { .. }
        )),
        vec![
            ok(),
            err(ErrorKind::ImageExists),
            err(ErrorKind::InvalidImage),
            err(ErrorKind::HasImages),
            err(ErrorKind::NoSuchImage),
            ok(),
            err(ErrorKind::NoSuchImage),
            ok(),
            err(ErrorKind::InPair),
            err(ErrorKind::InPair),
        ]
    );
}

fn op(process: u32, op: Op, invoke: u64, complete: u64, completion: Completion) -> HistoryOp {
    HistoryOp {
        process: ProcessId(process),
        op,
        invoke_ns: invoke,
        complete_ns: Some(complete),
        completion,
        invoke_event: invoke,
        complete_event: Some(complete),
    }
}

#[test]
fn the_checker_rejects_an_image_that_changes_after_its_snapshot() {
    let (v, img) = (VolumeId(0), VolumeId(VolumeId::IMAGE_BASE));
    let w = |s| Value::pack(1, s, 0);
    let vals = |s| Completion::Returned(Ok(Reply::Values(vec![w(s)])));
    let volumes = [VolumeSpec { id: v, blocks: 8 }];
    let history = |late: bool| History {
        ops: vec![
            op(1, Op::Write { vol: v, block: 0, values: vec![w(1)] }, 0, 1, ok()),
            // A write concurrent with the snapshot: before or after it, not both.
            op(1, Op::Write { vol: v, block: 0, values: vec![w(2)] }, 2, 9, ok()),
            op(2, Op::Snapshot { vol: v, image: img }, 3, 4, ok()),
            op(3, Op::Read { vol: img, block: 0, len: 1 }, 5, 6, vals(1)),
            op(3, Op::Read { vol: img, block: 0, len: 1 }, 10, 11, vals(if late { 2 } else { 1 })),
        ],
    };
    let budget = checker::Budget::default();
    let check = |h: &History| checker::models::storage::check_storage(h, &volumes, &budget).verdict;
    assert!(matches!(check(&history(false)), checker::Verdict::Linearizable));
    assert!(matches!(check(&history(true)), checker::Verdict::NotLinearizable(_)));
}
