//! [`SessionSource`]: anything that can show the aggregator each of its sessions once.
//!
//! The aggregator never collects sessions: it asks a source to call it back with a borrowed
//! handle for each one, so a pass over a table costs no allocation and no reference-count
//! traffic. Slices, arrays and `Vec`s of handles are sources; so is a closure
//! ([`from_fn`]) and a re-iterable iterator of borrowed handles ([`from_iter`]).
//!
//! A type from another crate (a session table, say) becomes a source through a small
//! wrapper, which the orphan rule requires anyway and which keeps the visit fully inlined:
//!
//! ```
//! use autonomic_aggregate::SessionSource;
//! use autonomic_core::{marker::AnyState, SessionHandle};
//!
//! // Stands for a table that can visit its sessions.
//! struct Table(Vec<SessionHandle<(), AnyState>>);
//! impl Table {
//!     fn for_each(&self, f: impl FnMut(&SessionHandle<(), AnyState>)) {
//!         self.0.iter().for_each(f)
//!     }
//! }
//!
//! struct AllSessions<'a>(&'a Table);
//! impl SessionSource for AllSessions<'_> {
//!     type Tenant = ();
//!     type State = AnyState;
//!     fn for_each_session<F: FnMut(&SessionHandle<(), AnyState>)>(&self, f: F) {
//!         self.0.for_each(f)
//!     }
//! }
//! ```

use std::fmt;

use autonomic_core::marker::AnyState;
use autonomic_core::{Coverage, Lifecycle, SessionHandle, SessionReading, TenantTag};

/// Something that can visit each of its sessions once, handing out borrowed handles.
///
/// `Tenant` and `State` are the tags of the handles it hands out: any tenant and any state
/// can be aggregated (a table hands out `SessionHandle<(), AnyState>`; a `Vec` of typed
/// handles hands out those). See the [module docs](self) for the implementations provided
/// and for wrapping a type from another crate.
pub trait SessionSource {
    /// The tenant tag of the handles visited.
    type Tenant: TenantTag;
    /// The typestate marker of the handles visited.
    type State: Lifecycle;

    /// Calls `f` once for each session.
    ///
    /// A source whose sessions change while it is visited (a live table) may include or omit
    /// sessions added or removed meanwhile; it should never visit one session twice.
    fn for_each_session<F: FnMut(&SessionHandle<Self::Tenant, Self::State>)>(&self, f: F);

    /// Calls `f` once for each session with a [`SessionReading`] of it taken at `now_nanos`:
    /// what the aggregator reads. The default reads each handle that
    /// [`for_each_session`](Self::for_each_session) visits; a source that can read its
    /// sessions more cheaply than by handing out handles (a session table, which reads them
    /// under its own locks without touching reference counts) overrides it. The same
    /// sessions must be visited either way.
    #[inline]
    fn for_each_reading<F: FnMut(&SessionReading)>(&self, now_nanos: u64, mut f: F) {
        self.for_each_session(|h| f(&h.reading_at(now_nanos)));
    }

    /// Which sessions it holds, carried into its aggregates and the knowledge published from
    /// them. The default, [`Coverage::Selection`], says "sessions someone chose": a set of
    /// handles is not the whole picture unless it says so. A source that visits every
    /// session there is (a whole table) returns [`Coverage::All`]; [`whole`] declares any
    /// source so.
    fn coverage(&self) -> Coverage {
        Coverage::Selection
    }
}

/// A source whose visit can be split into parts that run at once, one thread each (a
/// session table's sweep over several cores): what
/// [`Aggregation::run_split`](crate::Aggregation::run_split) reads. See its example.
pub trait SplitSource: SessionSource {
    /// Calls `visit` once for each session, with a [`SessionReading`] of it taken at
    /// `now_nanos` and the state of the one part that visits it (`&mut parts[i]`); the
    /// `parts.len()` parts may run on as many threads at once. The sessions visited must be
    /// those [`for_each_reading`](SessionSource::for_each_reading) would visit, each by one
    /// part only (a live source: as there, sessions added or removed meanwhile may be
    /// included or omitted, none twice).
    fn for_each_reading_split<V: Send>(
        &self,
        now_nanos: u64,
        parts: &mut [V],
        visit: impl Fn(&mut V, &SessionReading) + Sync,
    );
}

impl<T: TenantTag, S: Lifecycle> SessionSource for [SessionHandle<T, S>] {
    type Tenant = T;
    type State = S;
    #[inline]
    fn for_each_session<F: FnMut(&SessionHandle<T, S>)>(&self, f: F) {
        self.iter().for_each(f)
    }
}

impl<T: TenantTag, S: Lifecycle, const N: usize> SessionSource for [SessionHandle<T, S>; N] {
    type Tenant = T;
    type State = S;
    #[inline]
    fn for_each_session<F: FnMut(&SessionHandle<T, S>)>(&self, f: F) {
        self.iter().for_each(f)
    }
}

impl<T: TenantTag, S: Lifecycle> SessionSource for Vec<SessionHandle<T, S>> {
    type Tenant = T;
    type State = S;
    #[inline]
    fn for_each_session<F: FnMut(&SessionHandle<T, S>)>(&self, f: F) {
        self.iter().for_each(f)
    }
}

