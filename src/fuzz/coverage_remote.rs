//! S3 facts for the coverage report (a child of `coverage`): which consistency-group
//! states the remote commands, the arrays' remote events and the faults met.
//!
//! A group's state is tracked from the history as the model moves it, from the
//! client's view, over the same time-ordered moments as local pairs
//! (`coverage::moments`): a command that returned `done` moves its group at its
//! completion, an announced event (`synced`, `link_lost`) at its instant.
//! - `remote command <f> in <state> -> <outcome>`: `remote_pair_create`, `suspend`,
//!   `resume`, `takeover`, `failback`, invoked while the group was in `<state>`
//!   (`none`: no such group yet);
//! - `remote event <event> in <state>`: an announced transition and the state it left;
//! - `remote fault <kind> in <state>`: a fault hit an array holding one side of a
//!   group in `<state>` (a host crash hits every group);
//! - `remote write to the <primary|secondary> in <state> -> <outcome>`: a host write
//!   to a volume of a remote pair (the DR host writing after a takeover, writes to a
//!   fenced primary, ...);
//! - `remote snapshot of the <primary|secondary> in <state> -> <outcome>`: a snapshot
//!   (S4) of a volume of a remote pair (`model::remote`, "Snapshots": a primary's own
//!   image, refused `fenced` while fenced; a sync secondary's, refused `inconsistent`
//!   without a consistent image in place; an async secondary's, refused `in_pair`).

use super::{Moment, RunFacts, fault_arrays, fault_name, moments, outcome_name};
use model::{ArrayId, GroupId, Op, RemoteEvent, RemoteState, VolumeId};
use sim::{RunResult, SimConfig};
use std::collections::{BTreeMap, BTreeSet};

/// A group as the client sees it: its state, its pairs' volumes (primary, secondary)
/// and the arrays holding them.
struct Group {
    state: RemoteState,
    roles: Vec<(VolumeId, VolumeId)>,
    arrays: BTreeSet<ArrayId>,
}

/// The state an accepted command or an event leaves its group in (`None`: unchanged).
fn after(op: &Op, before: Option<RemoteState>) -> Option<RemoteState> {
    Some(match op {
        Op::RemotePairCreate { .. } => RemoteState::Copy,
        Op::Suspend { .. } => RemoteState::Suspended,
        Op::Resume { .. } | Op::Failback { .. } => RemoteState::Resync,
        Op::Takeover { .. } => RemoteState::Swapped,
        Op::RemoteEvent { event: RemoteEvent::Synced, .. } => match before? {
            // A late `synced` (`model::remote::Group::late`): still suspended.
            RemoteState::SuspendedError => return None,
            _ => RemoteState::Pair,
        },
        Op::RemoteEvent { event: RemoteEvent::LinkLost, .. } => match before? {
            RemoteState::Swapped => return None,
            _ => RemoteState::SuspendedError,
        },
        _ => return None,
    })
}

fn state_name(g: Option<&Group>) -> &'static str {
    g.map_or("none", |g| g.state.name())
}

pub(super) fn facts(config: &SimConfig, result: &RunResult, facts: &mut RunFacts) {
    let h = &result.history.ops;
    if !h.iter().any(|o| matches!(o.op, Op::RemotePairCreate { .. })) {
        return;
    }
    let mut hit = |f: String| *facts.entry(f).or_insert(0) += 1;
    let array_of = |v: VolumeId| config.volumes.iter().find(|x| x.id == v).map(|x| x.array);

    let moments =
        moments(result, |op| op.group().is_some() || op.is_write() || matches!(op, Op::Snapshot { .. }));
    let mut groups: BTreeMap<GroupId, Group> = BTreeMap::new();
    for (_, m) in &moments {
        match m {
            Moment::Invoke(op, completion) => {
                if let Some(g) = op.group() {
                    let state = state_name(groups.get(&g));
                    hit(format!(
                        "remote command {} in {state} -> {}",
                        super::command_name(op),
                        outcome_name(completion)
                    ));
                    continue;
                }
                let vol = match op {
                    Op::Snapshot { vol, .. } => *vol,
                    _ => match op.volume() {
                        Some(v) => v,
                        None => continue,
                    },
                };
                let role = groups.values().find_map(|g| {
                    g.roles.iter().find_map(|&(p, s)| {
                        if p == vol {
                            Some(("primary", g.state))
                        } else if s == vol {
                            Some(("secondary", g.state))
                        } else {
                            None
                        }
                    })
                });
                if let Some((side, state)) = role {
                    let what = if matches!(op, Op::Snapshot { .. }) { "snapshot of" } else { "write to" };
                    hit(format!("remote {what} the {side} in {state} -> {}", outcome_name(completion)));
                }
            }
            Moment::Apply(op) => {
                let Some(g) = op.group() else { continue };
                let before = groups.get(&g).map(|x| x.state);
                if let Op::RemoteEvent { event, .. } = op {
                    hit(format!("remote event {event} in {}", state_name(groups.get(&g))));
                }
                let Some(state) = after(op, before) else { continue };
                let grp = groups.entry(g).or_insert_with(|| Group {
                    state,
                    roles: Vec::new(),
                    arrays: BTreeSet::new(),
                });
                grp.state = state;
                match op {
                    Op::RemotePairCreate { primary, secondary, .. } => {
                        grp.roles.push((*primary, *secondary));
                        grp.arrays.extend(array_of(*primary));
                        grp.arrays.extend(array_of(*secondary));
                    }
                    Op::Failback { .. } => {
                        for r in &mut grp.roles {
                            *r = (r.1, r.0);
                        }
                    }
                    _ => {}
                }
            }
            Moment::Fault(kind) => {
                let name = fault_name(kind).expect("only faults are pushed");
                let arrays = fault_arrays(kind, config);
                let states: BTreeSet<&str> = groups
                    .values()
                    .filter(|g| arrays.as_ref().is_none_or(|list| list.iter().any(|a| g.arrays.contains(a))))
                    .map(|g| g.state.name())
                    .collect();
                for s in states {
                    hit(format!("remote fault {name} in {s}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_events_move_the_group_as_the_model_does() {
        let g = GroupId(1);
        assert_eq!(after(&Op::Suspend { group: g }, Some(RemoteState::Pair)), Some(RemoteState::Suspended));
        assert_eq!(after(&Op::Failback { group: g }, Some(RemoteState::Swapped)), Some(RemoteState::Resync));
        assert_eq!(
            after(&Op::RemoteEvent { group: g, event: RemoteEvent::LinkLost }, Some(RemoteState::Resync)),
            Some(RemoteState::SuspendedError)
        );
        // The old primary learning of a takeover late leaves the group swapped.
        assert_eq!(
            after(&Op::RemoteEvent { group: g, event: RemoteEvent::LinkLost }, Some(RemoteState::Swapped)),
            None
        );
        assert_eq!(
            after(&Op::RemoteEvent { group: g, event: RemoteEvent::Synced }, Some(RemoteState::Resync)),
            Some(RemoteState::Pair)
        );
    }
}
