//! The store path of `#[cached(store = ...)]` (what the macro expands to) and the typed
//! `Cache<T>`, on `MemoryStore`s registered under test-only names. Time is tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cachex_runtime::__private::{CacheSite, Plain};
use cachex_runtime::{registry, BoxFuture, Cache, Error, MemoryStore, Store};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::{advance, sleep, timeout};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct User {
    id: u64,
    name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Invoice {
    number: String,
    total_cents: i64,
}

fn user(id: u64) -> User {
    User {
        id,
        name: format!("user-{id}"),
    }
}

/// Registers a fresh memory store under `name` and returns a handle on it.
fn memory_store(name: &str) -> MemoryStore {
    let store = MemoryStore::new(1_000);
    registry().set_store(name, store.clone());
    store
}

#[tokio::test]
async fn round_trip_key_layout_and_stats() {
    static SITE: CacheSite = CacheSite::new("st-users", "st-mem-1");
    let store = memory_store("st-mem-1");
    let runs = &AtomicU32::new(0);
    let load = |id: u64| async move {
        SITE.remote(&(id,), async move {
            runs.fetch_add(1, SeqCst);
            Ok::<_, String>(user(id))
        })
        .await
    };
    assert_eq!(load(1).await, Ok(user(1)));
    assert_eq!(load(1).await, Ok(user(1)));
    assert_eq!(runs.load(SeqCst), 1);
    // Key: `<name>:<arguments as JSON>`, under the store's own prefix.
    let bytes = store.get("st-users:[1]").await.unwrap().expect("stored");
    assert_eq!(bytes[0], 1, "format-version byte");
    let stats = registry().cache_stats("st-users").unwrap();
    assert_eq!((stats.hits, stats.misses), (1, 1));
}

#[tokio::test]
async fn display_keys_use_to_string() {
    static SITE: CacheSite = CacheSite::new("st-display", "st-mem-2");
    let store = memory_store("st-mem-2");
    let v = SITE
        .remote_display(&format_args!("{}/{}", "eu", 7), async { Some(3u8) })
        .await;
    assert_eq!(v, Some(3));
    assert!(store.get("st-display:eu/7").await.unwrap().is_some());
}

#[tokio::test(start_paused = true)]
async fn ttl_is_passed_to_the_store() {
    static SITE: CacheSite = CacheSite::new("st-ttl", "st-mem-3").ttl(Duration::from_secs(10));
    memory_store("st-mem-3");
    let runs = &AtomicU32::new(0);
    let call = || {
        SITE.remote(&"k", async move {
            runs.fetch_add(1, SeqCst);
            Plain(1u32)
        })
    };
    call().await;
    advance(Duration::from_secs(9)).await;
    call().await;
    assert_eq!(runs.load(SeqCst), 1);
    advance(Duration::from_secs(2)).await;
    call().await;
    assert_eq!(runs.load(SeqCst), 2);
}

#[tokio::test]
async fn only_ok_and_some_go_to_the_store() {
    static SITE: CacheSite = CacheSite::new("st-errors", "st-mem-4");
    let store = memory_store("st-mem-4");
    let r: Result<u8, String> = SITE.remote(&1u8, async { Err("no".into()) }).await;
    assert!(r.is_err());
    let o: Option<u8> = SITE.remote(&2u8, async { None }).await;
    assert!(o.is_none());
    assert!(store.is_empty());
}

/// A value that does not decode as the function's type is a miss, and the fresh value replaces it.
#[tokio::test]
async fn undecodable_bytes_are_a_miss_and_overwritten() {
    static SITE: CacheSite = CacheSite::new("st-garbage", "st-mem-5");
    let store = memory_store("st-mem-5");
    let other_type = cachex_runtime::Cache::<Invoice>::with_name("st-garbage", store.clone());
    let bad_values: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\xff\x00not msgpack at all".to_vec()),
        ("empty", Vec::new()),
        ("old version", {
            let mut v = vec![0u8];
            v.extend_from_slice(b"\x82\xa2id\x01\xa4name\xa1x");
            v
        }),
    ];
    let runs = &AtomicU32::new(0);
    for (what, bytes) in bad_values {
        runs.store(0, SeqCst);
        store.set("st-garbage:7", &bytes, None).await.unwrap();
        let v = SITE
            .remote(&7u64, async move {
                runs.fetch_add(1, SeqCst);
                Ok::<_, String>(user(7))
            })
            .await;
        assert_eq!(v, Ok(user(7)), "{what}");
        assert_eq!(runs.load(SeqCst), 1, "{what}: the body ran");
        let fixed = store.get("st-garbage:7").await.unwrap().unwrap();
        assert_ne!(fixed, bytes, "{what}: overwritten");
        // Now a hit.
        let _ = SITE
            .remote(&7u64, async move {
                runs.fetch_add(1, SeqCst);
                Ok::<_, String>(user(0))
            })
            .await;
        assert_eq!(runs.load(SeqCst), 1, "{what}: the fresh value is a hit");
    }

    // A value of another type written under the same key.
    other_type
        .set(
            "7",
            &Invoice {
                number: "A-1".into(),
                total_cents: 5,
            },
            None,
        )
        .await
        .unwrap();
    let v = SITE
        .remote(&7u64, async move {
            runs.fetch_add(1, SeqCst);
            Ok::<_, String>(user(7))
        })
        .await;
    assert_eq!(v, Ok(user(7)));
    assert_eq!(runs.load(SeqCst), 2);
    // ...and the other type now reads a miss, not a panic.
    assert_eq!(other_type.get("7").await.unwrap(), None);
}

