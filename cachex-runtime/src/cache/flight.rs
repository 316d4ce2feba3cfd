//! Single-flight: concurrent misses of one key run the body once; the others wait for its result.
//!
//! The first caller of a key becomes the *leader* and gets a [`Leader`] guard; later callers get a
//! receiver and wait. The map lock is held only to join or leave a flight, never across an await.
//! When the leader has nothing to share (the outcome is not cacheable) or its future is dropped,
//! the guard marks the flight abandoned and the waiters start over: one of them leads next.

use std::collections::HashMap;
use std::hash::Hash;

use tokio::sync::watch;

use crate::sync::Mutex;

type Hasher = foldhash::fast::RandomState;

/// What a flight's waiters see.
#[derive(Debug, Clone)]
pub(crate) enum State<V> {
    Running,
    Done(V),
    Abandoned,
}

/// The flights in progress of one cache site, by key.
#[derive(Debug)]
pub(crate) struct Flights<K, V> {
    map: Mutex<HashMap<K, watch::Receiver<State<V>>, Hasher>>,
}

impl<K, V> Default for Flights<K, V> {
    fn default() -> Self {
        Flights {
            map: Mutex::new(HashMap::with_hasher(Hasher::default())),
        }
    }
}

/// The outcome of [`Flights::join`].
pub(crate) enum Join<'a, K: Hash + Eq, V, H> {
    /// The value turned up while joining (a flight finished in between).
    Ready(H),
    /// This caller runs the body and must finish the flight (or drop the guard).
    Lead(Leader<'a, K, V>),
    /// Another caller runs the body; wait with [`wait`].
    Follow(watch::Receiver<State<V>>),
}

impl<K: Hash + Eq + Clone, V> Flights<K, V> {
    /// Joins the flight of `key`, or starts one. `recheck` runs under the map lock when there is
    /// no flight: a leader stores its value before it leaves the map, so a value published by a
    /// flight that just finished is seen here instead of running the body again.
    pub(crate) fn join<H>(
        &self,
        key: &K,
        recheck: impl FnOnce() -> Option<H>,
    ) -> Join<'_, K, V, H> {
        let mut map = self.map.lock();
        if let Some(rx) = map.get(key) {
            return Join::Follow(rx.clone());
        }
        if let Some(v) = recheck() {
            return Join::Ready(v);
        }
        let (tx, rx) = watch::channel(State::Running);
        map.insert(key.clone(), rx);
        Join::Lead(Leader {
            flights: self,
            key: Some(key.clone()),
            tx,
        })
    }
}

/// Waits for the flight's leader. `Some` is its shared result; `None` means it gave up (nothing
/// cacheable, or cancelled) and the caller should start over.
pub(crate) async fn wait<V: Clone>(mut rx: watch::Receiver<State<V>>) -> Option<V> {
    match rx.wait_for(|s| !matches!(s, State::Running)).await {
        Ok(state) => match &*state {
            State::Done(v) => Some(v.clone()),
            State::Running | State::Abandoned => None,
        },
        // The leader's sender is gone without a result.
        Err(_) => None,
    }
}

/// The leader's side of a flight. Dropping it without [`finish`](Leader::finish) (the leader's
/// future was cancelled, or it panicked) abandons the flight so the waiters do not hang.
pub(crate) struct Leader<'a, K: Hash + Eq, V> {
    flights: &'a Flights<K, V>,
    key: Option<K>,
    tx: watch::Sender<State<V>>,
}

impl<K: Hash + Eq, V> Leader<'_, K, V> {
    /// Leaves the map and hands `result` to the waiters (`None`: abandoned, they start over).
    pub(crate) fn finish(mut self, result: Option<V>) {
        self.leave(result);
    }

    fn leave(&mut self, result: Option<V>) {
        if let Some(key) = self.key.take() {
            self.flights.map.lock().remove(&key);
            self.tx.send_replace(match result {
                Some(v) => State::Done(v),
                None => State::Abandoned,
            });
        }
    }
}

impl<K: Hash + Eq, V> Drop for Leader<'_, K, V> {
    fn drop(&mut self) {
        self.leave(None);
    }
}
