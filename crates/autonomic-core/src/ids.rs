//! Identifiers: [`SessionId`], [`TenantId`] and [`CaseId`].

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Identifies one session (one running workflow instance) within a process.
///
/// Ids are 64-bit and allocated from a process-wide sequence: each thread reserves a block of
/// [`SessionId::BLOCK`] ids at a time, so allocation is a thread-local increment (no shared
/// cache line, no system call) and ids are unique for the life of the process. They are *not*
/// meant to be unique across processes; pair them with a runtime or host id when exporting.
///
/// ```
/// use autonomic_core::SessionId;
/// let a = SessionId::new();
/// let b = SessionId::new();
/// assert_ne!(a, b);
/// assert_eq!(SessionId::from_raw(a.as_u64()), a);
/// println!("{a}"); // e.g. `session-000000000000002a`
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(u64);

/// Process-wide source of id blocks. Starts at 1 so that 0 never names a session.
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// `(next, end)` of the block this thread is handing out.
    static LOCAL_BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

impl SessionId {
    /// How many ids a thread reserves from the process-wide sequence at once.
    pub const BLOCK: u64 = 1024;

    /// Allocates a fresh id, unique within this process.
    #[inline]
    pub fn new() -> Self {
        LOCAL_BLOCK.with(|cell| {
            let (mut next, mut end) = cell.get();
            if next == end {
                // Relaxed: the counter only has to hand out disjoint blocks; it publishes no
                // other memory, and a fetch_add on one location is totally ordered anyway.
                next = NEXT_BLOCK.fetch_add(Self::BLOCK, Ordering::Relaxed);
                end = next + Self::BLOCK;
            }
            cell.set((next + 1, end));
            SessionId(next)
        })
    }

    /// Wraps a raw value (for ids that came back from storage or the wire).
    pub const fn from_raw(raw: u64) -> Self {
        SessionId(raw)
    }

    /// The raw 64-bit value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session-{:016x}", self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new() -> Self {
                $name(Uuid::new_v4())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }

            /// Builds an id from its 128-bit value; `const`, so static ids can be declared.
            pub const fn from_u128(value: u128) -> Self {
                $name(Uuid::from_u128(value))
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "-{}"), self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

uuid_id!(
    /// Identifies a tenant: the owner of a group of sessions, for scoping and fair shares.
    ///
    /// ```
    /// use autonomic_core::TenantId;
    /// let t = TenantId::new();
    /// assert_ne!(t, TenantId::default_tenant());
    /// assert_eq!(TenantId::default_tenant(), TenantId::default_tenant());
    /// ```
    TenantId,
    "tenant"
);

impl TenantId {
    /// The tenant used when a service has only one (the nil UUID).
    pub const fn default_tenant() -> Self {
        TenantId(Uuid::nil())
    }
}

uuid_id!(
    /// Identifies the workflow case (instance) a session runs.
    ///
    /// ```
    /// use autonomic_core::CaseId;
    /// assert_ne!(CaseId::new(), CaseId::new());
    /// ```
    CaseId,
    "case"
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    // No unsafe code here, and 20,000 thread-local allocations take miri minutes.
    #[cfg_attr(miri, ignore)]
    fn session_ids_are_unique_across_threads() {
        let per_thread = 5000; // past the first block of 1024 on every thread
        let ids: Vec<Vec<SessionId>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..per_thread).map(|_| SessionId::new()).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let all: HashSet<_> = ids.iter().flatten().copied().collect();
        assert_eq!(all.len(), 4 * per_thread);
        assert!(!all.contains(&SessionId::from_raw(0)));
    }

    #[test]
    fn ids_round_trip_through_serde() {
        let t = TenantId::new();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), t);
        let s = SessionId::from_raw(42);
        assert_eq!(serde_json::to_string(&s).unwrap(), "42");
        assert_eq!(s.to_string(), "session-000000000000002a");
        assert!(TenantId::default_tenant().to_string().starts_with("tenant-0000"));
    }
}
