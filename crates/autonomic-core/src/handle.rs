//! [`SessionHandle`]: one `Arc` to a session, typed by tenant and lifecycle state.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::on_end::OnEnd;
use crate::state::marker::{Active, AnyState, Cancelled, Completed, Created, Failed};
use crate::state::{Lifecycle, SessionState};
use crate::sync::Arc;
use crate::{
    CaseId, ClockHandle, MetadataError, MetricsSnapshot, SessionContext, SessionId, SessionMetrics,
    SessionReading, StateMismatch, StaticTenant, Tag, TenantId, TenantMismatch, TenantTag,
    TransitionError,
};

/// The shared allocation behind every handle of one session.
///
/// `repr(C)` keeps the layout deliberate: the hot counters come first, right after the `Arc`
/// reference counts (which clones also write, so they belong with them), and the read-mostly
/// context last. The context and the rarely written words (start time, widening) put more
/// than 64 bytes between one session's hot words and the next allocation, so two sessions'
/// hot words never share a cache line, without padding the allocation to a cache line
/// (which would cost ~100 bytes per session). `benches/` measures it: two threads on two
/// sessions created back to back run as fast as one.
#[repr(C)]
struct SessionInner {
    metrics: SessionMetrics,
    id: SessionId,
    context: SessionContext,
    /// Run once when the session ends (see [`SessionHandle::on_end`]).
    on_end: OnEnd,
}

/// A handle to one session: cheap to clone (one `Arc`), `Send + Sync`, typed by its tenant
/// tag `T` and by what its owner statically knows of the lifecycle, `S`.
///
/// * [`Created`](crate::marker::Created): `start()` once (the handle is not `Clone`, so
///   there is exactly one starter), or `cancel()`; set the pattern and tags.
/// * [`Active`](crate::marker::Active) (the default): `record_*`, `mark_adapted()`, and
///   `complete()` / `fail()` / `cancel()`, each a compare-and-swap that either wins or
///   returns a [`TransitionError`] (another holder finished the session first).
/// * `Completed`, `Failed`, `Cancelled`: read only.
/// * [`AnyState`](crate::marker::AnyState): a handle held by a table or an observer; its
///   state is checked at run time (`into_active()`, `cancel()`, `fail()`).
///
/// ```
/// use std::time::Duration;
/// use autonomic_core::{CaseId, SessionHandle, SessionState, TenantId};
///
/// let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant());
/// let handle = handle.start()?;                      // Created -> Active
/// handle.record_task_execution(Duration::from_millis(10));
/// handle.record_retry();
/// handle.mark_adapted()?;                            // Active -> Adapted (sub-state)
/// let done = handle.complete()?;                     // -> Completed, exactly once
/// assert_eq!(done.state(), SessionState::Completed);
/// assert_eq!(done.snapshot().task_completions, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Methods that make no sense in a state do not exist on that state's type. Recording on a
/// finished session does not compile:
/// ```compile_fail,E0599
/// # use autonomic_core::{CaseId, SessionHandle, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
/// let done = h.complete().unwrap();
/// done.record_retry(); // no `record_retry` on `SessionHandle<(), Completed>`
/// ```
/// while recording before finishing does:
/// ```
/// # use autonomic_core::{CaseId, SessionHandle, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
/// h.record_retry();
/// let done = h.complete().unwrap();
/// ```
/// Starting twice does not compile:
/// ```compile_fail,E0599
/// # use autonomic_core::{CaseId, SessionHandle, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
/// let again = h.start(); // no `start` on `SessionHandle<(), Active>`
/// ```
/// ```
/// # use autonomic_core::{CaseId, SessionHandle, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
/// ```
/// Recording before starting does not compile:
/// ```compile_fail,E0599
/// # use autonomic_core::{CaseId, SessionHandle, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::new());
/// h.record_task_execution(std::time::Duration::from_millis(1)); // not on `Created`
/// ```
/// ```
/// # use autonomic_core::{CaseId, SessionHandle, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
/// h.record_task_execution(std::time::Duration::from_millis(1));
/// ```
/// A `Created` handle cannot be cloned (there is one starter):
/// ```compile_fail,E0599
/// # use autonomic_core::{CaseId, SessionHandle, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::new());
/// let twin = h.clone();
/// ```
/// ```
/// # use autonomic_core::{CaseId, SessionHandle, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
/// let twin = h.clone();
/// ```
pub struct SessionHandle<T: TenantTag = (), S: Lifecycle = Active> {
    inner: Arc<SessionInner>,
    _marker: Tags<T, S>,
}

