//! The doctrine's change feed: a [`tokio::sync::watch`] channel of [`DoctrineRevision`]s that
//! moves on each change of the Q in force, of the shadow, and on each knowledge generation the
//! adapter is told of.
//!
//! # Semantics
//! * **Latest value only.** A watch channel keeps one value: a reader sees the latest
//!   revision, never a queue of them. A slow reader misses intermediate revisions (two Q
//!   changes between two reads are seen as one, with `revision` up by two); it never blocks
//!   the adapter and never grows a buffer. Read what changed from the value itself
//!   (`q_revision`, `knowledge_generation`) or from a fresh
//!   [`doctrine_view`](crate::SessionAdapter::doctrine_view), not from the number of wake-ups.
//! * **What moves it.** [`update_global_q`](crate::SessionAdapter::update_global_q),
//!   [`promote_shadow`](crate::SessionAdapter::promote_shadow),
//!   [`set_shadow`](crate::SessionAdapter::set_shadow) and
//!   [`clear_shadow`](crate::SessionAdapter::clear_shadow) each send one revision;
//!   [`knowledge_published`](crate::SessionAdapter::knowledge_published) sends one when the
//!   knowledge base holds a generation the feed has not announced yet. The adapter does not
//!   watch the knowledge base itself (core has no async and no callbacks): whoever publishes
//!   tells it. The runtime's loop (`autonomic`) does after every publication; a user
//!   publishing by hand calls `knowledge_published` after `publish`.
//! * **Cost.** Sending takes the channel's lock (cold: a Q change, a loop iteration); nothing
//!   on the admission path touches the feed.

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What moved the feed last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoctrineChange {
    /// The adapter was built (the feed's first value).
    Built,
    /// The Q in force was replaced ([`update_global_q`](crate::SessionAdapter::update_global_q)).
    GlobalQ,
    /// A shadow was set (or replaced).
    ShadowSet,
    /// The shadow was cleared.
    ShadowCleared,
    /// The shadow was promoted to the Q in force.
    ShadowPromoted,
    /// A new knowledge generation.
    Knowledge,
    /// The shedding headroom was changed
    /// ([`set_shedding_headroom`](crate::SessionAdapter::set_shedding_headroom)).
    SheddingHeadroom,
}

/// One value of the change feed: counters that say what changed since a value seen before.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::{DoctrineChange, SessionAdapter};
/// use autonomic_core::{GlobalQ, KnowledgeBase};
///
/// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// let mut feed = adapter.doctrine_feed();
/// assert_eq!(feed.borrow_and_update().cause, DoctrineChange::Built);
/// adapter.update_global_q(GlobalQ { max_failure_rate: 0.01, ..GlobalQ::default() })?;
/// assert!(feed.has_changed().unwrap());
/// let seen = *feed.borrow_and_update();
/// assert_eq!((seen.cause, seen.q_revision), (DoctrineChange::GlobalQ, 1));
/// # Ok::<(), autonomic_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctrineRevision {
    /// Changes of any kind since the adapter was built.
    pub revision: u64,
    /// Changes of the Q in force (updates and promotions) since the adapter was built.
    pub q_revision: u64,
    /// Changes of the shadow (set, cleared, promoted).
    pub shadow_revision: u64,
    /// The latest knowledge generation announced.
    pub knowledge_generation: u64,
    /// What moved it last.
    pub cause: DoctrineChange,
}

/// The sending side, owned by the adapter.
#[derive(Debug)]
pub(crate) struct Feed {
    tx: watch::Sender<DoctrineRevision>,
}

impl Feed {
    pub(crate) fn new(knowledge_generation: u64) -> Self {
        let first = DoctrineRevision {
            revision: 0,
            q_revision: 0,
            shadow_revision: 0,
            knowledge_generation,
            cause: DoctrineChange::Built,
        };
        Feed { tx: watch::Sender::new(first) }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<DoctrineRevision> {
        self.tx.subscribe()
    }

    pub(crate) fn latest(&self) -> DoctrineRevision {
        *self.tx.borrow()
    }

    /// Announces a change of the Q or the shadow (`send_modify`: receivers or not).
    pub(crate) fn changed(&self, cause: DoctrineChange) {
        self.tx.send_modify(|r| {
            r.revision += 1;
            if matches!(cause, DoctrineChange::GlobalQ | DoctrineChange::ShadowPromoted) {
                r.q_revision += 1;
            }
            if matches!(
                cause,
                DoctrineChange::ShadowSet
                    | DoctrineChange::ShadowCleared
                    | DoctrineChange::ShadowPromoted
            ) {
                r.shadow_revision += 1;
            }
            r.cause = cause;
        });
    }

    /// Announces `generation` if it is newer than the last announced; whether it was.
    pub(crate) fn knowledge(&self, generation: u64) -> bool {
        self.tx.send_if_modified(|r| {
            let newer = generation > r.knowledge_generation;
            if newer {
                r.revision += 1;
                r.knowledge_generation = generation;
                r.cause = DoctrineChange::Knowledge;
            }
            newer
        })
    }
}
