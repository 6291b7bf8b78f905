//! [`RedisKnowledgeStore`]: a fleet's window totals in Redis, one Lua script per exchange.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use std::fmt::Write as _;

use autonomic_aggregate::WindowTotals;
use autonomic_core::TenantId;
use redis::{Script, Value};

use crate::error::bounded;
use crate::knowledge::{MAX_COUNT, OLDEST, WIRE_LEN, from_wire, to_wire};
use crate::redis_connection::Connection;
use crate::{
    FleetSpec, FleetTotals, InstanceId, KnowledgeStore, ScopeSet, ScopeTotals, StoreError,
};

/// Window totals kept in Redis: each exchange is one atomic Lua script (`EVALSHA`) that reads
/// the server's `TIME`, drops the records past their expiry, stores the caller's and sums the
/// others' **on the server**, so the reply has the same size however many instances publish:
/// 23 integers for the whole runtime, then at most
/// [`max_scopes`](FleetSpec::max_scopes) summed tenants and as many patterns.
///
/// Keys, per fleet: `autonomic:fleet:{NAME}:windows`, a hash from instance to
/// `expires_ms,n1,...,n21` (at most `max_instances` live records, each at most 512 bytes),
/// and `autonomic:fleet:{NAME}:scopes`, a hash from instance to `expires_ms|RECORD` (its
/// tenants and patterns, at most `max_scopes` of each, sent as text, checked by the script
/// and stored as a msgpack array it reads back in C: at most about 120 KB), both written
/// by the same script call and expiring two TTLs after their last write. One script call per
/// exchange, whatever the number of scopes.
///
/// Bounds: each number published is clamped to [`MAX_COUNT`](crate::MAX_COUNT), so sums stay
/// exact in Lua's doubles; the reply is checked (its shape, a known status, at most
/// `max_instances` instances, every sum within `instances × MAX_COUNT` (a scope's `other`:
/// within `instances × MAX_COUNT × (MAX_SCOPES + 1)`), the short window within the whole
/// window, slow sessions within running ones, at most `max_scopes` scopes of a kind, keys
/// well formed, each once), else [`StoreError::BadReply`]; records the script cannot read
/// are [`StoreError::Corrupt`].
///
/// The script's work is linear in the live records' scopes: `max_instances × 2 ×
/// (max_scopes + 1)` blocks of 21 numbers at most per exchange.
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
        let scopes = scopes.clone().bounded(spec.max_scopes());
        invocation.arg(spec.max_scopes()).arg(scopes_arg(&scopes));
        let value = self.connection.run(invocation).await?;
        let reply = parse_totals_reply(spec, &value);
        if let Err(e) = &reply {
            tracing::warn!(fleet = spec.name(), %instance, error = %e, "window totals reply refused");
        }
        reply
    }
}

/// The script's SCOPES argument: `scopes` (already bounded) as `TAG:n1,...,n21` entries
/// joined by `;` (see `redis_store/knowledge.lua`), each number clamped.
fn scopes_arg(scopes: &ScopeTotals) -> String {
    let mut arg = String::new();
    let mut entry = |tag: std::fmt::Arguments<'_>, totals: &WindowTotals| {
        if !arg.is_empty() {
            arg.push(';');
        }
        // Writing to a String cannot fail.
        let _ = write!(arg, "{tag}:");
        for (i, n) in to_wire(totals).iter().enumerate() {
            let _ = write!(arg, "{}{n}", if i == 0 { "" } else { "," });
        }
    };
    for (tenant, totals) in &scopes.tenants.own {
        entry(format_args!("t{:032x}", tenant.as_uuid().as_u128()), totals);
    }
    entry(format_args!("T"), &scopes.tenants.other);
    for (pattern, totals) in &scopes.patterns.own {
        entry(format_args!("p{pattern}"), totals);
    }
    entry(format_args!("P"), &scopes.patterns.other);
    arg
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

    /// 21 numbers: one scope's totals, each within `most` (the oldest running session
    /// within [`MAX_COUNT`]), the short window within the whole, slow within running.
    fn totals(&mut self, most: u64) -> Result<WindowTotals, StoreError> {
        let mut wire = [0u64; WIRE_LEN];
        for (i, n) in wire.iter_mut().enumerate() {
            *n = self.count()?;
            if *n > if i == OLDEST { MAX_COUNT } else { most } {
                return Err(self.bad("a sum larger than the instances can publish"));
            }
        }
        let totals = from_wire(&wire);
        let short_within = wire[9..18].iter().zip(&wire[..9]).all(|(short, whole)| short <= whole);
        if !short_within || totals.gauges.slow_running > totals.gauges.running {
            return Err(self.bad("inconsistent sums"));
        }
        Ok(totals)
    }

    /// One kind's summed scopes: at most `cap`, keys read by `key`, each once (sorted here:
    /// the script sorts tenants' keys as strings, in the server's collation).
    fn scopes<K: Copy + Ord>(
        &mut self,
        cap: usize,
        instances: u64,
        key: impl Fn(&Value) -> Option<K>,
    ) -> Result<ScopeSet<K>, StoreError> {
        let most = MAX_COUNT * instances;
        let len = self.count()?;
        if len > cap as u64 {
            return Err(self.bad("more scopes than max_scopes"));
        }
        let mut set = ScopeSet::default();
        for _ in 0..len {
            let k = key(self.next()?).ok_or_else(|| self.bad("not a scope's key"))?;
            set.own.push((k, self.totals(most)?));
        }
        set.own.sort_unstable_by_key(|(k, _)| *k);
        if set.own.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(self.bad("a scope twice"));
        }
        set.other = self.totals(most.saturating_mul(crate::FleetSpec::MAX_SCOPES as u64 + 1))?;
        Ok(set)
    }
}

