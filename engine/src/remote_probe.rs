//! S3's invariant probes (SPEC §4.3: "checked continuously where cheap"), a child
//! module of `remote` so that it reads the remote state without widening it.
//!
//! - **Saved before overwritten** (local, at every media write): a resync target's
//!   media write to one of its volumes lands only on chunks whose pre-resync content
//!   is saved with a durable save mark. Otherwise a takeover mid-resync would find a
//!   half-copied secondary without its fallback image.
//! - **Change maps cover every differing block** (cross-array): the engine reports
//!   each remote pair as this array sees it ([`RemotePairView`]); the simulator pairs
//!   up both arrays' views and, where the group does not follow (suspended, link
//!   lost, swapped) and both sides are settled, checks that every block whose media
//!   differs between the two volumes is covered by a change-map bit (or a doubt mark)
//!   on one side. Blocks with a write, copy or apply in flight are excepted.
//! - **A resync copies exactly the union** (the copier's own statistics): when a copy
//!   finishes, the blocks it copied equal the union of the change maps it started
//!   from ([`Controller::check_copy_union`]).

use super::{Bit, Chunk, Controller};
use crate::iface::{CopyStats, Probe, RemotePairView};
use model::{GroupId, PairId};

impl Controller {
    /// A resync target never overwrites a chunk whose pre-resync content is not
    /// saved with a durable mark.
    pub(super) fn check_saved_before_overwrite(&self, probe: &Probe<'_>) -> Result<(), String> {
        let Probe::MediaWrite { space, block, len } = *probe else { return Ok(()) };
        if len == 0 {
            return Ok(());
        }
        for (g, grp) in &self.remote.groups {
            if grp.rec.primary || !grp.rec.saving || !grp.latest().saving {
                continue;
            }
            for &(_, vol, _) in &grp.rec.pairs {
                if self.volumes.get(&vol).is_none_or(|v| v.space != space) {
                    continue;
                }
                let (c0, c1) = self.chunks_of(block, len);
                if let Some(c) = (c0..=c1).find(|c| !grp.saved.contains(&(vol, *c))) {
                    return Err(format!(
                        "{g}: the resync target overwrites {vol} chunk {c} (a write of {len} blocks at \
                         {block}) before its pre-resync content is saved with a durable mark"
                    ));
                }
            }
        }
        Ok(())
    }

    /// A finished copy copied exactly the union of the change maps it started from
    /// (SPEC §2: "copy the union of both change maps … and nothing else").
    pub(super) fn check_copy_union(g: GroupId, pair: PairId, stats: &CopyStats) -> Result<(), String> {
        if stats.blocks_copied != stats.union_blocks {
            return Err(format!(
                "{g}: the copy of {pair} copied {} blocks, but the union of the change maps is {} blocks",
                stats.blocks_copied, stats.union_blocks
            ));
        }
        Ok(())
    }

    /// This array's remote pairs, for the simulator's cross-array probe.
    pub(crate) fn remote_views(&self) -> Vec<RemotePairView> {
        let mut views = Vec::new();
        for (g, grp) in &self.remote.groups {
            let applying = self.remote.apply.as_ref().filter(|a| a.g == *g);
            let settled = grp.live
                && grp.rec_put.is_none()
                && grp.rec_queue.is_empty()
                && !grp.losing
                && !grp.recovering
                && grp.copy.is_none()
                && grp.resolving.is_empty()
                && applying.is_none()
                && !self.remote.restoring.contains_key(g);
            let range = |c: Chunk| {
                let (b, n) = self.chunk_blocks(c);
                (b, b + n)
            };
            for &(pair, vol, _) in &grp.rec.pairs {
                let Some(v) = self.volumes.get(&vol) else { continue };
                let mut covered: Vec<(u64, u64)> = grp
                    .bits
                    .iter()
                    .filter(|(k, bit)| k.1.0 == vol && **bit != Bit::Deleting)
                    .map(|(k, _)| range(k.1))
                    .collect();
                covered.extend(grp.doubt.keys().filter(|b| b.0 == vol).map(|b| (b.1, b.1 + 1)));
                covered.extend(grp.own.iter().filter(|c| c.0 == vol).map(|&c| range(c)));
                let mut busy: Vec<(u64, u64)> =
                    grp.writers.keys().filter(|c| c.0 == vol).map(|&c| range(c)).collect();
                if let Some(copy) = grp.copy.as_ref() {
                    busy.extend(copy.holding.iter().filter(|c| c.0 == vol).map(|&c| range(c)));
                }
                if let Some(a) = applying.filter(|a| a.vol == vol) {
                    busy.push((a.block, a.block + a.values.len() as u64));
                }
                covered.sort_unstable();
                covered.dedup();
                views.push(RemotePairView {
                    group: *g,
                    pair,
                    volume: vol,
                    space: v.space,
                    blocks: v.blocks,
                    primary: grp.rec.primary,
                    state: grp.rec.state,
                    consistent: grp.rec.consistent,
                    settled,
                    covered,
                    busy,
                });
            }
        }
        views
    }
}
