//! The `metrics` feature: names, labels and values through `metrics-util`'s debugging recorder.

use std::collections::BTreeMap;

use cachex_runtime::{registry, Cache, CallError, MemoryStore};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;

/// Every recorded metric as `name{label=value,...}` → value (counters and gauges as f64).
fn recorded(snapshotter: &Snapshotter) -> BTreeMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let value = match value {
                DebugValue::Counter(n) => {
                    assert_eq!(kind, MetricKind::Counter);
                    n as f64
                }
                DebugValue::Gauge(g) => {
                    assert_eq!(kind, MetricKind::Gauge);
                    g.into_inner()
                }
                DebugValue::Histogram(_) => panic!("no histograms are published"),
            };
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

#[test]
fn publish_sets_the_documented_names_and_labels_and_calls_record_nothing() {
    // A runtime of its own: the recorder is installed for this thread only, around the calls.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let b = registry().breaker("metrics-breaker");
    let cache: Cache<u8> = Cache::with_name("metrics-cache", MemoryStore::new(10));
    rt.block_on(cache.set("k", &1, None)).unwrap();

    // Calls under a recorder: the call paths themselves record nothing.
    let recorded_by_calls = metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            for _ in 0..3 {
                let _ = b.call(|| async { Ok::<_, ()>(()) }).await;
            }
            let _ = b.call(|| async { Err::<(), _>(()) }).await;
            cache.get("k").await.unwrap();
            cache.get("nope").await.unwrap();
        });
        recorded(&snapshotter)
    });
    assert!(recorded_by_calls.is_empty(), "{recorded_by_calls:?}");

    b.force_open();
    let r: Result<(), CallError<()>> = rt.block_on(b.call(|| async { Ok(()) }));
    assert!(r.is_err());

    metrics::with_local_recorder(&recorder, cachex_runtime::metrics::publish);
    let m = recorded(&snapshotter);
    let expect = [
        (
            "cachex_breaker_calls_total{breaker=metrics-breaker,outcome=success}",
            3.0,
        ),
        (
            "cachex_breaker_calls_total{breaker=metrics-breaker,outcome=failure}",
            1.0,
        ),
        (
            "cachex_breaker_calls_total{breaker=metrics-breaker,outcome=timeout}",
            0.0,
        ),
        (
            "cachex_breaker_calls_total{breaker=metrics-breaker,outcome=rejected}",
            1.0,
        ),
        ("cachex_breaker_state{breaker=metrics-breaker}", 1.0),
        (
            "cachex_cache_requests_total{cache=metrics-cache,result=hit}",
            1.0,
        ),
        (
            "cachex_cache_requests_total{cache=metrics-cache,result=miss}",
            1.0,
        ),
        ("cachex_cache_entries{cache=metrics-cache}", 0.0),
    ];
    for (key, value) in expect {
        assert_eq!(m.get(key), Some(&value), "{key} in {m:#?}");
    }

    // Published again later, the values are absolute, not added up.
    b.reset();
    let _ = rt.block_on(b.call(|| async { Ok::<_, ()>(()) }));
    metrics::with_local_recorder(&recorder, cachex_runtime::metrics::publish);
    let m = recorded(&snapshotter);
    assert_eq!(
        m.get("cachex_breaker_calls_total{breaker=metrics-breaker,outcome=success}"),
        Some(&4.0)
    );
    assert_eq!(
        m.get("cachex_breaker_state{breaker=metrics-breaker}"),
        Some(&0.0)
    );
}

#[test]
fn state_values_are_0_closed_1_open_2_half_open() {
    use cachex_runtime::{metrics::state_value, State};
    assert_eq!(
        [State::Closed, State::Open, State::HalfOpen].map(state_value),
        [0.0, 1.0, 2.0]
    );
}
