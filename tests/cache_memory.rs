//! The memory path of `#[cached]` (what the macro expands to), through `__private::CacheSite`
//! and the registry. Time is tokio's paused clock: no sleeps-and-hope.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::__private::{CacheSite, Plain};
use cachex_runtime::registry;
use tokio::task::JoinSet;
use tokio::time::{advance, sleep, timeout};

#[derive(Clone, Debug, PartialEq)]
struct User {
    id: u64,
    name: String,
}

#[tokio::test(start_paused = true)]
async fn ttl_expiry_on_tokio_clock() {
    static SITE: CacheSite = CacheSite::new("mem-ttl", "memory").ttl(Duration::from_secs(60));
    let runs = &AtomicU32::new(0);
    let call = |id: u64| {
        SITE.memory(id, async move {
            runs.fetch_add(1, SeqCst);
            Plain(User {
                id,
                name: "a".into(),
            })
        })
    };
    assert_eq!(call(1).await.0.id, 1);
    assert_eq!(call(1).await.0.id, 1);
    assert_eq!(runs.load(SeqCst), 1);
    advance(Duration::from_secs(59)).await;
    call(1).await;
    assert_eq!(runs.load(SeqCst), 1, "still fresh at 59 s");
    advance(Duration::from_secs(1)).await;
    call(1).await;
    assert_eq!(runs.load(SeqCst), 2, "expired at 60 s");
    call(1).await;
    assert_eq!(runs.load(SeqCst), 2, "the new value is cached again");
}

#[tokio::test]
async fn capacity_bounds_entries_oldest_first() {
    static SITE: CacheSite = CacheSite::new("mem-capacity", "memory").capacity(10);
    let runs = &AtomicU32::new(0);
    let call = |k: u32| {
        SITE.memory(k, async move {
            runs.fetch_add(1, SeqCst);
            Plain(k * 2)
        })
    };
    for k in 0..25 {
        assert_eq!(call(k).await.0, k * 2);
    }
    let stats = registry().cache_stats("mem-capacity").unwrap();
    assert_eq!(stats.entries, 10);
    assert_eq!(stats.evictions, 15);
    // The ten newest are still there...
    for k in 15..25 {
        call(k).await;
    }
    assert_eq!(runs.load(SeqCst), 25);
    // ...the oldest were evicted.
    call(0).await;
    assert_eq!(runs.load(SeqCst), 26);
    assert!(registry().cache_stats("mem-capacity").unwrap().entries <= 10);
}

#[tokio::test]
async fn replacing_expired_keys_keeps_the_bound() {
    // Replacements leave stale items in the eviction queue; the bound must still hold.
    static SITE: CacheSite = CacheSite::new("mem-replace", "memory").capacity(3);
    for round in 0..50u32 {
        for k in 0..5u32 {
            let _ = SITE.memory(k, async move { Some(round) }).await;
        }
    }
    assert!(registry().cache_stats("mem-replace").unwrap().entries <= 3);
}

#[tokio::test]
async fn only_ok_and_some_are_cached() {
    static RESULTS: CacheSite = CacheSite::new("mem-result", "memory");
    static OPTIONS: CacheSite = CacheSite::new("mem-option", "memory");
    let runs = AtomicU32::new(0);

    for _ in 0..3 {
        let r: Result<u8, String> = RESULTS
            .memory("bad", async {
                runs.fetch_add(1, SeqCst);
                Err("boom".to_string())
            })
            .await;
        assert_eq!(r, Err("boom".into()));
    }
    assert_eq!(runs.load(SeqCst), 3, "Err is never cached");
    for _ in 0..3 {
        let r: Result<u8, String> = RESULTS
            .memory("good", async {
                runs.fetch_add(1, SeqCst);
                Ok(1)
            })
            .await;
        assert_eq!(r, Ok(1));
    }
    assert_eq!(runs.load(SeqCst), 4, "Ok is cached");

    runs.store(0, SeqCst);
    for _ in 0..3 {
        let r: Option<u8> = OPTIONS
            .memory(1u8, async {
                runs.fetch_add(1, SeqCst);
                None
            })
            .await;
        assert_eq!(r, None);
    }
    assert_eq!(runs.load(SeqCst), 3, "None is never cached");
    for _ in 0..3 {
        let r: Option<u8> = OPTIONS
            .memory(2u8, async {
                runs.fetch_add(1, SeqCst);
                Some(9)
            })
            .await;
        assert_eq!(r, Some(9));
    }
    assert_eq!(runs.load(SeqCst), 4, "Some is cached");
}

