//! Validating the S1 host roles (`hosts[i].file_server`, `hosts[i].backup_server`)
//! and the `offload_backup` timeline action.

use super::{R, Validator};
use crate::scenario::format::{ActionDef, HostDef, ScenarioFile};
use model::files::FileLayout;
use model::{HostId, PairId, Value, VolumeId};
use sim::{
    Action, AppWorkload, BackupServerSpec, Endpoint, FileServerSpec, HostSpec, LinkSpec, Offload, VolumeInfo,
};
use std::collections::BTreeMap;

impl Validator<'_> {
    pub(super) fn offload(
        &self,
        f: &ScenarioFile,
        host_ix: &BTreeMap<&str, usize>,
        vol_ix: &BTreeMap<&str, usize>,
        volumes: &[VolumeInfo],
        links: &[LinkSpec],
        hosts: &[HostSpec],
    ) -> R<Offload> {
        // Pairs in order of their first pair_create, as the timeline numbers them.
        let mut pairs: BTreeMap<&str, (u32, usize, usize)> = BTreeMap::new();
        for t in &f.timeline {
            if let ActionDef::PairCreate { pair, source, mirror, .. } = &t.action
                && let (Some(&s), Some(&m)) = (vol_ix.get(source.as_str()), vol_ix.get(mirror.as_str()))
            {
                let next = pairs.len() as u32;
                pairs.entry(pair.as_str()).or_insert((next, s, m));
            }
        }
        let linked =
            |a: Endpoint, b: Endpoint| links.iter().any(|l| l.ends.contains(&a) && l.ends.contains(&b));
        let mut offload = Offload::default();
        let mut fs_of_host: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, h) in f.hosts.iter().enumerate() {
            let Some(d) = &h.file_server else { continue };
            let p = format!("hosts[{i}].file_server");
            if h.workload.is_some() {
                return self.err(
                    format!("hosts[{i}].workload"),
                    "a file server's I/O comes from its application (file_server.app), not a block workload",
                );
            }
            if h.backup_server.is_some() {
                return self.err(
                    format!("hosts[{i}].backup_server"),
                    "a host is a file server or a backup server, not both",
                );
            }
            let Some(&v) = vol_ix.get(d.volume.as_str()) else {
                return self.err(format!("{p}.volume"), format!("unknown volume {:?}", d.volume));
            };
            let Some(&(pair, source, mirror)) = pairs.get(d.pair.as_str()) else {
                return self.err(
                    format!("{p}.pair"),
                    format!("unknown pair {:?}: no pair_create in the timeline names it", d.pair),
                );
            };
            if source != v {
                return self.err(
                    format!("{p}.pair"),
                    format!(
                        "pair {:?} has source {:?}, not the file server's volume {:?}",
                        d.pair, volumes[source].name, d.volume
                    ),
                );
            }
            let vol = &volumes[v];
            if !linked(Endpoint::Host(HostId(i as u32)), Endpoint::Array(vol.array)) {
                return self.err(
                    format!("{p}.volume"),
                    format!("no link joins this host to the array holding volume {:?}", d.volume),
                );
            }
            if d.files.is_empty() {
                return self.err(format!("{p}.files"), "a file server needs at least one file");
            }
            self.unique(
                "file",
                d.files.iter().enumerate().map(|(j, x)| (format!("{p}.files[{j}].name"), x.name.as_str())),
            )?;
            let mut used: BTreeMap<u64, (u64, String)> = BTreeMap::new();
            let mut files = Vec::new();
            for (j, file) in d.files.iter().enumerate() {
                let fp = format!("{p}.files[{j}]");
                if file.extents.is_empty() {
                    return self.err(format!("{fp}.extents"), "a file needs at least one extent");
                }
                for (k, &[start, len]) in file.extents.iter().enumerate() {
                    let ep = format!("{fp}.extents[{k}]");
                    if len == 0 {
                        return self.err(ep, "an extent covers at least one block");
                    }
                    if start.checked_add(len).is_none_or(|end| end > vol.blocks) {
                        return self.err(
                            ep,
                            format!(
                                "blocks {start}..{start}+{len} fall outside volume {:?} of {} blocks",
                                d.volume, vol.blocks
                            ),
                        );
                    }
                    let overlap = used
                        .range(..start + len)
                        .next_back()
                        .filter(|(s, (e, _))| **s < start + len && *e > start);
                    if let Some((_, (_, other))) = overlap {
                        return self.err(ep, format!("the extent overlaps {other}"));
                    }
                    used.insert(start, (start + len, ep));
                }
                files.push(FileLayout {
                    name: file.name.clone(),
                    extents: file.extents.iter().map(|&[s, n]| (s, n)).collect(),
                });
            }
            if d.files.iter().all(|x| x.weight == 0) {
                return self.err(format!("{p}.files"), "at least one file needs a positive weight");
            }
            let a = &d.app;
            if a.concurrency == 0 || a.concurrency > 4096 {
                return self.err(
                    format!("{p}.app.concurrency"),
                    format!("concurrency must be between 1 and 4096, not {}", a.concurrency),
                );
            }
            let len = self.dist(&format!("{p}.app.len"), &a.len, |n| n)?;
            if len.min() == 0 || len.max() > u64::from(Value::WRITE_LEN_MAX) {
                return self.err(
                    format!("{p}.app.len"),
                    format!("a write covers between 1 and {} blocks", Value::WRITE_LEN_MAX),
                );
            }
            if d.flush_interval.0 == 0 || d.lease.0 == 0 {
                return self.err(p, "flush_interval and lease must be positive");
            }
            fs_of_host.insert(i, offload.file_servers.len());
            offload.file_servers.push(FileServerSpec {
                host: HostId(i as u32),
                array: vol.array,
                volume: vol.id,
                pair: PairId(pair),
                mirror: volumes[mirror].id,
                files,
                app: AppWorkload {
                    concurrency: a.concurrency,
                    ops: a.ops,
                    file_weights: d.files.iter().map(|x| x.weight).collect(),
                    len,
                    think_ns: self.dist(&format!("{p}.app.think"), &a.think, |d| d.0)?,
                },
                cache_write_ns: self.dist(&format!("{p}.cache_write"), &d.cache_write, |d| d.0)?,
                flush_interval_ns: d.flush_interval.0,
                lease_ns: d.lease.0,
            });
        }
        // A file server's volumes are its own: another workload writing them would
        // make the file-level judgement meaningless.
        let owned: BTreeMap<VolumeId, &str> =
            offload.file_servers.iter().flat_map(|s| [(s.volume, "volume"), (s.mirror, "mirror")]).collect();
        for (i, h) in hosts.iter().enumerate() {
            for (k, v) in h.workload.iter().flat_map(|w| w.volumes.iter().enumerate()) {
                if let Some(what) = owned.get(v) {
                    return self.err(
                        format!("hosts[{i}].workload.volumes[{k}]"),
                        format!(
                            "volume {:?} is a file server's {what}: only the file server writes it",
                            volumes[v.0 as usize].name
                        ),
                    );
                }
            }
        }
        for (i, h) in f.hosts.iter().enumerate() {
            let Some(d) = &h.backup_server else { continue };
            let p = format!("hosts[{i}].backup_server");
            let Some(&fh) = host_ix.get(d.file_server.as_str()) else {
                return self.err(format!("{p}.file_server"), format!("unknown host {:?}", d.file_server));
            };
            let Some(&fs) = fs_of_host.get(&fh) else {
                return self.err(
                    format!("{p}.file_server"),
                    format!("host {:?} has no file_server role", d.file_server),
                );
            };
            if !linked(Endpoint::Host(HostId(i as u32)), Endpoint::Host(HostId(fh as u32))) {
                return self.err(
                    format!("{p}.file_server"),
                    format!("no host-to-host link joins this host to {:?}", d.file_server),
                );
            }
            let array = offload.file_servers[fs].array;
            if !linked(Endpoint::Host(HostId(i as u32)), Endpoint::Array(array)) {
                return self.err(
                    format!("{p}.file_server"),
                    format!("no link joins this host to the array holding {:?}'s mirror", d.file_server),
                );
            }
            if d.retry.0 == 0 || d.tries == 0 {
                return self.err(p, "retry and tries must be positive");
            }
            offload.backup_servers.push(BackupServerSpec {
                host: HostId(i as u32),
                file_server: fs,
                retry_ns: d.retry.0,
                tries: d.tries,
            });
        }
        Ok(offload)
    }

    /// `timeline[i].do.offload_backup`.
    pub(super) fn offload_backup(
        &self,
        p: &str,
        host: &str,
        file: &str,
        host_ix: &BTreeMap<&str, usize>,
        hosts: &[HostDef],
        offload: &Offload,
    ) -> R<Action> {
        let Some(&h) = host_ix.get(host) else {
            return self.err(format!("{p}.host"), format!("unknown host {host:?}"));
        };
        let Some(b) = offload.backup_server_of(HostId(h as u32)) else {
            return self.err(format!("{p}.host"), format!("host {host:?} has no backup_server role"));
        };
        let fs = &offload.file_servers[offload.backup_servers[b].file_server];
        let Some(j) = fs.files.iter().position(|x| x.name == file) else {
            return self.err(
                format!("{p}.file"),
                format!("file server {:?} has no file {file:?}", hosts[fs.host.0 as usize].name),
            );
        };
        Ok(Action::OffloadBackup { backup_server: b, file: j as u32 })
    }
}
