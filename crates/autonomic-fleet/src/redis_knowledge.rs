//! [`RedisKnowledgeStore`]: a fleet's window totals in Redis, one Lua script per exchange.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use autonomic_aggregate::WindowTotals;
use redis::{Script, Value};

use crate::error::bounded;
use crate::knowledge::{MAX_COUNT, OLDEST, WIRE_LEN, from_wire, to_wire};
use crate::redis_connection::Connection;
use crate::{FleetSpec, FleetTotals, InstanceId, KnowledgeStore, StoreError};

/// The reply's length: status, instances, the 21 sums.
const REPLY_LEN: usize = 2 + WIRE_LEN;

/// Window totals kept in Redis: each exchange is one atomic Lua script (`EVALSHA`) that reads
/// the server's `TIME`, drops the records past their expiry, stores the caller's and sums the
/// others' **on the server**, so the reply is 23 integers however many instances publish.
///
/// Key, per fleet: `autonomic:fleet:{NAME}:windows`, a hash from instance to
/// `expires_ms,n1,...,n21` (at most `max_instances` live records, each at most 512 bytes),
/// expiring two TTLs after its last write.
///
/// Bounds: each number published is clamped to [`MAX_COUNT`](crate::MAX_COUNT), so sums stay
/// exact in Lua's doubles; the reply is checked (23 integers, a known status, at most
/// `max_instances` instances, every sum within `instances × MAX_COUNT`, the short window
/// within the whole window, slow sessions within running ones), else
/// [`StoreError::BadReply`]; records the script cannot read are [`StoreError::Corrupt`].
///
/// ```no_run
/// use std::time::Duration;
/// use autonomic_fleet::{RedisKnowledgeStore, RedisLeaseStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let knowledge = RedisKnowledgeStore::open("redis://127.0.0.1:6379/", Duration::from_millis(200))?;
/// // Or on a lease store's connection:
/// let leases = RedisLeaseStore::open("redis://127.0.0.1:6379/", Duration::from_millis(200))?;
/// let knowledge = leases.knowledge_store();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisKnowledgeStore {
    connection: Connection,
    script: Arc<Script>,
}

impl fmt::Debug for RedisKnowledgeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisKnowledgeStore")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl RedisKnowledgeStore {
    /// A store on the Redis at `url`; every request (connecting included) gives up after
    /// `timeout`. Does not connect yet. Must be called inside a tokio runtime.
    pub fn open(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        Ok(Self::on(Connection::open(url, timeout)?))
    }

    pub(crate) fn on(connection: Connection) -> Self {
        RedisKnowledgeStore {
            connection,
            script: Arc::new(Script::new(include_str!("redis_store/knowledge.lua"))),
        }
    }
}

impl KnowledgeStore for RedisKnowledgeStore {
    async fn exchange(
        &self,
        spec: &FleetSpec,
        instance: &InstanceId,
        totals: &WindowTotals,
        ttl: Duration,
    ) -> Result<FleetTotals, StoreError> {
        let key = format!("autonomic:fleet:{{{}}}:windows", spec.name());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.script.prepare_invoke();
        invocation.key(key).arg(instance.as_str()).arg(ttl_ms).arg(spec.max_instances());
        for n in to_wire(totals) {
            invocation.arg(n);
        }
        let value = self.connection.run(invocation).await?;
        let reply = parse_totals_reply(spec, &value);
        if let Err(e) = &reply {
            tracing::warn!(fleet = spec.name(), %instance, error = %e, "window totals reply refused");
        }
        reply
    }
}

