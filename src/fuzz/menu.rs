//! The timeline menu: every kind of scripted action the generator can put on a
//! scenario's timeline, each one entry of [`TIMELINE_MENU`].
//!
//! **Extension point.** Adding a kind of timeline entry (a fault, a repair, an admin
//! command such as `pair_create`, `split`, `resync` or `restore`) is adding one
//! [`MenuItem`] to [`TIMELINE_MENU`]: a name (it appears in the swarm configuration
//! and the JSON output), `applies` (whether the topology has what the action needs),
//! and `emit` (push one or more timeline entries at or after [`Emit::at`], drawing
//! every choice from [`Emit::rng`]). Swarm testing then enables the new kind on a
//! random half of the seeds with a random weight, and the shrinker removes its entries
//! like any other. An item that needs state across entries (which pairs exist, which
//! are split) keeps it in [`Emit::state`], which lives for one scenario's generation.

use super::remote;
use super::rng::GenRng;
use crate::scenario::format::{ActionDef, Duration, RegionDef, TimelineEntry};
use std::collections::BTreeMap;

/// The names of what a generated scenario contains, for menu items to pick from.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub arrays: Vec<String>,
    /// `(volume name, index of its array)`.
    pub volumes: Vec<(String, usize)>,
    pub hosts: Vec<String>,
    /// Host-to-array links.
    pub host_links: Vec<String>,
    /// Array-to-array links.
    pub array_links: Vec<String>,
    /// The two arrays (indices) of each array-to-array link, in the order of
    /// `array_links`.
    pub array_link_ends: Vec<(usize, usize)>,
    /// The size of each volume, in the order of `volumes`.
    pub volume_blocks: Vec<u64>,
    /// Volumes of equal size on one array that can form a pair: (source, mirror,
    /// array index).
    pub twins: Vec<(String, String, usize)>,
    /// (host, array index) for every host-to-array link.
    pub host_arrays: Vec<(String, usize)>,
    /// S1: each backup server and the files of its file server.
    pub backup_servers: Vec<(String, Vec<String>)>,
    /// Volumes some host's workload writes (not only reads), with repeats.
    pub written: Vec<String>,
    /// Of those, the ones whose writes keep coming back to the same chunks (a hot set
    /// or a small volume), with repeats.
    pub hot: Vec<String>,
    /// The racer host of `restore_race`, when the swarm enabled it.
    pub racer: Option<super::race::Racer>,
    /// S3: the consistency groups (remote seeds only, `super::remote`).
    pub groups: Vec<super::remote::RemoteGroup>,
    /// Mean media latencies (read, data write, metadata put; simulated ns) of each
    /// array, in the order of `arrays`: items that time a fault into a copy's last
    /// step estimate it from them (`super::backup_timing`).
    pub media_means: Vec<(u64, u64, u64)>,
}

impl Topology {
    /// Every link, host-to-array first.
    pub fn links(&self) -> Vec<&String> {
        self.host_links.iter().chain(&self.array_links).collect()
    }
}

/// What a menu item gets to produce its entries.
pub struct Emit<'a> {
    pub rng: &'a mut GenRng,
    pub topo: &'a Topology,
    /// When the entry happens (simulated ns), already drawn from the fault window.
    pub at: u64,
    /// The estimated length of the workload phase (simulated ns): scale delays by it.
    pub horizon: u64,
    /// Free-form state shared by the items during one scenario's generation.
    pub state: &'a mut BTreeMap<String, Vec<String>>,
    pub(super) entries: &'a mut Vec<TimelineEntry>,
}

impl Emit<'_> {
    /// Adds an entry at `at` (simulated ns).
    pub fn push(&mut self, at: u64, action: ActionDef) {
        self.entries.push(TimelineEntry { at: Duration(at), action });
    }

    /// A uniformly chosen name.
    pub fn pick<'n>(&mut self, names: &'n [String]) -> &'n String {
        &names[self.rng.index(names)]
    }

    /// An outage length: 50us to 5ms, or up to a tenth of the horizon.
    pub fn outage(&mut self) -> u64 {
        let hi = (self.horizon / 10).clamp(200_000, 5_000_000);
        self.rng.between(50_000, hi)
    }
}

