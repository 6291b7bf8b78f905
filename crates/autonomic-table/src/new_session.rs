//! [`NewSession`]: a session just registered in a table, before it starts.

use std::fmt;
use std::ops::Deref;

use autonomic_core::{
    MetadataError, SessionHandle, TenantTag, TransitionError,
    marker::{Active, Cancelled, Created},
};

use crate::SessionTable;

/// A session registered in a table, in the `Created` state: set its pattern and tags here
/// (the table's indexes are updated at the same time), then [`start`](Self::start) it.
///
/// It owns the session's only `Created` handle (which is not `Clone`), so nobody else can
/// start the session or change its pattern behind the table's back; it dereferences to that
/// handle for reads (`id()`, `pattern()`, `context()`, ...).
///
/// Dropping a `NewSession` without starting it cancels the session, so that an abandoned
/// session ends and [`cleanup`](SessionTable::cleanup_terminal_sessions) can reclaim it.
///
/// ```
/// use autonomic_core::{CaseId, SessionState, TenantId};
/// use autonomic_table::SessionTable;
///
/// let table = SessionTable::new();
/// let new = table.create_session(CaseId::new(), TenantId::new())
///     .with_pattern(42)
///     .with_tag("high-priority")?;
/// assert_eq!(new.pattern(), Some(42));
/// assert!(table.contains(&new.id())); // registered before it starts
/// assert_eq!(table.sessions_by_pattern(42)[0].id(), new.id());
///
/// let handle = new.start()?;
/// assert_eq!(handle.state(), SessionState::Active);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a NewSession cancels the session; call `start()`"]
pub struct NewSession<'t, T: TenantTag = ()> {
    table: &'t SessionTable,
    /// Always `Some` while the value exists; taken only by the consuming methods and `Drop`.
    handle: Option<SessionHandle<T, Created>>,
}

impl<'t, T: TenantTag> NewSession<'t, T> {
    pub(crate) fn new(table: &'t SessionTable, handle: SessionHandle<T, Created>) -> Self {
        NewSession { table, handle: Some(handle) }
    }

    fn take(&mut self) -> SessionHandle<T, Created> {
        match self.handle.take() {
            Some(h) => h,
            None => unreachable!("a NewSession holds its handle until it is consumed"),
        }
    }

    /// Sets the workflow pattern: the session and the table's pattern index change together,
    /// so [`SessionTable::sessions_by_pattern`] finds it from now on. Setting another pattern
    /// later moves it.
    pub fn with_pattern(mut self, pattern: u8) -> Self {
        let handle = self.take();
        self.handle = Some(self.table.set_pattern(handle, pattern));
        self
    }

    /// Adds a tag (see [`Tag`](autonomic_core::Tag) for the limits).
    ///
    /// Tags often come from outside the process, so they are validated, and this returns a
    /// `Result` to chain with `?` (`.with_pattern(42).with_tag("high-priority")?`).
    ///
    /// # Errors
    /// [`MetadataError`] if the tag is empty or longer than
    /// [`Tag::MAX_LEN`](autonomic_core::Tag::MAX_LEN) bytes, or if the session has
    /// [`Tag::MAX_PER_SESSION`](autonomic_core::Tag::MAX_PER_SESSION) tags already. A refused
    /// tag consumes the `NewSession` like a drop does: the session is cancelled.
    pub fn with_tag(mut self, tag: impl AsRef<str>) -> Result<Self, MetadataError> {
        let handle = self.take();
        let id = handle.id();
        match handle.with_tag(tag) {
            Ok(handle) => {
                self.handle = Some(handle);
                Ok(self)
            }
            Err(e) => {
                // The handle is gone with the error; cancel the session through the table.
                // Only an outside cancel can have ended it first, and then it is ended anyway.
                let _ = self.table.abandon(id);
                Err(e)
            }
        }
    }

    /// `Created -> Active`. Fails only if another holder cancelled the session first.
    pub fn start(mut self) -> Result<SessionHandle<T, Active>, TransitionError> {
        self.take().start()
    }

    /// `Created -> Cancelled`: the session never runs (it stays listed until removed or
    /// cleaned up).
    pub fn cancel(mut self) -> Result<SessionHandle<T, Cancelled>, TransitionError> {
        self.take().cancel()
    }

    /// The table the session is registered in.
    pub fn table(&self) -> &'t SessionTable {
        self.table
    }
}

impl<T: TenantTag> Deref for NewSession<'_, T> {
    type Target = SessionHandle<T, Created>;

    fn deref(&self) -> &Self::Target {
        match &self.handle {
            Some(h) => h,
            None => unreachable!("a NewSession holds its handle until it is consumed"),
        }
    }
}

impl<T: TenantTag> Drop for NewSession<'_, T> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // Fails only if another holder already ended it; either way it has ended.
            let _ = handle.cancel();
        }
    }
}

impl<T: TenantTag> fmt::Debug for NewSession<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession").field("handle", &self.handle).finish()
    }
}
