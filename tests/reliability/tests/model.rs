//! Model-based property test of the session table.
//!
//! proptest generates random sequences of operations (create with a tenant from a small set,
//! an optional pattern and tags, start, record, mark adapted, complete, fail, cancel by the
//! owner and from outside, advance the clock, clean up, remove by id and through a tenant
//! view) and applies each one both to a [`SessionTable`] on a [`ManualClock`] and to a plain
//! sequential model: a `Vec` of sessions with their state, times, counters and membership.
//! After every step it checks everything the table's public API shows against the model:
//! counts, per-tenant counts, unique tenants, the tenant and pattern indexes, each session's
//! state, times, counters, pattern and tags, `stats()`, and the result (or error) of the step
//! itself.
//!
//! `PROPTEST_CASES` raises the number of cases (default 256, a few seconds in debug).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use autonomic_core::{
    CaseId, ClockHandle, ManualClock, MetadataError, SessionHandle, SessionId, SessionState,
    StaticTenant, Tag, TenantId, TransitionError, static_tenant,
};
use autonomic_table::{NewSession, SessionTable, TableError, TableStats};
use proptest::prelude::*;

static_tenant!(T0 = 0xA0);
static_tenant!(T1 = 0xA1);
static_tenant!(T2 = 0xA2);
const TENANTS: [TenantId; 3] = [T0::TENANT, T1::TENANT, T2::TENANT];
/// Patterns used: few, so that sets share members and moves happen.
const PATTERNS: u8 = 4;
const TAGS: [&str; 3] = ["high-priority", "batch", "eu-west"];

/// Picks an element of whatever collection it is applied to (shrinks towards the first).
#[derive(Debug, Clone, Copy)]
struct Pick(usize);

impl Pick {
    fn index(self, len: usize) -> usize {
        self.0 % len
    }
}

fn pick() -> impl Strategy<Value = Pick> {
    (0usize..1024).prop_map(Pick)
}

#[derive(Debug, Clone)]
enum TagChoice {
    Known(usize),
    Empty,
    TooLong,
}

#[derive(Debug, Clone)]
enum Op {
    /// Create; set `pattern`, then `repattern` (a move), then the tags, in that order.
    Create {
        tenant: usize,
        pattern: Option<u8>,
        repattern: Option<u8>,
        tags: Vec<TagChoice>,
    },
    /// Start a pending (`Created`) session.
    Start(Pick),
    /// Drop a pending session's `NewSession` (cancels it).
    DropPending(Pick),
    /// `NewSession::cancel`.
    CancelPending(Pick),
    /// Record on an owned `Active` handle: 0 = task, 1 = retry, 2 = violation.
    Record {
        who: Pick,
        kind: u8,
        us: u64,
    },
    MarkAdapted(Pick),
    Complete(Pick),
    Fail(Pick),
    CancelOwner(Pick),
    /// Cancel any session ever created, through `table.get(id)` (from outside).
    CancelExternal(Pick),
    /// Fail any session ever created, from outside.
    FailExternal(Pick),
    /// Advance the clock by this many milliseconds.
    Advance(u64),
    /// `cleanup_terminal_sessions_with(older_than = this many ms)`.
    Cleanup(u64),
    /// `table.remove(id)` of any session ever created.
    Remove(Pick),
    /// Remove through tenant `view`'s typed view.
    RemoveViaView {
        who: Pick,
        view: usize,
    },
}

