//! Loading a scenario file: parse, validate, resolve names, convert.
//!
//! Every problem is reported as a [`ScenarioError`] naming the file and either the
//! line and column (syntax and type errors) or the JSON path (values that parse but
//! make no sense), never as a panic.

mod offload;

use super::format::*;
use model::{ArrayId, HostId, Op, PairId, Value, VolumeId};
use sim::{
    Action, ArraySpec, BlockDist, Dist, Endpoint, FaultRate, HostSpec, Limits, LinkSpec, MediaSpec,
    RandomFaults, Ratio, SimConfig, TimedAction, VolumeInfo, Workload,
};
use std::collections::BTreeMap;
use std::fmt;

#[path = "validate_backup.rs"]
mod backup;
#[path = "validate_remote.rs"]
mod remote;
use std::path::{Path, PathBuf};

/// The largest volume a scenario may declare: 2^40 blocks (SPEC §1).
pub const VOLUME_BLOCKS_MAX: u64 = 1 << 40;

/// A scenario file that is wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a position in the text.
    pub position: Option<(usize, usize)>,
    /// The JSON path of the offending value (`timeline[2].do.crash_array.array`).
    pub path: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(path) = &self.path {
            write!(f, "at {path}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A validated scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub path: PathBuf,
    pub file: ScenarioFile,
    pub config: SimConfig,
    pub checks: Vec<CheckName>,
}

impl Scenario {
    pub fn name(&self) -> &str {
        &self.file.name
    }
}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        position: None,
        path: None,
        message: format!("cannot read the file: {e}"),
    })?;
    parse(path, &text)
}

/// Validates scenario text (`path` is used in messages only).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    // serde would read a JSON array as a struct's fields in order: say what we want.
    if let Some((i, c)) = text.char_indices().find(|(_, c)| !c.is_whitespace())
        && c != '{'
    {
        let line = text[..i].matches('\n').count() + 1;
        let col = i - text[..i].rfind('\n').map_or(0, |n| n + 1) + 1;
        return Err(ScenarioError {
            file: path.to_path_buf(),
            position: Some((line, col)),
            path: None,
            message: "a scenario file holds one JSON object ({ ... })".into(),
        });
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    let file: ScenarioFile = match serde_path_to_error::deserialize(de) {
        Ok(f) => f,
        Err(e) => {
            let json_path = e.path().to_string();
            let inner = e.into_inner();
            let position = (inner.line() > 0).then(|| (inner.line(), inner.column()));
            let message = strip_position(&inner.to_string());
            return Err(ScenarioError {
                file: path.to_path_buf(),
                position,
                path: (!matches!(json_path.as_str(), "." | "" | "?")).then_some(json_path),
                message,
            });
        }
    };
    let (config, checks) = Validator { file: path }.convert(&file)?;
    Ok(Scenario { path: path.to_path_buf(), file, config, checks })
}

/// Validates a scenario file already in memory (a generated or shrunk one); `path` is
/// used in messages and replay commands only.
pub fn validate(path: &Path, file: ScenarioFile) -> Result<Scenario, ScenarioError> {
    let (config, checks) = Validator { file: path }.convert(&file)?;
    Ok(Scenario { path: path.to_path_buf(), file, config, checks })
}

/// serde_json appends " at line L column C"; we print the position ourselves.
fn strip_position(msg: &str) -> String {
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    msg.replace("struct ScenarioFile", "a scenario object")
}

struct Validator<'a> {
    file: &'a Path,
}

type R<T> = Result<T, ScenarioError>;

