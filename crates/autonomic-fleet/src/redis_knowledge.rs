//! [`RedisKnowledgeStore`]: a fleet's window totals in Redis, one Lua script per exchange.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use autonomic_aggregate::WindowTotals;
use redis::{Script, Value};

use crate::error::bounded;
use crate::knowledge::{MAX_COUNT, WIRE_LEN, checked, to_wire};
use crate::redis_connection::Connection;
use crate::{
    FleetSpec, FleetTotals, InstanceId, KnowledgeStore, ScopeTotals, StoreError, scope_record,
};

/// Window totals kept in Redis: each exchange is one atomic Lua script (`EVALSHA`) that reads
/// the server's `TIME`, drops the records past their expiry, stores the caller's, sums the
/// others' whole-runtime totals **on the server** (23 integers) and hands back the other live
/// instances' scopes records as stored; the client decodes, checks and sums those scope by
/// scope ([`ScopeTotals::sum`]), so the script does no work per scope.
///
/// Keys, per fleet: `autonomic:fleet:{NAME}:windows`, a hash from instance to
/// `expires_ms,n1,...,n21` (at most `max_instances` live records, each at most 512 bytes;
/// an instance is live while its record here has not expired), and
/// `autonomic:fleet:{NAME}:scopes`, a hash from instance to its scopes record (its tenants
/// and patterns, at most `max_scopes` of each, in a fixed-size little-endian binary layout:
/// at most 22.4 KB for the default 64 scopes), both written by the same script call and
/// expiring two TTLs after their last write. One script call per exchange, whatever the
/// number of scopes.
///
/// Bounds: each number published is clamped to [`MAX_COUNT`](crate::MAX_COUNT), so sums stay
/// exact in Lua's doubles; the reply is checked (its shape, a known status, at most
/// `max_instances` instances, every sum within `instances × MAX_COUNT`, the short window
/// within the whole window, slow sessions within running ones, exactly one scopes record
/// (or nil) per instance, each no longer than `max_scopes` allows), else
/// [`StoreError::BadReply`]; whole-runtime records the script cannot read are
/// [`StoreError::Corrupt`]. A scopes record no instance of this version writes (its layout,
/// at most `max_scopes` of a kind, keys each once, every number within `MAX_COUNT` and
/// consistent; or longer than any instance writes) is left out of the sum, counted in
/// [`FleetTotals::unreadable_scopes`] and traced: one bad record (another version during a
/// rolling upgrade, or tampering) costs the fleet that instance's scopes, not the exchange.
///
/// The script's work per exchange is linear in the live instances (their 21 numbers, and
/// one `HMGET` of their records), not in their scopes; the reply carries at most
/// `max_instances` records.
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
        scopes: &ScopeTotals,
        ttl: Duration,
    ) -> Result<FleetTotals, StoreError> {
        let key = format!("autonomic:fleet:{{{}}}:windows", spec.name());
        let scopes_key = format!("autonomic:fleet:{{{}}}:scopes", spec.name());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.script.prepare_invoke();
        invocation.key(key).key(scopes_key);
        invocation.arg(instance.as_str()).arg(ttl_ms).arg(spec.max_instances());
        for n in to_wire(totals) {
            invocation.arg(n);
        }
        let record = scope_record::encode(&scopes.clone().bounded(spec.max_scopes()));
        invocation.arg(scope_record::max_len(spec.max_scopes())).arg(record);
        let value = self.connection.run(invocation).await?;
        let reply = parse_totals_reply(spec, &value);
        if let Err(e) = &reply {
            tracing::warn!(fleet = spec.name(), %instance, error = %e, "window totals reply refused");
        }
        reply
    }
}

/// A reply being read: its items, where the next one is, and how to refuse it.
struct Reader<'a> {
    items: &'a [Value],
    at: usize,
    value: &'a Value,
}

impl<'a> Reader<'a> {
    fn bad(&self, what: &str) -> StoreError {
        StoreError::BadReply(bounded(format!("{what}: {:?}", self.value)))
    }

