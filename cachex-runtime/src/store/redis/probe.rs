//! The recovery probe: while a store's breaker is open, one background task per store sends
//! `PING` every [`PROBE_EVERY`] straight on the connection (not through the breaker) and closes
//! the breaker as soon as Redis answers, so the cache is used again within a probe period of
//! Redis coming back rather than after the breaker's whole timeout.
//!
//! The task runs on the tokio runtime of the operation that found the breaker open, holds the
//! store only weakly (dropping the last handle of the store ends it at its next tick), and ends
//! when the breaker is no longer open or is pinned open by hand (`force_open` is an operator's
//! decision, not the probe's to undo).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Inner;
use crate::State;

/// How often the probe pings while the breaker is open.
pub(super) const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Starts the probe of `inner` unless one runs already or the breaker is not (automatically)
/// open. Does nothing outside a tokio runtime.
pub(super) fn ensure(inner: &Arc<Inner>) {
    // Read first: every rejection while the breaker is open comes here, and a running probe is
    // the common case then.
    if inner.probing.load(Ordering::Acquire)
        || inner.breaker.state() != State::Open
        || inner.breaker.is_forced()
    {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if inner
        .probing
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let weak = Arc::downgrade(inner);
    // The guard is made here, not in the task, so that it also runs for a task dropped unpolled.
    let running = Running(Weak::clone(&weak));
    drop(runtime.spawn(run(weak, running)));
}

/// Clears the store's probing flag when the probe ends, however it ends: returning, or dropped
/// with a runtime that shuts down, even before its first poll (the next operation on another
/// runtime then starts a new one).
struct Running(Weak<Inner>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.probing.store(false, Ordering::Release);
        }
    }
}

async fn run(weak: Weak<Inner>, _running: Running) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let breaker = &inner.breaker;
        if breaker.state() != State::Open || breaker.is_forced() {
            return;
        }
        if inner.ping_direct().await {
            // Checked again: an operator may have pinned it while the ping was out.
            if breaker.state() == State::Open && !breaker.is_forced() {
                breaker.reset();
                tracing::info!(store = %inner.name, "redis store: Redis answers again, breaker closed");
            }
            return;
        }
    }
}
