//! `#[cached(store = ...)]` and `Cache<T>` on a RedisStore, against a real redis-server: the
//! function keeps answering while Redis is killed, hung or holds garbage, and the cache is used
//! again once Redis is back.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::{cached, registry, BreakerConfig, Cache, RedisStore, State};
use support::redis_server::{RedisServer, Reply};
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

/// A "user" as a tuple, so the test needs no derive: `(id, name)`.
type User = (u64, String);

fn user(id: u64) -> User {
    (id, format!("user-{id}"))
}

static KILLED_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(name = "killed-users", store = "redis-killed", ttl = "60s")]
async fn load_user_killed(id: u64) -> Result<User, AppError> {
    KILLED_RUNS.fetch_add(1, Ordering::Relaxed);
    Ok(user(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_redis_never_fails_a_call_and_the_cache_comes_back_after_a_restart() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let threshold = 5;
    let store = RedisStore::builder(&server.url())
        .name("killed-e2e")
        .op_timeout(Duration::from_millis(200))
        .circuit_breaker(BreakerConfig {
            threshold,
            timeout: Duration::from_secs(1),
            half_open_max: 1,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    let breaker = store.breaker();
    registry().set_store("redis-killed", store);

    // Warm: values land in Redis under <prefix>:<cache name>:<key as JSON>.
    for id in 0..8 {
        assert_eq!(load_user_killed(id).await, Ok(user(id)));
    }
    assert_eq!(KILLED_RUNS.load(Ordering::Relaxed), 8);
    let stored = server.cmd_str(&["GET", "cachex:killed-users:[3]"]).bulk();
    assert!(stored.is_some(), "key layout <prefix>:<cache name>:<key>");
    assert_eq!(load_user_killed(3).await, Ok(user(3)));
    assert_eq!(
        KILLED_RUNS.load(Ordering::Relaxed),
        8,
        "a hit does not run the body"
    );

    // 64 tasks call in a loop, a bounded number of times each; Redis is killed under them.
    const TASKS: u64 = 64;
    const CALLS: u64 = 300;
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let done = Arc::clone(&done);
            let breaker = Arc::clone(&breaker);
            tokio::spawn(async move {
                let mut failed = 0u64;
                let mut open_calls = Vec::new();
                for i in 0..CALLS {
                    let id = (t + i) % 16;
                    let open = breaker.state() == State::Open;
                    let started = Instant::now();
                    let result = load_user_killed(id).await;
                    let took = started.elapsed();
                    if result != Ok(user(id)) {
                        failed += 1;
                    }
                    if open && breaker.state() == State::Open {
                        open_calls.push(took);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
                (failed, open_calls)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while done.load(Ordering::Relaxed) < TASKS * 20 {
        assert!(Instant::now() < deadline, "the callers made no progress");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill();

    let mut failed = 0;
    let mut open_calls = Vec::new();
    for task in tasks {
        let (f, o) = task.await.expect("no caller panicked");
        failed += f;
        open_calls.extend(o);
    }
    assert_eq!(failed, 0, "calls failed while Redis was down");
    assert_eq!(breaker.state(), State::Open);
    // Failed attempts before it opened: `threshold`, plus at most one attempt in flight per
    // caller, admitted while it was still closed.
    let stats = breaker.stats();
    assert!(
        stats.total_failures <= u64::from(threshold) + TASKS,
        "{} failures before the breaker opened (threshold {threshold})",
        stats.total_failures
    );
    assert!(stats.total_rejections > 0);

    // While open, a call costs microseconds: the breaker refuses the store at once.
    assert!(
        open_calls.len() > 1_000,
        "only {} calls while open",
        open_calls.len()
    );
    open_calls.sort();
    let pct = |p: usize| open_calls[open_calls.len() * p / 100];
    let (median, p90) = (pct(50), pct(90));
    eprintln!(
        "killed Redis: {} failed attempts before open; {} calls while open: median {median:?}, \
         p90 {p90:?}, p99 {:?} (64 tasks on 2 threads: the tail is waiting for a thread)",
        stats.total_failures,
        open_calls.len(),
        pct(99)
    );
    assert!(
        median < Duration::from_micros(300),
        "median {median:?} per call while open"
    );
    assert!(
        p90 < Duration::from_millis(1),
        "p90 {p90:?} per call while open"
    );
    // Measured alone, without 64 tasks sharing two threads.
    let started = Instant::now();
    for i in 0..1_000 {
        assert_eq!(load_user_killed(100 + i).await, Ok(user(100 + i)));
    }
    let alone = started.elapsed() / 1_000;
    eprintln!("killed Redis: {alone:?} per call while open, one caller alone");
    assert!(
        alone < Duration::from_micros(500),
        "{alone:?} per call while open"
    );

    // Redis back (empty) on the same port: after the breaker timeout the cache is used again.
    server.restart();
    let deadline = Instant::now() + breaker.config().timeout + Duration::from_secs(5);
    loop {
        let before = KILLED_RUNS.load(Ordering::Relaxed);
        assert_eq!(load_user_killed(7).await, Ok(user(7)));
        assert_eq!(load_user_killed(7).await, Ok(user(7)));
        let hit = KILLED_RUNS.load(Ordering::Relaxed) - before <= 1
            && server.cmd_str(&["EXISTS", "cachex:killed-users:[7]"]).int() == 1;
        if hit {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cache was not used again after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(breaker.state(), State::Closed);
}

static HUNG_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(name = "hung-users", store = "redis-hung", ttl = "60s")]
async fn load_user_hung(id: u64) -> Result<User, AppError> {
    HUNG_RUNS.fetch_add(1, Ordering::Relaxed);
    Ok(user(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_redis_holds_no_call_past_the_store_deadlines() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let op_timeout = Duration::from_millis(100);
    let max_retries = 1;
    let retry_delay = Duration::from_millis(10);
    let store = RedisStore::builder(&server.url())
        .name("hung-e2e")
        .op_timeout(op_timeout)
        .max_retries(max_retries)
        .retry_delay(retry_delay)
        .circuit_breaker(BreakerConfig {
            // Closed throughout: each call pays the whole deadline of each store operation.
            threshold: 10_000,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    registry().set_store("redis-hung", store);
    assert_eq!(load_user_hung(1).await, Ok(user(1)));

    server.pause(Duration::from_secs(2));
    // A miss reads (GET) and then writes (SET): two operations of (1 + max_retries) attempts.
    let attempts = 2 * (max_retries + 1);
    let bound = op_timeout * attempts + retry_delay * 2 + Duration::from_millis(300);
    let tasks: Vec<_> = (0..16u64)
        .map(|id| {
            tokio::spawn(async move {
                let started = Instant::now();
                let result = load_user_hung(id).await;
                (id, result, started.elapsed())
            })
        })
        .collect();
    for task in tasks {
        let (id, result, took) = task.await.expect("no panic");
        assert_eq!(result, Ok(user(id)), "a hung Redis must not fail the call");
        assert!(took <= bound, "a call waited {took:?}; bound {bound:?}");
    }
}

static GARBAGE_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(name = "garbage-users", store = "redis-garbage")]
async fn load_user_garbage(id: u64) -> Result<User, AppError> {
    GARBAGE_RUNS.fetch_add(1, Ordering::Relaxed);
    Ok(user(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_values_are_misses_and_are_overwritten() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::builder(&server.url())
        .name("garbage-e2e")
        .build()
        .await
        .unwrap();
    registry().set_store("redis-garbage", store.clone());

    // What a decodable value looks like: one format-version byte, then MessagePack.
    assert_eq!(load_user_garbage(0).await, Ok(user(0)));
    let good = server
        .cmd_str(&["GET", "cachex:garbage-users:[0]"])
        .bulk()
        .unwrap();
    let version = good[0];

    let key = |id: u64| format!("cachex:garbage-users:[{id}]");
    // 1: garbage bytes.
    server.cmd(&[b"SET", key(1).as_bytes(), &[0xff, 0x00, 0xc1, 0x13, 0x37]]);
    // 2: an older format version in front of a valid MessagePack [2, "user-2"].
    let mut old = vec![version.wrapping_sub(1), 0x92, 0x02, 0xa6];
    old.extend_from_slice(b"user-2");
    server.cmd(&[b"SET", key(2).as_bytes(), &old]);
    // 3: the current version, but a value of another type (a string, not a user).
    let mut other = vec![version, 0xa5];
    other.extend_from_slice(b"hello");
    server.cmd(&[b"SET", key(3).as_bytes(), &other]);
    // 4: another Redis type under the key.
    server.cmd_str(&["RPUSH", &key(4), "a", "b"]);
    // 5: empty.
    server.cmd(&[b"SET", key(5).as_bytes(), b""]);

    let before = GARBAGE_RUNS.load(Ordering::Relaxed);
    for id in 1..=5 {
        assert_eq!(load_user_garbage(id).await, Ok(user(id)), "value {id}");
        let now = server.cmd_str(&["GET", &key(id)]).bulk();
        assert_eq!(
            now.as_deref().map(|b| b[0]),
            Some(version),
            "value {id} was not overwritten"
        );
    }
    assert_eq!(
        GARBAGE_RUNS.load(Ordering::Relaxed) - before,
        5,
        "each was a miss"
    );
    for id in 1..=5 {
        assert_eq!(load_user_garbage(id).await, Ok(user(id)));
    }
    assert_eq!(
        GARBAGE_RUNS.load(Ordering::Relaxed) - before,
        5,
        "each is now a hit"
    );
    // None of that is Redis failing.
    assert_eq!(store.breaker().stats().total_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_cache_keys_ttls_and_clear_cache_on_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::builder(&server.url())
        .name("typed-e2e")
        .prefix("app")
        .build()
        .await
        .unwrap();
    let users: Cache<User> = Cache::with_name("typed-users", store.clone());
    let orders: Cache<u64> = Cache::with_name("typed-users-orders", store.clone());

    users
        .set("42", &user(42), Some(Duration::from_secs(30)))
        .await
        .unwrap();
    users.set("43", &user(43), None).await.unwrap();
    orders.set("1", &7, None).await.unwrap();
    assert_eq!(users.get("42").await.unwrap(), Some(user(42)));
    assert_eq!(users.get("44").await.unwrap(), None);

    // <prefix>:<cache name>:<key>, TTL in milliseconds with the value.
    assert!(matches!(
        server.cmd_str(&["GET", "app:typed-users:42"]),
        Reply::Bulk(Some(_))
    ));
    let pttl = server.cmd_str(&["PTTL", "app:typed-users:42"]).int();
    assert!((1..=30_000).contains(&pttl), "PTTL {pttl}");
    assert_eq!(server.cmd_str(&["PTTL", "app:typed-users:43"]).int(), -1);

    // A value of another type under the key reads as a miss.
    let wrong: Cache<String> = Cache::with_name("typed-users", store.clone());
    assert_eq!(wrong.get("42").await.unwrap(), None);

    // clear_cache removes that cache's keys in Redis (SCAN + UNLINK), and only those.
    registry().clear_cache("typed-users").await.unwrap();
    assert_eq!(
        server
            .cmd_str(&["EXISTS", "app:typed-users:42", "app:typed-users:43"])
            .int(),
        0
    );
    assert_eq!(orders.get("1").await.unwrap(), Some(7));

    assert!(users.delete("nothing").await.is_ok());
    orders.set("2", &8, None).await.unwrap();
    assert!(orders.delete("2").await.unwrap());
    assert!(!orders.delete("2").await.unwrap());
}
