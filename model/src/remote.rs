//! S3: remote replication (TrueCopy / SRDF / DRBD) in the reference model.
//!
//! A remote pair joins a primary volume P (on one array) and a secondary R (on
//! another). Pairs belong to a consistency group, which has one state, one mode, one
//! fence level and one split-brain policy: the group suspends, resumes, takes over and
//! fails back as one. The model is sequential and knows nothing of links: the arrays
//! announce the transitions they make by themselves ([`RemoteEvent`]) and the model
//! judges when they happened.
//!
//! | state | R (secondary) | P (primary) |
//! | --- | --- | --- |
//! | `copy` (initial copy), `pair`, `resync` | follows P; not host-accessible | accessible |
//! | `suspended` (planned, PSUS) | the image of P at the suspension | accessible, tracked |
//! | `suspended_error` (link lost, PSUE) | the image of P at the event; during a resync, its pre-resync image | sync + fence `data`: `fenced` (reads and writes, DRBD's suspend-io); otherwise accessible |
//! | `swapped` (after takeover, SSWS) | its image, host-accessible | as before the takeover |
//!
//! Commands: `suspend` from `pair`; `resume` (P authoritative) from the suspended
//! states, and from `swapped` when R wrote nothing since the takeover or the split
//! brain policy discards the secondary; `takeover` from `pair`, `resync` (R falls
//! back to its pre-resync image), `suspended` and `suspended_error`, only if R holds
//! a consistent image (during or after an initial copy that never finished:
//! `inconsistent`); `failback` from `swapped`: the roles swap, the old primary becomes
//! the secondary and follows, its writes since the suspension are discarded (the data
//! loss the harness reports). Split brain (both sides wrote since the suspension,
//! DRBD's generation identifiers) makes `resume` and `failback` obey the policy:
//! `refuse` refuses both with `split_brain`, `discard_secondary` allows only
//! `resume`, `discard_primary` only `failback`.
//!
//! Events: `synced` ends a copy or resync (R holds P's image and follows), `link_lost`
//! suspends (`suspended_error`). The two come from different arrays that decide
//! apart: the secondary may record the end of a copy after the primary gave the link
//! up (its `Done` still in flight or on slow media). R then holds the whole copy, as
//! TrueCopy's S-VOL reaches PAIR beside a P-VOL in PSUE; so a `synced` after a
//! `link_lost` that cut a copy or resync, before any command changed the group, is
//! taken: R becomes consistent with P's image at the loss (not its pre-resync one),
//! and the group stays `suspended_error` ([`Group::late`]).
//!
//! Sync with fence `never` keeps ONE image at `link_lost` (and at a takeover from
//! `pair`): R's image is P's at the event, and P stays accessible. A sync write in
//! flight at the event (no answer yet, or a primary crash) is then explained by
//! taking effect before the event (on both sides), after it (on P only: a primary
//! write since the suspension), or never. The model cannot say "on R only", so an
//! array must never leave a write there while P goes on serving the older content:
//! the engine writes a fence-`never` sync write to P's media before it ships it (an
//! enterprise array's battery-backed cache, then replication; the remote ack
//! completes the host write), and holds host reads of its chunks until it is
//! acknowledged. The alternatives weighed (issue 5): a restarted primary pulling
//! its in-doubt blocks from R before serving them (DRBD's activity-log resync) needs
//! R's content as of the event, which a takeover at R (with DR writes after it)
//! no longer has; and a model that lets an unanswered write land on R's image only
//! would make every unknown write a branch of the linearizability search. Fence
//! `data` keeps the remote-first order: its primary is fenced after the event, and
//! its blocks in doubt (and, after its crash, its activity log) are resolved from R
//! before it serves I/O again.
//!
//! Async groups use the same states; their secondary's content at a suspension is a
//! prefix of P's acknowledged writes rather than P's image, which linearizability
//! cannot judge: the harness judges it with the prefix checker (the model's image is
//! the upper bound).
//!
//! # Snapshots (S4) of volumes in remote pairs
//!
//! A point-in-time image of a remote volume is an image of what that volume holds on
//! its own array (Thin Image / ShadowImage on a TrueCopy P-VOL or S-VOL, TimeFinder
//! on an SRDF R2, an LVM snapshot under a DRBD device), so:
//!
//! - **A primary**: its own image, in every state. A fenced primary (sync, fence
//!   `data`, after a link loss) refuses it with `fenced`, as it refuses host I/O: a
//!   write answered `indeterminate` may be on the secondary only, so the primary's
//!   blocks are not known to be its content until `resume` settles them.
//! - **A sync secondary** that holds a consistent image in place: while it follows
//!   (`pair`) the image is its primary's content at the snapshot (every acknowledged
//!   write is on the secondary; writes in flight are in doubt as usual); suspended
//!   or swapped, the secondary's own image.
//! - **A sync secondary with no consistent image in place** refuses it with
//!   `inconsistent`: during an initial copy (or after one that never finished),
//!   during a resync, and after a resync cut by a link loss until a takeover puts the
//!   pre-resync image back (`halfway`). DRBD's sync target is `Inconsistent` in
//!   these states; its consistent data is only the before-resync-target snapshot,
//!   which the array keeps for a takeover, not as a host-visible image. Hitachi
//!   refuses a Thin Image split of a TrueCopy S-VOL in COPY the same way.
//! - **The secondary of an async group** refuses it with `in_pair` in every state,
//!   as a volume in a local mirror pair does: its content is a prefix of the
//!   primary's acknowledged writes, not an image the model knows (Universal
//!   Replicator gives a consistent S-VOL snapshot only with an at-time split of the
//!   whole journal group; the harness judges async secondaries with the prefix
//!   checker, which does not follow images). The refusal depends on the volume's
//!   role only, never on a state the secondary may learn late.
//!
//! Images are volumes of their own: an image of a remote volume is in no pair, is
//! read and written like any image, and is never replicated; a volume with images may
//! join a remote pair (its images keep their content while the copy overwrites it).

