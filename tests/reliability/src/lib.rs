//! Cross-crate reliability suite of the session autonomic runtime.
//!
//! The tests live in `tests/`:
//! * `model.rs`: a model-based property test (proptest) of the session table against a plain
//!   sequential model, checked after every step;
//! * `stress.rs`: threads driving the table, the adapter and the aggregator at once, with
//!   exact accounting afterwards;
//! * `bad_input.rs`: one table of bad inputs to every public constructor and configuration
//!   loader, each with the field its error must name.
//!
//! The memory soak is the `soak` binary (`cargo xtask soak`), kept out of `cargo test`.
//! `docs/reliability.md` says what each part checks and which planted bug it caught.
//!
//! This library holds the few helpers they share.

/// A small deterministic generator (xorshift64*): reproducible workloads without a
/// dependency.
///
/// ```
/// use autonomic_reliability::Rng;
/// let (mut a, mut b) = (Rng::new(7), Rng::new(7));
/// assert_eq!(a.next(), b.next());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value; zero is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`; `0` gives `0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// `true` with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// Resident set size of this process in bytes, read from `/proc/self/statm` (Linux); `None`
/// where there is no such file.
///
/// ```
/// # use autonomic_reliability::rss_bytes;
/// if let Some(rss) = rss_bytes() {
///     assert!(rss > 0);
/// }
/// ```
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident.saturating_mul(page_size()))
}

/// The page size `/proc/self/statm` counts in. Linux on the platforms this runs on uses
/// 4 KiB pages; `AUTONOMIC_PAGE_SIZE` overrides it for others.
fn page_size() -> u64 {
    std::env::var("AUTONOMIC_PAGE_SIZE").ok().and_then(|v| v.parse().ok()).unwrap_or(4096)
}
