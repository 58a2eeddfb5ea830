//! S3 in generated scenarios: two-array topologies with remote pairs in consistency
//! groups, the S3 timeline menu items and the liveness phase.
//!
//! When the swarm draws a *remote* seed (one in four), [`topology`] replaces the usual
//! one-array topology: array `A` (the primaries) and array `B` (the secondaries), one
//! or two array links between them, 1-2 consistency groups of 1-3 pairs (every
//! group draws its mode: sync with fence `data`, sync with fence `never`, or async;
//! and its split-brain policy), application hosts on `A` writing the primaries,
//! sometimes a disaster-recovery host on `B` writing the secondaries (refused until a
//! takeover; after one, its writes make split brain possible), and an admin host
//! `adm` linked to both arrays that sends every S3 command. The groups are created at
//! time 0 (sometimes a group's last pair joins it later).
//!
//! The menu items (`remote_*` in [`super::menu::TIMELINE_MENU`]) send `suspend`,
//! `resume`, `takeover` and `failback` to a random group from whatever state it is in
//! (refusals are judged too), take array links down or make them flap, split the two
//! sites, crash either array, and run a group's whole cycle timed so that a fault
//! lands while its resync runs ([`cycle`]).
//!
//! The liveness phase ([`liveness`]): after every other entry, the array links come
//! back and each group is resumed (refused where the model refuses it), so a group
//! that can reach `pair` must get there while the world settles; a run that never
//! finishes its resync ends on the settle bound.
//!
//! A combination the engine (or the model) gets wrong is left out of the generator
//! until it is fixed and listed in [`KNOWN_GAPS`] with a minimal reproduction.

use super::menu::{Emit, Topology};
use super::rng::GenRng;
use crate::scenario::format::*;
use model::{Fence, RemoteMode, SplitBrainPolicy};

/// What the generator leaves out of remote seeds for now, each an engine or model
/// gap the fuzzer found (none at present).
///
/// Were gaps: takeovers of sync groups with fence `never` (branch `never`: fence-never
/// sync writes are local first); snapshots of volumes in remote pairs (`rsnap`: the
/// snapshot rules of `model::remote`, "Snapshots"; `rsnap2`: a failback's `Begin`
/// waits for the old primary's copy-on-write host writes in flight: full seed 7,
/// `tests/regression/cow-write-to-old-primary-landed-after-failback-begin.json`);
/// snapshots of the secondaries of sync groups with fence `data` (full seed 2759: a
/// primary crash left a sync write on the secondary only, which a snapshot of the
/// suspended secondary kept and the resume then discarded; the restarted primary now
/// adopts the secondary's content of its activity log, `engine::remote` "Doubt
/// marks": `tests/regression/snapshot-of-fence-data-secondary-kept-a-write-the-resume-discarded.json`).
///
/// Groups have 1-3 pairs, created together at time 0; in one group in four the last
/// pair joins later (0.2-30ms), while the first copy runs or after it ended.
pub const KNOWN_GAPS: &[&str] = &[];

/// The admin host of remote topologies.
pub const ADMIN: &str = "adm";

/// A consistency group of a generated scenario.
#[derive(Clone, Debug)]
pub struct RemoteGroup {
    pub name: String,
    /// Indices (in `Topology::arrays`) of the first primary's and secondary's arrays.
    pub primary: usize,
    pub secondary: usize,
    /// e.g. `sync/data`, `sync/never`, `async`, with the policy and the pairs count.
    pub describe: String,
    /// Takeovers (and failbacks) are generated for this group.
    pub takeovers: bool,
    /// Every volume of the group's pairs (both sides).
    pub volumes: Vec<String>,
}

/// What [`topology`] builds.
pub struct Built {
    pub arrays: Vec<ArrayDef>,
    pub hosts: Vec<HostDef>,
    pub links: Vec<LinkDef>,
    /// The groups' `remote_pair_create` entries, at time 0.
    pub creates: Vec<TimelineEntry>,
}

