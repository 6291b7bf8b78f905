//! The lease protocol's vocabulary: [`Epoch`], [`LeaseRequest`], [`Lease`], [`LeaseReply`].

use std::fmt;
use std::time::Duration;

use crate::{Allotment, FleetSpec, InstanceId};

/// A lease's fencing token: every acquisition gets a larger one than any before it in the
/// store, and renewals and releases must carry the epoch of the lease they mean. One carrying
/// an older epoch (a lease since taken over or expired and re-acquired) is refused as stale.
///
/// ```
/// use autonomic_fleet::Epoch;
/// assert!(Epoch::new(7).unwrap() < Epoch::new(8).unwrap());
/// assert_eq!(Epoch::new(0), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub(crate) u64);

impl Epoch {
    /// The epoch `value`; `None` for 0 (no lease has epoch 0).
    pub fn new(value: u64) -> Option<Self> {
        (value > 0).then_some(Epoch(value))
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Largest demand reported in one request (larger is clamped): keeps the share arithmetic
/// exact in the store (Lua numbers are doubles).
pub const MAX_DEMAND: u64 = 1_000_000_000;

/// One instance asking for (`epoch: None`) or renewing (`epoch: Some`) its lease.
#[derive(Debug, Clone, Copy)]
pub struct LeaseRequest<'a> {
    /// The fleet's budget.
    pub spec: &'a FleetSpec,
    /// Who asks.
    pub instance: &'a InstanceId,
    /// The epoch of the lease being renewed; `None` to acquire a new one.
    pub epoch: Option<Epoch>,
    /// How much the instance used its slice lately (admissions plus refusals for capacity
    /// since its last request); shares follow it. Clamped to [`MAX_DEMAND`].
    pub demand: u64,
    /// What the instance may hold until its next request: the larger of the bound in force
    /// locally and what is in use now. The store keeps charging the instance that much (at
    /// most what it charged before) while a smaller grant takes effect, so a shrinking slice
    /// is never handed to another instance while it is still in use. A new lease is charged
    /// for what the instance still holds from a lost one, as far as it is free.
    pub holding: Allotment,
}

/// A granted lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The fencing token.
    pub epoch: Epoch,
    /// The slice this instance may admit from.
    pub granted: Allotment,
    /// How long the grant lasts, counted by the store from when it handled the request (so
    /// it ends no earlier, in real time, than `ttl` after the request was sent).
    pub ttl: Duration,
    /// Instances holding a lease in the fleet, this one included.
    pub live_instances: u32,
}

/// The store's answer to a [`LeaseRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseReply {
    /// A lease, new or renewed.
    Granted(Lease),
    /// The epoch renewed is not the instance's current one (another acquisition took over):
    /// nothing was changed.
    Stale,
    /// The lease renewed has expired (or the store lost it): nothing was changed; acquire
    /// anew.
    Expired,
    /// The fleet already has `max_instances` live leases.
    Full,
}
