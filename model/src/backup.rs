//! Backup with a catalog (SPEC §2 S0; Fujitsu AdvancedCopy, Hitachi ShadowImage with a
//! backup catalog).
//!
//! # Regions
//! A **region** is an extent of one volume: `(volume, start block, blocks)`, as a real
//! array backs up volume extents (an OPC/EC session names a LU and an LBA range). A
//! backup copies a source region to a destination region of the same size, on the same
//! array (the scenario layer checks the array; the model does not know arrays).
//!
//! # The catalog
//! Every array keeps a catalog: a metadata region distinct from every data region. Its
//! address is a reserved volume id, [`VolumeId::CATALOG_BASE`] plus the array's index,
//! which no host can read or write (I/O to it is `NoSuchVolume`, as to any id no
//! topology declares) and which no backup or restore may name (`InsideCatalog`). The
//! catalog holds one [`CatalogEntry`] per backup, for ever (ids are never reused):
//! the two regions, the state, and the host's management information
//! ([`BackupInfo`]: label, generation, host time, source), which `record_backup`
//! attaches or replaces.
//!
//! # Commands and their meaning at the linearization point L
//! - `backup(id, src, dst)`: the entry is created `Copying`, and logically dst := src
//!   at L (the model copies at once; the array copies in the background, keeping the
//!   point in time by copy-before-write of source blocks written during the copy).
//!   The client names the id, as S4 names images, so the model stays deterministic.
//! - `BackupEvent::Complete` (announced by the array exactly when the record saying
//!   so becomes durable, which it writes only after every block of the copy is
//!   durable): `Copying` → `Complete`.
//! - `BackupEvent::Failed` (announced at recovery after a controller crash cut the
//!   copy): `Copying` → `Failed`.
//! - `record_backup(id, info)`: the entry's info := `info` (any state).
//! - `list_backups(vol)`: the entries whose source region is on `vol`, in id order.
//! - `restore_backup(id, to)`: the backup must be `Complete`; to := dst at L. The array
//!   answers once the copy back is durable and holds host I/O to `to` meanwhile, so the
//!   restore takes effect at one instant.
//! - A restore that cannot read a block of the backup (a media error on its
//!   destination, which no other copy holds: the source has moved on since L) **fails**:
//!   the array stops copying, announces `BackupEvent::RestoreFailed { to }` once a
//!   durable record says so, and answers the restore `MediaError`. The failed restore
//!   itself changes nothing (a media error observes and changes nothing); the event
//!   makes `to` a *failed restore target*: it holds a partial copy, so host I/O
//!   touching it is `Inconsistent`, a backup naming a region that overlaps it is
//!   refused `Inconsistent`, and its volume `HasBackups` (the catalog still holds the
//!   region) until a restore of any `Complete` backup to exactly `to` succeeds (a
//!   retry, from the same backup once its block is readable again or from another
//!   generation). A restore to a region overlapping a failed target other than exactly
//!   it is refused `Inconsistent`. The event is allowed only while the entry is
//!   `Complete`.
//!
//! # Commands racing a backup or a restore
//! A real array runs configuration commands on one volume one at a time: a command
//! naming a volume that a `backup` or `restore_backup` in progress is working on
//! (between the command's arrival and its answer) is queued until that command
//! answers, then judged on the state it left. So `pair_create` or `snapshot` of a
//! restore's target, arriving while the restore copies back, is done once the restore
//! is (a restore target holds no backup region): never refused `HasBackups`. The same
//! two commands arriving while a backup's record is on its way are refused
//! `HasBackups` only once that record is durable; a crash that cuts the backup before
//! it loses them with it. The other way round, a `backup` or `restore_backup` naming a
//! volume whose `pair_create` or `snapshot` is not durable yet waits for it. In the
//! model every command takes effect at one instant, so nothing here is model state:
//! it is what lets the array's answers be explained by one order of those instants
//! (an array that answered from a command's outcome before that outcome is durable
//! contradicts every order once a crash undoes it).
//!
//! # Host I/O to a destination
//! The destination of a `Copying` backup is not host-accessible (`NotAccessible`, like
//! a mirror in `Copy`). The destination of a `Complete` backup is read-only: reads see
//! the source at L, writes are `NotAccessible` (a backup volume is write-protected).
//! The destination of a `Failed` backup holds a partial copy: all host I/O to it is
//! `Inconsistent` until a new backup takes exactly that region as its destination (to
//! retry a failed backup, back up to the same destination again; the new entry then
//! *holds* the region and the failed one no longer does).
//!
//! # Rules, in the order they are checked (the engine checks the same)
//! `backup`: either region inside the catalog → `InsideCatalog`; either volume not
//! declared → `NoSuchVolume`; an empty region, regions of different sizes, or a region
//! on an image → `InvalidRegion`; a region past its volume's end → `OutOfRange`; the
//! regions overlap → `RegionOverlap`; the id is in the catalog → `BackupExists`; either
//! volume in a mirror or remote pair → `InPair`; either volume has images →
//! `HasImages`; either volume inconsistent → `Inconsistent`; the destination overlaps
//! a region held by a backup (other than a failed one with exactly this region) or the
//! source of a `Copying` backup, or the source overlaps the destination of a
//! `Copying` backup → `DestinationBusy`; the source overlaps a failed destination, or
//! either region overlaps a failed restore target → `Inconsistent`.
//!
//! `restore_backup`: no such entry → `NoSuchBackup`; `to` inside the catalog →
//! `InsideCatalog`; not declared → `NoSuchVolume`; empty, another size than the
//! backup, or on an image → `InvalidRegion`; past the end → `OutOfRange`; the entry is
//! not `Complete` → `BackupState(state)`; `to` overlaps the backup's destination →
//! `RegionOverlap`; `to`'s volume in a pair → `InPair`, has images → `HasImages`, is
//! inconsistent → `Inconsistent`; `to` overlaps a region held by any backup or the
//! source of a `Copying` backup → `DestinationBusy`; `to` overlaps a failed restore
//! target other than exactly it → `Inconsistent`.
//!
//! `record_backup` and events of an unknown id: `NoSuchBackup`; an event in a state
//! that does not allow it: `BackupState(state)`. A volume with a backup's region on it
//! (the source of a `Copying` backup, any held destination, or a failed restore
//! target) cannot join a pair or have an image taken (`HasBackups`).

