//! Unit tests of the remote paths' media errors and of S3's probes: two controllers
//! joined by an in-order link the test can cut, over media whose unreadable blocks
//! the test chooses (a write repairs one).

use super::*;
use crate::iface::{ArrayEngine, Input, TimerId};
use model::{OpResult, Reply};

const A: usize = 0;
const B: usize = 1;
const P: VolumeId = VolumeId(0);
const R: VolumeId = VolumeId(1);
const G: GroupId = GroupId(0);
const BLOCKS: u64 = 64;

struct Net {
    c: [Controller; 2],
    media: [BTreeMap<(SpaceId, u64), Value>; 2],
    meta: [Metadata; 2],
    /// Unreadable blocks (a write repairs one); `once`: unreadable for one read only.
    bad: [BTreeSet<(SpaceId, u64)>; 2],
    once: [BTreeSet<(SpaceId, u64)>; 2],
    queue: VecDeque<(usize, Input)>,
    timers: Vec<(usize, TimerId)>,
    link_up: bool,
    seq: u64,
    replies: Vec<(usize, ReqId, OpResult)>,
    events: Vec<(usize, RemoteEvent)>,
    /// Failed probes (`check` at every media write).
    violations: Vec<String>,
    /// Reads that failed, per array.
    read_errors: [u32; 2],
    /// Drops the first answer to a `Done` and issues this command at this array then
    /// (the secondary has recorded `synced`; the primary has not heard).
    on_done_answer: Option<(usize, Op)>,
    /// The copies that finished, per array.
    copies: Vec<(usize, CopyKind, CopyStats)>,
}

/// Array `a`'s configuration (`A` holds `P`, `B` holds `R`).
fn config(a: usize) -> ArrayConfig {
    let (vol, peer) = if a == A { (P, R) } else { (R, P) };
    ArrayConfig {
        id: ArrayId(a as u32),
        name: if a == A { "A".into() } else { "B".into() },
        volumes: vec![(vol, BLOCKS)],
        change_grain: 1,
        remote_volumes: vec![(peer, ArrayId(1 - a as u32), BLOCKS)],
    }
}

impl Net {
    fn new() -> Net {
        let mut n = Net {
            c: [Controller::new(&config(A)), Controller::new(&config(B))],
            media: Default::default(),
            meta: Default::default(),
            bad: Default::default(),
            once: Default::default(),
            queue: VecDeque::new(),
            timers: Vec::new(),
            link_up: true,
            seq: 0,
            replies: Vec::new(),
            events: Vec::new(),
            violations: Vec::new(),
            read_errors: [0, 0],
            on_done_answer: None,
            copies: Vec::new(),
        };
        n.queue.push_back((A, Input::Started));
        n.queue.push_back((B, Input::Started));
        n.run();
        n
    }

    fn media_op(&mut self, a: usize, op: MediaOp) -> MediaResult {
        match op {
            MediaOp::Read { space, block, len } => {
                let end = block + u64::from(len);
                let bad = (block..end)
                    .find(|b| self.bad[a].contains(&(space, *b)) || self.once[a].contains(&(space, *b)));
                if let Some(b) = bad {
                    self.once[a].remove(&(space, b));
                    self.read_errors[a] += 1;
                    return MediaResult::ReadError { block: b };
                }
                MediaResult::Read(
                    (block..end)
                        .map(|b| self.media[a].get(&(space, b)).copied().unwrap_or_default())
                        .collect(),
                )
            }
            MediaOp::Write { space, block, values } => {
                for (i, v) in values.into_iter().enumerate() {
                    self.bad[a].remove(&(space, block + i as u64));
                    self.media[a].insert((space, block + i as u64), v);
                }
                MediaResult::Written
            }
            MediaOp::MetaPut { key, value } | MediaOp::MetaPutAnnounced { key, value, .. } => {
                self.meta[a].insert(key, value);
                MediaResult::Written
            }
            MediaOp::MetaDelete { key } => {
                self.meta[a].remove(&key);
                MediaResult::Written
            }
            MediaOp::Allocated { space } => MediaResult::Allocated(
                self.media[a]
                    .range((space, 0)..(SpaceId(space.0 + 1), 0))
                    .filter(|(_, v)| !v.is_zero())
                    .map(|((_, b), _)| *b)
                    .collect(),
            ),
        }
    }

    /// Delivers everything, firing the timers whenever nothing else is left (at most
    /// `4 * LOST_TICKS` times in a row without other progress).
    fn run(&mut self) {
        self.run_until(|_| false);
    }

