//! [`Source`]: where what a [`Permit`](super::Permit) or a [`Grant`](super::Grant) holds was
//! taken from, and goes back to.

use std::fmt;
use std::sync::Arc as StdArc;

use super::Gate;
use super::shares::ShareIndex;
use crate::sync::Arc;

/// The gate a permit or a grant returns its parts to and, with tenant shares on, the share
/// index its tenant's class is in (which holds the gate it was built for: one reference
/// count to take and drop per permit, not two).
///
/// A share index outlives every permit and grant taken against it, so a class dropped by a
/// swap of the shares still gets back what its holders took.
#[derive(Clone)]
pub(crate) enum Source {
    /// Tenant shares off.
    Gate(Arc<Gate>),
    /// Tenant shares on: the index (and, through it, the gate).
    Shares(StdArc<ShareIndex>),
}

impl Source {
    /// The gate.
    #[inline]
    pub(crate) fn gate(&self) -> &Arc<Gate> {
        match self {
            Source::Gate(gate) => gate,
            Source::Shares(index) => index.gate(),
        }
    }

    /// The share index (tenant shares on).
    #[inline]
    pub(crate) fn shares(&self) -> Option<&ShareIndex> {
        match self {
            Source::Gate(_) => None,
            Source::Shares(index) => Some(index),
        }
    }

    /// Whether both are the same gate and the same share index (or both without one).
    pub(crate) fn same_as(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::Gate(a), Source::Gate(b)) => Arc::ptr_eq(a, b),
            (Source::Shares(a), Source::Shares(b)) => StdArc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").field("shares", &self.shares().is_some()).finish()
    }
}
