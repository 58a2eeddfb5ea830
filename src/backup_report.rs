//! S0 (backup with a catalog): what the run report says about backups, read from the
//! history.

use model::{BackupEvent, BackupId, BackupState, Completion, ErrorKind, History, Op, Region};
use sim::RunResult;
use std::collections::BTreeMap;

/// The destination region of backup `id`: from the `backup` command answered done
/// under that id (ids are never reused), else from the first naming it (one whose
/// answer was lost may still have created it).
pub fn backup_destination(h: &History, id: BackupId) -> Option<Region> {
    let mut found = None;
    for o in &h.ops {
        if let Op::Backup { backup, dst, .. } = &o.op
            && *backup == id
        {
            if matches!(o.completion, model::Completion::Returned(Ok(_))) {
                return Some(*dst);
            }
            found = found.or(Some(*dst));
        }
    }
    found
}

/// One backup of a run, as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupLine {
    pub backup: BackupId,
    pub src: Region,
    pub dst: Region,
    /// When the host sent the `backup` command that created it.
    pub invoked_ns: u64,
    /// The catalog state its last announced event left (`copying` if none).
    pub state: BackupState,
    /// When the entry became `Complete` (its record durable), if it did.
    pub complete_ns: Option<u64>,
    /// Blocks the array's copy wrote (`None` if no copy ended in this incarnation: an
    /// engine that does not report it, or a copy a crash cut).
    pub blocks_copied: Option<u64>,
    /// Restores of it answered done, and failed.
    pub restores_done: u32,
    pub restores_failed: u32,
}

/// The backups of a run that took effect (a `backup` answered done, or one whose
/// answer was lost but which the array announced), in id order.
pub fn analyse(r: &RunResult) -> Vec<BackupLine> {
    let h = &r.history;
    let mut out: BTreeMap<BackupId, BackupLine> = BTreeMap::new();
    for o in &h.ops {
        if let Op::Backup { backup, src, dst } = o.op {
            let done = matches!(o.completion, Completion::Returned(Ok(_)));
            let announced =
                h.ops.iter().any(|e| matches!(e.op, Op::BackupEvent { backup: b, .. } if b == backup));
            if (done || announced) && !out.contains_key(&backup) {
                out.insert(
                    backup,
                    BackupLine {
                        backup,
                        src,
                        dst,
                        invoked_ns: o.invoke_ns,
                        state: BackupState::Copying,
                        complete_ns: None,
                        blocks_copied: None,
                        restores_done: 0,
                        restores_failed: 0,
                    },
                );
            }
        }
    }
    for o in &h.ops {
        match (&o.op, &o.completion) {
            (Op::BackupEvent { backup, event }, _) => {
                let Some(l) = out.get_mut(backup) else { continue };
                match event {
                    BackupEvent::Complete => {
                        l.state = BackupState::Complete;
                        l.complete_ns = Some(o.invoke_ns);
                    }
                    BackupEvent::Failed => l.state = BackupState::Failed,
                    BackupEvent::RestoreFailed { .. } => {}
                }
            }
            (Op::RestoreBackup { backup, .. }, Completion::Returned(res)) => {
                let Some(l) = out.get_mut(backup) else { continue };
                match res {
                    Ok(_) => l.restores_done += 1,
                    Err(ErrorKind::MediaError) => l.restores_failed += 1,
                    Err(_) => {}
                }
            }
            _ => {}
        }
    }
    for c in &r.backup_copies {
        if let Some(l) = out.get_mut(&c.backup) {
            l.blocks_copied = Some(l.blocks_copied.unwrap_or(0) + c.blocks);
        }
    }
    out.into_values().collect()
}

/// The run report's lines, one per backup: regions, state, blocks copied, time from
/// the command to `Complete`, restores.
pub fn lines(r: &RunResult) -> Vec<String> {
    analyse(r)
        .iter()
        .map(|l| {
            let copied = l.blocks_copied.map_or("-".to_string(), |b| b.to_string());
            let time = match l.complete_ns {
                Some(t) => format!(", complete after {}", crate::cli::fmt_ns(t.saturating_sub(l.invoked_ns))),
                None => String::new(),
            };
            let restores = if l.restores_done + l.restores_failed > 0 {
                format!(", restores {} done {} failed", l.restores_done, l.restores_failed)
            } else {
                String::new()
            };
            format!(
                "catalog {} {} -> {} {}, copied {} blocks{time}{restores}",
                l.backup, l.src, l.dst, l.state, copied
            )
        })
        .collect()
}

/// The same as JSON values (`--format json`, key `catalog`).
pub fn json(r: &RunResult) -> Vec<serde_json::Value> {
    analyse(r)
        .iter()
        .map(|l| {
            serde_json::json!({
                "backup": l.backup.0,
                "src": l.src.to_string(),
                "dst": l.dst.to_string(),
                "state": l.state.name(),
                "blocks_copied": l.blocks_copied,
                "invoked_ns": l.invoked_ns,
                "complete_ns": l.complete_ns,
                "to_complete_ns": l.complete_ns.map(|t| t.saturating_sub(l.invoked_ns)),
                "restores_done": l.restores_done,
                "restores_failed": l.restores_failed,
            })
        })
        .collect()
}