/// The zero-sized tenant and state tags; `fn() -> _` keeps them neutral for `Send`/`Sync`.
type Tags<T, S> = PhantomData<(fn() -> T, fn() -> S)>;

impl<T: TenantTag, S: Lifecycle> SessionHandle<T, S> {
    #[inline]
    fn retag<U: TenantTag, R: Lifecycle>(self) -> SessionHandle<U, R> {
        SessionHandle { inner: self.inner, _marker: PhantomData }
    }

    /// The session's id.
    #[inline]
    pub fn id(&self) -> SessionId {
        self.inner.id
    }

    /// Case, tenant, pattern, tags and clock.
    pub fn context(&self) -> &SessionContext {
        &self.inner.context
    }

    /// The session's tenant.
    #[inline]
    pub fn tenant_id(&self) -> TenantId {
        self.inner.context.tenant_id()
    }

    /// The session's workflow case.
    pub fn case_id(&self) -> CaseId {
        self.inner.context.case_id()
    }

    /// The workflow pattern id, if one was set.
    #[inline]
    pub fn pattern(&self) -> Option<u8> {
        self.inner.context.pattern()
    }

    /// The session's lock-free counters.
    #[inline]
    pub fn metrics(&self) -> &SessionMetrics {
        &self.inner.metrics
    }

    /// The run-time state (other holders may have moved it since this handle's type was
    /// fixed).
    #[inline]
    pub fn state(&self) -> SessionState {
        self.inner.metrics.state()
    }

    /// Whether the session is `Active` or `Adapted` right now.
    pub fn is_active(&self) -> bool {
        self.state().is_active()
    }

    /// Whether the session has finished.
    pub fn is_terminal(&self) -> bool {
        self.state().is_terminal()
    }