fn workload(rng: &mut GenRng, volumes: Vec<String>, smallest: u64, per_host_max: u64) -> WorkloadDef {
    let len = if rng.chance(1, 2) {
        DistDef::Constant(1)
    } else {
        DistDef::Uniform([1, rng.between(1, smallest.min(8))])
    };
    let blocks = if rng.chance(1, 2) {
        BlockDistDef::HotSet {
            hot_blocks: rng.between(1, smallest.min(64)),
            hot: RatioDef(rng.between(1, 4), 4),
        }
    } else {
        BlockDistDef::Uniform
    };
    let concurrency = match rng.below(3) {
        0 => 1,
        1 => rng.between(1, 4),
        _ => rng.between(1, 8),
    }
    .min(smallest.saturating_mul(2).max(1)) as u32;
    WorkloadDef {
        volumes,
        concurrency,
        ops: rng.between(20, per_host_max),
        read: RatioDef(rng.between(0, 6), 8),
        blocks,
        len,
        think: if rng.chance(1, 2) {
            DistDef::Constant(Duration(0))
        } else {
            DistDef::Uniform([Duration(0), Duration(rng.between(1, 300) * 1_000)])
        },
    }
}

/// The two-array topology of a remote seed: arrays, volumes, hosts and their
/// workloads, links (each host to its side, the admin host to both, one or two array
/// links), the groups (recorded in `topo.groups`) and their creation entries.
pub fn topology(
    rng: &mut GenRng,
    topo: &mut Topology,
    link: impl Fn(&mut GenRng, String, [String; 2]) -> LinkDef,
) -> Built {
    let mut a_vols = Vec::new();
    let mut b_vols = Vec::new();
    let mut creates = Vec::new();
    let mut primaries: Vec<(String, u64)> = Vec::new();
    let mut secondaries: Vec<(String, u64)> = Vec::new();
    topo.arrays = vec!["A".into(), "B".into()];
    let n_groups = if rng.chance(1, 3) { 2 } else { 1 };
    let mut n_pairs = 0;
    for g in 0..n_groups {
        let group = format!("g{}", g + 1);
        let (mode, fence) = match rng.below(3) {
            0 => (RemoteMode::Sync, Fence::Data),
            1 => (RemoteMode::Sync, Fence::Never),
            _ => (RemoteMode::Async, Fence::Never),
        };
        let split_brain =
            [SplitBrainPolicy::Refuse, SplitBrainPolicy::DiscardSecondary, SplitBrainPolicy::DiscardPrimary]
                [rng.below(3) as usize];
        // 1-3 pairs, created together at time 0; sometimes the last one joins the
        // group later, while the first copy runs or after it ended.
        let size = rng.between(1, 3);
        let late = (size > 1 && rng.chance(1, 4)).then(|| rng.between(200, 30_000) * 1_000);
        let mut volumes = Vec::new();
        for remaining in (0..size).rev() {
            n_pairs += 1;
            let blocks = match rng.below(6) {
                0 | 1 => rng.between(1, 32),
                2..=4 => rng.between(33, 4096),
                _ => rng.between(1 << 16, 1 << 30),
            };
            let (p, s) = (format!("v{}", 2 * n_pairs - 1), format!("v{}", 2 * n_pairs));
            volumes.extend([p.clone(), s.clone()]);
            topo.volumes.push((p.clone(), 0));
            topo.volume_blocks.push(blocks);
            topo.volumes.push((s.clone(), 1));
            topo.volume_blocks.push(blocks);
            a_vols.push(VolumeDef { name: p.clone(), blocks });
            b_vols.push(VolumeDef { name: s.clone(), blocks });
            primaries.push((p.clone(), blocks));
            secondaries.push((s.clone(), blocks));
            creates.push(TimelineEntry {
                at: Duration(if remaining == 0 { late.unwrap_or(0) } else { 0 }),
                action: ActionDef::RemotePairCreate {
                    host: ADMIN.into(),
                    pair: format!("rp{n_pairs}"),
                    primary: p,
                    secondary: s,
                    group: group.clone(),
                    mode: Some(mode),
                    fence: Some(fence),
                    split_brain: Some(split_brain),
                },
            });
        }
        let describe = match mode {
            RemoteMode::Sync => format!("{group}:sync/{fence}/{split_brain}/{size}"),
            RemoteMode::Async => format!("{group}:async/{split_brain}/{size}"),
        };
        // Every group takes over: sync groups are judged by linearizability (fence
        // `never` too, since its writes are local first: issue 5, regression case
        // `fence-never-crash-left-a-write-on-the-secondary-only`), async groups by the
        // prefix check.
        let takeovers = true;
        topo.groups.push(RemoteGroup { name: group, primary: 0, secondary: 1, describe, takeovers, volumes });
    }
    let arrays = vec![
        ArrayDef { name: "A".into(), volumes: a_vols, media: MediaDef::default(), change_grain: None },
        ArrayDef { name: "B".into(), volumes: b_vols, media: MediaDef::default(), change_grain: None },
    ];

    // Application hosts on A; sometimes a disaster-recovery host on B.
    let n_app = rng.between(1, 3) as usize;
    let dr = rng.chance(1, 2);
    let per_host_max = (2400 / (n_app as u64 + u64::from(dr))).clamp(20, 800);
    let mut hosts = Vec::new();
    let mut host_arrays = Vec::new();
    let pick = |rng: &mut GenRng, vols: &[(String, u64)]| {
        let mut chosen = rng.subset(vols.len());
        while chosen.len() > 3 {
            chosen.remove(rng.index(&chosen));
        }
        let smallest = chosen.iter().map(|&i| vols[i].1).min().unwrap_or(1);
        (chosen.iter().map(|&i| vols[i].0.clone()).collect::<Vec<_>>(), smallest)
    };
    let timeout = |rng: &mut GenRng| {
        Duration(if rng.chance(3, 4) { 100_000_000 } else { rng.between(10, 50) * 1_000_000 })
    };
    for h in 0..n_app {
        let (vols, smallest) = pick(rng, &primaries);
        let w = workload(rng, vols, smallest, per_host_max);
        let name = format!("h{}", h + 1);
        topo.hosts.push(name.clone());
        host_arrays.push(vec![0]);
        hosts.push(HostDef {
            name,
            workload: Some(w),
            op_timeout: timeout(rng),
            file_server: None,
            backup_server: None,
        });
    }
    if dr {
        let (vols, smallest) = pick(rng, &secondaries);
        let mut w = workload(rng, vols, smallest, per_host_max / 2 + 10);
        // Its I/O is refused until a takeover: usually paced so that some of it comes
        // after one (then both sides write while apart).
        if rng.chance(3, 4) {
            let lo = rng.between(100, 500) * 1_000;
            w.think = DistDef::Uniform([Duration(lo), Duration(lo + rng.between(500, 3_000) * 1_000)]);
        }
        topo.hosts.push("dr".into());
        host_arrays.push(vec![1]);
        hosts.push(HostDef {
            name: "dr".into(),
            workload: Some(w),
            op_timeout: timeout(rng),
            file_server: None,
            backup_server: None,
        });
    }
    topo.hosts.push(ADMIN.into());
    host_arrays.push(vec![0, 1]);
    hosts.push(HostDef {
        name: ADMIN.into(),
        workload: None,
        op_timeout: Duration(1_000_000_000),
        file_server: None,
        backup_server: None,
    });
    let mut links = Vec::new();
    for (h, ends) in host_arrays.iter().enumerate() {
        for &a in ends {
            let name = format!("l{}", links.len() + 1);
            topo.host_links.push(name.clone());
            topo.host_arrays.push((topo.hosts[h].clone(), a));
            links.push(link(rng, name, [topo.hosts[h].clone(), topo.arrays[a].clone()]));
        }
    }
    for _ in 0..rng.between(1, 2) {
        let name = format!("r{}", topo.array_links.len() + 1);
        topo.array_links.push(name.clone());
        topo.array_link_ends.push((0, 1));
        let mut l = link(rng, name, ["A".into(), "B".into()]);
        // Array links are longer than SAN links: 50us to 1ms.
        let lo = rng.between(50, 500) * 1_000;
        l.latency = DistDef::Uniform([Duration(lo), Duration(lo + rng.between(0, 500) * 1_000)]);
        links.push(l);
    }
    Built { arrays, hosts, links, creates }
}

