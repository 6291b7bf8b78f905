//! How the layer reads a request's tenant, pattern and session key from its head.

use std::fmt;
use std::sync::Arc;

use autonomic::TenantId;
use http::HeaderName;
use http::request::Parts;

use crate::KeyError;

type TenantFn = dyn Fn(&Parts) -> Result<TenantId, KeyError> + Send + Sync;
type PatternFn = dyn Fn(&Parts) -> Option<u8> + Send + Sync;
type KeyFn = dyn for<'a> Fn(&'a Parts) -> Option<&'a str> + Send + Sync;

/// Where a request's tenant comes from. The tenant scopes a keyed session: a key is only
/// ever looked up among the sessions of the tenant the request is extracted as, so take it
/// from what authenticated the request ([`TenantFrom::extension`], set by an auth layer
/// placed before the session layer), not from a header a client chooses, where tenants are
/// mutually untrusted.
///
/// ```
/// use autonomic::TenantId;
/// use autonomic_tower::TenantFrom;
/// let tenant = TenantId::new();
/// let (parts, ()) = http::Request::builder().extension(tenant).body(()).unwrap().into_parts();
/// assert_eq!(TenantFrom::extension().tenant(&parts), Ok(tenant));
/// assert!(TenantFrom::extension().tenant(&http::Request::new(()).into_parts().0).is_err());
/// ```
#[derive(Clone)]
pub struct TenantFrom(Arc<TenantFn>);

impl TenantFrom {
    /// Every request belongs to `tenant`.
    pub fn fixed(tenant: TenantId) -> Self {
        TenantFrom(Arc::new(move |_| Ok(tenant)))
    }

    /// The [`TenantId`] an earlier layer (authentication) put in the request's extensions;
    /// a request without one is refused with [`KeyError::Missing`].
    pub fn extension() -> Self {
        TenantFrom(Arc::new(|parts| {
            parts.extensions.get::<TenantId>().copied().ok_or(KeyError::Missing)
        }))
    }

    /// A header holding the tenant's UUID (hyphenated or simple form, at most 45 bytes).
    /// Only for services whose clients are trusted to name their tenant.
    pub fn header(name: HeaderName) -> Self {
        TenantFrom(Arc::new(move |parts| {
            let value = parts.headers.get(&name).ok_or(KeyError::Missing)?;
            let text = value.to_str().map_err(|_| KeyError::InvalidTenant)?;
            if text.len() > 45 {
                return Err(KeyError::InvalidTenant);
            }
            let text = text.strip_prefix("tenant-").unwrap_or(text);
            uuid::Uuid::try_parse(text)
                .map(TenantId::from_uuid)
                .map_err(|_| KeyError::InvalidTenant)
        }))
    }

    /// Any function of the request's head.
    pub fn func<F>(f: F) -> Self
    where
        F: Fn(&Parts) -> Result<TenantId, KeyError> + Send + Sync + 'static,
    {
        TenantFrom(Arc::new(f))
    }

    /// The tenant of a request.
    #[inline]
    pub fn tenant(&self, parts: &Parts) -> Result<TenantId, KeyError> {
        (self.0)(parts)
    }
}

impl Default for TenantFrom {
    /// Every request belongs to [`TenantId::default_tenant`].
    fn default() -> Self {
        TenantFrom::fixed(TenantId::default_tenant())
    }
}

impl fmt::Debug for TenantFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TenantFrom(..)")
    }
}

/// The workflow pattern of a request's session (for example by route), if any.
///
/// ```
/// use autonomic_tower::PatternFrom;
/// let by_path = PatternFrom::func(|parts| (parts.uri.path() == "/checkout").then_some(3));
/// let (parts, ()) = http::Request::get("/checkout").body(()).unwrap().into_parts();
/// assert_eq!(by_path.pattern(&parts), Some(3));
/// ```
#[derive(Clone)]
pub struct PatternFrom(Arc<PatternFn>);

impl PatternFrom {
    /// No pattern.
    pub fn none() -> Self {
        PatternFrom(Arc::new(|_| None))
    }

    /// Any function of the request's head.
    pub fn func<F>(f: F) -> Self
    where
        F: Fn(&Parts) -> Option<u8> + Send + Sync + 'static,
    {
        PatternFrom(Arc::new(f))
    }

    /// The pattern of a request.
    #[inline]
    pub fn pattern(&self, parts: &Parts) -> Option<u8> {
        (self.0)(parts)
    }
}

impl Default for PatternFrom {
    fn default() -> Self {
        PatternFrom::none()
    }
}

impl fmt::Debug for PatternFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PatternFrom(..)")
    }
}

/// Where a keyed request's session key (a workflow instance id) comes from. The key is
/// validated by the layer (length, alphabet) before it is used.
///
/// ```
/// use autonomic_tower::KeyFrom;
/// let key = KeyFrom::header(http::HeaderName::from_static("x-workflow-id"));
/// let (parts, ()) = http::Request::get("/").header("x-workflow-id", "wf-7").body(()).unwrap().into_parts();
/// assert_eq!(key.key(&parts), Some("wf-7"));
/// ```
#[derive(Clone)]
pub struct KeyFrom(Arc<KeyFn>);

impl KeyFrom {
    /// A request header (a value that is not visible ASCII is no key).
    pub fn header(name: HeaderName) -> Self {
        KeyFrom(Arc::new(move |parts| parts.headers.get(&name).and_then(|v| v.to_str().ok())))
    }

    /// Any function of the request's head.
    pub fn func<F>(f: F) -> Self
    where
        F: for<'a> Fn(&'a Parts) -> Option<&'a str> + Send + Sync + 'static,
    {
        KeyFrom(Arc::new(f))
    }

    /// The key of a request, unvalidated.
    #[inline]
    pub fn key<'a>(&self, parts: &'a Parts) -> Option<&'a str> {
        (self.0)(parts)
    }
}

impl fmt::Debug for KeyFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyFrom(..)")
    }
}