    /// As `run`, stopping early (true) once `stop` holds after a delivery.
    fn run_until(&mut self, stop: impl Fn(&Net) -> bool) -> bool {
        let mut idle_ticks = 0;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 1_000_000, "the arrays never settle");
            let Some((a, input)) = self.queue.pop_front() else {
                if self.timers.is_empty() || idle_ticks >= 4 * LOST_TICKS {
                    return false;
                }
                idle_ticks += 1;
                for (a, timer) in std::mem::take(&mut self.timers) {
                    self.queue.push_back((a, Input::Timer { timer }));
                }
                continue;
            };
            if !matches!(input, Input::Timer { .. }) {
                idle_ticks = 0;
            }
            self.deliver(a, input);
            if stop(self) {
                return true;
            }
        }
    }

    /// Array `a` crashes (everything addressed to it is lost; what reached its media
    /// stays) and restarts from its durable metadata.
    fn crash(&mut self, a: usize) {
        self.queue.retain(|(to, _)| *to != a);
        self.timers.retain(|(to, _)| *to != a);
        self.c[a] = Controller::boot(&config(a), &self.meta[a]);
        self.queue.push_back((a, Input::Started));
    }

    fn deliver(&mut self, a: usize, input: Input) {
        let mut out = Vec::new();
        self.c[a].handle(input, &mut out);
        for o in out {
            match o {
                Output::Media { io, op } => {
                    if let MediaOp::Write { space, block, values } = &op
                        && let Err(e) = self.c[a].check(&Probe::MediaWrite {
                            space: *space,
                            block: *block,
                            len: values.len() as u64,
                        })
                    {
                        self.violations.push(e);
                    }
                    if let MediaOp::MetaPutAnnounced { notice: Notice::RemoteGroup { event, .. }, .. } = &op {
                        self.events.push((a, *event));
                    }
                    let result = self.media_op(a, op);
                    self.queue.push_back((a, Input::MediaDone { io, result }));
                }
                Output::Reply { req, result } => self.replies.push((a, req, result)),
                Output::Timer { timer, .. } => self.timers.push((a, timer)),
                Output::Send { to, msg } => {
                    if self.link_up && !self.drops_done_answer(a, &msg) {
                        self.queue.push_back((to.0 as usize, Input::Peer { from: ArrayId(a as u32), msg }));
                    }
                }
                Output::Notice(Notice::RemoteGroup { event, .. }) => self.events.push((a, event)),
                Output::Notice(Notice::CopyFinished { kind, stats, .. }) => {
                    self.copies.push((a, kind, stats))
                }
                Output::Notice(_) => {}
            }
        }
    }

    /// See `on_done_answer`.
    fn drops_done_answer(&mut self, from: usize, msg: &[u8]) -> bool {
        if self.on_done_answer.is_none() {
            return false;
        }
        let Ok(w) = serde_json::from_slice::<Wire>(msg) else { return false };
        let Body::Resp(_) = w.body else { return false };
        let tx = self.c[1 - from].remote.tx.get(&(ArrayId(from as u32), w.group));
        if !tx.and_then(|t| t.unacked.get(&w.seq)).is_some_and(|o| o.req == Req::Done) {
            return false;
        }
        let (at, op) = self.on_done_answer.take().expect("checked");
        self.seq += 1;
        self.queue.push_back((at, Input::Host { req: ReqId { host: 1, seq: self.seq }, op }));
        true
    }

    fn op(&mut self, a: usize, op: Op) -> OpResult {
        self.seq += 1;
        let req = ReqId { host: 1, seq: self.seq };
        self.queue.push_back((a, Input::Host { req, op }));
        self.run();
        let i = self.replies.iter().position(|r| r.0 == a && r.1 == req).expect("answered");
        self.replies.remove(i).2
    }

    fn write(&mut self, block: u64, seq: u32) {
        let values = vec![Value::pack(1, seq, 0)];
        assert_eq!(self.op(A, Op::Write { vol: P, block, values }), Ok(Reply::Done));
    }

    fn create(&mut self) {
        self.create_with(RemoteMode::Sync, Fence::Never);
    }

    fn create_with(&mut self, mode: RemoteMode, fence: Fence) {
        self.create_with_policy(mode, fence, SplitBrainPolicy::Refuse);
    }

    fn create_with_policy(&mut self, mode: RemoteMode, fence: Fence, split_brain: SplitBrainPolicy) {
        let op = Op::RemotePairCreate {
            pair: PairId(0),
            primary: P,
            secondary: R,
            group: G,
            mode,
            fence,
            split_brain,
        };
        assert_eq!(self.op(A, op), Ok(Reply::Done));
        assert_eq!(self.events, vec![(B, RemoteEvent::Synced)], "the initial copy ends");
        self.events.clear();
    }

    fn block(&self, a: usize, vol: VolumeId, block: u64) -> Value {
        self.media[a].get(&(SpaceId(vol.0), block)).copied().unwrap_or_default()
    }

    fn image(&self, a: usize, vol: VolumeId) -> Vec<Value> {
        (0..BLOCKS).map(|b| self.block(a, vol, b)).collect()
    }

    fn state(&self, a: usize) -> RemoteState {
        self.c[a].remote.groups[&G].rec.state
    }

    /// A created, synced pair with blocks 0..16 written; then suspended and blocks
    /// 0..8 written again (the resync's union). Returns the secondary's image at the
    /// suspension (its pre-resync image).
    fn suspended_with_changes() -> (Net, Vec<Value>) {
        let mut n = Net::new();
        n.create();
        for b in 0..16 {
            n.write(b, b as u32 + 1);
        }
        assert_eq!(n.op(A, Op::Suspend { group: G }), Ok(Reply::Done));
        let image = n.image(B, R);
        assert_eq!(image, n.image(A, P), "sync: the secondary held every write");
        for b in 0..8 {
            n.write(b, 100 + b as u32);
        }
        (n, image)
    }
}