pub fn has_groups(t: &Topology) -> bool {
    !t.groups.is_empty()
}

pub fn has_takeover_groups(t: &Topology) -> bool {
    t.groups.iter().any(|g| g.takeovers)
}

fn group(e: &mut Emit<'_>) -> RemoteGroup {
    e.topo.groups[e.rng.index(&e.topo.groups)].clone()
}

fn takeover_group(e: &mut Emit<'_>) -> RemoteGroup {
    let groups: Vec<&RemoteGroup> = e.topo.groups.iter().filter(|g| g.takeovers).collect();
    groups[e.rng.index(&groups)].clone()
}

/// Whether `volume` is in a remote pair.
pub fn in_remote_pair(t: &Topology, volume: &str) -> bool {
    t.groups.iter().any(|g| g.volumes.iter().any(|v| v == volume))
}

fn cmd(name: usize, host: String, group: String) -> ActionDef {
    match name {
        0 => ActionDef::Suspend { host, group, array: None },
        1 => ActionDef::Resume { host, group, array: None },
        2 => ActionDef::Takeover { host, group, array: None },
        _ => ActionDef::Failback { host, group, array: None },
    }
}

/// `remote_suspend`: a planned suspension, usually sent to the primary array,
/// sometimes to the secondary (which forwards it).
pub fn suspend(e: &mut Emit<'_>) {
    let g = group(e);
    let array = e.rng.chance(1, 4).then(|| e.topo.arrays[g.secondary].clone());
    e.push(e.at, ActionDef::Suspend { host: ADMIN.into(), group: g.name, array });
}

