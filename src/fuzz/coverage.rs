//! "Sometimes" properties: which combinations of pair state, command, array event and
//! fault a campaign reached, with counts, and the list of important ones a CI
//! campaign must reach (`mirrorsim fuzz --require-coverage`).
//!
//! A run's facts are computed after it ends, from what every run keeps: the client
//! history (admin commands with their outcomes, the engine's pair events) and the
//! trace's notable events (faults and repairs, with their simulated time). The pair
//! states are tracked from the history: a command that returned `done` moves its
//! pair at its completion, an engine event at its instant. That is the client's view,
//! close enough for coverage (a command's effect lies between its invocation and its
//! completion).
//!
//! Fact names (one line each in the report):
//! - `command <f> in <state> -> <outcome>`: an admin command invoked while its pair
//!   was in `<state>` (`none` when no such pair), and what it returned (`ok`, an
//!   error name, or `unknown`);
//! - `event <event> in <state>`: an engine-announced transition, and the state it
//!   left;
//! - `fault <kind> in <state>`: a fault hit an array holding a pair in `<state>`
//!   (`no pair` when none); `fault <kind> during <copy> copy`: a background copy of
//!   that kind was running on an affected array;
//! - `fault <kind>`: the fault happened at all;
//! - S0's facts (`backup command ...`, `backup event ...`, `fault <kind> during backup
//!   copy`, ...): see `coverage_backup.rs`;
//! - S3's facts (`remote command <f> in <group state> -> <outcome>`, `remote event ...`,
//!   `remote fault <kind> in <group state>`, `remote write to the <side> ...`,
//!   `remote snapshot of the <side> ...`): see
//!   `coverage_remote.rs`.
//!
//! Each profile has its list of important combinations ([`important`]): `standard`
//! insists on [`IMPORTANT`]; `full` on [`IMPORTANT_FULL`], the S3 and S0 races that
//! only its seeds reach (the standard ones are the standard campaign's to reach).

#[path = "coverage_backup.rs"]
mod backup;
#[path = "coverage_remote.rs"]
mod remote;

use model::{ArrayId, Completion, Op, OpResult, PairEvent, PairId, PairState, Reply, VolumeId};
use serde_json::json;
use sim::trace::TraceKind;
use sim::{RunResult, SimConfig};
use std::collections::{BTreeMap, BTreeSet};

use super::generate::Profile;

/// The combinations a campaign of the standard profile must reach (`--require-coverage`):
/// the races the harness exists to explore. Each is reached by the CI campaign's seed
/// range many times over; an entry missing means the generator or the engine lost
/// the ability to get there.
pub const IMPORTANT: &[&str] = &[
    "fault array_crash during initial copy",
    "fault array_crash during resync copy",
    "fault array_crash during restore copy",
    "fault array_crash during recovery copy",
    "fault array_crash in mirrored",
    "fault array_crash in split",
    "fault host_crash in copy",
    "fault link_down in resync",
    "fault link_down in restore",
    "fault media_error in mirrored",
    "fault media_error in split",
    "command split in mirrored -> ok",
    "command split in copy -> wrong_state:copy",
    "command resync in split -> ok",
    "command resync in suspended -> ok",
    "command restore in split -> ok",
    "command pair_delete in copy -> ok",
    "command pair_delete in mirrored -> ok",
    "event copy_done in copy",
    "event copy_done in resync",
    "event copy_done in restore",
    "event copy_done in restore_protected",
    "event suspended in mirrored",
];

