//! The sequential reference model of volumes.
//!
//! A volume is a sparse map from block to value; an absent block holds 0. Cost
//! follows the blocks touched, never the volume size (volumes of 2^40 blocks are
//! ordinary).

use crate::backup::{BackupId, Entry};
use crate::ids::{GroupId, PairId, Value, VolumeId};
use crate::ops::{ErrorKind, Op, OpResult, PairEvent, PairState, Reply};
use crate::remote::Group;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A volume's identity and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub id: VolumeId,
    pub blocks: u64,
}

/// A volume's blocks: a persistent (structurally shared) ordered map, so that a
/// checker exploring many states clones one in O(1) and a write costs O(log n).
pub(crate) type Blocks = im::OrdMap<u64, Value>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Volume {
    pub(crate) blocks: u64,
    pub(crate) data: Blocks,
    /// The mirror of a pair deleted before its copy finished (SPEC §2 S2).
    pub(crate) inconsistent: bool,
}

/// A mirror pair as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PairInfo {
    pub source: VolumeId,
    pub mirror: VolumeId,
    pub state: PairState,
}

/// The reference model: every operation applied one at a time.
///
/// Mirror pairs (S2): while the mirror follows the source (`Copy`, `Mirrored`,
/// `Resync`, `Restore`, and `Suspended`, whose mirror is never observable) its own
/// data map is stale and never read; it is materialised from the source at the
/// instant the mirror becomes an image (a split, a delete from `Mirrored`). The
/// mirror is host-accessible only in `Split`.
#[derive(Clone, Debug)]
pub struct StorageModel {
    pub(crate) volumes: BTreeMap<VolumeId, Volume>,
    pub(crate) pairs: BTreeMap<PairId, PairInfo>,
    /// S3 consistency groups of remote pairs (`crate::remote`).
    pub(crate) groups: BTreeMap<GroupId, Group>,
    /// S3: `resume` and `failback` ignore split brain (for a checker judging one
    /// block, which cannot see the writes to the others; it takes their outcomes as
    /// unknown). Fixed for a model's life; not part of its state.
    pub lenient_split_brain: bool,
    /// S4: each point-in-time image (also a volume in `volumes`) and its origin (see
    /// [`crate::images`]).
    pub(crate) images: BTreeMap<VolumeId, VolumeId>,
    /// S0: the catalog (see [`crate::backup`]).
    pub(crate) backups: BTreeMap<BackupId, Entry>,
    /// A digest of every volume's content, kept up to date on each change (the sum
    /// of a mix of each non-zero block), so hashing a state costs O(volumes + pairs).
    pub(crate) digest: u64,
}

impl PartialEq for StorageModel {
    fn eq(&self, o: &Self) -> bool {
        self.digest == o.digest
            && self.pairs == o.pairs
            && self.groups == o.groups
            && self.images == o.images
            && self.backups == o.backups
            && self.volumes == o.volumes
    }
}

impl Eq for StorageModel {}

impl std::hash::Hash for StorageModel {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.digest.hash(h);
        self.pairs.hash(h);
        self.groups.hash(h);
        self.images.hash(h);
        self.backups.hash(h);
        for (id, v) in &self.volumes {
            (id, v.inconsistent).hash(h);
        }
    }
}

