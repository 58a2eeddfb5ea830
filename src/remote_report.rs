//! S3 in the run report: the async recovery point of every takeover (judged by
//! `checker::prefix`) and the data-loss report.
//!
//! The **data-loss report** lists every acknowledged write that a takeover, a failback
//! or a split-brain resolution discarded, by operation, each under the command that
//! discarded it first:
//!
//! - `takeover`: a write to a primary, acknowledged, that the secondary did not hold
//!   when it took over (the recovery point of `checker::prefix`), unless a `resume`
//!   later makes the old primary authoritative again;
//! - `failback`: a write acknowledged by the old primary after the takeover completed
//!   (and before the failback was invoked): the reverse resync overwrites it
//!   (`discard_primary`, or no split brain);
//! - `resume`: a resume of a swapped group (`discard_secondary`, or the old primary
//!   wrote nothing) overwrites what hosts wrote to the secondary after the takeover.
//!
//! A command that failed discards nothing; one with an unknown outcome is counted
//! (it may have run). The report is derived from the history alone, like the checks.
//! For sync with fence `data` it is empty (tests/remote.rs asserts it).

use crate::runner::{RunReport, neighbourhood};
use crate::scenario::Scenario;
use crate::scenario::format::ActionDef;
use checker::prefix::{self, LostWrite, PrefixReport};
use model::{Completion, ErrorKind, GroupId, History, Op, Value, VolumeId};

/// The command that discarded a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiscardedBy {
    Takeover,
    Failback,
    Resume,
}

impl DiscardedBy {
    pub fn name(self) -> &'static str {
        match self {
            DiscardedBy::Takeover => "takeover",
            DiscardedBy::Failback => "failback",
            DiscardedBy::Resume => "resume",
        }
    }
}

/// One acknowledged write that was discarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discarded {
    pub by: DiscardedBy,
    pub group: GroupId,
    /// The history index of the discarding command.
    pub command: usize,
    pub write: LostWrite,
}

/// The S3 part of a run's report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteReport {
    /// Every judged takeover with its recovery point (empty if the prefix check failed).
    pub recovery: PrefixReport,
    pub data_loss: Vec<Discarded>,
}

impl RemoteReport {
    pub fn is_empty(&self) -> bool {
        self.recovery.windows.is_empty() && self.recovery.unjudged.is_empty() && self.data_loss.is_empty()
    }
}

fn failed(c: &Completion) -> bool {
    matches!(c, Completion::Failed(_) | Completion::Returned(Err(_)))
}

/// Computes the S3 report of a history (empty without remote pairs).
pub fn analyse(h: &History) -> RemoteReport {
    if !h.ops.iter().any(|o| matches!(o.op, Op::RemotePairCreate { .. })) {
        return RemoteReport::default();
    }
    let recovery = prefix::check(h).unwrap_or_default();
    let mut data_loss = Vec::new();
    for (t, o) in h.ops.iter().enumerate() {
        let Op::Takeover { group } = o.op else { continue };
        let (Completion::Returned(Ok(_)), Some(done)) = (&o.completion, o.complete_ns) else { continue };
        // The roles at the takeover: (primary, secondary) of every pair of the group,
        // swapped once per earlier failback.
        let mut roles: Vec<(VolumeId, VolumeId)> = Vec::new();
        for x in &h.ops[..t] {
            match x.op {
                Op::RemotePairCreate { primary, secondary, group: g, .. }
                    if g == group && matches!(x.completion, Completion::Returned(Ok(_))) =>
                {
                    roles.push((primary, secondary));
                }
                Op::Failback { group: g } if g == group && !failed(&x.completion) => {
                    roles.iter_mut().for_each(|r| *r = (r.1, r.0));
                }
                _ => {}
            }
        }
        let next = h.ops.iter().enumerate().skip(t + 1).find(|(_, x)| {
            matches!(x.op, Op::Failback { group: g } | Op::Resume { group: g } if g == group)
                && !failed(&x.completion)
        });
        // Unless a resume makes the old primary authoritative again, what the
        // secondary lacked at the takeover is gone.
        if !next.is_some_and(|(_, x)| matches!(x.op, Op::Resume { .. }))
            && let Some(w) = recovery.windows.iter().find(|w| w.takeover == t)
        {
            for l in &w.lost {
                data_loss.push(Discarded { by: DiscardedBy::Takeover, group, command: t, write: l.clone() });
            }
        }
        let Some((c, cmd)) = next else { continue };
        let (by, overwritten): (DiscardedBy, Vec<VolumeId>) = match cmd.op {
            Op::Failback { .. } => (DiscardedBy::Failback, roles.iter().map(|r| r.0).collect()),
            _ => (DiscardedBy::Resume, roles.iter().map(|r| r.1).collect()),
        };
        for (i, x) in h.ops.iter().enumerate() {
            let Op::Write { vol, block, values } = &x.op else { continue };
            let (Completion::Returned(Ok(_)), Some(ack_ns)) = (&x.completion, x.complete_ns) else {
                continue;
            };
            if overwritten.contains(vol) && x.invoke_ns >= done && x.invoke_ns < cmd.invoke_ns {
                let write = LostWrite {
                    index: i,
                    process: x.process,
                    vol: *vol,
                    block: *block,
                    len: values.len() as u64,
                    value: values[0],
                    ack_ns,
                };
                data_loss.push(Discarded { by, group, command: c, write });
            }
        }
    }
    data_loss.sort_by_key(|d| (d.command, d.write.index));
    RemoteReport { recovery, data_loss }
}

