//! Sessions the adapter's integration tests analyse (each test crate uses part of this).
#![allow(dead_code)]

use autonomic_adapter::SessionAdapterConfig;
use autonomic_core::marker::Active;
use autonomic_core::{CaseId, ClockHandle, SessionHandle, TenantId};

/// A running session of `tenant` (and `pattern`, if any) on `clock`.
pub fn running(
    tenant: TenantId,
    pattern: Option<u8>,
    clock: &ClockHandle,
) -> SessionHandle<(), Active> {
    let builder = SessionHandle::builder(CaseId::new(), tenant).clock(clock.clone());
    match pattern {
        Some(p) => builder.pattern(p),
        None => builder,
    }
    .build()
    .start()
    .unwrap()
}

/// A running session past the default `max_retries`: the default policy proposes a retry.
pub fn retrying(
    tenant: TenantId,
    pattern: Option<u8>,
    clock: &ClockHandle,
) -> SessionHandle<(), Active> {
    let handle = running(tenant, pattern, clock);
    for _ in 0..=SessionAdapterConfig::default().max_retries {
        handle.record_retry();
    }
    handle
}
