//! [`TenantView`]: the table seen through one static tenant's type.

use std::fmt;
use std::marker::PhantomData;

use autonomic_core::{
    CaseId, Lifecycle, SessionHandle, SessionId, StaticTenant, TenantMismatch, marker::AnyState,
};

use crate::{NewSession, SessionTable, TableError};

/// The table seen by static tenant `T` (see [`static_tenant!`](autonomic_core::static_tenant)):
/// it creates `T`'s sessions, and only ever yields handles typed `SessionHandle<T, _>`, so
/// code that receives them cannot mix them up with another tenant's. Sessions of other
/// tenants are invisible through it: lookups of their ids fail with
/// [`TableError::WrongTenant`].
///
/// ```
/// use autonomic_core::{static_tenant, CaseId, SessionHandle, StaticTenant};
/// use autonomic_table::{SessionTable, TableError};
///
/// static_tenant!(pub Acme = 0xAC);
/// static_tenant!(pub Globex = 0x61);
///
/// fn bill_acme(_: &SessionHandle<Acme>) {}
///
/// let table = SessionTable::new();
/// let acme = table.tenant::<Acme>();
/// let handle: SessionHandle<Acme> = acme.create_session(CaseId::new()).start()?;
/// bill_acme(&handle);
///
/// let globex_id = table.tenant::<Globex>().create_session(CaseId::new()).start()?.id();
/// assert!(matches!(acme.get(&globex_id), Err(TableError::WrongTenant(_))));
/// assert_eq!(acme.session_count(), 1);
/// assert_eq!(table.tenant_session_count(Acme::TENANT), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A handle from one tenant's view does not type-check as another's:
/// ```compile_fail,E0308
/// use autonomic_core::{static_tenant, CaseId, SessionHandle};
/// use autonomic_table::SessionTable;
/// static_tenant!(pub Acme = 0xAC);
/// static_tenant!(pub Globex = 0x61);
/// fn bill_acme(_: &SessionHandle<Acme>) {}
/// let table = SessionTable::new();
/// let globex = table.tenant::<Globex>().create_session(CaseId::new()).start().unwrap();
/// bill_acme(&globex);
/// ```
pub struct TenantView<'t, T: StaticTenant> {
    table: &'t SessionTable,
    _tenant: PhantomData<fn() -> T>,
}

impl<T: StaticTenant> Clone for TenantView<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: StaticTenant> Copy for TenantView<'_, T> {}

impl<T: StaticTenant> fmt::Debug for TenantView<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantView")
            .field("tenant", &T::TENANT)
            .field("sessions", &self.session_count())
            .finish()
    }
}

impl<'t, T: StaticTenant> TenantView<'t, T> {
    pub(crate) fn new(table: &'t SessionTable) -> Self {
        TenantView { table, _tenant: PhantomData }
    }

    /// The whole table (untyped).
    pub fn table(&self) -> &'t SessionTable {
        self.table
    }

    /// Creates and registers a session of `T` (see [`SessionTable::create_session`]).
    pub fn create_session(&self, case_id: CaseId) -> NewSession<'t, T> {
        let handle = self.table.register(case_id, T::TENANT);
        match handle.into_tenant::<T>() {
            Ok(handle) => NewSession::new(self.table, handle),
            // `register` used `T::TENANT`, which is exactly what `into_tenant` checks.
            Err(e) => unreachable!("{e}"),
        }
    }

    fn typed(
        handle: SessionHandle<(), AnyState>,
    ) -> Result<SessionHandle<T, AnyState>, TableError> {
        handle.into_tenant::<T>().map_err(TableError::from)
    }

    /// `T`'s session with this id.
    pub fn get(&self, id: &SessionId) -> Result<SessionHandle<T, AnyState>, TableError> {
        Self::typed(self.table.get(id)?)
    }

    /// Whether `T` has a session with this id in the table.
    pub fn contains(&self, id: &SessionId) -> bool {
        self.table.sessions.read(id, |e| e.handle.tenant_id() == T::TENANT).unwrap_or(false)
    }

    /// Removes `T`'s session with this id; a session of another tenant is left alone
    /// ([`TableError::WrongTenant`]).
    pub fn remove(&self, id: &SessionId) -> Result<SessionHandle<T, AnyState>, TableError> {
        match self.table.remove_if(id, |h| h.tenant_id() == T::TENANT) {
            Some(handle) => Self::typed(handle),
            None => match self.table.get(id) {
                Ok(other) => Err(TableError::WrongTenant(TenantMismatch {
                    session: *id,
                    found: other.tenant_id(),
                    expected: T::TENANT,
                })),
                Err(e) => Err(e),
            },
        }
    }

    /// Removes this session of `T` from the table (it only accepts `T`'s handles).
    pub fn remove_handle<S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
    ) -> Result<SessionHandle<T, AnyState>, TableError> {
        self.remove(&handle.id())
    }

    /// `T`'s sessions in the table, O(1).
    pub fn session_count(&self) -> usize {
        self.table.tenant_session_count(T::TENANT)
    }

    /// Calls `f` with each of `T`'s sessions, in O(its sessions), without allocating (each
    /// visit clones one handle, an atomic increment). See the
    /// [visit rules](crate::visit).
    pub fn for_each(&self, mut f: impl FnMut(&SessionHandle<T, AnyState>)) {
        self.table.for_each_in_tenant(T::TENANT, |h| {
            if let Ok(typed) = h.clone().into_tenant::<T>() {
                f(&typed);
            }
        });
    }

    /// Every session of `T`.
    pub fn sessions(&self) -> Vec<SessionHandle<T, AnyState>> {
        let mut out = Vec::with_capacity(self.session_count());
        self.for_each(|h| out.push(h.clone()));
        out
    }

    /// `T`'s sessions that are `Active` or `Adapted` when visited.
    pub fn active_sessions(&self) -> Vec<SessionHandle<T, AnyState>> {
        let mut out = Vec::new();
        self.for_each(|h| {
            if h.is_active() {
                out.push(h.clone());
            }
        });
        out
    }
}