/// `remote_resume`.
pub fn resume(e: &mut Emit<'_>) {
    let g = group(e);
    e.push(e.at, cmd(1, ADMIN.into(), g.name));
}

/// `remote_takeover`: the secondaries of a sync group take over (from any state;
/// refused where the model refuses).
pub fn takeover(e: &mut Emit<'_>) {
    let g = takeover_group(e);
    e.push(e.at, cmd(2, ADMIN.into(), g.name));
}

/// `remote_failback`: usually preceded by a takeover a moment earlier (the groups
/// [`takeover`] draws: every group). The scenario's routing stays
/// static, so after a failback `suspend`/`resume` reach the new secondary and
/// `takeover`/`failback` the new primary, which forward them.
///
/// One time in three the takeover follows a planned suspension by a while, so that
/// the primaries' hosts write in between: writes the secondaries never get, which
/// the failback's reverse resync must overwrite (the old primary's own change map).
pub fn failback(e: &mut Emit<'_>) {
    let g = takeover_group(e);
    let mut at = e.at;
    match e.rng.below(3) {
        0 => {
            e.push(at, cmd(0, ADMIN.into(), g.name.clone()));
            at += e.rng.between(500_000, 20_000_000);
            e.push(at, cmd(2, ADMIN.into(), g.name.clone()));
        }
        1 => e.push(at, cmd(2, ADMIN.into(), g.name.clone())),
        _ => {}
    }
    let later = at + e.outage();
    e.push(later, cmd(3, ADMIN.into(), g.name));
}

fn array_link_names(t: &Topology, a: usize, b: usize) -> Vec<String> {
    t.array_links
        .iter()
        .zip(&t.array_link_ends)
        .filter(|(_, ends)| **ends == (a, b) || **ends == (b, a))
        .map(|(l, _)| l.clone())
        .collect()
}

/// `remote_link_fault`: one array link (or all of them) down then up, or flapping.
pub fn link_fault(e: &mut Emit<'_>) {
    let g = group(e);
    let all = array_link_names(e.topo, g.primary, g.secondary);
    let links = if e.rng.chance(1, 2) { all } else { vec![e.pick(&all).clone()] };
    if e.rng.chance(1, 3) {
        let down = Duration(e.rng.between(20_000, 3_000_000));
        let up = Duration(e.rng.between(20_000, 3_000_000));
        let times = e.rng.between(1, 6) as u32;
        for link in links {
            e.push(e.at, ActionDef::LinkFlap { link, down, up, times });
        }
    } else {
        let back = e.at + e.outage();
        for link in links {
            e.push(e.at, ActionDef::LinkDown { link: link.clone() });
            e.push(back, ActionDef::LinkUp { link });
        }
    }
}

/// `remote_partition`: the sites split: every array link down, and with them the
/// links of one side's hosts to the other side's array (the admin host stays with
/// one side); all heal together after an outage.
pub fn partition(e: &mut Emit<'_>) {
    let g = group(e);
    let mut cut = array_link_names(e.topo, g.primary, g.secondary);
    let admin_side = if e.rng.chance(1, 2) { g.primary } else { g.secondary };
    for (link, (host, a)) in e.topo.host_links.iter().zip(&e.topo.host_arrays) {
        if host == ADMIN && *a != admin_side {
            cut.push(link.clone());
        }
    }
    let back = e.at + e.outage();
    for link in cut {
        e.push(e.at, ActionDef::LinkDown { link: link.clone() });
        e.push(back, ActionDef::LinkUp { link });
    }
}

/// `remote_crash`: the controller of the primary or the secondary array crashes and
/// restarts after an outage.
pub fn crash(e: &mut Emit<'_>) {
    let g = group(e);
    let a = if e.rng.chance(1, 2) { g.primary } else { g.secondary };
    let array = e.topo.arrays[a].clone();
    let after = e.outage();
    e.push(e.at, ActionDef::CrashArray { array, restart_after: Some(Duration(after)) });
}

