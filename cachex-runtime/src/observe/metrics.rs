//! Breaker and cache figures through the [`metrics`](https://docs.rs/metrics) facade (cargo
//! feature `metrics`), so any exporter installed as the global recorder (Prometheus,
//! OpenTelemetry, StatsD) sees them.
//!
//! Nothing is recorded on the call paths: cachex already counts every call in its striped
//! counters, and [`publish`] reads them and hands the recorder *absolute* values (counters with
//! `absolute`, gauges with `set`). Call it when your exporter collects (before a scrape, or on
//! an interval); between two calls the figures keep counting in cachex at no extra cost.
//!
//! | metric | kind | labels | value |
//! |---|---|---|---|
//! | `cachex_breaker_calls_total` | counter | `breaker`, `outcome` = `success` \| `failure` \| `timeout` \| `rejected` | calls by outcome (`failure` excludes timeouts) |
//! | `cachex_breaker_state` | gauge | `breaker` | 0 closed, 1 open, 2 half-open |
//! | `cachex_cache_requests_total` | counter | `cache`, `result` = `hit` \| `miss` | lookups by result |
//! | `cachex_cache_entries` | gauge | `cache` | entries held in process memory |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! // With an exporter installed as the global recorder:
//! let mut every = tokio::time::interval(Duration::from_secs(15));
//! # for _ in 0..1 {
//! every.tick().await;
//! cachex_runtime::metrics::publish();
//! # }
//! # }
//! ```

use crate::{registry, Snapshot, State};

/// The value of `cachex_breaker_state` for a state: 0 closed, 1 open, 2 half-open.
///
/// ```
/// use cachex_runtime::{metrics::state_value, State};
/// assert_eq!(state_value(State::HalfOpen), 2.0);
/// ```
pub fn state_value(state: State) -> f64 {
    match state {
        State::Closed => 0.0,
        State::Open => 1.0,
        State::HalfOpen => 2.0,
    }
}

/// Publishes every breaker's and cache's figures of the registry to the installed recorder.
///
/// ```
/// cachex_runtime::registry().breaker("doc-metrics");
/// cachex_runtime::metrics::publish(); // a no-op without a recorder
/// ```
pub fn publish() {
    publish_snapshot(&registry().snapshot());
}

/// Publishes the figures of `snapshot` (see [`publish`]).
///
/// ```
/// let snap = cachex_runtime::registry().snapshot();
/// cachex_runtime::metrics::publish_snapshot(&snap);
/// ```
pub fn publish_snapshot(snapshot: &Snapshot) {
    for b in &snapshot.breakers {
        let s = &b.stats;
        let outcomes = [
            ("success", s.total_successes),
            ("failure", s.total_failures.saturating_sub(s.total_timeouts)),
            ("timeout", s.total_timeouts),
            ("rejected", s.total_rejections),
        ];
        for (outcome, n) in outcomes {
            ::metrics::counter!("cachex_breaker_calls_total", "breaker" => b.name.clone(), "outcome" => outcome)
                .absolute(n);
        }
        ::metrics::gauge!("cachex_breaker_state", "breaker" => b.name.clone())
            .set(state_value(b.state));
    }
    for c in &snapshot.caches {
        ::metrics::counter!("cachex_cache_requests_total", "cache" => c.name.clone(), "result" => "hit")
            .absolute(c.stats.hits);
        ::metrics::counter!("cachex_cache_requests_total", "cache" => c.name.clone(), "result" => "miss")
            .absolute(c.stats.misses);
        // Entries fit an f64 exactly up to 2^53, far beyond any in-memory cache.
        #[allow(clippy::cast_precision_loss)]
        let entries = c.stats.entries as f64;
        ::metrics::gauge!("cachex_cache_entries", "cache" => c.name.clone()).set(entries);
    }
}

/// Describes the metrics (units and help texts) to the installed recorder; call once after
/// installing it.
///
/// ```
/// cachex_runtime::metrics::describe();
/// ```
pub fn describe() {
    ::metrics::describe_counter!(
        "cachex_breaker_calls_total",
        "Calls presented to a circuit breaker, by outcome (success, failure, timeout, rejected)"
    );
    ::metrics::describe_gauge!(
        "cachex_breaker_state",
        "Circuit breaker state: 0 closed, 1 open, 2 half-open"
    );
    ::metrics::describe_counter!(
        "cachex_cache_requests_total",
        "Cache lookups, by result (hit, miss)"
    );
    ::metrics::describe_gauge!(
        "cachex_cache_entries",
        "Entries a cache holds in process memory"
    );
}