/// The combinations a campaign of the `full` profile must reach: the S3 and S0 races
/// only its seeds explore (the standard ones are the standard campaign's). Each is
/// reached by CI's `full` seed range several times over.
pub const IMPORTANT_FULL: &[&str] = &[
    "remote command suspend in pair -> ok",
    "remote command resume in suspended -> ok",
    "remote command resume in suspended_error -> ok",
    "remote command resume in swapped -> split_brain",
    "remote command takeover in pair -> ok",
    "remote command takeover in resync -> ok",
    "remote command takeover in suspended_error -> ok",
    "remote command failback in swapped -> ok",
    "remote event link_lost in pair",
    "remote event link_lost in resync",
    "remote event link_lost in swapped",
    "remote event synced in resync",
    "remote fault array_crash in resync",
    "remote fault array_crash in swapped",
    "remote fault media_error in pair",
    "remote write to the secondary in swapped -> ok",
    "remote write to the primary in suspended_error -> fenced",
    "fault array_crash during remote_resync copy",
    "fault link_down during remote_resync copy",
    "fault array_crash during remote_failback copy",
    "backup event complete",
    "backup copy with host writes to the source",
];

/// The important combinations of a profile's campaigns.
pub fn important(profile: Profile) -> &'static [&'static str] {
    match profile {
        Profile::Standard => IMPORTANT,
        Profile::Full => IMPORTANT_FULL,
    }
}

/// The facts one run reached, each with how often.
pub type RunFacts = BTreeMap<String, u64>;

/// A campaign's coverage: per fact, the seeds that reached it and the total count.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    pub facts: BTreeMap<String, (u64, u64)>,
    pub runs: u64,
    /// The campaign's profile: which combinations are important ([`important`]).
    pub profile: Profile,
}

impl Coverage {
    pub fn add(&mut self, run: &RunFacts) {
        self.runs += 1;
        for (fact, &n) in run {
            let e = self.facts.entry(fact.clone()).or_default();
            e.0 += 1;
            e.1 += n;
        }
    }

    /// The important combinations never reached.
    pub fn missing(&self) -> Vec<&'static str> {
        important(self.profile).iter().copied().filter(|f| !self.facts.contains_key(*f)).collect()
    }

    /// The report: every fact reached with its seeds and occurrences, the important
    /// ones flagged, and the important ones missing.
    pub fn text(&self) -> String {
        let important: BTreeSet<&str> = important(self.profile).iter().copied().collect();
        let mut out = format!("coverage over {} runs (seeds reaching it, occurrences):\n", self.runs);
        for (fact, (seeds, n)) in &self.facts {
            let mark = if important.contains(fact.as_str()) { "*" } else { " " };
            out.push_str(&format!("  {mark} {fact:<58} {seeds:>7} {n:>9}\n"));
        }
        let missing = self.missing();
        if missing.is_empty() {
            out.push_str(&format!(
                "  all {} important combinations (*) of the {} profile reached\n",
                important.len(),
                self.profile.name()
            ));
        } else {
            out.push_str(&format!("  NOT REACHED ({} important):\n", missing.len()));
            for m in missing {
                out.push_str(&format!("    {m}\n"));
            }
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let facts: Vec<serde_json::Value> = self
            .facts
            .iter()
            .map(|(f, (seeds, n))| json!({ "fact": f, "seeds": seeds, "count": n }))
            .collect();
        json!({
            "runs": self.runs,
            "profile": self.profile.name(),
            "facts": facts,
            "important_missing": self.missing()
        })
    }
}

/// A fault kind's name in the facts.
fn fault_name(kind: &TraceKind) -> Option<&'static str> {
    Some(match kind {
        TraceKind::ArrayCrash { .. } => "array_crash",
        TraceKind::HostCrash { .. } => "host_crash",
        TraceKind::LinkDown { .. } => "link_down",
        TraceKind::MediaFault { .. } => "media_error",
        TraceKind::Drop { .. } => "drop",
        TraceKind::Send { .. } => "duplicate",
        _ => return None,
    })
}

/// The arrays a fault touches (`None`: every array, as for a host crash).
fn fault_arrays(kind: &TraceKind, config: &SimConfig) -> Option<Vec<ArrayId>> {
    let link_arrays = |link: u32| -> Vec<ArrayId> {
        config.links.get(link as usize).map_or(Vec::new(), |l| {
            l.ends
                .iter()
                .filter_map(|e| match e {
                    sim::Endpoint::Array(a) => Some(*a),
                    sim::Endpoint::Host(_) => None,
                })
                .collect()
        })
    };
    match kind {
        TraceKind::ArrayCrash { array, .. } | TraceKind::MediaFault { array, .. } => {
            Some(vec![ArrayId(*array)])
        }
        TraceKind::LinkDown { link } | TraceKind::Drop { link, .. } | TraceKind::Send { link, .. } => {
            Some(link_arrays(*link))
        }
        _ => None,
    }
}