impl<X: SessionSource + ?Sized> SessionSource for &X {
    type Tenant = X::Tenant;
    type State = X::State;
    #[inline]
    fn for_each_session<F: FnMut(&SessionHandle<X::Tenant, X::State>)>(&self, f: F) {
        (**self).for_each_session(f)
    }
    #[inline]
    fn for_each_reading<F: FnMut(&SessionReading)>(&self, now_nanos: u64, f: F) {
        (**self).for_each_reading(now_nanos, f)
    }
    fn coverage(&self) -> Coverage {
        (**self).coverage()
    }
}

/// A source made of a closure that visits `SessionHandle<(), AnyState>`s (what a session
/// table hands out); see [`from_fn`].
#[derive(Clone, Copy)]
pub struct FromFn<G>(G);

/// A source from a closure that calls its argument once per session.
///
/// Each visit goes through one dynamic call; a wrapper type implementing [`SessionSource`]
/// directly (see the [module docs](self)) avoids it.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_aggregate::{source, SessionAggregator};
/// use autonomic_core::{marker::AnyState, CaseId, KnowledgeBase, SessionHandle, TenantId};
///
/// let held: Vec<SessionHandle<(), AnyState>> =
///     (0..3).map(|_| SessionHandle::new(CaseId::new(), TenantId::new()).erased()).collect();
/// let src = source::from_fn(|visit| held.iter().for_each(|h| visit(h)));
/// let m = SessionAggregator::new(Arc::new(KnowledgeBase::new())).aggregate_source(&src);
/// assert_eq!(m.created_sessions, 3);
/// ```
pub fn from_fn<G>(visit_all: G) -> FromFn<G>
where
    G: Fn(&mut dyn FnMut(&SessionHandle<(), AnyState>)),
{
    FromFn(visit_all)
}

impl<G> SessionSource for FromFn<G>
where
    G: Fn(&mut dyn FnMut(&SessionHandle<(), AnyState>)),
{
    type Tenant = ();
    type State = AnyState;
    fn for_each_session<F: FnMut(&SessionHandle<(), AnyState>)>(&self, mut f: F) {
        (self.0)(&mut f)
    }
}

impl<G> fmt::Debug for FromFn<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromFn(..)")
    }
}

/// A source made of a cloneable iterator of borrowed handles; see [`from_iter`].
#[derive(Clone, Debug)]
pub struct FromIter<I>(I);

/// A source from a re-iterable collection or iterator of borrowed handles (it is cloned
/// for each pass), for example `map.values()`.
///
/// ```
/// use std::{collections::HashMap, sync::Arc};
/// use autonomic_aggregate::{source, SessionAggregator};
/// use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
///
/// let mut by_id = HashMap::new();
/// for _ in 0..4 {
///     let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
///     by_id.insert(h.id(), h);
/// }
/// let aggregator = SessionAggregator::new(Arc::new(KnowledgeBase::new()));
/// let m = aggregator.aggregate_source(&source::from_iter(by_id.values()));
/// assert_eq!(m.active_sessions, 4);
/// ```
pub fn from_iter<I: IntoIterator + Clone>(iter: I) -> FromIter<I> {
    FromIter(iter)
}

impl<'a, I, T, S> SessionSource for FromIter<I>
where
    I: IntoIterator<Item = &'a SessionHandle<T, S>> + Clone,
    T: TenantTag,
    S: Lifecycle,
{
    type Tenant = T;
    type State = S;
    fn for_each_session<F: FnMut(&SessionHandle<T, S>)>(&self, f: F) {
        self.0.clone().into_iter().for_each(f)
    }
}

/// A source declared to hold every session there is; see [`whole`].
#[derive(Clone, Copy, Debug)]
pub struct Whole<S>(S);

/// Declares `source` to hold every session there is ([`Coverage::All`]): its aggregates,
/// once published, become the knowledge the doctrine gate reads. For a collection of handles
/// the caller knows to be complete (a table's own visit is `All` already).
///
/// ```
/// use std::sync::Arc;
/// use autonomic_aggregate::{source, SessionAggregator};
/// use autonomic_core::{CaseId, Coverage, KnowledgeBase, SessionHandle, TenantId};
///
/// let kb = Arc::new(KnowledgeBase::new());
/// let aggregator = SessionAggregator::new(kb.clone());
/// let h = SessionHandle::new(CaseId::new(), TenantId::new()).start()?;
/// let all = vec![h.erased()];
/// h.fail()?;
/// aggregator.aggregate_and_publish(&all); // a selection: recorded, not what the gate reads
/// assert_eq!(kb.current().failure_rate, 0.0);
/// aggregator.aggregate_and_publish(&source::whole(&all));
/// assert_eq!((kb.current().coverage, kb.current().failure_rate), (Coverage::All, 1.0));
/// # Ok::<(), autonomic_core::TransitionError>(())
/// ```
pub fn whole<S: SessionSource>(source: S) -> Whole<S> {
    Whole(source)
}

impl<S: SessionSource> SessionSource for Whole<S> {
    type Tenant = S::Tenant;
    type State = S::State;
    #[inline]
    fn for_each_session<F: FnMut(&SessionHandle<S::Tenant, S::State>)>(&self, f: F) {
        self.0.for_each_session(f)
    }
    #[inline]
    fn for_each_reading<F: FnMut(&SessionReading)>(&self, now_nanos: u64, f: F) {
        self.0.for_each_reading(now_nanos, f)
    }
    fn coverage(&self) -> Coverage {
        Coverage::All
    }
}