use crate::ids::{Value, VolumeId};
use crate::ops::{ErrorKind, Op, OpResult, Reply};
use crate::storage::StorageModel;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A backup, named by the client that starts it (ids are never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BackupId(pub u32);

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "backup{}", self.0)
    }
}

/// An extent of one volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Region {
    pub vol: VolumeId,
    pub start: u64,
    pub blocks: u64,
}

impl Region {
    /// One past the last block (saturating: an overflowing region is out of range).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.blocks)
    }

    /// True if the two regions share a block.
    pub fn overlaps(&self, o: &Region) -> bool {
        self.vol == o.vol && self.start < o.end() && o.start < self.end()
    }

    /// True if the region shares a block with `[first, first + count)` of `vol`.
    pub fn touches(&self, vol: VolumeId, first: u64, count: u64) -> bool {
        self.overlaps(&Region { vol, start: first, blocks: count })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}+{}]", self.vol, self.start, self.blocks)
    }
}

/// The state of a catalog entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupState {
    /// The background copy runs.
    Copying,
    /// Every block of the copy is durable.
    Complete,
    /// A crash cut the copy: the destination holds partial data.
    Failed,
}

impl BackupState {
    pub const ALL: [BackupState; 3] = [BackupState::Copying, BackupState::Complete, BackupState::Failed];

    pub fn name(self) -> &'static str {
        match self {
            BackupState::Copying => "copying",
            BackupState::Complete => "complete",
            BackupState::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<BackupState> {
        BackupState::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for BackupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A transition of a catalog entry the array makes by itself, recorded like
/// [`crate::PairEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupEvent {
    /// Every block is durable: `Copying` → `Complete`.
    Complete,
    /// A crash cut the copy: `Copying` → `Failed`.
    Failed,
    /// A restore of this (`Complete`) backup to `to` could not read a block of the
    /// backup and stopped: `to` holds a partial copy (see the module doc).
    RestoreFailed { to: Region },
}

impl fmt::Display for BackupEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupEvent::Complete => f.write_str("complete"),
            BackupEvent::Failed => f.write_str("failed"),
            BackupEvent::RestoreFailed { to } => write!(f, "restore_failed {to}"),
        }
    }
}

/// The host's management information about a backup, stored in the catalog.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BackupInfo {
    pub label: String,
    pub generation: u64,
    /// The host's clock when it took the backup (the host's, not the array's).
    pub host_time: u64,
    /// What the host backed up, in its own words (a file system, a database).
    pub source: String,
}

