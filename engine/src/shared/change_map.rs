//! A change map that writers and a copier use at the same time: one bit per chunk,
//! packed 64 to an atomic word.
//!
//! - [`ChangeMap::set`] is the write-intent: a host write sets its chunk's bit
//!   *before* it writes the data.
//! - [`ChangeMap::test_and_clear`] is the copier's claim: it clears the bit *before*
//!   it reads the chunk, so a write that lands after the clear sets the bit again
//!   and the chunk is copied again (never lost).
//! - [`ChangeMap::iter`] walks the bits while writers run: a bit set before the walk
//!   began and not cleared since is seen; one set during the walk may or may not be.
//!
//! The race this structure exists for is *bit set versus resync clear on the same
//! word*: 64 chunks share a word, so a set of one chunk's bit and a clear of its
//! neighbour's must not be a read-modify-write each (one would undo the other and
//! a changed chunk would never be copied). Both are single atomic RMW instructions
//! (`fetch_or`, `fetch_and`). The loom model `bit_set_vs_resync_clear`
//! (`engine/tests/loom.rs`) checks it, and its unprotected variant (a load and a
//! store) fails.
//!
//! **Correspondence with the sans-IO controller** (`controller.rs`): there a bit is a
//! durable metadata key per (generation, side, chunk) with a `Bit::{Putting, Durable}`
//! state in a `BTreeMap`; "set" is the bit's metadata put that the data write waits
//! for, and "clear" is deleting the key once the copier has the chunk on both
//! volumes. The controller is single-threaded (events are serialized by the
//! simulator), so it needs no atomics; the generations there play the role of the
//! clear-before-copy order here (new writes set bits of a newer generation than the
//! copy set). This map is the in-memory form a multi-threaded engine uses; it has no
//! crash model (the threaded engine keeps nothing durable).

use super::sync::{AtomicU64, Ordering};

/// One bit per chunk.
#[derive(Debug)]
pub struct ChangeMap {
    words: Box<[AtomicU64]>,
    bits: u64,
    protect: bool,
}

impl ChangeMap {
    /// A map of `bits` chunks, all clear.
    pub fn new(bits: u64) -> ChangeMap {
        ChangeMap::build(bits, true)
    }

    /// The map with its protection removed: set and clear are a load and a store
    /// (a read-modify-write that can undo a concurrent update of the same word).
    /// Only for showing that the loom models and the stress catch it.
    #[cfg(any(loom, feature = "planted-bugs"))]
    pub fn unprotected(bits: u64) -> ChangeMap {
        ChangeMap::build(bits, false)
    }

    fn build(bits: u64, protect: bool) -> ChangeMap {
        let words = bits.div_ceil(64);
        ChangeMap { words: (0..words).map(|_| AtomicU64::new(0)).collect(), bits, protect }
    }

    pub fn bits(&self) -> u64 {
        self.bits
    }

    fn word(&self, bit: u64) -> (&AtomicU64, u64) {
        assert!(bit < self.bits, "bit {bit} outside a map of {} bits", self.bits);
        (&self.words[(bit / 64) as usize], 1u64 << (bit % 64))
    }

    /// Sets `bit`; returns whether it was set already.
    pub fn set(&self, bit: u64) -> bool {
        let (w, mask) = self.word(bit);
        let old = if self.protect {
            w.fetch_or(mask, Ordering::SeqCst)
        } else {
            let old = w.load(Ordering::SeqCst);
            w.store(old | mask, Ordering::SeqCst);
            old
        };
        old & mask != 0
    }

    /// Clears `bit`; returns whether it was set.
    pub fn test_and_clear(&self, bit: u64) -> bool {
        let (w, mask) = self.word(bit);
        let old = if self.protect {
            w.fetch_and(!mask, Ordering::SeqCst)
        } else {
            let old = w.load(Ordering::SeqCst);
            w.store(old & !mask, Ordering::SeqCst);
            old
        };
        old & mask != 0
    }

    pub fn is_set(&self, bit: u64) -> bool {
        let (w, mask) = self.word(bit);
        w.load(Ordering::SeqCst) & mask != 0
    }

    /// The set bits, ascending, read one word at a time while writers may run.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(|(i, w)| {
            let mut word = w.load(Ordering::SeqCst);
            std::iter::from_fn(move || {
                if word == 0 {
                    return None;
                }
                let b = u64::from(word.trailing_zeros());
                word &= word - 1;
                Some(i as u64 * 64 + b)
            })
        })
    }

    /// How many bits are set (a snapshot, word by word).
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.load(Ordering::SeqCst).count_ones())).sum()
    }

    /// Sets every bit (an initial copy copies every chunk).
    pub fn set_all(&self) {
        for bit in 0..self.bits {
            self.set(bit);
        }
    }

    /// Moves every bit of `other` into `self` (the union of two sides' maps at a
    /// resync), clearing `other`. Callers hold writers off both maps (the command
    /// gate), so the move itself needs no more than word-wise atomics.
    pub fn absorb(&self, other: &ChangeMap) {
        assert_eq!(self.bits, other.bits, "maps of different sizes");
        for (mine, theirs) in self.words.iter().zip(other.words.iter()) {
            let w = theirs.swap(0, Ordering::SeqCst);
            mine.fetch_or(w, Ordering::SeqCst);
        }
    }
}
