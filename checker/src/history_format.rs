//! The JSON-lines history format `mirrorsim check` reads (documented, with examples,
//! in `docs/history-format.md`).
//!
//! **API Boundary:** this is a file format users produce from their own systems.
//! One JSON object per line, in real-time order, modelled on Jepsen's operation
//! maps: `process`, `type` (`invoke`, `ok`, `fail`, `info`), `f`, `value`, `key` where
//! the model has keys, optional `time`. A process has at most one operation open.
//! `fail` means the operation did not take effect; `info`, or no completion at all,
//! means its outcome is unknown. Real time is the line order: an operation's id and
//! times in reports are the line numbers of its invocation and completion.

use crate::linearizability::{Budget, Operation, Outcome};
use crate::models::cas::{CasRegister, RegOp, RegRet};
use crate::models::kv::{Kv, KvOp, KvRet};
use crate::models::storage::{StorageSpec, error_kind_from_name, split_per_block};
use crate::partition::{check_partitioned_with_cancel, check_with_cancel};
use crate::report::Report;
use model::{Op, OpResult, Reply, Value, VolumeId, VolumeSpec};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::fmt;

/// Which sequential specification a history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// One register: read, write, compare-and-set; starts as `null`.
    CasRegister,
    /// Strings per key: get, put, append; an absent key reads as `""`.
    Kv,
    /// mirrorsim volumes: multi-block read and write.
    Storage,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::Storage => "storage",
        }
    }
}

/// Bad input: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// 1-based line number; 0 for a problem with the file as a whole.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for FormatError {}

/// A parsed history, typed for its model.
#[derive(Clone, Debug)]
pub enum ParsedHistory {
    CasRegister { model: CasRegister, ops: Vec<Operation<RegOp, RegRet>> },
    Kv { ops: Vec<Operation<KvOp, KvRet>> },
    Storage { volumes: Vec<VolumeSpec>, ops: Vec<Operation<Op, OpResult>> },
}

/// Parses and checks a history file's text. `cancel` is polled during the search
/// (a wall-clock budget).
pub fn check_text(
    kind: ModelKind,
    text: &str,
    budget: &Budget,
    cancel: &mut dyn FnMut() -> bool,
) -> Result<Report, FormatError> {
    Ok(match parse(kind, text)? {
        ParsedHistory::CasRegister { model, ops } => check_with_cancel(&model, &ops, budget, cancel),
        ParsedHistory::Kv { ops } => check_partitioned_with_cancel(&Kv, &ops, budget, cancel),
        ParsedHistory::Storage { volumes, ops } => {
            // `check_storage_ops` with the cancel hook: multi-block operations split
            // per block, the caller's operation counts reported.
            let (n, unknown) = (
                ops.len() as u64,
                ops.iter().filter(|o| matches!(o.outcome, Outcome::Unknown)).count() as u64,
            );
            let split = split_per_block(&volumes, ops);
            let mut r = check_partitioned_with_cancel(&StorageSpec::new(&volumes), &split, budget, cancel);
            r.stats.ops = n;
            r.stats.unknown_ops = unknown;
            r
        }
    })
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError { line, message: message.into() })
}

/// An invocation waiting for its completion.
struct Open {
    op_index: usize,
    line: usize,
    f: String,
    key: Option<String>,
}

/// The per-model part of parsing.
trait Dialect {
    type Op;
    type Ret;
    /// The request of an `invoke` line.
    fn request(&mut self, line: usize, f: &str, obj: &Map<String, Json>) -> Result<Self::Op, FormatError>;
    /// The result of an `ok` line completing `op`.
    fn result(
        &mut self,
        line: usize,
        op: &Self::Op,
        obj: &Map<String, Json>,
    ) -> Result<Self::Ret, FormatError>;
    /// Handles a line that is not an operation (a declaration); `Ok(false)` if it is not one.
    fn declaration(
        &mut self,
        _line: usize,
        _obj: &Map<String, Json>,
        _ops_seen: bool,
    ) -> Result<bool, FormatError> {
        Ok(false)
    }
    fn has_keys(&self) -> bool {
        false
    }
}

