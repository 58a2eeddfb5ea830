//! The per-chunk interlock between host writes and a copier (resync, initial copy,
//! restore).
//!
//! A copier reads a chunk on one volume and writes it on the other. If a host write
//! to the same chunk lands between the copier's read and its write, the copier's
//! write puts the old data back on the target: the host's write is lost there
//! while the change map says the chunk is in step. The interlock forbids that
//! overlap: any number of host writes may hold a chunk at once, or one copier, never
//! both. A host write waits for a copy of its chunk to finish (it is short); the
//! copier never waits for host writes: [`Interlock::try_copy`] fails on a chunk with
//! writes in flight and the copier comes back to it later (its bit is still set).
//!
//! Multi-chunk writes take their chunks in ascending order; copiers take one chunk
//! at a time without waiting, so no cycle of waits can form.
//!
//! **Correspondence with the sans-IO controller** (`controller.rs`): the controller's
//! copier "skips a chunk with writes in flight" and a host write "waits for a chunk
//! being copied": the same rule, kept there in per-pair maps of chunks being copied
//! and of writes in flight, consulted on each event, with held requests queued
//! instead of blocked threads. Here the waiting is a condition variable.
//!
//! The loom model `host_write_vs_copier` (`engine/tests/loom.rs`) checks the rule;
//! its unprotected variant (no interlock) fails, as does the stress run
//! (`mirrorsim stress`) with it.

use super::sync::{Condvar, Mutex, lock, wait};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
struct Slot {
    writers: u32,
    copiers: u32,
}

/// Per-chunk exclusion between host writes and copiers.
#[derive(Debug)]
pub struct Interlock {
    chunks: Mutex<BTreeMap<u64, Slot>>,
    released: Condvar,
    protect: bool,
}

impl Default for Interlock {
    fn default() -> Self {
        Interlock::new()
    }
}

impl Interlock {
    pub fn new() -> Interlock {
        Interlock { chunks: Mutex::new(BTreeMap::new()), released: Condvar::new(), protect: true }
    }

    /// The interlock with its protection removed: writes never wait, copies never
    /// fail. Only for showing that the loom models and the stress catch it.
    #[cfg(any(loom, feature = "planted-bugs"))]
    pub fn unprotected() -> Interlock {
        Interlock { protect: false, ..Interlock::new() }
    }

    /// Holds `chunks` (ascending, distinct) for a host write, waiting while any is
    /// being copied.
    pub fn write(&self, chunks: std::ops::Range<u64>) -> WriteHold<'_> {
        let mut map = lock(&self.chunks);
        for c in chunks.clone() {
            while self.protect && map.get(&c).is_some_and(|s| s.copiers > 0) {
                map = wait(&self.released, map);
            }
            map.entry(c).or_default().writers += 1;
        }
        WriteHold { lock: self, chunks }
    }

    /// Holds `chunk` for a copy, or `None` while host writes to it are in flight
    /// (or another copier holds it).
    pub fn try_copy(&self, chunk: u64) -> Option<CopyHold<'_>> {
        let mut map = lock(&self.chunks);
        let slot = map.entry(chunk).or_default();
        if self.protect && (slot.writers > 0 || slot.copiers > 0) {
            return None;
        }
        slot.copiers += 1;
        Some(CopyHold { lock: self, chunk })
    }

    /// Whether anything holds `chunk` (for assertions).
    pub fn is_held(&self, chunk: u64) -> bool {
        lock(&self.chunks).get(&chunk).is_some_and(|s| s.writers > 0 || s.copiers > 0)
    }

    fn release(&self, chunk: u64, copy: bool) {
        let mut map = lock(&self.chunks);
        let slot = map.get_mut(&chunk).expect("a held chunk has a slot");
        if copy {
            assert!(slot.copiers > 0, "chunk {chunk} released by a copier that did not hold it");
            slot.copiers -= 1;
        } else {
            assert!(slot.writers > 0, "chunk {chunk} released by a writer that did not hold it");
            slot.writers -= 1;
        }
        if slot.writers == 0 && slot.copiers == 0 {
            map.remove(&chunk);
        }
        drop(map);
        self.released.notify_all();
    }
}

/// Host write's hold on its chunks; released when dropped.
#[derive(Debug)]
pub struct WriteHold<'a> {
    lock: &'a Interlock,
    chunks: std::ops::Range<u64>,
}

impl Drop for WriteHold<'_> {
    fn drop(&mut self) {
        for c in self.chunks.clone() {
            self.lock.release(c, false);
        }
    }
}

/// A copier's hold on one chunk; released when dropped.
#[derive(Debug)]
pub struct CopyHold<'a> {
    lock: &'a Interlock,
    chunk: u64,
}

impl Drop for CopyHold<'_> {
    fn drop(&mut self) {
        self.lock.release(self.chunk, true);
    }
}
