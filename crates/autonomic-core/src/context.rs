//! [`SessionContext`]: what a session is about (case, tenant, pattern, tags) and its clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use crate::tag_list::TagList;
use crate::{CaseId, ClockHandle, MetadataError, TenantId};

/// A short label attached to a session at creation (`"high-priority"`).
///
/// Tags are for humans and coarse grouping; use pattern ids for high-frequency filtering.
/// They are bounded: at most [`Tag::MAX_LEN`] bytes each and [`Tag::MAX_PER_SESSION`] per
/// session.
///
/// ```
/// use autonomic_core::Tag;
/// assert_eq!(Tag::new("high-priority").unwrap().as_str(), "high-priority");
/// assert!(Tag::new("").is_err());
/// assert!(Tag::new("x".repeat(Tag::MAX_LEN + 1)).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Arc<str>);

impl Tag {
    /// Longest tag, in bytes.
    pub const MAX_LEN: usize = 64;
    /// Most tags one session carries.
    pub const MAX_PER_SESSION: usize = 16;

    /// Validates and stores a tag.
    pub fn new(tag: impl AsRef<str>) -> Result<Tag, MetadataError> {
        let tag = tag.as_ref();
        if tag.is_empty() {
            return Err(MetadataError::EmptyTag);
        }
        if tag.len() > Self::MAX_LEN {
            return Err(MetadataError::TagTooLong { len: tag.len(), max: Self::MAX_LEN });
        }
        Ok(Tag(Arc::from(tag)))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// `pattern` value that means "no pattern".
const NO_PATTERN: u16 = 0x100;

/// What a session is about: its case, tenant, workflow pattern and tags, and the clock its
/// times are read from.
///
/// The pattern and tags are set while the session is `Created`, by the unique owner of its
/// `Created` handle (or by a table on its behalf, which keeps its indexes in step); after
/// that they do not change.
///
/// `repr(C)`: the tenant and pattern come first, so that in a session's allocation they sit
/// right after its counters and id, and a pass that reads all of them (a table's
/// `for_each_reading`, the aggregator) touches as few cache lines as it can.
#[repr(C)]
pub struct SessionContext {
    tenant_id: TenantId,
    pattern: AtomicU16,
    case_id: CaseId,
    clock: ClockHandle,
    tags: TagList,
}

impl SessionContext {
    pub(crate) fn new(case_id: CaseId, tenant_id: TenantId, clock: ClockHandle) -> Self {
        SessionContext {
            case_id,
            tenant_id,
            clock,
            tags: TagList::new(),
            pattern: AtomicU16::new(NO_PATTERN),
        }
    }

    /// The workflow case.
    pub fn case_id(&self) -> CaseId {
        self.case_id
    }

    /// The tenant.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The workflow pattern id, if one was set.
    #[inline]
    pub fn pattern(&self) -> Option<u8> {
        // Relaxed: a single word written only while the session is `Created` by its unique
        // owner; it publishes nothing else.
        let p = self.pattern.load(Ordering::Relaxed);
        (p != NO_PATTERN).then_some(p as u8)
    }

    /// The tags, in the order they were added.
    pub fn tags(&self) -> Vec<Tag> {
        self.tags.to_vec()
    }

    /// Whether the session carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.contains(tag)
    }

    /// The clock the session's times are read from.
    pub fn clock(&self) -> &ClockHandle {
        &self.clock
    }

    pub(crate) fn set_pattern(&self, pattern: Option<u8>) {
        // Relaxed: see `pattern`.
        self.pattern.store(pattern.map_or(NO_PATTERN, u16::from), Ordering::Relaxed);
    }

    pub(crate) fn add_tag(&self, tag: Tag) -> Result<(), MetadataError> {
        self.tags.add(tag)
    }
}

impl fmt::Debug for SessionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionContext")
            .field("case_id", &self.case_id)
            .field("tenant_id", &self.tenant_id)
            .field("pattern", &self.pattern())
            .field("tags", &self.tags())
            .field("clock", &self.clock)
            .finish()
    }
}
