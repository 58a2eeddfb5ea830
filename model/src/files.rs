//! S1 (offloaded backup between two servers): the file-level history.
//!
//! A file server host runs an application that writes files; a file is a list of
//! block extents on one volume (the source of a mirror pair). The application's
//! writes are acknowledged from the file server's write-back cache and reach the
//! volume later (flushes, which are ordinary writes in the array-level [`History`]
//! and carry the application's unique values unchanged). A backup server asks the
//! file server to prepare a backup of one file; the file server inhibits writes to
//! that file, flushes it, splits the pair, answers, and lifts the inhibit; the backup
//! server copies the file's extents from the mirror to its tape.
//!
//! [`FileHistory`] is what the file server and the backup server recorded: each
//! application write (invocation and completion in simulated time), each inhibit
//! window, each file-server crash, and each tape record. The offload checker judges
//! it together with the array-level history.
//!
//! [`History`]: crate::History

use crate::ids::{HostId, Value, VolumeId};

/// A file: its name and its extents on the file server's volume, in file order
/// (`(first block, blocks)`); file offset `o` is the `o`-th block of the extents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLayout {
    pub name: String,
    pub extents: Vec<(u64, u64)>,
}

impl FileLayout {
    /// Blocks in the file.
    pub fn blocks(&self) -> u64 {
        self.extents.iter().map(|e| e.1).sum()
    }

    /// The volume block holding file offset `offset`.
    pub fn block_of(&self, offset: u64) -> Option<u64> {
        let mut o = offset;
        for &(start, len) in &self.extents {
            if o < len {
                return Some(start + o);
            }
            o -= len;
        }
        None
    }
}

/// One application write to a file, as the application saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileWrite {
    pub file: u32,
    pub offset: u64,
    pub values: Vec<Value>,
    pub invoke_ns: u64,
    /// When the file server acknowledged it; `None` if it never did (a crash).
    pub complete_ns: Option<u64>,
    /// The inhibit window (index in [`FileHistory::windows`]) that held it, if one
    /// did. The checker holds this claim against the times: a write to a file issued
    /// strictly inside one of its windows must be held, and a held write must be
    /// issued within its window and complete no earlier than the window's end.
    pub held_by: Option<usize>,
}

/// One inhibit window: writes to `file` were held from `start_ns` to `end_ns`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InhibitWindow {
    /// The backup id the backup server chose.
    pub backup: u64,
    pub file: u32,
    pub start_ns: u64,
    /// When the inhibit was lifted; `None` if the file server crashed first.
    pub end_ns: Option<u64>,
    /// Whether the pair was split for it (the file server then answered).
    pub split: bool,
    /// Dirty cache blocks of the file flushed for it.
    pub flushed_blocks: u64,
    /// Application writes held by it.
    pub held_writes: u64,
}

/// What happened to one backup the backup server started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupOutcome {
    /// Every extent is on tape.
    Complete,
    /// The backup was abandoned; the reason.
    Failed(String),
    /// The backup server crashed, or the run ended, before it finished.
    Unfinished,
}

/// One tape record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapeRecord {
    pub backup: u64,
    pub file: u32,
    /// The inhibit window (index in [`FileHistory::windows`]) whose split image was
    /// copied, once the file server answered.
    pub window: Option<usize>,
    pub requested_ns: u64,
    pub finished_ns: Option<u64>,
    /// What was written to tape, in file order (complete only if the outcome is).
    pub values: Vec<Value>,
    pub outcome: BackupOutcome,
}

/// A file server's recorded life: its files, writes, windows, crashes; and the tape
/// of the backup servers that back it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHistory {
    pub host: HostId,
    pub volume: VolumeId,
    pub files: Vec<FileLayout>,
    /// The longest the cache takes to acknowledge a write that is not held
    /// (the configuration's maximum), so a longer write was delayed.
    pub cache_write_ns_max: u64,
    pub writes: Vec<FileWrite>,
    pub windows: Vec<InhibitWindow>,
    /// Simulated times at which the file server crashed (its cache was lost).
    pub crashes: Vec<u64>,
    pub tape: Vec<TapeRecord>,
}
