//! The racer host of the `restore_race` menu item.
//!
//! A planted restore bug (a protected restore whose host write skips the
//! copy-before-write) or a split that does not drain shows only when host writes keep
//! landing on chunks a copy has yet to reach while the copier keeps 8 chunks in
//! flight, and when a host reads the mirror right after a split: a restore must find
//! many chunks to copy and the writes must come back to them. The generated workloads
//! rarely do that (they spread over volumes up to 2^40 blocks, and their hot sets hold
//! at most 16 blocks). When the swarm enables `restore_race`, the generator adds one
//! more host, the racer, which keeps writing and reading both volumes of the smallest
//! twin of at least 32 blocks, over at most 512 of their blocks, with no think time;
//! the menu item then times its pair's commands inside the racer's window
//! ([`Racer::window`]).

use super::menu::Topology;
use super::rng::GenRng;
use crate::scenario::format::*;

/// The racer's twins and when it is busy.
#[derive(Clone, Debug)]
pub struct Racer {
    /// The twin volumes it writes (either can be a pair's source).
    pub volumes: (String, String),
    /// Their array (index).
    pub array: usize,
    /// How long the racer keeps writing from the start (simulated ns, estimated).
    pub window: u64,
}

/// Adds the racer host on the smallest twin of at least 32 blocks (on fewer, a few
/// operations with unknown outcomes on the same blocks make the linearizability
/// search explode), and records it in `topo.racer`. Returns the racer's array, or
/// `None` when there is no such twin.
pub fn add_racer(rng: &mut GenRng, topo: &mut Topology, hosts: &mut Vec<HostDef>) -> Option<usize> {
    let (blocks, source, mirror, array) = topo
        .twins
        .iter()
        .map(|(s, m, a)| {
            let i = topo.volumes.iter().position(|(n, _)| n == s).expect("a volume");
            (topo.volume_blocks[i], s.clone(), m.clone(), *a)
        })
        .filter(|(blocks, ..)| *blocks >= 32)
        .min()?;
    let name = format!("h{}", hosts.len() + 1);
    let span = blocks.min(rng.between(64, 512));
    let concurrency = rng.between(2, 4);
    let ops = rng.between(300, 1200);
    let workload = WorkloadDef {
        volumes: vec![source.clone(), mirror.clone()],
        concurrency: concurrency as u32,
        ops,
        read: RatioDef(rng.between(1, 3), 8),
        blocks: if span < blocks {
            BlockDistDef::HotSet { hot_blocks: span, hot: RatioDef(1, 1) }
        } else {
            BlockDistDef::Uniform
        },
        len: DistDef::Uniform([1, rng.between(1, 4)]),
        think: DistDef::Constant(Duration(0)),
    };
    topo.hosts.push(name.clone());
    topo.written.extend([source.clone(), mirror.clone()]);
    topo.hot.extend([source.clone(), mirror.clone()]);
    // About two link crossings and a media write per operation.
    let window = ops / concurrency * 150_000;
    topo.racer = Some(Racer { volumes: (source, mirror), array, window });
    hosts.push(HostDef {
        name,
        workload: Some(workload),
        op_timeout: Duration(100_000_000),
        file_server: None,
        backup_server: None,
    });
    Some(array)
}

/// The side stream of [`slow_tail`] (`GenRng::side`).
const SLOW_TAIL_STREAM: u32 = 1;

/// Two times in three, a slow tail on the data writes of the racer's array (one write
/// in 4 to 12 takes 1-7 ms) unless it has one already; its metadata puts stay fast.
///
/// Both races of the racer need it. A split that does not drain shows only when a
/// mirrored write is still in flight after the split's record is durable and the
/// racer reads the mirror before it lands: with data writes and record puts drawn
/// from the same latencies that moment is rare and short. A protected restore that
/// skips the copy-before-write shows when the racer writes chunks the copier has yet
/// to reach: slow copier writes keep the restore running longer. Drawn from a side
/// stream, so the rest of the seed's scenario is what it was without it.
pub fn slow_tail(seed: u64, array: &mut ArrayDef) {
    let mut rng = GenRng::side(seed, SLOW_TAIL_STREAM);
    if rng.chance(2, 3)
        && let DistDef::Uniform(fast) = array.media.write
    {
        let lo = rng.between(1, 3) * 1_000_000;
        let slow = [Duration(lo), Duration(lo + rng.between(0, 4) * 1_000_000)];
        array.media.write = DistDef::Bimodal { fast, slow, slow_ratio: RatioDef(1, rng.between(4, 12)) };
    }
}
