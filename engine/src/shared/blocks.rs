//! A volume's blocks in memory: one atomic word per block, so a block read or write
//! is atomic on its own (multi-block operations are atomic per block only, as on a
//! real block device and in the model).

use super::sync::{AtomicU64, Ordering};

/// The blocks of one in-memory volume; 0 means never written.
#[derive(Debug)]
pub struct Blocks {
    cells: Box<[AtomicU64]>,
}

impl Blocks {
    pub fn new(blocks: u64) -> Blocks {
        Blocks { cells: (0..blocks).map(|_| AtomicU64::new(0)).collect() }
    }

    pub fn len(&self) -> u64 {
        self.cells.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn load(&self, block: u64) -> u64 {
        self.cells[block as usize].load(Ordering::SeqCst)
    }

    pub fn store(&self, block: u64, value: u64) {
        self.cells[block as usize].store(value, Ordering::SeqCst);
    }
}