use crate::ids::{GroupId, PairId, VolumeId};
use crate::ops::{ErrorKind, Op, OpResult, Reply};
use crate::storage::{Blocks, StorageModel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// When a write to the primary is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RemoteMode {
    /// After the secondary has it (TrueCopy, DRBD protocol C).
    Sync,
    /// At once; shipped in order and applied in order (Universal Replicator, protocol A).
    Async,
}

/// What a sync pair does with writes when the secondary cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Fence {
    /// The primary refuses I/O (no acknowledged write is ever missing at B).
    Data,
    /// Writes continue locally and are tracked.
    Never,
}

/// What `resume` and `failback` do when both sides wrote while apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SplitBrainPolicy {
    /// Refuse both: an operator must decide (DRBD `disconnect`).
    Refuse,
    /// `resume` discards the secondary's writes (DRBD `discard-secondary`).
    DiscardSecondary,
    /// `failback` discards the primary's writes.
    DiscardPrimary,
}

/// The states of a consistency group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteState {
    Copy,
    Pair,
    Suspended,
    SuspendedError,
    Resync,
    Swapped,
}

impl RemoteState {
    pub const ALL: [RemoteState; 6] = [
        RemoteState::Copy,
        RemoteState::Pair,
        RemoteState::Suspended,
        RemoteState::SuspendedError,
        RemoteState::Resync,
        RemoteState::Swapped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RemoteState::Copy => "copy",
            RemoteState::Pair => "pair",
            RemoteState::Suspended => "suspended",
            RemoteState::SuspendedError => "suspended_error",
            RemoteState::Resync => "resync",
            RemoteState::Swapped => "swapped",
        }
    }

    pub fn from_name(name: &str) -> Option<RemoteState> {
        RemoteState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// States in which the secondaries follow the primaries.
    pub fn following(self) -> bool {
        matches!(self, RemoteState::Copy | RemoteState::Pair | RemoteState::Resync)
    }
}

/// A transition the arrays make by themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteEvent {
    /// The initial copy or a resync finished: `copy`, `resync` → `pair`.
    Synced,
    /// The secondary could not be reached (unplanned): `copy`, `pair`, `resync` →
    /// `suspended_error`. Also a copy that cannot go on because of a media error (its
    /// source block, or the block of the secondary's pre-resync image it would
    /// overwrite, is unreadable): TrueCopy's PSUE, the same transition. In `swapped` (the old primary learns of the takeover late)
    /// the state stays and a sync, fence `data` primary is fenced.
    LinkLost,
}

macro_rules! display_by_serde_name {
    ($($t:ty => { $($v:ident = $n:literal),* }),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $(<$t>::$v => $n),* })
            }
        }
    )*};
}

display_by_serde_name! {
    RemoteMode => { Sync = "sync", Async = "async" },
    Fence => { Data = "data", Never = "never" },
    SplitBrainPolicy => {
        Refuse = "refuse", DiscardSecondary = "discard_secondary", DiscardPrimary = "discard_primary"
    },
    RemoteEvent => { Synced = "synced", LinkLost = "link_lost" }
}

impl fmt::Display for RemoteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A consistency group as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    pub mode: RemoteMode,
    pub fence: Fence,
    pub split_brain: SplitBrainPolicy,
    pub state: RemoteState,
    /// The group's pairs with their current roles: (primary, secondary).
    pub pairs: BTreeMap<PairId, (VolumeId, VolumeId)>,
    /// The secondaries hold a consistent image (false until an initial copy ends).
    pub consistent: bool,
    /// Sync with fence `data` after a link loss: the primaries refuse host I/O.
    pub fenced: bool,
    /// The secondaries' images when the running resync began (DRBD's
    /// before-resync-target snapshot).
    pub fallback: Option<BTreeMap<VolumeId, Blocks>>,
    /// Writes since the suspension, per side (DRBD's generation identifiers: a side
    /// that wrote has a new current UUID).
    pub primary_wrote: bool,
    pub secondary_wrote: bool,
    /// A resync was cut by a link loss: the secondaries' volumes are half-copied in
    /// place (the model shows the pre-resync image, which a takeover puts back) until
    /// a takeover or a completed resync; snapshots of them are refused.
    pub halfway: bool,
    /// A link loss cut a copy or a resync whose end the secondary may still record (its
    /// `Done` was sent before the primary gave the link up): the secondaries' images
    /// had the copy ended at the loss. A `synced` announced after the `link_lost`
    /// (the two arrays decide apart: TrueCopy's P-VOL in PSUE beside an S-VOL that
    /// reached PAIR) makes them consistent with these images; the group stays
    /// suspended. Gone with the next command that changes the group.
    pub late: Option<BTreeMap<VolumeId, Blocks>>,
}