#[test]
fn an_unreadable_target_block_counts_as_differing_and_the_copy_repairs_it() {
    let mut n = Net::new();
    for b in 0..4 {
        n.write(b, b as u32 + 1);
    }
    n.media[B].insert((SpaceId(R.0), 2), Value::pack(9, 9, 0));
    n.bad[B].insert((SpaceId(R.0), 2));
    n.create();
    assert!(n.read_errors[B] > 0, "the initial copy read the unreadable target block");
    assert!(n.bad[B].is_empty(), "the copy's write repaired it");
    assert_eq!(n.image(B, R), n.image(A, P));
    assert_eq!(n.state(A), RemoteState::Pair);
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn an_unreadable_copy_source_suspends_the_group_with_an_error() {
    let (mut n, pre) = Net::suspended_with_changes();
    n.bad[A].insert((SpaceId(P.0), 3));
    assert_eq!(n.op(A, Op::Resume { group: G }), Ok(Reply::Done));
    // Not retried forever, not a panic: the group is suspended with an error.
    assert_eq!(n.events, vec![(A, RemoteEvent::LinkLost)]);
    assert_eq!(n.state(A), RemoteState::SuspendedError);
    assert!(!n.c[A].busy(), "no copy left running");
    assert_eq!(n.block(B, R, 3), pre[3], "the unreadable chunk never reached the secondary");
    assert!(n.c[A].remote.groups[&G].bits.keys().any(|k| k.1 == (P, 3)), "its bit stays for a later resume");
    // A takeover finds the pre-resync image.
    assert_eq!(n.op(B, Op::Takeover { group: G }), Ok(Reply::Done));
    assert_eq!(n.image(B, R), pre);
    // Once a host write repairs the block, a resume from the primary (the
    // secondary wrote nothing since its takeover) copies the union and completes.
    n.write(3, 500);
    assert!(n.bad[A].is_empty());
    assert_eq!(n.op(A, Op::Resume { group: G }), Ok(Reply::Done));
    assert_eq!(n.state(A), RemoteState::Pair);
    assert_eq!(n.image(B, R), n.image(A, P));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn an_unreadable_pre_resync_block_is_never_overwritten_and_the_takeover_restores_the_rest() {
    let (mut n, pre) = Net::suspended_with_changes();
    n.bad[B].insert((SpaceId(R.0), 5));
    // The save area of the first chunks fails once: the restore retries it.
    n.once[B].insert((SpaceId(SAVE_SPACE | R.0), 0));
    assert_eq!(n.op(A, Op::Resume { group: G }), Ok(Reply::Done));
    assert_eq!(n.events, vec![(A, RemoteEvent::LinkLost)], "the target's refusal suspends the group");
    assert_eq!(n.state(A), RemoteState::SuspendedError);
    assert!(n.bad[B].contains(&(SpaceId(R.0), 5)), "the block whose pre-resync content is unreadable stays");
    assert!(!n.c[A].busy() && !n.c[B].busy());
    // Chunks before it were saved and overwritten: the takeover restores them.
    assert!(!n.c[B].remote.groups[&G].saved.is_empty());
    assert_ne!(n.image(B, R), pre, "the secondary is half copied before the takeover");
    assert_eq!(n.op(B, Op::Takeover { group: G }), Ok(Reply::Done));
    assert!(n.once[B].is_empty(), "the restore hit the failing save read");
    let mut now = n.image(B, R);
    now[5] = pre[5];
    assert_eq!(now, pre, "the whole pre-resync image is back");
    // The restored chunks differ from the primary: they are tracked, so a failback
    // would copy them.
    let grp = &n.c[B].remote.groups[&G];
    for c in 0..5 {
        assert!(grp.bits.keys().any(|k| k.1 == (R, c)), "restored chunk {c} has a change bit");
    }
    assert!(!grp.wrote(), "restored chunks are not writes since the takeover (no false split brain)");
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn the_save_probe_fires_on_an_overwrite_of_an_unsaved_chunk() {
    let (mut n, _) = Net::suspended_with_changes();
    let write = Probe::MediaWrite { space: SpaceId(R.0), block: 2, len: 2 };
    assert_eq!(n.c[B].check(&write), Ok(()), "not a resync target");
    let grp = n.c[B].remote.groups.get_mut(&G).expect("exists");
    grp.rec.state = RemoteState::Resync;
    grp.rec.saving = true;
    grp.saved.insert((R, 2));
    let e = n.c[B].check(&write).expect_err("chunk 3 is not saved");
    assert!(e.contains("chunk 3") && e.contains("before its pre-resync content is saved"), "{e}");
    n.c[B].remote.groups.get_mut(&G).expect("exists").saved.insert((R, 3));
    assert_eq!(n.c[B].check(&write), Ok(()));
    // Writes elsewhere (the save area) are not judged.
    let save = Probe::MediaWrite { space: SpaceId(SAVE_SPACE | R.0), block: 9, len: 1 };
    assert_eq!(n.c[B].check(&save), Ok(()));
}

#[test]
fn the_union_probe_fires_when_a_copy_drops_a_chunk() {
    let exact = CopyStats { blocks_copied: 8, union_blocks: 8, differing_blocks: 3, chunks: 8 };
    assert_eq!(Controller::check_copy_union(G, PairId(0), &exact), Ok(()));
    let short = CopyStats { blocks_copied: 7, ..exact };
    let e = Controller::check_copy_union(G, PairId(0), &short).expect_err("a chunk was dropped");
    assert!(e.contains("copied 7 blocks") && e.contains("union of the change maps is 8"), "{e}");
}

#[test]
fn the_views_cover_what_each_side_changed_since_the_suspension() {
    let (mut n, _) = Net::suspended_with_changes();
    let a = n.c[A].remote_pairs();
    let b = n.c[B].remote_pairs();
    assert_eq!((a.len(), b.len()), (1, 1));
    let (a, b) = (&a[0], &b[0]);
    assert!(a.primary && !b.primary && a.settled && b.settled && a.consistent);
    assert_eq!((a.state, b.state), (RemoteState::Suspended, RemoteState::Suspended));
    for blk in 0..8 {
        assert!(a.covered.iter().any(|r| r.0 <= blk && blk < r.1), "block {blk} covered at the primary");
    }
    assert!(b.covered.is_empty(), "the secondary wrote nothing");
    // Every differing block is covered: what the simulator's probe checks.
    for blk in 0..BLOCKS {
        if n.block(A, P, blk) != n.block(B, R, blk) {
            assert!(a.covered.iter().chain(&b.covered).any(|r| r.0 <= blk && blk < r.1), "block {blk}");
        }
    }
    // A takeover mid-nothing: the secondary's writes are covered on its side.
    assert_eq!(n.op(B, Op::Takeover { group: G }), Ok(Reply::Done));
    assert_eq!(n.op(B, Op::Write { vol: R, block: 40, values: vec![Value::pack(2, 1, 0)] }), Ok(Reply::Done));
    let b = n.c[B].remote_pairs();
    assert!(b[0].covered.iter().any(|r| r.0 <= 40 && 40 < r.1));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

fn image_id(n: u32) -> VolumeId {
    VolumeId(VolumeId::IMAGE_BASE + n)
}

fn one(seq: u32) -> OpResult {
    Ok(Reply::Values(vec![if seq == 0 { Value::ZERO } else { Value::pack(1, seq, 0) }]))
}

#[test]
fn snapshots_of_a_primary_and_of_its_following_secondary_keep_their_point_in_time() {
    let mut n = Net::new();
    n.create();
    for b in 0..8 {
        n.write(b, b as u32 + 1);
    }
    assert_eq!(n.op(A, Op::Snapshot { vol: P, image: image_id(0) }), Ok(Reply::Done));
    assert_eq!(n.op(B, Op::Snapshot { vol: R, image: image_id(1) }), Ok(Reply::Done));
    // The writes after the snapshots reach the secondary through the remote path; the
    // secondary's image keeps the old data (copy-on-write of the applies).
    for b in 0..8 {
        n.write(b, 100 + b as u32);
    }
    for b in 0..8 {
        assert_eq!(n.op(A, Op::Read { vol: image_id(0), block: b, len: 1 }), one(b as u32 + 1), "block {b}");
        assert_eq!(n.op(B, Op::Read { vol: image_id(1), block: b, len: 1 }), one(b as u32 + 1), "block {b}");
    }
    assert_eq!(n.image(B, R), n.image(A, P), "the secondary still follows");
    // An image's own writes stay private; host I/O to the secondary is still refused.
    let values = vec![Value::pack(1, 500, 0)];
    assert_eq!(n.op(B, Op::Write { vol: image_id(1), block: 0, values }), Ok(Reply::Done));
    assert_eq!(n.op(B, Op::Read { vol: image_id(1), block: 0, len: 1 }), one(500));
    assert_eq!(n.op(B, Op::Read { vol: R, block: 0, len: 1 }), Err(ErrorKind::NotAccessible));
    assert_eq!(n.image(B, R), n.image(A, P));
    // An image taken while suspended keeps the secondary's image at the suspension
    // while the resync copies over the volume (its writes copy-on-write too).
    assert_eq!(n.op(A, Op::Suspend { group: G }), Ok(Reply::Done));
    for b in 0..4 {
        n.write(b, 200 + b as u32);
    }
    assert_eq!(n.op(B, Op::Snapshot { vol: R, image: image_id(2) }), Ok(Reply::Done), "suspended");
    assert_eq!(n.op(A, Op::Resume { group: G }), Ok(Reply::Done));
    assert_eq!(n.state(B), RemoteState::Pair);
    for b in 0..8 {
        let want = if b < 4 { 200 + b as u32 } else { 100 + b as u32 };
        assert_eq!(n.op(B, Op::Read { vol: R, block: b, len: 1 }), Err(ErrorKind::NotAccessible));
        assert_eq!(
            n.op(B, Op::Read { vol: image_id(2), block: b, len: 1 }),
            one(100 + b as u32),
            "block {b}"
        );
        assert_eq!(n.block(B, R, b), Value::pack(1, want, 0), "the resync copied block {b}");
    }
    // Deleting the images frees every pool block; the pair goes on.
    assert_eq!(n.op(A, Op::DeleteSnapshot { image: image_id(0) }), Ok(Reply::Done));
    for i in 1..3 {
        assert_eq!(n.op(B, Op::DeleteSnapshot { image: image_id(i) }), Ok(Reply::Done));
    }
    assert_eq!(n.op(B, Op::DeleteSnapshot { image: image_id(0) }), Err(ErrorKind::NoSuchImage));
    assert_eq!((n.c[A].snapshot_stats().pool_used, n.c[B].snapshot_stats().pool_used), (0, 0));
    n.write(9, 300);
    assert_eq!(n.block(B, R, 9), Value::pack(1, 300, 0));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn snapshot_refusals_follow_the_model() {
    // An async secondary: `in_pair`, whatever its state; its primary: its own image.
    let mut n = Net::new();
    n.create_with(RemoteMode::Async, Fence::Never);
    assert_eq!(n.op(B, Op::Snapshot { vol: R, image: image_id(0) }), Err(ErrorKind::InPair));
    assert_eq!(n.op(A, Op::Snapshot { vol: P, image: image_id(0) }), Ok(Reply::Done));
    assert_eq!(n.op(A, Op::Suspend { group: G }), Ok(Reply::Done));
    assert_eq!(n.op(B, Op::Snapshot { vol: R, image: image_id(1) }), Err(ErrorKind::InPair));
    assert_eq!(n.op(B, Op::Takeover { group: G }), Ok(Reply::Done));
    assert_eq!(n.op(B, Op::Snapshot { vol: R, image: image_id(1) }), Err(ErrorKind::InPair), "swapped");
    // Sync, fence data: a primary fenced by a link loss refuses; its secondary holds
    // every acknowledged write and images it.
    let mut n = Net::new();
    n.create_with(RemoteMode::Sync, Fence::Data);
    n.write(0, 1);
    n.link_up = false;
    let values = vec![Value::pack(1, 2, 0)];
    assert_eq!(n.op(A, Op::Write { vol: P, block: 0, values }), Err(ErrorKind::Indeterminate));
    assert_eq!(n.events, vec![(A, RemoteEvent::LinkLost)]);
    assert_eq!(n.op(A, Op::Snapshot { vol: P, image: image_id(0) }), Err(ErrorKind::Fenced));
    assert_eq!(n.op(B, Op::Snapshot { vol: R, image: image_id(0) }), Ok(Reply::Done));
    assert_eq!(n.op(B, Op::Read { vol: image_id(0), block: 0, len: 1 }), one(1));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn a_restarted_fence_data_primary_adopts_the_write_its_crash_left_on_the_secondary_only() {
    let (mut n, req) = write_on_the_secondary_only(SplitBrainPolicy::Refuse);
    let w2 = Value::pack(1, 2, 0);
    n.crash(A);
    n.run();
    assert_eq!(n.events, vec![(A, RemoteEvent::LinkLost)], "the crash suspended the group");
    assert!(n.replies.iter().all(|r| r.1 != req), "the crash lost the write's answer");
    // The secondary (suspended, its image in place) may show the write: a snapshot
    // of it keeps it. The restarted primary holds it too (adopted), fenced until the
    // resume; the resume keeps it on both sides.
    assert_eq!(n.op(B, Op::Snapshot { vol: R, image: image_id(0) }), Ok(Reply::Done));
    assert_eq!(n.op(B, Op::Read { vol: image_id(0), block: 3, len: 1 }), one(2));
    assert_eq!(n.block(A, P, 3), w2, "the primary adopted the secondary's content");
    assert!(n.c[A].remote.groups[&G].rec.adopt.is_none(), "the adoption is over");
    assert_eq!(n.op(A, Op::Read { vol: P, block: 3, len: 1 }), Err(ErrorKind::Fenced));
    assert_eq!(n.op(A, Op::Resume { group: G }), Ok(Reply::Done));
    assert_eq!(n.state(A), RemoteState::Pair);
    assert_eq!(n.op(A, Op::Read { vol: P, block: 3, len: 1 }), one(2));
    assert_eq!(n.image(B, R), n.image(A, P));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn a_restarted_fence_data_primary_adopts_what_the_secondary_did_not_write_since_its_takeover() {
    // B took over (showing the write in doubt) and wrote block 40, or block 3 itself.
    for written_since in [40, 3] {
        let mut n = took_over_after_a_primary_crash(written_since);
        let want = if written_since == 3 { Value::pack(1, 1, 0) } else { Value::pack(1, 2, 0) };
        assert_eq!(n.block(A, P, 3), want, "B wrote block {written_since} since its takeover");
        // B wrote, A (fenced since its crash) did not: a resume overriding the
        // takeover is refused (split brain needs both), so A's own block 3 is never
        // shown; a failback copies B over A.
        let swapped = Err(ErrorKind::RemoteWrongState(RemoteState::Swapped));
        assert_eq!(n.op(A, Op::Resume { group: G }), swapped);
        assert_eq!(n.op(B, Op::Failback { group: G }), Ok(Reply::Done));
        assert_eq!(n.image(A, P), n.image(B, R));
        assert_eq!(n.block(A, P, written_since), Value::pack(2, 1, 0));
        assert!(n.violations.is_empty(), "{:?}", n.violations);
    }
}

/// Sync, fence `data`: a write goes to the secondary first. Block 3 holds write 1;
/// write 2 to it is stopped once B holds it and before A's media does (A's crash
/// comes next). Returns the net and write 2's request.
fn write_on_the_secondary_only(split_brain: SplitBrainPolicy) -> (Net, ReqId) {
    let mut n = Net::new();
    n.create_with_policy(RemoteMode::Sync, Fence::Data, split_brain);
    n.write(3, 1);
    n.seq += 1;
    let req = ReqId { host: 1, seq: n.seq };
    let values = vec![Value::pack(1, 2, 0)];
    n.queue.push_back((A, Input::Host { req, op: Op::Write { vol: P, block: 3, values } }));
    let w2 = Value::pack(1, 2, 0);
    assert!(n.run_until(|n| n.block(B, R, 3) == w2), "the secondary holds the write");
    assert_eq!(n.block(A, P, 3), Value::pack(1, 1, 0), "the primary does not yet");
    (n, req)
}

/// A (sync, fence data) crashes with a write to block 3 on B only; B takes over and
/// writes block `written_since`; A restarts and adopts what it can.
fn took_over_after_a_primary_crash(written_since: u64) -> Net {
    let (mut n, _) = write_on_the_secondary_only(SplitBrainPolicy::DiscardSecondary);
    // The primary stays down while the secondary takes over and writes the block.
    n.queue.retain(|(to, _)| *to != A);
    n.timers.retain(|(to, _)| *to != A);
    n.link_up = false;
    assert_eq!(n.op(B, Op::Takeover { group: G }), Ok(Reply::Done));
    n.link_up = true;
    let values = vec![Value::pack(2, 1, 0)];
    assert_eq!(n.op(B, Op::Write { vol: R, block: written_since, values }), Ok(Reply::Done));
    n.crash(A);
    n.run();
    assert!(n.c[A].remote.groups[&G].rec.adopt.is_none(), "the adoption is over");
    assert!(n.violations.is_empty(), "{:?}", n.violations);
    n
}

#[test]
fn an_old_primary_whose_failback_begin_was_lost_serves_no_io_in_its_old_role() {
    // B takes over; A (fence never) stays accessible. B's failback probes A (which
    // holds its host I/O), records itself primary, and its `Begin` is lost with the
    // link: the failback took effect (B answered it), so A is the secondary now.
    let mut n = Net::new();
    n.create();
    n.write(3, 1);
    n.link_up = false;
    n.write(3, 2);
    assert_eq!(n.op(B, Op::Takeover { group: G }), Ok(Reply::Done));
    n.link_up = true;
    n.events.clear();
    n.seq += 1;
    let req = ReqId { host: 1, seq: n.seq };
    n.queue.push_back((B, Input::Host { req, op: Op::Failback { group: G } }));
    let recording = |n: &Net| n.c[B].remote.groups[&G].rec_put.as_ref().is_some_and(|r| r.0.primary);
    assert!(n.run_until(recording), "B records the failback");
    n.link_up = false;
    n.run();
    assert!(n.replies.iter().any(|r| r.1 == req && r.2 == Ok(Reply::Done)), "the failback took effect");
    n.seq += 1;
    let read = ReqId { host: 1, seq: n.seq };
    n.queue.push_back((A, Input::Host { req: read, op: Op::Read { vol: P, block: 3, len: 1 } }));
    n.run();
    assert!(n.replies.iter().all(|r| r.1 != read), "A holds its host I/O while it cannot ask B");
    n.link_up = true;
    n.run();
    let got: Vec<_> = n.replies.iter().filter(|r| r.1 == read).map(|r| r.2.clone()).collect();
    assert_eq!(got, vec![Err(ErrorKind::NotAccessible)], "A learned it is the secondary");
    assert!(!n.c[A].remote.groups[&G].rec.primary);
    // The failback's resync was cut before it copied anything: A holds its
    // pre-resync image, which (as any cut resync's target) it does not image.
    assert_eq!(n.op(A, Op::Snapshot { vol: P, image: image_id(0) }), Err(ErrorKind::Inconsistent));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

/// The secondary records the end of a copy (`synced`, announced by its record) before
/// the primary has the `Done` answer: a command judged meanwhile sees the model's
/// `pair`, not the primary's `copy` (full fuzz seed 3759). A secondary's command
/// takes its own `pair`; a primary's waits for the answer (a retransmission here).
#[test]
fn a_command_right_after_synced_sees_pair_before_the_primary_has_heard() {
    for (at, op, want, after) in [
        (
            B,
            Op::Failback { group: G },
            Err(ErrorKind::RemoteWrongState(RemoteState::Pair)),
            RemoteState::Pair,
        ),
        (A, Op::Suspend { group: G }, Ok(Reply::Done), RemoteState::Suspended),
        (A, Op::Resume { group: G }, Err(ErrorKind::RemoteWrongState(RemoteState::Pair)), RemoteState::Pair),
    ] {
        let mut n = Net::new();
        n.write(0, 1);
        n.on_done_answer = Some((at, op.clone()));
        let create = Op::RemotePairCreate {
            pair: PairId(0),
            primary: P,
            secondary: R,
            group: G,
            mode: RemoteMode::Sync,
            fence: Fence::Never,
            split_brain: SplitBrainPolicy::Refuse,
        };
        assert_eq!(n.op(A, create), Ok(Reply::Done));
        assert!(n.on_done_answer.is_none(), "{op}: the first `Done` answer was dropped");
        let req = ReqId { host: 1, seq: n.seq };
        let i = n.replies.iter().position(|r| r.0 == at && r.1 == req).expect("answered");
        assert_eq!(n.replies[i].2, want, "{op}");
        assert_eq!(n.events, vec![(B, RemoteEvent::Synced)], "{op}");
        assert_eq!((n.state(A), n.state(B)), (after, after), "{op}");
        assert!(n.violations.is_empty(), "{:?}", n.violations);
    }
}

/// A primary that lost the end of the initial copy (a crash landed the secondary's
/// record of `synced`, not its own: full fuzz seed 3800) resumes with the union of
/// the change maps, learnt from the secondary's state, and once it is the secondary
/// (a failback) it holds a whole image: a takeover there is not refused.
#[test]
fn a_primarys_stale_view_of_consistency_neither_widens_a_resume_nor_follows_a_failback() {
    let (mut n, _) = Net::suspended_with_changes();
    // The view the crash left (the secondary holds a whole image and says so).
    n.c[A].remote.groups.get_mut(&G).expect("exists").rec.consistent = false;
    assert_eq!(n.op(A, Op::Resume { group: G }), Ok(Reply::Done));
    let (at, kind, stats) = n.copies.last().copied().expect("the resync finished");
    assert_eq!((at, kind), (A, CopyKind::RemoteResync));
    assert_eq!(stats.blocks_copied, 8, "the union of the change maps (blocks 0..8), not every block");
    // Again, then a takeover and a failback whose resync cannot finish (its source
    // block is unreadable): the old primary is a resync target cut half-way.
    assert_eq!(n.op(A, Op::Suspend { group: G }), Ok(Reply::Done));
    n.c[A].remote.groups.get_mut(&G).expect("exists").rec.consistent = false;
    let pre = n.image(A, P);
    assert_eq!(n.op(B, Op::Takeover { group: G }), Ok(Reply::Done));
    let values = vec![Value::pack(2, 1, 0)];
    assert_eq!(n.op(B, Op::Write { vol: R, block: 40, values }), Ok(Reply::Done));
    n.bad[B].insert((SpaceId(R.0), 40));
    n.events.clear();
    assert_eq!(n.op(B, Op::Failback { group: G }), Ok(Reply::Done));
    assert_eq!(n.events, vec![(B, RemoteEvent::LinkLost)], "the failback's resync is cut");
    assert_eq!(n.state(A), RemoteState::Resync);
    // The model's secondary holds its pre-resync image (the old primary's own): a
    // takeover there puts it back.
    assert_eq!(n.op(A, Op::Takeover { group: G }), Ok(Reply::Done));
    assert_eq!(n.image(A, P), pre);
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn a_backup_waits_for_a_remote_create_on_its_volume() {
    // A remote create of P's pair and a backup within P issued together: the backup
    // waits for the create and is then refused (`in_pair`); never both done.
    let mut n = Net::new();
    let create = ReqId { host: 1, seq: 1 };
    let backup = ReqId { host: 1, seq: 2 };
    n.seq = 2;
    let op = Op::RemotePairCreate {
        pair: PairId(0),
        primary: P,
        secondary: R,
        group: G,
        mode: RemoteMode::Sync,
        fence: Fence::Never,
        split_brain: SplitBrainPolicy::Refuse,
    };
    n.queue.push_back((A, Input::Host { req: create, op }));
    let region = |start| model::Region { vol: P, start, blocks: 4 };
    let op = Op::Backup { backup: model::BackupId(0), src: region(0), dst: region(8) };
    n.queue.push_back((A, Input::Host { req: backup, op }));
    n.run();
    let answer = |q: ReqId| n.replies.iter().find(|r| r.1 == q).map(|r| r.2.clone());
    assert_eq!(answer(create), Some(Ok(Reply::Done)));
    assert_eq!(answer(backup), Some(Err(ErrorKind::InPair)), "the backup waited for the create");
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}
