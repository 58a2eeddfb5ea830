//! S0 (backup with a catalog): what the run report says about backups, read from the
//! history.

use model::{BackupId, History, Op, Region};

/// The destination region of backup `id`: from the `backup` command answered done
/// under that id (ids are never reused), else from the first naming it (one whose
/// answer was lost may still have created it).
pub fn backup_destination(h: &History, id: BackupId) -> Option<Region> {
    let mut found = None;
    for o in &h.ops {
        if let Op::Backup { backup, dst, .. } = &o.op
            && *backup == id
        {
            if matches!(o.completion, model::Completion::Returned(Ok(_))) {
                return Some(*dst);
            }
            found = found.or(Some(*dst));
        }
    }
    found
}
