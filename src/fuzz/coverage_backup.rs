//! S0 facts for the coverage report (a child of `coverage`): which backup commands ran
//! with which outcome, the catalog events, and the races S0 exists to explore:
//! - `backup command <f> -> <outcome>` for `backup`, `record_backup`, `list_backups`
//!   and `restore_backup`;
//! - `backup event <event>`: `complete`, `failed`, `restore_failed`;
//! - `fault <kind> during backup copy`: a fault hit the array of a backup between its
//!   answer and the end of its copy (its `complete` or `failed` event, or the run's
//!   end); `fault <kind> during restore_backup`: between a restore's invocation and
//!   its answer;
//! - `backup copy with host writes to the source` and `restore_backup with host
//!   writes to the target's volume`: a host write invoked in those windows.

use super::{RunFacts, fault_arrays, fault_name};
use model::{ArrayId, BackupEvent, BackupId, Completion, Op, Region, VolumeId};
use sim::{RunResult, SimConfig};
use std::collections::BTreeMap;

/// A window of simulated time on one array, and the volume host writes are looked for.
struct Window {
    kind: &'static str,
    array: Option<ArrayId>,
    vol: VolumeId,
    from: u64,
    to: u64,
}

pub(super) fn facts(config: &SimConfig, result: &RunResult, facts: &mut RunFacts) {
    let mut hit = |f: String| *facts.entry(f).or_insert(0) += 1;
    let array_of = |v: VolumeId| config.volumes.iter().find(|x| x.id == v).map(|x| x.array);
    let h = &result.history.ops;
    let end = result.sim_ns;
    let mut copies: BTreeMap<BackupId, (Region, u64)> = BTreeMap::new();
    let mut windows = Vec::new();
    for o in h {
        let name = match &o.op {
            Op::Backup { .. } => "backup",
            Op::RecordBackup { .. } => "record_backup",
            Op::ListBackups { .. } => "list_backups",
            Op::RestoreBackup { .. } => "restore_backup",
            Op::BackupEvent { event, backup } => {
                let e = match event {
                    BackupEvent::Complete => "complete",
                    BackupEvent::Failed => "failed",
                    BackupEvent::RestoreFailed { .. } => "restore_failed",
                };
                hit(format!("backup event {e}"));
                if !matches!(event, BackupEvent::RestoreFailed { .. })
                    && let Some((src, from)) = copies.remove(backup)
                {
                    let array = array_of(src.vol);
                    windows.push(Window { kind: "backup copy", array, vol: src.vol, from, to: o.invoke_ns });
                }
                continue;
            }
            _ => continue,
        };
        hit(format!("backup command {name} -> {}", super::outcome_name(&o.completion)));
        match (&o.op, &o.completion, o.complete_ns) {
            (Op::Backup { backup, src, .. }, Completion::Returned(Ok(_)), Some(t)) => {
                copies.insert(*backup, (*src, t));
            }
            (Op::RestoreBackup { to, .. }, _, t) => windows.push(Window {
                kind: "restore_backup",
                array: array_of(to.vol),
                vol: to.vol,
                from: o.invoke_ns,
                to: t.unwrap_or(end),
            }),
            _ => {}
        }
    }
    for (src, from) in copies.into_values() {
        windows.push(Window { kind: "backup copy", array: array_of(src.vol), vol: src.vol, from, to: end });
    }
    for w in &windows {
        let writes = h.iter().any(|o| {
            o.op.is_write() && o.op.volume() == Some(w.vol) && (w.from..w.to).contains(&o.invoke_ns)
        });
        if writes {
            match w.kind {
                "backup copy" => hit("backup copy with host writes to the source".into()),
                _ => hit("restore_backup with host writes to the target's volume".into()),
            }
        }
    }
    for e in &result.trace.notable {
        let Some(name) = fault_name(&e.kind) else { continue };
        let arrays = fault_arrays(&e.kind, config);
        for w in &windows {
            let touches = match (&arrays, w.array) {
                (None, _) => true,
                (Some(list), Some(a)) => list.contains(&a),
                (Some(_), None) => false,
            };
            if touches && (w.from..w.to).contains(&e.time_ns) {
                hit(format!("fault {name} during {}", w.kind));
            }
        }
    }
}
