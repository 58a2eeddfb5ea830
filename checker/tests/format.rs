//! The JSON-lines history format: the documented examples check as documented, bad
//! input is reported with its line, and simulator histories round-trip.

use mirrorsim_checker::history_format::{ModelKind, check_text, parse, storage_history_to_jsonl};
use mirrorsim_checker::{Budget, Report, Verdict, check_storage};
use model::{Completion, History, HistoryOp, Op, ProcessId, Reply, Value, VolumeId, VolumeSpec};

fn run(kind: ModelKind, text: &str) -> Report {
    check_text(kind, text, &Budget::default(), &mut || false)
        .unwrap_or_else(|e| panic!("bad input: {e}\n{text}"))
}

fn bad(kind: ModelKind, text: &str) -> (usize, String) {
    let e = check_text(kind, text, &Budget::default(), &mut || false).expect_err("should be bad input");
    (e.line, e.message)
}

fn model_named(name: &str) -> ModelKind {
    match name {
        "cas-register" => ModelKind::CasRegister,
        "kv" => ModelKind::Kv,
        "storage" => ModelKind::Storage,
        other => panic!("unknown model {other}"),
    }
}

/// Every `<!-- example: MODEL VERDICT -->` block of docs/history-format.md.
#[test]
fn documented_examples_check_as_documented() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/history-format.md")).unwrap();
    let mut seen = 0;
    let mut rest = doc.as_str();
    while let Some(at) = rest.find("<!-- example: ") {
        rest = &rest[at + "<!-- example: ".len()..];
        let header = &rest[..rest.find(" -->").unwrap()];
        let (model, verdict) = header.split_once(' ').unwrap();
        let start = rest.find("```jsonl\n").unwrap() + "```jsonl\n".len();
        let body = &rest[start..start + rest[start..].find("```").unwrap()];
        let r = run(model_named(model), body);
        match verdict {
            "linearizable" => assert!(r.is_linearizable(), "{header}:\n{r}"),
            "not-linearizable" => assert!(matches!(r.verdict, Verdict::NotLinearizable(_)), "{header}:\n{r}"),
            other => panic!("unknown verdict {other}"),
        }
        seen += 1;
    }
    assert_eq!(
        seen, 11,
        "every model has a good and a bad example (storage also with mirror pairs, images and backups)"
    );
}

#[test]
fn counterexample_names_lines() {
    let text = r#"{"process": 0, "type": "invoke", "f": "write", "value": "a"}
{"process": 0, "type": "ok", "f": "write", "value": "a"}
{"process": 1, "type": "invoke", "f": "read", "value": null}
{"process": 1, "type": "ok", "f": "read", "value": null}
"#;
    let r = run(ModelKind::CasRegister, text);
    let c = r.counterexample().unwrap();
    assert_eq!((c.culprit.id, c.culprit.call, c.culprit.ret), (3, 3, Some(4)));
    assert_eq!((c.expected.as_str(), c.seen.as_str()), ("\"a\"", "null"));
    assert_eq!(
        r.headline(),
        "NOT linearizable: whole object: read by process 1 (id 3): expected \"a\", saw null"
    );
}

#[test]
fn open_operations_at_the_end_are_unknown_and_nemesis_is_ignored() {
    let text = r#"{"process": 0, "type": "invoke", "f": "put", "key": 7, "value": "v"}
{"process": "nemesis", "type": "info", "f": "kill", "value": null}
{"process": 1, "type": "invoke", "f": "get", "key": "7"}
{"process": 1, "type": "ok", "f": "get", "key": "7", "value": "v"}
"#;
    let r = run(ModelKind::Kv, text);
    assert!(r.is_linearizable(), "{r}");
    assert_eq!((r.stats.ops, r.stats.unknown_ops), (2, 1));
}

