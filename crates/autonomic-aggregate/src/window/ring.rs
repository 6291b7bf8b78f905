//! [`BucketRing`]: a fixed ring of buckets indexed by absolute bucket number.

use autonomic_core::WindowCounts;

/// A ring of `n` buckets. Bucket number `k` covers `[k * width, (k + 1) * width)` ns on the
/// clock and lives in slot `k % n`; a slot remembers the number it holds, so a slot left
/// from an older lap reads as empty without any sweep. Bucket numbers are `u64` nanoseconds
/// divided by the width: they do not run out for 584 years of clock.
#[derive(Debug, Clone)]
pub(crate) struct BucketRing {
    /// `(bucket number + 1, counts)`; 0 marks a slot never written.
    slots: Box<[(u64, WindowCounts)]>,
}

impl BucketRing {
    pub(crate) fn new(buckets: usize) -> Self {
        BucketRing { slots: vec![(0, WindowCounts::default()); buckets.max(1)].into() }
    }

    fn len(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Adds `counts` to bucket `number`, which must be within the window that ends with
    /// bucket `now`; an older one (or one from the future) is refused and returns `false`.
    pub(crate) fn add(&mut self, number: u64, now: u64, counts: &WindowCounts) -> bool {
        if number > now || now - number >= self.len() {
            return false;
        }
        let slot = &mut self.slots[(number % self.len()) as usize];
        if slot.0 != number + 1 {
            *slot = (number + 1, WindowCounts::default());
        }
        slot.1.add(counts);
        true
    }

    /// The sum of the last `span` buckets up to and including bucket `now` (`span` is capped
    /// at the ring's length).
    pub(crate) fn sum(&self, now: u64, span: u64) -> WindowCounts {
        let span = span.clamp(1, self.len());
        let mut total = WindowCounts::default();
        for (tag, counts) in self.slots.iter() {
            let Some(number) = tag.checked_sub(1) else { continue };
            if number <= now && now - number < span {
                total.add(counts);
            }
        }
        total
    }

    /// The counts of each of the last `len` buckets, oldest first (empty buckets as zeros).
    pub(crate) fn buckets(&self, now: u64) -> impl Iterator<Item = (u64, WindowCounts)> + '_ {
        let n = self.len();
        let first = now.saturating_sub(n - 1);
        (first..=now).map(move |number| {
            let slot = &self.slots[(number % n) as usize];
            let counts = if slot.0 == number + 1 { slot.1 } else { WindowCounts::default() };
            (number, counts)
        })
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_task() -> WindowCounts {
        WindowCounts { tasks: 1, ..WindowCounts::default() }
    }

    #[test]
    fn sums_only_buckets_inside_the_window() {
        let mut ring = BucketRing::new(4);
        for number in 0..10 {
            assert!(ring.add(number, number, &one_task()));
        }
        assert_eq!(ring.sum(9, 4).tasks, 4);
        assert_eq!(ring.sum(9, 2).tasks, 2);
        assert_eq!(ring.sum(11, 4).tasks, 2, "buckets 8 and 9 remain two buckets later");
        assert_eq!(ring.sum(13, 4).tasks, 0, "a whole window later nothing remains");
    }

    #[test]
    fn refuses_buckets_outside_the_window() {
        let mut ring = BucketRing::new(4);
        assert!(!ring.add(5, 9, &one_task()), "too old");
        assert!(!ring.add(10, 9, &one_task()), "from the future");
        assert!(ring.add(6, 9, &one_task()));
        assert_eq!(ring.sum(9, 4).tasks, 1);
    }

    #[test]
    fn a_stale_slot_is_reset_not_added_to() {
        let mut ring = BucketRing::new(2);
        assert!(ring.add(0, 0, &one_task()));
        assert!(ring.add(2, 2, &one_task()), "slot 0 again, one lap later");
        assert_eq!(ring.sum(2, 2).tasks, 1);
        let buckets: Vec<_> = ring.buckets(2).map(|(n, c)| (n, c.tasks)).collect();
        assert_eq!(buckets, [(1, 0), (2, 1)]);
    }

    #[test]
    fn bucket_numbers_from_centuries_of_clock_still_work() {
        let mut ring = BucketRing::new(12);
        let width = 5_000_000_000u64; // 5 s
        let now = (200 * 365 * 86_400 * 1_000_000_000u64) / width; // 200 years in
        assert!(ring.add(now - 11, now, &one_task()));
        assert!(ring.add(now, now, &one_task()));
        assert_eq!(ring.sum(now, 12).tasks, 2);
        assert_eq!(ring.sum(now + 1, 12).tasks, 1);
    }
}
