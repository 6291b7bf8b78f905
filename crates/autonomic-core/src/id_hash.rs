//! [`SessionIdHasher`] (and [`BuildSessionIdHasher`], which builds it): a hasher for maps keyed
//! by [`SessionId`](crate::SessionId) that keeps ids allocated together in nearby buckets.

use std::hash::{BuildHasher, Hasher};

/// Consecutive ids that share a run: `2^RUN_BITS` (64).
const RUN_BITS: u32 = 6;
const RUN_MASK: u64 = (1 << RUN_BITS) - 1;

/// Builds [`SessionIdHasher`]s, the hasher for hash maps keyed by
/// [`SessionId`](crate::SessionId) (the session table's by-id map uses it).
///
/// Session ids are handed out in blocks, each thread counting up through its own, so the
/// sessions a thread creates one after another have consecutive ids. A hash that scatters
/// every id (as a general-purpose one must) sends each new session to a random bucket: one
/// cache miss per insert and per removal in a large map. This one keeps each aligned run of
/// 64 consecutive ids together, in 64 adjacent buckets, and scatters the runs:
///
/// * the run (`id >> 6`) is mixed by a multiply and a fold, and every bit of the hash
///   depends on it, so distinct runs land independently, as with any good hash;
/// * the position in the run (`id & 63`) is XORed into the low 6 bits (so the 64 ids of a
///   run take 64 distinct, adjacent buckets of any table of at least 64 buckets) and into
///   the top 7 bits (which hashbrown-style tables use as the tag they compare first, so ids
///   of one run do not look alike there).
///
/// Ids from outside (`SessionId::from_raw`) are hashed the same way; the scheme has no
/// pattern of ids that collides worse than a random hash of the runs would, but it is not
/// keyed: do not use it for keys an adversary chooses.
///
/// ```
/// use std::collections::HashMap;
/// use autonomic_core::{BuildSessionIdHasher, SessionId};
///
/// let mut by_id: HashMap<SessionId, &str, BuildSessionIdHasher> = HashMap::default();
/// let id = SessionId::new();
/// by_id.insert(id, "running");
/// assert_eq!(by_id.get(&id), Some(&"running"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildSessionIdHasher;

impl BuildHasher for BuildSessionIdHasher {
    type Hasher = SessionIdHasher;

    #[inline]
    fn build_hasher(&self) -> SessionIdHasher {
        SessionIdHasher(0)
    }
}

/// The [`Hasher`] of [`BuildSessionIdHasher`]. A session id is one `write_u64`; other input is
/// folded in 8 bytes at a time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionIdHasher(u64);

impl Hasher for SessionIdHasher {
    #[inline]
    fn write_u64(&mut self, value: u64) {
        // From the initial state this is `value` itself, which `finish` spreads.
        self.0 = self.0.rotate_left(29) ^ value;
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        spread(self.0)
    }
}

/// See [`BuildSessionIdHasher`].
#[inline]
fn spread(id: u64) -> u64 {
    let run = (id >> RUN_BITS).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let run = run ^ (run >> 29) ^ (run << 17);
    let place = id & RUN_MASK;
    run ^ place ^ (place << (64 - RUN_BITS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    fn hash(id: u64) -> u64 {
        BuildSessionIdHasher.hash_one(id)
    }

    #[test]
    fn a_run_takes_adjacent_distinct_buckets_and_distinct_tags() {
        for run in [0u64, 1, 17, 1 << 20, u64::MAX >> 6] {
            let ids = (0..64).map(|i| (run << 6) | i);
            let hashes: Vec<u64> = ids.map(hash).collect();
            // Low 6 bits: a permutation of 0..64 (adjacent buckets, no collision).
            let low: HashSet<u64> = hashes.iter().map(|h| h & 63).collect();
            assert_eq!(low.len(), 64);
            // Everything above bit 6 up to the tag is the run's: one 64-bucket block.
            let block: HashSet<u64> = hashes.iter().map(|h| (h >> 6) & ((1 << 50) - 1)).collect();
            assert_eq!(block.len(), 1);
            // Top 7 bits (the tag): distinct for the 64 ids.
            let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
            assert_eq!(tags.len(), 64);
        }
    }

    #[test]
    fn runs_spread_like_a_random_hash() {
        // One id per run, at the same place in each run: the pattern a plain `id % buckets`
        // would pile into one bucket. Into 4096 buckets, 4096 ids: a random hash gives a
        // fullest bucket of about 7; allow 12.
        for place in [0u64, 5, 63] {
            let mut buckets = vec![0u32; 4096];
            for run in 0..4096u64 {
                buckets[(hash((run << 6) | place) & 4095) as usize] += 1;
            }
            let fullest = buckets.iter().max().copied().unwrap_or(0);
            assert!(fullest <= 12, "fullest bucket {fullest}");
            let used = buckets.iter().filter(|&&n| n > 0).count();
            assert!(used > 2400, "only {used} of 4096 buckets used"); // random: ~2589
        }
    }

    #[test]
    fn other_input_is_folded() {
        let mut a = BuildSessionIdHasher.build_hasher();
        a.write(b"tenant-a");
        let mut b = BuildSessionIdHasher.build_hasher();
        b.write(b"tenant-b");
        assert_ne!(a.finish(), b.finish());
    }
}