/// One entry of the catalog, as `list_backups` returns it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub backup: BackupId,
    pub src: Region,
    pub dst: Region,
    pub state: BackupState,
    pub info: Option<BackupInfo>,
}

/// A catalog entry in the model: the entry and whether it still holds its destination.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    pub(crate) entry: CatalogEntry,
    /// False once a newer backup took this (failed) entry's destination.
    pub(crate) holds: bool,
    /// Targets of restores of this backup that failed and were not restored since.
    pub(crate) failed_restores: Vec<Region>,
}

impl VolumeId {
    /// The first catalog id: array `n`'s catalog is `CATALOG_BASE + n`. Ids from here
    /// up to [`VolumeId::IMAGE_BASE`] are catalogs, never declared volumes.
    pub const CATALOG_BASE: u32 = VolumeId::IMAGE_BASE - (1 << 16);

    /// True for the address of an array's catalog.
    pub fn is_catalog(self) -> bool {
        (VolumeId::CATALOG_BASE..VolumeId::IMAGE_BASE).contains(&self.0)
    }
}

impl StorageModel {
    pub(crate) fn apply_backup(&mut self, op: &Op) -> OpResult {
        match op {
            Op::Backup { backup, src, dst } => self.backup(*backup, *src, *dst),
            Op::RecordBackup { backup, info } => {
                let e = self.backups.get_mut(backup).ok_or(ErrorKind::NoSuchBackup)?;
                e.entry.info = Some(info.clone());
                Ok(Reply::Done)
            }
            Op::ListBackups { src } => Ok(Reply::Backups(
                self.backups.values().filter(|e| e.entry.src.vol == *src).map(|e| e.entry.clone()).collect(),
            )),
            Op::RestoreBackup { backup, to } => self.restore_backup(*backup, *to),
            Op::BackupEvent { backup, event: BackupEvent::RestoreFailed { to } } => {
                let e = self.backups.get_mut(backup).ok_or(ErrorKind::NoSuchBackup)?;
                if e.entry.state != BackupState::Complete {
                    return Err(ErrorKind::BackupState(e.entry.state));
                }
                if !e.failed_restores.contains(to) {
                    e.failed_restores.push(*to);
                }
                Ok(Reply::Done)
            }
            Op::BackupEvent { backup, event } => {
                let e = self.backups.get_mut(backup).ok_or(ErrorKind::NoSuchBackup)?;
                e.entry.state = match (event, e.entry.state) {
                    (BackupEvent::Complete, BackupState::Copying) => BackupState::Complete,
                    (BackupEvent::Failed, BackupState::Copying) => BackupState::Failed,
                    (_, state) => return Err(ErrorKind::BackupState(state)),
                };
                Ok(Reply::Done)
            }
            _ => unreachable!("S0 commands"),
        }
    }

    /// The checks a region passes before any catalog rule (see the module doc).
    fn region_checks(&self, r: &Region, blocks: u64) -> Result<(), ErrorKind> {
        if r.vol.is_catalog() {
            return Err(ErrorKind::InsideCatalog);
        }
        let v = self.volumes.get(&r.vol).ok_or(ErrorKind::NoSuchVolume)?;
        if r.blocks == 0 || r.blocks != blocks || r.vol.is_image() {
            return Err(ErrorKind::InvalidRegion);
        }
        match r.start.checked_add(r.blocks) {
            Some(end) if end <= v.blocks => Ok(()),
            _ => Err(ErrorKind::OutOfRange),
        }
    }

    fn volume_checks(&self, vol: VolumeId) -> Result<(), ErrorKind> {
        if self.pair_of(vol).is_some() || self.remote_role(vol).is_some() {
            return Err(ErrorKind::InPair);
        }
        if self.has_images(vol) {
            return Err(ErrorKind::HasImages);
        }
        if self.volumes[&vol].inconsistent {
            return Err(ErrorKind::Inconsistent);
        }
        Ok(())
    }

    fn copying(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.backups.values().map(|e| &e.entry).filter(|e| e.state == BackupState::Copying)
    }

    fn holding(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.backups.values().filter(|e| e.holds).map(|e| &e.entry)
    }

