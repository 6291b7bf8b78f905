//! [`RedisLeaseStore`]: a fleet's leases in Redis, one Lua script per request.

use std::fmt;
use std::time::Duration;

use redis::{Script, Value};

use crate::error::bounded;
use crate::redis_connection::Connection;
use crate::{
    Allotment, Epoch, FleetSpec, InstanceId, Lease, LeaseReply, LeaseRequest, LeaseStore,
    MAX_DEMAND, StoreError,
};

/// Leases kept in Redis: each request is one atomic Lua script (`EVALSHA`, loaded again
/// after a restart) that reads the server's `TIME` and never the client's clock.
///
/// Keys, per fleet (the braces make them one cluster slot):
/// `autonomic:fleet:{NAME}:leases`, a hash from instance to
/// `epoch,expires_ms,demand,charge_slots,charge_units`, expiring two lease periods after
/// its last write; and `autonomic:fleet:{NAME}:epoch`, the last epoch handed out (epochs
/// are at least the server's time in ms, so a server that lost its writes still hands out
/// larger ones).
///
/// Every reply is checked: its shape, and every number against the spec (a grant above the
/// cap, a lease longer than asked, a foreign status are [`StoreError::BadReply`]); records
/// the script cannot parse are [`StoreError::Corrupt`] (no lease is given until an operator
/// removes them). Errors echo at most 1 KB of what the server said. Every request is bounded
/// by the request timeout, however the server behaves.
///
/// The connection is made lazily and remade in the background by `redis`'s connection
/// manager, so the store can be built while Redis is down.
///
/// ```no_run
/// use std::time::Duration;
/// use autonomic_fleet::RedisLeaseStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisLeaseStore::open("redis://127.0.0.1:6379/", Duration::from_millis(200))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisLeaseStore {
    connection: Connection,
    lease_script: std::sync::Arc<Script>,
    release_script: std::sync::Arc<Script>,
}

impl fmt::Debug for RedisLeaseStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLeaseStore")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

/// The reply's length.
const REPLY_LEN: usize = 6;

impl RedisLeaseStore {
    /// A store on the Redis at `url` (`redis://host:port/db`); every request (connecting
    /// included) gives up after `timeout`. Does not connect yet. Must be called inside a
    /// tokio runtime.
    pub fn open(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        Ok(RedisLeaseStore {
            connection: Connection::open(url, timeout)?,
            lease_script: std::sync::Arc::new(Script::new(include_str!("redis_store/lease.lua"))),
            release_script: std::sync::Arc::new(Script::new(include_str!(
                "redis_store/release.lua"
            ))),
        })
    }

    /// A knowledge store on the same connection (see
    /// [`RedisKnowledgeStore`](crate::RedisKnowledgeStore)).
    pub fn knowledge_store(&self) -> crate::RedisKnowledgeStore {
        crate::RedisKnowledgeStore::on(self.connection.clone())
    }
}

fn keys(spec: &FleetSpec) -> (String, String) {
    let name = spec.name();
    (format!("autonomic:fleet:{{{name}}}:leases"), format!("autonomic:fleet:{{{name}}}:epoch"))
}

impl LeaseStore for RedisLeaseStore {
    async fn lease(&self, request: &LeaseRequest<'_>) -> Result<LeaseReply, StoreError> {
        let spec = request.spec;
        let (leases, epochs) = keys(spec);
        let mut invocation = self.lease_script.prepare_invoke();
        invocation
            .key(leases)
            .key(epochs)
            .arg(request.instance.as_str())
            .arg(request.epoch.map_or(0, Epoch::get))
            .arg(request.demand.min(MAX_DEMAND))
            .arg(request.holding.slots.min(spec.cap().slots))
            .arg(request.holding.resource_units.min(spec.cap().resource_units))
            .arg(spec.cap().slots)
            .arg(spec.cap().resource_units)
            .arg(spec.floor().slots)
            .arg(spec.floor().resource_units)
            .arg(spec.max_instances())
            .arg(spec.lease_ms());
        let value = self.connection.run(invocation).await?;
        let reply = parse_lease_reply(spec, request.epoch, &value);
        if let Err(e) = &reply {
            tracing::warn!(fleet = spec.name(), instance = %request.instance, error = %e, "lease reply refused");
        }
        reply
    }

    async fn release(
        &self,
        spec: &FleetSpec,
        instance: &InstanceId,
        epoch: Epoch,
    ) -> Result<bool, StoreError> {
        let (leases, _) = keys(spec);
        let mut invocation = self.release_script.prepare_invoke();
        invocation.key(leases).arg(instance.as_str()).arg(epoch.get());
        match self.connection.run(invocation).await? {
            Value::Int(1) => Ok(true),
            Value::Int(0) => Ok(false),
            other => Err(StoreError::BadReply(bounded(format!("release: {other:?}")))),
        }
    }
}