/// The name of group `g` in the scenario (groups are numbered in order of their first
/// `remote_pair_create`).
/// The history linearizability judges when async groups took over: without the
/// reads whose value the model cannot know. After a takeover an async secondary holds
/// a prefix of its primary's acknowledged writes (the prefix check judges it), the
/// model's image is only its upper bound: reads of the group's secondaries that may
/// come after its first takeover, and of its primaries that may come after its first
/// failback (the reverse resync copies that prefix over them), are left out, and so
/// are the reads of their images taken after that. Writes, commands and every other
/// read stay.
pub fn linearizable_part(h: &History) -> std::borrow::Cow<'_, History> {
    // Per async group: its (primary, secondary) volumes.
    let mut groups: std::collections::BTreeMap<GroupId, Vec<(VolumeId, VolumeId)>> = Default::default();
    for o in &h.ops {
        if let Op::RemotePairCreate { primary, secondary, group, mode: model::RemoteMode::Async, .. } = o.op
            && !failed(&o.completion)
        {
            groups.entry(group).or_default().push((primary, secondary));
        }
    }
    // Per volume: from when its reads are not judged.
    let mut from: std::collections::BTreeMap<VolumeId, u64> = Default::default();
    for (g, pairs) in &groups {
        let first = |takeover: bool| {
            h.ops
                .iter()
                .filter(|o| !failed(&o.completion))
                .filter(|o| match o.op {
                    Op::Takeover { group } => takeover && group == *g,
                    Op::Failback { group } => !takeover && group == *g,
                    _ => false,
                })
                .map(|o| o.invoke_ns)
                .min()
        };
        for (at, takeover) in [(first(true), true), (first(false), false)] {
            let Some(at) = at else { continue };
            for &(p, s) in pairs {
                for v in if takeover { vec![s] } else { vec![p, s] } {
                    let e = from.entry(v).or_insert(at);
                    *e = (*e).min(at);
                }
            }
        }
    }
    // S4: an image of such a volume taken after that point holds what it held (a
    // snapshot of an async secondary is refused, but its primary after a failback
    // holds the prefix the reverse resync copied): its reads are not judged either,
    // from the snapshot's invocation on.
    for o in &h.ops {
        if let Op::Snapshot { vol, image } = o.op
            && !failed(&o.completion)
            && let Some(&at) = from.get(&vol)
            && o.complete_ns.is_none_or(|c| c > at)
        {
            let e = from.entry(image).or_insert(o.invoke_ns);
            *e = (*e).min(o.invoke_ns);
        }
    }
    let unjudged = |o: &model::HistoryOp| match o.op {
        Op::Read { vol, .. } => from.get(&vol).is_some_and(|&at| o.complete_ns.is_none_or(|c| c > at)),
        _ => false,
    };
    if !h.ops.iter().any(unjudged) {
        return std::borrow::Cow::Borrowed(h);
    }
    std::borrow::Cow::Owned(History { ops: h.ops.iter().filter(|o| !unjudged(o)).cloned().collect() })
}

pub fn group_name(sc: &Scenario, g: GroupId) -> String {
    let mut names: Vec<&str> = Vec::new();
    for t in &sc.file.timeline {
        if let ActionDef::RemotePairCreate { group, .. } = &t.action
            && !names.contains(&group.as_str())
        {
            names.push(group);
        }
    }
    names.get(g.0 as usize).map_or_else(|| g.to_string(), |n| n.to_string())
}

fn vol_name(sc: &Scenario, v: VolumeId) -> String {
    sc.config.volume(v).map_or_else(|| v.to_string(), |i| i.name.clone())
}