/// `remote_cycle`: a group's cycle: the group is suspended (planned, or by its array
/// links going down), both sides get time to be written, often after a takeover (the
/// disaster-recovery host writes the secondaries while the primaries' hosts go on:
/// split brain), then the group is resumed, or failed back after a takeover, or left
/// as it is (its secondaries readable until the liveness phase resumes it); a moment
/// after a resume or failback the links go down, either array crashes, or the
/// secondaries take over, so that a fault lands while the resync runs. Random
/// commands alone rarely reach "link down during resync", "takeover mid-resync" or
/// "both sides wrote, then failback"; the coverage report counts these.
pub fn cycle(e: &mut Emit<'_>) {
    let g = group(e);
    let step = (e.horizon / 10).max(200_000);
    let mut t = e.at;
    let links = array_link_names(e.topo, g.primary, g.secondary);
    let planned = e.rng.chance(1, 2);
    let outage = e.rng.between(step / 2, step * 2);
    if planned {
        e.push(t, cmd(0, ADMIN.into(), g.name.clone()));
    } else {
        for l in &links {
            e.push(t, ActionDef::LinkDown { link: l.clone() });
            e.push(t + outage, ActionDef::LinkUp { link: l.clone() });
        }
    }
    let took_over = g.takeovers && e.rng.chance(1, 2);
    if took_over {
        // Sometimes at once (an async secondary cut mid-stream shows its prefix),
        // usually once the suspension is known.
        t += if e.rng.chance(1, 3) { e.rng.between(0, 2_000) } else { e.rng.between(step / 4, step) };
        e.push(t, cmd(2, ADMIN.into(), g.name.clone()));
    }
    t = t.max(e.at + outage) + e.rng.between(step / 4, step);
    // After a takeover: resume (the primaries win), failback (the secondaries
    // win; as often as the resume, so that a reverse resync over the old primary's
    // unshipped writes is common) or nothing yet.
    let end = if took_over { e.rng.below(5) } else { 0 };
    match end {
        0 | 1 => e.push(t, cmd(1, ADMIN.into(), g.name.clone())),
        2 | 3 => e.push(t, cmd(3, ADMIN.into(), g.name.clone())),
        _ => return,
    }
    if e.rng.chance(1, 5) {
        return;
    }
    let at = t + e.rng.between(2_000, (step / 4).max(10_000));
    let after = e.outage();
    match e.rng.below(5) {
        0 | 1 => {
            for l in &links {
                e.push(at, ActionDef::LinkDown { link: l.clone() });
                e.push(at + after, ActionDef::LinkUp { link: l.clone() });
            }
        }
        2 => {
            let array = e.topo.arrays[g.primary].clone();
            e.push(at, ActionDef::CrashArray { array, restart_after: Some(Duration(after)) });
        }
        3 => {
            let array = e.topo.arrays[g.secondary].clone();
            e.push(at, ActionDef::CrashArray { array, restart_after: Some(Duration(after)) });
        }
        _ if g.takeovers => e.push(at, cmd(2, ADMIN.into(), g.name)),
        _ => {}
    }
}

/// The liveness phase, after every other entry (`last`, simulated ns): the array
/// links (and the admin host's links) are brought up, then each group is resumed
/// (refused where the model refuses it: in `pair`, or after a takeover when split
/// brain and the policy forbid it), so a group that can reach `pair` must get there
/// (its resync finish) while the world settles. The groups that take over are
/// then suspended and taken over 100ms later, so that the final audit reads their
/// secondaries.
pub fn liveness(topo: &Topology, last: u64, entries: &mut Vec<TimelineEntry>) {
    let t = last + 5_000_000;
    for link in &topo.array_links {
        entries.push(TimelineEntry { at: Duration(t), action: ActionDef::LinkUp { link: link.clone() } });
    }
    for link in topo.host_links.iter().zip(&topo.host_arrays).filter(|(_, (h, _))| h == ADMIN).map(|(l, _)| l)
    {
        entries.push(TimelineEntry { at: Duration(t), action: ActionDef::LinkUp { link: link.clone() } });
    }
    for g in &topo.groups {
        entries.push(TimelineEntry {
            at: Duration(t + 1_000_000),
            action: cmd(1, ADMIN.into(), g.name.clone()),
        });
        // Groups that may take over end with a planned suspension and a takeover, so
        // that the audit reads the secondaries: each must be its primary's image
        // (or, if the resync had not finished, its pre-resync image).
        if g.takeovers {
            let end = t + 100_000_000;
            entries.push(TimelineEntry { at: Duration(end), action: cmd(0, ADMIN.into(), g.name.clone()) });
            entries.push(TimelineEntry {
                at: Duration(end + 1_000_000),
                action: cmd(2, ADMIN.into(), g.name.clone()),
            });
        }
    }
}