/// Checks a lease script's reply against the protocol and the spec.
fn parse_lease_reply(
    spec: &FleetSpec,
    renewing: Option<Epoch>,
    value: &Value,
) -> Result<LeaseReply, StoreError> {
    let bad = |what: &str| StoreError::BadReply(bounded(format!("{what}: {value:?}")));
    let Value::Array(items) = value else { return Err(bad("not an array")) };
    if items.len() != REPLY_LEN {
        return Err(bad("wrong length"));
    }
    let mut numbers = [0i64; REPLY_LEN];
    for (slot, item) in numbers.iter_mut().zip(items) {
        let Value::Int(n) = item else { return Err(bad("not an integer")) };
        *slot = *n;
    }
    let [status, epoch, slots, units, ttl_ms, live] = numbers;
    match status {
        1 => {}
        -1 => return Ok(LeaseReply::Stale),
        -2 => return Ok(LeaseReply::Expired),
        -3 => return Ok(LeaseReply::Full),
        -4 => {
            return Err(StoreError::Corrupt(format!(
                "unreadable records under autonomic:fleet:{{{}}}:leases",
                spec.name()
            )));
        }
        _ => return Err(bad("unknown status")),
    }
    let epoch = u64::try_from(epoch).ok().and_then(Epoch::new).ok_or_else(|| bad("epoch"))?;
    if renewing.is_some_and(|renewed| renewed != epoch) {
        return Err(bad("renewal answered with another epoch"));
    }
    let within = |n: i64, max: u64| u64::try_from(n).ok().filter(|&n| n <= max);
    let granted = Allotment {
        slots: within(slots, spec.cap().slots).ok_or_else(|| bad("slots over the cap"))?,
        resource_units: within(units, spec.cap().resource_units)
            .ok_or_else(|| bad("resources over the cap"))?,
    };
    if !spec.floor().fits_in(granted) {
        return Err(bad("grant under the floor"));
    }
    let ttl_ms = within(ttl_ms, spec.lease_ms())
        .filter(|&ms| ms > 0)
        .ok_or_else(|| bad("lease longer than asked"))?;
    let live = within(live, u64::from(spec.max_instances()))
        .filter(|&n| n > 0)
        .ok_or_else(|| bad("live instances"))? as u32;
    Ok(LeaseReply::Granted(Lease {
        epoch,
        granted,
        ttl: Duration::from_millis(ttl_ms),
        live_instances: live,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FleetSpec {
        FleetSpec::new(
            "f",
            Allotment::new(12, 0.5),
            Allotment::new(1, 0.1),
            3,
            Duration::from_millis(500),
        )
        .unwrap()
    }

    fn reply(numbers: &[i64]) -> Value {
        Value::Array(numbers.iter().map(|&n| Value::Int(n)).collect())
    }

    #[test]
    fn a_well_formed_grant_is_read() {
        let got = parse_lease_reply(&spec(), None, &reply(&[1, 42, 5, 200_000, 500, 2])).unwrap();
        let LeaseReply::Granted(lease) = got else { panic!("{got:?}") };
        assert_eq!(lease.granted, Allotment::new(5, 0.2));
        assert_eq!(
            (lease.epoch.get(), lease.ttl, lease.live_instances),
            (42, Duration::from_millis(500), 2)
        );
        assert_eq!(
            parse_lease_reply(&spec(), None, &reply(&[-1, 0, 0, 0, 0, 0])),
            Ok(LeaseReply::Stale)
        );
    }

    #[test]
    fn hostile_replies_are_refused() {
        let spec = spec();
        let epoch = Epoch::new(42);
        for numbers in [
            &[1, 42, 13, 0, 500, 1][..],  // over the cap
            &[1, 42, 5, 600_000, 500, 1], // resources over the cap
            &[1, 42, 0, 200_000, 500, 1], // under the floor
            &[1, 42, 5, 200_000, 501, 1], // longer than asked
            &[1, 42, 5, 200_000, 500, 4], // more instances than allowed
            &[1, 0, 5, 200_000, 500, 1],  // no epoch
            &[1, 43, 5, 200_000, 500, 1], // another epoch on renewal
            &[7, 42, 5, 200_000, 500, 1], // unknown status
            &[1, 42, 5, 200_000, 500],    // short
        ] {
            let err = parse_lease_reply(&spec, epoch, &reply(numbers)).unwrap_err();
            assert!(matches!(err, StoreError::BadReply(_)), "{numbers:?}: {err:?}");
        }
        let huge = Value::BulkString(vec![b'x'; 1 << 20]);
        let err = parse_lease_reply(&spec, None, &huge).unwrap_err();
        assert!(err.to_string().len() < 1200, "{}", err.to_string().len());
        assert!(matches!(
            parse_lease_reply(&spec, None, &reply(&[-4, 0, 0, 0, 0, 0])),
            Err(StoreError::Corrupt(_))
        ));
    }
}