    /// An immutable copy of the metrics and lifecycle (reads the clock once; not for hot
    /// loops).
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.inner.metrics.read(self.inner.context.clock().now_nanos())
    }

    /// When the session started (ns on its clock), if it has: two loads, no clock read.
    ///
    /// ```
    /// use autonomic_core::{CaseId, SessionHandle, TenantId};
    /// let new = SessionHandle::new(CaseId::new(), TenantId::default_tenant());
    /// assert_eq!(new.started_at_ns(), None);
    /// let running = new.start()?;
    /// assert_eq!(running.started_at_ns(), running.snapshot().started_at_ns);
    /// # Ok::<(), autonomic_core::TransitionError>(())
    /// ```
    #[inline]
    pub fn started_at_ns(&self) -> Option<u64> {
        self.inner.metrics.started_at_ns()
    }

    /// [`mark_adapted`](SessionHandle::mark_adapted) through a handle of any type, the state
    /// checked at run time: what `erased().into_active()?.mark_adapted()` does, without a
    /// second handle (no reference count taken and dropped).
    ///
    /// Fails, counting nothing, unless the session is `Active` or `Adapted`.
    ///
    /// ```
    /// use autonomic_core::{CaseId, SessionHandle, SessionState, TenantId};
    /// let new = SessionHandle::new(CaseId::new(), TenantId::default_tenant());
    /// assert_eq!(new.mark_adapted_if_running().unwrap_err().found, SessionState::Created);
    /// let running = new.start()?;
    /// running.erased().mark_adapted_if_running()?;
    /// assert_eq!((running.state(), running.snapshot().adaptation_count), (SessionState::Adapted, 1));
    /// # Ok::<(), autonomic_core::TransitionError>(())
    /// ```
    #[inline]
    pub fn mark_adapted_if_running(&self) -> Result<(), TransitionError> {
        self.transition(RUNNING, SessionState::Adapted)?;
        self.inner.metrics.record_adaptation();
        Ok(())
    }

    /// As [`snapshot`](Self::snapshot), with the time supplied by the caller (one clock read
    /// for a whole pass over many sessions).
    pub fn snapshot_at(&self, now_nanos: u64) -> MetricsSnapshot {
        self.inner.metrics.read(now_nanos)
    }

    /// The session's id, tenant, pattern and [`snapshot_at`](Self::snapshot_at)`(now_nanos)`
    /// as one plain value (see [`SessionReading`]).
    #[inline]
    pub fn reading_at(&self, now_nanos: u64) -> SessionReading {
        SessionReading {
            id: self.id(),
            tenant_id: self.tenant_id(),
            pattern: self.pattern(),
            snapshot: self.snapshot_at(now_nanos),
        }
    }

    /// Another handle to the same session, whose state is checked at run time. This is what
    /// tables and observers hold.
    pub fn erased(&self) -> SessionHandle<T, AnyState> {
        SessionHandle { inner: self.inner.clone(), _marker: PhantomData }
    }

    /// Forgets the static tenant tag (the tenant id stays checked at run time).
    pub fn into_dynamic(self) -> SessionHandle<(), S> {
        self.retag()
    }

    /// Whether two handles point at the same session allocation.
    pub fn ptr_eq<U: TenantTag, R: Lifecycle>(&self, other: &SessionHandle<U, R>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn now(&self) -> u64 {
        self.inner.context.clock().now_nanos()
    }

    #[inline]
    fn transition(
        &self,
        from: &[SessionState],
        to: SessionState,
    ) -> Result<SessionState, TransitionError> {
        self.transition_with(from, to, || self.now())
    }

    /// As `transition`, the time (if the transition needs one) from `now`. A terminal
    /// transition's end before the session's start is recorded as the start (the lifecycle
    /// word keeps the end as an offset from the start, which saturates at zero).
    #[inline]
    fn transition_with(
        &self,
        from: &[SessionState],
        to: SessionState,
        now: impl FnOnce() -> u64,
    ) -> Result<SessionState, TransitionError> {
        let replaced = self.inner.metrics.transition(self.inner.id, from, to, now)?;
        if to.is_terminal() {
            // This call won the one terminal transition: it runs the end actions.
            self.inner.on_end.close();
        }
        Ok(replaced)
    }

    /// Runs `action` once when the session ends, however it ends: on the thread whose
    /// `complete()`, `fail()` or `cancel()` wins (through any handle: its owner's, a
    /// table's, an observer's), or when the last handle goes away if the session never
    /// finished. If the session has ended already, `action` runs now, on this thread.
    ///
    /// For releasing what a session holds (the adapter returns a session's resource grant
    /// this way). Actions run in the order they were attached; keep them short, and do not
    /// panic (a panic is passed on once the other actions have run). A session without
    /// actions pays nothing for this but one pointer.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use autonomic_core::{CaseId, SessionHandle, TenantId};
    ///
    /// let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
    /// let ended = Arc::new(AtomicBool::new(false));
    /// let flag = ended.clone();
    /// handle.on_end(move || flag.store(true, Ordering::SeqCst));
    /// assert!(!ended.load(Ordering::SeqCst));
    /// handle.complete()?;
    /// assert!(ended.load(Ordering::SeqCst));
    /// # Ok::<(), autonomic_core::TransitionError>(())
    /// ```
    pub fn on_end(&self, action: impl FnOnce() + Send + 'static) {
        self.inner.on_end.attach(Box::new(action));
    }
}