impl StorageModel {
    /// A consistency group.
    pub fn group(&self, group: GroupId) -> Option<&Group> {
        self.groups.get(&group)
    }

    /// The group of a volume in a remote pair, with the volume's role (true: primary).
    pub fn remote_role(&self, vol: VolumeId) -> Option<(GroupId, bool)> {
        self.groups.iter().find_map(|(g, grp)| {
            grp.pairs.values().find_map(|&(p, s)| {
                if p == vol {
                    Some((*g, true))
                } else if s == vol {
                    Some((*g, false))
                } else {
                    None
                }
            })
        })
    }

    /// Whether any remote pair has this id.
    pub fn remote_pair_exists(&self, pair: PairId) -> bool {
        self.groups.values().any(|g| g.pairs.contains_key(&pair))
    }

    /// S3's access rule for a volume in a remote pair (`Ok` for any other volume).
    pub(crate) fn remote_accessible(&self, vol: VolumeId) -> Result<(), ErrorKind> {
        let Some((g, primary)) = self.remote_role(vol) else { return Ok(()) };
        let grp = &self.groups[&g];
        if primary {
            if grp.fenced { Err(ErrorKind::Fenced) } else { Ok(()) }
        } else if grp.state == RemoteState::Swapped {
            Ok(())
        } else {
            Err(ErrorKind::NotAccessible)
        }
    }

    /// The volume whose data a remote secondary shows: its primary's while it follows.
    pub(crate) fn remote_data_volume(&self, vol: VolumeId) -> Option<VolumeId> {
        let (g, primary) = self.remote_role(vol)?;
        let grp = &self.groups[&g];
        if primary || !grp.state.following() {
            return None;
        }
        grp.pairs.values().find(|(_, s)| *s == vol).map(|(p, _)| *p)
    }

    /// S4's rule for a snapshot of a volume in a remote pair (see "Snapshots" in the
    /// module doc); `Ok` for any other volume.
    pub(crate) fn remote_snapshot_allowed(&self, vol: VolumeId) -> Result<(), ErrorKind> {
        let Some((g, primary)) = self.remote_role(vol) else { return Ok(()) };
        let grp = &self.groups[&g];
        if primary {
            return if grp.fenced { Err(ErrorKind::Fenced) } else { Ok(()) };
        }
        if grp.mode == RemoteMode::Async {
            return Err(ErrorKind::InPair);
        }
        if !grp.consistent || grp.halfway || matches!(grp.state, RemoteState::Copy | RemoteState::Resync) {
            return Err(ErrorKind::Inconsistent);
        }
        Ok(())
    }

    /// Notes a host write that took effect on `vol` (the split-brain flags).
    pub(crate) fn remote_wrote(&mut self, vol: VolumeId) {
        if let Some((g, primary)) = self.remote_role(vol) {
            let grp = self.groups.get_mut(&g).expect("found");
            if grp.state.following() {
                return;
            }
            if primary {
                grp.primary_wrote = true;
            } else {
                grp.secondary_wrote = true;
            }
        }
    }