/// A tenant's key in a reply: 32 lowercase hex digits.
fn tenant_key(value: &Value) -> Option<TenantId> {
    let Value::BulkString(bytes) = value else { return None };
    let hex = std::str::from_utf8(bytes).ok()?;
    let lowercase = hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex.len() != 32 || !lowercase {
        return None;
    }
    u128::from_str_radix(hex, 16).ok().map(TenantId::from_u128)
}

/// A pattern's key in a reply: 0 to 255.
fn pattern_key(value: &Value) -> Option<u8> {
    let Value::Int(n) = value else { return None };
    u8::try_from(*n).ok()
}

/// Checks a knowledge script's reply against the protocol and the spec.
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
    let tenants = reader.scopes(spec.max_scopes(), instances, tenant_key)?;
    let patterns = reader.scopes(spec.max_scopes(), instances, pattern_key)?;
    if reader.at != items.len() {
        return Err(reader.bad("too long"));
    }
    let scopes = ScopeTotals { tenants, patterns };
    Ok(FleetTotals { others, scopes, instances: instances as u32, published })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length of the reply's head: status, instances, the 21 sums.
    const HEAD_LEN: usize = 2 + WIRE_LEN;

    fn spec() -> FleetSpec {
        use crate::Allotment;
        FleetSpec::new("f", Allotment::new(12, 0.5), Allotment::ZERO, 3, Duration::from_secs(1))
            .unwrap()
            .with_max_scopes(2)
            .unwrap()
    }

    fn reply(numbers: &[i64]) -> Value {
        Value::Array(numbers.iter().map(|&n| Value::Int(n)).collect())
    }

    /// 21 numbers: `failed` sessions over the window and the short window.
    fn block(failed: i64) -> Vec<i64> {
        let mut n = vec![0i64; WIRE_LEN];
        n[2] = failed;
        n[11] = failed;
        n
    }

    /// Two instances: 5 failed, 4 running; no tenant; patterns 3 and 7.
    fn good() -> Vec<i64> {
        let mut n = vec![0i64; HEAD_LEN];
        n[0] = 1;
        n[1] = 2;
        n[2 + 2] = 5; // failed over the window
        n[2 + 11] = 1; // failed over the short window
        n[2 + 18] = 4; // running
        n.push(0); // no tenant
        n.extend(block(0));
        n.push(2);
        n.push(3);
        n.extend(block(2));
        n.push(7);
        n.extend(block(3));
        n.extend(block(1)); // other patterns
        n
    }

    /// Where the patterns start in `good()`.
    const PATTERNS: usize = HEAD_LEN + 1 + WIRE_LEN;

    #[test]
    fn a_well_formed_sum_is_read() {
        let totals = parse_totals_reply(&spec(), &reply(&good())).unwrap();
        assert_eq!((totals.instances, totals.published), (2, true));
        assert_eq!((totals.others.counts.failed, totals.others.short.failed), (5, 1));
        assert_eq!(totals.others.gauges.running, 4);
        let patterns: Vec<_> =
            totals.scopes.patterns.own.iter().map(|(p, t)| (*p, t.counts.failed)).collect();
        assert_eq!(patterns, vec![(3, 2), (7, 3)]);
        assert_eq!(totals.scopes.patterns.other.counts.failed, 1);
        assert!(totals.scopes.tenants.is_empty());
        // Keys in any order (the server's collation) are read sorted.
        let mut swapped = good();
        swapped[PATTERNS + 1] = 9;
        let totals = parse_totals_reply(&spec(), &reply(&swapped)).unwrap();
        let keys: Vec<_> = totals.scopes.patterns.own.iter().map(|(p, _)| *p).collect();
        assert_eq!(keys, vec![7, 9]);
    }

    #[test]
    fn tenants_are_read_from_hex_keys_and_round_trip_the_argument() {
        let tenant = TenantId::from_u128(0xabc);
        let mut n = good()[..HEAD_LEN].to_vec();
        let mut items: Vec<Value> = n.drain(..).map(Value::Int).collect();
        items.push(Value::Int(1));
        items.push(Value::BulkString(format!("{:032x}", 0xabc).into_bytes()));
        items.extend(block(4).into_iter().map(Value::Int));
        items.extend(block(0).into_iter().map(Value::Int));
        items.push(Value::Int(0));
        items.extend(block(0).into_iter().map(Value::Int));
        let totals = parse_totals_reply(&spec(), &Value::Array(items)).unwrap();
        assert_eq!(totals.scopes.tenants.own.len(), 1);
        assert_eq!(totals.scopes.tenants.own[0].0, tenant);
        let arg = scopes_arg(&totals.scopes);
        assert!(arg.starts_with(&format!("t{:032x}:0,0,4,", 0xabc)), "{arg}");
        assert_eq!(arg.split(';').count(), 3, "{arg}");
    }

    #[test]
    fn hostile_replies_are_refused() {
        let spec = spec();
        let with = |i: usize, n: i64| {
            let mut v = good();
            v[i] = n;
            v
        };
        let longer = |extra: &[i64]| {
            let mut v = good();
            v.extend_from_slice(extra);
            v
        };
        for numbers in [
            with(0, 7),                                         // unknown status
            with(1, 4),                                         // more instances than max_instances
            with(2 + 2, -1),                                    // negative
            with(2 + 4, (MAX_COUNT * 2 + 1) as i64),            // more than 2 instances can publish
            with(2 + OLDEST, (MAX_COUNT + 1) as i64),           // oldest beyond the clamp
            with(2 + 11, 6),                                    // short window over the window
            with(2 + 19, 5),                                    // slow sessions over running ones
            good()[..HEAD_LEN - 1].to_vec(),                    // short
            good()[..good().len() - 1].to_vec(),                // a scope cut short
            longer(&[0]),                                       // too long
            with(PATTERNS, 3),                                  // more patterns than max_scopes (2)
            with(PATTERNS + 1, 300),                            // not a pattern
            with(PATTERNS + 1, 7),                              // pattern 7 twice
            with(PATTERNS + 2 + 2, (MAX_COUNT * 2 + 1) as i64), // a scope over the bound
            with(PATTERNS + 2 + 11, 3), // a scope's short window over its window
        ] {
            let err = parse_totals_reply(&spec, &reply(&numbers)).unwrap_err();
            assert!(matches!(err, StoreError::BadReply(_)), "{numbers:?}: {err:?}");
        }
        let mut bad_tenant: Vec<Value> = good().into_iter().map(Value::Int).collect();
        bad_tenant[HEAD_LEN] = Value::Int(1);
        bad_tenant.insert(HEAD_LEN + 1, Value::BulkString(b"ZZ".repeat(16)));
        bad_tenant.splice(HEAD_LEN + 2..HEAD_LEN + 2, block(0).into_iter().map(Value::Int));
        let err = parse_totals_reply(&spec, &Value::Array(bad_tenant)).unwrap_err();
        assert!(matches!(err, StoreError::BadReply(_)), "{err:?}");
        let huge = Value::Array(vec![Value::BulkString(vec![b'x'; 1 << 20]); 3]);
        let err = parse_totals_reply(&spec, &huge).unwrap_err();
        assert!(err.to_string().len() < 1200, "{}", err.to_string().len());
        assert!(matches!(
            parse_totals_reply(&spec, &reply(&with(0, -4))),
            Err(StoreError::Corrupt(_))
        ));
    }
}