/// The operations of one history file, in the dialect's types.
type Ops<D> = Vec<Operation<<D as Dialect>::Op, <D as Dialect>::Ret>>;

fn parse_lines<D: Dialect>(d: &mut D, text: &str) -> Result<Ops<D>, FormatError> {
    let mut ops: Vec<Operation<D::Op, D::Ret>> = Vec::new();
    let mut open: BTreeMap<u64, Open> = BTreeMap::new();
    let mut last_time: Option<(u64, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let obj: Map<String, Json> = match serde_json::from_str(raw) {
            Ok(Json::Object(m)) => m,
            Ok(_) => return err(line, "expected a JSON object"),
            Err(e) => return err(line, format!("invalid JSON: {e}")),
        };
        if d.declaration(line, &obj, !ops.is_empty())? {
            continue;
        }
        let process = match obj.get("process") {
            Some(Json::Number(n)) if n.as_u64().is_some() => n.as_u64().expect("checked"),
            Some(Json::String(s)) if s == "nemesis" => continue,
            Some(p) => {
                return err(
                    line,
                    format!("`process` must be a non-negative integer (or \"nemesis\"), got {p}"),
                );
            }
            None => return err(line, "missing `process`"),
        };
        let kind = match obj.get("type") {
            Some(Json::String(s)) => s.as_str(),
            Some(t) => return err(line, format!("`type` must be a string, got {t}")),
            None => return err(line, "missing `type`"),
        };
        let f = match obj.get("f") {
            Some(Json::String(s)) => s.clone(),
            Some(f) => return err(line, format!("`f` must be a string, got {f}")),
            None => return err(line, "missing `f`"),
        };
        match obj.get("time") {
            None | Some(Json::Null) => {}
            Some(Json::Number(n)) if n.as_u64().is_some() => {
                let t = n.as_u64().expect("checked");
                if let Some((prev, prev_line)) = last_time
                    && t < prev
                {
                    return err(
                        line,
                        format!(
                            "`time` {t} is before {prev} on line {prev_line}: lines must be in real-time order"
                        ),
                    );
                }
                last_time = Some((t, line));
            }
            Some(t) => return err(line, format!("`time` must be a non-negative integer, got {t}")),
        }
        let key = if d.has_keys() {
            match obj.get("key") {
                Some(Json::String(s)) => Some(s.clone()),
                Some(Json::Number(n)) => Some(n.to_string()),
                None | Some(Json::Null) if kind != "invoke" => None,
                Some(k) => return err(line, format!("`key` must be a string or an integer, got {k}")),
                None => return err(line, "missing `key`"),
            }
        } else {
            None
        };
        match kind {
            "invoke" => {
                if let Some(o) = open.get(&process) {
                    return err(
                        line,
                        format!(
                            "process {process} invokes an operation while its `{}` from line {} is still open \
                             (a process has at most one operation open)",
                            o.f, o.line
                        ),
                    );
                }
                let op = d.request(line, &f, &obj)?;
                open.insert(process, Open { op_index: ops.len(), line, f, key });
                ops.push(Operation {
                    id: line as u64,
                    process,
                    op,
                    call: line as u64,
                    outcome: Outcome::Unknown,
                });
            }
            "ok" | "fail" | "info" => {
                let Some(o) = open.remove(&process) else {
                    return err(line, format!("process {process} completes an operation it never invoked"));
                };
                if o.f != f {
                    return err(
                        line,
                        format!("completion `f` is {f:?} but line {} invoked {:?}", o.line, o.f),
                    );
                }
                if let (Some(k), Some(ko)) = (&key, &o.key)
                    && k != ko
                {
                    return err(
                        line,
                        format!("completion `key` is {k:?} but line {} invoked {ko:?}", o.line),
                    );
                }
                let outcome = match kind {
                    "ok" => {
                        let value = d.result(line, &ops[o.op_index].op, &obj)?;
                        Outcome::Returned { value, time: line as u64 }
                    }
                    "fail" => Outcome::Failed,
                    _ => Outcome::Unknown,
                };
                ops[o.op_index].outcome = outcome;
            }
            other => return err(line, format!("`type` must be invoke, ok, fail or info, got {other:?}")),
        }
    }
    // Operations never completed keep their unknown outcome.
    Ok(ops)
}