impl<S: Lifecycle> SessionHandle<(), S> {
    /// Enters the typed scope of static tenant `U`, checking the run-time tenant id.
    ///
    /// ```
    /// use autonomic_core::{static_tenant, CaseId, SessionHandle, StaticTenant, TenantId};
    /// static_tenant!(pub Acme = 7);
    /// let dynamic = SessionHandle::new(CaseId::new(), Acme::TENANT).start().unwrap();
    /// let acme: SessionHandle<Acme> = dynamic.into_tenant::<Acme>().unwrap();
    /// let other = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
    /// assert!(other.into_tenant::<Acme>().is_err());
    /// ```
    pub fn into_tenant<U: StaticTenant>(self) -> Result<SessionHandle<U, S>, TenantMismatch> {
        let found = self.tenant_id();
        if found == U::TENANT {
            Ok(self.retag())
        } else {
            Err(TenantMismatch { session: self.id(), found, expected: U::TENANT })
        }
    }
}

/// States whose handles may be cloned: all but `Created`, which has a single owner.
pub trait Shareable: Lifecycle {}
impl Shareable for Active {}
impl Shareable for Completed {}
impl Shareable for Failed {}
impl Shareable for Cancelled {}
impl Shareable for AnyState {}

impl<T: TenantTag, S: Shareable> Clone for SessionHandle<T, S> {
    fn clone(&self) -> Self {
        SessionHandle { inner: self.inner.clone(), _marker: PhantomData }
    }
}

impl<T: TenantTag, S: Lifecycle> fmt::Debug for SessionHandle<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionHandle")
            .field("id", &self.inner.id)
            .field("state", &self.state())
            .field("context", &self.inner.context)
            .finish()
    }
}

// ------------------------------------------------------------------------- Created ------

/// Builds a session with options (pattern, tags, clock) before its handle exists.
///
/// ```
/// use autonomic_core::{CaseId, SessionBuilder, TenantId};
/// let h = SessionBuilder::new(CaseId::new(), TenantId::new())
///     .pattern(42)
///     .tag("high-priority")?
///     .build();
/// assert_eq!(h.pattern(), Some(42));
/// assert!(h.context().has_tag("high-priority"));
/// # Ok::<(), autonomic_core::MetadataError>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build()`"]
pub struct SessionBuilder {
    id: Option<SessionId>,
    case_id: CaseId,
    tenant_id: TenantId,
    pattern: Option<u8>,
    tags: Vec<Tag>,
    clock: ClockHandle,
}

impl SessionBuilder {
    /// A session for `case_id` owned by `tenant_id`.
    #[inline]
    pub fn new(case_id: CaseId, tenant_id: TenantId) -> Self {
        SessionBuilder {
            id: None,
            case_id,
            tenant_id,
            pattern: None,
            tags: Vec::new(),
            clock: ClockHandle::monotonic(),
        }
    }

    /// Uses this id instead of allocating one.
    pub fn id(mut self, id: SessionId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the workflow pattern id.
    pub fn pattern(mut self, pattern: u8) -> Self {
        self.pattern = Some(pattern);
        self
    }

    /// Adds a tag (validated; duplicates are kept once).
    pub fn tag(mut self, tag: impl AsRef<str>) -> Result<Self, MetadataError> {
        let tag = Tag::new(tag)?;
        if !self.tags.contains(&tag) {
            if self.tags.len() >= Tag::MAX_PER_SESSION {
                return Err(MetadataError::TooManyTags { max: Tag::MAX_PER_SESSION });
            }
            self.tags.push(tag);
        }
        Ok(self)
    }

    /// Reads times from `clock` instead of the monotonic clock.
    #[inline]
    pub fn clock(mut self, clock: ClockHandle) -> Self {
        self.clock = clock;
        self
    }

    /// The handle, dynamic tenant, state `Created`.
    pub fn build(self) -> SessionHandle<(), Created> {
        let context = SessionContext::new(self.case_id, self.tenant_id, self.clock);
        if self.pattern.is_some() {
            context.set_pattern(self.pattern);
        }
        if !self.tags.is_empty() {
            for tag in self.tags {
                // Cannot fail: the builder enforced the same limits.
                let _ = context.add_tag(tag);
            }
        }
        SessionHandle {
            inner: Arc::new(SessionInner {
                metrics: SessionMetrics::new(),
                id: self.id.unwrap_or_default(),
                context,
                on_end: OnEnd::new(),
            }),
            _marker: PhantomData,
        }
    }

    /// The handle for static tenant `U`; refused if the builder's tenant is not `U`'s.
    pub fn build_for<U: StaticTenant>(self) -> Result<SessionHandle<U, Created>, TenantMismatch> {
        self.build().into_tenant::<U>()
    }
}

impl SessionHandle<(), Created> {
    /// A new session (dynamic tenant), state `Created`, on the monotonic clock.
    #[inline]
    pub fn new(case_id: CaseId, tenant_id: TenantId) -> Self {
        SessionBuilder::new(case_id, tenant_id).build()
    }

