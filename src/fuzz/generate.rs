//! Generating a random valid scenario from a seed, with swarm testing.
//!
//! [`generate`] draws, from the seed's own stream ([`GenRng`]), first the *swarm
//! configuration* ([`Swarm`]): which fault kinds this seed enables and with what
//! weight (each kind on for about half the seeds; one seed in eight is calm, with no
//! faults at all, so the fault-free checks such as the differential one get their
//! share). Then the topology (1-3 arrays with 1-3 volumes each, 1-6 hosts, links),
//! the workloads, link and media properties, random fault rates and the timeline,
//! each drawn only from the enabled kinds. The result is an ordinary
//! [`ScenarioFile`]: written out as JSON it loads with the validator and replays
//! identically (the tests check the trace hash).
//!
//! The timeline's kinds of entries are the menu in [`super::menu`], the one place to
//! extend when the scenario format gains actions (admin commands).

use super::menu::{Emit, TIMELINE_MENU, Topology};
use super::rng::GenRng;
use crate::scenario::format::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Fault kinds that are not timeline entries: random rates, link and media
/// properties. With the names of [`TIMELINE_MENU`] they make the swarm's menu.
pub const OTHER_FAULT_KINDS: &[&str] = &[
    "random_link_flap",
    "random_array_crash",
    "random_host_crash",
    "link_drop",
    "link_duplicate",
    "link_reorder",
    "torn_writes",
    "slow_component",
];

/// Every fault kind, timeline menu first, in the fixed order the swarm draws them.
pub fn fault_kinds() -> Vec<&'static str> {
    TIMELINE_MENU.iter().map(|m| m.name).chain(OTHER_FAULT_KINDS.iter().copied()).collect()
}

/// Everything derived from a seed before the scenario's details: logged with every
/// fuzz result (`--verbose`, and the `swarm` field of the JSON output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Swarm {
    pub seed: u64,
    /// No fault kind enabled on purpose (one seed in eight).
    pub calm: bool,
    /// The enabled fault kinds and their weights (1-8).
    pub faults: BTreeMap<&'static str, u32>,
    pub arrays: usize,
    pub volumes: usize,
    pub hosts: usize,
    pub links: usize,
    /// Host operations in all.
    pub ops: u64,
    pub max_concurrency: u32,
    /// The estimated workload length the faults are spread over (simulated ns).
    pub horizon_ns: u64,
    pub timeline_entries: usize,
    /// S3 (remote seeds): each consistency group, `name:mode/fence/policy/pairs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_groups: Vec<String>,
}

impl fmt::Display for Swarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults: Vec<String> = self.faults.iter().map(|(k, w)| format!("{k}:{w}")).collect();
        write!(
            f,
            "seed={} arrays={} volumes={} hosts={} links={} ops={} max_concurrency={} horizon={} timeline={} faults=[{}]{}{}",
            self.seed,
            self.arrays,
            self.volumes,
            self.hosts,
            self.links,
            self.ops,
            self.max_concurrency,
            Duration(self.horizon_ns),
            self.timeline_entries,
            faults.join(" "),
            if self.calm { " (calm)" } else { "" },
            if self.remote_groups.is_empty() {
                String::new()
            } else {
                format!(" remote=[{}]", self.remote_groups.join(" "))
            }
        )
    }
}

/// A generated scenario and the swarm parameters it was drawn with.
#[derive(Clone, Debug)]
pub struct Generated {
    pub file: ScenarioFile,
    pub swarm: Swarm,
}

impl Generated {
    /// The scenario as pretty JSON, as it is written to a file.
    pub fn to_json(&self) -> String {
        to_json(&self.file)
    }
}

/// A scenario file as pretty JSON, newline-terminated.
pub fn to_json(file: &ScenarioFile) -> String {
    let mut s = serde_json::to_string_pretty(file).expect("scenario files serialize");
    s.push('\n');
    s
}

/// The name of the scenario generated from `seed`.
pub fn scenario_name(seed: u64) -> String {
    format!("fuzz-{seed}")
}

/// The scenario of `seed`. Deterministic: same seed, same binary, same scenario.
pub fn generate(seed: u64) -> Generated {
    generate_with(seed, Profile::Standard)
}

/// Which parts of the menu a campaign draws from.
///
/// `standard` is what `mirrorsim fuzz` and CI run. `full` adds the generators whose
/// reach still finds open engine bugs on the correct engine, so that a campaign over
/// them reports failures that are known and not yet fixed (docs/fuzzing.md, "Profiles",
/// lists them): S3's two-array topologies with remote groups (one seed in four) and
/// S0's `backup_command`. A seed draws the same numbers in both profiles; in
/// `standard` those choices are dropped, so the other seeds are the same scenarios.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    #[default]
    Standard,
    Full,
}

