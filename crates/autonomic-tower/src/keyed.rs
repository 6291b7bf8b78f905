//! [`KeyedSessions`]: the map from (tenant, key) to one long-lived session, with idle keys
//! forgotten and every bound configured.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use autonomic::{AutonomicRuntime, CaseId, SessionHandle, SessionPolicy, TenantId};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use foldhash::fast::RandomState;

use std::convert::Infallible;

use crate::{KeyError, KeyFrom, SessionError};

/// The longest key `max_key_len` may allow.
pub const MAX_KEY_LEN: usize = 256;

/// Bytes of a map key: the tenant's 16 bytes, then the key.
const TENANT_BYTES: usize = 16;

/// Keys up to this long are looked up from a small stack buffer.
const SMALL_KEY_LEN: usize = 48;

/// The configuration of keyed mode.
///
/// ```
/// use std::time::Duration;
/// use autonomic_tower::{KeyFrom, KeyedConfig};
/// let config = KeyedConfig::new(KeyFrom::header(http::HeaderName::from_static("x-workflow-id")))
///     .idle_after(Duration::from_secs(60))
///     .max_keys(10_000);
/// assert!(config.validate().is_ok());
/// assert!(config.clone().max_key_len(0).validate().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct KeyedConfig {
    key: KeyFrom,
    idle_after: Duration,
    max_keys: usize,
    max_key_len: usize,
}

impl KeyedConfig {
    /// Keys read by `key`; idle keys forgotten after 5 minutes; at most 100 000 keys of at
    /// most 128 bytes.
    pub fn new(key: KeyFrom) -> Self {
        KeyedConfig {
            key,
            idle_after: Duration::from_secs(300),
            max_keys: 100_000,
            max_key_len: 128,
        }
    }

    /// A key not seen for this long is forgotten and its session completed (> 0).
    pub fn idle_after(mut self, idle_after: Duration) -> Self {
        self.idle_after = idle_after;
        self
    }

    /// Most keys live at once (`1..=16_777_216`); a new key beyond it is refused with
    /// [`KeyError::TooManyKeys`].
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Longest key accepted, in bytes (`1..=256`).
    pub fn max_key_len(mut self, max_key_len: usize) -> Self {
        self.max_key_len = max_key_len;
        self
    }

    /// Checks every bound; the error names the field.
    pub fn validate(&self) -> Result<(), KeyedConfigError> {
        if self.idle_after.is_zero() {
            return Err(KeyedConfigError { field: "idle_after", reason: "must be > 0" });
        }
        if !(1..=1 << 24).contains(&self.max_keys) {
            return Err(KeyedConfigError { field: "max_keys", reason: "must be in 1..=16777216" });
        }
        if !(1..=MAX_KEY_LEN).contains(&self.max_key_len) {
            return Err(KeyedConfigError { field: "max_key_len", reason: "must be in 1..=256" });
        }
        Ok(())
    }
}

/// A keyed configuration that is out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("keyed session layer: {field} {reason}")]
pub struct KeyedConfigError {
    /// The field refused.
    pub field: &'static str,
    /// What it must be.
    pub reason: &'static str,
}

/// Checks a session key: `1..=max_len` bytes of `A-Z a-z 0-9 - _ . :`.
///
/// ```
/// use autonomic_tower::{KeyError, validate_key};
/// assert_eq!(validate_key("wf-2024.07:a_1", 64), Ok(()));
/// assert_eq!(validate_key("", 64), Err(KeyError::Invalid));
/// assert_eq!(validate_key("a b", 64), Err(KeyError::Invalid));
/// assert_eq!(validate_key("abcdef", 4), Err(KeyError::TooLong { len: 6, max: 4 }));
/// ```
pub fn validate_key(key: &str, max_len: usize) -> Result<(), KeyError> {
    if key.len() > max_len {
        return Err(KeyError::TooLong { len: key.len(), max: max_len });
    }
    // One table load per byte, and no early exit, so the loop has no branch per byte.
    let ok = !key.is_empty() && key.bytes().fold(true, |ok, b| ok & KEY_BYTES[usize::from(b)]);
    if ok { Ok(()) } else { Err(KeyError::Invalid) }
}