    /// A builder for a session with options.
    pub fn builder(case_id: CaseId, tenant_id: TenantId) -> SessionBuilder {
        SessionBuilder::new(case_id, tenant_id)
    }
}

impl<T: StaticTenant> SessionHandle<T> {
    /// A new session of static tenant `T`, state `Created`, on the monotonic clock.
    ///
    /// It lives on the default-state type so that `SessionHandle::<Acme>::for_tenant(..)`
    /// names it without a placeholder for the state; what it returns is `Created`, like
    /// every new session.
    ///
    /// ```
    /// use autonomic_core::{static_tenant, CaseId, SessionHandle, StaticTenant};
    /// static_tenant!(pub Acme = 7);
    /// let acme: SessionHandle<Acme> = SessionHandle::<Acme>::for_tenant(CaseId::new()).start()?;
    /// assert_eq!(acme.tenant_id(), Acme::TENANT);
    /// # Ok::<(), autonomic_core::TransitionError>(())
    /// ```
    pub fn for_tenant(case_id: CaseId) -> SessionHandle<T, Created> {
        SessionBuilder::new(case_id, T::TENANT).build().retag()
    }
}

impl<T: TenantTag> SessionHandle<T, Created> {
    /// Sets the workflow pattern id (only while `Created`).
    ///
    /// A session registered in a table must get its pattern through the table's own
    /// `with_pattern`, which keeps the table's pattern index in step; a table never hands
    /// out its sessions' `Created` handles for that reason.
    pub fn with_pattern(self, pattern: u8) -> Self {
        self.inner.context.set_pattern(Some(pattern));
        self
    }

    /// Adds a tag (only while `Created`); adding a tag the session has already is a no-op.
    ///
    /// Tags often come from outside the process (a request header, a config file), so they
    /// are validated rather than trusted, and this returns a `Result` to chain with `?`:
    ///
    /// # Errors
    /// [`MetadataError`] if the tag is empty or longer than [`Tag::MAX_LEN`] bytes, or if the
    /// session has [`Tag::MAX_PER_SESSION`] tags already. The handle is consumed either way
    /// (the session keeps the tags it had).
    ///
    /// ```
    /// use autonomic_core::{CaseId, MetadataError, SessionHandle, TenantId};
    /// let h = SessionHandle::new(CaseId::new(), TenantId::new())
    ///     .with_pattern(42)
    ///     .with_tag("high-priority")?;
    /// assert!(h.context().has_tag("high-priority"));
    /// let refused = SessionHandle::new(CaseId::new(), TenantId::new()).with_tag("");
    /// assert!(matches!(refused, Err(MetadataError::EmptyTag)));
    /// # Ok::<(), MetadataError>(())
    /// ```
    pub fn with_tag(self, tag: impl AsRef<str>) -> Result<Self, MetadataError> {
        self.inner.context.add_tag(Tag::new(tag)?)?;
        Ok(self)
    }

    /// `Created -> Active`, recording the start time.
    ///
    /// Fails only if another holder cancelled the session first.
    pub fn start(self) -> Result<SessionHandle<T, Active>, TransitionError> {
        self.transition(&[SessionState::Created], SessionState::Active)?;
        Ok(self.retag())
    }

