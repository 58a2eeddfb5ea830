//! S0 backups in the fuzzer (`backup_command`, `full` profile): which volumes a new
//! backup copies between, and when the controller crashes during its copy.
//!
//! A backup's catalog entry must turn `complete` only once every destination write is
//! durable (the planted `catalog-complete-before-durable` breaks exactly that). What
//! tells the two apart is a moment about one media write long: from the submission of
//! the copy's last destination write (where the planted engine already puts the
//! `complete` record) to that write becoming durable. A controller crash in that
//! moment can land the record and lose the write (each media write in flight at a
//! crash lands or not), and the final audit then reads the destination under a
//! `complete` entry. A crash at a uniformly random time around the copy rarely hits
//! it, and a backup of a region nobody wrote copies nothing; so:
//!
//! - [`volumes`]: the source is usually a volume some workload keeps writing to the
//!   same blocks (`Topology::hot`, where the regions' bias to the first blocks lands)
//!   and no twin (a twin in a pair refuses backups), the destination usually another
//!   volume of the same array that is no twin; neither is in a pair or has images
//!   (both refuse a backup), and an overlapping destination on the source's volume
//!   usually moves beside the source ([`separate`]);
//! - [`crash_at_the_end`]: three times in four, a crash timed from the array's mean
//!   media latencies (`Topology::media_means`) into the copy's last step; after a
//!   crash, half the time the same backup is tried again (under a new name, over the
//!   same destination, which a failed backup leaves free) once the array is back,
//!   with a crash of its own (up to three tries).
//!
//! With these, full seeds 0..300 catch the planted bug 4 times (seeds 54, 82, 159,
//! 173; none before within 300).

use super::menu::Emit;
use crate::scenario::format::{ActionDef, Duration, RegionDef};
use engine::controller::{BACKUP_CHUNK, BACKUP_WINDOW};

/// The mean one-way latency of a generated host-to-array link (`generate::link`:
/// uniform from 5-50 us to that plus 0-100 us).
const LINK_MEAN_NS: u64 = 52_000;

/// Picks a new backup's source and destination volumes (indices into
/// `e.topo.volumes`) among `usable`, the destination on the source's array.
pub fn volumes(e: &mut Emit<'_>, usable: &[usize]) -> (usize, usize) {
    let topo = e.topo;
    let images = e.state.get("images").cloned().unwrap_or_default();
    // Volumes a backup can name: not in an S2 pair (a twin may be, and so are the
    // file server's volumes of `super::offload`), an S3 pair, or with images (a snapshot named it earlier in this scenario).
    let free = |v: usize| {
        let name = &topo.volumes[v].0;
        let offload_pair = !topo.backup_servers.is_empty() && (name == "fsv" || name == "fsm");
        !offload_pair
            && !topo.twins.iter().any(|(s, m, _)| s == name || m == name)
            && !super::remote::in_remote_pair(topo, name)
            && !images.iter().any(|i| i.split('/').nth(1) == Some(name.as_str()))
    };
    let free_ones: Vec<usize> = usable.iter().copied().filter(|&v| free(v)).collect();
    let hot: Vec<usize> =
        free_ones.iter().copied().filter(|&v| topo.hot.contains(&topo.volumes[v].0)).collect();
    let from = [&hot, &free_ones].into_iter().find(|c| !c.is_empty()).filter(|_| e.rng.chance(7, 8));
    let v = match from {
        Some(c) => c[e.rng.index(c)],
        None => usable[e.rng.index(usable)],
    };
    let array = topo.volumes[v].1;
    let on_array: Vec<usize> = usable.iter().copied().filter(|&w| topo.volumes[w].1 == array).collect();
    let other: Vec<usize> = on_array.iter().copied().filter(|&w| w != v && free(w)).collect();
    let w = if !other.is_empty() && e.rng.chance(7, 8) {
        other[e.rng.index(&other)]
    } else {
        on_array[e.rng.index(&on_array)]
    };
    (v, w)
}

/// Three times in four, a destination on the source's volume that overlaps the source
/// moves right behind it (or before it) when the volume has room: an overlap is
/// refused, which the other time in four still tests.
pub fn separate(e: &mut Emit<'_>, source: &RegionDef, destination: &mut RegionDef, size: u64) {
    let (s0, s1) = (source.start, source.start + source.blocks);
    let overlaps = destination.start < s1 && s0 < destination.start + destination.blocks;
    if destination.volume != source.volume || !overlaps || !e.rng.chance(3, 4) {
        return;
    }
    if s1 + destination.blocks <= size {
        destination.start = s1;
    } else if destination.blocks <= s0 {
        destination.start = s0 - destination.blocks;
    }
}

/// Three times in four, a crash of `array` (restarted after an outage) timed into the
/// last step of the copy of a `blocks`-block backup submitted at `at`: the command's
/// link crossing, the drain of the host writes in flight (most of a write, on a busy
/// source), the allocation listing and the `copying` record (metadata), then per round
/// of [`BACKUP_WINDOW`] chunks a read and a write. The crash falls from half a write
/// before the last write's estimated submission to one and a half after it (the
/// drain and the latencies' spread make the moment uncertain). Returns when the array
/// is back, if it crashed.
pub fn crash_at_the_end(e: &mut Emit<'_>, at: u64, array: usize, blocks: u64) -> Option<u64> {
    if !e.rng.chance(3, 4) {
        return None;
    }
    let (read, write, meta) = e.topo.media_means.get(array).copied().unwrap_or((100_000, 150_000, 150_000));
    let rounds = blocks.div_ceil(BACKUP_CHUNK).div_ceil(BACKUP_WINDOW as u64).max(1);
    let last_write = LINK_MEAN_NS + write * 3 / 4 + 2 * meta + rounds * read + (rounds - 1) * write;
    let crash = at + last_write.saturating_sub(write / 2) + e.rng.between(0, 2 * write);
    let name = e.topo.arrays[array].clone();
    let after = e.outage();
    e.push(crash, ActionDef::CrashArray { array: name, restart_after: Some(Duration(after)) });
    Some(crash + after)
}
