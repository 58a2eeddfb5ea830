//! S1 in generated scenarios: when the swarm enables `offload_backup`, the topology
//! gets a file server (`fs`, its own pair of volumes `fsv`/`fsm` on the first array,
//! a hot and a cold file, an application) and a backup server (`bs`) with the links
//! they need; the menu item then schedules offloaded backups. The pair of the file
//! server is not offered to `pair_command` (only the file server drives it), but every
//! other fault (crashes of either host, link faults, array crashes, media errors on
//! its volumes) can hit it.

use super::menu::Topology;
use super::rng::GenRng;
use crate::scenario::format::*;

/// The pair name of the generated file server.
pub const PAIR: &str = "fsp";

/// Adds the two roles; returns the `pair_create` the timeline must start with.
pub fn add_roles(
    rng: &mut GenRng,
    topo: &mut Topology,
    arrays: &mut [ArrayDef],
    hosts: &mut Vec<HostDef>,
    links: &mut Vec<LinkDef>,
    link: impl Fn(&mut GenRng, String, [String; 2]) -> LinkDef,
) -> TimelineEntry {
    let blocks = rng.between(64, 4096);
    for name in ["fsv", "fsm"] {
        topo.volumes.push((name.to_string(), 0));
        topo.volume_blocks.push(blocks);
        arrays[0].volumes.push(VolumeDef { name: name.to_string(), blocks });
    }
    let hot = rng.between(1, 32);
    let cold_start = rng.between(hot, blocks - 16);
    let cold = rng.between(1, (blocks - cold_start).min(256));
    let files = vec![
        FileDef { name: "hot".into(), extents: vec![[0, hot]], weight: rng.between(2, 9) },
        FileDef { name: "cold".into(), extents: vec![[cold_start, cold]], weight: 1 },
    ];
    let app = AppDef {
        ops: rng.between(50, 1500),
        concurrency: rng.between(1, 8) as u32,
        len: DistDef::Uniform([1, rng.between(1, 4)]),
        think: DistDef::Uniform([Duration(0), Duration(rng.between(0, 200) * 1_000)]),
    };
    let op_timeout = Duration(100_000_000);
    hosts.push(HostDef {
        name: "fs".into(),
        workload: None,
        op_timeout,
        file_server: Some(FileServerDef {
            volume: "fsv".into(),
            pair: PAIR.into(),
            files,
            app,
            cache_write: DistDef::Uniform([Duration(5_000), Duration(20_000)]),
            flush_interval: Duration(rng.between(1, 20) * 1_000_000),
            lease: Duration(1_000_000_000),
        }),
        backup_server: None,
    });
    hosts.push(HostDef {
        name: "bs".into(),
        workload: None,
        op_timeout,
        file_server: None,
        backup_server: Some(BackupServerDef {
            file_server: "fs".into(),
            retry: Duration(rng.between(5, 30) * 1_000_000),
            tries: rng.between(3, 8) as u32,
        }),
    });
    topo.hosts.push("fs".into());
    topo.hosts.push("bs".into());
    let array = topo.arrays[0].clone();
    for (h, other, san) in [("fs", array.as_str(), true), ("bs", array.as_str(), true), ("bs", "fs", false)] {
        let name = format!("l{}", links.len() + 1);
        if san {
            topo.host_links.push(name.clone());
        }
        links.push(link(rng, name, [h.to_string(), other.to_string()]));
    }
    topo.backup_servers.push(("bs".into(), vec!["hot".into(), "cold".into()]));
    TimelineEntry {
        at: Duration(0),
        action: ActionDef::PairCreate {
            host: "fs".into(),
            pair: PAIR.into(),
            source: "fsv".into(),
            mirror: "fsm".into(),
        },
    }
}
