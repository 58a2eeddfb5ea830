//! Validation of the S3 timeline actions (remote pairs and consistency groups).

use super::{R, Validator};
use crate::scenario::format::{ActionDef, ScenarioFile};
use model::{ArrayId, Fence, GroupId, HostId, Op, PairId, RemoteMode, SplitBrainPolicy};
use sim::{Action, Endpoint, LinkSpec, VolumeInfo};
use std::collections::BTreeMap;

/// A consistency group as the timeline declares it (by its first `remote_pair_create`).
pub(super) struct GroupInfo {
    id: GroupId,
    primary: ArrayId,
    secondary: ArrayId,
}

impl Validator<'_> {
    /// Numbers the groups (in order of their first `remote_pair_create`) and the
    /// remote pairs (after the local ones), checking each create's volumes: on two
    /// arrays joined by an array link, and every pair of a group between the same two
    /// arrays in the same direction.
    pub(super) fn remote_groups<'f>(
        &self,
        f: &'f ScenarioFile,
        vol_ix: &BTreeMap<&str, usize>,
        volumes: &[VolumeInfo],
        links: &[LinkSpec],
        pair_ix: &mut BTreeMap<&'f str, (u32, ArrayId)>,
    ) -> R<BTreeMap<&'f str, GroupInfo>> {
        let mut groups: BTreeMap<&'f str, GroupInfo> = BTreeMap::new();
        for (i, t) in f.timeline.iter().enumerate() {
            let ActionDef::RemotePairCreate { pair, primary, secondary, group, .. } = &t.action else {
                continue;
            };
            let p = format!("timeline[{i}].do.remote_pair_create");
            let vol = |field: &str, name: &str| -> R<&VolumeInfo> {
                vol_ix
                    .get(name)
                    .map(|&v| &volumes[v])
                    .map_or_else(|| self.err(format!("{p}.{field}"), format!("unknown volume {name:?}")), Ok)
            };
            let (pv, sv) = (vol("primary", primary)?, vol("secondary", secondary)?);
            let name = |a: ArrayId| &f.arrays[a.0 as usize].name;
            if pv.array == sv.array {
                return self.err(
                    format!("{p}.secondary"),
                    format!(
                        "a remote pair's volumes must be on two arrays: {primary:?} and {secondary:?} are both on {:?}",
                        name(pv.array)
                    ),
                );
            }
            let joined = links.iter().any(|l| {
                l.ends.contains(&Endpoint::Array(pv.array)) && l.ends.contains(&Endpoint::Array(sv.array))
            });
            if !joined {
                return self
                    .err(p, format!("no array link joins {:?} and {:?}", name(pv.array), name(sv.array)));
            }
            let next = groups.len() as u32;
            let g = groups.entry(group.as_str()).or_insert(GroupInfo {
                id: GroupId(next),
                primary: pv.array,
                secondary: sv.array,
            });
            if (g.primary, g.secondary) != (pv.array, sv.array) {
                return self.err(
                    p,
                    format!(
                        "every pair of group {group:?} must go from {:?} to {:?} (its first pair does)",
                        name(g.primary),
                        name(g.secondary)
                    ),
                );
            }
            let next = pair_ix.len() as u32;
            pair_ix.entry(pair.as_str()).or_insert((next, pv.array));
        }
        Ok(groups)
    }

    /// Converts one S3 action into an admin command.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn remote_action(
        &self,
        p: &str,
        action: &ActionDef,
        groups: &BTreeMap<&str, GroupInfo>,
        pair_ix: &BTreeMap<&str, (u32, ArrayId)>,
        host_ix: &BTreeMap<&str, usize>,
        array_ix: &BTreeMap<&str, usize>,
        vol_ix: &BTreeMap<&str, usize>,
        volumes: &[VolumeInfo],
        links: &[LinkSpec],
    ) -> R<Action> {
        let (cmd, host, group, array) = match action {
            ActionDef::RemotePairCreate { host, group, .. } => ("remote_pair_create", host, group, &None),
            ActionDef::Suspend { host, group, array } => ("suspend", host, group, array),
            ActionDef::Resume { host, group, array } => ("resume", host, group, array),
            ActionDef::Takeover { host, group, array } => ("takeover", host, group, array),
            ActionDef::Failback { host, group, array } => ("failback", host, group, array),
            _ => unreachable!("S3 actions"),
        };
        let h = host_ix
            .get(host.as_str())
            .copied()
            .map_or_else(|| self.err(format!("{p}.do.{cmd}.host"), format!("unknown host {host:?}")), Ok)?;
        let Some(g) = groups.get(group.as_str()) else {
            return self.err(
                format!("{p}.do.{cmd}.group"),
                format!("unknown group {group:?}: no remote_pair_create in the timeline names it"),
            );
        };
        let at_primary = matches!(cmd, "remote_pair_create" | "suspend" | "resume");
        let to = match array {
            None => {
                if at_primary {
                    g.primary
                } else {
                    g.secondary
                }
            }
            Some(name) => {
                let a = array_ix.get(name.as_str()).map(|&a| ArrayId(a as u32)).map_or_else(
                    || self.err(format!("{p}.do.{cmd}.array"), format!("unknown array {name:?}")),
                    Ok,
                )?;
                if a != g.primary && a != g.secondary {
                    return self.err(
                        format!("{p}.do.{cmd}.array"),
                        format!("array {name:?} holds no volume of group {group:?}"),
                    );
                }
                a
            }
        };
        let op = match action {
            ActionDef::RemotePairCreate { pair, primary, secondary, mode, fence, split_brain, .. } => {
                Op::RemotePairCreate {
                    pair: PairId(pair_ix[pair.as_str()].0),
                    primary: volumes[vol_ix[primary.as_str()]].id,
                    secondary: volumes[vol_ix[secondary.as_str()]].id,
                    group: g.id,
                    mode: mode.unwrap_or(RemoteMode::Sync),
                    fence: fence.unwrap_or(Fence::Never),
                    split_brain: split_brain.unwrap_or(SplitBrainPolicy::Refuse),
                }
            }
            ActionDef::Suspend { .. } => Op::Suspend { group: g.id },
            ActionDef::Resume { .. } => Op::Resume { group: g.id },
            ActionDef::Takeover { .. } => Op::Takeover { group: g.id },
            _ => Op::Failback { group: g.id },
        };
        let linked = links.iter().any(|l| {
            l.ends.contains(&Endpoint::Host(HostId(h as u32))) && l.ends.contains(&Endpoint::Array(to))
        });
        if !linked {
            return self.err(
                format!("{p}.do.{cmd}.host"),
                format!("host {host:?} has no link to array {:?}", self.array_name(array_ix, to)),
            );
        }
        Ok(Action::Admin { host: HostId(h as u32), array: to, op })
    }

    fn array_name<'a>(&self, array_ix: &BTreeMap<&'a str, usize>, a: ArrayId) -> &'a str {
        array_ix.iter().find(|(_, i)| **i == a.0 as usize).map_or("?", |(n, _)| n)
    }
}