    fn next(&mut self) -> Result<&'a Value, StoreError> {
        let item = self.items.get(self.at).ok_or_else(|| self.bad("too short"))?;
        self.at += 1;
        Ok(item)
    }

    fn count(&mut self) -> Result<u64, StoreError> {
        match self.next()? {
            Value::Int(n) => u64::try_from(*n).map_err(|_| self.bad("negative")),
            _ => Err(self.bad("not an integer")),
        }
    }

    /// 21 numbers: the instances' summed totals, each within `most` (see
    /// [`checked`](crate::knowledge::checked)).
    fn totals(&mut self, most: u64) -> Result<WindowTotals, StoreError> {
        let mut wire = [0u64; WIRE_LEN];
        for n in wire.iter_mut() {
            *n = self.count()?;
        }
        checked(&wire, most).map_err(|why| self.bad(why))
    }

    /// The next instance's scopes record: none (nil), unreadable (the script's `0`: stored
    /// longer than any instance writes), or bytes of at most `max_len`, decoded and checked
    /// (`Ok(Err(_))`: a record the script stored but no instance of this version wrote).
    fn record(&mut self, spec: &FleetSpec) -> Result<Result<ScopeTotals, StoreError>, StoreError> {
        let bytes = match self.next()? {
            Value::Nil => return Ok(Ok(ScopeTotals::default())),
            Value::Int(0) => {
                return Ok(Err(StoreError::Corrupt(format!(
                    "a scopes record under autonomic:fleet:{{{}}}:scopes longer than {} bytes",
                    spec.name(),
                    scope_record::max_len(spec.max_scopes())
                ))));
            }
            Value::BulkString(bytes) => bytes,
            _ => return Err(self.bad("a scopes record that is not a string")),
        };
        if bytes.len() > scope_record::max_len(spec.max_scopes()) {
            return Err(self.bad("a scopes record longer than max_scopes allows"));
        }
        Ok(scope_record::decode(bytes, spec.max_scopes()).map_err(|why| {
            let shown = &bytes[..bytes.len().min(256)];
            StoreError::Corrupt(bounded(format!(
                "a scopes record under autonomic:fleet:{{{}}}:scopes: {why} ({} bytes: {shown:02x?})",
                spec.name(),
                bytes.len()
            )))
        }))
    }
}