/// Checks a knowledge script's reply against the protocol and the spec.
fn parse_totals_reply(spec: &FleetSpec, value: &Value) -> Result<FleetTotals, StoreError> {
    let bad = |what: &str| StoreError::BadReply(bounded(format!("{what}: {value:?}")));
    let Value::Array(items) = value else { return Err(bad("not an array")) };
    if items.len() != REPLY_LEN {
        return Err(bad("wrong length"));
    }
    let mut numbers = [0u64; REPLY_LEN];
    let mut status = 0i64;
    for (i, item) in items.iter().enumerate() {
        let Value::Int(n) = item else { return Err(bad("not an integer")) };
        if i == 0 {
            status = *n;
        } else {
            numbers[i] = u64::try_from(*n).map_err(|_| bad("negative"))?;
        }
    }
    let published = match status {
        1 => true,
        2 => false,
        -4 => {
            return Err(StoreError::Corrupt(format!(
                "unreadable records under autonomic:fleet:{{{}}}:windows",
                spec.name()
            )));
        }
        _ => return Err(bad("unknown status")),
    };
    let instances = numbers[1];
    if instances > u64::from(spec.max_instances()) {
        return Err(bad("more instances than the fleet has"));
    }
    let mut wire = [0u64; WIRE_LEN];
    wire.copy_from_slice(&numbers[2..]);
    for (i, &n) in wire.iter().enumerate() {
        let most = if i == OLDEST { MAX_COUNT } else { MAX_COUNT * instances };
        if n > most {
            return Err(bad("a sum larger than the instances can publish"));
        }
    }
    let others = from_wire(&wire);
    let short_within = [
        (others.short.started, others.counts.started),
        (others.short.completed, others.counts.completed),
        (others.short.failed, others.counts.failed),
        (others.short.cancelled, others.counts.cancelled),
        (others.short.tasks, others.counts.tasks),
        (others.short.latency_us, others.counts.latency_us),
        (others.short.violations, others.counts.violations),
        (others.short.retries, others.counts.retries),
        (others.short.adaptations, others.counts.adaptations),
    ]
    .iter()
    .all(|(short, whole)| short <= whole);
    if !short_within || others.gauges.slow_running > others.gauges.running {
        return Err(bad("inconsistent sums"));
    }
    Ok(FleetTotals { others, instances: instances as u32, published })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FleetSpec {
        use crate::Allotment;
        FleetSpec::new("f", Allotment::new(12, 0.5), Allotment::ZERO, 3, Duration::from_secs(1))
            .unwrap()
    }

    fn reply(numbers: &[i64]) -> Value {
        Value::Array(numbers.iter().map(|&n| Value::Int(n)).collect())
    }

    fn good() -> Vec<i64> {
        let mut n = vec![0i64; REPLY_LEN];
        n[0] = 1;
        n[1] = 2;
        n[2 + 2] = 5; // failed over the window
        n[2 + 11] = 1; // failed over the short window
        n[2 + 18] = 4; // running
        n
    }

    #[test]
    fn a_well_formed_sum_is_read() {
        let totals = parse_totals_reply(&spec(), &reply(&good())).unwrap();
        assert_eq!((totals.instances, totals.published), (2, true));
        assert_eq!((totals.others.counts.failed, totals.others.short.failed), (5, 1));
        assert_eq!(totals.others.gauges.running, 4);
    }

    #[test]
    fn hostile_replies_are_refused() {
        let spec = spec();
        let with = |i: usize, n: i64| {
            let mut v = good();
            v[i] = n;
            v
        };
        for numbers in [
            with(0, 7),                               // unknown status
            with(1, 4),                               // more instances than max_instances
            with(2 + 2, -1),                          // negative
            with(2 + 4, (MAX_COUNT * 2 + 1) as i64),  // more than 2 instances can publish
            with(2 + OLDEST, (MAX_COUNT + 1) as i64), // oldest beyond the clamp
            with(2 + 11, 6),                          // short window over the window
            with(2 + 19, 5),                          // slow sessions over running ones
            good()[..REPLY_LEN - 1].to_vec(),         // short
        ] {
            let err = parse_totals_reply(&spec, &reply(&numbers)).unwrap_err();
            assert!(matches!(err, StoreError::BadReply(_)), "{numbers:?}: {err:?}");
        }
        let huge = Value::Array(vec![Value::BulkString(vec![b'x'; 1 << 20]); 3]);
        let err = parse_totals_reply(&spec, &huge).unwrap_err();
        assert!(err.to_string().len() < 1200, "{}", err.to_string().len());
        assert!(matches!(
            parse_totals_reply(&spec, &reply(&with(0, -4))),
            Err(StoreError::Corrupt(_))
        ));
    }
}
