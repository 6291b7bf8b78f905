//! The pattern index: for each of the 256 pattern ids, a [`Slab`] of the sessions that carry
//! it. A session without a pattern is in none of them (every session is in the table's
//! all-sessions slab; see `table.rs`).

use crate::slab::Slab;

/// The 256 pattern slabs.
pub(crate) struct Patterns {
    slabs: Box<[Slab]>,
}

impl Patterns {
    pub(crate) fn new() -> Self {
        Patterns { slabs: (0..=u8::MAX).map(|_| Slab::new()).collect() }
    }

    /// The slab of `pattern`.
    #[inline]
    pub(crate) fn slab(&self, pattern: u8) -> &Slab {
        // 256 slabs, indexed by a `u8`: always in range.
        &self.slabs[usize::from(pattern)]
    }

    /// Every pattern with its slab.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u8, &Slab)> {
        (0..=u8::MAX).zip(self.slabs.iter())
    }
}