/// Parses a history's text for `kind`.
pub fn parse(kind: ModelKind, text: &str) -> Result<ParsedHistory, FormatError> {
    Ok(match kind {
        ModelKind::CasRegister => {
            let mut d = CasDialect { ids: BTreeMap::new(), names: Vec::new() };
            d.intern(&Json::Null);
            let ops = parse_lines(&mut d, text)?;
            ParsedHistory::CasRegister { model: CasRegister { init: 0, names: d.names }, ops }
        }
        ModelKind::Kv => ParsedHistory::Kv { ops: parse_lines(&mut KvDialect, text)? },
        ModelKind::Storage => {
            let mut d = StorageDialect { volumes: None, implicit: BTreeMap::new() };
            let ops = parse_lines(&mut d, text)?;
            let volumes = match d.volumes {
                Some(v) => v,
                // No declaration: every volume mentioned exists and is as large as can be.
                None => {
                    d.implicit.keys().map(|&id| VolumeSpec { id: VolumeId(id), blocks: u64::MAX }).collect()
                }
            };
            ParsedHistory::Storage { volumes, ops }
        }
    })
}

/// Register values are any JSON values, numbered by their canonical text; `null`
/// (the initial value) is 0.
struct CasDialect {
    ids: BTreeMap<String, u64>,
    names: Vec<String>,
}

impl CasDialect {
    fn intern(&mut self, v: &Json) -> u64 {
        let text = v.to_string();
        if let Some(&id) = self.ids.get(&text) {
            return id;
        }
        let id = self.names.len() as u64;
        self.ids.insert(text.clone(), id);
        self.names.push(text);
        id
    }
}

impl Dialect for CasDialect {
    type Op = RegOp;
    type Ret = RegRet;

    fn request(&mut self, line: usize, f: &str, obj: &Map<String, Json>) -> Result<RegOp, FormatError> {
        let value = obj.get("value").unwrap_or(&Json::Null);
        Ok(match f {
            "read" => RegOp::Read,
            "write" => match obj.get("value") {
                Some(v) => RegOp::Write(self.intern(v)),
                None => return err(line, "a write needs a `value`"),
            },
            "cas" => match value {
                Json::Array(a) if a.len() == 2 => {
                    RegOp::Cas { expected: self.intern(&a[0]), new: self.intern(&a[1]) }
                }
                v => return err(line, format!("a cas's `value` must be [expected, new], got {v}")),
            },
            other => {
                return err(line, format!("`f` must be read, write or cas for cas-register, got {other:?}"));
            }
        })
    }

    fn result(&mut self, _line: usize, op: &RegOp, obj: &Map<String, Json>) -> Result<RegRet, FormatError> {
        Ok(match op {
            RegOp::Read => RegRet::Read(self.intern(obj.get("value").unwrap_or(&Json::Null))),
            RegOp::Write(_) => RegRet::Written,
            // An ok cas swapped; one that did not is `fail`.
            RegOp::Cas { .. } => RegRet::Cas(true),
        })
    }
}

struct KvDialect;

fn string_value(line: usize, obj: &Map<String, Json>, what: &str) -> Result<String, FormatError> {
    match obj.get("value") {
        Some(Json::String(s)) => Ok(s.clone()),
        Some(v) => err(line, format!("{what} `value` must be a string, got {v}")),
        None => err(line, format!("{what} needs a string `value`")),
    }
}