impl Validator<'_> {
    fn err<T>(&self, path: impl Into<String>, message: impl Into<String>) -> R<T> {
        Err(ScenarioError {
            file: self.file.to_path_buf(),
            position: None,
            path: Some(path.into()),
            message: message.into(),
        })
    }

    fn ratio(&self, r: RatioDef) -> Ratio {
        Ratio::new(r.0, r.1).expect("RatioDef is valid by construction")
    }

    fn dist<T: Copy>(&self, path: &str, d: &DistDef<T>, get: impl Fn(T) -> u64) -> R<Dist> {
        let check = |lo: u64, hi: u64, what: &str| {
            if lo > hi {
                self.err(format!("{path}{what}"), format!("the minimum {lo} is above the maximum {hi}"))
            } else {
                Ok(())
            }
        };
        Ok(match d {
            DistDef::Constant(v) => Dist::Constant(get(*v)),
            DistDef::Uniform([a, b]) => {
                check(get(*a), get(*b), ".uniform")?;
                Dist::Uniform { min: get(*a), max: get(*b) }
            }
            DistDef::Bimodal { fast, slow, slow_ratio } => {
                check(get(fast[0]), get(fast[1]), ".bimodal.fast")?;
                check(get(slow[0]), get(slow[1]), ".bimodal.slow")?;
                Dist::Bimodal {
                    fast: (get(fast[0]), get(fast[1])),
                    slow: (get(slow[0]), get(slow[1])),
                    slow_ratio: self.ratio(*slow_ratio),
                }
            }
        })
    }

    fn unique<'n>(&self, what: &str, names: impl Iterator<Item = (String, &'n str)>) -> R<()> {
        let mut seen = BTreeMap::new();
        for (path, name) in names {
            if name.is_empty() {
                return self.err(path, format!("the {what} name is empty"));
            }
            if let Some(first) = seen.insert(name, path.clone()) {
                return self.err(path, format!("{what} name {name:?} is already used at {first}"));
            }
        }
        Ok(())
    }

    fn convert(&self, f: &ScenarioFile) -> R<(SimConfig, Vec<CheckName>)> {
        if f.name.trim().is_empty() {
            return self.err("name", "the scenario name is empty");
        }
        if f.arrays.is_empty() {
            return self.err("arrays", "a scenario needs at least one array");
        }
        self.unique(
            "array",
            f.arrays.iter().enumerate().map(|(i, a)| (format!("arrays[{i}].name"), a.name.as_str())),
        )?;
        self.unique(
            "volume",
            f.arrays.iter().enumerate().flat_map(|(i, a)| {
                a.volumes
                    .iter()
                    .enumerate()
                    .map(move |(j, v)| (format!("arrays[{i}].volumes[{j}].name"), v.name.as_str()))
            }),
        )?;
        self.unique(
            "host",
            f.hosts.iter().enumerate().map(|(i, h)| (format!("hosts[{i}].name"), h.name.as_str())),
        )?;
        self.unique(
            "link",
            f.links.iter().enumerate().map(|(i, l)| (format!("links[{i}].name"), l.name.as_str())),
        )?;
        if f.hosts.len() > usize::from(u16::MAX) - 1 {
            return self.err("hosts", "at most 65534 hosts");
        }

        let array_ix: BTreeMap<&str, usize> =
            f.arrays.iter().enumerate().map(|(i, a)| (a.name.as_str(), i)).collect();
        let host_ix: BTreeMap<&str, usize> =
            f.hosts.iter().enumerate().map(|(i, h)| (h.name.as_str(), i)).collect();
        let link_ix: BTreeMap<&str, usize> =
            f.links.iter().enumerate().map(|(i, l)| (l.name.as_str(), i)).collect();

        let mut arrays = Vec::new();
        let mut volumes = Vec::new();
        let mut vol_ix: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, a) in f.arrays.iter().enumerate() {
            let p = format!("arrays[{i}]");
            let m = &a.media;
            let media = MediaSpec {
                read_ns: self.dist(&format!("{p}.media.read"), &m.read, |d| d.0)?,
                write_ns: self.dist(&format!("{p}.media.write"), &m.write, |d| d.0)?,
                meta_ns: self.dist(&format!("{p}.media.meta"), &m.meta, |d| d.0)?,
                torn_writes: m.torn_writes,
            };
            let change_grain = a.change_grain.unwrap_or(1);
            if !change_grain.is_power_of_two() || change_grain > 1 << 20 {
                return self.err(
                    format!("{p}.change_grain"),
                    format!("change_grain must be a power of two from 1 to 2^20, got {change_grain}"),
                );
            }
            arrays.push(ArraySpec { name: a.name.clone(), media, change_grain });
            for (j, v) in a.volumes.iter().enumerate() {
                let vp = format!("{p}.volumes[{j}].blocks");
                if v.blocks == 0 {
                    return self.err(vp, format!("volume {:?} has zero blocks", v.name));
                }
                if v.blocks > VOLUME_BLOCKS_MAX {
                    return self.err(
                        vp,
                        format!(
                            "volume {:?} has {} blocks; volumes hold at most 2^40 ({VOLUME_BLOCKS_MAX})",
                            v.name, v.blocks
                        ),
                    );
                }
                vol_ix.insert(v.name.as_str(), volumes.len());
                volumes.push(VolumeInfo {
                    name: v.name.clone(),
                    id: VolumeId(volumes.len() as u32),
                    array: ArrayId(i as u32),
                    blocks: v.blocks,
                });
            }
        }

        let mut links = Vec::new();
        for (i, l) in f.links.iter().enumerate() {
            let p = format!("links[{i}]");
            let mut ends = Vec::new();
            for (k, name) in l.between.iter().enumerate() {
                let end = match (host_ix.get(name.as_str()), array_ix.get(name.as_str())) {
                    (Some(h), None) => Endpoint::Host(HostId(*h as u32)),
                    (None, Some(a)) => Endpoint::Array(ArrayId(*a as u32)),
                    (Some(_), Some(_)) => {
                        return self.err(
                            format!("{p}.between[{k}]"),
                            format!("{name:?} names both a host and an array; give them different names"),
                        );
                    }
                    (None, None) => {
                        return self
                            .err(format!("{p}.between[{k}]"), format!("unknown host or array {name:?}"));
                    }
                };
                ends.push(end);
            }
            let ends = [ends[0], ends[1]];
            match ends {
                [Endpoint::Host(_), Endpoint::Array(_)] | [Endpoint::Array(_), Endpoint::Host(_)] => {}
                [Endpoint::Array(a), Endpoint::Array(b)] if a != b => {}
                [Endpoint::Array(_), Endpoint::Array(_)] => {
                    return self.err(
                        format!("{p}.between"),
                        "a link joins two different arrays, not an array to itself",
                    );
                }
                [Endpoint::Host(a), Endpoint::Host(b)] if a != b => {}
                _ => {
                    return self.err(
                        format!("{p}.between"),
                        "a link joins two different hosts, not a host to itself",
                    );
                }
            }
            links.push(LinkSpec {
                name: l.name.clone(),
                ends,
                latency_ns: self.dist(&format!("{p}.latency"), &l.latency, |d| d.0)?,
                drop: self.ratio(l.drop),
                duplicate: self.ratio(l.duplicate),
                reorder: self.ratio(l.reorder),
                reorder_delay_ns: self.dist(&format!("{p}.reorder_delay"), &l.reorder_delay, |d| d.0)?,
            });
        }

        // S4: images are named by their snapshot entries and numbered in order of
        // first appearance from `VolumeId::IMAGE_BASE`; each lives on its volume's
        // array with its volume's size. Workloads may name them.
        for (i, t) in f.timeline.iter().enumerate() {
            if let ActionDef::Snapshot { volume, image, .. } = &t.action {
                let p = format!("timeline[{i}].do.snapshot");
                let Some(&s) = vol_ix.get(volume.as_str()) else {
                    return self.err(format!("{p}.volume"), format!("unknown volume {volume:?}"));
                };
                let (array, blocks) = (volumes[s].array, volumes[s].blocks);
                match vol_ix.get(image.as_str()).map(|&x| &volumes[x]) {
                    Some(v) if !v.id.is_image() => {
                        return self.err(
                            format!("{p}.image"),
                            format!("{image:?} names a volume; an image needs a name of its own"),
                        );
                    }
                    Some(v) if v.array != array || v.blocks != blocks => {
                        return self.err(
                            format!("{p}.image"),
                            format!(
                                "image {image:?} was taken of a volume of another array or size; \
                                 give each image name one array and one size"
                            ),
                        );
                    }
                    Some(_) => {}
                    None => {
                        let n = volumes.iter().filter(|v| v.id.is_image()).count() as u32;
                        vol_ix.insert(image.as_str(), volumes.len());
                        volumes.push(VolumeInfo {
                            name: image.clone(),
                            id: VolumeId(VolumeId::IMAGE_BASE + n),
                            array,
                            blocks,
                        });
                    }
                }
            }
        }

        let mut hosts = Vec::new();
        for (i, h) in f.hosts.iter().enumerate() {
            let p = format!("hosts[{i}]");
            if h.op_timeout.0 == 0 {
                return self.err(format!("{p}.op_timeout"), "the operation timeout must be positive");
            }
            let workload = match &h.workload {
                None => None,
                Some(w) => Some(self.workload(&format!("{p}.workload"), i, w, &vol_ix, &volumes, &links)?),
            };
            hosts.push(HostSpec { name: h.name.clone(), workload, op_timeout_ns: h.op_timeout.0 });
        }

        // Pairs are named in the file and numbered in order of their first pair_create;
        // each lives on the array of its source volume.
        let mut pair_ix: BTreeMap<&str, (u32, ArrayId)> = BTreeMap::new();
        for (i, t) in f.timeline.iter().enumerate() {
            if let ActionDef::PairCreate { pair, source, mirror, .. } = &t.action {
                let p = format!("timeline[{i}].do.pair_create");
                let s = *vol_ix.get(source.as_str()).map_or_else(
                    || self.err(format!("{p}.source"), format!("unknown volume {source:?}")),
                    Ok,
                )?;
                let m = *vol_ix.get(mirror.as_str()).map_or_else(
                    || self.err(format!("{p}.mirror"), format!("unknown volume {mirror:?}")),
                    Ok,
                )?;
                let (sa, ma) = (volumes[s].array, volumes[m].array);
                if sa != ma {
                    return self.err(
                        p,
                        format!(
                            "a local pair's volumes must be on one array: {source:?} is on {:?}, {mirror:?} on {:?}",
                            f.arrays[sa.0 as usize].name,
                            f.arrays[ma.0 as usize].name
                        ),
                    );
                }
                let next = pair_ix.len() as u32;
                pair_ix.entry(pair.as_str()).or_insert((next, sa));
            }
        }
        let offload = self.offload(f, &host_ix, &vol_ix, &volumes, &links, &hosts)?;
        let groups = self.remote_groups(f, &vol_ix, &volumes, &links, &mut pair_ix)?;
        let backups = self.backup_names(f, &vol_ix, &volumes)?;
        let mut timeline = Vec::new();
        let mut last: Option<(usize, Duration)> = None;
        for (i, t) in f.timeline.iter().enumerate() {
            let p = format!("timeline[{i}]");
            if let Some((j, prev)) = last
                && t.at < prev
            {
                return self.err(
                    format!("{p}.at"),
                    format!("time goes backwards: {} is before timeline[{j}] at {}", t.at, prev),
                );
            }
            last = Some((i, t.at));
            let find = |ix: &BTreeMap<&str, usize>, what: &str, field: &str, name: &str| -> R<usize> {
                ix.get(name).copied().map_or_else(
                    || self.err(format!("{p}.do.{field}"), format!("unknown {what} {name:?}")),
                    Ok,
                )
            };
            let action = match &t.action {
                ActionDef::LinkDown { link } => {
                    Action::LinkDown { link: find(&link_ix, "link", "link_down.link", link)? }
                }
                ActionDef::LinkUp { link } => {
                    Action::LinkUp { link: find(&link_ix, "link", "link_up.link", link)? }
                }
                ActionDef::LinkFlap { link, down, up, times } => {
                    if down.0 == 0 || up.0 == 0 || *times == 0 {
                        return self
                            .err(format!("{p}.do.link_flap"), "down, up and times must all be positive");
                    }
                    Action::LinkFlap {
                        link: find(&link_ix, "link", "link_flap.link", link)?,
                        down_ns: down.0,
                        up_ns: up.0,
                        times: *times,
                    }
                }
                ActionDef::CrashArray { array, restart_after } => Action::CrashArray {
                    array: ArrayId(find(&array_ix, "array", "crash_array.array", array)? as u32),
                    restart_after_ns: restart_after.map(|d| d.0),
                },
                ActionDef::RestartArray { array } => Action::RestartArray {
                    array: ArrayId(find(&array_ix, "array", "restart_array.array", array)? as u32),
                },
                ActionDef::CrashHost { host, restart_after } => Action::CrashHost {
                    host: HostId(find(&host_ix, "host", "crash_host.host", host)? as u32),
                    restart_after_ns: restart_after.map(|d| d.0),
                },
                ActionDef::RestartHost { host } => Action::RestartHost {
                    host: HostId(find(&host_ix, "host", "restart_host.host", host)? as u32),
                },
                ActionDef::MediaError { volume, block } => {
                    let v = find(&vol_ix, "volume", "media_error.volume", volume)?;
                    if *block >= volumes[v].blocks {
                        return self.err(
                            format!("{p}.do.media_error.block"),
                            format!(
                                "block {block} is past the end of {volume:?} ({} blocks)",
                                volumes[v].blocks
                            ),
                        );
                    }
                    Action::MediaError { array: volumes[v].array, space: volumes[v].id.0, block: *block }
                }
                ActionDef::OffloadBackup { host, file } => self.offload_backup(
                    &format!("{p}.do.offload_backup"),
                    host,
                    file,
                    &host_ix,
                    &f.hosts,
                    &offload,
                )?,
                remote @ (ActionDef::RemotePairCreate { .. }
                | ActionDef::Suspend { .. }
                | ActionDef::Resume { .. }
                | ActionDef::Takeover { .. }
                | ActionDef::Failback { .. }) => self.remote_action(
                    &p, remote, &groups, &pair_ix, &host_ix, &array_ix, &vol_ix, &volumes, &links,
                )?,
                s0 @ (ActionDef::Backup { .. }
                | ActionDef::RecordBackup { .. }
                | ActionDef::ListBackups { .. }
                | ActionDef::RestoreBackup { .. }) => {
                    self.backup_action(&p, s0, &backups, &host_ix, &vol_ix, &volumes, &links, f)?
                }
                ActionDef::Snapshot { host, volume, image } => {
                    let h = find(&host_ix, "host", "snapshot.host", host)?;
                    let v = &volumes[find(&vol_ix, "volume", "snapshot.volume", volume)?];
                    let op = Op::Snapshot { vol: v.id, image: volumes[vol_ix[image.as_str()]].id };
                    self.admin_link(&p, "snapshot", host, h, v.array, &links, f)?;
                    Action::Admin { host: HostId(h as u32), array: v.array, op }
                }
                ActionDef::DeleteSnapshot { host, image } => {
                    let h = find(&host_ix, "host", "delete_snapshot.host", host)?;
                    let v = &volumes[find(&vol_ix, "image", "delete_snapshot.image", image)?];
                    if !v.id.is_image() {
                        return self.err(
                            format!("{p}.do.delete_snapshot.image"),
                            format!("{image:?} names a volume, not an image: no snapshot entry names it"),
                        );
                    }
                    self.admin_link(&p, "delete_snapshot", host, h, v.array, &links, f)?;
                    Action::Admin {
                        host: HostId(h as u32),
                        array: v.array,
                        op: Op::DeleteSnapshot { image: v.id },
                    }
                }
                admin => {
                    let (cmd, host, pair) = match admin {
                        ActionDef::PairCreate { host, pair, .. } => ("pair_create", host, pair),
                        ActionDef::Split { host, pair } => ("split", host, pair),
                        ActionDef::Resync { host, pair } => ("resync", host, pair),
                        ActionDef::Restore { host, pair, .. } => ("restore", host, pair),
                        ActionDef::PairDelete { host, pair } => ("pair_delete", host, pair),
                        _ => unreachable!("handled above"),
                    };
                    let h = find(&host_ix, "host", &format!("{cmd}.host"), host)?;
                    let Some(&(id, array)) = pair_ix.get(pair.as_str()) else {
                        return self.err(
                            format!("{p}.do.{cmd}.pair"),
                            format!("unknown pair {pair:?}: no pair_create in the timeline names it"),
                        );
                    };
                    let (name, pair) = (pair, PairId(id));
                    let op = match admin {
                        ActionDef::PairCreate { source, mirror, .. } => Op::PairCreate {
                            pair,
                            source: volumes[vol_ix[source.as_str()]].id,
                            mirror: volumes[vol_ix[mirror.as_str()]].id,
                        },
                        ActionDef::Split { .. } => Op::Split { pair },
                        ActionDef::Resync { .. } => Op::Resync { pair },
                        ActionDef::Restore { protected, .. } => Op::Restore { pair, protected: *protected },
                        _ => Op::PairDelete { pair },
                    };
                    if links.iter().all(|l: &LinkSpec| {
                        !(l.ends.contains(&Endpoint::Host(HostId(h as u32)))
                            && l.ends.contains(&Endpoint::Array(array)))
                    }) {
                        return self.err(
                            format!("{p}.do.{cmd}.host"),
                            format!(
                                "host {host:?} has no link to array {:?}, which holds pair {name:?}",
                                f.arrays[array.0 as usize].name
                            ),
                        );
                    }
                    Action::Admin { host: HostId(h as u32), array, op }
                }
            };
            timeline.push(TimedAction { at_ns: t.at.0, action });
        }

        let rf = &f.random_faults;
        let random_faults = RandomFaults {
            link_flap: self.rate("random_faults.link_flap", rf.link_flap.as_ref(), &link_ix, "link")?,
            array_crash: self.rate(
                "random_faults.array_crash",
                rf.array_crash.as_ref(),
                &array_ix,
                "array",
            )?,
            host_crash: self.rate("random_faults.host_crash", rf.host_crash.as_ref(), &host_ix, "host")?,
        };
        let l = &f.limits;
        if l.max_events == 0 || l.max_time.0 == 0 || l.settle.0 == 0 {
            return self.err("limits", "max_time, max_events and settle must be positive");
        }
        let limits = Limits { max_time_ns: l.max_time.0, max_events: l.max_events, settle_ns: l.settle.0 };
        if let Some(last) = timeline.last()
            && last.at_ns >= limits.max_time_ns
        {
            return self.err(
                format!("timeline[{}].at", timeline.len() - 1),
                format!("the action at {} is past limits.max_time ({})", Duration(last.at_ns), l.max_time),
            );
        }

        let config = SimConfig { arrays, volumes, hosts, links, timeline, random_faults, limits, offload };
        let checks = self.checks(f, &config)?;
        Ok((config, checks))
    }

    fn workload(
        &self,
        p: &str,
        host: usize,
        w: &WorkloadDef,
        vol_ix: &BTreeMap<&str, usize>,
        volumes: &[VolumeInfo],
        links: &[LinkSpec],
    ) -> R<Workload> {
        if w.volumes.is_empty() {
            return self.err(format!("{p}.volumes"), "a workload needs at least one volume");
        }
        if w.concurrency == 0 || w.concurrency > 4096 {
            return self.err(
                format!("{p}.concurrency"),
                format!("concurrency must be between 1 and 4096, not {}", w.concurrency),
            );
        }
        let len = self.dist(&format!("{p}.len"), &w.len, |n| n)?;
        if len.min() == 0 {
            return self.err(format!("{p}.len"), "an operation covers at least one block");
        }
        if len.max() > u64::from(Value::WRITE_LEN_MAX) {
            return self.err(
                format!("{p}.len"),
                format!("an operation covers at most {} blocks", Value::WRITE_LEN_MAX),
            );
        }
        let mut ids = Vec::new();
        for (k, name) in w.volumes.iter().enumerate() {
            let vp = format!("{p}.volumes[{k}]");
            let Some(&v) = vol_ix.get(name.as_str()) else {
                return self.err(vp, format!("unknown volume {name:?}"));
            };
            let vol = &volumes[v];
            if len.max() > vol.blocks {
                return self.err(
                    format!("{p}.len"),
                    format!(
                        "operations of up to {} blocks fall outside volume {name:?} of {} blocks",
                        len.max(),
                        vol.blocks
                    ),
                );
            }
            let reachable = links.iter().any(|l| {
                l.ends.contains(&Endpoint::Host(HostId(host as u32)))
                    && l.ends.contains(&Endpoint::Array(vol.array))
            });
            if !reachable {
                return self.err(vp, format!("no link joins this host to the array holding volume {name:?}"));
            }
            ids.push(vol.id);
        }
        let blocks = match w.blocks {
            BlockDistDef::Uniform => BlockDist::Uniform,
            BlockDistDef::HotSet { hot_blocks, hot } => {
                let smallest = ids
                    .iter()
                    .filter_map(|v| volumes.iter().find(|x| x.id == *v))
                    .map(|x| x.blocks)
                    .min()
                    .unwrap_or(0);
                if hot_blocks == 0 || hot_blocks > smallest {
                    return self.err(format!("{p}.blocks.hot_set.hot_blocks"), format!("the hot set must hold between 1 and {smallest} blocks (the smallest volume), not {hot_blocks}"));
                }
                BlockDist::HotSet { hot_blocks, hot: self.ratio(hot) }
            }
        };
        Ok(Workload {
            volumes: ids,
            concurrency: w.concurrency,
            ops: w.ops,
            read: self.ratio(w.read),
            blocks,
            len,
            think_ns: self.dist(&format!("{p}.think"), &w.think, |d| d.0)?,
        })
    }

    /// The admin command at `p` needs a link from its host to the array it acts on.
    #[allow(clippy::too_many_arguments)]
    fn admin_link(
        &self,
        p: &str,
        cmd: &str,
        host: &str,
        h: usize,
        array: ArrayId,
        links: &[LinkSpec],
        f: &ScenarioFile,
    ) -> R<()> {
        let linked = links.iter().any(|l| {
            l.ends.contains(&Endpoint::Host(HostId(h as u32))) && l.ends.contains(&Endpoint::Array(array))
        });
        if !linked {
            return self.err(
                format!("{p}.do.{cmd}.host"),
                format!("host {host:?} has no link to array {:?}", f.arrays[array.0 as usize].name),
            );
        }
        Ok(())
    }

    fn rate(
        &self,
        p: &str,
        r: Option<&FaultRateDef>,
        ix: &BTreeMap<&str, usize>,
        what: &str,
    ) -> R<Option<FaultRate>> {
        let Some(r) = r else { return Ok(None) };
        if r.every.0 == 0 {
            return self.err(format!("{p}.every"), "the mean interval must be positive");
        }
        if ix.is_empty() {
            return self.err(p.to_string(), format!("there is no {what} to inject this fault into"));
        }
        let mut targets = Vec::new();
        for (k, name) in r.targets.iter().enumerate() {
            match ix.get(name.as_str()) {
                Some(&i) => targets.push(i),
                None => return self.err(format!("{p}.targets[{k}]"), format!("unknown {what} {name:?}")),
            }
        }
        Ok(Some(FaultRate {
            mean_interval_ns: r.every.0,
            down_ns: self.dist(&format!("{p}.down"), &r.down, |d| d.0)?,
            targets,
        }))
    }

    fn checks(&self, f: &ScenarioFile, c: &SimConfig) -> R<Vec<CheckName>> {
        let clients: Vec<&Workload> = c.hosts.iter().filter_map(|h| h.workload.as_ref()).collect();
        let faultless = c.timeline.is_empty()
            && c.random_faults.link_flap.is_none()
            && c.random_faults.array_crash.is_none()
            && c.random_faults.host_crash.is_none()
            && c.links.iter().all(|l| l.drop.is_never());
        let one_client = clients.len() == 1 && clients[0].concurrency == 1;
        let checks = match &f.checks {
            Some(list) => {
                let mut list = list.clone();
                list.sort();
                list.dedup();
                if list.contains(&CheckName::Differential) && !(one_client && faultless) {
                    let i = f
                        .checks
                        .as_ref()
                        .and_then(|l| l.iter().position(|c| *c == CheckName::Differential))
                        .unwrap_or(0);
                    return self.err(
                        format!("checks[{i}]"),
                        "the differential check needs exactly one client (one host with a workload, concurrency 1) and no faults (no timeline, no random faults, no message drops)",
                    );
                }
                if let Some(i) =
                    f.checks.as_ref().and_then(|l| l.iter().position(|c| *c == CheckName::Offload))
                    && c.offload.file_servers.is_empty()
                {
                    return self.err(
                        format!("checks[{i}]"),
                        "the offload check needs a host with a file_server role",
                    );
                }
                list
            }
            None => {
                let mut list = vec![CheckName::Durability, CheckName::Linearizability, CheckName::Invariants];
                if one_client && faultless {
                    list.insert(0, CheckName::Differential);
                }
                if !c.offload.file_servers.is_empty() {
                    list.push(CheckName::Offload);
                }
                if f.timeline.iter().any(|t| matches!(t.action, ActionDef::RemotePairCreate { .. })) {
                    list.push(CheckName::RemotePrefix);
                }
                list
            }
        };
        match &f.expect {
            Expect::Violation(check) if !checks.contains(check) => {
                return self.err(
                    "expect.violation",
                    format!("expects a {} violation, but that check does not run", check.name()),
                );
            }
            Expect::Ending(e) if !["max_events", "max_time", "settle_timeout"].contains(&e.as_str()) => {
                return self.err(
                    "expect.ending",
                    format!("unknown ending {e:?}: use max_events, max_time or settle_timeout"),
                );
            }
            _ => {}
        }
        Ok(checks)
    }
}