/// One kind of timeline entry.
pub struct MenuItem {
    pub name: &'static str,
    /// Whether the topology has what this action needs.
    pub applies: fn(&Topology) -> bool,
    /// Pushes the entries of one occurrence.
    pub emit: fn(&mut Emit<'_>),
}

/// Every kind of timeline entry the generator knows, in a fixed order (the order is
/// part of what a seed means: append new items at the end).
pub const TIMELINE_MENU: &[MenuItem] = &[
    MenuItem { name: "link_down", applies: has_links, emit: link_down },
    MenuItem { name: "link_flap", applies: has_links, emit: link_flap },
    MenuItem { name: "crash_array", applies: |_| true, emit: crash_array },
    MenuItem { name: "crash_host", applies: |t| !t.hosts.is_empty(), emit: crash_host },
    MenuItem { name: "media_error", applies: media_errorable, emit: media_error },
    MenuItem { name: "pair_command", applies: pairable, emit: pair_command },
    MenuItem { name: "pair_cycle", applies: pairable, emit: pair_cycle },
    MenuItem { name: "partition", applies: |t| t.hosts.len() + t.arrays.len() > 2, emit: partition },
    MenuItem { name: "power_loss", applies: |t| !t.host_arrays.is_empty(), emit: power_loss },
    MenuItem { name: "offload_backup", applies: |t| !t.backup_servers.is_empty(), emit: offload_backup },
    MenuItem { name: "snapshot_command", applies: snapshottable, emit: snapshot_command },
    MenuItem { name: "restore_race", applies: pairable, emit: restore_race },
    MenuItem { name: "backup_command", applies: snapshottable, emit: backup_command },
    MenuItem { name: "remote_suspend", applies: remote::has_groups, emit: remote::suspend },
    MenuItem { name: "remote_resume", applies: remote::has_groups, emit: remote::resume },
    MenuItem { name: "remote_takeover", applies: remote::has_takeover_groups, emit: remote::takeover },
    MenuItem { name: "remote_failback", applies: remote::has_takeover_groups, emit: remote::failback },
    MenuItem { name: "remote_link_fault", applies: remote::has_groups, emit: remote::link_fault },
    MenuItem { name: "remote_partition", applies: remote::has_groups, emit: remote::partition },
    MenuItem { name: "remote_crash", applies: remote::has_groups, emit: remote::crash },
    MenuItem { name: "remote_cycle", applies: remote::has_groups, emit: remote::cycle },
];

/// A network partition: the nodes (hosts and arrays) split into two random sides, and
/// every link between the sides goes down at once; usually they all come back
/// together after an outage.
fn partition(e: &mut Emit<'_>) {
    let (hosts, arrays) = (e.topo.hosts.len(), e.topo.arrays.len());
    let mut side: Vec<bool> = (0..hosts + arrays).map(|_| e.rng.chance(1, 2)).collect();
    // Both sides non-empty.
    let first = e.rng.below((hosts + arrays) as u64) as usize;
    side[first] = true;
    if side.iter().all(|&s| s) {
        let other = (first + 1 + e.rng.below((hosts + arrays - 1) as u64) as usize) % (hosts + arrays);
        side[other] = false;
    }
    let host_index = |name: &String| e.topo.hosts.iter().position(|h| h == name).expect("a host");
    let mut cut: Vec<String> = Vec::new();
    for (link, (host, a)) in e.topo.host_links.iter().zip(&e.topo.host_arrays) {
        if side[host_index(host)] != side[hosts + a] {
            cut.push(link.clone());
        }
    }
    for (link, &(a, b)) in e.topo.array_links.iter().zip(&e.topo.array_link_ends) {
        if side[hosts + a] != side[hosts + b] {
            cut.push(link.clone());
        }
    }
    let heal = if e.rng.chance(3, 4) { Some(e.at + e.outage()) } else { None };
    for link in cut {
        e.push(e.at, ActionDef::LinkDown { link: link.clone() });
        if let Some(t) = heal {
            e.push(t, ActionDef::LinkUp { link });
        }
    }
}

/// A site loses power: one array's controller and every host linked to it crash at
/// the same instant (media and metadata survive, as behind a battery-backed cache);
/// the site comes back after an outage.
fn power_loss(e: &mut Emit<'_>) {
    let sites: Vec<usize> = e.topo.host_arrays.iter().map(|(_, a)| *a).collect();
    let a = sites[e.rng.index(&sites)];
    let after = e.outage();
    let array = e.topo.arrays[a].clone();
    e.push(e.at, ActionDef::CrashArray { array, restart_after: Some(Duration(after)) });
    let mut hosts: Vec<String> =
        e.topo.host_arrays.iter().filter(|(_, b)| *b == a).map(|(h, _)| h.clone()).collect();
    hosts.dedup();
    for host in hosts {
        e.push(e.at, ActionDef::CrashHost { host, restart_after: Some(Duration(after)) });
    }
}

/// S1: a backup server backs up one of its file server's files (the roles are added
/// to the topology by `super::offload` when the swarm enables this item).
fn offload_backup(e: &mut Emit<'_>) {
    let (host, files) = e.topo.backup_servers[e.rng.index(&e.topo.backup_servers)].clone();
    let file = e.pick(&files).clone();
    e.push(e.at, ActionDef::OffloadBackup { host, file });
}

/// A volume on an array some host reaches (volumes in remote pairs too: a primary,
/// a sync secondary, and the refusals of the others, `model::remote` "Snapshots";
/// a remote topology's primaries always remain).
fn snapshottable(t: &Topology) -> bool {
    t.volumes.iter().any(|(_, a)| t.host_arrays.iter().any(|(_, b)| a == b))
}

/// An S4 admin command: usually a snapshot of a volume under a new image name, else
/// the delete of an image named earlier in this scenario, or a snapshot under a name
/// already taken (refusals are judged too). Volumes in pairs are chosen like any other
/// (the snapshot is refused while they are paired). The final audit reads every image
/// over the blocks written to its volume, so the images' content is judged.
fn snapshot_command(e: &mut Emit<'_>) {
    let images = e.state.get("images").cloned().unwrap_or_default();
    let roll = e.rng.below(8);
    if !images.is_empty() && roll < 3 {
        let chosen = images[e.rng.index(&images)].clone();
        let mut f = chosen.split('/');
        let (image, volume) = (f.next().expect("name").to_string(), f.next().expect("volume").to_string());
        let array: usize = f.next().expect("array").parse().expect("an array index");
        let host = admin_host(e, array);
        let action = if roll < 2 {
            ActionDef::DeleteSnapshot { host, image }
        } else {
            ActionDef::Snapshot { host, volume, image }
        };
        return e.push(e.at, action);
    }
    let usable: Vec<usize> = (0..e.topo.volumes.len())
        .filter(|&v| e.topo.host_arrays.iter().any(|(_, a)| *a == e.topo.volumes[v].1))
        .collect();
    let v = usable[e.rng.index(&usable)];
    let (volume, array) = e.topo.volumes[v].clone();
    let host = admin_host(e, array);
    let image = format!("i{}", images.len() + 1);
    e.state.entry("images".into()).or_default().push(format!("{image}/{volume}/{array}"));
    e.push(e.at, ActionDef::Snapshot { host, volume, image });
}

/// An S0 command: usually a backup of a region to a region of another volume of the
/// same array (or of the same volume, or the catalog: refusals are judged too), else a
/// `record_backup`, `list_backups` or `restore_backup` of a backup named earlier in this
/// scenario. Regions are biased to the volumes' first blocks, where workloads with a
/// hot set write, and a new backup's source is usually such a volume
/// ([`super::backup_timing::volumes`]). The final audit reads each backup's
/// destination where its source was written, so the copies' content is judged. A new
/// backup is usually followed by a controller crash timed into its copy's last step
/// ([`super::backup_timing::crash_at_the_end`]).
fn backup_command(e: &mut Emit<'_>) {
    let backups = e.state.get("backups").cloned().unwrap_or_default();
    let usable: Vec<usize> = (0..e.topo.volumes.len())
        .filter(|&v| e.topo.host_arrays.iter().any(|(_, a)| *a == e.topo.volumes[v].1))
        .collect();
    let region = |e: &mut Emit<'_>, v: usize| -> RegionDef {
        let size = e.topo.volume_blocks[v];
        let blocks = 1 + e.rng.below(size.min(64));
        let start = if e.rng.chance(3, 4) { e.rng.below(size.min(32)) } else { e.rng.below(size) };
        RegionDef { volume: e.topo.volumes[v].0.clone(), start: start.min(size - blocks), blocks }
    };
    let roll = e.rng.below(10);
    if !backups.is_empty() && roll < 5 {
        let chosen = backups[e.rng.index(&backups)].clone();
        let (backup, rest) = chosen.split_once('/').expect("name/array/blocks");
        let (array, blocks) = rest.split_once('/').expect("array/blocks");
        let (array, blocks): (usize, u64) = (array.parse().expect("index"), blocks.parse().expect("blocks"));
        let host = admin_host(e, array);
        let on_array: Vec<usize> = usable.iter().copied().filter(|&v| e.topo.volumes[v].1 == array).collect();
        let v = on_array[e.rng.index(&on_array)];
        let backup = backup.to_string();
        let action = match roll {
            0 | 1 => ActionDef::RecordBackup {
                host,
                backup,
                label: format!("gen{}", roll),
                generation: e.rng.below(100),
                host_time: e.rng.below(1_000_000),
                source: "/fuzz".into(),
            },
            2 => ActionDef::ListBackups { host, volume: e.topo.volumes[v].0.clone() },
            _ => {
                let mut to = region(e, v);
                let size = e.topo.volume_blocks[v];
                to.blocks = blocks.min(size);
                to.start = to.start.min(size - to.blocks);
                ActionDef::RestoreBackup { host, backup, to }
            }
        };
        return e.push(e.at, action);
    }
    let (v, w) = super::backup_timing::volumes(e, &usable);
    let array = e.topo.volumes[v].1;
    let source = region(e, v);
    let mut destination = region(e, w);
    let size = e.topo.volume_blocks[w];
    destination.blocks = source.blocks.min(size);
    destination.start = destination.start.min(size - destination.blocks);
    super::backup_timing::separate(e, &source, &mut destination, size);
    if e.rng.chance(1, 12) {
        destination.volume = "catalog".into();
    }
    let host = admin_host(e, array);
    let blocks = source.blocks;
    let mut at = e.at;
    let mut n = backups.len();
    // Usually a controller crash timed into the copy's last step, when the catalog
    // entry turns `complete`: the entry must never say so over data a crash lost.
    // Half the time, once the array is back, the same backup again, crash included
    // (up to three tries).
    for _ in 0..3 {
        n += 1;
        let backup = format!("b{n}");
        e.state.entry("backups".into()).or_default().push(format!("{backup}/{array}/{blocks}"));
        let (source, destination) = (source.clone(), destination.clone());
        e.push(at, ActionDef::Backup { host: host.clone(), backup, source, destination });
        let Some(back) = super::backup_timing::crash_at_the_end(e, at, array, blocks) else { break };
        if !e.rng.chance(1, 2) {
            break;
        }
        at = back + e.rng.between(1_000_000, 3_000_000);
    }
}

