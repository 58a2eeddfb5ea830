//! Validation of the S0 timeline actions (backup with a catalog).
//!
//! Backups are named in the file and numbered in order of their first `backup`
//! entry; each lives on the array of its regions. What the array refuses at run time
//! (overlapping regions, a busy destination, a region inside the catalog, a region
//! past a volume's end) is *not* a validation error: it is the array's answer, judged
//! against the model. What no array could be asked (unknown names, regions on two
//! arrays, a backup name used for two backups on different arrays) is.

use super::{R, Validator};
use crate::scenario::format::{ActionDef, RegionDef, ScenarioFile};
use model::{ArrayId, BackupId, BackupInfo, HostId, Op, Region, VolumeId};
use sim::{Action, LinkSpec, VolumeInfo};
use std::collections::BTreeMap;

/// The name a region uses for the catalog of the command's array.
pub const CATALOG_NAME: &str = "catalog";

/// The catalog's address on array `a`.
pub fn catalog_of(a: ArrayId) -> VolumeId {
    VolumeId(VolumeId::CATALOG_BASE + a.0)
}

impl Validator<'_> {
    /// The array a region names (`None` for the catalog, which is any array's).
    fn region_array(
        &self,
        p: &str,
        r: &RegionDef,
        vol_ix: &BTreeMap<&str, usize>,
        volumes: &[VolumeInfo],
    ) -> R<Option<ArrayId>> {
        if r.volume == CATALOG_NAME {
            return Ok(None);
        }
        match vol_ix.get(r.volume.as_str()) {
            Some(&v) if !volumes[v].id.is_image() => Ok(Some(volumes[v].array)),
            Some(_) => {
                self.err(format!("{p}.volume"), format!("{:?} is an image: back up volumes", r.volume))
            }
            None => self.err(
                format!("{p}.volume"),
                format!("unknown volume {:?} (or \"{CATALOG_NAME}\" for the array's catalog)", r.volume),
            ),
        }
    }

    fn region(
        &self,
        r: &RegionDef,
        array: ArrayId,
        vol_ix: &BTreeMap<&str, usize>,
        volumes: &[VolumeInfo],
    ) -> Region {
        let vol =
            if r.volume == CATALOG_NAME { catalog_of(array) } else { volumes[vol_ix[r.volume.as_str()]].id };
        Region { vol, start: r.start, blocks: r.blocks }
    }

    /// Numbers the backups (in order of their first `backup` entry) and finds each
    /// one's array.
    pub(super) fn backup_names<'f>(
        &self,
        f: &'f ScenarioFile,
        vol_ix: &BTreeMap<&str, usize>,
        volumes: &[VolumeInfo],
    ) -> R<BTreeMap<&'f str, (BackupId, ArrayId)>> {
        let mut names: BTreeMap<&'f str, (BackupId, ArrayId)> = BTreeMap::new();
        for (i, t) in f.timeline.iter().enumerate() {
            let ActionDef::Backup { backup, source, destination, .. } = &t.action else { continue };
            let p = format!("timeline[{i}].do.backup");
            let sa = self.region_array(&format!("{p}.source"), source, vol_ix, volumes)?;
            let da = self.region_array(&format!("{p}.destination"), destination, vol_ix, volumes)?;
            let array = match (sa, da) {
                (Some(a), Some(b)) if a != b => {
                    return self.err(
                        format!("{p}.destination.volume"),
                        format!(
                            "a backup's regions must be on one array: {:?} is on {:?}, {:?} on {:?}",
                            source.volume,
                            f.arrays[a.0 as usize].name,
                            destination.volume,
                            f.arrays[b.0 as usize].name
                        ),
                    );
                }
                (Some(a), _) | (None, Some(a)) => a,
                (None, None) => {
                    return self.err(
                        format!("{p}.source.volume"),
                        "both regions name the catalog: name a volume for one of them, so the command has an array",
                    );
                }
            };
            let next = BackupId(names.len() as u32);
            let entry = names.entry(backup.as_str()).or_insert((next, array));
            if entry.1 != array {
                return self.err(
                    format!("{p}.backup"),
                    format!(
                        "backup name {backup:?} is used on two arrays; give each backup a name of its own"
                    ),
                );
            }
        }
        Ok(names)
    }

    /// Converts one S0 action.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn backup_action(
        &self,
        p: &str,
        action: &ActionDef,
        backups: &BTreeMap<&str, (BackupId, ArrayId)>,
        host_ix: &BTreeMap<&str, usize>,
        vol_ix: &BTreeMap<&str, usize>,
        volumes: &[VolumeInfo],
        links: &[LinkSpec],
        f: &ScenarioFile,
    ) -> R<Action> {
        let (cmd, host) = match action {
            ActionDef::Backup { host, .. } => ("backup", host),
            ActionDef::RecordBackup { host, .. } => ("record_backup", host),
            ActionDef::ListBackups { host, .. } => ("list_backups", host),
            ActionDef::RestoreBackup { host, .. } => ("restore_backup", host),
            _ => unreachable!("S0 actions"),
        };
        let Some(&h) = host_ix.get(host.as_str()) else {
            return self.err(format!("{p}.do.{cmd}.host"), format!("unknown host {host:?}"));
        };
        let named = |name: &str| -> R<(BackupId, ArrayId)> {
            backups.get(name).copied().map_or_else(
                || {
                    self.err(
                        format!("{p}.do.{cmd}.backup"),
                        format!("unknown backup {name:?}: no backup entry in the timeline names it"),
                    )
                },
                Ok,
            )
        };
        let (array, op) = match action {
            ActionDef::Backup { backup, source, destination, .. } => {
                let (id, array) = named(backup)?;
                let src = self.region(source, array, vol_ix, volumes);
                let dst = self.region(destination, array, vol_ix, volumes);
                (array, Op::Backup { backup: id, src, dst })
            }
            ActionDef::RecordBackup { backup, label, generation, host_time, source, .. } => {
                let (id, array) = named(backup)?;
                let info = BackupInfo {
                    label: label.clone(),
                    generation: *generation,
                    host_time: *host_time,
                    source: source.clone(),
                };
                (array, Op::RecordBackup { backup: id, info })
            }
            ActionDef::ListBackups { volume, .. } => match vol_ix.get(volume.as_str()) {
                Some(&v) => (volumes[v].array, Op::ListBackups { src: volumes[v].id }),
                None => {
                    return self.err(format!("{p}.do.{cmd}.volume"), format!("unknown volume {volume:?}"));
                }
            },
            ActionDef::RestoreBackup { backup, to, .. } => {
                let (id, array) = named(backup)?;
                let ta = self.region_array(&format!("{p}.do.{cmd}.to"), to, vol_ix, volumes)?;
                if let Some(a) = ta
                    && a != array
                {
                    return self.err(
                        format!("{p}.do.{cmd}.to.volume"),
                        format!(
                            "a restore's target must be on the backup's array {:?}; {:?} is on {:?}",
                            f.arrays[array.0 as usize].name, to.volume, f.arrays[a.0 as usize].name
                        ),
                    );
                }
                (array, Op::RestoreBackup { backup: id, to: self.region(to, array, vol_ix, volumes) })
            }
            _ => unreachable!("S0 actions"),
        };
        self.admin_link(p, cmd, host, h, array, links, f)?;
        Ok(Action::Admin { host: HostId(h as u32), array, op })
    }
}
