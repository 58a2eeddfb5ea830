//! S3's cross-array invariant probe (SPEC §2 S3, §4.3): the change maps cover every
//! block that differs between a remote pair's two volumes.
//!
//! Each engine reports its remote pairs ([`engine::ArrayEngine::remote_pairs`]); the
//! probe pairs up the two arrays' views of each pair. Where the group does not follow
//! on at least one side (suspended, link lost, swapped), or both sides are in `pair`
//! (the copy ended: a block may differ only while a write to it is on its way or
//! unshipped, and an unshipped async write keeps its bit), both views are settled and
//! both sides hold a whole image (an initial copy finished), every block whose media
//! differs between the two volumes must be covered by a change-map bit or a doubt
//! mark on one side: that is what the next resume or failback copies, and a block
//! missing from both maps would stay different after it (in `pair`, for ever: a resync
//! or failback that missed a block is caught as soon as it ends). Blocks with a write, copy
//! or apply in flight in either engine, or a media write in flight in the simulator,
//! are not judged. Run at every quiescent probe and at every remote-group event; a
//! failure is recorded on the primary's array like any other invariant violation.

use super::World;
use engine::{MediaOp, MediaView, RemotePairView, SpaceId};
use model::RemoteState;
use std::collections::BTreeMap;

impl World<'_> {
    pub(super) fn probe_remote(&mut self) {
        let mut views: BTreeMap<(u32, u32), Vec<(usize, RemotePairView)>> = BTreeMap::new();
        for (a, arr) in self.arrays.iter().enumerate() {
            let Some(engine) = arr.engine.as_ref() else { continue };
            for v in engine.remote_pairs() {
                views.entry((v.group.0, v.pair.0)).or_default().push((a, v));
            }
        }
        for sides in views.values() {
            let [(a, x), (b, y)] = sides.as_slice() else { continue };
            if a == b
                || !(x.settled && y.settled && x.consistent && y.consistent)
                || (x.state.following()
                    && y.state.following()
                    && !(x.state == RemoteState::Pair && y.state == RemoteState::Pair))
            {
                continue;
            }
            let (a, b) = (*a, *b);
            let blame = if y.primary && !x.primary { b } else { a };
            if self.violated.contains(&blame) {
                continue;
            }
            if let Some(message) = self.uncovered(a, x, b, y) {
                self.record_violation(blame, message);
            }
        }
    }

    /// The first block where the two sides differ and no change map covers it.
    fn uncovered(&self, a: usize, x: &RemotePairView, b: usize, y: &RemotePairView) -> Option<String> {
        let (cx, cy, bx, by) = (merged(&x.covered), merged(&y.covered), merged(&x.busy), merged(&y.busy));
        // The media writes in flight on each volume, gathered once (not per block).
        let writing = |arr: usize, space: SpaceId| {
            let ranges: Vec<(u64, u64)> = self.arrays[arr]
                .inflight
                .values()
                .filter_map(|op| match op {
                    MediaOp::Write { space: s, block, values } if *s == space => {
                        Some((*block, block + values.len() as u64))
                    }
                    _ => None,
                })
                .collect();
            merged(&ranges)
        };
        let (wx, wy) = (writing(a, x.space), writing(b, y.space));
        let (ma, mb) = (&self.arrays[a].media, &self.arrays[b].media);
        let end = x.blocks.min(y.blocks);
        let mut blocks = ma.allocated(x.space, 0, end);
        blocks.extend(mb.allocated(y.space, 0, end));
        blocks.sort_unstable();
        blocks.dedup();
        for blk in blocks {
            if within(&cx, blk) || within(&cy, blk) {
                continue;
            }
            if [&bx, &by, &wx, &wy].iter().any(|r| within(r, blk)) {
                continue;
            }
            let (vx, vy) = (ma.block(x.space, blk), mb.block(y.space, blk));
            if vx != vy {
                return Some(format!(
                    "{} {}: block {blk} differs between {} on array {a} ({vx}, {}) and {} on array {b} ({vy}, \
                     {}) and no change-map bit covers it",
                    x.group, x.pair, x.volume, x.state, y.volume, y.state
                ));
            }
        }
        None
    }
}

/// The ranges sorted and merged (disjoint, ascending).
fn merged(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut v = ranges.to_vec();
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Whether a block lies in one of the disjoint ascending ranges.
fn within(ranges: &[(u64, u64)], blk: u64) -> bool {
    let i = ranges.partition_point(|r| r.1 <= blk);
    ranges.get(i).is_some_and(|r| r.0 <= blk)
}