/// A latent sector error on a random block (biased to the first blocks, where
/// workloads with a hot set land).
///
/// Not on a volume that can be a mirror: a restore whose mirror (its only source) is
/// unreadable can neither finish nor, in the model, be suspended (a real array
/// suspends it with an error; modelling that transition is open work), so the run
/// would end on the liveness bound.
///
/// Volumes in remote pairs take them too (S3 seeds, full profile): an unreadable copy
/// source or pre-resync image suspends the group with an error (see
/// `engine/src/remote.rs`, "Media errors").
fn media_error(e: &mut Emit<'_>) {
    let candidates: Vec<usize> = (0..e.topo.volumes.len())
        .filter(|&i| !e.topo.twins.iter().any(|(_, m, _)| *m == e.topo.volumes[i].0))
        .collect();
    let v = candidates[e.rng.index(&candidates)];
    let blocks = e.topo.volume_blocks[v];
    let block = if e.rng.chance(1, 2) { e.rng.below(blocks.min(16)) } else { e.rng.below(blocks) };
    let volume = e.topo.volumes[v].0.clone();
    e.push(e.at, ActionDef::MediaError { volume, block });
}

fn media_errorable(t: &Topology) -> bool {
    !t.volumes.is_empty()
}

fn pairable(t: &Topology) -> bool {
    t.twins.iter().any(|(_, _, a)| t.host_arrays.iter().any(|(_, b)| a == b))
}

