//! [`SimRng`]: the simulator's seeded random numbers (SplitMix64), and the draws it needs.

/// A small seeded random number generator (SplitMix64): the same seed gives the same
/// numbers on every machine and every run. Streams are split by key
/// ([`SimRng::stream`]), so that what one tenant or session draws does not depend on what
/// another drew before it: a what-if run under another doctrine sees the same arrivals.
///
/// Not for cryptography.
///
/// ```
/// use autonomic_sim::SimRng;
/// let mut a = SimRng::new(7);
/// let mut b = SimRng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.unit();
/// assert!((0.0..1.0).contains(&x));
/// assert_ne!(SimRng::stream(7, &[1, 2]).next_u64(), SimRng::stream(7, &[2, 1]).next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> Self {
        SimRng(mix(seed ^ 0x5eed_5eed_5eed_5eed))
    }

    /// An independent stream of `seed`, named by `keys` (a tenant, a session number, ...).
    pub fn stream(seed: u64, keys: &[u64]) -> Self {
        let mut state = mix(seed ^ 0x5eed_5eed_5eed_5eed);
        for &key in keys {
            state = mix(state ^ mix(key.wrapping_add(0x9e37_79b9_7f4a_7c15)));
        }
        SimRng(state)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (`p <= 0` never, `p >= 1` always).
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..=hi` (`lo` when `hi <= lo`).
    #[inline]
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + self.next_u64() % (span + 1)
    }

    /// Exponentially distributed with mean `mean` (the gap between Poisson arrivals).
    #[inline]
    pub fn exponential(&mut self, mean: f64) -> f64 {
        // 1 - unit() is in (0, 1]: the logarithm is finite.
        -mean * (1.0 - self.unit()).ln()
    }

    /// Standard normal (Box-Muller; one of the pair).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// SplitMix64's finalizer.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_expected_means() {
        let mut rng = SimRng::new(1);
        let n = 200_000;
        let mean = (0..n).map(|_| rng.exponential(2.0)).sum::<f64>() / n as f64;
        assert!((mean - 2.0).abs() < 0.03, "{mean}");
        let mean = (0..n).map(|_| rng.normal()).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "{mean}");
        let hits = (0..n).filter(|_| rng.chance(0.25)).count() as f64 / n as f64;
        assert!((hits - 0.25).abs() < 0.01, "{hits}");
        assert!((0..1000).all(|_| (3..=5).contains(&rng.between(3, 5))));
        assert_eq!(rng.between(9, 2), 9);
    }
}
