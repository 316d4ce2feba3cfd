//! RedisStore against a real redis-server that each test starts on its own port: round trip, TTL,
//! key layout, clear by prefix, and what happens when Redis dies, comes back, or hangs.

mod support;

use std::time::Duration;

use cachex_runtime::{BreakerConfig, Error, RedisStore, State, Store};
use support::redis_server::{RedisServer, Reply};
use tokio::time::Instant;

/// A store with short, test-friendly settings; `name` must be unique per test (the breaker
/// `store.<name>` is global).
async fn store(server: &RedisServer, name: &str) -> RedisStore {
    RedisStore::builder(&server.url())
        .name(name)
        .op_timeout(Duration::from_millis(200))
        .max_retries(2)
        .retry_delay(Duration::from_millis(10))
        .circuit_breaker(BreakerConfig {
            threshold: 3,
            timeout: Duration::from_millis(500),
            half_open_max: 1,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .expect("build store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_get_set_delete() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "rt").await;

    assert_eq!(store.get("users:1").await.unwrap(), None);
    store.set("users:1", b"alice", None).await.unwrap();
    assert_eq!(
        store.get("users:1").await.unwrap().as_deref(),
        Some(&b"alice"[..])
    );

    // Binary-safe, and a set replaces.
    let bytes: Vec<u8> = (0..=255).collect();
    store.set("users:1", &bytes, None).await.unwrap();
    assert_eq!(store.get("users:1").await.unwrap(), Some(bytes));

    assert!(store.delete("users:1").await.unwrap());
    assert!(!store.delete("users:1").await.unwrap());
    assert_eq!(store.get("users:1").await.unwrap(), None);
    assert_eq!(store.breaker().stats().total_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_is_set_in_milliseconds_with_the_value() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "ttl").await;

    store
        .set("k", b"v", Some(Duration::from_millis(1_500)))
        .await
        .unwrap();
    let pttl = server.cmd_str(&["PTTL", "cachex:k"]).int();
    assert!((1..=1_500).contains(&pttl), "PTTL {pttl}");

    // No TTL: kept until evicted.
    store.set("forever", b"v", None).await.unwrap();
    assert_eq!(server.cmd_str(&["PTTL", "cachex:forever"]).int(), -1);

    // A set without TTL clears an old TTL (SET replaces the whole entry).
    store.set("k", b"v2", None).await.unwrap();
    assert_eq!(server.cmd_str(&["PTTL", "cachex:k"]).int(), -1);

    // A sub-second TTL is honoured by Redis: the entry goes away by itself.
    store
        .set("short", b"v", Some(Duration::from_millis(100)))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while store.get("short").await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "a 100 ms TTL still not expired after 3 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_prefixed_and_readable_by_other_clients() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let default = store(&server, "layout-default").await;
    let custom = RedisStore::builder(&server.url())
        .name("layout-custom")
        .prefix("myapp")
        .build()
        .await
        .unwrap();

    default.set("users:42", b"a", None).await.unwrap();
    custom.set("users:42", b"b", None).await.unwrap();
    assert_eq!(default.redis_key("users:42"), "cachex:users:42");
    assert_eq!(
        server.cmd_str(&["GET", "cachex:users:42"]).bulk(),
        Some(b"a".to_vec())
    );
    assert_eq!(
        server.cmd_str(&["GET", "myapp:users:42"]).bulk(),
        Some(b"b".to_vec())
    );
    // Two prefixes, two namespaces.
    assert_eq!(default.get("users:42").await.unwrap(), Some(b"a".to_vec()));
    assert_eq!(custom.get("users:42").await.unwrap(), Some(b"b".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_prefix_removes_exactly_that_prefix_in_many_scan_steps() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "clear").await;

    // Enough keys that SCAN needs several steps.
    for i in 0..1_200 {
        store.set(&format!("users:{i}"), b"x", None).await.unwrap();
    }
    store.set("usersettings:1", b"keep", None).await.unwrap();
    store.set("orders:1", b"keep", None).await.unwrap();
    // Glob metacharacters in the prefix are matched literally.
    store.set("we*rd:1", b"x", None).await.unwrap();
    store.set("weird:1", b"keep", None).await.unwrap();
    store.set("we?rd:1", b"keep", None).await.unwrap();
    // Same logical key outside the store's own prefix: not ours to clear.
    server.cmd_str(&["SET", "other:users:1", "keep"]);

    assert_eq!(store.clear_prefix("users:").await.unwrap(), 1_200);
    assert_eq!(store.clear_prefix("we*rd:").await.unwrap(), 1);
    assert_eq!(store.clear_prefix("nothing:").await.unwrap(), 0);

    assert_eq!(store.get("users:7").await.unwrap(), None);
    for kept in ["usersettings:1", "orders:1", "weird:1", "we?rd:1"] {
        assert!(
            store.get(kept).await.unwrap().is_some(),
            "{kept} was cleared"
        );
    }
    assert_eq!(
        server.cmd_str(&["GET", "other:users:1"]).bulk(),
        Some(b"keep".to_vec())
    );
    assert_eq!(server.cmd_str(&["DBSIZE"]).int(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_redis_type_under_a_key_is_a_miss_and_is_overwritten() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "wrongtype").await;

    server.cmd_str(&["RPUSH", "cachex:k", "a", "b"]);
    server.cmd_str(&["HSET", "cachex:h", "f", "v"]);
    assert_eq!(store.get("k").await.unwrap(), None);
    assert_eq!(store.get("h").await.unwrap(), None);
    // Not a sign of a sick Redis: the breaker saw successes only.
    let stats = store.breaker().stats();
    assert_eq!(stats.total_failures, 0);
    assert_eq!(stats.state, State::Closed);

    store.set("k", b"fresh", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"fresh".to_vec()));
    assert_eq!(server.cmd_str(&["TYPE", "cachex:k"]).status(), "string");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn building_with_redis_down_is_lazy_and_operations_fail_in_bounded_time() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    server.kill();

    let started = Instant::now();
    let store = RedisStore::builder(&url)
        .name("down-at-start")
        .op_timeout(Duration::from_millis(200))
        .max_retries(1)
        .retry_delay(Duration::from_millis(10))
        .build()
        .await
        .expect("building does not need Redis");
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let err = store.get("k").await.unwrap_err();
    // 2 attempts × 200 ms + 10 ms backoff, plus slack for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, Error::Store { ref store, .. } if store == "down-at-start"),
        "{err:?}"
    );
    assert!(store.ping().await.is_err());

    // Redis comes up after the service: the same store starts working.
    server.restart();
    store.breaker().reset();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match store.set("k", b"v", None).await {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "store never recovered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.ping().await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_redis_opens_the_breaker_fast_and_recovers_after_restart() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "killed").await;
    let breaker = store.breaker();
    let threshold = breaker.config().threshold;
    store.set("k", b"v", None).await.unwrap();

    server.kill();

    // Operations fail with an error, never a panic or a hang, and the breaker opens within
    // `threshold` failed attempts.
    let mut failed_ops = 0;
    while breaker.state() != State::Open {
        assert!(
            failed_ops < threshold,
            "breaker still closed after {failed_ops} failed operations"
        );
        assert!(store.get("k").await.is_err());
        failed_ops += 1;
    }
    let stats = breaker.stats();
    assert_eq!(stats.total_failures, u64::from(threshold), "{stats:?}");

    // While open, an operation is refused at once.
    let n = 2_000u32;
    let started = Instant::now();
    for _ in 0..n {
        let err = store.get("k").await.unwrap_err();
        assert!(err.is_circuit_open(), "{err}");
    }
    let per_op = started.elapsed() / n;
    assert!(
        per_op < Duration::from_micros(500),
        "{per_op:?} per refused operation"
    );
    assert_eq!(
        breaker.stats().total_failures,
        u64::from(threshold),
        "refusals are not failures"
    );

    // Redis back on the same port (empty): once the breaker lets a trial through, the store works.
    server.restart();
    let deadline = Instant::now() + breaker.config().timeout + Duration::from_secs(5);
    loop {
        if store.set("k", b"again", None).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "store did not recover after a restart"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(store.get("k").await.unwrap(), Some(b"again".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_trial_after_a_restart_succeeds() {
    // The connection manager holds the connection that died with the old server; a trial call
    // must not fail on it (that would re-open the breaker for another full timeout).
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "first-trial").await;
    let breaker = store.breaker();
    store.set("k", b"v", None).await.unwrap();

    server.kill();
    while breaker.state() != State::Open {
        let _ = store.get("k").await;
    }
    server.restart();
    tokio::time::sleep(breaker.config().timeout + Duration::from_millis(50)).await;
    let failures = breaker.stats().total_failures;
    store
        .set("k", b"v2", None)
        .await
        .expect("the first trial after the restart");
    assert_eq!(
        breaker.stats().total_failures,
        failures,
        "the trial attempt failed"
    );
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_redis_never_holds_an_operation_past_its_deadline() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let op_timeout = Duration::from_millis(150);
    let max_retries = 2;
    let retry_delay = Duration::from_millis(10);
    let store = RedisStore::builder(&server.url())
        .name("hung")
        .op_timeout(op_timeout)
        .max_retries(max_retries)
        .retry_delay(retry_delay)
        .circuit_breaker(BreakerConfig {
            threshold: 1_000, // keep it closed: every operation pays its full deadline
            timeout: Duration::from_millis(500),
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    store.set("k", b"v", None).await.unwrap();

    server.pause(Duration::from_secs(2));
    // attempts × op_timeout + the backoff delays (10 ms, 20 ms at most), plus slack.
    let bound = op_timeout * (max_retries + 1) + retry_delay * 3 + Duration::from_millis(300);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let result = store.get("k").await;
                (started.elapsed(), result)
            })
        })
        .collect();
    for task in tasks {
        let (took, result) = task.await.expect("no panic");
        let err = result.expect_err("a sleeping Redis cannot answer");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(
            took <= bound,
            "an operation waited {took:?}, bound {bound:?}"
        );
    }

    // Redis wakes up: the same connection serves again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(v) = store.get("k").await {
            assert_eq!(v, Some(b"v".to_vec()));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "store did not recover after DEBUG SLEEP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_redis_opens_the_breaker_and_then_costs_nothing() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, "hung-breaker").await;
    store.set("k", b"v", None).await.unwrap();
    server.pause(Duration::from_secs(2));

    // Threshold 3 with 3 attempts per operation: one operation opens it.
    let started = Instant::now();
    assert!(store.get("k").await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(store.breaker().state(), State::Open);
    let started = Instant::now();
    for _ in 0..100 {
        assert!(store.get("k").await.unwrap_err().is_circuit_open());
    }
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_url_works_and_is_never_shown() {
    let password = "Sup3r-s3cret-pw";
    let Some(server) = RedisServer::start_with_password(None, password) else {
        return;
    };
    let store = store(&server, "auth-default-user").await;
    assert!(server.url().contains(password));

    store.set("k", b"v", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
    let shown = format!("{store:?}");
    assert!(!shown.contains(password), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    let builder = format!("{:?}", RedisStore::builder(&server.url()));
    assert!(!builder.contains(password), "{builder}");

    // A wrong password: an error, and neither password in it.
    let wrong = "Wr0ng-pa55word";
    let url = server.url().replace(password, wrong);
    let bad = RedisStore::builder(&url)
        .name("auth-wrong")
        .build()
        .await
        .unwrap();
    let err = bad.get("k").await.unwrap_err();
    let text = format!("{err} {err:?} {bad:?}");
    assert!(!text.contains(wrong) && !text.contains(password), "{text}");
    assert!(matches!(err, Error::Store { .. }), "{err:?}");
    assert!(
        err.to_string().contains("1 attempt"),
        "a refused password is not retried: {err}"
    );

    // No password at all against a server that wants one.
    let url = format!("redis://127.0.0.1:{}", server.port());
    let anonymous = RedisStore::builder(&url)
        .name("auth-none")
        .build()
        .await
        .unwrap();
    assert!(anonymous.get("k").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_and_password_work_and_the_password_is_never_shown() {
    let password = "acl:p@ss/word";
    // The URL carries it percent-encoded; what Redis checks is the decoded form.
    let Some(server) = RedisServer::start_with_password(Some("cacheuser"), password) else {
        return;
    };
    let url = format!(
        "redis://cacheuser:acl%3Ap%40ss%2Fword@127.0.0.1:{}",
        server.port()
    );
    let store = RedisStore::builder(&url)
        .name("auth-acl")
        .build()
        .await
        .unwrap();
    store.set("k", b"v", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
    let shown = format!("{store:?}");
    assert!(
        !shown.contains("acl%3Ap%40ss") && !shown.contains(password),
        "{shown}"
    );
    assert!(shown.contains("cacheuser"), "{shown}");

    let url = format!("redis://cacheuser:nope-nope@127.0.0.1:{}", server.port());
    let bad = RedisStore::builder(&url)
        .name("auth-acl-wrong")
        .build()
        .await
        .unwrap();
    let err = bad.set("k", b"x", None).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("nope-nope"), "{err:?}");
    assert_eq!(
        server.cmd_str(&["GET", "cachex:k"]),
        Reply::Bulk(Some(b"v".to_vec()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_url_builds_and_fails_cleanly_against_a_plain_server() {
    // No TLS server here: this shows that rediss:// is understood (TLS support compiled in, a
    // crypto provider chosen) and that a failed handshake is an error without the password.
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = format!(
        "rediss://user:tls-secret-pw@127.0.0.1:{}/#insecure",
        server.port()
    );
    let store = RedisStore::builder(&url)
        .name("tls")
        .max_retries(0)
        .build()
        .await
        .unwrap();
    let shown = format!("{store:?}");
    assert!(
        shown.contains("rediss://") && !shown.contains("tls-secret-pw"),
        "{shown}"
    );
    let err = store.get("k").await.unwrap_err();
    assert!(
        !format!("{err} {err:?}").contains("tls-secret-pw"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn invalid_settings_are_refused_where_they_are_built() {
    let err = RedisStore::connect("not a url").await.unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    let err = RedisStore::connect("http://user:pw-in-url@host")
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("pw-in-url"), "{err}");
    let err = RedisStore::builder("redis://127.0.0.1")
        .name("")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_trial_ends_the_operation_without_sleeping_through_the_backoff() {
    // Regression: a half-open trial that failed re-opened the breaker, and the retry loop then
    // slept its backoff only to be refused; every caller that hit a trial paid the delay.
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let retry_delay = Duration::from_millis(400);
    let store = RedisStore::builder(&server.url())
        .name("failed-trial")
        .op_timeout(Duration::from_millis(200))
        .max_retries(3)
        .retry_delay(retry_delay)
        .circuit_breaker(BreakerConfig {
            threshold: 1,
            timeout: Duration::from_millis(100),
            half_open_max: 1,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    store.set("k", b"v", None).await.unwrap();
    server.kill();

    // threshold 1: the first failed attempt opens it, and the operation stops there.
    let started = Instant::now();
    assert!(store.get("k").await.is_err());
    assert!(
        started.elapsed() < retry_delay / 2,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(store.breaker().state(), State::Open);

    tokio::time::sleep(Duration::from_millis(150)).await;
    let failures = store.breaker().stats().total_failures;
    let started = Instant::now();
    let err = store.get("k").await.unwrap_err();
    assert!(
        started.elapsed() < retry_delay / 2,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        store.breaker().stats().total_failures,
        failures + 1,
        "one trial ran: {err}"
    );
    assert_eq!(store.breaker().state(), State::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_refused_by_the_server_recovers_once_the_server_accepts_it() {
    // Regression: a connection whose setup failed with a refused password was kept by the
    // client and never tried again, so the store stayed broken after the server was fixed.
    let Some(server) = RedisServer::start_with_password(None, "old-password") else {
        return;
    };
    let url = format!("redis://:new-password@127.0.0.1:{}", server.port());
    let store = RedisStore::builder(&url)
        .name("auth-rotation")
        .circuit_breaker(BreakerConfig {
            threshold: 100,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    assert!(store.get("k").await.is_err());

    // The server is switched to the password the store has.
    let reply = server.cmd_str(&["CONFIG", "SET", "requirepass", "new-password"]);
    assert_eq!(reply.status(), "OK");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match store.set("k", b"v", None).await {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