/// An S2 admin command: usually on a pair created earlier in this scenario (any
/// command, from whatever state the pair is in: refusals are judged too), else the
/// creation of a pair on two twin volumes.
fn pair_command(e: &mut Emit<'_>) {
    let pairs = e.state.get("pairs").cloned().unwrap_or_default();
    if pairs.is_empty() || e.rng.chance(1, 5) {
        let usable: Vec<&(String, String, usize)> =
            e.topo.twins.iter().filter(|(_, _, a)| e.topo.host_arrays.iter().any(|(_, b)| a == b)).collect();
        let (source, mirror, array) = usable[e.rng.index(&usable)].clone();
        let host = admin_host(e, array);
        let pair = format!("p{}", pairs.len() + 1);
        e.state.entry("pairs".into()).or_default().push(format!("{pair}/{array}"));
        e.push(e.at, ActionDef::PairCreate { host, pair, source, mirror });
        return;
    }
    let chosen = pairs[e.rng.index(&pairs)].clone();
    let (pair, array) = chosen.split_once('/').expect("name/array");
    let (pair, array) = (pair.to_string(), array.parse::<usize>().expect("an array index"));
    let host = admin_host(e, array);
    let action = match e.rng.below(8) {
        0..=2 => ActionDef::Split { host, pair },
        3 | 4 => ActionDef::Resync { host, pair },
        5 => ActionDef::Restore { host, pair, protected: false },
        6 => ActionDef::Restore { host, pair, protected: true },
        _ => ActionDef::PairDelete { host, pair },
    };
    e.push(e.at, action);
}

