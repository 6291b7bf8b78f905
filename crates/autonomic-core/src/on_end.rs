//! [`OnEnd`]: actions that run once when a session ends, however it ends.
//!
//! One atomic pointer word per session holds a push-only list of type-erased actions, newest
//! first. Attaching publishes a fully built node with a compare-and-swap. Ending swaps in
//! the `CLOSED` sentinel: the one swap that sees a list (not `CLOSED`) owns it and runs every
//! action in it, oldest first, exactly once. An attach that finds `CLOSED` runs its action at
//! once, on the attaching thread. Who ends a session:
//!
//! * the winner of the terminal compare-and-swap (`complete`, `fail`, `cancel`, from any
//!   handle: its owner's, a table's, an observer's), right after it wins;
//! * the drop of the session's shared state, for a session whose last handle went away before
//!   it finished (nothing else can end it then).
//!
//! A session that never gets an action (most) pays one null pointer: nothing is allocated,
//! and ending it is one load of that word and one swap. An action that panics does not stop
//! the others: they all run, then the first panic goes on unwinding.
//! `on_end/tests/loom_on_end.rs` model-checks the protocol.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

use crate::sync::{AtomicPtr, Ordering};

/// An end action, type-erased.
type Action = Box<dyn FnOnce() + Send + 'static>;

/// One action and the actions attached before it. Immutable once published.
struct Node {
    action: Action,
    older: *mut Node,
}

/// The sentinel of an ended session: never a node's address (nodes are 8-aligned boxes).
fn closed() -> *mut Node {
    ptr::without_provenance_mut(1)
}

/// The end actions of one session (see the module docs).
pub(crate) struct OnEnd {
    newest: AtomicPtr<Node>,
}

impl OnEnd {
    /// No action, not ended.
    pub(crate) fn new() -> Self {
        OnEnd { newest: AtomicPtr::new(ptr::null_mut()) }
    }

    /// Runs `action` once when the session ends, or now if it has ended already.
    pub(crate) fn attach(&self, action: Action) {
        // Relaxed: a first guess for the compare-and-swap, which re-checks it; `CLOSED` seen
        // here is final (nothing replaces it), so acting on it needs no ordering.
        let mut seen = self.newest.load(Ordering::Relaxed);
        let mut node = Box::new(Node { action, older: ptr::null_mut() });
        loop {
            if seen == closed() {
                (node.action)();
                return;
            }
            node.older = seen;
            let raw = Box::into_raw(node);
            // Release on success: publishes the node's fields to the closer, which swaps with
            // Acquire. Relaxed on failure: the value seen is only compared again.
            match self.newest.compare_exchange_weak(seen, raw, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => {
                    // SAFETY: `raw` came from `Box::into_raw` just above and was not
                    // published (the exchange failed), so this is its only owner.
                    node = unsafe { Box::from_raw(raw) };
                    seen = now;
                }
            }
        }
    }

    /// Ends the list: runs every action attached so far, oldest first, the first time it is
    /// called; does nothing after that. Returns the number of actions run.
    pub(crate) fn close(&self) -> usize {
        // Relaxed: a session without actions (the common case) stays null until it is
        // closed, and a second close finds `CLOSED`; either way there is nothing to read.
        let current = self.newest.load(Ordering::Relaxed);
        if current == closed() {
            return 0;
        }
        // Acquire: pairs with the Release of every attach's compare-and-swap (each node was
        // published by one), so the nodes' fields are visible. Release: not needed by any
        // reader, but AcqRel keeps the one RMW that ends the list simple to reason about.
        let list = self.newest.swap(closed(), Ordering::AcqRel);
        if list == closed() {
            return 0;
        }
        // SAFETY: `list` is null or the newest node of a chain published by `attach`; the
        // swap took the chain out of the shared word, so this thread is its only owner.
        unsafe { run_chain(list) }
    }
}