    /// `Created -> Cancelled` (the session never ran).
    pub fn cancel(self) -> Result<SessionHandle<T, Cancelled>, TransitionError> {
        self.transition(&[SessionState::Created], SessionState::Cancelled)?;
        Ok(self.retag())
    }
}

// -------------------------------------------------------------------------- Active ------

const RUNNING: &[SessionState] = &[SessionState::Active, SessionState::Adapted];
const CANCELLABLE: &[SessionState] =
    &[SessionState::Created, SessionState::Active, SessionState::Adapted];

impl<T: TenantTag> SessionHandle<T, Active> {
    /// Records one finished task and its latency: one atomic add, no lock, no clock read.
    ///
    /// Latency is kept in whole microseconds (sub-microsecond parts are dropped).
    #[inline]
    pub fn record_task_execution(&self, latency: Duration) {
        // u64 arithmetic (no u128 as in `as_micros`), saturating: 584,000 years at most.
        let us = latency
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(latency.subsec_micros()));
        self.inner.metrics.record_task_us(us);
    }

    /// Records one finished task whose latency is already in microseconds.
    #[inline]
    pub fn record_task_execution_us(&self, latency_us: u64) {
        self.inner.metrics.record_task_us(latency_us);
    }

    /// Records one retry.
    #[inline]
    pub fn record_retry(&self) {
        self.inner.metrics.record_retry();
    }

    /// Records one SLO violation.
    #[inline]
    pub fn record_violation(&self) {
        self.inner.metrics.record_violation();
    }

    /// Marks a local adaptation: `Active -> Adapted` (or stays `Adapted`) and counts it.
    ///
    /// Fails if another holder finished the session first; nothing is counted then.
    pub fn mark_adapted(&self) -> Result<(), TransitionError> {
        self.mark_adapted_if_running()
    }

    /// `Active | Adapted -> Completed`. Exactly one terminal transition wins.
    pub fn complete(self) -> Result<SessionHandle<T, Completed>, TransitionError> {
        self.transition(RUNNING, SessionState::Completed)?;
        Ok(self.retag())
    }

    /// `Active | Adapted -> Failed`. Exactly one terminal transition wins.
    pub fn fail(self) -> Result<SessionHandle<T, Failed>, TransitionError> {
        self.transition(RUNNING, SessionState::Failed)?;
        Ok(self.retag())
    }

    /// As [`complete`](Self::complete), ending the session at `now_ns`, a time the caller
    /// has just read from this session's clock (`context().clock().now_nanos()`), for
    /// example to measure the last task's latency: the transition reads no clock of its own.
    ///
    /// The end cannot go backwards: a `now_ns` before the session's start is recorded as the
    /// start (the session then lasted zero). Pass a fresh reading of the session's own clock;
    /// a time read long before the call dates the end that long back.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use autonomic_core::{CaseId, ClockHandle, ManualClock, SessionBuilder, TenantId};
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let session = SessionBuilder::new(CaseId::new(), TenantId::default_tenant())
    ///     .clock(ClockHandle::custom(clock.clone()))
    ///     .build();
    /// clock.advance(Duration::from_millis(5));
    /// let session = session.start()?; // started at 5 ms
    /// clock.advance(Duration::from_millis(3));
    /// let now = session.context().clock().now_nanos();
    /// let done = session.complete_at(now)?;
    /// assert_eq!(done.snapshot().ended_at_ns, Some(8_000_000));
    /// # Ok::<(), autonomic_core::TransitionError>(())
    /// ```
    /// A time before the start ends the session at its start:
    /// ```
    /// # use autonomic_core::{CaseId, SessionHandle, TenantId};
    /// let session = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
    /// let start = session.started_at_ns();
    /// let done = session.complete_at(0)?;
    /// assert_eq!(done.snapshot().ended_at_ns, start);
    /// # Ok::<(), autonomic_core::TransitionError>(())
    /// ```
    pub fn complete_at(self, now_ns: u64) -> Result<SessionHandle<T, Completed>, TransitionError> {
        self.transition_with(RUNNING, SessionState::Completed, || now_ns)?;
        Ok(self.retag())
    }