    /// Applies an S3 command or event.
    pub(crate) fn apply_remote(&mut self, op: &Op) -> OpResult {
        if let Op::RemotePairCreate { pair, primary, secondary, group, mode, fence, split_brain } = *op {
            return self.remote_pair_create(pair, primary, secondary, group, mode, fence, split_brain);
        }
        let g = op.group().expect("an S3 command names a group");
        let grp = self.groups.get(&g).ok_or(ErrorKind::NoSuchGroup)?;
        let state = grp.state;
        let wrong = Err(ErrorKind::RemoteWrongState(state));
        let split_brain = grp.primary_wrote && grp.secondary_wrote;
        match op {
            Op::Suspend { .. } => {
                if state != RemoteState::Pair {
                    return wrong;
                }
                self.image_secondaries(g);
                self.set_remote(g, RemoteState::Suspended);
            }
            Op::Resume { .. } => {
                match state {
                    RemoteState::Suspended | RemoteState::SuspendedError => {}
                    RemoteState::Swapped if !grp.secondary_wrote || self.lenient_split_brain => {}
                    RemoteState::Swapped if split_brain => {
                        if grp.split_brain != SplitBrainPolicy::DiscardSecondary {
                            return Err(ErrorKind::SplitBrain);
                        }
                    }
                    _ => return wrong,
                }
                self.begin_resync(g);
            }
            Op::Takeover { .. } => {
                match state {
                    RemoteState::Copy => return Err(ErrorKind::Inconsistent),
                    RemoteState::Pair => self.image_secondaries(g),
                    RemoteState::Resync => self.fall_back(g),
                    RemoteState::Suspended | RemoteState::SuspendedError => {}
                    RemoteState::Swapped => return wrong,
                }
                if !self.groups[&g].consistent {
                    return Err(ErrorKind::Inconsistent);
                }
                let grp = self.groups.get_mut(&g).expect("exists");
                if state == RemoteState::Pair {
                    grp.primary_wrote = false;
                    grp.secondary_wrote = false;
                }
                grp.halfway = false;
                grp.late = None;
                grp.state = RemoteState::Swapped;
            }
            Op::Failback { .. } => {
                if state != RemoteState::Swapped {
                    return wrong;
                }
                if split_brain
                    && grp.split_brain != SplitBrainPolicy::DiscardPrimary
                    && !self.lenient_split_brain
                {
                    return Err(ErrorKind::SplitBrain);
                }
                let grp = self.groups.get_mut(&g).expect("exists");
                for roles in grp.pairs.values_mut() {
                    *roles = (roles.1, roles.0);
                }
                self.begin_resync(g);
            }
            Op::RemoteEvent { event: RemoteEvent::Synced, .. } => {
                if state == RemoteState::SuspendedError
                    && let Some(images) = self.groups.get_mut(&g).expect("exists").late.take()
                {
                    // The secondary recorded the end of the copy after the primary
                    // declared the link lost.
                    for (s, data) in images {
                        self.replace_data(s, data);
                    }
                    let grp = self.groups.get_mut(&g).expect("exists");
                    grp.consistent = true;
                    grp.halfway = false;
                    return Ok(Reply::Done);
                }
                if !matches!(state, RemoteState::Copy | RemoteState::Resync) {
                    return wrong;
                }
                let grp = self.groups.get_mut(&g).expect("exists");
                grp.consistent = true;
                grp.fallback = None;
                grp.halfway = false;
                grp.state = RemoteState::Pair;
            }
            Op::RemoteEvent { event: RemoteEvent::LinkLost, .. } => {
                if state == RemoteState::Swapped {
                    // The old primary finds out (by a timeout or the peer's refusal)
                    // after the takeover: it fences itself as a link loss would.
                    let grp = self.groups.get_mut(&g).expect("exists");
                    grp.fenced = grp.mode == RemoteMode::Sync && grp.fence == Fence::Data;
                    return Ok(Reply::Done);
                }
                if matches!(state, RemoteState::Copy | RemoteState::Resync) {
                    // The secondaries follow their primaries during a copy: the
                    // primaries' data now is the image a late `synced` gives them.
                    let images = self.groups[&g]
                        .pairs
                        .values()
                        .map(|&(p, s)| (s, self.volumes[&p].data.clone()))
                        .collect();
                    self.groups.get_mut(&g).expect("exists").late = Some(images);
                }
                match state {
                    RemoteState::Copy => self.groups.get_mut(&g).expect("exists").consistent = false,
                    RemoteState::Pair => self.image_secondaries(g),
                    RemoteState::Resync => {
                        self.fall_back(g);
                        self.groups.get_mut(&g).expect("exists").halfway = true;
                    }
                    _ => return wrong,
                }
                let grp = self.groups.get_mut(&g).expect("exists");
                grp.fenced = grp.mode == RemoteMode::Sync && grp.fence == Fence::Data;
                grp.primary_wrote = false;
                grp.secondary_wrote = false;
                grp.state = RemoteState::SuspendedError;
            }
            _ => unreachable!("S3 commands"),
        }
        Ok(Reply::Done)
    }

    #[allow(clippy::too_many_arguments)]
    fn remote_pair_create(
        &mut self,
        pair: PairId,
        primary: VolumeId,
        secondary: VolumeId,
        group: GroupId,
        mode: RemoteMode,
        fence: Fence,
        split_brain: SplitBrainPolicy,
    ) -> OpResult {
        let p = self.volumes.get(&primary).ok_or(ErrorKind::NoSuchVolume)?;
        let s = self.volumes.get(&secondary).ok_or(ErrorKind::NoSuchVolume)?;
        if self.pairs.contains_key(&pair) || self.remote_pair_exists(pair) {
            return Err(ErrorKind::PairExists);
        }
        if primary == secondary || p.blocks != s.blocks {
            return Err(ErrorKind::InvalidPair);
        }
        let in_pair = |v| self.pair_of(v).is_some() || self.remote_role(v).is_some();
        if in_pair(primary) || in_pair(secondary) {
            return Err(ErrorKind::InPair);
        }
        if self.has_backups(primary) || self.has_backups(secondary) {
            return Err(ErrorKind::HasBackups);
        }
        if p.inconsistent {
            return Err(ErrorKind::Inconsistent);
        }
        if let Some(grp) = self.groups.get(&group) {
            if (grp.mode, grp.fence, grp.split_brain) != (mode, fence, split_brain) {
                return Err(ErrorKind::InvalidPair);
            }
            if !matches!(grp.state, RemoteState::Copy | RemoteState::Pair) {
                return Err(ErrorKind::RemoteWrongState(grp.state));
            }
        }
        self.replace_data(secondary, Blocks::new());
        self.volumes.get_mut(&secondary).expect("checked").inconsistent = false;
        let grp = self.groups.entry(group).or_insert(Group {
            mode,
            fence,
            split_brain,
            state: RemoteState::Copy,
            pairs: BTreeMap::new(),
            consistent: false,
            fenced: false,
            fallback: None,
            primary_wrote: false,
            secondary_wrote: false,
            halfway: false,
            late: None,
        });
        grp.pairs.insert(pair, (primary, secondary));
        grp.state = RemoteState::Copy;
        grp.consistent = false;
        Ok(Reply::Done)
    }