/// A store whose every operation fails, or never answers.
#[derive(Debug)]
struct BrokenStore {
    hang: bool,
}

impl Store for BrokenStore {
    fn get<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, Error>> {
        Box::pin(self.fail())
    }
    fn set<'a>(
        &'a self,
        _key: &'a str,
        _value: &'a [u8],
        _ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.fail())
    }
    fn delete<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(self.fail())
    }
    fn clear_prefix<'a>(&'a self, _prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(self.fail())
    }
}

impl BrokenStore {
    async fn fail<T>(&self) -> Result<T, Error> {
        if self.hang {
            // What a store's own op timeout turns into.
            sleep(Duration::from_millis(250)).await;
            return Err(Error::Timeout {
                name: "store.broken".into(),
                after: Duration::from_millis(250),
            });
        }
        Err(Error::Store {
            store: "broken".into(),
            message: "connection refused".into(),
            source: None,
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_never_fails_the_call() {
    static FAILING: CacheSite = CacheSite::new("st-failing", "st-broken");
    static SLOW: CacheSite = CacheSite::new("st-slow", "st-hung");
    registry().set_store("st-broken", BrokenStore { hang: false });
    registry().set_store("st-hung", BrokenStore { hang: true });
    for i in 0..3u64 {
        let v = FAILING
            .remote(&i, async move { Ok::<_, String>(user(i)) })
            .await;
        assert_eq!(v, Ok(user(i)));
        let started = tokio::time::Instant::now();
        let v = SLOW.remote(&i, async move { Some(user(i)) }).await;
        assert_eq!(v, Some(user(i)));
        // One store operation's bound, not one for the read and another for the write-back.
        assert_eq!(started.elapsed(), Duration::from_millis(250));
    }
    assert_eq!(registry().cache_stats("st-failing").unwrap().misses, 3);
    assert!(registry().clear_cache("st-failing").await.is_err());
}

#[tokio::test]
async fn an_unregistered_store_still_answers() {
    static SITE: CacheSite = CacheSite::new("st-unregistered", "st-no-such-store");
    let runs = &AtomicU32::new(0);
    for _ in 0..3 {
        let v = SITE
            .remote(&"k", async move {
                runs.fetch_add(1, SeqCst);
                Plain(1u8)
            })
            .await;
        assert_eq!(v.0, 1);
    }
    assert_eq!(runs.load(SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn store_path_single_flight() {
    static SITE: CacheSite = CacheSite::new("st-flight", "st-mem-6");
    static RUNS: AtomicU32 = AtomicU32::new(0);
    memory_store("st-mem-6");
    let mut set = JoinSet::new();
    for _ in 0..32 {
        set.spawn(SITE.remote(&(9u64, "x"), async {
            RUNS.fetch_add(1, SeqCst);
            sleep(Duration::from_millis(50)).await;
            Ok::<_, String>(user(9))
        }));
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap(), Ok(user(9)));
    }
    assert_eq!(RUNS.load(SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn store_path_cancelled_leader_does_not_hang_followers() {
    static SITE: CacheSite = CacheSite::new("st-cancel", "st-mem-7");
    static RUNS: AtomicU32 = AtomicU32::new(0);
    memory_store("st-mem-7");
    let body = || async {
        RUNS.fetch_add(1, SeqCst);
        sleep(Duration::from_secs(1)).await;
        Some(1u8)
    };
    let leader = tokio::spawn(SITE.remote(&1u8, body()));
    tokio::task::yield_now().await;
    let mut followers = JoinSet::new();
    for _ in 0..8 {
        followers.spawn(SITE.remote(&1u8, body()));
    }
    tokio::task::yield_now().await;
    leader.abort();
    let all = timeout(Duration::from_secs(30), async {
        while let Some(r) = followers.join_next().await {
            assert_eq!(r.unwrap(), Some(1));
        }
    })
    .await;
    assert!(all.is_ok(), "followers hung after the leader was cancelled");
    assert_eq!(RUNS.load(SeqCst), 2);
}

#[tokio::test]
async fn clear_cache_clears_the_store_prefix_only() {
    static SITE: CacheSite = CacheSite::new("st-clear", "st-mem-8");
    let store = memory_store("st-mem-8");
    for i in 0..5u64 {
        SITE.remote(&i, async move { Plain(i) }).await;
    }
    store.set("st-other:1", b"keep", None).await.unwrap();
    registry().clear_cache("st-clear").await.unwrap();
    for i in 0..5u64 {
        assert!(store.get(&format!("st-clear:{i}")).await.unwrap().is_none());
    }
    assert!(store.get("st-other:1").await.unwrap().is_some());
}

#[tokio::test]
async fn typed_cache_get_set_delete() {
    let store = MemoryStore::new(100);
    let users: Cache<User> = Cache::with_name("st-typed", store.clone());
    assert_eq!(users.get("1").await.unwrap(), None);
    users.set("1", &user(1), None).await.unwrap();
    assert_eq!(users.get("1").await.unwrap(), Some(user(1)));
    assert!(store.get("st-typed:1").await.unwrap().is_some());
    let stats = registry().cache_stats("st-typed").unwrap();
    assert_eq!((stats.hits, stats.misses), (1, 1));

    // Garbage under the key reads as a miss, and `set` overwrites it.
    store
        .set("st-typed:2", b"\xc1\xc1\xc1", None)
        .await
        .unwrap();
    assert_eq!(users.get("2").await.unwrap(), None);
    users.set("2", &user(2), None).await.unwrap();
    assert_eq!(users.get("2").await.unwrap(), Some(user(2)));

    assert!(users.delete("1").await.unwrap());
    assert!(!users.delete("1").await.unwrap());

    registry().clear_cache("st-typed").await.unwrap();
    assert_eq!(users.get("2").await.unwrap(), None);

    // An unnamed cache uses the keys as given.
    let plain: Cache<u32> = Cache::new(store.clone());
    plain.set("n", &5, None).await.unwrap();
    assert!(store.get("n").await.unwrap().is_some());
}

#[tokio::test(start_paused = true)]
async fn memory_store_ttl_capacity_and_prefix() {
    let store = MemoryStore::new(100).with_prefix("app");
    store
        .set("a", b"1", Some(Duration::from_millis(1500)))
        .await
        .unwrap();
    store.set("b", b"2", None).await.unwrap();
    advance(Duration::from_millis(1499)).await;
    assert!(store.get("a").await.unwrap().is_some());
    advance(Duration::from_millis(1)).await;
    assert!(
        store.get("a").await.unwrap().is_none(),
        "expired at the TTL"
    );
    assert!(
        !store.delete("a").await.unwrap(),
        "an expired value is not removed"
    );
    assert!(store.get("b").await.unwrap().is_some(), "no TTL: kept");

    let small = MemoryStore::new(20);
    for i in 0..200 {
        small.set(&format!("k{i}"), b"v", None).await.unwrap();
    }
    assert!(small.len() <= 20, "bounded by capacity: {}", small.len());
    assert!(format!("{small:?}").contains("capacity: 20"));
}
