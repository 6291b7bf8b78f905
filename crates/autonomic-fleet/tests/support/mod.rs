//! What the integration tests share.

#![allow(dead_code)]

pub mod redis_server;

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::timeout;

use autonomic_fleet::FleetStatus;

/// Waits until `status` satisfies `condition`, at most `within`; panics with the last status
/// otherwise.
pub async fn wait_for(
    status: &mut watch::Receiver<FleetStatus>,
    within: Duration,
    what: &str,
    condition: impl FnMut(&FleetStatus) -> bool,
) -> FleetStatus {
    let found = match timeout(within, status.wait_for(condition)).await {
        Ok(Ok(status)) => Some(status.clone()),
        Ok(Err(_)) => panic!("{what}: the member stopped"),
        Err(_) => None,
    };
    found.unwrap_or_else(|| {
        panic!("{what}: not within {within:?}; last status {:?}", *status.borrow())
    })
}