impl Dialect for KvDialect {
    type Op = KvOp;
    type Ret = KvRet;

    fn has_keys(&self) -> bool {
        true
    }

    fn request(&mut self, line: usize, f: &str, obj: &Map<String, Json>) -> Result<KvOp, FormatError> {
        let key = match obj.get("key") {
            Some(Json::String(s)) => s.clone(),
            Some(Json::Number(n)) => n.to_string(),
            _ => return err(line, "missing `key`"),
        };
        Ok(match f {
            "get" => KvOp::Get(key),
            "put" => KvOp::Put(key, string_value(line, obj, "a put's")?),
            "append" => KvOp::Append(key, string_value(line, obj, "an append's")?),
            other => return err(line, format!("`f` must be get, put or append for kv, got {other:?}")),
        })
    }

    fn result(&mut self, line: usize, op: &KvOp, obj: &Map<String, Json>) -> Result<KvRet, FormatError> {
        Ok(match op {
            KvOp::Get(_) => match obj.get("value") {
                None | Some(Json::Null) => KvRet::Value(String::new()),
                Some(Json::String(s)) => KvRet::Value(s.clone()),
                Some(v) => {
                    return err(line, format!("an ok get's `value` must be a string or null, got {v}"));
                }
            },
            KvOp::Put(..) | KvOp::Append(..) => KvRet::Done,
        })
    }
}

struct StorageDialect {
    volumes: Option<Vec<VolumeSpec>>,
    /// Volumes mentioned, when none were declared.
    implicit: BTreeMap<u32, ()>,
}

fn field_u64(line: usize, obj: &Map<String, Json>, name: &str) -> Result<u64, FormatError> {
    match obj.get(name) {
        Some(Json::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().expect("checked")),
        Some(v) => err(line, format!("`{name}` must be a non-negative integer, got {v}")),
        None => err(line, format!("missing `{name}`")),
    }
}

fn values(line: usize, v: Option<&Json>, what: &str) -> Result<Vec<Value>, FormatError> {
    match v {
        Some(Json::Array(a)) => a
            .iter()
            .map(|x| match x.as_u64() {
                Some(n) => Ok(Value(n)),
                None => err(line, format!("{what} must be non-negative integers, got {x}")),
            })
            .collect(),
        Some(v) => err(line, format!("{what} must be an array of integers, got {v}")),
        None => err(line, format!("missing {what}")),
    }
}

impl Dialect for StorageDialect {
    type Op = Op;
    type Ret = OpResult;

    fn declaration(
        &mut self,
        line: usize,
        obj: &Map<String, Json>,
        ops_seen: bool,
    ) -> Result<bool, FormatError> {
        let Some(v) = obj.get("volumes") else { return Ok(false) };
        if ops_seen || self.volumes.is_some() {
            return err(line, "`volumes` must be declared once, before the first operation");
        }
        let Json::Array(a) = v else {
            return err(line, "`volumes` must be an array of {\"id\", \"blocks\"}");
        };
        let mut vols = Vec::new();
        for x in a {
            let Json::Object(m) = x else {
                return err(line, "`volumes` must be an array of {\"id\", \"blocks\"}");
            };
            let id = field_u64(line, m, "id")?;
            let id = u32::try_from(id).or_else(|_| err(line, "volume ids are 32-bit"))?;
            vols.push(VolumeSpec { id: VolumeId(id), blocks: field_u64(line, m, "blocks")? });
        }
        self.volumes = Some(vols);
        Ok(true)
    }

