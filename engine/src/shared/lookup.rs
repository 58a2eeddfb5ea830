//! Snapshot lookup tables and their lock (SPEC §2 S4, seed 004).
//!
//! A volume with point-in-time images keeps one table per image: block → the
//! image's own copy of that block. A block absent from an image's table is still
//! shared with the volume (copy-on-write: the volume's data stays in place; the old
//! value moves into each image's table the first time the volume's block is written
//! after the image was taken; a write to the image itself goes into its table). One
//! lock, independent of the images, guards every table.
//!
//! The races it exists for are *lookup insert versus read versus snapshot creation*:
//!
//! - A volume write checks the tables, preserves the old value where an image still
//!   shares the block, and writes the data, all under the lock. If the data were
//!   written after the lock is released, a snapshot taken in between would share a
//!   block that then changes under it: the image would not be the volume at the
//!   snapshot's instant. (A write that began before the snapshot command lands wholly
//!   before or wholly after it.)
//! - An image read looks the block up and, if it is shared, reads the volume, under
//!   the lock (read mode), so a concurrent first write cannot slip between the
//!   lookup and the read.
//!
//! A volume write whose block every image already holds takes the lock in read mode
//! only (the tables do not change), so writers run in parallel once the first write
//! to each block after a snapshot has been made. The loom model
//! `lookup_insert_vs_read_vs_snapshot` (`engine/tests/loom.rs`) checks it, and its
//! unprotected variant (the data written after the lock is released) fails.

use super::blocks::Blocks;
use super::sync::RwLock;
use std::collections::BTreeMap;

/// An image of a volume, by creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageIx(pub usize);

#[derive(Debug, Default)]
struct Tables {
    images: Vec<BTreeMap<u64, u64>>,
}

/// The lookup tables of one volume's images, under one lock.
#[derive(Debug)]
pub struct LookupTable {
    tables: RwLock<Tables>,
    protect: bool,
    perturb: bool,
}

impl Default for LookupTable {
    fn default() -> Self {
        LookupTable::new()
    }
}

const POISONED: &str = "a thread panicked while holding the lookup-table lock";

impl LookupTable {
    pub fn new() -> LookupTable {
        LookupTable { tables: RwLock::new(Tables::default()), protect: true, perturb: false }
    }

    /// The table with its protection removed: a volume write releases the lock
    /// before it writes the data. Only for showing that the loom models catch it.
    #[cfg(any(loom, feature = "planted-bugs"))]
    pub fn unprotected() -> LookupTable {
        LookupTable { protect: false, ..LookupTable::new() }
    }

    /// Makes a volume write yield the thread between its look at the tables and its
    /// data write (the race window), so a stress run hits it more often.
    pub fn perturbed(self, on: bool) -> LookupTable {
        LookupTable { perturb: on, ..self }
    }

    fn perturb(&self) {
        if self.perturb {
            std::thread::yield_now();
        }
    }

    /// Takes a new image of the volume at this instant.
    pub fn snapshot(&self) -> ImageIx {
        let mut t = self.tables.write().expect(POISONED);
        t.images.push(BTreeMap::new());
        ImageIx(t.images.len() - 1)
    }

    /// How many images exist.
    pub fn images(&self) -> usize {
        self.tables.read().expect(POISONED).images.len()
    }

    /// Writes `value` to the volume's `block` (in `data`), first preserving the old
    /// value for every image that still shares the block.
    pub fn write_volume(&self, data: &Blocks, block: u64, value: u64) {
        {
            let t = self.tables.read().expect(POISONED);
            if t.images.iter().all(|m| m.contains_key(&block)) {
                if !self.protect {
                    drop(t);
                }
                self.perturb();
                data.store(block, value);
                return;
            }
        }
        let mut t = self.tables.write().expect(POISONED);
        for m in t.images.iter_mut() {
            m.entry(block).or_insert_with(|| data.load(block));
        }
        if !self.protect {
            drop(t);
        }
        self.perturb();
        data.store(block, value);
    }

    /// Reads `len` blocks of `image` from `block`, or `None` if the image does not
    /// exist (yet). One lookup under one lock hold: the read sees one state of the
    /// tables.
    pub fn read_image_range(&self, data: &Blocks, image: ImageIx, block: u64, len: u64) -> Option<Vec<u64>> {
        let t = self.tables.read().expect(POISONED);
        let m = t.images.get(image.0)?;
        Some((block..block + len).map(|b| m.get(&b).copied().unwrap_or_else(|| data.load(b))).collect())
    }

    /// Writes `values` to `image` from `block` (the image's own data; the volume is
    /// untouched), or `None` if the image does not exist (yet).
    pub fn write_image_range(&self, image: ImageIx, block: u64, values: &[u64]) -> Option<()> {
        let mut t = self.tables.write().expect(POISONED);
        let m = t.images.get_mut(image.0)?;
        for (i, v) in values.iter().enumerate() {
            m.insert(block + i as u64, *v);
        }
        Some(())
    }
}