#[test]
fn bad_input_names_the_line_and_the_problem() {
    use ModelKind::*;
    let inv = r#"{"process": 0, "type": "invoke", "f": "read"}"#;
    let cases: Vec<(ModelKind, String, usize, &str)> = vec![
        (CasRegister, "{not json".to_string(), 1, "invalid JSON"),
        (CasRegister, "[1, 2]".to_string(), 1, "expected a JSON object"),
        (CasRegister, format!("{inv}\n{inv}"), 2, "still open"),
        (CasRegister, r#"{"process": 0, "type": "ok", "f": "read"}"#.to_string(), 1, "never invoked"),
        (
            CasRegister,
            format!("{inv}\n{}", r#"{"process": 0, "type": "ok", "f": "write"}"#),
            2,
            "invoked \"read\"",
        ),
        (
            CasRegister,
            r#"{"process": 0, "type": "invoke", "f": "cas", "value": 3}"#.to_string(),
            1,
            "[expected, new]",
        ),
        (CasRegister, r#"{"process": 0, "type": "invoke", "f": "inc"}"#.to_string(), 1, "read, write or cas"),
        (
            CasRegister,
            r#"{"process": -1, "type": "invoke", "f": "read"}"#.to_string(),
            1,
            "non-negative integer",
        ),
        (
            CasRegister,
            r#"{"process": 0, "type": "begin", "f": "read"}"#.to_string(),
            1,
            "invoke, ok, fail or info",
        ),
        (CasRegister, r#"{"process": 0, "f": "read"}"#.to_string(), 1, "missing `type`"),
        (
            CasRegister,
            format!(
                "{}\n\n{}",
                r#"{"process": 0, "type": "invoke", "f": "read", "time": 5}"#,
                r#"{"process": 0, "type": "ok", "f": "read", "time": 4}"#
            ),
            3,
            "real-time order",
        ),
        (Kv, r#"{"process": 0, "type": "invoke", "f": "get"}"#.to_string(), 1, "missing `key`"),
        (
            Kv,
            r#"{"process": 0, "type": "invoke", "f": "put", "key": "k", "value": 5}"#.to_string(),
            1,
            "must be a string",
        ),
        (
            Storage,
            r#"{"process": 0, "type": "invoke", "f": "read", "vol": 0, "block": 1}"#.to_string(),
            1,
            "missing `len`",
        ),
        (
            Storage,
            format!(
                "{}\n{}",
                r#"{"process": 0, "type": "invoke", "f": "read", "vol": 0, "block": 1, "len": 1}"#,
                r#"{"process": 0, "type": "ok", "f": "read", "error": "on_fire"}"#
            ),
            2,
            "`error` must be",
        ),
        (
            Storage,
            format!(
                "{}\n{}",
                r#"{"process": 0, "type": "invoke", "f": "read", "vol": 0, "block": 1, "len": 1}"#,
                r#"{"volumes": []}"#
            ),
            2,
            "before the first operation",
        ),
    ];
    for (kind, text, line, needle) in cases {
        let (l, msg) = bad(kind, &text);
        assert_eq!(l, line, "{text}: {msg}");
        assert!(msg.contains(needle), "{text}: {msg:?} lacks {needle:?}");
    }
}

#[test]
fn storage_histories_round_trip_through_the_format() {
    let vols = vec![VolumeSpec { id: VolumeId(0), blocks: 8 }];
    let v = VolumeId(0);
    let w1 = vec![Value::pack(1, 1, 0), Value::pack(1, 1, 1)];
    let op = |p, op, ie: u64, c, ce: Option<u64>| HistoryOp {
        process: ProcessId(p),
        op,
        invoke_ns: ie * 10,
        complete_ns: ce.map(|e| e * 10),
        completion: c,
        invoke_event: ie,
        complete_event: ce,
    };
    for (stale, expect_ok) in [(false, true), (true, false)] {
        let read_at = if stale { 5 } else { 2 };
        let h = History {
            ops: vec![
                op(
                    0,
                    Op::Write { vol: v, block: 0, values: w1.clone() },
                    1,
                    Completion::Returned(Ok(Reply::Done)),
                    Some(4),
                ),
                op(
                    1,
                    Op::Read { vol: v, block: 0, len: 2 },
                    read_at,
                    Completion::Returned(Ok(Reply::Values(vec![w1[0], Value::ZERO]))),
                    Some(read_at + 1),
                ),
                op(
                    2,
                    Op::Write { vol: v, block: 5, values: vec![Value::pack(2, 1, 0)] },
                    3,
                    Completion::Unknown,
                    None,
                ),
                op(
                    2,
                    Op::Read { vol: v, block: 9, len: 1 },
                    8,
                    Completion::Returned(Err(model::ErrorKind::OutOfRange)),
                    Some(9),
                ),
            ],
        };
        let text = storage_history_to_jsonl(&h, &vols);
        let direct = check_storage(&h, &vols, &Budget::default());
        let via_file = run(ModelKind::Storage, &text);
        assert_eq!(direct.is_linearizable(), expect_ok, "{direct}");
        assert_eq!(via_file.is_linearizable(), expect_ok, "{via_file}\n{text}");
        assert_eq!((via_file.stats.ops, via_file.stats.unknown_ops), (4, 1));
        assert!(parse(ModelKind::Storage, &text).is_ok());
    }
}

/// The cancel hook (`mirrorsim check --budget-ms`) applies to every model,
/// storage included: a per-block search long enough to poll it gives `unknown`.
#[test]
fn cancel_hook_applies_to_every_model() {
    let n = 8;
    let mut storage = vec![r#"{"volumes": [{"id": 0, "blocks": 4}]}"#.to_string()];
    let mut cas = Vec::new();
    for i in 0..n {
        storage.push(format!(
            r#"{{"process": {i}, "type": "invoke", "f": "write", "vol": 0, "block": 1, "value": [{}]}}"#,
            i + 1
        ));
        cas.push(format!(r#"{{"process": {i}, "type": "invoke", "f": "write", "value": {}}}"#, i + 1));
    }
    for i in 0..n {
        let p = n + i;
        storage.push(format!(
            r#"{{"process": {p}, "type": "invoke", "f": "read", "vol": 0, "block": 1, "len": 1}}"#
        ));
        cas.push(format!(r#"{{"process": {p}, "type": "invoke", "f": "read", "value": null}}"#));
    }
    for i in 0..n {
        let p = n + i;
        storage.push(format!(r#"{{"process": {p}, "type": "ok", "f": "read", "value": [{}]}}"#, i + 1));
        cas.push(format!(r#"{{"process": {p}, "type": "ok", "f": "read", "value": {}}}"#, i + 1));
    }
    for i in 0..n {
        storage.push(format!(r#"{{"process": {i}, "type": "ok", "f": "write"}}"#));
        cas.push(format!(r#"{{"process": {i}, "type": "ok", "f": "write", "value": {}}}"#, i + 1));
    }
    // A read of the initial value after every write returned: exhausts the search.
    let p = 2 * n;
    storage.push(format!(
        r#"{{"process": {p}, "type": "invoke", "f": "read", "vol": 0, "block": 1, "len": 1}}"#
    ));
    storage.push(format!(r#"{{"process": {p}, "type": "ok", "f": "read", "value": [0]}}"#));
    cas.push(format!(r#"{{"process": {p}, "type": "invoke", "f": "read", "value": null}}"#));
    cas.push(format!(r#"{{"process": {p}, "type": "ok", "f": "read", "value": null}}"#));
    for (kind, lines) in [(ModelKind::Storage, storage), (ModelKind::CasRegister, cas)] {
        let text = lines.join("\n");
        assert!(run(kind, &text).counterexample().is_some(), "{kind:?}: without a deadline, a violation");
        let r = check_text(kind, &text, &Budget::default(), &mut || true).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Unknown { reason: mirrorsim_checker::UnknownReason::Cancelled },
            "{kind:?}"
        );
    }
}

/// S3 commands and events keep their fields through a history file.
#[test]
fn remote_commands_round_trip_through_the_format() {
    use model::{Fence, GroupId, PairId, RemoteEvent, RemoteMode, SplitBrainPolicy};
    let vols = vec![VolumeSpec { id: VolumeId(0), blocks: 8 }, VolumeSpec { id: VolumeId(1), blocks: 8 }];
    let g = GroupId(4);
    let cmds = vec![
        Op::RemotePairCreate {
            pair: PairId(2),
            primary: VolumeId(0),
            secondary: VolumeId(1),
            group: g,
            mode: RemoteMode::Async,
            fence: Fence::Data,
            split_brain: SplitBrainPolicy::DiscardPrimary,
        },
        Op::RemoteEvent { group: g, event: RemoteEvent::Synced },
        Op::Suspend { group: g },
        Op::Resume { group: g },
        Op::RemoteEvent { group: g, event: RemoteEvent::LinkLost },
        Op::Takeover { group: g },
        Op::Failback { group: g },
    ];
    let h = History {
        ops: cmds
            .iter()
            .enumerate()
            .map(|(i, c)| HistoryOp {
                process: ProcessId(0),
                op: c.clone(),
                invoke_ns: 2 * i as u64,
                complete_ns: Some(2 * i as u64 + 1),
                completion: Completion::Returned(Ok(Reply::Done)),
                invoke_event: 2 * i as u64,
                complete_event: Some(2 * i as u64 + 1),
            })
            .collect(),
    };
    let text = storage_history_to_jsonl(&h, &vols);
    let Ok(mirrorsim_checker::history_format::ParsedHistory::Storage { ops, .. }) =
        parse(ModelKind::Storage, &text)
    else {
        panic!("{text}")
    };
    let parsed: Vec<Op> = ops.into_iter().map(|o| o.op).collect();
    assert_eq!(parsed, cmds, "{text}");
    assert!(run(ModelKind::Storage, &text).is_linearizable(), "{text}");
}
