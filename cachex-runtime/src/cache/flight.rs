//! Single-flight: concurrent misses of one key run the body once; the others wait for its result.
//!
//! The first caller of a key becomes the *leader* and gets a [`Leader`] guard; later callers get a
//! receiver and wait. The map lock is held only to join or leave a flight, never across an await.
//!
//! How a flight ends decides what its waiters do:
//! - *done*: they return the leader's value;
//! - *failed* (the outcome is not cacheable: `Err`, `None`): each runs its own body at once, not
//!   in a new flight. An error cannot be shared (`E: Clone` is not required), and a chain of
//!   flights would run the failing body once per waiter, one after another;
//! - *abandoned* (the leader's future was dropped or panicked, or a clear made its value stale):
//!   they start over, and one of them leads the next flight.

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
    Failed,
    Abandoned,
}

/// How a flight ended, for one waiter.
#[derive(Debug)]
pub(crate) enum Waited<V> {
    /// The leader's shared value.
    Value(V),
    /// The leader's outcome is not shareable: run the body without a flight.
    Failed,
    /// The leader is gone or its value is stale: join again.
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

impl<K, V> Flights<K, V> {
    /// Flights in progress.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
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

/// Waits for the flight's leader.
pub(crate) async fn wait<V: Clone>(mut rx: watch::Receiver<State<V>>) -> Waited<V> {
    match rx.wait_for(|s| !matches!(s, State::Running)).await {
        Ok(state) => match &*state {
            State::Done(v) => Waited::Value(v.clone()),
            State::Failed => Waited::Failed,
            State::Running | State::Abandoned => Waited::Abandoned,
        },
        // The leader's sender is gone without a result.
        Err(_) => Waited::Abandoned,
    }
}

/// The leader's side of a flight. Dropping it without [`finish`](Leader::finish) or
/// [`fail`](Leader::fail) (the leader's future was cancelled, or it panicked) abandons the flight
/// so the waiters do not hang.
pub(crate) struct Leader<'a, K: Hash + Eq, V> {
    flights: &'a Flights<K, V>,
    key: Option<K>,
    tx: watch::Sender<State<V>>,
}

impl<K: Hash + Eq, V> Leader<'_, K, V> {
    /// Leaves the map and hands `value` to the waiters.
    pub(crate) fn finish(mut self, value: V) {
        self.leave(State::Done(value));
    }

    /// Leaves the map; the waiters run their own bodies.
    pub(crate) fn fail(mut self) {
        self.leave(State::Failed);
    }

    /// Leaves the map; the waiters start over (one of them leads next).
    pub(crate) fn abandon(mut self) {
        self.leave(State::Abandoned);
    }

    fn leave(&mut self, end: State<V>) {
        if let Some(key) = self.key.take() {
            self.flights.map.lock().remove(&key);
            self.tx.send_replace(end);
        }
    }
}

impl<K: Hash + Eq, V> Drop for Leader<'_, K, V> {
    fn drop(&mut self) {
        self.leave(State::Abandoned);
    }
}