#[tokio::test(start_paused = true)]
async fn single_flight_32_concurrent_misses_run_the_body_once() {
    static SITE: CacheSite = CacheSite::new("mem-flight", "memory");
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let mut set = JoinSet::new();
    for _ in 0..32 {
        set.spawn(SITE.memory(7u64, async {
            RUNS.fetch_add(1, SeqCst);
            sleep(Duration::from_millis(50)).await;
            Ok::<_, String>(User {
                id: 7,
                name: "g".into(),
            })
        }));
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().unwrap().id, 7);
    }
    assert_eq!(RUNS.load(SeqCst), 1);
    let stats = registry().cache_stats("mem-flight").unwrap();
    assert_eq!((stats.hits, stats.misses), (0, 32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_across_threads() {
    static SITE: CacheSite = CacheSite::new("mem-flight-mt", "memory");
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let gate = Arc::new(tokio::sync::Barrier::new(32));
    let mut set = JoinSet::new();
    for _ in 0..32 {
        let gate = Arc::clone(&gate);
        set.spawn(async move {
            gate.wait().await;
            SITE.memory("hot", async {
                RUNS.fetch_add(1, SeqCst);
                // Long enough (real time) for every task to arrive while the body runs.
                tokio::time::sleep(Duration::from_millis(200)).await;
                Some(42u32)
            })
            .await
        });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap(), Some(42));
    }
    assert_eq!(RUNS.load(SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelled_leader_does_not_hang_followers() {
    static SITE: CacheSite = CacheSite::new("mem-cancel", "memory");
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let body = || async {
        RUNS.fetch_add(1, SeqCst);
        sleep(Duration::from_secs(1)).await;
        Plain(5u8)
    };
    let leader = tokio::spawn(SITE.memory(1u8, body()));
    // Let the leader start its body before the followers arrive.
    tokio::task::yield_now().await;
    assert_eq!(RUNS.load(SeqCst), 1);
    let mut followers = JoinSet::new();
    for _ in 0..8 {
        followers.spawn(SITE.memory(1u8, body()));
    }
    tokio::task::yield_now().await;
    leader.abort();
    let all = timeout(Duration::from_secs(30), async {
        while let Some(r) = followers.join_next().await {
            assert_eq!(r.unwrap().0, 5);
        }
    })
    .await;
    assert!(all.is_ok(), "followers hung after the leader was cancelled");
    assert_eq!(RUNS.load(SeqCst), 2, "exactly one follower took over");
}

#[tokio::test(start_paused = true)]
async fn uncacheable_leader_lets_every_follower_run_its_own_body_at_once() {
    // An `Err` cannot be shared, so the followers of a failed flight each run their own body
    // at once rather than one after another (a chain of flights added up their latencies).
    static SITE: CacheSite = CacheSite::new("mem-err-leader", "memory");
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..16 {
        set.spawn(SITE.memory(3u8, async {
            let n = RUNS.fetch_add(1, SeqCst);
            sleep(Duration::from_millis(10)).await;
            if n == 0 {
                Err("first call fails".to_string())
            } else {
                Ok(n)
            }
        }));
    }
    let mut oks = 0;
    let mut errs = 0;
    let all = timeout(Duration::from_secs(30), async {
        while let Some(r) = set.join_next().await {
            match r.unwrap() {
                Ok(n) => {
                    assert!((1..16).contains(&n));
                    oks += 1;
                }
                Err(_) => errs += 1,
            }
        }
    })
    .await;
    assert!(all.is_ok(), "followers hung after an Err leader");
    assert_eq!((errs, oks), (1, 15));
    assert_eq!(RUNS.load(SeqCst), 16);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(20),
        "two body durations"
    );
}

#[tokio::test]
async fn stats_count_per_name_and_clear_cache_empties() {
    // Two functions sharing one cache name share its statistics and are cleared together.
    static A: CacheSite = CacheSite::new("mem-shared-name", "memory");
    static B: CacheSite = CacheSite::new("mem-shared-name", "memory");
    let runs = &AtomicU32::new(0);
    let a = |k: u8| {
        A.memory(k, async move {
            runs.fetch_add(1, SeqCst);
            Plain(k)
        })
    };
    let b = |k: &'static str| {
        B.memory(k, async move {
            runs.fetch_add(1, SeqCst);
            Plain(k.len())
        })
    };
    assert!(registry().cache_stats("mem-shared-name").is_none());
    a(1).await;
    a(1).await;
    a(2).await;
    b("x").await;
    b("x").await;
    let stats = registry().cache_stats("mem-shared-name").unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (2, 3, 3));
    assert!((stats.hit_rate() - 40.0).abs() < 1e-9);

    registry().clear_cache("mem-shared-name").await.unwrap();
    assert_eq!(
        registry().cache_stats("mem-shared-name").unwrap().entries,
        0
    );
    a(1).await;
    b("x").await;
    assert_eq!(runs.load(SeqCst), 5, "cleared entries run the body again");
    // A name no cache has is an error (a typo must not pass silently).
    assert!(registry().clear_cache("mem-never-used").await.is_err());
}

#[tokio::test]
async fn hits_are_clones_and_borrowed_keys_work() {
    static SITE: CacheSite = CacheSite::new("mem-borrowed", "memory");
    let key: &str = "alice";
    let first = SITE
        .memory(key.to_owned(), async {
            Plain(User {
                id: 1,
                name: key.into(),
            })
        })
        .await
        .0;
    let again = SITE
        .memory(key.to_owned(), async {
            Plain(User {
                id: 2,
                name: "other".into(),
            })
        })
        .await
        .0;
    assert_eq!(first, again);
}

#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    static SITE: CacheSite = CacheSite::new("mem-send", "memory");
    assert_send(SITE.memory(1u64, async { Ok::<u64, String>(1) }));
    assert_send(SITE.remote(&(1u64,), async { Ok::<u64, String>(1) }));
    assert_send(SITE.remote_display("k", async { Some(1u64) }));
}
