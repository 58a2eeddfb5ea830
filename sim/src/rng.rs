//! The PRNG façade: every random choice of a run comes from here.
//!
//! One run seed; one ChaCha8 stream per component ([`Stream`]), so adding a host
//! does not change what a link draws. Probabilities are integer ratios, never floats,
//! so no platform's floating point can change which seed reproduces which bug. The
//! façade owns the conversion from raw words to ranges, so a dependency upgrade cannot
//! silently change it either (the golden test pins the first values of seed 42).

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::fmt;

/// A probability as an integer ratio `num / den` (`den > 0`, `num <= den`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ratio {
    pub num: u64,
    pub den: u64,
}

impl Ratio {
    pub const NEVER: Ratio = Ratio { num: 0, den: 1 };
    pub const ALWAYS: Ratio = Ratio { num: 1, den: 1 };

    /// `None` unless `den > 0` and `num <= den`.
    pub fn new(num: u64, den: u64) -> Option<Ratio> {
        (den > 0 && num <= den).then_some(Ratio { num, den })
    }

    pub fn is_never(self) -> bool {
        self.num == 0
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// The component a stream belongs to. Each gets its own ChaCha stream of the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Random fault injection.
    Faults,
    /// One array's media (latencies, torn writes).
    Media(u32),
    /// One host's workload.
    Host(u32),
    /// One link's latency, drops and duplicates.
    Link(u32),
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Stream::Faults => 1,
            Stream::Media(i) => (1 << 32) | u64::from(i),
            Stream::Host(i) => (2 << 32) | u64::from(i),
            Stream::Link(i) => (3 << 32) | u64::from(i),
        }
    }
}

/// A seeded random stream.
#[derive(Clone, Debug)]
pub struct Prng {
    rng: ChaCha8Rng,
}

impl Prng {
    /// The stream of `component` for the run `seed`.
    pub fn new(seed: u64, component: Stream) -> Prng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(component.id());
        Prng { rng }
    }

    /// A uniformly random word.
    pub fn u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`), unbiased (Lemire's multiply-and-reject).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no values");
        loop {
            let m = u128::from(self.u64()) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
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

    /// True with probability `r`.
    pub fn chance(&mut self, r: Ratio) -> bool {
        match r.num {
            0 => false,
            n if n >= r.den => true,
            n => self.below(r.den) < n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_42_golden_values() {
        // Pinned: if this changes, every recorded seed reproduces something else.
        let mut r = Prng::new(42, Stream::Faults);
        let words: Vec<u64> = (0..4).map(|_| r.u64()).collect();
        assert_eq!(
            words,
            [13222472167927179408, 3078952320862533021, 8898984633443201687, 15610855884041310734],
            "seed 42, faults stream: first words"
        );
        let mut h = Prng::new(42, Stream::Host(0));
        let picks: Vec<u64> = (0..3).map(|_| h.below(1000)).collect();
        assert_eq!(picks, [304, 676, 333], "seed 42, host 0 stream: below(1000)");
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = {
            let mut r = Prng::new(7, Stream::Link(0));
            (0..8).map(|_| r.u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Prng::new(7, Stream::Link(1));
            (0..8).map(|_| r.u64()).collect()
        };
        let a2: Vec<u64> = {
            let mut r = Prng::new(7, Stream::Link(0));
            (0..8).map(|_| r.u64()).collect()
        };
        assert_ne!(a, b);
        assert_eq!(a, a2);
    }

    #[test]
    fn ranges_and_chances_stay_in_bounds() {
        let mut r = Prng::new(1, Stream::Faults);
        for _ in 0..10_000 {
            assert!(r.below(3) < 3);
            let x = r.between(10, 12);
            assert!((10..=12).contains(&x));
        }
        assert_eq!(r.between(5, 5), 5);
        assert!(!r.chance(Ratio::NEVER));
        assert!(r.chance(Ratio::ALWAYS));
        let hits = (0..10_000).filter(|_| r.chance(Ratio { num: 1, den: 4 })).count();
        assert!((2_000..3_000).contains(&hits), "1/4 of 10000 draws, got {hits}");
        let _ = r.between(0, u64::MAX);
    }
}