    /// As [`fail`](Self::fail), ending the session at `now_ns`, a time just read from this
    /// session's clock (see [`complete_at`](Self::complete_at), whose rules it follows).
    pub fn fail_at(self, now_ns: u64) -> Result<SessionHandle<T, Failed>, TransitionError> {
        self.transition_with(RUNNING, SessionState::Failed, || now_ns)?;
        Ok(self.retag())
    }

    /// `Active | Adapted -> Cancelled`. Exactly one terminal transition wins.
    pub fn cancel(self) -> Result<SessionHandle<T, Cancelled>, TransitionError> {
        self.transition(RUNNING, SessionState::Cancelled)?;
        Ok(self.retag())
    }
}

// ------------------------------------------------------------------------ AnyState ------

impl<T: TenantTag> SessionHandle<T, AnyState> {
    /// A typed `Active` handle if the session is running now.
    pub fn into_active(self) -> Result<SessionHandle<T, Active>, StateMismatch> {
        match self.state() {
            s if s.is_active() => Ok(self.retag()),
            found => Err(StateMismatch { session: self.id(), found, expected: RUNNING }),
        }
    }

    /// Cancels the session from outside, whatever state it was in before it finished.
    pub fn cancel(self) -> Result<SessionHandle<T, Cancelled>, TransitionError> {
        self.transition(CANCELLABLE, SessionState::Cancelled)?;
        Ok(self.retag())
    }

    /// Fails a running session from outside.
    pub fn fail(self) -> Result<SessionHandle<T, Failed>, TransitionError> {
        self.transition(RUNNING, SessionState::Failed)?;
        Ok(self.retag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout argument of [`SessionInner`]: the words written on the hot path (the `Arc`
    /// count, then the first five metric words) are followed by at least 64 bytes of
    /// read-mostly data before the allocation ends, so no cache line holds hot words of two
    /// sessions.
    #[test]
    fn hot_words_are_a_cache_line_away_from_the_next_allocation() {
        const HOT_METRIC_BYTES: usize = 5 * 8;
        let inner = std::mem::size_of::<SessionInner>();
        assert_eq!(std::mem::offset_of!(SessionInner, metrics), 0);
        let tail = inner - HOT_METRIC_BYTES;
        assert!(tail >= 64, "only {tail} cold bytes after the hot words");
    }

    /// `complete_at` / `fail_at` date the end with the time given, never before the start,
    /// and win or lose the one terminal transition like `complete` / `fail`.
    #[test]
    fn ends_at_a_given_time_are_clamped_to_the_start_and_happen_once() {
        use crate::ManualClock;
        let clock = std::sync::Arc::new(ManualClock::new());
        let new = || {
            SessionBuilder::new(CaseId::new(), TenantId::default_tenant())
                .clock(ClockHandle::custom(clock.clone()))
                .build()
        };
        clock.advance(Duration::from_secs(10));
        let failed = new().start().unwrap().fail_at(12_000_000_000).unwrap().snapshot();
        assert_eq!(
            (failed.state, failed.ended_at_ns),
            (SessionState::Failed, Some(12_000_000_000))
        );
        let early = new().start().unwrap().fail_at(1).unwrap().snapshot();
        assert_eq!(early.ended_at_ns, Some(10_000_000_000), "clamped to the start");
        let running = new().start().unwrap();
        let twin = running.clone();
        running.complete_at(11_000_000_000).unwrap();
        assert!(twin.fail_at(13_000_000_000).is_err(), "one terminal transition");
    }

    /// The memory budget: a session is one 160-byte heap chunk. `triomphe::Arc` has one
    /// count word (no weak count); glibc's malloc adds an 8-byte header and rounds to 16, so
    /// an `ArcInner` of up to 152 bytes takes a 160-byte chunk, and one word more would take
    /// 176 (16 bytes more per session).
    #[test]
    fn a_session_fits_a_160_byte_chunk() {
        let arc_count = std::mem::size_of::<usize>();
        let arc_inner = arc_count + std::mem::size_of::<SessionInner>();
        let chunk = (arc_inner + 8).next_multiple_of(16);
        assert!(chunk <= 160, "ArcInner is {arc_inner} bytes: a {chunk}-byte chunk");
    }
}