/// The prefix check for the runner: a violation as (summary, operations around it).
///
/// The check also judges the answers to the S3 commands (see [`commands`]): a prefix
/// of nothing is a prefix, so an engine that refused every group would pass the data
/// judgement alone.
pub fn judge(sc: &Scenario, r: &sim::RunResult, notes: &mut Vec<String>) -> Result<(), (String, String)> {
    commands(sc, &r.history)?;
    match prefix::check(&r.history) {
        Ok(rep) => {
            if !rep.unjudged.is_empty() {
                notes.push(format!(
                    "remote_prefix: {} takeover(s) after a failback of their group were not judged (the roles swapped): #{:?}",
                    rep.unjudged.len(),
                    rep.unjudged
                ));
            }
            Ok(())
        }
        Err(v) => {
            let summary = format!(
                "group {:?}: the secondary {:?} is not a prefix of the primary's acknowledged writes: {v}",
                group_name(sc, v.group),
                vol_name(sc, v.vol)
            );
            Err((summary, neighbourhood(&r.history, v.read, v.vol, Some(v.block), sc)))
        }
    }
}

/// Judges the S3 commands and events of a history on their own: the `remote_pair_create`,
/// `suspend`, `resume`, `takeover` and `failback` commands with the engine's
/// `remote_event` announcements, checked for linearizability against the model (the
/// remote state machine depends on nothing else but which side wrote since a
/// suspension: split brain). So the writes to volumes of remote pairs that may have
/// taken effect (acknowledged, or unknown) come too, each reduced to one block of
/// one value, as their data is irrelevant here: the model then has a handful of
/// states, and the whole history is judged at once, split brain included (the
/// per-block pass of the full check cannot judge it, and its whole-object pass runs
/// out of budget on long histories). A refused write has no effect and is left out,
/// as is a `remote_pair_create` refused because a volume is in a local pair, holds
/// backups or is inconsistent (what this projection does not see).
pub fn commands(sc: &Scenario, h: &History) -> Result<(), (String, String)> {
    let remote_vols: std::collections::BTreeSet<VolumeId> = h
        .ops
        .iter()
        .filter_map(|o| match o.op {
            Op::RemotePairCreate { primary, secondary, .. } => Some([primary, secondary]),
            _ => None,
        })
        .flatten()
        .collect();
    let write = |o: &model::HistoryOp| match &o.op {
        Op::Write { vol, .. }
            if remote_vols.contains(vol)
                && matches!(o.completion, Completion::Returned(Ok(_)) | Completion::Unknown) =>
        {
            let mut o = o.clone();
            o.op = Op::Write { vol: *vol, block: 0, values: vec![Value::pack(1, 1, 0)] };
            Some(o)
        }
        _ => None,
    };
    let outside = |o: &model::HistoryOp| {
        matches!(
            (&o.op, &o.completion),
            (
                Op::RemotePairCreate { .. },
                Completion::Returned(Err(ErrorKind::InPair
                    | ErrorKind::HasBackups
                    | ErrorKind::Inconsistent))
            )
        )
    };
    let ops: Vec<model::HistoryOp> = h
        .ops
        .iter()
        .filter_map(|o| {
            let command = matches!(
                o.op,
                Op::RemotePairCreate { .. }
                    | Op::Suspend { .. }
                    | Op::Resume { .. }
                    | Op::Takeover { .. }
                    | Op::Failback { .. }
                    | Op::RemoteEvent { .. }
            ) && !outside(o);
            if command { Some(o.clone()) } else { write(o) }
        })
        .collect();
    if ops.is_empty() {
        return Ok(());
    }
    match crate::linearizability::check(&History { ops }, &sc.config.volume_specs()) {
        crate::linearizability::Outcome::Violation(explanation) => Err((
            format!("the answers to the remote commands do not follow the model: {explanation}"),
            String::new(),
        )),
        _ => Ok(()),
    }
}