    fn backup(&mut self, id: BackupId, src: Region, dst: Region) -> OpResult {
        for r in [&src, &dst] {
            if r.vol.is_catalog() {
                return Err(ErrorKind::InsideCatalog);
            }
        }
        for r in [&src, &dst] {
            self.volumes.get(&r.vol).ok_or(ErrorKind::NoSuchVolume)?;
        }
        self.region_checks(&src, dst.blocks)?;
        self.region_checks(&dst, src.blocks)?;
        if src.overlaps(&dst) {
            return Err(ErrorKind::RegionOverlap);
        }
        if self.backups.contains_key(&id) {
            return Err(ErrorKind::BackupExists);
        }
        self.volume_checks(src.vol)?;
        self.volume_checks(dst.vol)?;
        let retry = |e: &CatalogEntry| e.state == BackupState::Failed && e.dst == dst;
        if self.holding().any(|e| e.dst.overlaps(&dst) && !retry(e))
            || self.copying().any(|e| e.src.overlaps(&dst) || e.dst.overlaps(&src))
        {
            return Err(ErrorKind::DestinationBusy);
        }
        if self.holding().any(|e| e.state == BackupState::Failed && e.dst.overlaps(&src))
            || self.failed_restores().any(|r| r.overlaps(&src) || r.overlaps(&dst))
        {
            return Err(ErrorKind::Inconsistent);
        }
        for e in self.backups.values_mut() {
            if e.holds && e.entry.dst == dst {
                e.holds = false; // a retry over a failed backup's destination
            }
        }
        self.copy_region(&src, &dst);
        let entry = CatalogEntry { backup: id, src, dst, state: BackupState::Copying, info: None };
        self.backups.insert(id, Entry { entry, holds: true, failed_restores: Vec::new() });
        Ok(Reply::Done)
    }

    fn restore_backup(&mut self, id: BackupId, to: Region) -> OpResult {
        let e = self.backups.get(&id).ok_or(ErrorKind::NoSuchBackup)?.entry.clone();
        self.region_checks(&to, e.dst.blocks)?;
        if e.state != BackupState::Complete {
            return Err(ErrorKind::BackupState(e.state));
        }
        if to.overlaps(&e.dst) {
            return Err(ErrorKind::RegionOverlap);
        }
        self.volume_checks(to.vol)?;
        if self.holding().any(|h| h.dst.overlaps(&to)) || self.copying().any(|c| c.src.overlaps(&to)) {
            return Err(ErrorKind::DestinationBusy);
        }
        if self.failed_restores().any(|r| r.overlaps(&to) && *r != to) {
            return Err(ErrorKind::Inconsistent);
        }
        self.copy_region(&e.dst, &to);
        for e in self.backups.values_mut() {
            e.failed_restores.retain(|r| *r != to); // a retry of a failed restore
        }
        Ok(Reply::Done)
    }

    /// `to` := `from` block for block (regions of one size; cost follows the blocks
    /// written in either).
    fn copy_region(&mut self, from: &Region, to: &Region) {
        let src: Vec<(u64, Value)> = self.volumes[&from.vol]
            .data
            .range(from.start..from.end())
            .map(|(b, v)| (b - from.start + to.start, *v))
            .collect();
        let old: Vec<u64> = self.volumes[&to.vol].data.range(to.start..to.end()).map(|(b, _)| *b).collect();
        for b in old {
            self.set_block(to.vol, b, Value::ZERO);
        }
        for (b, v) in src {
            self.set_block(to.vol, b, v);
        }
    }

    /// Whether host I/O to `[first, first + count)` of `vol` is allowed by the backups
    /// whose destination it touches (see the module doc).
    pub fn backup_access(&self, vol: VolumeId, first: u64, count: u64, write: bool) -> Result<(), ErrorKind> {
        let mut inconsistent = self.failed_restores().any(|r| r.touches(vol, first, count));
        for e in self.holding().filter(|e| e.dst.touches(vol, first, count)) {
            match e.state {
                BackupState::Copying => return Err(ErrorKind::NotAccessible),
                BackupState::Complete if write => return Err(ErrorKind::NotAccessible),
                BackupState::Complete => {}
                BackupState::Failed => inconsistent = true,
            }
        }
        if inconsistent { Err(ErrorKind::Inconsistent) } else { Ok(()) }
    }

    /// True if `vol` has a backup's region on it: the source of a `Copying` backup or
    /// a held destination. Such a volume cannot join a pair or have images.
    pub fn has_backups(&self, vol: VolumeId) -> bool {
        self.copying().any(|e| e.src.vol == vol)
            || self.holding().any(|e| e.dst.vol == vol)
            || self.failed_restores().any(|r| r.vol == vol)
    }