/// Runs a chain of nodes, oldest first, freeing each; returns how many ran. An action that
/// panics does not stop the others: the first panic is resumed once all have run (unless
/// the thread is already unwinding, when it is dropped: a second panic would abort).
///
/// # Safety
/// `newest` is null or the head of a chain of nodes made by `Box::into_raw`, owned by the
/// caller and reachable from nowhere else.
unsafe fn run_chain(newest: *mut Node) -> usize {
    // Reverse the chain (newest first -> oldest first), so actions run in attach order.
    let mut oldest = ptr::null_mut::<Node>();
    let mut cursor = newest;
    while !cursor.is_null() {
        // SAFETY: the caller owns every node of the chain; each is visited once.
        let node = unsafe { &mut *cursor };
        let older = node.older;
        node.older = oldest;
        oldest = cursor;
        cursor = older;
    }
    let mut ran = 0;
    let mut first_panic = None;
    while !oldest.is_null() {
        // SAFETY: `oldest` is a node of the reversed chain, not yet freed; it is rebuilt
        // into its box once and the cursor moves past it.
        let node = unsafe { Box::from_raw(oldest) };
        oldest = node.older;
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(node.action)) {
            first_panic.get_or_insert(panic);
        }
        ran += 1;
    }
    if let Some(panic) = first_panic
        && !std::thread::panicking()
    {
        panic::resume_unwind(panic);
    }
    ran
}

impl Drop for OnEnd {
    /// The session's shared state goes away: if it never ended, it ends now.
    fn drop(&mut self) {
        // Exclusive access: a plain read and write of the word, no atomic RMW (a table's
        // cleanup drops sessions by the hundred thousand).
        let list = take_exclusive(&mut self.newest);
        if list != closed() {
            // SAFETY: as in `close`: the chain was published by `attach`, and with `&mut self`
            // nobody else can reach it.
            unsafe { run_chain(list) };
        }
    }
}

/// Replaces the word with `CLOSED` through exclusive access; the value it held.
#[cfg(not(autonomic_loom))]
fn take_exclusive(word: &mut AtomicPtr<Node>) -> *mut Node {
    std::mem::replace(word.get_mut(), closed())
}

/// Replaces the word with `CLOSED` through exclusive access; the value it held.
#[cfg(autonomic_loom)]
fn take_exclusive(word: &mut AtomicPtr<Node>) -> *mut Node {
    word.with_mut(|p| std::mem::replace(p, closed()))
}

impl fmt::Debug for OnEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a diagnostic.
        let word = self.newest.load(Ordering::Relaxed);
        let state = if word == closed() {
            "closed"
        } else if word.is_null() {
            "empty"
        } else {
            "pending"
        };
        f.debug_tuple("OnEnd").field(&state).finish()
    }
}

// SAFETY: the nodes behind the pointer hold `Send` actions and are handed from the
// attaching thread to the closing one through the word's Release/Acquire; no `&Node` is
// shared between threads (only the closer, owning the chain, touches the nodes).
unsafe impl Send for OnEnd {}
// SAFETY: see `Send`: shared access is only the atomic word's operations.
unsafe impl Sync for OnEnd {}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counter() -> (Arc<AtomicUsize>, impl Fn() -> Action) {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        (count, move || {
            let c = c.clone();
            Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            })
        })
    }

    #[test]
    fn actions_run_once_at_close_or_at_once_after_it() {
        let (count, action) = counter();
        let hook = OnEnd::new();
        hook.attach(action());
        hook.attach(action());
        assert_eq!(count.load(Ordering::SeqCst), 0);
        assert_eq!(hook.close(), 2);
        assert_eq!(hook.close(), 0);
        assert_eq!(count.load(Ordering::SeqCst), 2);
        hook.attach(action()); // already ended: runs now
        assert_eq!(count.load(Ordering::SeqCst), 3);
        drop(hook);
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn actions_run_in_attach_order() {
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hook = OnEnd::new();
        for i in 0..4 {
            let order = order.clone();
            hook.attach(Box::new(move || order.lock().unwrap().push(i)));
        }
        hook.close();
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn drop_runs_what_close_did_not() {
        let (count, action) = counter();
        let hook = OnEnd::new();
        hook.attach(action());
        drop(hook);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_action_does_not_stop_the_others() {
        let (count, action) = counter();
        let hook = OnEnd::new();
        hook.attach(action());
        hook.attach(Box::new(|| panic!("end action failed")));
        hook.attach(action());
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook.close()));
        assert!(caught.is_err());
        // Both others ran; the panic came out once they had.
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert_eq!(hook.close(), 0);
    }
}

#[cfg(all(test, autonomic_loom))]
mod tests {
    mod loom_on_end;
}
