//! Tenant tags: types that stand for tenants, so that one tenant's handles cannot be passed
//! where another's are expected.
//!
//! A [`SessionHandle<T, S>`](crate::SessionHandle) carries a tenant tag `T` as
//! `PhantomData<fn() -> T>` (zero-sized, and neutral for `Send`/`Sync`). The default tag `()`
//! is *dynamic*: the tenant is only known at run time, as a [`TenantId`], which is what the
//! quick reference's `TenantId`-based API uses. A *static* tenant is a marker type declared
//! with [`static_tenant!`](crate::static_tenant); a dynamic handle enters a static scope
//! only through a checked conversion
//! ([`SessionHandle::into_tenant`](crate::SessionHandle::into_tenant)).
//!
//! A handle of one static tenant cannot be used as another's:
//! ```compile_fail,E0308
//! use autonomic_core::{static_tenant, CaseId, SessionHandle};
//! static_tenant!(pub Acme = 0xA);
//! static_tenant!(pub Globex = 0xB);
//! fn bill_acme(_: &SessionHandle<Acme>) {}
//! let globex = SessionHandle::<Globex>::for_tenant(CaseId::new()).start().unwrap();
//! bill_acme(&globex); // error: expected `SessionHandle<Acme>`, found `SessionHandle<Globex>`
//! ```
//! while the same call with the right tenant compiles:
//! ```
//! use autonomic_core::{static_tenant, CaseId, SessionHandle};
//! static_tenant!(pub Acme = 0xA);
//! fn bill_acme(_: &SessionHandle<Acme>) {}
//! let acme = SessionHandle::<Acme>::for_tenant(CaseId::new()).start().unwrap();
//! bill_acme(&acme);
//! ```

use crate::TenantId;

/// A tenant tag: `()` for "known at run time", or a marker type from
/// [`static_tenant!`](crate::static_tenant).
pub trait TenantTag: 'static {
    /// The tenant the tag stands for, or `None` for the dynamic tag `()`.
    const ID: Option<TenantId>;
}

/// The dynamic tag: any tenant, checked at run time.
impl TenantTag for () {
    const ID: Option<TenantId> = None;
}

/// A tenant known at compile time.
pub trait StaticTenant: TenantTag {
    /// Its id.
    const TENANT: TenantId;
}

/// Declares a marker type for a static tenant with a fixed 128-bit id.
///
/// ```
/// use autonomic_core::{static_tenant, StaticTenant, TenantId};
/// static_tenant!(
///     /// The billing tenant.
///     pub Billing = 0x0195_0000_0000_7000_8000_0000_0000_0001
/// );
/// assert_eq!(Billing::TENANT, TenantId::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0001));
/// ```
#[macro_export]
macro_rules! static_tenant {
    ($(#[$meta:meta])* $vis:vis $name:ident = $id:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis enum $name {}
        impl $crate::TenantTag for $name {
            const ID: ::core::option::Option<$crate::TenantId> =
                ::core::option::Option::Some($crate::TenantId::from_u128($id));
        }
        impl $crate::StaticTenant for $name {
            const TENANT: $crate::TenantId = $crate::TenantId::from_u128($id);
        }
    };
}
