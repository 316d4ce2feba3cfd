//! What production Redis does to a RedisStore, against real redis-servers (and a loopback proxy
//! in front of them where the network itself misbehaves): a failover behind the same endpoint,
//! server error replies, a refused connection setup, a silent peer, oversized values and TTLs,
//! refused writes, recovery while the store breaker is open, and timeouts in the breaker's stats.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use cachex_runtime::{cached, registry, BreakerConfig, RedisStore, State, Store};
use support::proxy::Proxy;
use support::redis_server::{RedisServer, Reply};
use tokio::time::Instant;

/// Margin on latency bounds for a shared 2-core machine.
const MARGIN: Duration = Duration::from_millis(150);

/// A builder with short, test-friendly settings; `name` must be unique per test (the breaker
/// `store.<name>` is global).
fn builder(url: &str, name: &str) -> cachex_runtime::RedisStoreBuilder {
    RedisStore::builder(url)
        .name(name)
        .op_timeout(Duration::from_millis(200))
        .max_retries(3)
        .retry_delay(Duration::from_millis(100))
        .circuit_breaker(BreakerConfig {
            threshold: 5,
            timeout: Duration::from_secs(30),
            half_open_max: 1,
            ..BreakerConfig::default()
        })
}

/// Polls `done` every 10 ms until it holds or `within` has passed; the time it took.
async fn wait_until(within: Duration, mut done: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if done().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_behind_the_same_endpoint_is_followed() {
    // Used to: after the endpoint moved to the new primary, every write kept going to the old
    // node on the open connection and got READONLY forever, while a fresh store worked.
    let (Some(old), Some(new)) = (RedisServer::start(), RedisServer::start()) else {
        return;
    };
    let proxy = Proxy::start(old.port());
    let store = builder(&proxy.url(""), "fail-failover")
        .build()
        .await
        .unwrap();
    store.set("k", b"before", None).await.unwrap();

    // The old primary becomes a replica of the new one, and the endpoint moves to the new one.
    let port = new.port().to_string();
    assert_eq!(
        old.cmd_str(&["REPLICAOF", "127.0.0.1", &port]),
        Reply::Status("OK".into())
    );
    proxy.switch_to(new.port());

    let bound = Duration::from_millis(200) * (1 + 3);
    let start = Instant::now();
    let first = store.set("k", b"after", None).await;
    let took = start.elapsed();
    println!("first write after the failover: {took:?} (bound {bound:?} + {MARGIN:?}): {first:?}");
    assert!(
        first.is_ok(),
        "the write reached the new primary: {first:?}"
    );
    assert!(took <= bound + MARGIN, "took {took:?}");
    assert_eq!(
        new.cmd_str(&["GET", "cachex:k"]).bulk().as_deref(),
        Some(&b"after"[..])
    );
    assert_eq!(store.breaker().state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_costs_one_attempt_and_no_breaker_failure() {
    // Used to: OOM under maxmemory was retried 3 times with backoff (300+ ms on the caller's
    // path) and each attempt counted as a breaker failure, as if Redis were down.
    let Some(server) = RedisServer::start() else {
        return;
    };
    server.cmd_str(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    server.cmd_str(&["CONFIG", "SET", "maxmemory", "1"]);
    let store = builder(&server.url(), "fail-oom").build().await.unwrap();

    let start = Instant::now();
    let refused = store.set("k", b"v", None).await;
    let took = start.elapsed();
    println!("refused SET under maxmemory: {took:?}: {refused:?}");
    let err = refused.expect_err("OOM is an error");
    assert!(err.to_string().contains("OOM"), "{err}");
    assert!(
        took < Duration::from_millis(100),
        "no retry delay: {took:?}"
    );
    let stats = store.breaker().stats();
    assert_eq!(stats.total_requests, 1, "one attempt: {stats:?}");
    assert_eq!(stats.total_failures, 0, "the server answered: {stats:?}");
    // Reads still work, and a WRONGTYPE read is a miss, not a failure.
    assert_eq!(store.get("absent").await.unwrap(), None);
}

static OOM_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cached(name = "oom-users", store = "fail-oom-cached", ttl = "60s")]
async fn oom_user(id: u64) -> u64 {
    OOM_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    id * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_miss_under_maxmemory_costs_no_retries() {
    // Used to: one #[cached] miss with Redis full cost 420-450 ms, the refused SET retried
    // with backoff on the caller's path.
    let Some(server) = RedisServer::start() else {
        return;
    };
    server.cmd_str(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    server.cmd_str(&["CONFIG", "SET", "maxmemory", "1"]);
    let store = builder(&server.url(), "fail-oom-cached")
        .build()
        .await
        .unwrap();
    registry().set_store("fail-oom-cached", store.clone());

    let start = Instant::now();
    assert_eq!(oom_user(21).await, 42);
    let took = start.elapsed();
    println!("#[cached] miss under maxmemory: {took:?}");
    assert!(took < Duration::from_millis(100), "took {took:?}");
    assert_eq!(store.breaker().state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_recovers_after_its_connection_setup_was_refused() {
    // Used to: a setup refused with anything but an auth error (here BUSY during a long script,
    // answered to the SELECT of the handshake) left the store broken for good, even after the
    // script was killed; a fresh store worked.
    let Some(server) = RedisServer::start() else {
        return;
    };
    server.cmd_str(&["CONFIG", "SET", "busy-reply-threshold", "10"]);
    let url = format!("{}/1", server.url());
    let store = builder(&url, "fail-setup")
        .max_retries(0)
        .build()
        .await
        .unwrap();

    // A script that never ends makes the server answer BUSY to everything else.
    let mut script = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let body = "while true do end";
    write!(
        script,
        "*3\r\n$4\r\nEVAL\r\n${}\r\n{body}\r\n$1\r\n0\r\n",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let busy = store.get("k").await;
    println!("during the script: {busy:?}");
    assert!(busy.is_err());
    assert_eq!(
        server.cmd_str(&["SCRIPT", "KILL"]),
        Reply::Status("OK".into())
    );

    let recovered = wait_until(Duration::from_secs(3), async || {
        store.set("k", b"v", None).await.is_ok()
    })
    .await;
    println!("recovered after the script was killed: {recovered:?}");
    assert!(recovered.is_some(), "the store works again");
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_replaced_after_consecutive_timeouts() {
    // Used to: a peer that vanished without a reset left the multiplexed connection waiting
    // forever; every operation timed out although new connections worked.
    let Some(server) = RedisServer::start() else {
        return;
    };
    let proxy = Proxy::start(server.port());
    let store = builder(&proxy.url(""), "fail-silent")
        .op_timeout(Duration::from_millis(100))
        .max_retries(0)
        .circuit_breaker(BreakerConfig {
            threshold: 20,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    store.set("k", b"v", None).await.unwrap();

    // The open connection goes silent for good; new connections reach the server.
    proxy.black_hole();
    proxy.forward();

    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let r = store.get("k").await;
        let ok = r.is_ok();
        outcomes.push(r.map(|v| v.is_some()).map_err(|e| e.to_string()));
        if ok {
            break;
        }
    }
    println!("operations after the peer went silent: {outcomes:?}");
    assert!(
        matches!(outcomes.last(), Some(Ok(true))),
        "a fresh connection answered: {outcomes:?}"
    );
    assert!(
        outcomes.len() <= 4,
        "replaced after a few timeouts: {outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_values_are_not_written_and_do_not_open_the_breaker() {
    // Used to: two huge writes overran op_timeout, opened the store breaker, and an unrelated
    // GET was then refused for the breaker's whole timeout.
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = builder(&server.url(), "fail-big")
        .op_timeout(Duration::from_millis(20))
        .max_retries(0)
        .circuit_breaker(BreakerConfig {
            threshold: 2,
            timeout: Duration::from_secs(30),
            half_open_max: 1,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    let big = vec![7u8; 64 << 20];
    for key in ["big1", "big2"] {
        let r = store.set(key, &big, None).await;
        println!("64 MiB write: {r:?}");
    }
    assert_eq!(store.breaker().state(), State::Closed);
    assert_eq!(store.breaker().stats().total_failures, 0);
    assert_eq!(server.cmd_str(&["EXISTS", "cachex:big1"]).int(), 0);
    store.set("small", b"v", None).await.unwrap();
    assert_eq!(
        store.get("small").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_beyond_what_redis_accepts_is_clamped() {
    // Used to: Duration::MAX became a PX Redis refuses (ERR invalid expire time), retried and
    // counted as 4 breaker failures, while MemoryStore accepted it.
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = builder(&server.url(), "fail-ttl").build().await.unwrap();
    store.set("k", b"v", Some(Duration::MAX)).await.unwrap();
    let pttl = server.cmd_str(&["PTTL", "cachex:k"]).int();
    assert!(pttl > 50 * 365 * 24 * 3_600 * 1_000, "PTTL {pttl}");
    assert_eq!(store.breaker().stats().total_failures, 0);
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_refuses_every_write_stops_trying_for_a_while() {
    // Used to: with an ACL user without SET, every miss retried the refused SET 4 times and the
    // breaker never opened, because each successful GET cleared its failure streak.
    let Some(server) = RedisServer::start_with_password(Some("app"), "pw") else {
        return;
    };
    server.cmd_str(&["ACL", "SETUSER", "app", "-set"]);
    let store = builder(&server.url(), "fail-noperm")
        .circuit_breaker(BreakerConfig {
            threshold: 5,
            timeout: Duration::from_millis(500),
            half_open_max: 1,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();

    let start = Instant::now();
    for i in 0..20 {
        assert_eq!(store.get(&format!("k{i}")).await.unwrap(), None);
        let err = store.set(&format!("k{i}"), b"v", None).await.unwrap_err();
        assert!(!err.is_circuit_open(), "{err}");
    }
    let took = start.elapsed();
    let stats = store.breaker().stats();
    println!("20 misses with writes refused: {took:?}, {stats:?}");
    // 20 GETs plus the few SETs it took to see that writes are refused.
    assert!(stats.total_requests <= 20 + 3, "{stats:?}");
    assert_eq!(stats.total_failures, 0, "{stats:?}");
    assert!(took < Duration::from_millis(500), "took {took:?}");

    // After the back-off, writes are tried again and work once allowed.
    server.cmd_str(&["ACL", "SETUSER", "app", "+set"]);
    let back = wait_until(Duration::from_secs(3), async || {
        store.set("k", b"v", None).await.is_ok()
    })
    .await;
    println!("writes resumed after {back:?}");
    assert!(back.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_breaker_closes_soon_after_redis_answers_again() {
    // Used to: after Redis came back the cache stayed bypassed until the breaker's 30 s timeout
    // ran out.
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = builder(&server.url(), "fail-probe")
        .max_retries(0)
        .op_timeout(Duration::from_millis(100))
        .circuit_breaker(BreakerConfig {
            threshold: 2,
            timeout: Duration::from_secs(30),
            half_open_max: 1,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    store.set("k", b"v", None).await.unwrap();
    server.kill();
    for _ in 0..3 {
        let _ = store.get("k").await;
    }
    assert_eq!(store.breaker().state(), State::Open);

    server.restart();
    let closed = wait_until(Duration::from_secs(5), async || {
        store.breaker().state() != State::Open
    })
    .await;
    println!("breaker left OPEN {closed:?} after Redis answered again (bound 1 s + {MARGIN:?})");
    let closed = closed.expect("the breaker left OPEN");
    assert!(closed <= Duration::from_secs(1) + MARGIN, "{closed:?}");
    store.set("k", b"v2", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_timeout_counts_as_a_breaker_timeout() {
    // Used to: op_timeout overruns were failures in the store breaker's stats, but not
    // timeouts: total_timeouts stayed 0.
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = builder(&server.url(), "fail-timeouts")
        .max_retries(0)
        .op_timeout(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    store.set("k", b"v", None).await.unwrap();
    server.pause(Duration::from_millis(600));
    let r = store.get("k").await;
    assert!(r.is_err(), "{r:?}");
    let stats = store.breaker().stats();
    println!("{stats:?}");
    assert_eq!((stats.total_failures, stats.total_timeouts), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_write_that_overruns_its_deadline_is_not_a_breaker_failure() {
    // Used to: a large write that was merely slow was retried and each overrun counted as a
    // breaker failure, as if Redis were down.
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = builder(&server.url(), "fail-slow-write")
        .op_timeout(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    store.set("warm", b"v", None).await.unwrap();
    server.pause(Duration::from_millis(800));
    let value = vec![1u8; 512 * 1024];
    let start = Instant::now();
    let r = store.set("big", &value, None).await;
    let took = start.elapsed();
    // 50 ms, plus 50 ms per 256 KiB of value.
    let deadline = Duration::from_millis(150);
    println!("512 KiB write to a paused Redis: {took:?} (deadline {deadline:?}): {r:?}");
    assert!(r.is_err());
    assert!(took <= deadline + MARGIN, "one attempt: {took:?}");
    let stats = store.breaker().stats();
    assert_eq!(stats.total_failures, 0, "{stats:?}");
    assert_eq!(stats.state, State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_value_bytes_sets_the_largest_value_written() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = builder(&server.url(), "fail-max-value")
        .max_value_bytes(4 << 20)
        .build()
        .await
        .unwrap();
    let value = vec![9u8; 2 << 20];
    store.set("two-mib", &value, None).await.unwrap();
    assert_eq!(store.get("two-mib").await.unwrap(), Some(value));
    let over = vec![9u8; (4 << 20) + 1];
    let err = store.set("over", &over, None).await.unwrap_err();
    assert!(err.to_string().contains("max_value_bytes"), "{err}");
    assert_eq!(server.cmd_str(&["EXISTS", "cachex:over"]).int(), 0);
}

#[tokio::test]
async fn one_probe_runs_per_store_and_it_ends_with_the_store() {
    // The recovery probe is a background task: there must never be more than one per store,
    // however many operations find the breaker open, and none once the store is gone.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let store = builder(&format!("redis://127.0.0.1:{port}"), "fail-one-probe")
        .max_retries(0)
        .circuit_breaker(BreakerConfig {
            threshold: 1,
            timeout: Duration::from_secs(30),
            half_open_max: 1,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    for _ in 0..16 {
        assert!(store.get("k").await.is_err());
    }
    assert_eq!(store.breaker().state(), State::Open);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(metrics.num_alive_tasks(), baseline + 1, "one probe");

    drop(store);
    let gone = wait_until(Duration::from_secs(2), async || {
        metrics.num_alive_tasks() == baseline
    })
    .await;
    println!("probe ended {gone:?} after the store was dropped");
    assert!(gone.is_some(), "the probe ended with the store");
}

#[test]
fn a_probe_dropped_with_its_runtime_is_started_again_on_the_next() {
    // A store outlives runtimes (it sits in the registry); a probe that died with the runtime
    // that started it must not keep later runtimes from probing.
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let url = server.url();
    let store = runtime().block_on(async {
        builder(&url, "fail-probe-runtimes")
            .max_retries(0)
            .op_timeout(Duration::from_millis(100))
            .circuit_breaker(BreakerConfig {
                threshold: 1,
                timeout: Duration::from_secs(30),
                half_open_max: 1,
                ..BreakerConfig::default()
            })
            .build()
            .await
            .unwrap()
    });
    server.kill();
    // The first runtime opens the breaker, starts the probe, and ends with it.
    runtime().block_on(async {
        assert!(store.get("k").await.is_err());
        assert_eq!(store.breaker().state(), State::Open);
    });
    server.restart();
    runtime().block_on(async {
        assert!(store.get("k").await.unwrap_err().is_circuit_open());
        let closed = wait_until(Duration::from_secs(3), async || {
            store.breaker().state() != State::Open
        })
        .await;
        println!("closed by a probe of a later runtime after {closed:?}");
        assert!(closed.is_some(), "a new probe ran");
    });
}

#[test]
fn a_connection_made_on_a_runtime_that_ended_is_replaced_on_first_use() {
    // A store outlives runtimes (it sits in the registry); its connection's driver dies with
    // the runtime that made it, and the next runtime's first operation must not fail on it.
    let Some(server) = RedisServer::start() else {
        return;
    };
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let url = server.url();
    let store = runtime().block_on(async {
        let store = builder(&url, "fail-runtimes").build().await.unwrap();
        store.set("k", b"v", None).await.unwrap();
        store
    });
    runtime().block_on(async {
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(store.breaker().stats().total_failures, 0);
    });
}