/// Checks a knowledge script's reply against the protocol and the spec, and sums the other
/// instances' scopes records (the script returns them as stored).
fn parse_totals_reply(spec: &FleetSpec, value: &Value) -> Result<FleetTotals, StoreError> {
    let Value::Array(items) = value else {
        return Err(StoreError::BadReply(bounded(format!("not an array: {value:?}"))));
    };
    let mut reader = Reader { items, at: 0, value };
    let published = match reader.next()? {
        Value::Int(1) => true,
        Value::Int(2) => false,
        Value::Int(-4) => {
            return Err(StoreError::Corrupt(format!(
                "unreadable records under autonomic:fleet:{{{}}}:windows or :scopes",
                spec.name()
            )));
        }
        _ => return Err(reader.bad("unknown status")),
    };
    let instances = reader.count()?;
    if instances > u64::from(spec.max_instances()) {
        return Err(reader.bad("more instances than the fleet has"));
    }
    let others = reader.totals(MAX_COUNT * instances)?;
    if items.len() as u64 != reader.at as u64 + instances {
        return Err(reader.bad("not one scopes record per instance"));
    }
    let mut records = Vec::with_capacity(instances as usize);
    let mut unreadable_scopes = 0;
    for _ in 0..instances {
        match reader.record(spec)? {
            Ok(record) => records.push(record),
            Err(why) => {
                unreadable_scopes += 1;
                tracing::warn!(error = %why, "a scopes record left out of the fleet's sum");
            }
        }
    }
    let scopes = ScopeTotals::sum(&records, spec.max_scopes());
    Ok(FleetTotals { others, scopes, instances: instances as u32, published, unreadable_scopes })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ScopeSet;

    /// The length of the reply's head: status, instances, the 21 sums.
    const HEAD_LEN: usize = 2 + WIRE_LEN;

    fn spec() -> FleetSpec {
        use crate::Allotment;
        FleetSpec::new("f", Allotment::new(12, 0.5), Allotment::ZERO, 3, Duration::from_secs(1))
            .unwrap()
            .with_max_scopes(2)
            .unwrap()
    }

    /// `failed` sessions over the window and the short window.
    fn failed(n: u64) -> WindowTotals {
        let mut t = WindowTotals::default();
        t.counts.failed = n;
        t.short.failed = n;
        t
    }

    /// Patterns `own` and `other`.
    fn patterns(own: &[(u8, u64)], other: u64) -> ScopeTotals {
        ScopeTotals {
            patterns: ScopeSet {
                own: own.iter().map(|&(p, n)| (p, failed(n))).collect(),
                other: failed(other),
            },
            ..Default::default()
        }
    }

    /// Two instances, 5 failed and 4 running in all, and their scopes records.
    fn good() -> Vec<Value> {
        let mut n = vec![0i64; HEAD_LEN];
        n[0] = 1;
        n[1] = 2;
        n[2 + 2] = 5; // failed over the window
        n[2 + 11] = 1; // failed over the short window
        n[2 + 18] = 4; // running
        let mut items: Vec<Value> = n.into_iter().map(Value::Int).collect();
        items.push(Value::BulkString(scope_record::encode(&patterns(&[(3, 2), (7, 1)], 1))));
        items.push(Value::BulkString(scope_record::encode(&patterns(&[(7, 2), (9, 1)], 0))));
        items
    }

    #[test]
    fn a_well_formed_reply_is_read_and_its_records_summed() {
        let totals = parse_totals_reply(&spec(), &Value::Array(good())).unwrap();
        assert_eq!((totals.instances, totals.published), (2, true));
        assert_eq!((totals.others.counts.failed, totals.others.short.failed), (5, 1));
        assert_eq!(totals.others.gauges.running, 4);
        // 7: 3 failed, 3: 2, 9: 1; at most 2 kept, the rest with the others.
        assert_eq!(totals.scopes, patterns(&[(3, 2), (7, 3)], 2));
        // An instance without a record counts no scope.
        let mut without = good();
        without[HEAD_LEN + 1] = Value::Nil;
        let totals = parse_totals_reply(&spec(), &Value::Array(without)).unwrap();
        assert_eq!(totals.scopes, patterns(&[(3, 2), (7, 1)], 1));
    }

    #[test]
    fn hostile_replies_are_refused() {
        let spec = spec();
        let with = |i: usize, v: Value| {
            let mut items = good();
            items[i] = v;
            Value::Array(items)
        };
        let int = Value::Int;
        let oversized = vec![1u8; scope_record::max_len(2) + 1];
        for value in [
            with(0, int(7)),                               // unknown status
            with(1, int(4)),                               // more instances than max_instances
            with(1, int(1)),                               // a record more than instances
            with(1, int(3)),                               // a record fewer than instances
            with(2 + 2, int(-1)),                          // negative
            with(2 + 4, int((MAX_COUNT * 2 + 1) as i64)),  // more than 2 instances can publish
            with(2 + 20, int((MAX_COUNT + 1) as i64)),     // oldest beyond the clamp
            with(2 + 11, int(6)),                          // short window over the window
            with(2 + 19, int(5)),                          // slow sessions over running ones
            with(HEAD_LEN, int(1)),                        // a record that is not a string
            with(HEAD_LEN, Value::BulkString(oversized)),  // a record over its bound
            Value::Array(good()[..HEAD_LEN - 1].to_vec()), // short
            Value::Int(1),                                 // not an array
        ] {
            let err = parse_totals_reply(&spec, &value).unwrap_err();
            assert!(matches!(err, StoreError::BadReply(_)), "{value:?}: {err:?}");
        }
        let huge = Value::Array(vec![Value::BulkString(vec![b'x'; 1 << 20]); 3]);
        let err = parse_totals_reply(&spec, &huge).unwrap_err();
        assert!(err.to_string().len() < 1200, "{}", err.to_string().len());
        assert!(matches!(
            parse_totals_reply(&spec, &Value::Array(vec![int(-4)])),
            Err(StoreError::Corrupt(_))
        ));
        // A record of the right size that does not decode, or one the script found longer
        // than any instance writes (its `0`): left out of the sum and counted, the other
        // instance's record still summed.
        let too_many = scope_record::encode(&patterns(&[(1, 1), (2, 1), (3, 1)], 0));
        for bad in [Value::BulkString(too_many), Value::BulkString(vec![1; 500]), int(0)] {
            let totals = parse_totals_reply(&spec, &with(HEAD_LEN, bad.clone())).unwrap();
            assert_eq!(totals.unreadable_scopes, 1, "{bad:?}");
            assert_eq!(totals.instances, 2);
            let good = parse_totals_reply(&spec, &Value::Array(good())).unwrap();
            assert_eq!(good.unreadable_scopes, 0);
            assert_ne!(totals.scopes, good.scopes, "{bad:?} left out");
        }
    }
}
