//! Background refreshes of memory entries (`stale_while_revalidate`, `refresh_ahead`, and the
//! body of a soft-timed-out call): spawned on the caller's tokio runtime, at most one per key per
//! process, at most [`MAX_REFRESHES`] at once in the process, never holding a lock across an
//! await. A refresh that fails (`Err`, `None`) or panics keeps the stale value and counts in
//! `refresh_failures`; it is not retried by itself (the next call that sees the stale entry may
//! start another).

use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;

use super::fifo::FifoMap;
use super::site::Outcome;

/// Background refreshes that may run at once in a process, over every cache. Past it a refresh
/// is skipped (the stale value is served, the next call tries again), so a process with a
/// million stale keys does not spawn a million tasks.
///
/// ```
/// assert_eq!(cachex_runtime::__private::MAX_REFRESHES, 64);
/// ```
pub const MAX_REFRESHES: usize = 64;

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Why no refresh was started.
pub(crate) enum Busy {
    /// One is running for the key already.
    Key,
    /// Every one of the [`MAX_REFRESHES`] slots is taken.
    Slots,
}

/// One of the [`MAX_REFRESHES`] slots; given back on drop.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        RUNNING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_REFRESHES).then_some(n.saturating_add(1))
            })
            .ok()
            .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running refresh of one key: leaves the key's mark and gives the slot back when dropped,
/// and counts a failure unless [`succeeded`](Running::succeeded) was called (so a panic or a
/// runtime shut down under it counts as a failure).
pub(crate) struct Running<K: Hash + Eq + Send + Sync + 'static, V: Clone + Send + Sync + 'static> {
    map: &'static FifoMap<K, V>,
    key: Arc<K>,
    ok: bool,
    _slot: Slot,
}

impl<K, V> Running<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Starts a refresh of `key`, unless one is running for it already or every slot is taken.
    /// Counted in `refreshes` when it starts.
    pub(crate) fn start(map: &'static FifoMap<K, V>, key: &Arc<K>) -> Result<Self, Busy> {
        let Some(slot) = Slot::take() else {
            tracing::debug!(
                limit = MAX_REFRESHES,
                "cachex: too many background refreshes running; this one is skipped"
            );
            return Err(Busy::Slots);
        };
        if !map.begin_refresh(key) {
            return Err(Busy::Key);
        }
        map.name.refreshes.add(1);
        Ok(Running {
            map,
            key: Arc::clone(key),
            ok: false,
            _slot: slot,
        })
    }

    /// The refresh produced a value.
    pub(crate) fn succeeded(&mut self) {
        self.ok = true;
    }

    pub(crate) fn key(&self) -> &Arc<K> {
        &self.key
    }
}

impl<K, V> Drop for Running<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        self.map.end_refresh(&self.key);
        if !self.ok {
            self.map.name.refresh_failures.add(1);
            tracing::debug!("cachex: background refresh failed; the stale value is kept");
        }
    }
}

/// Runs `compute` as the refresh `running` and stores a cacheable result; returns the result.
pub(crate) async fn run<K, R, Fut>(mut running: Running<K, R::Value>, compute: Fut) -> R
where
    K: Hash + Eq + Send + Sync + 'static,
    R: Outcome,
    R::Value: Clone + Send + Sync + 'static,
    Fut: Future<Output = R>,
{
    let map = running.map;
    let generation = map.name.generation();
    let out = compute.await;
    if let Some(v) = out.cacheable() {
        map.insert(Arc::clone(running.key()), v.clone(), generation);
        running.succeeded();
    }
    out
}

/// Whether the caller runs on a tokio runtime that background work can be spawned on.
pub(crate) fn has_runtime() -> bool {
    Handle::try_current().is_ok()
}

/// Spawns a refresh of `key` on the current tokio runtime, unless one is running for the key,
/// every slot is taken, or there is no runtime (then nothing happens).
pub(crate) fn spawn<K, R, Fut>(map: &'static FifoMap<K, R::Value>, key: &Arc<K>, compute: Fut)
where
    K: Hash + Eq + Send + Sync + 'static,
    R: Outcome + Send + 'static,
    R::Value: Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let Ok(handle) = Handle::try_current() else {
        return;
    };
    if let Ok(running) = Running::start(map, key) {
        handle.spawn(async move {
            run(running, compute).await;
        });
    }
}