/// The report as text lines: one per takeover, then one per discarded write (at most
/// `max_writes` of them: `mirrorsim run` shows 10, `mirrorsim replay` all).
pub fn lines(r: &RunReport, sc: &Scenario, max_writes: usize) -> Vec<String> {
    let rep = &r.remote;
    let mut out = Vec::new();
    for w in &rep.recovery.windows {
        out.push(format!(
            "recovery point: group {:?} takeover #{} at {}: {} acknowledged write(s) lost, {} of time lost, {} secondary block(s) observed{}",
            group_name(sc, w.group),
            w.takeover,
            crate::cli::fmt_ns(w.takeover_ns),
            w.lost.len(),
            crate::cli::fmt_ns(w.time_lost_ns),
            w.observed_blocks,
            if w.unobserved > 0 { format!(", {} write(s) not observed", w.unobserved) } else { String::new() }
        ));
    }
    if rep.recovery.windows.is_empty() && rep.data_loss.is_empty() {
        return out;
    }
    out.push(format!("data loss: {} acknowledged write(s) discarded", rep.data_loss.len()));
    for d in rep.data_loss.iter().take(max_writes) {
        out.push(format!(
            "  discarded by {} #{} (group {:?}): write #{} p{} {}:{} ({} block(s), {}) acknowledged at {}",
            d.by.name(),
            d.command,
            group_name(sc, d.group),
            d.write.index,
            d.write.process.0,
            vol_name(sc, d.write.vol),
            d.write.block,
            d.write.len,
            d.write.value,
            crate::cli::fmt_ns(d.write.ack_ns)
        ));
    }
    if rep.data_loss.len() > max_writes {
        out.push(format!(
            "  ... and {} more (`{}` lists them all)",
            rep.data_loss.len() - max_writes,
            r.replay_command()
        ));
    }
    out
}

/// The report as JSON (`--format json`).
pub fn json(r: &RunReport, sc: &Scenario) -> serde_json::Value {
    let rep = &r.remote;
    let recovery: Vec<serde_json::Value> = rep
        .recovery
        .windows
        .iter()
        .map(|w| {
            serde_json::json!({
                "group": group_name(sc, w.group),
                "takeover": w.takeover,
                "takeover_ns": w.takeover_ns,
                "writes_lost": w.lost.len(),
                "lost": w.lost.iter().map(|l| l.index).collect::<Vec<_>>(),
                "time_lost_ns": w.time_lost_ns,
                "observed_blocks": w.observed_blocks,
                "unobserved_writes": w.unobserved,
            })
        })
        .collect();
    let data_loss: Vec<serde_json::Value> = rep
        .data_loss
        .iter()
        .map(|d| {
            serde_json::json!({
                "by": d.by.name(),
                "command": d.command,
                "group": group_name(sc, d.group),
                "op": d.write.index,
                "process": d.write.process.0,
                "volume": vol_name(sc, d.write.vol),
                "block": d.write.block,
                "blocks": d.write.len,
                "value": d.write.value.to_string(),
                "ack_ns": d.write.ack_ns,
            })
        })
        .collect();
    serde_json::json!({ "recovery": recovery, "unjudged_takeovers": rep.recovery.unjudged, "data_loss": data_loss })
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Completion, Fence, HistoryOp, ProcessId, Reply, SplitBrainPolicy, Value};

    fn op(op: Op, invoke_ns: u64, complete_ns: u64, result: model::OpResult) -> HistoryOp {
        HistoryOp {
            process: ProcessId(0),
            op,
            invoke_ns,
            complete_ns: Some(complete_ns),
            completion: Completion::Returned(result),
            invoke_event: 0,
            complete_event: None,
        }
    }

    #[test]
    fn reads_of_images_of_async_volumes_taken_after_a_failback_are_not_judged() {
        let (p, s, g) = (VolumeId(0), VolumeId(1), GroupId(0));
        let img = |n| VolumeId(VolumeId::IMAGE_BASE + n);
        let read = |vol, at| {
            op(Op::Read { vol, block: 0, len: 1 }, at, at + 1, Ok(Reply::Values(vec![Value::ZERO])))
        };
        let done = Ok(Reply::Done);
        let h = History {
            ops: vec![
                op(
                    Op::RemotePairCreate {
                        pair: model::PairId(0),
                        primary: p,
                        secondary: s,
                        group: g,
                        mode: model::RemoteMode::Async,
                        fence: Fence::Never,
                        split_brain: SplitBrainPolicy::Refuse,
                    },
                    0,
                    1,
                    done.clone(),
                ),
                op(Op::Snapshot { vol: p, image: img(0) }, 10, 11, done.clone()),
                op(Op::Takeover { group: g }, 20, 21, done.clone()),
                op(Op::Failback { group: g }, 30, 31, done.clone()),
                op(Op::Snapshot { vol: p, image: img(1) }, 40, 41, done.clone()),
                read(img(0), 50),
                read(img(1), 51),
                read(p, 52),
            ],
        };
        let judged = linearizable_part(&h);
        let reads: Vec<VolumeId> = judged
            .ops
            .iter()
            .filter(|&o| matches!(o.op, Op::Read { .. }))
            .map(|o| o.op.volume().unwrap())
            .collect();
        assert_eq!(reads, vec![img(0)], "the image taken before the takeover is judged, the later one not");
        assert_eq!(
            judged.ops.iter().filter(|o| matches!(o.op, Op::Snapshot { .. })).count(),
            2,
            "commands stay"
        );
    }
}
