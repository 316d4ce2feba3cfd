//! Breaker state changes as [`Event`]s on a process-wide `tokio::sync::broadcast` channel, and
//! as `tracing` events.
//!
//! A state change is rare next to calls, so it may take the channel's lock; a call on the closed
//! path never comes here. When nobody ever subscribed, emitting costs one relaxed atomic load
//! (plus the `tracing` callsite check). A subscriber that does not keep up lags: it misses the
//! oldest events (its next `recv` says how many) and never holds a call up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use tokio::sync::broadcast;

use crate::State;

/// Events kept for a subscriber that has not read them yet; older ones are dropped for it.
pub(crate) const CHANNEL_CAPACITY: usize = 1024;

/// Something that happened in cachex that an operator may want to see.
///
/// ```
/// use cachex_runtime::{registry, Event, State};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut events = registry().subscribe();
/// registry().breaker("doc-events").force_open();
/// let Event::BreakerStateChanged { name, from, to } = events.recv().await.unwrap() else {
///     unreachable!()
/// };
/// assert_eq!((name.as_str(), from, to), ("doc-events", State::Closed, State::Open));
/// # registry().breaker("doc-events").reset();
/// # }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A breaker moved from one state to another: by its state machine (CLOSED → OPEN,
    /// OPEN → HALF_OPEN, HALF_OPEN → CLOSED or OPEN) or by an operator (`force_open`,
    /// `force_close`, `reset`; these are reported even when the state stays the same, for
    /// example `reset` of a CLOSED breaker is CLOSED → CLOSED).
    BreakerStateChanged {
        /// The breaker's name.
        name: String,
        /// The state before the change.
        from: State,
        /// The state after it.
        to: State,
    },
}

struct Channel {
    sender: broadcast::Sender<Event>,
    /// True once someone may be listening; cleared again when a send finds no receiver.
    listening: AtomicBool,
}

static CHANNEL: LazyLock<Channel> = LazyLock::new(|| Channel {
    sender: broadcast::channel(CHANNEL_CAPACITY).0,
    listening: AtomicBool::new(false),
});

/// A new receiver of every event from now on.
pub(crate) fn subscribe() -> broadcast::Receiver<Event> {
    let rx = CHANNEL.sender.subscribe();
    CHANNEL.listening.store(true, Ordering::Release);
    rx
}

/// Reports a breaker state change: a `tracing` event (`WARN` when it opens, `INFO` otherwise,
/// fields `breaker`, `from`, `to`) and an [`Event::BreakerStateChanged`] to subscribers.
///
/// The breaker calls this while it holds its transition lock, so the events of one breaker are
/// sent in the order of its transitions.
pub(crate) fn emit_state_change(name: &str, from: State, to: State) {
    if to == State::Open {
        tracing::warn!(breaker = name, from = %from, to = %to, "circuit breaker state changed");
    } else {
        tracing::info!(breaker = name, from = %from, to = %to, "circuit breaker state changed");
    }
    // Nobody listening (the common case in production without a dashboard): no allocation.
    if !CHANNEL.listening.load(Ordering::Relaxed) {
        return;
    }
    let event = Event::BreakerStateChanged {
        name: name.to_owned(),
        from,
        to,
    };
    if CHANNEL.sender.send(event).is_err() {
        // Every receiver is gone. A subscriber that arrived since this send sets the flag
        // again after it subscribed, so re-checking the count keeps it from being lost.
        CHANNEL.listening.store(false, Ordering::Relaxed);
        if CHANNEL.sender.receiver_count() > 0 {
            CHANNEL.listening.store(true, Ordering::Relaxed);
        }
    }
}