fn tag_choice() -> impl Strategy<Value = TagChoice> {
    prop_oneof![
        8 => (0..TAGS.len()).prop_map(TagChoice::Known),
        1 => Just(TagChoice::Empty),
        1 => Just(TagChoice::TooLong),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let pattern = proptest::option::of(0..PATTERNS);
    prop_oneof![
        6 => (0..TENANTS.len(), pattern.clone(), proptest::option::weighted(0.2, 0..PATTERNS),
              proptest::collection::vec(tag_choice(), 0..3))
            .prop_map(|(tenant, pattern, repattern, tags)| Op::Create { tenant, pattern, repattern, tags }),
        5 => pick().prop_map(Op::Start),
        1 => pick().prop_map(Op::DropPending),
        1 => pick().prop_map(Op::CancelPending),
        4 => (pick(), 0u8..3, 0u64..5_000).prop_map(|(who, kind, us)| Op::Record { who, kind, us }),
        2 => pick().prop_map(Op::MarkAdapted),
        2 => pick().prop_map(Op::Complete),
        1 => pick().prop_map(Op::Fail),
        1 => pick().prop_map(Op::CancelOwner),
        1 => pick().prop_map(Op::CancelExternal),
        1 => pick().prop_map(Op::FailExternal),
        2 => (0u64..3_000).prop_map(Op::Advance),
        2 => (0u64..3_000).prop_map(Op::Cleanup),
        1 => pick().prop_map(Op::Remove),
        1 => (pick(), 0..TENANTS.len()).prop_map(|(who, view)| Op::RemoveViaView { who, view }),
    ]
}

/// One session as the model sees it.
#[derive(Debug, Clone)]
struct Modeled {
    id: SessionId,
    tenant: usize,
    pattern: Option<u8>,
    tags: Vec<&'static str>,
    state: SessionState,
    started_at: Option<u64>,
    ended_at: Option<u64>,
    in_table: bool,
    tasks: u64,
    latency_us: u64,
    retries: u64,
    violations: u64,
    adaptations: u64,
}

#[derive(Debug, Default)]
struct Model {
    /// Every session ever created, in creation order.
    sessions: Vec<Modeled>,
    /// The clock, nanoseconds.
    now: u64,
}

impl Model {
    /// The model's answer to a transition from `from` to `to` on session `i`: the state it
    /// replaces, or the error the table must give.
    fn transition(
        &mut self,
        i: usize,
        from: &[SessionState],
        to: SessionState,
    ) -> Result<SessionState, TransitionError> {
        let now = self.now;
        let s = &mut self.sessions[i];
        if !from.contains(&s.state) {
            return Err(TransitionError { session: s.id, found: s.state, attempted: to });
        }
        let previous = s.state;
        s.state = to;
        if to == SessionState::Active {
            s.started_at = Some(now);
        }
        if to.is_terminal() {
            s.ended_at = Some(now);
        }
        Ok(previous)
    }

    fn expected_stats(&self) -> TableStats {
        let mut st = TableStats::default();
        let mut tenants = BTreeSet::new();
        for s in self.sessions.iter().filter(|s| s.in_table) {
            st.total_sessions += 1;
            tenants.insert(s.tenant);
            match s.state {
                SessionState::Created => st.created_sessions += 1,
                SessionState::Active | SessionState::Adapted => st.active_sessions += 1,
                SessionState::Completed => st.completed_sessions += 1,
                SessionState::Failed => st.failed_sessions += 1,
                SessionState::Cancelled => st.cancelled_sessions += 1,
            }
        }
        st.unique_tenants = tenants.len();
        st
    }
}

const RUNNING: &[SessionState] = &[SessionState::Active, SessionState::Adapted];
const CANCELLABLE: &[SessionState] =
    &[SessionState::Created, SessionState::Active, SessionState::Adapted];

/// The table and everything the test holds of it.
struct World<'t> {
    table: &'t SessionTable,
    clock: &'t ManualClock,
    model: Model,
    /// `(model index, NewSession)` of sessions not started yet.
    pending: Vec<(usize, NewSession<'t>)>,
    /// `(model index, owner's Active handle)` of started sessions whose owner has not
    /// finished them.
    owned: Vec<(usize, SessionHandle)>,
}

fn ids(handles: &[SessionHandle<(), autonomic_core::marker::AnyState>]) -> BTreeSet<SessionId> {
    let set: BTreeSet<_> = handles.iter().map(|h| h.id()).collect();
    assert_eq!(set.len(), handles.len(), "a list holds one session twice");
    set
}

fn check_transition<T>(
    real: Result<T, TransitionError>,
    model: Result<SessionState, TransitionError>,
    what: &str,
) {
    match (real, model) {
        (Ok(_), Ok(_)) => {}
        (Err(r), Err(m)) => assert_eq!(r, m, "{what}: wrong error"),
        (Ok(_), Err(m)) => panic!("{what}: the table allowed it, the model refuses: {m}"),
        (Err(r), Ok(_)) => panic!("{what}: the table refused it ({r}), the model allows it"),
    }
}

impl<'t> World<'t> {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Create { tenant, pattern, repattern, tags } => {
                self.create(*tenant, *pattern, *repattern, tags)
            }
            Op::Start(i) => {
                if self.pending.is_empty() {
                    return;
                }
                let (m, new) = self.pending.swap_remove(i.index(self.pending.len()));
                let expected =
                    self.model.transition(m, &[SessionState::Created], SessionState::Active);
                let real = new.start();
                if let Ok(handle) = &real {
                    assert_eq!(handle.id(), self.model.sessions[m].id);
                }
                let keep = real.as_ref().ok().cloned();
                check_transition(real, expected, "start");
                if let Some(handle) = keep {
                    self.owned.push((m, handle));
                }
            }
            Op::DropPending(i) => {
                if self.pending.is_empty() {
                    return;
                }
                let (m, new) = self.pending.swap_remove(i.index(self.pending.len()));
                // Dropping cancels it, unless someone ended it first.
                let _ = self.model.transition(m, &[SessionState::Created], SessionState::Cancelled);
                drop(new);
            }
            Op::CancelPending(i) => {
                if self.pending.is_empty() {
                    return;
                }
                let (m, new) = self.pending.swap_remove(i.index(self.pending.len()));
                let expected =
                    self.model.transition(m, &[SessionState::Created], SessionState::Cancelled);
                check_transition(new.cancel(), expected, "NewSession::cancel");
            }
            Op::Record { who, kind, us } => {
                if self.owned.is_empty() {
                    return;
                }
                let (m, h) = &self.owned[who.index(self.owned.len())];
                let s = &mut self.model.sessions[*m];
                match kind {
                    0 => {
                        h.record_task_execution(Duration::from_micros(*us));
                        s.tasks += 1;
                        s.latency_us += us;
                    }
                    1 => {
                        h.record_retry();
                        s.retries += 1;
                    }
                    _ => {
                        h.record_violation();
                        s.violations += 1;
                    }
                }
            }
            Op::MarkAdapted(i) => {
                if self.owned.is_empty() {
                    return;
                }
                let (m, h) = &self.owned[i.index(self.owned.len())];
                let m = *m;
                let expected = self.model.transition(m, RUNNING, SessionState::Adapted);
                if expected.is_ok() {
                    self.model.sessions[m].adaptations += 1;
                }
                check_transition(h.mark_adapted(), expected, "mark_adapted");
            }
            Op::Complete(i) | Op::Fail(i) | Op::CancelOwner(i) => {
                if self.owned.is_empty() {
                    return;
                }
                let (m, h) = self.owned.swap_remove(i.index(self.owned.len()));
                let (to, real) = match op {
                    Op::Complete(_) => (SessionState::Completed, h.complete().map(drop)),
                    Op::Fail(_) => (SessionState::Failed, h.fail().map(drop)),
                    _ => (SessionState::Cancelled, h.cancel().map(drop)),
                };
                let expected = self.model.transition(m, RUNNING, to);
                check_transition(real, expected, "owner's terminal transition");
            }
            Op::CancelExternal(i) | Op::FailExternal(i) => {
                if self.model.sessions.is_empty() {
                    return;
                }
                let m = i.index(self.model.sessions.len());
                let id = self.model.sessions[m].id;
                let Some(handle) = self.get_checked(m) else { return };
                if matches!(op, Op::CancelExternal(_)) {
                    let expected = self.model.transition(m, CANCELLABLE, SessionState::Cancelled);
                    check_transition(handle.cancel(), expected, "external cancel");
                } else {
                    let expected = self.model.transition(m, RUNNING, SessionState::Failed);
                    check_transition(handle.fail(), expected, "external fail");
                }
                assert_eq!(
                    self.table.get(&id).map(|h| h.state()),
                    Ok(self.model.sessions[m].state)
                );
            }
            Op::Advance(ms) => {
                self.clock.advance(Duration::from_millis(*ms));
                self.model.now += ms * 1_000_000;
            }
            Op::Cleanup(ms) => {
                let older = Duration::from_millis(*ms);
                let now = self.model.now;
                let mut expected = BTreeSet::new();
                for s in &mut self.model.sessions {
                    let old_enough =
                        s.ended_at.is_some_and(|end| now - end >= older.as_nanos() as u64);
                    if s.in_table && s.state.is_terminal() && old_enough {
                        s.in_table = false;
                        expected.insert(s.id);
                    }
                }
                let mut removed = Vec::new();
                let n = self.table.cleanup_terminal_sessions_with(older, |id| removed.push(id));
                assert_eq!(n, removed.len(), "cleanup's count and its reported ids differ");
                assert_eq!(ids_of(&removed), expected, "cleanup removed other sessions");
            }
            Op::Remove(i) => {
                if self.model.sessions.is_empty() {
                    return;
                }
                let m = i.index(self.model.sessions.len());
                let s = &mut self.model.sessions[m];
                match self.table.remove(&s.id) {
                    Ok(h) => {
                        assert!(s.in_table, "removed a session the model had already removed");
                        assert_eq!(h.id(), s.id);
                        s.in_table = false;
                    }
                    Err(e) => {
                        assert!(!s.in_table, "remove refused a session in the table: {e}");
                        assert_eq!(e, TableError::NotFound { id: s.id });
                    }
                }
            }
            Op::RemoveViaView { who, view } => {
                if self.model.sessions.is_empty() {
                    return;
                }
                let m = who.index(self.model.sessions.len());
                let s = &mut self.model.sessions[m];
                let real = match view {
                    0 => self.table.tenant::<T0>().remove(&s.id).map(|h| h.id()),
                    1 => self.table.tenant::<T1>().remove(&s.id).map(|h| h.id()),
                    _ => self.table.tenant::<T2>().remove(&s.id).map(|h| h.id()),
                };
                match real {
                    Ok(id) => {
                        assert!(s.in_table && s.tenant == *view, "view {view} removed {s:?}");
                        assert_eq!(id, s.id);
                        s.in_table = false;
                    }
                    Err(TableError::NotFound { id }) => {
                        assert!(!s.in_table, "view {view}: NotFound for a session in the table");
                        assert_eq!(id, s.id);
                    }
                    Err(TableError::WrongTenant(e)) => {
                        assert!(
                            s.in_table && s.tenant != *view,
                            "view {view}: WrongTenant for {s:?}"
                        );
                        assert_eq!((e.found, e.expected), (TENANTS[s.tenant], TENANTS[*view]));
                    }
                }
            }
        }
    }

    fn create(
        &mut self,
        tenant: usize,
        pattern: Option<u8>,
        repattern: Option<u8>,
        tags: &[TagChoice],
    ) {
        let mut new = self.table.create_session(CaseId::new(), TENANTS[tenant]);
        let m = self.model.sessions.len();
        self.model.sessions.push(Modeled {
            id: new.id(),
            tenant,
            pattern: None,
            tags: Vec::new(),
            state: SessionState::Created,
            started_at: None,
            ended_at: None,
            in_table: true,
            tasks: 0,
            latency_us: 0,
            retries: 0,
            violations: 0,
            adaptations: 0,
        });
        for p in [pattern, repattern].into_iter().flatten() {
            new = new.with_pattern(p);
            self.model.sessions[m].pattern = Some(p);
        }
        for tag in tags {
            let (text, expected) = match tag {
                TagChoice::Known(i) => (TAGS[*i].to_string(), None),
                TagChoice::Empty => (String::new(), Some(MetadataError::EmptyTag)),
                TagChoice::TooLong => (
                    "x".repeat(Tag::MAX_LEN + 1),
                    Some(MetadataError::TagTooLong { len: Tag::MAX_LEN + 1, max: Tag::MAX_LEN }),
                ),
            };
            match (new.with_tag(&text), expected) {
                (Ok(n), None) => {
                    new = n;
                    let tags = &mut self.model.sessions[m].tags;
                    if let TagChoice::Known(i) = tag
                        && !tags.contains(&TAGS[*i])
                    {
                        tags.push(TAGS[*i]);
                    }
                }
                (Err(e), Some(want)) => {
                    assert_eq!(e, want);
                    // A refused tag consumes the NewSession: the session is cancelled.
                    let _ =
                        self.model.transition(m, &[SessionState::Created], SessionState::Cancelled);
                    return;
                }
                (real, want) => {
                    panic!("tag {text:?}: got {:?}, expected error {want:?}", real.err())
                }
            }
        }
        self.pending.push((m, new));
    }

    /// `table.get` of model session `m`, checked against the model.
    fn get_checked(&self, m: usize) -> Option<SessionHandle<(), autonomic_core::marker::AnyState>> {
        let s = &self.model.sessions[m];
        match self.table.get(&s.id) {
            Ok(h) => {
                assert!(s.in_table, "get found a removed session {s:?}");
                Some(h)
            }
            Err(e) => {
                assert!(!s.in_table, "get lost a session: {e}, {s:?}");
                assert_eq!(e, TableError::NotFound { id: s.id });
                None
            }
        }
    }

    /// Everything the public API shows, against the model.
    fn check(&self) {
        let (t, model) = (self.table, &self.model);
        let live: Vec<&Modeled> = model.sessions.iter().filter(|s| s.in_table).collect();

        assert_eq!(t.total_sessions(), live.len(), "total_sessions");
        assert_eq!(t.is_empty(), live.is_empty());
        assert_eq!(t.stats(), model.expected_stats(), "stats()");
        assert_eq!(ids(&t.sessions()), live.iter().map(|s| s.id).collect(), "sessions()");

        // Tenants.
        let mut by_tenant: BTreeMap<usize, BTreeSet<SessionId>> = BTreeMap::new();
        for s in &live {
            by_tenant.entry(s.tenant).or_default().insert(s.id);
        }
        assert_eq!(t.tenant_count(), by_tenant.len(), "tenant_count");
        let mut listed = BTreeMap::new();
        t.for_each_tenant(|tenant, n| assert!(listed.insert(tenant, n).is_none()));
        let expected_listed: BTreeMap<TenantId, usize> =
            by_tenant.iter().map(|(i, s)| (TENANTS[*i], s.len())).collect();
        assert_eq!(listed, expected_listed, "for_each_tenant");
        for (i, tenant) in TENANTS.iter().enumerate() {
            let want = by_tenant.get(&i).cloned().unwrap_or_default();
            assert_eq!(t.tenant_session_count(*tenant), want.len(), "tenant_session_count({i})");
            assert_eq!(ids(&t.sessions_by_tenant(*tenant)), want, "sessions_by_tenant({i})");
            let mut visited = BTreeSet::new();
            t.for_each_in_tenant(*tenant, |h| assert!(visited.insert(h.id())));
            assert_eq!(visited, want, "for_each_in_tenant({i})");
        }
        assert_eq!(t.tenant::<T1>().session_count(), by_tenant.get(&1).map_or(0, BTreeSet::len));
        assert_eq!(t.tenant_session_count(TenantId::from_u128(0xBAD)), 0);

        // Patterns (all 256 counts, so a stray member anywhere shows).
        let mut by_pattern: BTreeMap<u8, BTreeSet<SessionId>> = BTreeMap::new();
        for s in &live {
            if let Some(p) = s.pattern {
                by_pattern.entry(p).or_default().insert(s.id);
            }
        }
        for p in 0..=u8::MAX {
            let want = by_pattern.get(&p).cloned().unwrap_or_default();
            assert_eq!(t.pattern_session_count(p), want.len(), "pattern_session_count({p})");
            if p < PATTERNS {
                assert_eq!(ids(&t.sessions_by_pattern(p)), want, "sessions_by_pattern({p})");
            }
        }

        // Active sessions.
        let active: BTreeSet<SessionId> =
            live.iter().filter(|s| s.state.is_active()).map(|s| s.id).collect();
        assert_eq!(ids(&t.active_sessions()), active, "active_sessions");
        assert_eq!(t.active_session_count(), active.len());

        // Each session, present or not.
        for s in &model.sessions {
            assert_eq!(t.contains(&s.id), s.in_table, "contains({})", s.id);
            let Ok(h) = t.get(&s.id) else {
                assert!(!s.in_table, "get lost {s:?}");
                continue;
            };
            assert!(s.in_table, "get found removed {s:?}");
            let snap = h.snapshot_at(model.now);
            assert_eq!(snap.state, s.state, "state of {s:?}");
            assert_eq!(snap.started_at_ns, s.started_at, "start of {s:?}");
            assert_eq!(snap.ended_at_ns, s.ended_at, "end of {s:?}");
            assert_eq!(
                (snap.task_completions, snap.total_latency_us, snap.retry_count),
                (s.tasks, s.latency_us, s.retries),
                "counters of {s:?}"
            );
            assert_eq!(
                (snap.violation_count, snap.adaptation_count),
                (s.violations, s.adaptations)
            );
            assert_eq!(h.tenant_id(), TENANTS[s.tenant]);
            assert_eq!(h.pattern(), s.pattern, "pattern of {s:?}");
            let tags: Vec<String> = h.context().tags().iter().map(|t| t.to_string()).collect();
            assert_eq!(tags, s.tags, "tags of {s:?}");
        }
    }
}

