//! The offload check (S1) on hand-written file histories: each rule passes a correct
//! history and fails the one broken in its way.

use mirrorsim_checker::offload::check;
use model::files::{BackupOutcome, FileHistory, FileLayout, FileWrite, InhibitWindow, TapeRecord};
use model::{Completion, ErrorKind, History, HistoryOp, HostId, Op, ProcessId, Reply, Value, VolumeId};

const V: VolumeId = VolumeId(0);

fn val(seq: u32) -> Value {
    Value::pack(1, seq, 0)
}

fn write(file: u32, offset: u64, seq: u32, invoke_ns: u64, complete_ns: Option<u64>) -> FileWrite {
    FileWrite { file, offset, values: vec![val(seq)], invoke_ns, complete_ns, held_by: None }
}

/// Two one-block files: "a" at volume block 0, "b" at block 1; cache latency <= 10.
fn base() -> FileHistory {
    FileHistory {
        host: HostId(0),
        volume: V,
        files: vec![
            FileLayout { name: "a".into(), extents: vec![(0, 1)] },
            FileLayout { name: "b".into(), extents: vec![(1, 1)] },
        ],
        cache_write_ns_max: 10,
        writes: vec![write(0, 0, 1, 0, Some(5)), write(0, 0, 2, 20, Some(25))],
        windows: vec![],
        crashes: vec![],
        tape: vec![],
    }
}

/// A window on file `a` from 100 to 200 that split, and a complete tape record of it.
fn with_backup(mut f: FileHistory, tape: Value) -> FileHistory {
    f.windows.push(InhibitWindow {
        backup: 0,
        file: 0,
        start_ns: 100,
        end_ns: Some(200),
        split: true,
        flushed_blocks: 1,
        held_writes: 0,
    });
    f.tape.push(TapeRecord {
        backup: 0,
        file: 0,
        window: Some(0),
        requested_ns: 90,
        finished_ns: Some(300),
        values: vec![tape],
        outcome: BackupOutcome::Complete,
    });
    f
}

fn op(op: Op, invoke_ns: u64, complete_ns: Option<u64>, completion: Completion) -> HistoryOp {
    HistoryOp {
        process: ProcessId(0),
        op,
        invoke_ns,
        complete_ns,
        completion,
        invoke_event: 0,
        complete_event: None,
    }
}

fn flush(block: u64, seq: u32, invoke_ns: u64, acked_ns: Option<u64>) -> HistoryOp {
    let completion =
        if acked_ns.is_some() { Completion::Returned(Ok(Reply::Done)) } else { Completion::Unknown };
    op(Op::Write { vol: V, block, values: vec![val(seq)] }, invoke_ns, acked_ns, completion)
}

fn audit(block: u64, values: Vec<Value>) -> HistoryOp {
    let len = values.len() as u32;
    op(Op::Read { vol: V, block, len }, 1000, Some(1001), Completion::Returned(Ok(Reply::Values(values))))
}

fn rule(r: Result<(), mirrorsim_checker::offload::Violation>) -> &'static str {
    r.err().map_or("ok", |v| v.rule)
}

#[test]
fn the_tape_holds_the_last_write_before_the_inhibit_cached_or_not() {
    let empty = History::default();
    assert_eq!(rule(check(&empty, &with_backup(base(), val(2)), 0, false)), "ok");
    // The older value: a split that missed the cached write.
    let r = check(&empty, &with_backup(base(), val(1)), 0, false);
    assert_eq!(rule(r.clone()), "tape");
    assert!(r.unwrap_err().message.contains("the application saw"));
    // A write issued after the inhibit began is not on tape (it was held).
    let mut f = with_backup(base(), val(2));
    f.writes.push(FileWrite { held_by: Some(0), ..write(0, 0, 3, 150, Some(205)) });
    assert_eq!(rule(check(&empty, &f, 0, false)), "ok");
}