    fn request(&mut self, line: usize, f: &str, obj: &Map<String, Json>) -> Result<Op, FormatError> {
        if !matches!(f, "read" | "write") {
            return admin_request(line, f, obj);
        }
        let vol = field_u64(line, obj, "vol")?;
        let vol = u32::try_from(vol).or_else(|_| err(line, "volume ids are 32-bit"))?;
        if !VolumeId(vol).is_image() {
            // An image (S4) exists only after its snapshot: never an implicit volume.
            self.implicit.insert(vol, ());
        }
        let block = field_u64(line, obj, "block")?;
        Ok(match f {
            "read" => {
                let len = field_u64(line, obj, "len")?;
                let len = u32::try_from(len).or_else(|_| err(line, "`len` is 32-bit"))?;
                Op::Read { vol: VolumeId(vol), block, len }
            }
            "write" => Op::Write {
                vol: VolumeId(vol),
                block,
                values: values(line, obj.get("value"), "a write's `value`")?,
            },
            other => return err(line, format!("`f` must be read or write for storage, got {other:?}")),
        })
    }

    fn result(&mut self, line: usize, op: &Op, obj: &Map<String, Json>) -> Result<OpResult, FormatError> {
        if let Some(e) = obj.get("error") {
            let Some(kind) = e.as_str().and_then(error_kind_from_name) else {
                return err(
                    line,
                    format!(
                        "`error` must be no_such_volume, out_of_range, not_accessible, media_error, \
                         inconsistent, no_such_pair, pair_exists, in_pair, invalid_pair or \
                         wrong_state:<state>, got {e}"
                    ),
                );
            };
            return Ok(Err(kind));
        }
        Ok(match op {
            Op::Read { .. } => Ok(Reply::Values(values(line, obj.get("value"), "an ok read's `value`")?)),
            // S0: the catalog entries, in the serde shape of `model::CatalogEntry`.
            Op::ListBackups { .. } => {
                match serde_json::from_value(obj.get("value").cloned().unwrap_or(Json::Null)) {
                    Ok(entries) => Ok(Reply::Backups(entries)),
                    Err(e) => {
                        return err(
                            line,
                            format!("an ok list_backups' `value` must be its catalog entries: {e}"),
                        );
                    }
                }
            }
            _ => Ok(Reply::Done),
        })
    }
}

/// Writes a simulator history in this format (for `mirrorsim check`, for reports,
/// for users who want to look at one): a `volumes` line, then each operation's
/// invocation and completion in event order. At equal events completions come
/// first; an unknown outcome gets an `info` line only if its process invokes again.
pub fn storage_history_to_jsonl(history: &model::History, volumes: &[VolumeSpec]) -> String {
    let mut lines: Vec<(u64, u8, usize, Json)> = Vec::new(); // (event, completions first, op, line)
    // A process whose operation ended unknown may invoke again; its unknown operation
    // then gets an `info` line just before (where is immaterial: unknown is unknown).
    let mut unknown_open: BTreeMap<u32, (usize, Json)> = BTreeMap::new();
    for (i, h) in history.ops.iter().enumerate() {
        if let Some((j, f)) = unknown_open.remove(&h.process.0) {
            let info = serde_json::json!({ "process": h.process.0, "type": "info", "f": f });
            lines.push((h.invoke_event, 0, j, info));
        }
        let mut inv = Map::new();
        inv.insert("process".into(), Json::from(h.process.0));
        inv.insert("type".into(), Json::from("invoke"));
        let (vol, block) = (h.op.volume().map_or(0, |v| v.0), h.op.extent().0);
        match &h.op {
            Op::Read { len, .. } => {
                inv.insert("f".into(), Json::from("read"));
                inv.insert("vol".into(), Json::from(vol));
                inv.insert("block".into(), Json::from(block));
                inv.insert("len".into(), Json::from(*len));
            }
            Op::Write { values, .. } => {
                inv.insert("f".into(), Json::from("write"));
                inv.insert("vol".into(), Json::from(vol));
                inv.insert("block".into(), Json::from(block));
                inv.insert("value".into(), Json::from(values.iter().map(|v| v.0).collect::<Vec<u64>>()));
            }
            admin => admin_fields(admin, &mut inv),
        }
        inv.insert("time".into(), Json::from(h.invoke_ns));
        let f = inv["f"].clone();
        lines.push((h.invoke_event, 1, i, Json::Object(inv)));
        let mut done = Map::new();
        done.insert("process".into(), Json::from(h.process.0));
        done.insert("f".into(), f);
        match &h.completion {
            model::Completion::Returned(r) => {
                done.insert("type".into(), Json::from("ok"));
                match r {
                    Ok(Reply::Values(vs)) => {
                        done.insert("value".into(), Json::from(vs.iter().map(|v| v.0).collect::<Vec<u64>>()));
                    }
                    Ok(Reply::Done) => {}
                    Ok(Reply::Backups(entries)) => {
                        done.insert("value".into(), serde_json::to_value(entries).expect("plain data"));
                    }
                    Err(e) => {
                        done.insert("error".into(), Json::from(e.name()));
                    }
                }
            }
            model::Completion::Failed(why) => {
                done.insert("type".into(), Json::from("fail"));
                done.insert("error".into(), Json::from(why.clone()));
            }
            model::Completion::Unknown => {
                unknown_open.insert(h.process.0, (i, done["f"].clone()));
                continue;
            }
        }
        if let Some(t) = h.complete_ns {
            done.insert("time".into(), Json::from(t));
        }
        // Completions sort before invocations at the same event: the file format has
        // no ties, and a client's next invocation follows its completion.
        lines.push((h.complete_event.unwrap_or(u64::MAX), 0, i, Json::Object(done)));
    }
    lines.sort_by_key(|&(event, order, op, _)| (event, order, op));
    let mut out = String::new();
    let vols: Vec<Json> =
        volumes.iter().map(|v| serde_json::json!({ "id": v.id.0, "blocks": v.blocks })).collect();
    out.push_str(&serde_json::json!({ "volumes": vols }).to_string());
    out.push('\n');
    for (_, _, _, l) in lines {
        out.push_str(&l.to_string());
        out.push('\n');
    }
    out
}