/// A pair's whole cycle, timed so its copies overlap a fault: create the pair (or
/// take one created earlier), split it once the initial copy has had time to finish,
/// let both sides be written, then resync, restore (protected or not) or delete it,
/// and usually hit the copy that starts with a controller crash, a link outage or a
/// host crash a moment later. Random commands alone rarely reach "crash during
/// resync" or "link down during restore"; the coverage report counts these.
fn pair_cycle(e: &mut Emit<'_>) {
    let pairs = e.state.get("pairs").cloned().unwrap_or_default();
    let step = (e.horizon / 12).max(100_000);
    let mut t = e.at;
    let (pair, array) = if pairs.is_empty() || e.rng.chance(1, 3) {
        let usable: Vec<&(String, String, usize)> =
            e.topo.twins.iter().filter(|(_, _, a)| e.topo.host_arrays.iter().any(|(_, b)| a == b)).collect();
        let (source, mirror, array) = usable[e.rng.index(&usable)].clone();
        let host = admin_host(e, array);
        let pair = format!("p{}", pairs.len() + 1);
        e.state.entry("pairs".into()).or_default().push(format!("{pair}/{array}"));
        e.push(t, ActionDef::PairCreate { host, pair: pair.clone(), source, mirror });
        t += e.rng.between(step / 2, step * 2);
        (pair, array)
    } else {
        let chosen = pairs[e.rng.index(&pairs)].clone();
        let (pair, array) = chosen.split_once('/').expect("name/array");
        (pair.to_string(), array.parse::<usize>().expect("an array index"))
    };
    let host = admin_host(e, array);
    e.push(t, ActionDef::Split { host: host.clone(), pair: pair.clone() });
    t += e.rng.between(step / 4, step);
    let action = match e.rng.below(6) {
        0 | 1 => ActionDef::Resync { host: host.clone(), pair },
        2 => ActionDef::Restore { host: host.clone(), pair, protected: false },
        3 => ActionDef::Restore { host: host.clone(), pair, protected: true },
        4 => ActionDef::PairDelete { host: host.clone(), pair },
        _ => ActionDef::Resync { host: host.clone(), pair },
    };
    e.push(t, action);
    if e.rng.chance(1, 4) {
        return;
    }
    // A fault while the copy runs: a few microseconds to a fraction of a step later.
    let at = t + e.rng.between(5_000, (step / 4).max(10_000));
    let array_name = e.topo.arrays[array].clone();
    let after = e.outage();
    match e.rng.below(4) {
        0 | 1 => {
            e.push(at, ActionDef::CrashArray { array: array_name, restart_after: Some(Duration(after)) })
        }
        2 => {
            let links: Vec<String> = e
                .topo
                .host_links
                .iter()
                .zip(&e.topo.host_arrays)
                .filter(|(_, (_, a))| *a == array)
                .map(|(l, _)| l.clone())
                .collect();
            let link = e.pick(&links).clone();
            e.push(at, ActionDef::LinkDown { link: link.clone() });
            e.push(at + after, ActionDef::LinkUp { link });
        }
        _ => e.push(at, ActionDef::CrashHost { host, restart_after: Some(Duration(after)) }),
    }
}