#[test]
fn held_writes_stay_held_until_the_window_closes_and_belong_to_its_file() {
    let empty = History::default();
    let mut f = with_backup(base(), val(2));
    f.writes.push(FileWrite { held_by: Some(0), ..write(0, 0, 3, 150, Some(190)) });
    assert_eq!(rule(check(&empty, &f, 0, false)), "held writes");
    let mut f = with_backup(base(), val(2));
    f.writes.push(write(0, 0, 3, 150, Some(155)));
    assert_eq!(rule(check(&empty, &f, 0, false)), "held writes", "a write inside its file's window passed");
    let mut f = with_backup(base(), val(2));
    f.writes.push(FileWrite { held_by: Some(0), ..write(1, 0, 3, 150, Some(205)) });
    assert_eq!(rule(check(&empty, &f, 0, false)), "held writes", "another file's write was held");
}

#[test]
fn writes_to_other_files_are_not_delayed() {
    let empty = History::default();
    let mut f = with_backup(base(), val(2));
    f.writes.push(write(1, 0, 3, 150, Some(158)));
    assert_eq!(rule(check(&empty, &f, 0, false)), "ok");
    f.writes.push(write(1, 0, 4, 160, Some(205)));
    let r = check(&empty, &f, 0, false);
    assert_eq!(rule(r.clone()), "other files not inhibited");
    assert!(r.unwrap_err().message.contains("during inhibit window #0 of \"a\""));
}

#[test]
fn writes_to_a_file_complete_in_issue_order_and_are_never_lost_without_a_crash() {
    let empty = History::default();
    let mut f = base();
    f.writes[1].complete_ns = Some(4);
    f.writes[1].invoke_ns = 1;
    assert_eq!(rule(check(&empty, &f, 0, false)), "never reordered");
    let mut f = base();
    f.writes[1].complete_ns = None;
    assert_eq!(rule(check(&empty, &f, 0, true)), "never lost");
    f.crashes.push(30);
    // Lost in the crash: nothing was flushed, so the volume must still hold 0.
    assert_eq!(rule(check(&empty, &f, 0, true)), "ok");
    let h = History { ops: vec![audit(0, vec![val(1)])] };
    assert_eq!(rule(check(&h, &f, 0, true)), "files survive", "a value never flushed is on the volume");
}

#[test]
fn after_a_crash_the_view_is_what_the_volume_may_hold() {
    // Write 2 flushed and acknowledged at 40, write 3 cached only, crash at 60, then a
    // backup at 100: the tape must hold 2 (the cache with 3 is gone).
    let mut f = base();
    f.writes.push(write(0, 0, 3, 50, Some(55)));
    f.crashes.push(60);
    let f = |tape| with_backup(f.clone(), tape);
    let h = History { ops: vec![flush(0, 1, 10, Some(15)), flush(0, 2, 30, Some(40))] };
    assert_eq!(rule(check(&h, &f(val(2)), 2, false)), "ok");
    assert_eq!(rule(check(&h, &f(val(3)), 2, false)), "tape");
    assert_eq!(rule(check(&h, &f(val(1)), 2, false)), "tape");
    // A flush unanswered at the crash may have landed.
    let h = History { ops: vec![flush(0, 1, 10, Some(15)), flush(0, 3, 56, None)] };
    assert_eq!(rule(check(&h, &f(val(3)), 2, false)), "ok");
    assert_eq!(rule(check(&h, &f(val(1)), 2, false)), "ok");
    assert_eq!(rule(check(&h, &f(val(2)), 2, false)), "tape");
}

#[test]
fn the_files_survive_and_unreadable_audits_prove_nothing() {
    let f = base();
    let ok = History { ops: vec![flush(0, 2, 30, Some(40)), audit(0, vec![val(2)])] };
    assert_eq!(rule(check(&ok, &f, 1, true)), "ok");
    let lost = History { ops: vec![flush(0, 1, 10, Some(15)), audit(0, vec![val(1)])] };
    assert_eq!(rule(check(&lost, &f, 1, true)), "files survive");
    let unreadable = History {
        ops: vec![
            flush(0, 1, 10, Some(15)),
            op(
                Op::Read { vol: V, block: 0, len: 1 },
                1000,
                Some(1001),
                Completion::Returned(Err(ErrorKind::MediaError)),
            ),
        ],
    };
    assert_eq!(rule(check(&unreadable, &f, 1, true)), "ok");
}
