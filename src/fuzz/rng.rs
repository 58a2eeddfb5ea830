//! The generator's random stream.
//!
//! A scenario is generated from its seed through ChaCha8, on a stream of its own: the
//! simulator's streams (`sim::rng::Stream`) use ids `1` and `k << 32 | i` for small
//! `k`; the generator uses [`GENERATOR_STREAM`], so generating a scenario from seed S
//! and then running it with seed S draws independent numbers. Conversions from raw
//! words to ranges are integer-only and written out here (Lemire's unbiased
//! multiply-and-reject, as in `sim::Prng`), so no dependency upgrade and no platform's
//! floating point can change which scenario a seed generates.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The ChaCha stream id of the scenario generator ("FUZZ" in ASCII, high word).
pub const GENERATOR_STREAM: u64 = 0x4655_5a5a_0000_0000;

/// A seeded random stream for generating and mutating scenarios.
#[derive(Clone, Debug)]
pub struct GenRng {
    rng: ChaCha8Rng,
}

impl GenRng {
    pub fn new(seed: u64) -> GenRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(GENERATOR_STREAM);
        GenRng { rng }
    }

    /// A stream of its own for `seed`, apart from the generator's main one (`tag`
    /// tells the side streams apart): draws added to the generator later take from
    /// one, so that they do not move what the main stream draws after them and the
    /// rest of the seed's scenario stays what it was.
    pub fn side(seed: u64, tag: u32) -> GenRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(GENERATOR_STREAM | u64::from(tag));
        GenRng { rng }
    }

    pub fn u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no values");
        loop {
            let m = u128::from(self.u64()) * u128::from(n);
            if (m as u64) >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "between({lo}, {hi}): empty range");
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.u64(),
        }
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        num > 0 && (num >= den || self.below(den) < num)
    }

    /// A uniformly chosen index of a non-empty slice.
    pub fn index<T>(&mut self, items: &[T]) -> usize {
        self.below(items.len() as u64) as usize
    }

    /// An index chosen with probability proportional to its weight (some weight > 0).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        assert!(total > 0, "weighted choice among zero weights");
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        unreachable!("x < total")
    }

    /// A random non-empty subset of `0..n` (`n > 0`), in increasing order.
    pub fn subset(&mut self, n: usize) -> Vec<usize> {
        loop {
            let s: Vec<usize> = (0..n).filter(|_| self.chance(1, 2)).collect();
            if !s.is_empty() {
                return s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_bounds_hold() {
        let a: Vec<u64> = {
            let mut r = GenRng::new(5);
            (0..8).map(|_| r.u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = GenRng::new(5);
            (0..8).map(|_| r.u64()).collect()
        };
        assert_eq!(a, b);
        let mut r = GenRng::new(1);
        for _ in 0..1000 {
            assert!(r.between(3, 5) >= 3 && r.between(3, 5) <= 5);
            assert_eq!(r.weighted(&[0, 4, 0]), 1);
            assert!(!r.subset(3).is_empty());
        }
    }
}