/// Host I/O racing a pair's commands: a pair on a source some host writes (when there
/// is one), split once its initial copy has had time to finish, then a restore
/// (usually protected) a moment later, so that host writes land on chunks the restore
/// has yet to copy; then usually a resync and a split while mirrored writes are in
/// flight. `pair_cycle` spreads its commands over the horizon and draws a restore one
/// time in three; these races (copy-before-write in a protected restore, the drain at
/// a split) need the commands close together on a written source.
fn restore_race(e: &mut Emit<'_>) {
    if let Some(racer) = e.topo.racer.clone()
        && e.rng.chance(3, 4)
    {
        return race_racer(e, racer);
    }
    // Twins are the same size on the same array: either can be the source.
    let usable: Vec<(String, String, usize)> = e
        .topo
        .twins
        .iter()
        .filter(|(_, _, a)| e.topo.host_arrays.iter().any(|(_, b)| a == b))
        .flat_map(|(s, m, a)| [(s.clone(), m.clone(), *a), (m.clone(), s.clone(), *a)])
        .collect();
    let on = |set: &[String]| -> Vec<(String, String, usize)> {
        usable.iter().filter(|(s, _, _)| set.contains(s)).cloned().collect()
    };
    let (hot, written) = (on(&e.topo.hot), on(&e.topo.written));
    let from = [&hot, &written, &usable].into_iter().find(|c| !c.is_empty()).expect("pairable");
    let (source, mirror, array) = from[e.rng.index(from)].clone();
    let host = admin_host(e, array);
    let pairs = e.state.get("pairs").cloned().unwrap_or_default();
    let pair = format!("p{}", pairs.len() + 1);
    e.state.entry("pairs".into()).or_default().push(format!("{pair}/{array}"));
    let step = (e.horizon / 16).max(50_000);
    let mut t = e.at;
    e.push(t, ActionDef::PairCreate { host: host.clone(), pair: pair.clone(), source, mirror });
    t += e.rng.between(step / 2, step * 2);
    e.push(t, ActionDef::Split { host: host.clone(), pair: pair.clone() });
    t += e.rng.between(step / 8, step);
    let protected = e.rng.chance(3, 4);
    e.push(t, ActionDef::Restore { host: host.clone(), pair: pair.clone(), protected });
    if e.rng.chance(1, 3) {
        return;
    }
    t += e.rng.between(step / 4, step * 2);
    e.push(t, ActionDef::Resync { host: host.clone(), pair: pair.clone() });
    t += e.rng.between(step / 8, step * 2);
    e.push(t, ActionDef::Split { host, pair });
}

