//! One Global Q across a fleet of processes: each instance leases a slice of the fleet's
//! adaptation slots and resources and admits from it locally.
//!
//! (Crate documentation: see below.)

mod allotment;
mod error;
mod lease;
mod member;
mod memory;
mod redis_store;
mod share;
mod spec;
mod store;

pub use allotment::{Allotment, RESOURCE_UNITS_PER_CAPACITY};
pub use error::{FleetConfigError, FleetError, StoreError};
pub use lease::{Epoch, Lease, LeaseReply, LeaseRequest, MAX_DEMAND};
pub use member::{FleetMember, FleetStatus, FloorReason, MemberConfig, Standing};
pub use memory::MemoryLeaseStore;
pub use redis_store::RedisLeaseStore;
pub use spec::{FleetSpec, InstanceId};
pub use store::LeaseStore;
