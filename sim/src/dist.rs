//! Integer distributions for latencies, think times and lengths.

use crate::rng::{Prng, Ratio};

/// A distribution of non-negative integers (nanoseconds, block counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dist {
    /// Always this value.
    Constant(u64),
    /// Uniform in `min..=max`.
    Uniform { min: u64, max: u64 },
    /// Uniform in `fast`, except with probability `slow_ratio` uniform in `slow`:
    /// a latency with a tail.
    Bimodal { fast: (u64, u64), slow: (u64, u64), slow_ratio: Ratio },
}

impl Dist {
    pub fn sample(&self, rng: &mut Prng) -> u64 {
        match *self {
            Dist::Constant(v) => v,
            Dist::Uniform { min, max } => rng.between(min, max),
            Dist::Bimodal { fast, slow, slow_ratio } => {
                let (lo, hi) = if rng.chance(slow_ratio) { slow } else { fast };
                rng.between(lo, hi)
            }
        }
    }

    /// The largest value the distribution can produce.
    pub fn max(&self) -> u64 {
        match *self {
            Dist::Constant(v) => v,
            Dist::Uniform { max, .. } => max,
            Dist::Bimodal { fast, slow, .. } => fast.1.max(slow.1),
        }
    }

    /// The smallest value the distribution can produce.
    pub fn min(&self) -> u64 {
        match *self {
            Dist::Constant(v) => v,
            Dist::Uniform { min, .. } => min,
            Dist::Bimodal { fast, slow, .. } => fast.0.min(slow.0),
        }
    }
}