/// `restore_race` on the racer's twins, inside its window: the pair is created early
/// (few blocks allocated, a short initial copy), split, and restored once the racer
/// has dirtied many chunks, while it keeps writing; then resynced and split with its
/// writes in flight and its reads of the mirror right behind the split.
fn race_racer(e: &mut Emit<'_>, racer: super::race::Racer) {
    let (source, mirror) =
        if e.rng.chance(1, 2) { racer.volumes.clone() } else { (racer.volumes.1, racer.volumes.0) };
    let host = admin_host(e, racer.array);
    let pairs = e.state.get("pairs").cloned().unwrap_or_default();
    let pair = format!("p{}", pairs.len() + 1);
    e.state.entry("pairs".into()).or_default().push(format!("{pair}/{}", racer.array));
    let w = racer.window.max(1_000_000);
    let mut t = e.rng.below(w / 10);
    e.push(t, ActionDef::PairCreate { host: host.clone(), pair: pair.clone(), source, mirror });
    t += e.rng.between(w / 10, w / 4);
    e.push(t, ActionDef::Split { host: host.clone(), pair: pair.clone() });
    t += e.rng.between(w / 20, w / 5);
    let protected = e.rng.chance(3, 4);
    e.push(t, ActionDef::Restore { host: host.clone(), pair: pair.clone(), protected });
    t += e.rng.between(w / 20, w / 5);
    e.push(t, ActionDef::Resync { host: host.clone(), pair: pair.clone() });
    t += e.rng.between(w / 20, w / 5);
    e.push(t, ActionDef::Split { host, pair });
}

fn admin_host(e: &mut Emit<'_>, array: usize) -> String {
    let hosts: Vec<String> =
        e.topo.host_arrays.iter().filter(|(_, a)| *a == array).map(|(h, _)| h.clone()).collect();
    e.pick(&hosts).clone()
}

fn has_links(t: &Topology) -> bool {
    !t.host_links.is_empty() || !t.array_links.is_empty()
}

/// A link goes down; usually it comes back, otherwise it stays down until the
/// workload ends (the simulator repairs everything before settling).
fn link_down(e: &mut Emit<'_>) {
    let links: Vec<String> = e.topo.links().into_iter().cloned().collect();
    let link = e.pick(&links).clone();
    e.push(e.at, ActionDef::LinkDown { link: link.clone() });
    if e.rng.chance(3, 4) {
        let back = e.at + e.outage();
        e.push(back, ActionDef::LinkUp { link });
    }
}

fn link_flap(e: &mut Emit<'_>) {
    let links: Vec<String> = e.topo.links().into_iter().cloned().collect();
    let link = e.pick(&links).clone();
    let down = Duration(e.rng.between(20_000, 2_000_000));
    let up = Duration(e.rng.between(20_000, 2_000_000));
    let times = e.rng.between(1, 8) as u32;
    e.push(e.at, ActionDef::LinkFlap { link, down, up, times });
}

/// A controller crash: restarted after a delay, or by an explicit restart later, or
/// left down until the workload ends.
fn crash_array(e: &mut Emit<'_>) {
    let array = e.pick(&e.topo.arrays).clone();
    match e.rng.below(4) {
        0 | 1 => {
            let after = e.outage();
            e.push(e.at, ActionDef::CrashArray { array, restart_after: Some(Duration(after)) })
        }
        2 => {
            let back = e.at + e.outage();
            e.push(e.at, ActionDef::CrashArray { array: array.clone(), restart_after: None });
            e.push(back, ActionDef::RestartArray { array });
        }
        _ => e.push(e.at, ActionDef::CrashArray { array, restart_after: None }),
    }
}

/// A host crash: its open operations end with no response; it restarts after a delay
/// or an explicit restart, or stays down (its workload ends there).
fn crash_host(e: &mut Emit<'_>) {
    let host = e.pick(&e.topo.hosts).clone();
    match e.rng.below(8) {
        0..=4 => {
            let after = e.outage();
            e.push(e.at, ActionDef::CrashHost { host, restart_after: Some(Duration(after)) })
        }
        5 | 6 => {
            let back = e.at + e.outage();
            e.push(e.at, ActionDef::CrashHost { host: host.clone(), restart_after: None });
            e.push(back, ActionDef::RestartHost { host });
        }
        _ => e.push(e.at, ActionDef::CrashHost { host, restart_after: None }),
    }
}
