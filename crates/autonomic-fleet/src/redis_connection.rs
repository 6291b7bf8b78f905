//! [`Connection`]: the Redis connection the Redis stores share, every request bounded by a
//! timeout and every error classified and bounded.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Value};

use crate::StoreError;
use crate::error::bounded;

/// A lazily made, self-healing connection (`redis`'s connection manager) and the timeout
/// every request is bounded by. Cloning shares the connection.
#[derive(Clone)]
pub(crate) struct Connection {
    manager: ConnectionManager,
    timeout: Duration,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection to the Redis at `url`; does not connect yet. Must be called inside a
    /// tokio runtime.
    pub(crate) fn open(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Unreachable(describe(&e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(timeout);
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Unreachable(describe(&e)))?;
        Ok(Connection { manager, timeout })
    }

    /// Runs a script, giving up after the timeout however the server behaves.
    pub(crate) async fn run(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<Value, StoreError> {
        let mut connection = self.manager.clone();
        match tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify(&e, self.timeout)),
            Err(_) => Err(StoreError::Timeout(millis(self.timeout))),
        }
    }
}

fn classify(e: &RedisError, timeout: Duration) -> StoreError {
    if e.is_timeout() {
        StoreError::Timeout(millis(timeout))
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        StoreError::Unreachable(describe(e))
    } else {
        StoreError::Server(describe(e))
    }
}

fn describe(e: &RedisError) -> String {
    bounded(e.to_string())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