fn ids_of(v: &[SessionId]) -> BTreeSet<SessionId> {
    let set: BTreeSet<_> = v.iter().copied().collect();
    assert_eq!(set.len(), v.len(), "an id reported twice");
    set
}

fn run(ops: &[Op]) {
    let clock = Arc::new(ManualClock::new());
    let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
    let mut world = World {
        table: &table,
        clock: &clock,
        model: Model::default(),
        pending: Vec::new(),
        owned: Vec::new(),
    };
    world.check();
    for op in ops {
        world.apply(op);
        world.check();
    }
    // Finish everything, clean everything up: the table must come back empty.
    drop(std::mem::take(&mut world.pending));
    for (_, h) in std::mem::take(&mut world.owned) {
        let _ = h.complete();
    }
    let left = table.total_sessions();
    assert_eq!(table.cleanup_terminal_sessions(Duration::ZERO), left);
    assert_eq!(table.stats(), TableStats::default());
    assert!((0..=u8::MAX).all(|p| table.pattern_session_count(p) == 0));
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn table_matches_the_sequential_model(ops in proptest::collection::vec(op(), 1..120)) {
        run(&ops);
    }
}

/// A fixed sequence through every kind of step, so that the model's own bookkeeping is
/// exercised even if proptest's draws were unlucky.
#[test]
fn a_fixed_walk_through_every_step() {
    let first = Pick(0);
    let ops = vec![
        Op::Create {
            tenant: 0,
            pattern: Some(1),
            repattern: Some(2),
            tags: vec![TagChoice::Known(0), TagChoice::Known(0)],
        },
        Op::Create { tenant: 1, pattern: None, repattern: None, tags: vec![TagChoice::Empty] },
        Op::Create { tenant: 2, pattern: Some(3), repattern: None, tags: vec![TagChoice::TooLong] },
        Op::Create { tenant: 1, pattern: Some(0), repattern: None, tags: vec![] },
        Op::Start(first),
        Op::Start(first),
        Op::Record { who: first, kind: 0, us: 1_500 },
        Op::Record { who: first, kind: 1, us: 0 },
        Op::Record { who: first, kind: 2, us: 0 },
        Op::MarkAdapted(first),
        Op::Advance(1_000),
        Op::CancelExternal(first),
        Op::MarkAdapted(first),
        Op::Complete(first),
        Op::Cleanup(2_000),
        Op::Advance(2_000),
        Op::Cleanup(2_000),
        Op::RemoveViaView { who: first, view: 2 },
        Op::Remove(first),
        Op::FailExternal(first),
        Op::Create { tenant: 2, pattern: None, repattern: None, tags: vec![] },
        Op::DropPending(first),
        Op::Create { tenant: 2, pattern: None, repattern: None, tags: vec![] },
        Op::CancelPending(first),
        Op::Cleanup(0),
    ];
    run(&ops);
}