/// One pair as the client sees it.
#[derive(Clone, Copy)]
struct Pair {
    state: PairState,
    array: Option<ArrayId>,
}

fn state_name(p: Option<&Pair>) -> &'static str {
    p.map_or("none", |p| p.state.name())
}

/// What a command that returned `done` does to its pair (`None`: deleted).
fn after_command(op: &Op, before: Option<PairState>) -> Option<Option<PairState>> {
    Some(match op {
        Op::PairCreate { .. } => Some(PairState::Copy),
        Op::Split { .. } => Some(PairState::Split),
        Op::Resync { .. } => Some(PairState::Resync),
        Op::Restore { protected: false, .. } => Some(PairState::Restore),
        Op::Restore { protected: true, .. } => Some(PairState::RestoreProtected),
        Op::PairDelete { .. } => None,
        Op::PairEvent { event: PairEvent::Suspended, .. } => Some(PairState::Suspended),
        Op::PairEvent { event: PairEvent::CopyDone, .. } => Some(match before? {
            PairState::RestoreProtected => PairState::Split,
            _ => PairState::Mirrored,
        }),
        _ => return None,
    })
}

/// A command's name in the facts: its serialized tag, in snake_case (so commands
/// added to the model are covered with no change here).
fn command_name(op: &Op) -> String {
    let tag = match serde_json::to_value(op) {
        Ok(serde_json::Value::Object(m)) => m.keys().next().cloned().unwrap_or_default(),
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    };
    let mut out = String::new();
    for (i, c) in tag.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn outcome_name(c: &Completion) -> String {
    match c {
        Completion::Returned(OpResult::Ok(Reply::Done | Reply::Values(_) | Reply::Backups(_))) => "ok".into(),
        Completion::Returned(OpResult::Err(e)) => e.name(),
        Completion::Failed(_) => "failed".into(),
        Completion::Unknown => "unknown".into(),
    }
}

/// A moment of a run, as the coverage facts see it.
enum Moment<'a> {
    /// A client operation invoked, with how it ended.
    Invoke(&'a Op, &'a Completion),
    /// An operation taking effect: a command that returned `done` (at its
    /// completion) or an array's announced event (at its instant).
    Apply(&'a Op),
    Fault(&'a TraceKind),
}

/// The run's moments in time order, for the history's operations `keep` selects.
/// Faults sort before history moments at the same instant (the event loop applies
/// them first), invocations and events before completions.
fn moments<'a>(result: &'a RunResult, keep: impl Fn(&Op) -> bool) -> Vec<(u64, Moment<'a>)> {
    let mut moments: Vec<(u64, u8, usize, Moment<'a>)> = Vec::new();
    for (i, h) in result.history.ops.iter().enumerate() {
        if !keep(&h.op) {
            continue;
        }
        if matches!(h.op, Op::PairEvent { .. } | Op::RemoteEvent { .. }) {
            moments.push((h.invoke_ns, 1, i, Moment::Apply(&h.op)));
            continue;
        }
        moments.push((h.invoke_ns, 1, i, Moment::Invoke(&h.op, &h.completion)));
        if let (Some(t), Completion::Returned(OpResult::Ok(_))) = (h.complete_ns, &h.completion) {
            moments.push((t, 2, i, Moment::Apply(&h.op)));
        }
    }
    for (i, e) in result.trace.notable.iter().enumerate() {
        if fault_name(&e.kind).is_some() {
            moments.push((e.time_ns, 0, i, Moment::Fault(&e.kind)));
        }
    }
    moments.sort_by_key(|&(t, order, i, _)| (t, order, i));
    moments.into_iter().map(|(t, _, _, m)| (t, m)).collect()
}

/// The facts of one run.
pub fn run_facts(config: &SimConfig, result: &RunResult) -> RunFacts {
    let mut facts = RunFacts::new();
    let mut hit = |f: String| *facts.entry(f).or_insert(0) += 1;
    let array_of = |v: VolumeId| config.volumes.iter().find(|x| x.id == v).map(|x| x.array);

    let moments = moments(result, |op| !op.is_io());
    let mut pairs: BTreeMap<PairId, Pair> = BTreeMap::new();
    for (t, m) in &moments {
        match m {
            Moment::Invoke(op, completion) => {
                let Some(pair) = op.pair() else { continue };
                let state = state_name(pairs.get(&pair));
                hit(format!("command {} in {state} -> {}", command_name(op), outcome_name(completion)));
            }
            Moment::Apply(op) => {
                let Some(pair) = op.pair() else { continue };
                let before = pairs.get(&pair).copied();
                if let Op::PairEvent { event, .. } = op {
                    hit(format!("event {event} in {}", state_name(before.as_ref())));
                }
                let Some(after) = after_command(op, before.map(|p| p.state)) else { continue };
                match after {
                    Some(state) => {
                        let array = match op {
                            Op::PairCreate { source, .. } => array_of(*source),
                            _ => before.and_then(|p| p.array),
                        };
                        pairs.insert(pair, Pair { state, array });
                    }
                    None => {
                        pairs.remove(&pair);
                    }
                }
            }
            Moment::Fault(kind) => {
                let name = fault_name(kind).expect("only faults are pushed");
                hit(format!("fault {name}"));
                let arrays = fault_arrays(kind, config);
                let touches = |a: Option<ArrayId>| match (&arrays, a) {
                    (None, _) => true,
                    (Some(list), Some(a)) => list.contains(&a),
                    (Some(_), None) => false,
                };
                let states: BTreeSet<&str> =
                    pairs.values().filter(|p| touches(p.array)).map(|p| p.state.name()).collect();
                if states.is_empty() {
                    hit(format!("fault {name} in no pair"));
                }
                for s in states {
                    hit(format!("fault {name} in {s}"));
                }
                let copying: BTreeSet<&str> = result
                    .copies
                    .iter()
                    .filter(|c| touches(Some(c.array)))
                    .filter(|c| c.started_ns <= *t && c.finished_ns.is_none_or(|f| *t < f))
                    .map(|c| c.kind.name())
                    .collect();
                for k in copying {
                    hit(format!("fault {name} during {k} copy"));
                }
            }
        }
    }
    backup::facts(config, result, &mut facts);
    remote::facts(config, result, &mut facts);
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_are_snake_case_tags() {
        assert_eq!(command_name(&Op::Split { pair: PairId(1) }), "split");
        assert_eq!(
            command_name(&Op::PairCreate { pair: PairId(1), source: VolumeId(0), mirror: VolumeId(1) }),
            "pair_create"
        );
        assert_eq!(command_name(&Op::PairDelete { pair: PairId(1) }), "pair_delete");
    }

    #[test]
    fn copy_done_ends_a_protected_restore_in_split() {
        assert_eq!(
            after_command(
                &Op::PairEvent { pair: PairId(0), event: PairEvent::CopyDone },
                Some(PairState::RestoreProtected)
            ),
            Some(Some(PairState::Split))
        );
        assert_eq!(
            after_command(
                &Op::PairEvent { pair: PairId(0), event: PairEvent::CopyDone },
                Some(PairState::Resync)
            ),
            Some(Some(PairState::Mirrored))
        );
    }

    #[test]
    fn missing_lists_the_important_facts_not_reached() {
        let mut c = Coverage::default();
        let mut run = RunFacts::new();
        run.insert(IMPORTANT[0].to_string(), 3);
        c.add(&run);
        c.add(&run);
        assert_eq!(c.facts[IMPORTANT[0]], (2, 6));
        assert_eq!(c.missing().len(), IMPORTANT.len() - 1);
        assert!(!c.missing().contains(&IMPORTANT[0]));
        assert!(c.text().contains("NOT REACHED"));
    }
}
