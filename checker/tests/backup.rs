//! S0 histories: a backup copies its source at one instant to a destination at
//! another offset, and the per-part check must see the source's blocks when it judges
//! the destination's (the classes of `backup_classes`).

use mirrorsim_checker::{Budget, Verdict, check_storage};
use model::{
    BackupEvent, BackupId, BackupState, Completion, ErrorKind, History, HistoryOp, Op, ProcessId, Region,
    Reply, Value, VolumeId, VolumeSpec,
};

const A: VolumeId = VolumeId(0);
const B: VolumeId = VolumeId(1);

fn vols() -> Vec<VolumeSpec> {
    vec![VolumeSpec { id: A, blocks: 16 }, VolumeSpec { id: B, blocks: 16 }]
}

fn hop(process: u32, op: Op, invoke: u64, result: Result<Reply, ErrorKind>, complete: u64) -> HistoryOp {
    HistoryOp {
        process: ProcessId(process),
        op,
        invoke_ns: invoke * 10,
        complete_ns: Some(complete * 10),
        completion: Completion::Returned(result),
        invoke_event: invoke,
        complete_event: Some(complete),
    }
}

fn v(seq: u32) -> Value {
    Value::pack(1, seq, 0)
}

/// write A[2] = 1; backup A[0+4] -> B[8+4]; write A[2] = 2; complete; read B[10].
fn history(seen: Result<Reply, ErrorKind>) -> History {
    let src = Region { vol: A, start: 0, blocks: 4 };
    let dst = Region { vol: B, start: 8, blocks: 4 };
    let id = BackupId(1);
    History {
        ops: vec![
            hop(1, Op::Write { vol: A, block: 2, values: vec![v(1)] }, 1, Ok(Reply::Done), 2),
            hop(2, Op::Backup { backup: id, src, dst }, 3, Ok(Reply::Done), 4),
            hop(1, Op::Write { vol: A, block: 2, values: vec![v(2)] }, 5, Ok(Reply::Done), 6),
            hop(3, Op::BackupEvent { backup: id, event: BackupEvent::Complete }, 7, Ok(Reply::Done), 7),
            hop(4, Op::Read { vol: B, block: 10, len: 1 }, 8, seen, 9),
        ],
    }
}

#[test]
fn a_destination_reads_the_source_at_the_backup_point() {
    let vals = |x| Ok(Reply::Values(vec![x]));
    let r = check_storage(&history(vals(v(1))), &vols(), &Budget::default());
    assert!(r.is_linearizable(), "{r}");
    assert!(r.stats.whole_object);
    // The later write leaking into the backup is a violation, found by a part.
    let r = check_storage(&history(vals(v(2))), &vols(), &Budget::default());
    assert!(matches!(r.verdict, Verdict::NotLinearizable(_)), "{r}");
    // So is a backup that was never copied.
    let r = check_storage(&history(vals(Value::ZERO)), &vols(), &Budget::default());
    assert!(matches!(r.verdict, Verdict::NotLinearizable(_)), "{r}");
}

#[test]
fn a_destination_read_while_copying_is_refused_and_listing_shows_the_state() {
    let mut h = history(Err(ErrorKind::NotAccessible));
    // Reading before the completion event: not accessible is right, a value is not.
    h.ops[4].invoke_event = 6;
    h.ops[4].complete_event = Some(6);
    h.ops[3].invoke_event = 8;
    h.ops[3].complete_event = Some(8);
    let r = check_storage(&h, &vols(), &Budget::default());
    assert!(r.is_linearizable(), "{r}");
    let list = |state| {
        let e = model::CatalogEntry {
            backup: BackupId(1),
            src: Region { vol: A, start: 0, blocks: 4 },
            dst: Region { vol: B, start: 8, blocks: 4 },
            state,
            info: None,
        };
        hop(5, Op::ListBackups { src: A }, 10, Ok(Reply::Backups(vec![e])), 11)
    };
    let mut ok = history(Ok(Reply::Values(vec![v(1)])));
    ok.ops.push(list(BackupState::Complete));
    assert!(check_storage(&ok, &vols(), &Budget::default()).is_linearizable());
    let mut bad = history(Ok(Reply::Values(vec![v(1)])));
    bad.ops.push(list(BackupState::Copying));
    let r = check_storage(&bad, &vols(), &Budget::default());
    assert!(matches!(r.verdict, Verdict::NotLinearizable(_)), "a listing behind the completion: {r}");
}
