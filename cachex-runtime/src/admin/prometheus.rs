//! `/metrics`: the snapshot's figures in the OpenMetrics text format (which Prometheus
//! scrapes), encoded by `prometheus-client`. Built from a fresh snapshot on each scrape, so no
//! recorder and no work on the call paths.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::{Snapshot, State};

/// The content type of what [`render`] returns.
pub(super) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// The value of `cachex_breaker_state`: 0 closed, 1 open, 2 half-open.
fn state_value(state: State) -> i64 {
    match state {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
    }
}

/// The metrics of `snapshot` as exposition text with `# HELP` and `# TYPE` lines.
pub(super) fn render(snapshot: &Snapshot) -> String {
    let calls = Family::<Labels, Counter>::default();
    let state = Family::<Labels, Gauge>::default();
    let requests = Family::<Labels, Counter>::default();
    let entries = Family::<Labels, Gauge>::default();
    for b in &snapshot.breakers {
        let s = &b.stats;
        let outcomes = [
            ("success", s.total_successes),
            ("failure", s.total_failures.saturating_sub(s.total_timeouts)),
            ("timeout", s.total_timeouts),
            ("rejected", s.total_rejections),
        ];
        for (outcome, n) in outcomes {
            calls
                .get_or_create(&vec![
                    ("breaker", b.name.clone()),
                    ("outcome", outcome.to_owned()),
                ])
                .inc_by(n);
        }
        state
            .get_or_create(&vec![("breaker", b.name.clone())])
            .set(state_value(b.state));
    }
    for c in &snapshot.caches {
        for (result, n) in [("hit", c.stats.hits), ("miss", c.stats.misses)] {
            requests
                .get_or_create(&vec![
                    ("cache", c.name.clone()),
                    ("result", result.to_owned()),
                ])
                .inc_by(n);
        }
        entries
            .get_or_create(&vec![("cache", c.name.clone())])
            .set(i64::try_from(c.stats.entries).unwrap_or(i64::MAX));
    }
    let mut registry = Registry::default();
    // Counters get their `_total` suffix from the encoder.
    registry.register(
        "cachex_breaker_calls",
        "Calls presented to a circuit breaker, by outcome (success, failure, timeout, rejected)",
        calls,
    );
    registry.register(
        "cachex_breaker_state",
        "Circuit breaker state: 0 closed, 1 open, 2 half-open",
        state,
    );
    registry.register(
        "cachex_cache_requests",
        "Cache lookups, by result (hit, miss)",
        requests,
    );
    registry.register(
        "cachex_cache_entries",
        "Entries a cache holds in process memory",
        entries,
    );
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}