pub(crate) fn mix(vol: VolumeId, block: u64, value: Value) -> u64 {
    let mut x = (u64::from(vol.0) << 40 ^ block).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ value.0;
    x = (x ^ (x >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

pub(crate) fn data_digest(vol: VolumeId, data: &Blocks) -> u64 {
    data.iter().fold(0u64, |d, (b, v)| d.wrapping_add(mix(vol, *b, *v)))
}

impl StorageModel {
    /// A model holding the given volumes, all blocks 0.
    pub fn new(volumes: &[VolumeSpec]) -> StorageModel {
        let volumes = volumes
            .iter()
            .map(|v| (v.id, Volume { blocks: v.blocks, data: Blocks::new(), inconsistent: false }))
            .collect();
        StorageModel {
            volumes,
            pairs: BTreeMap::new(),
            groups: BTreeMap::new(),
            lenient_split_brain: false,
            images: BTreeMap::new(),
            backups: BTreeMap::new(),
            digest: 0,
        }
    }

    /// The rejection rule of host I/O that depends on no pair state: an existing
    /// volume and a non-empty extent inside it. Admin commands pass (their rules need
    /// the state). For a declared volume it is state-independent; whether an image
    /// (S4) exists depends on the state, see [`StorageModel::validate_static`].
    pub fn validate(&self, op: &Op) -> Result<(), ErrorKind> {
        let Some(vol) = op.volume() else { return Ok(()) };
        let vol = self.volumes.get(&vol).ok_or(ErrorKind::NoSuchVolume)?;
        let (first, count) = op.extent();
        let end = first.checked_add(count).ok_or(ErrorKind::OutOfRange)?;
        if count == 0 || end > vol.blocks {
            return Err(ErrorKind::OutOfRange);
        }
        Ok(())
    }

    /// The state-independent part of [`StorageModel::validate`]: I/O to an image id
    /// passes (an image exists or not depending on the snapshots applied so far).
    pub fn validate_static(&self, op: &Op) -> Result<(), ErrorKind> {
        match op.volume() {
            Some(vol) if vol.is_image() => Ok(()),
            _ => self.validate(op),
        }
    }

    /// Whether hosts may read and write `vol` now (SPEC §2 S2), and if not, why.
    pub fn accessible(&self, vol: VolumeId) -> Result<(), ErrorKind> {
        let v = self.volumes.get(&vol).ok_or(ErrorKind::NoSuchVolume)?;
        if v.inconsistent {
            return Err(ErrorKind::Inconsistent);
        }
        match self.pairs.values().find(|p| p.mirror == vol) {
            Some(p) if p.state != PairState::Split => Err(ErrorKind::NotAccessible),
            _ => self.remote_accessible(vol),
        }
    }

    /// Whether host I/O `op` (a read or a write) is allowed now, and if not, why: the
    /// volume's role ([`StorageModel::accessible`]), then the backups whose
    /// destination it touches (S0, [`StorageModel::backup_access`]).
    pub fn io_allowed(&self, op: &Op) -> Result<(), ErrorKind> {
        let Some(vol) = op.volume() else { return Ok(()) };
        self.accessible(vol)?;
        if self.backups.is_empty() {
            return Ok(());
        }
        let (first, count) = op.extent();
        self.backup_access(vol, first, count, op.is_write())
    }

    /// The pair a volume belongs to, as source or mirror.
    pub fn pair_of(&self, vol: VolumeId) -> Option<(PairId, PairInfo)> {
        self.pairs.iter().find(|(_, p)| p.source == vol || p.mirror == vol).map(|(id, p)| (*id, *p))
    }

    /// A pair's volumes and state.
    pub fn pair(&self, pair: PairId) -> Option<PairInfo> {
        self.pairs.get(&pair).copied()
    }

    /// Applies one operation and returns its result.
    pub fn apply(&mut self, op: &Op) -> OpResult {
        self.validate(op)?;
        match op {
            Op::Read { vol, block, len } => {
                self.io_allowed(op)?;
                let data = &self.volumes[vol].data;
                let values = (0..u64::from(*len))
                    .map(|i| data.get(&(block + i)).copied().unwrap_or(Value::ZERO))
                    .collect();
                Ok(Reply::Values(values))
            }
            Op::Write { vol, block, values } => {
                self.io_allowed(op)?;
                for (i, v) in values.iter().enumerate() {
                    self.set_block(*vol, block + i as u64, *v);
                }
                self.remote_wrote(*vol);
                Ok(Reply::Done)
            }
            Op::PairCreate { pair, source, mirror } => self.pair_create(*pair, *source, *mirror),
            Op::Split { pair } => {
                let p = self.expect_state(*pair, &[PairState::Mirrored])?;
                self.image_mirror(&p);
                self.set_state(*pair, PairState::Split);
                Ok(Reply::Done)
            }
            Op::Resync { pair } => {
                self.expect_state(*pair, &[PairState::Split, PairState::Suspended])?;
                self.set_state(*pair, PairState::Resync);
                Ok(Reply::Done)
            }
            Op::Restore { pair, protected } => {
                let p = self.expect_state(*pair, &[PairState::Split])?;
                self.copy_volume(p.mirror, p.source);
                let next = if *protected { PairState::RestoreProtected } else { PairState::Restore };
                self.set_state(*pair, next);
                Ok(Reply::Done)
            }
            Op::PairDelete { pair } => {
                let p = self.pairs.remove(pair).ok_or(ErrorKind::NoSuchPair)?;
                match p.state {
                    PairState::Mirrored => self.image_mirror(&p),
                    PairState::Split => {}
                    PairState::Copy
                    | PairState::Resync
                    | PairState::Restore
                    | PairState::RestoreProtected
                    | PairState::Suspended => {
                        self.replace_data(p.mirror, Blocks::new());
                        self.volumes.get_mut(&p.mirror).expect("paired").inconsistent = true;
                    }
                }
                Ok(Reply::Done)
            }
            Op::Snapshot { vol, image } => self.snapshot(*vol, *image),
            Op::DeleteSnapshot { image } => self.delete_snapshot(*image),
            Op::PairEvent { pair, event } => {
                let p = self.pairs.get(pair).ok_or(ErrorKind::NoSuchPair)?;
                let next = match (event, p.state) {
                    (PairEvent::CopyDone, PairState::Copy | PairState::Resync | PairState::Restore) => {
                        PairState::Mirrored
                    }
                    (PairEvent::CopyDone, PairState::RestoreProtected) => PairState::Split,
                    (PairEvent::Suspended, PairState::Copy | PairState::Mirrored | PairState::Resync) => {
                        PairState::Suspended
                    }
                    (_, state) => return Err(ErrorKind::WrongState(state)),
                };
                self.set_state(*pair, next);
                Ok(Reply::Done)
            }
            Op::RemotePairCreate { .. }
            | Op::Suspend { .. }
            | Op::Resume { .. }
            | Op::Takeover { .. }
            | Op::Failback { .. }
            | Op::RemoteEvent { .. } => self.apply_remote(op),
            Op::Backup { .. }
            | Op::RecordBackup { .. }
            | Op::ListBackups { .. }
            | Op::RestoreBackup { .. }
            | Op::BackupEvent { .. } => self.apply_backup(op),
        }
    }

    /// `pair_create`'s rules, in the order they are checked (the engine checks the same).
    fn pair_create(&mut self, pair: PairId, source: VolumeId, mirror: VolumeId) -> OpResult {
        let s = self.volumes.get(&source).ok_or(ErrorKind::NoSuchVolume)?;
        let m = self.volumes.get(&mirror).ok_or(ErrorKind::NoSuchVolume)?;
        if self.pairs.contains_key(&pair) || self.remote_pair_exists(pair) {
            return Err(ErrorKind::PairExists);
        }
        if source == mirror || s.blocks != m.blocks || source.is_image() || mirror.is_image() {
            return Err(ErrorKind::InvalidPair);
        }
        let in_pair = |v| self.pair_of(v).is_some() || self.remote_role(v).is_some();
        if in_pair(source) || in_pair(mirror) {
            return Err(ErrorKind::InPair);
        }
        if self.has_images(source) || self.has_images(mirror) {
            return Err(ErrorKind::HasImages);
        }
        if self.has_backups(source) || self.has_backups(mirror) {
            return Err(ErrorKind::HasBackups);
        }
        if s.inconsistent {
            return Err(ErrorKind::Inconsistent);
        }
        self.replace_data(mirror, Blocks::new());
        self.volumes.get_mut(&mirror).expect("checked").inconsistent = false;
        self.pairs.insert(pair, PairInfo { source, mirror, state: PairState::Copy });
        Ok(Reply::Done)
    }

    fn expect_state(&self, pair: PairId, allowed: &[PairState]) -> Result<PairInfo, ErrorKind> {
        let p = *self.pairs.get(&pair).ok_or(ErrorKind::NoSuchPair)?;
        if allowed.contains(&p.state) { Ok(p) } else { Err(ErrorKind::WrongState(p.state)) }
    }

    fn set_state(&mut self, pair: PairId, state: PairState) {
        self.pairs.get_mut(&pair).expect("exists").state = state;
    }

    /// The mirror becomes the image of the source at this instant.
    fn image_mirror(&mut self, p: &PairInfo) {
        self.copy_volume(p.source, p.mirror);
    }

    pub(crate) fn set_block(&mut self, vol: VolumeId, block: u64, value: Value) {
        let data = &mut self.volumes.get_mut(&vol).expect("exists").data;
        let old = if value == Value::ZERO { data.remove(&block) } else { data.insert(block, value) };
        if let Some(old) = old {
            self.digest = self.digest.wrapping_sub(mix(vol, block, old));
        }
        if value != Value::ZERO {
            self.digest = self.digest.wrapping_add(mix(vol, block, value));
        }
    }

    /// `to` := `from` (a structurally shared copy: O(1) plus the digest update).
    pub(crate) fn copy_volume(&mut self, from: VolumeId, to: VolumeId) {
        let data = self.volumes[&from].data.clone();
        self.replace_data(to, data);
    }

    pub(crate) fn replace_data(&mut self, vol: VolumeId, data: Blocks) {
        let old = std::mem::replace(&mut self.volumes.get_mut(&vol).expect("exists").data, data);
        self.digest = self.digest.wrapping_sub(data_digest(vol, &old));
        let new = data_digest(vol, &self.volumes[&vol].data);
        self.digest = self.digest.wrapping_add(new);
    }

    /// The value of one block (0 if never written); `None` if the address is invalid.
    /// For a mirror that follows its source, the source's value.
    pub fn block(&self, vol: VolumeId, block: u64) -> Option<Value> {
        let v = self.volumes.get(&vol)?;
        if block >= v.blocks {
            return None;
        }
        let data_vol = match self.pairs.values().find(|p| p.mirror == vol) {
            Some(p) if !matches!(p.state, PairState::Split | PairState::RestoreProtected) => p.source,
            _ => self.remote_data_volume(vol).unwrap_or(vol),
        };
        Some(self.volumes[&data_vol].data.get(&block).copied().unwrap_or(Value::ZERO))
    }

    /// The size of a volume in blocks.
    pub fn volume_blocks(&self, vol: VolumeId) -> Option<u64> {
        self.volumes.get(&vol).map(|v| v.blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> StorageModel {
        StorageModel::new(&[VolumeSpec { id: VolumeId(0), blocks: 1 << 40 }])
    }

    #[test]
    fn unwritten_blocks_read_zero_and_writes_are_read_back() {
        let mut m = model();
        let v = VolumeId(0);
        let w = Value::pack(1, 1, 0);
        let big = (1u64 << 40) - 2;
        assert_eq!(
            m.apply(&Op::Read { vol: v, block: big, len: 2 }),
            Ok(Reply::Values(vec![Value::ZERO; 2]))
        );
        assert_eq!(
            m.apply(&Op::Write { vol: v, block: big, values: vec![w, Value::pack(1, 1, 1)] }),
            Ok(Reply::Done)
        );
        assert_eq!(m.block(v, big), Some(w));
        assert_eq!(
            m.apply(&Op::Read { vol: v, block: big + 1, len: 1 }),
            Ok(Reply::Values(vec![Value::pack(1, 1, 1)]))
        );
    }

    #[test]
    fn rejections() {
        let mut m = model();
        assert_eq!(m.apply(&Op::Read { vol: VolumeId(9), block: 0, len: 1 }), Err(ErrorKind::NoSuchVolume));
        assert_eq!(
            m.apply(&Op::Read { vol: VolumeId(0), block: 1 << 40, len: 1 }),
            Err(ErrorKind::OutOfRange)
        );
        assert_eq!(
            m.apply(&Op::Read { vol: VolumeId(0), block: u64::MAX, len: 2 }),
            Err(ErrorKind::OutOfRange)
        );
        assert_eq!(m.apply(&Op::Read { vol: VolumeId(0), block: 0, len: 0 }), Err(ErrorKind::OutOfRange));
        assert_eq!(
            m.apply(&Op::Write { vol: VolumeId(0), block: 0, values: vec![] }),
            Err(ErrorKind::OutOfRange)
        );
    }

    fn pair_model() -> (StorageModel, VolumeId, VolumeId, PairId) {
        let vols = [VolumeSpec { id: VolumeId(0), blocks: 16 }, VolumeSpec { id: VolumeId(1), blocks: 16 }];
        (StorageModel::new(&vols), VolumeId(0), VolumeId(1), PairId(7))
    }

    fn w(m: &mut StorageModel, vol: VolumeId, block: u64, seq: u32) -> OpResult {
        m.apply(&Op::Write { vol, block, values: vec![Value::pack(1, seq, 0)] })
    }

    fn r(m: &mut StorageModel, vol: VolumeId, block: u64) -> OpResult {
        m.apply(&Op::Read { vol, block, len: 1 })
    }

    fn vals(seq: u32) -> OpResult {
        Ok(Reply::Values(vec![if seq == 0 { Value::ZERO } else { Value::pack(1, seq, 0) }]))
    }

    /// Puts the pair into `state` by a path of allowed commands.
    fn reach(state: PairState) -> (StorageModel, VolumeId, VolumeId, PairId) {
        let (mut m, s, mi, p) = pair_model();
        m.apply(&Op::PairCreate { pair: p, source: s, mirror: mi }).unwrap();
        let ev = |e| Op::PairEvent { pair: p, event: e };
        let path: Vec<Op> = match state {
            PairState::Copy => vec![],
            PairState::Mirrored => vec![ev(PairEvent::CopyDone)],
            PairState::Split => vec![ev(PairEvent::CopyDone), Op::Split { pair: p }],
            PairState::Resync => vec![ev(PairEvent::CopyDone), Op::Split { pair: p }, Op::Resync { pair: p }],
            PairState::Restore | PairState::RestoreProtected => vec![
                ev(PairEvent::CopyDone),
                Op::Split { pair: p },
                Op::Restore { pair: p, protected: state == PairState::RestoreProtected },
            ],
            PairState::Suspended => vec![ev(PairEvent::CopyDone), ev(PairEvent::Suspended)],
        };
        for op in path {
            assert_eq!(m.apply(&op), Ok(Reply::Done), "{op}");
        }
        assert_eq!(m.pair(p).unwrap().state, state);
        (m, s, mi, p)
    }

    const ALL: [PairState; 7] = PairState::ALL;

    #[test]
    fn every_command_from_every_state() {
        use PairState::*;
        for state in ALL {
            let p = PairId(7);
            let cases: [(Op, &[PairState]); 5] = [
                (Op::Split { pair: p }, &[Mirrored]),
                (Op::Resync { pair: p }, &[Split, Suspended]),
                (Op::Restore { pair: p, protected: false }, &[Split]),
                (Op::Restore { pair: p, protected: true }, &[Split]),
                (Op::PairDelete { pair: p }, &ALL),
            ];
            for (op, allowed) in cases {
                let (mut m, ..) = reach(state);
                let want = if allowed.contains(&state) {
                    Ok(Reply::Done)
                } else {
                    Err(ErrorKind::WrongState(state))
                };
                assert_eq!(m.apply(&op), want, "{op} from {state}");
            }
            let (mut m, s, mi, _) = reach(state);
            // Host access: the source always, the mirror only when split.
            assert_eq!(w(&mut m, s, 0, 1), Ok(Reply::Done), "source write in {state}");
            let want = if state == Split { Ok(Reply::Done) } else { Err(ErrorKind::NotAccessible) };
            assert_eq!(w(&mut m, mi, 0, 2), want, "mirror write in {state}");
            // A second pair on either volume is refused.
            assert_eq!(
                m.apply(&Op::PairCreate { pair: PairId(8), source: mi, mirror: s }),
                Err(ErrorKind::InPair)
            );
            assert_eq!(
                m.apply(&Op::PairCreate { pair: p, source: VolumeId(0), mirror: VolumeId(1) }),
                Err(ErrorKind::PairExists)
            );
        }
    }

    #[test]
    fn split_is_a_point_in_time_image_and_tracks_both_sides() {
        let (mut m, s, mi, p) = reach(PairState::Mirrored);
        w(&mut m, s, 1, 1).unwrap();
        m.apply(&Op::Split { pair: p }).unwrap();
        w(&mut m, s, 1, 2).unwrap();
        assert_eq!(r(&mut m, mi, 1), vals(1), "the mirror is the image at the split");
        w(&mut m, mi, 2, 3).unwrap();
        assert_eq!(r(&mut m, s, 2), vals(0), "mirror writes stay on the mirror");
        m.apply(&Op::Resync { pair: p }).unwrap();
        assert_eq!(r(&mut m, mi, 1), Err(ErrorKind::NotAccessible));
        m.apply(&Op::PairEvent { pair: p, event: PairEvent::CopyDone }).unwrap();
        m.apply(&Op::Split { pair: p }).unwrap();
        assert_eq!(r(&mut m, mi, 1), vals(2));
        assert_eq!(r(&mut m, mi, 2), vals(0), "resync made the mirror the source again");
    }

    #[test]
    fn restore_makes_the_source_the_image_and_protected_keeps_the_mirror() {
        for protected in [false, true] {
            let (mut m, s, mi, p) = reach(PairState::Split);
            w(&mut m, mi, 3, 1).unwrap();
            w(&mut m, s, 4, 2).unwrap();
            m.apply(&Op::Restore { pair: p, protected }).unwrap();
            assert_eq!(r(&mut m, s, 3), vals(1), "the source reads the image at once");
            assert_eq!(r(&mut m, s, 4), vals(0), "source changes since the split are undone");
            w(&mut m, s, 3, 5).unwrap(); // a corrupting write during the restore
            assert_eq!(r(&mut m, mi, 3), Err(ErrorKind::NotAccessible));
            m.apply(&Op::PairEvent { pair: p, event: PairEvent::CopyDone }).unwrap();
            if protected {
                assert_eq!(m.pair(p).unwrap().state, PairState::Split);
                assert_eq!(r(&mut m, mi, 3), vals(1), "a protected restore never changes the mirror");
            } else {
                assert_eq!(m.pair(p).unwrap().state, PairState::Mirrored);
                m.apply(&Op::Split { pair: p }).unwrap();
                assert_eq!(r(&mut m, mi, 3), vals(5), "after an unprotected restore the mirror follows");
            }
        }
    }

    #[test]
    fn delete_mid_copy_leaves_an_inconsistent_mirror_until_paired_again() {
        let (mut m, s, mi, p) = reach(PairState::Copy);
        m.apply(&Op::PairDelete { pair: p }).unwrap();
        assert_eq!(r(&mut m, mi, 0), Err(ErrorKind::Inconsistent));
        assert_eq!(w(&mut m, mi, 0, 1), Err(ErrorKind::Inconsistent));
        assert_eq!(m.apply(&Op::Split { pair: p }), Err(ErrorKind::NoSuchPair));
        assert_eq!(m.apply(&Op::PairCreate { pair: p, source: mi, mirror: s }), Err(ErrorKind::Inconsistent));
        m.apply(&Op::PairCreate { pair: p, source: s, mirror: mi }).unwrap();
        m.apply(&Op::PairEvent { pair: p, event: PairEvent::CopyDone }).unwrap();
        m.apply(&Op::PairDelete { pair: p }).unwrap();
        assert_eq!(r(&mut m, mi, 0), vals(0), "deleted from mirrored: an image of the source");
    }

    #[test]
    fn events_only_from_states_that_allow_them() {
        let (mut m, _, _, p) = reach(PairState::Split);
        for e in [PairEvent::CopyDone, PairEvent::Suspended] {
            assert_eq!(
                m.apply(&Op::PairEvent { pair: p, event: e }),
                Err(ErrorKind::WrongState(PairState::Split))
            );
        }
        let vols = [VolumeSpec { id: VolumeId(0), blocks: 16 }, VolumeSpec { id: VolumeId(1), blocks: 8 }];
        let mut m = StorageModel::new(&vols);
        assert_eq!(
            m.apply(&Op::PairCreate { pair: p, source: VolumeId(0), mirror: VolumeId(1) }),
            Err(ErrorKind::InvalidPair)
        );
        assert_eq!(
            m.apply(&Op::PairCreate { pair: p, source: VolumeId(0), mirror: VolumeId(0) }),
            Err(ErrorKind::InvalidPair)
        );
    }
}