/// The fields of an admin command's invocation line (S2): `f` is the command's name;
/// `pair`, `source`, `mirror`, `protected` and `event` as the command has them.
fn admin_fields(op: &Op, inv: &mut Map<String, Json>) {
    // S3 and S0 commands: their serde fields.
    if op.group().is_some() || is_backup_op(op) {
        return remote_fields(op, inv);
    }
    // S4: images are named by volume ids, not pairs.
    match op {
        Op::Snapshot { vol, image } => {
            inv.insert("f".into(), Json::from("snapshot"));
            inv.insert("vol".into(), Json::from(vol.0));
            inv.insert("image".into(), Json::from(image.0));
            return;
        }
        Op::DeleteSnapshot { image } => {
            inv.insert("f".into(), Json::from("delete_snapshot"));
            inv.insert("image".into(), Json::from(image.0));
            return;
        }
        _ => {}
    }
    let (f, pair) = match op {
        Op::PairCreate { pair, source, mirror } => {
            inv.insert("source".into(), Json::from(source.0));
            inv.insert("mirror".into(), Json::from(mirror.0));
            ("pair_create", pair)
        }
        Op::Split { pair } => ("split", pair),
        Op::Resync { pair } => ("resync", pair),
        Op::Restore { pair, protected } => {
            inv.insert("protected".into(), Json::from(*protected));
            ("restore", pair)
        }
        Op::PairDelete { pair } => ("pair_delete", pair),
        Op::PairEvent { pair, event } => {
            inv.insert("event".into(), Json::from(event.to_string()));
            ("pair_event", pair)
        }
        Op::Read { .. } | Op::Write { .. } | Op::Snapshot { .. } | Op::DeleteSnapshot { .. } => {
            unreachable!("host I/O and images have their own fields")
        }
        _ => unreachable!("S3 commands have their own fields"),
    };
    inv.insert("f".into(), Json::from(f));
    inv.insert("pair".into(), Json::from(pair.0));
}

