//! [`TagList`]: a session's tags, as an append-only list that is free to drop when empty.
//!
//! Tags are added only while a session is `Created`, by the owner of its `Created` handle,
//! and may be read by anyone holding the session meanwhile. The list is a chain of
//! immutable nodes, newest first, behind one atomic pointer: adding publishes a fully built
//! node with a compare-and-swap; reading follows the chain; nothing is freed until the list
//! itself is dropped, when nobody can be reading it. So readers need no lock and no
//! reclamation scheme, and a session without tags (most sessions) drops its list by reading
//! one null pointer (see `docs/performance.md` for what it replaced and why).

use std::ptr;

use crate::sync::{AtomicPtr, Ordering};
use crate::{MetadataError, Tag};

/// The tags of one session (see the module docs).
pub(crate) struct TagList {
    newest: AtomicPtr<Node>,
}

/// One tag and the tags added before it. Immutable once published.
struct Node {
    tag: Tag,
    older: *mut Node,
    /// Tags in the chain from here down (this one included).
    len: usize,
}

impl TagList {
    pub(crate) fn new() -> Self {
        TagList { newest: AtomicPtr::new(ptr::null_mut()) }
    }

    /// The tags, newest first.
    fn iter(&self) -> impl Iterator<Item = &Tag> {
        // Acquire: pairs with the Release of the CAS that published the node, so its fields
        // (and those of every older node, published before it) are visible.
        self.iter_from(self.newest.load(Ordering::Acquire))
    }

    /// The tags, in the order they were added.
    pub(crate) fn to_vec(&self) -> Vec<Tag> {
        let mut tags: Vec<Tag> = self.iter().cloned().collect();
        tags.reverse();
        tags
    }

    /// Whether `tag` is in the list.
    pub(crate) fn contains(&self, tag: &str) -> bool {
        self.iter().any(|t| t.as_str() == tag)
    }

    /// Appends `tag` unless it is already there; refuses a tag beyond
    /// [`Tag::MAX_PER_SESSION`].
    pub(crate) fn add(&self, tag: Tag) -> Result<(), MetadataError> {
        // Acquire: see `iter`.
        let mut seen = self.newest.load(Ordering::Acquire);
        let mut node = Box::new(Node { tag, older: ptr::null_mut(), len: 0 });
        loop {
            // SAFETY: as in `iter_from`: `seen` is null or a published node, alive while
            // `self` is.
            let len = unsafe { seen.as_ref() }.map_or(0, |n| n.len);
            if self.iter_from(seen).any(|t| *t == node.tag) {
                return Ok(());
            }
            if len >= Tag::MAX_PER_SESSION {
                return Err(MetadataError::TooManyTags { max: Tag::MAX_PER_SESSION });
            }
            node.older = seen;
            node.len = len + 1;
            let raw = Box::into_raw(node);
            // Release: publishes the node's fields with it (see `iter`). Acquire on failure:
            // the node seen instead is read next.
            match self.newest.compare_exchange(seen, raw, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(now) => {
                    // SAFETY: `raw` came from `Box::into_raw` just above and was not
                    // published (the exchange failed), so this is its only owner.
                    node = unsafe { Box::from_raw(raw) };
                    seen = now;
                }
            }
        }
    }

    /// The tags from `start` down, newest first (`start` null or a published node).
    fn iter_from(&self, start: *mut Node) -> impl Iterator<Item = &Tag> {
        let mut next = start;
        std::iter::from_fn(move || {
            // SAFETY: a non-null pointer here is a node published by `add` (the caller loaded
            // `start` from `newest`, and `older` links only to published nodes), fully built
            // before publication, never changed afterwards and freed only by `drop`, which
            // takes `&mut self` and so cannot run while this `&self` borrow lives.
            let node = unsafe { next.as_ref()? };
            next = node.older;
            Some(&node.tag)
        })
    }
}

impl Drop for TagList {
    fn drop(&mut self) {
        #[cfg(not(autonomic_loom))]
        let mut next = *self.newest.get_mut();
        #[cfg(autonomic_loom)]
        let mut next = self.newest.with_mut(|p| *p);
        while !next.is_null() {
            // SAFETY: every node in the chain was made by `Box::into_raw` in `add` and
            // published exactly once; `&mut self` means no reader is left, and each node is
            // reached (and so freed) exactly once.
            let node = unsafe { Box::from_raw(next) };
            next = node.older;
        }
    }
}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::*;

    fn tag(s: &str) -> Tag {
        Tag::new(s).unwrap()
    }

    #[test]
    fn keeps_order_skips_duplicates_and_bounds_the_count() {
        let list = TagList::new();
        assert!(list.to_vec().is_empty());
        list.add(tag("a")).unwrap();
        list.add(tag("b")).unwrap();
        list.add(tag("a")).unwrap();
        assert_eq!(list.to_vec(), vec![tag("a"), tag("b")]);
        assert!(list.contains("b") && !list.contains("c"));
        for i in 2..Tag::MAX_PER_SESSION {
            list.add(tag(&format!("t{i}"))).unwrap();
        }
        assert_eq!(list.to_vec().len(), Tag::MAX_PER_SESSION);
        assert!(matches!(list.add(tag("one-too-many")), Err(MetadataError::TooManyTags { .. })));
    }

    #[test]
    fn concurrent_adders_and_readers_agree() {
        let list = TagList::new();
        std::thread::scope(|s| {
            for t in 0..2 {
                let list = &list;
                s.spawn(move || {
                    for i in 0..4 {
                        list.add(tag(&format!("{t}-{i}"))).unwrap();
                        assert!(list.contains(&format!("{t}-{i}")));
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..100 {
                    let seen = list.to_vec();
                    assert!(seen.len() <= 8);
                }
            });
        });
        let mut all: Vec<String> = list.to_vec().iter().map(|t| t.as_str().to_string()).collect();
        all.sort();
        assert_eq!(all.len(), 8);
        assert_eq!(all[0], "0-0");
    }
}