    fn set_remote(&mut self, g: GroupId, state: RemoteState) {
        let grp = self.groups.get_mut(&g).expect("exists");
        grp.state = state;
        grp.primary_wrote = false;
        grp.secondary_wrote = false;
    }

    /// Every secondary of the group becomes the image of its primary now.
    fn image_secondaries(&mut self, g: GroupId) {
        let roles: Vec<(VolumeId, VolumeId)> = self.groups[&g].pairs.values().copied().collect();
        for (p, s) in roles {
            self.copy_volume(p, s);
        }
    }

    /// A resync begins: the secondaries' images are kept as the fallback and the
    /// secondaries follow their primaries.
    fn begin_resync(&mut self, g: GroupId) {
        let roles: Vec<(VolumeId, VolumeId)> = self.groups[&g].pairs.values().copied().collect();
        let fallback = roles.iter().map(|&(_, s)| (s, self.volumes[&s].data.clone())).collect();
        let grp = self.groups.get_mut(&g).expect("exists");
        grp.fallback = Some(fallback);
        grp.fenced = false;
        grp.late = None;
        grp.state = RemoteState::Resync;
        grp.primary_wrote = false;
        grp.secondary_wrote = false;
    }

    /// A resync stopped half-way: each secondary is its pre-resync image again.
    fn fall_back(&mut self, g: GroupId) {
        let fallback = self.groups.get_mut(&g).expect("exists").fallback.take().unwrap_or_default();
        for (s, data) in fallback {
            self.replace_data(s, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Value;
    use crate::storage::VolumeSpec;

    const P: VolumeId = VolumeId(0);
    const R: VolumeId = VolumeId(1);
    const G: GroupId = GroupId(3);

    fn model() -> StorageModel {
        StorageModel::new(&[VolumeSpec { id: P, blocks: 16 }, VolumeSpec { id: R, blocks: 16 }])
    }

    fn create(policy: SplitBrainPolicy, fence: Fence) -> Op {
        Op::RemotePairCreate {
            pair: PairId(1),
            primary: P,
            secondary: R,
            group: G,
            mode: RemoteMode::Sync,
            fence,
            split_brain: policy,
        }
    }

    /// An async pair `pair` of P and R in group G.
    fn async_create(pair: PairId) -> Op {
        Op::RemotePairCreate {
            pair,
            primary: P,
            secondary: R,
            group: G,
            mode: RemoteMode::Async,
            fence: Fence::Never,
            split_brain: SplitBrainPolicy::Refuse,
        }
    }

    fn ev(e: RemoteEvent) -> Op {
        Op::RemoteEvent { group: G, event: e }
    }

    fn w(m: &mut StorageModel, vol: VolumeId, seq: u32) -> OpResult {
        m.apply(&Op::Write { vol, block: 0, values: vec![Value::pack(1, seq, 0)] })
    }

    fn r(m: &mut StorageModel, vol: VolumeId) -> OpResult {
        m.apply(&Op::Read { vol, block: 0, len: 1 })
    }

    fn vals(seq: u32) -> OpResult {
        Ok(Reply::Values(vec![if seq == 0 { Value::ZERO } else { Value::pack(1, seq, 0) }]))
    }

    /// Puts the group into `state` by a path of allowed operations.
    fn reach(state: RemoteState, policy: SplitBrainPolicy, fence: Fence) -> StorageModel {
        let mut m = model();
        m.apply(&create(policy, fence)).unwrap();
        let path: Vec<Op> = match state {
            RemoteState::Copy => vec![],
            RemoteState::Pair => vec![ev(RemoteEvent::Synced)],
            RemoteState::Suspended => vec![ev(RemoteEvent::Synced), Op::Suspend { group: G }],
            RemoteState::SuspendedError => vec![ev(RemoteEvent::Synced), ev(RemoteEvent::LinkLost)],
            RemoteState::Resync => {
                vec![ev(RemoteEvent::Synced), Op::Suspend { group: G }, Op::Resume { group: G }]
            }
            RemoteState::Swapped => vec![ev(RemoteEvent::Synced), Op::Takeover { group: G }],
        };
        for op in path {
            assert_eq!(m.apply(&op), Ok(Reply::Done), "{op}");
        }
        assert_eq!(m.group(G).unwrap().state, state);
        m
    }

    #[test]
    fn every_command_from_every_state() {
        use RemoteState::*;
        for state in RemoteState::ALL {
            let cases: [(Op, &[RemoteState]); 6] = [
                (Op::Suspend { group: G }, &[Pair]),
                (Op::Resume { group: G }, &[Suspended, SuspendedError, Swapped]),
                (Op::Takeover { group: G }, &[Pair, Resync, Suspended, SuspendedError]),
                (Op::Failback { group: G }, &[Swapped]),
                (ev(RemoteEvent::Synced), &[Copy, Resync]),
                (ev(RemoteEvent::LinkLost), &[Copy, Pair, Resync, Swapped]),
            ];
            for (op, allowed) in cases {
                let mut m = reach(state, SplitBrainPolicy::Refuse, Fence::Never);
                let want = if allowed.contains(&state) {
                    Ok(Reply::Done)
                } else if matches!(op, Op::Takeover { .. }) && state == Copy {
                    Err(ErrorKind::Inconsistent)
                } else {
                    Err(ErrorKind::RemoteWrongState(state))
                };
                assert_eq!(m.apply(&op), want, "{op} from {state}");
            }
            let mut m = reach(state, SplitBrainPolicy::Refuse, Fence::Never);
            assert_eq!(w(&mut m, P, 1), Ok(Reply::Done), "primary write in {state}");
            let want = if state == Swapped { Ok(Reply::Done) } else { Err(ErrorKind::NotAccessible) };
            assert_eq!(w(&mut m, R, 2), want, "secondary write in {state}");
            assert_eq!(m.apply(&create(SplitBrainPolicy::Refuse, Fence::Never)), Err(ErrorKind::PairExists));
            assert_eq!(
                m.apply(&Op::PairCreate { pair: PairId(9), source: R, mirror: P }),
                Err(ErrorKind::InPair)
            );
            assert_eq!(m.apply(&Op::Suspend { group: GroupId(99) }), Err(ErrorKind::NoSuchGroup));
        }
    }

    #[test]
    fn fence_data_fences_the_primary_after_a_link_loss_until_resume() {
        let mut m = reach(RemoteState::Pair, SplitBrainPolicy::Refuse, Fence::Data);
        w(&mut m, P, 1).unwrap();
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        assert_eq!(w(&mut m, P, 2), Err(ErrorKind::Fenced));
        assert_eq!(r(&mut m, P), Err(ErrorKind::Fenced));
        m.apply(&Op::Takeover { group: G }).unwrap();
        assert_eq!(r(&mut m, R), vals(1), "the secondary holds every acknowledged write");
        assert_eq!(r(&mut m, P), Err(ErrorKind::Fenced), "still fenced after the takeover");
        w(&mut m, R, 3).unwrap();
        m.apply(&Op::Failback { group: G }).unwrap();
        assert_eq!(r(&mut m, P), Err(ErrorKind::NotAccessible), "the old primary follows now");
        assert_eq!(r(&mut m, R), vals(3));
        m.apply(&ev(RemoteEvent::Synced)).unwrap();
        m.apply(&Op::Suspend { group: G }).unwrap();
        m.apply(&Op::Takeover { group: G }).unwrap();
        assert_eq!(r(&mut m, P), vals(3), "the swapped pair's secondary is the old primary");
    }

    #[test]
    fn a_synced_after_the_link_lost_that_cut_its_copy_completes_the_image() {
        // An initial copy cut by a link loss: a late `synced` makes the secondary
        // consistent with its image at the loss; the group stays suspended.
        let mut m = reach(RemoteState::Copy, SplitBrainPolicy::Refuse, Fence::Never);
        w(&mut m, P, 1).unwrap();
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        w(&mut m, P, 2).unwrap();
        assert_eq!(m.clone().apply(&Op::Takeover { group: G }), Err(ErrorKind::Inconsistent));
        assert_eq!(m.apply(&ev(RemoteEvent::Synced)), Ok(Reply::Done));
        assert_eq!(m.group(G).unwrap().state, RemoteState::SuspendedError);
        assert_eq!(
            m.apply(&ev(RemoteEvent::Synced)),
            Err(ErrorKind::RemoteWrongState(RemoteState::SuspendedError))
        );
        m.apply(&Op::Takeover { group: G }).unwrap();
        assert_eq!(r(&mut m, R), vals(1), "the secondary's image at the loss");

        // (A resync cut by a link loss: `suspension_keeps_an_image_and_resync_falls_back_to_it`.)

        // The window ends with the next command that changes the group.
        let mut m = reach(RemoteState::Copy, SplitBrainPolicy::Refuse, Fence::Never);
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        m.apply(&Op::Resume { group: G }).unwrap();
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        assert!(m.group(G).unwrap().late.is_some(), "the resume's copy was cut too");
        let mut m = reach(RemoteState::Pair, SplitBrainPolicy::Refuse, Fence::Never);
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        assert_eq!(
            m.apply(&ev(RemoteEvent::Synced)),
            Err(ErrorKind::RemoteWrongState(RemoteState::SuspendedError))
        );
        let mut m = reach(RemoteState::Resync, SplitBrainPolicy::Refuse, Fence::Never);
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        m.apply(&Op::Takeover { group: G }).unwrap();
        assert_eq!(m.apply(&ev(RemoteEvent::Synced)), Err(ErrorKind::RemoteWrongState(RemoteState::Swapped)));
    }

    #[test]
    fn suspension_keeps_an_image_and_resync_falls_back_to_it() {
        let mut m = reach(RemoteState::Pair, SplitBrainPolicy::Refuse, Fence::Never);
        w(&mut m, P, 1).unwrap();
        m.apply(&Op::Suspend { group: G }).unwrap();
        w(&mut m, P, 2).unwrap();
        m.apply(&Op::Resume { group: G }).unwrap();
        w(&mut m, P, 3).unwrap();
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        assert_eq!(r(&mut m, P), vals(3), "fence never: the primary goes on");
        // Unless the secondary records the end of the resync after the loss (a late
        // `synced`): then its image is the primary's at the loss.
        let mut late = m.clone();
        w(&mut late, P, 4).unwrap();
        assert_eq!(late.apply(&ev(RemoteEvent::Synced)), Ok(Reply::Done));
        late.apply(&Op::Takeover { group: G }).unwrap();
        assert_eq!(r(&mut late, R), vals(3), "the resync's image at the loss");
        m.apply(&Op::Takeover { group: G }).unwrap();
        assert_eq!(r(&mut m, R), vals(1), "the pre-resync image, never a half-copied one");
    }

    #[test]
    fn split_brain_obeys_the_policy() {
        for policy in
            [SplitBrainPolicy::Refuse, SplitBrainPolicy::DiscardSecondary, SplitBrainPolicy::DiscardPrimary]
        {
            let mut m = reach(RemoteState::Pair, policy, Fence::Never);
            m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
            w(&mut m, P, 1).unwrap();
            m.apply(&Op::Takeover { group: G }).unwrap();
            w(&mut m, R, 2).unwrap();
            let resume = m.clone().apply(&Op::Resume { group: G });
            let failback = m.clone().apply(&Op::Failback { group: G });
            let (want_resume, want_failback) = match policy {
                SplitBrainPolicy::Refuse => (Err(ErrorKind::SplitBrain), Err(ErrorKind::SplitBrain)),
                SplitBrainPolicy::DiscardSecondary => (Ok(Reply::Done), Err(ErrorKind::SplitBrain)),
                SplitBrainPolicy::DiscardPrimary => (Err(ErrorKind::SplitBrain), Ok(Reply::Done)),
            };
            assert_eq!(resume, want_resume, "{policy}");
            assert_eq!(failback, want_failback, "{policy}");
        }
        // Only the secondary wrote: no split brain, failback keeps its writes.
        let mut m = reach(RemoteState::Swapped, SplitBrainPolicy::Refuse, Fence::Never);
        w(&mut m, R, 5).unwrap();
        assert_eq!(m.apply(&Op::Resume { group: G }), Err(ErrorKind::RemoteWrongState(RemoteState::Swapped)));
        m.apply(&Op::Failback { group: G }).unwrap();
        assert_eq!(r(&mut m, R), vals(5));
    }

    fn snap(m: &mut StorageModel, vol: VolumeId, n: u32) -> OpResult {
        m.apply(&Op::Snapshot { vol, image: VolumeId(VolumeId::IMAGE_BASE + n) })
    }

    fn rimg(m: &mut StorageModel, n: u32) -> OpResult {
        m.apply(&Op::Read { vol: VolumeId(VolumeId::IMAGE_BASE + n), block: 0, len: 1 })
    }

    #[test]
    fn snapshots_of_remote_volumes_in_every_state() {
        use RemoteState::*;
        for fence in [Fence::Data, Fence::Never] {
            for state in RemoteState::ALL {
                let mut m = reach(state, SplitBrainPolicy::Refuse, fence);
                if fence == Fence::Data && state == SuspendedError {
                    assert_eq!(snap(&mut m, P, 0), Err(ErrorKind::Fenced), "a fenced primary");
                    continue;
                }
                // The primary: its own image, in every other state.
                w(&mut m, P, 1).unwrap();
                assert_eq!(snap(&mut m, P, 0), Ok(Reply::Done), "primary in {state}");
                w(&mut m, P, 2).unwrap();
                assert_eq!(rimg(&mut m, 0), vals(1), "primary image in {state}");
                // The secondary: the primary's image while it follows in `pair`, its
                // own in the suspended states and swapped, refused while inconsistent.
                let want = match state {
                    Copy | Resync => Err(ErrorKind::Inconsistent),
                    _ => Ok(Reply::Done),
                };
                assert_eq!(snap(&mut m, R, 1), want, "secondary in {state} (fence {fence})");
                if want.is_ok() {
                    let own = if state == Pair { vals(2) } else { vals(0) };
                    assert_eq!(rimg(&mut m, 1), own, "secondary image in {state}");
                    w(&mut m, P, 3).unwrap();
                    assert_eq!(rimg(&mut m, 1), own, "later primary writes never reach it");
                    if state == Suspended {
                        assert_eq!(r(&mut m, P), vals(3));
                    }
                    m.apply(&Op::Write {
                        vol: VolumeId(VolumeId::IMAGE_BASE + 1),
                        block: 0,
                        values: vec![Value::pack(1, 9, 0)],
                    })
                    .unwrap();
                    assert_eq!(rimg(&mut m, 1), vals(9), "the image is writable");
                    if state == Pair {
                        m.apply(&Op::Suspend { group: G }).unwrap();
                        m.apply(&Op::Takeover { group: G }).unwrap();
                        assert_eq!(r(&mut m, R), vals(3), "image writes are never replicated");
                    }
                }
            }
        }
        // A fenced primary refuses it, as it refuses host I/O; resume lifts the fence.
        let mut m = reach(Pair, SplitBrainPolicy::Refuse, Fence::Data);
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        assert_eq!(snap(&mut m, P, 0), Err(ErrorKind::Fenced));
        assert_eq!(snap(&mut m, R, 0), Ok(Reply::Done), "the secondary's image at the loss");
        m.apply(&Op::Resume { group: G }).unwrap();
        assert_eq!(snap(&mut m, P, 1), Ok(Reply::Done));
        assert_eq!(snap(&mut m, R, 2), Err(ErrorKind::Inconsistent), "a resync target");
        // A resync cut by a link loss leaves the secondary half-copied in place until a
        // takeover puts the pre-resync image back.
        let mut m = reach(Resync, SplitBrainPolicy::Refuse, Fence::Never);
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        assert_eq!(snap(&mut m, R, 0), Err(ErrorKind::Inconsistent));
        let mut resumed = m.clone();
        m.apply(&Op::Takeover { group: G }).unwrap();
        assert_eq!(snap(&mut m, R, 0), Ok(Reply::Done));
        resumed.apply(&Op::Resume { group: G }).unwrap();
        resumed.apply(&ev(RemoteEvent::Synced)).unwrap();
        assert_eq!(snap(&mut resumed, R, 0), Ok(Reply::Done), "a completed resync");
        // After a failback the old primary is a resync target, then follows.
        let mut m = reach(Swapped, SplitBrainPolicy::Refuse, Fence::Never);
        m.apply(&Op::Failback { group: G }).unwrap();
        assert_eq!(snap(&mut m, P, 0), Err(ErrorKind::Inconsistent));
        w(&mut m, R, 4).unwrap();
        m.apply(&ev(RemoteEvent::Synced)).unwrap();
        assert_eq!(snap(&mut m, P, 0), Ok(Reply::Done));
        assert_eq!(rimg(&mut m, 0), vals(4), "the new secondary images its primary");
        // Async secondaries refuse in every state; their primaries do not.
        for state in RemoteState::ALL {
            let mut m = model();
            m.apply(&async_create(PairId(1))).unwrap();
            let path: Vec<Op> = match state {
                Copy => vec![],
                Pair => vec![ev(RemoteEvent::Synced)],
                Suspended => vec![ev(RemoteEvent::Synced), Op::Suspend { group: G }],
                SuspendedError => vec![ev(RemoteEvent::Synced), ev(RemoteEvent::LinkLost)],
                Resync => vec![ev(RemoteEvent::Synced), Op::Suspend { group: G }, Op::Resume { group: G }],
                Swapped => vec![ev(RemoteEvent::Synced), Op::Takeover { group: G }],
            };
            for op in path {
                m.apply(&op).unwrap();
            }
            assert_eq!(snap(&mut m, R, 0), Err(ErrorKind::InPair), "async secondary in {state}");
            assert_eq!(snap(&mut m, P, 0), Ok(Reply::Done), "async primary in {state}");
        }
    }

    #[test]
    fn a_volume_with_images_joins_a_remote_pair_and_its_images_keep_their_content() {
        let mut m = model();
        m.apply(&Op::Write { vol: R, block: 0, values: vec![Value::pack(1, 1, 0)] }).unwrap();
        snap(&mut m, R, 0).unwrap();
        m.apply(&create(SplitBrainPolicy::Refuse, Fence::Never)).unwrap();
        assert_eq!(rimg(&mut m, 0), vals(1));
        m.apply(&ev(RemoteEvent::Synced)).unwrap();
        assert_eq!(rimg(&mut m, 0), vals(1), "the copy overwrote the volume, not its image");
        m.apply(&Op::DeleteSnapshot { image: VolumeId(VolumeId::IMAGE_BASE) }).unwrap();
        assert_eq!(rimg(&mut m, 0), Err(ErrorKind::NoSuchVolume));
    }

    #[test]
    fn an_unfinished_initial_copy_cannot_be_taken_over() {
        let mut m = reach(RemoteState::Copy, SplitBrainPolicy::Refuse, Fence::Never);
        m.apply(&ev(RemoteEvent::LinkLost)).unwrap();
        assert_eq!(m.apply(&Op::Takeover { group: G }), Err(ErrorKind::Inconsistent));
        m.apply(&Op::Resume { group: G }).unwrap();
        m.apply(&ev(RemoteEvent::Synced)).unwrap();
        let mut other = m.clone();
        assert_eq!(other.apply(&async_create(PairId(2))), Err(ErrorKind::InPair));
        assert_eq!(m.apply(&Op::Takeover { group: G }), Ok(Reply::Done));
    }
}
