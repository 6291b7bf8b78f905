//! The pattern index: a slab per pattern id, and one for the sessions without a pattern,
//! so that every session is in exactly one of these [`SLABS`] slabs. Visiting all of them
//! visits every session without consulting the tenant registry.

use crate::slab::Slab;

/// Slabs of the pattern index: one per pattern id, then [`NO_PATTERN`].
pub(crate) const SLABS: usize = 257;
/// The slab of sessions without a pattern.
pub(crate) const NO_PATTERN: usize = 256;

/// The slab a session with this pattern is in.
#[inline]
pub(crate) fn slab_of(pattern: Option<u8>) -> usize {
    pattern.map_or(NO_PATTERN, usize::from)
}

/// The 257 pattern slabs.
pub(crate) struct Patterns {
    slabs: Box<[Slab]>,
}

impl Patterns {
    pub(crate) fn new() -> Self {
        Patterns { slabs: (0..SLABS).map(|_| Slab::new()).collect() }
    }

    /// Slab `index` (`0..SLABS`).
    #[inline]
    pub(crate) fn slab(&self, index: usize) -> &Slab {
        // Callers pass `slab_of(..)`, a `u8` or a `0..SLABS` loop index: always in range.
        &self.slabs[index]
    }
}
