//! [`AggregateError`].

use thiserror::Error;

/// Why an aggregation failed.
///
/// Aggregating sessions that are in memory cannot fail, so this enum has no variant yet:
/// [`SessionAggregator::aggregate_sessions`](crate::SessionAggregator::aggregate_sessions)
/// returns a `Result` to keep the quick reference's shape (`aggregate_sessions(..).await?`)
/// and so that failing sources (a remote or sharded table) can be added without breaking
/// callers. It is `#[non_exhaustive]`: match it with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AggregateError {}