impl Profile {
    /// The profile's name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::Full => "full",
        }
    }

    /// The timeline menu items outside `standard`.
    pub const FULL_ONLY: &'static [&'static str] = &["backup_command"];

    /// Whether this profile draws the menu item (or fault kind) `name`.
    pub fn allows(self, name: &str) -> bool {
        self == Profile::Full || !(Self::FULL_ONLY.contains(&name) || name.starts_with("remote_"))
    }
}

/// The scenario of `seed` under `profile`.
pub fn generate_with(seed: u64, profile: Profile) -> Generated {
    Gen { rng: GenRng::new(seed), seed, profile }.run()
}

struct Gen {
    rng: GenRng,
    seed: u64,
    profile: Profile,
}

fn us(n: u64) -> u64 {
    n * 1_000
}
fn ms(n: u64) -> u64 {
    n * 1_000_000
}
fn uniform(lo: u64, hi: u64) -> DistDef<Duration> {
    DistDef::Uniform([Duration(lo), Duration(hi)])
}
fn dist_mean(d: &DistDef<Duration>) -> u64 {
    match d {
        DistDef::Constant(v) => v.0,
        DistDef::Uniform([a, b]) => (a.0 + b.0) / 2,
        DistDef::Bimodal { fast, slow, slow_ratio } => {
            let f = (fast[0].0 + fast[1].0) / 2;
            let s = (slow[0].0 + slow[1].0) / 2;
            f + (s.saturating_sub(f)) * slow_ratio.0 / slow_ratio.1
        }
    }
}