/// The bytes a key may hold: `A-Z a-z 0-9 - _ . :`.
static KEY_BYTES: [bool; 256] = {
    let mut allowed = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        allowed[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':');
        b += 1;
    }
    allowed
};

/// One key's session and when it was last used.
#[derive(Debug)]
struct KeyEntry {
    session: SessionHandle,
    /// ns on the runtime's clock.
    last_seen_ns: AtomicU64,
}

/// The keyed sessions of one [`SessionLayer`](crate::SessionLayer): (tenant, key) -> one
/// session of the runtime's table, started on the key's first request and never ended by a
/// request. A key idle for `idle_after` is forgotten and its session completed, so the map
/// and the table stay bounded; at most `max_keys` keys live at once.
///
/// The map is keyed by the tenant *and* the key: two tenants using the same key get two
/// sessions, and a request only ever reaches a session of its own tenant (checked again on
/// every hit, [`KeyError::TenantMismatch`]).
///
/// Keys come from clients, so the map's hash is seeded at random per map (foldhash's
/// `RandomState`, as the table's tenant index): a client cannot compute which keys collide
/// without learning the seed. Keys are also bounded in number, length and alphabet.
///
/// ```
/// use std::sync::Arc;
/// use autonomic::{AutonomicRuntime, RuntimeConfig, TenantId};
/// use autonomic_tower::{KeyFrom, KeyedConfig, SessionLayer};
///
/// let runtime = Arc::new(AutonomicRuntime::new(RuntimeConfig::default())?);
/// let key = KeyFrom::header(http::HeaderName::from_static("x-workflow-id"));
/// let layer = SessionLayer::keyed(runtime.clone(), KeyedConfig::new(key))?;
/// let keys = layer.keyed_sessions().unwrap();
///
/// let (alice, bob) = (TenantId::new(), TenantId::new());
/// let now = runtime.clock().now_nanos();
/// let hers = keys.session(&runtime, alice, "wf-1", None, now)?;
/// assert!(hers.ptr_eq(&keys.session(&runtime, alice, "wf-1", None, now)?)); // one per key
/// let his = keys.session(&runtime, bob, "wf-1", None, now)?; // same key, other tenant
/// assert!(!his.ptr_eq(&hers));
/// assert_eq!((keys.len(), his.tenant_id()), (2, bob));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct KeyedSessions {
    config: KeyedConfig,
    map: DashMap<Box<[u8]>, KeyEntry, RandomState>,
    /// Keys in `map`: reserved before a key is added, so never more than `max_keys`.
    live: AtomicUsize,
    /// When idle keys were last swept (ns on the runtime's clock).
    last_sweep_ns: AtomicU64,
}