/// The fields of an S3 command's invocation line: `f` is the command's name (the
/// snake_case name of the [`Op`] variant), `group`, and for `remote_pair_create` the
/// pair, the volumes, `mode`, `fence` and `split_brain`; for `remote_event`, `event`.
fn remote_fields(op: &Op, inv: &mut Map<String, Json>) {
    let Ok(Json::Object(tagged)) = serde_json::to_value(op) else { unreachable!("an Op is an object") };
    let (f, body) = tagged.into_iter().next().expect("externally tagged");
    inv.insert("f".into(), Json::from(f));
    if let Json::Object(fields) = body {
        inv.extend(fields);
    }
}

/// True for an S0 command or event (encoded by their serde fields).
fn is_backup_op(op: &Op) -> bool {
    matches!(
        op,
        Op::Backup { .. }
            | Op::RecordBackup { .. }
            | Op::ListBackups { .. }
            | Op::RestoreBackup { .. }
            | Op::BackupEvent { .. }
    )
}

/// Parses an S3 command's invocation (the inverse of [`remote_fields`]).
fn remote_request(line: usize, f: &str, obj: &Map<String, Json>) -> Result<Op, FormatError> {
    let mut fields = obj.clone();
    for k in ["type", "process", "time", "f"] {
        fields.remove(k);
    }
    let tagged = serde_json::json!({ f: Json::Object(fields) });
    serde_json::from_value(tagged).or_else(|e| err(line, format!("a malformed `{f}`: {e}")))
}

/// Parses an admin command's invocation (the inverse of [`admin_fields`]).
fn admin_request(line: usize, f: &str, obj: &Map<String, Json>) -> Result<Op, FormatError> {
    if matches!(
        f,
        "remote_pair_create"
            | "suspend"
            | "resume"
            | "takeover"
            | "failback"
            | "remote_event"
            | "backup"
            | "record_backup"
            | "list_backups"
            | "restore_backup"
            | "backup_event"
    ) {
        return remote_request(line, f, obj);
    }
    let vol = |name: &str| -> Result<VolumeId, FormatError> {
        let v = field_u64(line, obj, name)?;
        Ok(VolumeId(u32::try_from(v).or_else(|_| err(line, "volume ids are 32-bit"))?))
    };
    match f {
        "snapshot" => return Ok(Op::Snapshot { vol: vol("vol")?, image: vol("image")? }),
        "delete_snapshot" => return Ok(Op::DeleteSnapshot { image: vol("image")? }),
        _ => {}
    }
    let pair = field_u64(line, obj, "pair")?;
    let pair = model::PairId(u32::try_from(pair).or_else(|_| err(line, "pair ids are 32-bit"))?);
    Ok(match f {
        "pair_create" => Op::PairCreate { pair, source: vol("source")?, mirror: vol("mirror")? },
        "split" => Op::Split { pair },
        "resync" => Op::Resync { pair },
        "restore" => {
            let protected = match obj.get("protected") {
                None => false,
                Some(Json::Bool(b)) => *b,
                Some(other) => return err(line, format!("`protected` must be true or false, got {other}")),
            };
            Op::Restore { pair, protected }
        }
        "pair_delete" => Op::PairDelete { pair },
        "pair_event" => {
            let event = match obj.get("event").and_then(Json::as_str) {
                Some("copy_done") => model::PairEvent::CopyDone,
                Some("suspended") => model::PairEvent::Suspended,
                _ => return err(line, "`event` must be \"copy_done\" or \"suspended\""),
            };
            Op::PairEvent { pair, event }
        }
        other => {
            return err(
                line,
                format!(
                    "`f` must be read, write, pair_create, split, resync, restore, pair_delete, \
                     pair_event, remote_pair_create, suspend, resume, takeover, failback, \
                     remote_event, snapshot, delete_snapshot, backup, record_backup, list_backups, \
                     restore_backup or backup_event for storage, got {other:?}"
                ),
            );
        }
    })
}