impl Gen {
    fn run(mut self) -> Generated {
        let rng = &mut self.rng;

        // 1. The swarm: which fault kinds, with what weights.
        let calm = rng.chance(1, 8);
        let mut faults = BTreeMap::new();
        for kind in fault_kinds() {
            let on = rng.chance(1, 2);
            let weight = rng.between(1, 8) as u32;
            if on && !calm {
                faults.insert(kind, weight);
            }
        }

        // S3: one seed in four has two arrays with remote pairs (`super::remote`).
        let remote = rng.chance(1, 4) && self.profile == Profile::Full;
        let mut topo = Topology::default();
        let (mut arrays, mut hosts, mut links, creates) = if remote {
            let b = super::remote::topology(rng, &mut topo, self::link);
            (b.arrays, b.hosts, b.links, b.creates)
        } else {
            // 2. Topology: arrays and volumes.
            let n_arrays = [1, 1, 1, 2, 2, 3][rng.below(6) as usize];
            let mut arrays = Vec::new();
            for a in 0..n_arrays {
                let name = ["A", "B", "C"][a].to_string();
                let mut volumes = Vec::new();
                for _ in 0..rng.between(1, 3) {
                    let blocks = match rng.below(6) {
                        0 | 1 => rng.between(1, 32),
                        2 | 3 => rng.between(33, 4096),
                        4 => rng.between(1 << 16, 1 << 24),
                        _ => rng.between(1 << 30, 1 << 40),
                    };
                    let vname = format!("v{}", topo.volumes.len() + 1);
                    topo.volumes.push((vname.clone(), a));
                    topo.volume_blocks.push(blocks);
                    volumes.push(VolumeDef { name: vname.clone(), blocks });
                    // A twin of the same size can be its mirror (S2 pairs).
                    if rng.chance(1, 3) {
                        let twin = format!("v{}", topo.volumes.len() + 1);
                        topo.volumes.push((twin.clone(), a));
                        topo.volume_blocks.push(blocks);
                        topo.twins.push((vname, twin.clone(), a));
                        volumes.push(VolumeDef { name: twin, blocks });
                    }
                }
                topo.arrays.push(name.clone());
                arrays.push(ArrayDef { name, volumes, media: MediaDef::default(), change_grain: None });
            }
            let vol_blocks: Vec<u64> =
                arrays.iter().flat_map(|a| a.volumes.iter().map(|v| v.blocks)).collect();
            let blocks_of = |v: usize| vol_blocks[v];

            // 3. Hosts and their workloads.
            let n_hosts = rng.between(1, 6) as usize;
            let per_host_max = (3000 / n_hosts as u64).clamp(10, 1000);
            let mut hosts = Vec::new();
            let mut host_arrays: Vec<Vec<usize>> = Vec::new();
            for h in 0..n_hosts {
                let name = format!("h{}", h + 1);
                topo.hosts.push(name.clone());
                let busy = h == 0 || rng.chance(9, 10);
                let mut used_arrays = Vec::new();
                let workload = busy.then(|| {
                    let mut vols = rng.subset(topo.volumes.len());
                    while vols.len() > 3 {
                        vols.remove(rng.index(&vols));
                    }
                    for &v in &vols {
                        if !used_arrays.contains(&topo.volumes[v].1) {
                            used_arrays.push(topo.volumes[v].1);
                        }
                    }
                    let smallest = vols.iter().map(|&v| blocks_of(v)).min().unwrap_or(1);
                    let len = if rng.chance(1, 2) {
                        DistDef::Constant(1)
                    } else {
                        let hi = rng.between(1, smallest.min(16));
                        DistDef::Uniform([1, hi])
                    };
                    let blocks = if rng.chance(1, 3) {
                        BlockDistDef::HotSet {
                            hot_blocks: rng.between(1, smallest.min(16)),
                            hot: RatioDef(rng.between(1, 4), 4),
                        }
                    } else {
                        BlockDistDef::Uniform
                    };
                    // Many operations in flight on a handful of blocks, with timeouts and
                    // crashes leaving outcomes unknown, make the linearizability search
                    // explode: keep concurrency below twice the smallest volume.
                    let concurrency = match rng.below(4) {
                        0 => 1,
                        1 | 2 => rng.between(1, 4),
                        _ => rng.between(1, 16),
                    }
                    .min(smallest.saturating_mul(2).max(1)) as u32;
                    WorkloadDef {
                        volumes: vols.iter().map(|&v| topo.volumes[v].0.clone()).collect(),
                        concurrency,
                        ops: rng.between(10, per_host_max),
                        read: RatioDef(rng.between(0, 6), 8),
                        blocks,
                        len,
                        think: if rng.chance(1, 2) {
                            DistDef::Constant(Duration(0))
                        } else {
                            uniform(0, us(rng.between(1, 300)))
                        },
                    }
                });
                let op_timeout =
                    if rng.chance(1, 2) { Duration(ms(100)) } else { Duration(ms(rng.between(5, 50))) };
                host_arrays.push(used_arrays);
                if let Some(w) = workload.as_ref().filter(|w| w.read.0 < w.read.1) {
                    topo.written.extend(w.volumes.iter().cloned());
                    // Writes that come back to the same chunks: a hot set, or a small volume.
                    for v in &w.volumes {
                        let i = topo.volumes.iter().position(|(n, _)| n == v).expect("a volume");
                        if matches!(w.blocks, BlockDistDef::HotSet { .. }) || blocks_of(i) <= 4096 {
                            topo.hot.push(v.clone());
                        }
                    }
                }
                hosts.push(HostDef { name, workload, op_timeout, file_server: None, backup_server: None });
            }

            // The racer host of `restore_race` (see `super::race`).
            if faults.contains_key("restore_race")
                && let Some(array) = super::race::add_racer(rng, &mut topo, &mut hosts)
            {
                host_arrays.push(vec![array]);
            }

            // 4. Links: each host to every array its workload uses, sometimes a second
            // path or a spare link; array-to-array links between some pairs.
            let mut links = Vec::new();
            for (h, used) in host_arrays.iter().enumerate() {
                let mut ends: Vec<usize> = used.clone();
                if ends.is_empty() {
                    ends.push(rng.below(n_arrays as u64) as usize);
                }
                if rng.chance(1, 4) {
                    ends.push(ends[rng.index(&ends)]);
                }
                if rng.chance(1, 5) {
                    ends.push(rng.below(n_arrays as u64) as usize);
                }
                for a in ends {
                    let name = format!("l{}", links.len() + 1);
                    topo.host_links.push(name.clone());
                    topo.host_arrays.push((topo.hosts[h].clone(), a));
                    links.push(self::link(rng, name, [topo.hosts[h].clone(), topo.arrays[a].clone()]));
                }
            }
            for a in 0..n_arrays {
                for b in a + 1..n_arrays {
                    if rng.chance(1, 2) {
                        let name = format!("r{}", topo.array_links.len() + 1);
                        topo.array_links.push(name.clone());
                        topo.array_link_ends.push((a, b));
                        links.push(self::link(rng, name, [topo.arrays[a].clone(), topo.arrays[b].clone()]));
                    }
                }
            }
            (arrays, hosts, links, Vec::new())
        };
        // S1: a file server and a backup server, when offloaded backups are enabled.
        let roles = faults.contains_key("offload_backup").then(|| {
            super::offload::add_roles(rng, &mut topo, &mut arrays, &mut hosts, &mut links, self::link)
        });
        // Link faults, on a random subset of the links each.
        let weight = |k: &str| faults.get(k).copied();
        for l in &mut links {
            if let Some(w) = weight("link_drop")
                && rng.chance(1, 2)
            {
                l.drop = RatioDef(u64::from(w), rng.between(400, 4000));
            }
            if let Some(w) = weight("link_duplicate")
                && rng.chance(1, 2)
            {
                l.duplicate = RatioDef(u64::from(w), rng.between(100, 1000));
            }
            if let Some(w) = weight("link_reorder")
                && rng.chance(1, 2)
            {
                l.reorder = RatioDef(u64::from(w), rng.between(50, 500));
                let lo = us(rng.between(10, 500));
                l.reorder_delay = uniform(lo, lo + us(rng.between(0, 2000)));
            }
        }

        // 5. Media: latencies, torn writes, and perhaps one slow component.
        for a in &mut arrays {
            let r = us(rng.between(10, 100));
            let w = us(rng.between(20, 200));
            a.media.read = uniform(r, r + us(rng.between(0, 200)));
            a.media.write = uniform(w, w + us(rng.between(0, 200)));
            a.media.meta = a.media.write.clone();
            a.media.torn_writes = weight("torn_writes").is_some() && rng.chance(3, 4);
        }
        if let Some(w) = weight("slow_component") {
            let slow_lo = ms(rng.between(1, 5));
            let slow = [Duration(slow_lo), Duration(slow_lo + ms(rng.between(0, 15)))];
            let slow_ratio = RatioDef(u64::from(w), rng.between(20, 200));
            let target = rng.below((arrays.len() + links.len()) as u64) as usize;
            let make_slow = |d: &mut DistDef<Duration>| {
                if let DistDef::Uniform(fast) = *d {
                    *d = DistDef::Bimodal { fast, slow, slow_ratio };
                }
            };
            if target < arrays.len() {
                make_slow(&mut arrays[target].media.read);
                make_slow(&mut arrays[target].media.write);
            } else {
                make_slow(&mut links[target - arrays.len()].latency);
            }
        }

        // The racer's array: often a slow tail on its data writes (see `super::race`).
        if let Some(r) = &topo.racer {
            super::race::slow_tail(self.seed, &mut arrays[r.array]);
        }
        topo.media_means = arrays
            .iter()
            .map(|a| {
                let fast = |d: &DistDef<Duration>| match d {
                    DistDef::Bimodal { fast, .. } => dist_mean(&DistDef::Uniform(*fast)),
                    other => dist_mean(other),
                };
                (fast(&a.media.read), fast(&a.media.write), fast(&a.media.meta))
            })
            .collect();

        // 6. How long the workload should take: faults are spread over it.
        let mean_latency = |host: &str| {
            links
                .iter()
                .filter(|l| l.between[0] == host)
                .map(|l| dist_mean(&l.latency))
                .max()
                .unwrap_or(us(40))
        };
        let horizon = hosts
            .iter()
            .filter_map(|h| {
                let w = h.workload.as_ref()?;
                let media = arrays.iter().map(|a| dist_mean(&a.media.write)).max().unwrap_or(us(150));
                let per_op = 2 * mean_latency(&h.name) + media + dist_mean(&w.think);
                Some(w.ops.div_ceil(u64::from(w.concurrency)) * per_op)
            })
            .max()
            .unwrap_or(ms(1))
            .max(ms(1));

        // 7. Random fault rates.
        let mut random_faults = RandomFaultsDef::default();
        let rate = |rng: &mut GenRng, w: u32, names: &[String]| {
            let lo = us(rng.between(50, 1000));
            FaultRateDef {
                every: Duration((horizon * 2 / (u64::from(w) + 1)).max(us(100))),
                down: uniform(lo, lo + us(rng.between(0, 5000))),
                targets: if rng.chance(1, 3) {
                    rng.subset(names.len()).into_iter().map(|i| names[i].clone()).collect()
                } else {
                    Vec::new()
                },
            }
        };
        let all_links: Vec<String> = topo.links().into_iter().cloned().collect();
        if let Some(w) = weight("random_link_flap") {
            random_faults.link_flap = Some(rate(rng, w, &all_links));
        }
        if let Some(w) = weight("random_array_crash") {
            random_faults.array_crash = Some(rate(rng, w, &topo.arrays));
        }
        if let Some(w) = weight("random_host_crash") {
            random_faults.host_crash = Some(rate(rng, w, &topo.hosts));
        }

        // 8. The timeline, from the enabled menu items, by weight.
        let menu: Vec<(usize, u32)> = TIMELINE_MENU
            .iter()
            .enumerate()
            .filter(|(_, m)| (m.applies)(&topo) && self.profile.allows(m.name))
            .filter_map(|(i, m)| weight(m.name).map(|w| (i, w)))
            .collect();
        let mut entries = Vec::new();
        if !menu.is_empty() {
            let n = rng.between(1, 12);
            let weights: Vec<u32> = menu.iter().map(|&(_, w)| w).collect();
            let mut state = BTreeMap::new();
            for _ in 0..n {
                let item = &TIMELINE_MENU[menu[rng.weighted(&weights)].0];
                let at = rng.between(horizon / 20, horizon);
                (item.emit)(&mut Emit {
                    rng,
                    topo: &topo,
                    at,
                    horizon,
                    state: &mut state,
                    entries: &mut entries,
                });
            }
        }
        entries.splice(0..0, roles.into_iter().chain(creates));
        // S3's liveness phase: after every other entry, the groups reach their goal.
        if !topo.groups.is_empty() {
            let last = entries.iter().map(|e| e.at.0).max().unwrap_or(0).max(horizon);
            super::remote::liveness(&topo, last, &mut entries);
        }
        entries.sort_by_key(|e| e.at); // Stable: an item's own entries keep their order.
        // Only the kinds that can act on this topology count as enabled.
        let profile = self.profile;
        faults.retain(|k, _| {
            profile.allows(k)
                && TIMELINE_MENU.iter().find(|m| m.name == *k).is_none_or(|m| (m.applies)(&topo))
        });

        // The time bound: long enough even if every operation times out (an array
        // that crashes and stays down until the workload ends), so that hitting it
        // means a run that does not progress.
        let worst = hosts
            .iter()
            .filter_map(|h| {
                let w = h.workload.as_ref()?;
                let think = match &w.think {
                    DistDef::Constant(d) => d.0,
                    DistDef::Uniform([_, hi]) => hi.0,
                    DistDef::Bimodal { fast, slow, .. } => fast[1].0.max(slow[1].0),
                };
                Some(w.ops.div_ceil(u64::from(w.concurrency)) * (h.op_timeout.0 + think + ms(1)))
            })
            .max()
            .unwrap_or(0);
        let last_entry = entries.last().map_or(0, |e| e.at.0);
        let max_time = (2 * (worst + last_entry) + ms(10_000)).max(ms(60_000)).div_ceil(ms(1000)) * ms(1000);

        let swarm = Swarm {
            seed: self.seed,
            calm,
            faults,
            arrays: arrays.len(),
            volumes: topo.volumes.len(),
            hosts: hosts.len(),
            links: links.len(),
            ops: hosts.iter().filter_map(|h| h.workload.as_ref()).map(|w| w.ops).sum(),
            max_concurrency: hosts
                .iter()
                .filter_map(|h| h.workload.as_ref())
                .map(|w| w.concurrency)
                .max()
                .unwrap_or(0),
            horizon_ns: horizon,
            timeline_entries: entries.len(),
            remote_groups: topo.groups.iter().map(|g| g.describe.clone()).collect(),
        };
        let file = ScenarioFile {
            schema: None,
            name: scenario_name(self.seed),
            description: format!("Generated by mirrorsim fuzz from seed {}.", self.seed),
            seed: self.seed,
            arrays,
            hosts,
            links,
            timeline: entries,
            random_faults,
            limits: LimitsDef {
                max_time: Duration(max_time),
                max_events: 2_000_000,
                settle: Duration(10_000_000_000),
            },
            checks: None,
            expect: Expect::Pass,
        };
        Generated { file, swarm }
    }
}

fn link(rng: &mut GenRng, name: String, between: [String; 2]) -> LinkDef {
    let lo = us(rng.between(5, 50));
    LinkDef {
        name,
        between,
        latency: uniform(lo, lo + us(rng.between(0, 100))),
        drop: RatioDef(0, 1),
        duplicate: RatioDef(0, 1),
        reorder: RatioDef(0, 1),
        reorder_delay: uniform(us(100), ms(1)),
    }
}