impl KeyedSessions {
    pub(crate) fn new(config: KeyedConfig) -> Result<Self, KeyedConfigError> {
        config.validate()?;
        Ok(KeyedSessions {
            config,
            map: DashMap::with_hasher(RandomState::default()),
            live: AtomicUsize::new(0),
            last_sweep_ns: AtomicU64::new(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &KeyedConfig {
        &self.config
    }

    /// Keys live now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is live.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The request's key, not yet validated ([`session`](Self::session) does).
    pub(crate) fn key<'a>(&self, parts: &'a http::request::Parts) -> Result<&'a str, KeyError> {
        self.config.key.key(parts).ok_or(KeyError::Missing)
    }

    /// The session of `tenant`'s `key`, started in `runtime` on first use (or again, if the
    /// one it had was ended from outside). A key that is not a live key is validated
    /// ([`validate_key`] with `max_key_len`) before anything is added for it; a live key was
    /// validated when it was added.
    pub fn session<P: SessionPolicy>(
        &self,
        runtime: &AutonomicRuntime<P>,
        tenant: TenantId,
        key: &str,
        pattern: Option<u8>,
        now_ns: u64,
    ) -> Result<SessionHandle, SessionError<Infallible>> {
        let max_len = self.config.max_key_len;
        if key.len() > max_len {
            return Err(KeyError::TooLong { len: key.len(), max: max_len }.into());
        }
        // Most keys fit the small buffer: a 272-byte one would be zeroed for nothing.
        let (mut small, mut large);
        let buf: &mut [u8] = if key.len() <= SMALL_KEY_LEN {
            small = [0u8; TENANT_BYTES + SMALL_KEY_LEN];
            &mut small
        } else {
            large = [0u8; TENANT_BYTES + MAX_KEY_LEN];
            &mut large
        };
        let map_key = map_key(buf, tenant, key)?;
        if let Some(entry) = self.map.get(map_key) {
            if entry.session.tenant_id() != tenant {
                return Err(KeyError::TenantMismatch.into());
            }
            if entry.session.is_active() {
                // Relaxed: an idle hint; a sweep racing a request may forget a key just used.
                entry.last_seen_ns.store(now_ns, Ordering::Relaxed);
                return Ok(entry.session.clone());
            }
        }
        // Only a key that is not in the map needs its bytes checked: every key in it was
        // checked before it was added, and a hit is a byte-for-byte match of one (under the
        // same tenant and `max_key_len`), so a hit is a valid key.
        validate_key(key, max_len)?;
        self.insert(runtime, tenant, map_key, pattern, now_ns)
    }

    #[cold]
    fn insert<P: SessionPolicy>(
        &self,
        runtime: &AutonomicRuntime<P>,
        tenant: TenantId,
        map_key: &[u8],
        pattern: Option<u8>,
        now_ns: u64,
    ) -> Result<SessionHandle, SessionError<Infallible>> {
        let entry = match self.map.entry(map_key.into()) {
            // Inserted by a racing request, or ended from outside (cancelled by id, removed).
            Entry::Occupied(mut occupied) => {
                let entry = occupied.get_mut();
                if entry.session.tenant_id() != tenant {
                    return Err(KeyError::TenantMismatch.into());
                }
                if !entry.session.is_active() {
                    *entry = start(runtime, tenant, pattern, now_ns)?;
                }
                // Relaxed: an idle hint (see `session`).
                entry.last_seen_ns.store(now_ns, Ordering::Relaxed);
                return Ok(entry.session.clone());
            }
            Entry::Vacant(vacant) => vacant,
        };
        // The key's shard is locked: only keys of other shards race this reservation.
        self.live
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |live| {
                (live < self.config.max_keys).then_some(live + 1)
            })
            // Relaxed: the count is its own guarantee (one RMW per key added or removed).
            .map_err(|_| KeyError::TooManyKeys { max: self.config.max_keys })?;
        let started = match start(runtime, tenant, pattern, now_ns) {
            Ok(started) => started,
            Err(e) => {
                // Relaxed: returns the reservation taken above.
                self.live.fetch_sub(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let session = started.session.clone();
        entry.insert(started);
        tracing::debug!(session_id = %session.id(), tenant = %tenant, "keyed session started");
        Ok(session)
    }

    /// Forgets the keys idle for `idle_after` at `now_ns` and completes their sessions (the
    /// table's retention removes them later). Returns how many were forgotten.
    ///
    /// The layer calls this itself, at most once per quarter of `idle_after`, from a
    /// request; call it from a timer as well if requests may stop altogether.
    pub fn sweep_idle<P: SessionPolicy>(
        &self,
        runtime: &AutonomicRuntime<P>,
        now_ns: u64,
    ) -> usize {
        let idle_ns = u64::try_from(self.config.idle_after.as_nanos()).unwrap_or(u64::MAX);
        let mut forgotten = Vec::new();
        self.map.retain(|_, entry| {
            // Relaxed: an idle hint (see `session`).
            let idle = now_ns.saturating_sub(entry.last_seen_ns.load(Ordering::Relaxed)) >= idle_ns;
            if idle {
                forgotten.push(entry.session.clone());
                // Relaxed: see `insert`.
                self.live.fetch_sub(1, Ordering::Relaxed);
            }
            !idle
        });
        let count = forgotten.len();
        for session in forgotten {
            // A session ended from outside already: nothing left to do for it.
            let _ = runtime.complete_session(session);
        }
        if count > 0 {
            tracing::debug!(count, "idle session keys forgotten");
        }
        count
    }

    /// Sweeps if a quarter of `idle_after` has passed since the last sweep.
    pub(crate) fn maybe_sweep<P: SessionPolicy>(&self, runtime: &AutonomicRuntime<P>, now_ns: u64) {
        let every = u64::try_from(self.config.idle_after.as_nanos() / 4).unwrap_or(u64::MAX).max(1);
        // Relaxed: which request sweeps is decided by the compare-exchange below alone.
        let last = self.last_sweep_ns.load(Ordering::Relaxed);
        if now_ns.saturating_sub(last) < every {
            return;
        }
        // Relaxed: the sweep reads the map under its own locks, not through this word.
        if self
            .last_sweep_ns
            .compare_exchange(last, now_ns, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.sweep_idle(runtime, now_ns);
        }
    }

    #[cfg(test)]
    pub(crate) fn insert_raw(&self, tenant: TenantId, key: &str, session: SessionHandle) {
        let mut buf = [0u8; TENANT_BYTES + MAX_KEY_LEN];
        let map_key = map_key(&mut buf, tenant, key).unwrap();
        self.map.insert(map_key.into(), KeyEntry { session, last_seen_ns: AtomicU64::new(0) });
        // Relaxed: see `insert`.
        self.live.fetch_add(1, Ordering::Relaxed);
    }
}

fn start<P: SessionPolicy>(
    runtime: &AutonomicRuntime<P>,
    tenant: TenantId,
    pattern: Option<u8>,
    now_ns: u64,
) -> Result<KeyEntry, SessionError<Infallible>> {
    let mut new = runtime.create_session(CaseId::new(), tenant);
    if let Some(pattern) = pattern {
        new = new.with_pattern(pattern);
    }
    let session = runtime.start_session(new)?;
    Ok(KeyEntry { session, last_seen_ns: AtomicU64::new(now_ns) })
}

/// `tenant`'s 16 bytes then `key`, in `buf`.
#[inline]
fn map_key<'b>(buf: &'b mut [u8], tenant: TenantId, key: &str) -> Result<&'b [u8], KeyError> {
    let len = TENANT_BYTES + key.len();
    if key.len() > MAX_KEY_LEN || len > buf.len() {
        return Err(KeyError::TooLong {
            len: key.len(),
            max: buf.len().saturating_sub(TENANT_BYTES).min(MAX_KEY_LEN),
        });
    }
    buf[..TENANT_BYTES].copy_from_slice(tenant.as_uuid().as_bytes());
    buf[TENANT_BYTES..len].copy_from_slice(key.as_bytes());
    Ok(&buf[..len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use autonomic::RuntimeConfig;

    fn keyed() -> KeyedSessions {
        let key = KeyFrom::header(http::HeaderName::from_static("x-workflow-id"));
        KeyedSessions::new(KeyedConfig::new(key)).unwrap()
    }

    #[test]
    fn an_entry_of_another_tenant_is_refused_not_used() {
        let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
        let (alice, mallory) = (TenantId::new(), TenantId::new());
        let hers = runtime.start_session(runtime.create_session(CaseId::new(), alice)).unwrap();
        let keys = keyed();
        // A corrupted map: Mallory's (tenant, key) slot holds Alice's session.
        keys.insert_raw(mallory, "wf-1", hers.clone());
        let err = keys.session(&runtime, mallory, "wf-1", None, 1).unwrap_err();
        assert!(matches!(err, SessionError::Key(KeyError::TenantMismatch)));
        // Relaxed: test read of the idle hint.
        let entry = keys.map.iter().next().unwrap();
        assert_eq!(entry.last_seen_ns.load(Ordering::Relaxed), 0, "not even touched");
        assert_eq!(runtime.table().total_sessions(), 1, "no session started for it");
    }

    #[test]
    fn max_keys_holds_under_racing_new_keys() {
        let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
        let key = KeyFrom::header(http::HeaderName::from_static("x"));
        let keys = KeyedSessions::new(KeyedConfig::new(key).max_keys(64)).unwrap();
        let tenant = TenantId::new();
        let refused: usize = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|t| {
                    let (keys, runtime) = (&keys, &runtime);
                    s.spawn(move || {
                        (0..50)
                            .filter(|i| {
                                let key = format!("wf-{t}-{i}");
                                match keys.session(runtime, tenant, &key, None, 1) {
                                    Ok(_) => false,
                                    Err(SessionError::Key(KeyError::TooManyKeys { max: 64 })) => {
                                        true
                                    }
                                    Err(e) => panic!("{e}"),
                                }
                            })
                            .count()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!((keys.len(), refused), (64, 200 - 64));
        assert_eq!(runtime.table().total_sessions(), 64);
        // Forgetting them all makes room again.
        assert_eq!(keys.sweep_idle(&runtime, u64::MAX), 64);
        assert!(keys.session(&runtime, tenant, "wf-again", None, u64::MAX).is_ok());
    }

    #[test]
    fn map_keys_separate_tenants_and_refuse_oversized_keys() {
        let (a, b) = (TenantId::new(), TenantId::new());
        let (mut x, mut y) = ([0u8; TENANT_BYTES + MAX_KEY_LEN], [0u8; TENANT_BYTES + MAX_KEY_LEN]);
        assert_ne!(map_key(&mut x, a, "k").unwrap(), map_key(&mut y, b, "k").unwrap());
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert!(matches!(map_key(&mut x, a, &long), Err(KeyError::TooLong { .. })));
    }

    #[test]
    fn key_bytes_are_exactly_the_documented_alphabet() {
        for b in 0..=u8::MAX {
            let documented = b.is_ascii_alphanumeric() || b"-_.:".contains(&b);
            assert_eq!(KEY_BYTES[usize::from(b)], documented, "byte {b}");
            let key = [b'k', b];
            if let Ok(key) = std::str::from_utf8(&key) {
                assert_eq!(validate_key(key, 8).is_ok(), documented, "byte {b}");
            }
        }
    }

    #[test]
    fn a_key_is_checked_whenever_it_is_not_a_live_key() {
        let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
        let key = KeyFrom::header(http::HeaderName::from_static("x"));
        let keys = KeyedSessions::new(KeyedConfig::new(key).max_key_len(8)).unwrap();
        let tenant = TenantId::new();
        keys.session(&runtime, tenant, "wf-1", None, 1).unwrap();
        // Near misses of a live key, and the live key too long for the bound.
        for (bad, expected) in [
            ("wf-1 ", KeyError::Invalid),
            ("wf/1", KeyError::Invalid),
            ("", KeyError::Invalid),
            ("wf-1wf-1x", KeyError::TooLong { len: 9, max: 8 }),
        ] {
            let err = keys.session(&runtime, tenant, bad, None, 1).unwrap_err();
            assert!(matches!(err, SessionError::Key(ref k) if *k == expected), "{bad:?}: {err}");
        }
        assert_eq!((keys.len(), runtime.table().total_sessions()), (1, 1));
    }

    #[test]
    fn long_and_short_keys_find_their_own_sessions() {
        let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
        let keys = keyed();
        let tenant = TenantId::new();
        let short = "k".repeat(SMALL_KEY_LEN);
        let long = "k".repeat(SMALL_KEY_LEN + 1);
        let a = keys.session(&runtime, tenant, &short, None, 1).unwrap();
        let b = keys.session(&runtime, tenant, &long, None, 1).unwrap();
        assert!(!a.ptr_eq(&b));
        assert!(a.ptr_eq(&keys.session(&runtime, tenant, &short, None, 2).unwrap()));
        assert!(b.ptr_eq(&keys.session(&runtime, tenant, &long, None, 2).unwrap()));
        assert_eq!(runtime.table().total_sessions(), 2);
    }

    #[test]
    fn out_of_range_configs_name_the_field() {
        let key = KeyFrom::header(http::HeaderName::from_static("x"));
        let err = KeyedConfig::new(key.clone()).max_keys(0).validate().unwrap_err();
        assert_eq!(err.field, "max_keys");
        let err = KeyedConfig::new(key.clone()).idle_after(Duration::ZERO).validate().unwrap_err();
        assert_eq!(err.field, "idle_after");
        let err = KeyedConfig::new(key).max_key_len(MAX_KEY_LEN + 1).validate().unwrap_err();
        assert_eq!(err.field, "max_key_len");
    }
}