    /// The targets of failed restores not restored since (each once).
    fn failed_restores(&self) -> impl Iterator<Item = &Region> {
        self.backups.values().flat_map(|e| e.failed_restores.iter())
    }

    /// A catalog entry.
    pub fn backup_entry(&self, id: BackupId) -> Option<&CatalogEntry> {
        self.backups.get(&id).map(|e| &e.entry)
    }

    /// Every catalog entry, in id order.
    pub fn catalog(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.backups.values().map(|e| &e.entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PairId;
    use crate::storage::VolumeSpec;

    const A: VolumeId = VolumeId(0);
    const B: VolumeId = VolumeId(1);

    fn model() -> StorageModel {
        StorageModel::new(&[VolumeSpec { id: A, blocks: 32 }, VolumeSpec { id: B, blocks: 32 }])
    }

    fn reg(vol: VolumeId, start: u64, blocks: u64) -> Region {
        Region { vol, start, blocks }
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

    fn backup(m: &mut StorageModel, id: u32, src: Region, dst: Region) -> OpResult {
        m.apply(&Op::Backup { backup: BackupId(id), src, dst })
    }

    fn event(m: &mut StorageModel, id: u32, event: BackupEvent) -> OpResult {
        m.apply(&Op::BackupEvent { backup: BackupId(id), event })
    }

    fn info(label: &str, generation: u64) -> BackupInfo {
        BackupInfo { label: label.to_string(), generation, host_time: 1000 + generation, source: "db".into() }
    }

    #[test]
    fn a_backup_is_the_source_at_l_and_readable_once_complete() {
        let mut m = model();
        w(&mut m, A, 2, 1).unwrap();
        w(&mut m, B, 9, 9).unwrap();
        backup(&mut m, 1, reg(A, 0, 8), reg(B, 8, 8)).unwrap();
        w(&mut m, A, 2, 2).unwrap();
        assert_eq!(r(&mut m, B, 10), Err(ErrorKind::NotAccessible), "copying: not accessible");
        assert_eq!(r(&mut m, B, 7), vals(0), "outside the destination");
        event(&mut m, 1, BackupEvent::Complete).unwrap();
        assert_eq!(r(&mut m, B, 10), vals(1), "the source at L, not the later write");
        assert_eq!(r(&mut m, B, 9), vals(0), "the destination's old data is gone");
        assert_eq!(w(&mut m, B, 10, 3), Err(ErrorKind::NotAccessible), "a backup is write-protected");
        assert_eq!(r(&mut m, A, 2), vals(2));
        assert_eq!(event(&mut m, 1, BackupEvent::Failed), Err(ErrorKind::BackupState(BackupState::Complete)));
    }

    #[test]
    fn catalog_records_and_lists() {
        let mut m = model();
        assert_eq!(
            m.apply(&Op::RecordBackup { backup: BackupId(1), info: info("x", 1) }),
            Err(ErrorKind::NoSuchBackup)
        );
        backup(&mut m, 1, reg(A, 0, 4), reg(B, 0, 4)).unwrap();
        backup(&mut m, 2, reg(A, 4, 4), reg(B, 4, 4)).unwrap();
        backup(&mut m, 3, reg(B, 16, 4), reg(A, 16, 4)).unwrap();
        m.apply(&Op::RecordBackup { backup: BackupId(2), info: info("nightly", 7) }).unwrap();
        let Ok(Reply::Backups(list)) = m.apply(&Op::ListBackups { src: A }) else { panic!() };
        assert_eq!(list.iter().map(|e| e.backup.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(list[1].info, Some(info("nightly", 7)));
        assert_eq!(list[0].info, None);
        assert_eq!(list[0].state, BackupState::Copying);
        event(&mut m, 1, BackupEvent::Failed).unwrap();
        let Ok(Reply::Backups(list)) = m.apply(&Op::ListBackups { src: A }) else { panic!() };
        assert_eq!(list[0].state, BackupState::Failed);
        assert_eq!(m.apply(&Op::ListBackups { src: VolumeId(7) }), Ok(Reply::Backups(vec![])));
    }

    #[test]
    fn a_failed_destination_is_inconsistent_until_retried_whole() {
        let mut m = model();
        w(&mut m, A, 1, 1).unwrap();
        backup(&mut m, 1, reg(A, 0, 4), reg(B, 0, 4)).unwrap();
        event(&mut m, 1, BackupEvent::Failed).unwrap();
        assert_eq!(r(&mut m, B, 1), Err(ErrorKind::Inconsistent));
        assert_eq!(w(&mut m, B, 1, 2), Err(ErrorKind::Inconsistent));
        assert_eq!(backup(&mut m, 2, reg(A, 0, 2), reg(B, 0, 2)), Err(ErrorKind::DestinationBusy), "partial");
        assert_eq!(backup(&mut m, 2, reg(B, 0, 4), reg(A, 8, 4)), Err(ErrorKind::Inconsistent), "source");
        assert_eq!(
            m.apply(&Op::RestoreBackup { backup: BackupId(1), to: reg(A, 8, 4) }),
            Err(ErrorKind::BackupState(BackupState::Failed))
        );
        backup(&mut m, 2, reg(A, 0, 4), reg(B, 0, 4)).unwrap();
        event(&mut m, 2, BackupEvent::Complete).unwrap();
        assert_eq!(r(&mut m, B, 1), vals(1));
        assert_eq!(m.catalog().count(), 2, "the failed entry stays in the catalog");
    }

    #[test]
    fn restore_copies_back_at_l() {
        let mut m = model();
        w(&mut m, A, 0, 1).unwrap();
        backup(&mut m, 1, reg(A, 0, 4), reg(B, 0, 4)).unwrap();
        let restore = |to| Op::RestoreBackup { backup: BackupId(1), to };
        assert_eq!(m.apply(&restore(reg(A, 0, 4))), Err(ErrorKind::BackupState(BackupState::Copying)));
        event(&mut m, 1, BackupEvent::Complete).unwrap();
        w(&mut m, A, 0, 2).unwrap();
        w(&mut m, A, 3, 3).unwrap();
        assert_eq!(m.apply(&restore(reg(A, 0, 4))), Ok(Reply::Done));
        assert_eq!(r(&mut m, A, 0), vals(1));
        assert_eq!(r(&mut m, A, 3), vals(0));
        m.apply(&restore(reg(A, 20, 4))).unwrap();
        assert_eq!(r(&mut m, A, 20), vals(1), "to another place");
        assert_eq!(m.apply(&restore(reg(B, 2, 4))), Err(ErrorKind::RegionOverlap));
        assert_eq!(m.apply(&restore(reg(A, 0, 3))), Err(ErrorKind::InvalidRegion));
        assert_eq!(m.apply(&restore(reg(A, 30, 4))), Err(ErrorKind::OutOfRange));
        let cat = VolumeId(VolumeId::CATALOG_BASE);
        assert_eq!(m.apply(&restore(reg(cat, 0, 4))), Err(ErrorKind::InsideCatalog));
        assert_eq!(
            m.apply(&Op::RestoreBackup { backup: BackupId(9), to: reg(A, 0, 4) }),
            Err(ErrorKind::NoSuchBackup)
        );
    }

    #[test]
    fn a_failed_restore_leaves_its_target_inconsistent_until_retried_whole() {
        let mut m = model();
        w(&mut m, A, 1, 1).unwrap();
        backup(&mut m, 1, reg(A, 0, 4), reg(B, 0, 4)).unwrap();
        event(&mut m, 1, BackupEvent::Complete).unwrap();
        let to = reg(A, 8, 4);
        event(&mut m, 1, BackupEvent::RestoreFailed { to }).unwrap();
        assert_eq!(r(&mut m, A, 9), Err(ErrorKind::Inconsistent));
        assert_eq!(w(&mut m, A, 11, 2), Err(ErrorKind::Inconsistent));
        assert_eq!(r(&mut m, A, 12), vals(0), "outside the target");
        assert!(m.has_backups(A));
        let restore = |to| Op::RestoreBackup { backup: BackupId(1), to };
        assert_eq!(m.apply(&restore(reg(A, 9, 4))), Err(ErrorKind::Inconsistent), "overlapping");
        assert_eq!(backup(&mut m, 2, reg(A, 10, 4), reg(B, 20, 4)), Err(ErrorKind::Inconsistent), "source");
        assert_eq!(
            backup(&mut m, 2, reg(B, 20, 4), reg(A, 6, 4)),
            Err(ErrorKind::Inconsistent),
            "destination"
        );
        m.apply(&restore(to)).unwrap();
        assert_eq!(r(&mut m, A, 9), vals(1), "retried whole");
        assert!(!m.has_backups(A));
        backup(&mut m, 3, reg(B, 20, 4), reg(A, 20, 4)).unwrap();
        assert_eq!(
            event(&mut m, 3, BackupEvent::RestoreFailed { to }),
            Err(ErrorKind::BackupState(BackupState::Copying))
        );
    }

    #[test]
    fn bad_regions_in_order() {
        let mut m = model();
        let cat = VolumeId(VolumeId::CATALOG_BASE + 3);
        let img = VolumeId(VolumeId::IMAGE_BASE);
        assert_eq!(backup(&mut m, 1, reg(A, 0, 4), reg(cat, 0, 4)), Err(ErrorKind::InsideCatalog));
        assert_eq!(backup(&mut m, 1, reg(cat, 0, 4), reg(VolumeId(9), 0, 4)), Err(ErrorKind::InsideCatalog));
        assert_eq!(backup(&mut m, 1, reg(A, 0, 4), reg(VolumeId(9), 0, 4)), Err(ErrorKind::NoSuchVolume));
        assert_eq!(backup(&mut m, 1, reg(A, 0, 0), reg(B, 0, 0)), Err(ErrorKind::InvalidRegion));
        assert_eq!(backup(&mut m, 1, reg(A, 0, 4), reg(B, 0, 5)), Err(ErrorKind::InvalidRegion));
        assert_eq!(backup(&mut m, 1, reg(A, 30, 4), reg(B, 0, 4)), Err(ErrorKind::OutOfRange));
        assert_eq!(backup(&mut m, 1, reg(A, u64::MAX, 4), reg(B, 0, 4)), Err(ErrorKind::OutOfRange));
        assert_eq!(backup(&mut m, 1, reg(A, 0, 4), reg(A, 3, 4)), Err(ErrorKind::RegionOverlap));
        backup(&mut m, 1, reg(A, 0, 4), reg(A, 4, 4)).unwrap();
        assert_eq!(backup(&mut m, 1, reg(A, 8, 4), reg(B, 4, 4)), Err(ErrorKind::BackupExists));
        assert_eq!(
            backup(&mut m, 2, reg(B, 0, 4), reg(A, 6, 4)),
            Err(ErrorKind::DestinationBusy),
            "live dst"
        );
        assert_eq!(
            backup(&mut m, 2, reg(B, 0, 4), reg(A, 2, 4)),
            Err(ErrorKind::DestinationBusy),
            "copying src"
        );
        assert_eq!(
            backup(&mut m, 2, reg(A, 5, 4), reg(B, 0, 4)),
            Err(ErrorKind::DestinationBusy),
            "copying dst"
        );
        event(&mut m, 1, BackupEvent::Complete).unwrap();
        backup(&mut m, 2, reg(A, 5, 3), reg(B, 0, 3)).unwrap(); // a backup of a backup
        assert_eq!(
            backup(&mut m, 3, reg(B, 8, 4), reg(A, 4, 4)),
            Err(ErrorKind::DestinationBusy),
            "complete dst"
        );
        assert_eq!(backup(&mut m, 3, reg(img, 0, 4), reg(B, 8, 4)), Err(ErrorKind::NoSuchVolume));
        // Pairs, images and backups exclude each other.
        let mut m = model();
        let p = PairId(1);
        backup(&mut m, 1, reg(A, 0, 4), reg(B, 0, 4)).unwrap();
        assert_eq!(m.apply(&Op::PairCreate { pair: p, source: A, mirror: B }), Err(ErrorKind::HasBackups));
        assert_eq!(m.apply(&Op::Snapshot { vol: A, image: img }), Err(ErrorKind::HasBackups));
        event(&mut m, 1, BackupEvent::Complete).unwrap();
        m.apply(&Op::Snapshot { vol: A, image: img }).unwrap();
        assert_eq!(backup(&mut m, 2, reg(A, 8, 4), reg(B, 8, 4)), Err(ErrorKind::HasImages));
        assert_eq!(backup(&mut m, 2, reg(img, 8, 4), reg(B, 8, 4)), Err(ErrorKind::InvalidRegion));
        let mut m = model();
        m.apply(&Op::PairCreate { pair: p, source: A, mirror: B }).unwrap();
        assert_eq!(backup(&mut m, 2, reg(A, 8, 4), reg(A, 16, 4)), Err(ErrorKind::InPair));
    }
}
