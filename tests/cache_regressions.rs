//! Regressions of the cache layer: each test names the behaviour it checks and says what used
//! to happen. Timing runs on tokio's paused clock; stores are `MemoryStore`s registered under
//! test-only names, and one real `redis-server` for the Redis side of cache clears.

mod support;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::__private::CacheSite;
use cachex_runtime::{registry, BoxFuture, Cache, Error, MemoryStore, RedisStore, Store};
use support::redis_server::RedisServer;
use tokio::task::JoinSet;
use tokio::time::{sleep, Instant};

const BODY: Duration = Duration::from_millis(100);

/// Runs `callers` concurrent calls of `call` and returns how long the last one took.
async fn all_finish<F, Fut, R>(callers: usize, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..callers {
        set.spawn(call());
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_of_a_failing_body_do_not_queue_on_the_memory_path() {
    // Used to: every waiter of a failed flight started over and one of them led the next
    // flight, so 10 callers of a 100 ms failing body ran it one after another (1 s).
    static SITE: CacheSite = CacheSite::new("reg-convoy-memory", "memory");
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let took = all_finish(10, || {
        SITE.memory(1u8, async {
            RUNS.fetch_add(1, SeqCst);
            sleep(BODY).await;
            Err::<u32, String>("down".into())
        })
    })
    .await;
    println!("10 failing callers (memory path) took {took:?}");
    assert!(took <= 2 * BODY, "took {took:?}");
    assert_eq!(RUNS.load(SeqCst), 10, "every caller ran its own body");
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_of_a_failing_body_do_not_queue_on_the_store_path() {
    // Used to: as on the memory path, a failed flight handed over to one waiter at a time.
    static SITE: CacheSite = CacheSite::new("reg-convoy-store", "reg-convoy-store");
    registry().set_store("reg-convoy-store", MemoryStore::new(100));
    let took = all_finish(10, || {
        SITE.remote(&(1u8,), async {
            sleep(BODY).await;
            None::<u32>
        })
    })
    .await;
    println!("10 failing callers (store path) took {took:?}");
    assert!(took <= 2 * BODY, "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_value_computed_before_a_clear_is_not_stored_after_it_in_memory() {
    // Used to: a body that started before `clear_cache` inserted its value after the clear,
    // so the cache served a value from before the clear.
    static SITE: CacheSite = CacheSite::new("reg-clear-race-memory", "memory");
    let slow = tokio::spawn(SITE.memory(1u8, async {
        sleep(BODY).await;
        Ok::<u32, String>(1)
    }));
    sleep(BODY / 2).await;
    registry()
        .clear_cache("reg-clear-race-memory")
        .await
        .unwrap();
    assert_eq!(slow.await.unwrap(), Ok(1), "its own caller still gets it");
    let after = SITE.memory(1u8, async { Ok::<u32, String>(2) }).await;
    assert_eq!(after, Ok(2), "the value from before the clear was cached");
}

#[tokio::test(start_paused = true)]
async fn a_value_computed_before_a_clear_is_not_stored_after_it_in_a_store() {
    // Used to: the store path wrote the value of a body that started before the clear.
    static SITE: CacheSite = CacheSite::new("reg-clear-race-store", "reg-clear-race-store");
    let store = MemoryStore::new(100);
    registry().set_store("reg-clear-race-store", store.clone());
    let slow = tokio::spawn(SITE.remote(&(1u8,), async {
        sleep(BODY).await;
        Some(1u32)
    }));
    sleep(BODY / 2).await;
    registry()
        .clear_cache("reg-clear-race-store")
        .await
        .unwrap();
    assert_eq!(slow.await.unwrap(), Some(1));
    assert_eq!(store.get("reg-clear-race-store:[1]").await.unwrap(), None);
    let after = SITE.remote(&(1u8,), async { Some(2u32) }).await;
    assert_eq!(after, Some(2));
}

#[tokio::test]
async fn clearing_a_cache_keeps_the_caches_whose_names_extend_it() {
    // Used to: `clear_cache("svc::users")` removed every key starting with `svc::users:`, so
    // the keys of `svc::users::admins` went too.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(100));
    let users: Cache<u32> = Cache::with_name("reg-svc::users", Arc::clone(&store));
    let admins: Cache<u32> = Cache::with_name("reg-svc::users::admins", Arc::clone(&store));
    users.set("1", &1, None).await.unwrap();
    users.set("", &0, None).await.unwrap();
    admins.set("1", &2, None).await.unwrap();
    registry().clear_cache("reg-svc::users").await.unwrap();
    assert_eq!(users.get("1").await.unwrap(), None);
    assert_eq!(
        users.get("").await.unwrap(),
        None,
        "the empty key is the cache's too"
    );
    assert_eq!(admins.get("1").await.unwrap(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_a_cache_on_redis_keeps_the_caches_whose_names_extend_it() {
    // Used to: the `SCAN MATCH` pattern `<prefix>:svc::users:*` matched the keys of
    // `svc::users::admins` as well.
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::builder(&server.url())
        .name("reg-prefix-clear")
        .build()
        .await
        .unwrap();
    for i in 0..700 {
        store
            .set(&format!("svc::users:{i}"), b"x", None)
            .await
            .unwrap();
    }
    store.set("svc::users:", b"x", None).await.unwrap();
    store
        .set("svc::users::admins:1", b"keep", None)
        .await
        .unwrap();
    store
        .set("svc::users::admins:", b"keep", None)
        .await
        .unwrap();
    store
        .set("svc::usersettings:1", b"keep", None)
        .await
        .unwrap();
    assert_eq!(store.clear_prefix("svc::users:").await.unwrap(), 701);
    for kept in [
        "svc::users::admins:1",
        "svc::users::admins:",
        "svc::usersettings:1",
    ] {
        assert!(
            store.get(kept).await.unwrap().is_some(),
            "{kept} was cleared"
        );
    }
    assert_eq!(store.get("svc::users:7").await.unwrap(), None);
}

#[tokio::test]
async fn nan_and_infinities_are_three_keys() {
    // Used to: serde_json writes NaN, +inf and -inf as `null`, so the three arguments shared
    // one store key and a call with +inf returned the value cached for NaN.
    static SITE: CacheSite = CacheSite::new("reg-float-keys", "reg-float-keys");
    registry().set_store("reg-float-keys", MemoryStore::new(100));
    let nan = SITE.remote(&(f64::NAN,), async { Some(1u32) }).await;
    let pos = SITE.remote(&(f64::INFINITY,), async { Some(2u32) }).await;
    let neg = SITE
        .remote(&(f64::NEG_INFINITY,), async { Some(3u32) })
        .await;
    assert_eq!((nan, pos, neg), (Some(1), Some(2), Some(3)));
    // And each is found again.
    let again = SITE.remote(&(f64::INFINITY,), async { Some(99u32) }).await;
    assert_eq!(again, Some(2));
}

/// A hasher seeded by `SEED`, so two maps of the same entries iterate in different orders.
#[derive(Default, Clone)]
struct Seeded<const SEED: u64>;

struct SeededHasher(u64);

impl Hasher for SeededHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

impl<const SEED: u64> BuildHasher for Seeded<SEED> {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(SEED)
    }
}

#[tokio::test]
async fn equal_maps_nested_in_arguments_are_one_key() {
    // Used to: a HashMap was written in its iteration order, so equal maps could give
    // different keys (a miss, and one more entry, per order).
    static SITE: CacheSite = CacheSite::new("reg-map-keys", "reg-map-keys");
    registry().set_store("reg-map-keys", MemoryStore::new(100));
    let mut a: HashMap<String, u32, Seeded<1>> = HashMap::default();
    let mut b: HashMap<String, u32, Seeded<0xcbf2_9ce4_8422_2325>> = HashMap::default();
    for i in 0..50 {
        a.insert(format!("k{i}"), i);
        b.insert(format!("k{i}"), i);
    }
    let order_a: Vec<&String> = a.keys().collect();
    let order_b: Vec<&String> = b.keys().collect();
    assert_ne!(order_a, order_b, "the two maps must iterate differently");
    let first = SITE.remote(&("eu", vec![a]), async { Some(1u32) }).await;
    let second = SITE.remote(&("eu", vec![b]), async { Some(2u32) }).await;
    assert_eq!((first, second), (Some(1), Some(1)));
}

/// A store that counts how often it is swept by `clear_prefix`.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryStore,
    sweeps: AtomicUsize,
}

impl CountingStore {
    fn new() -> Self {
        CountingStore {
            inner: MemoryStore::new(100),
            sweeps: AtomicUsize::new(0),
        }
    }
}

impl Store for CountingStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, Error>> {
        self.inner.get(key)
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        self.inner.set(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        self.inner.delete(key)
    }
    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        self.sweeps.fetch_add(1, SeqCst);
        self.inner.clear_prefix(prefix)
    }
}

#[tokio::test]
async fn a_thousand_named_caches_on_one_store_sweep_it_once() {
    // Used to: every `Cache::with_name` registered its store again (a new `Arc` each time), so
    // after 1,000 constructions `clear_cache` swept the same store 1,000 times.
    let counting = Arc::new(CountingStore::new());
    let shared: Arc<dyn Store> = counting.clone();
    for _ in 0..1_000 {
        let cache: Cache<u8> = Cache::with_name("reg-thousand", Arc::clone(&shared));
        cache.set("k", &1, None).await.unwrap();
    }
    registry().clear_cache("reg-thousand").await.unwrap();
    assert_eq!(counting.sweeps.load(SeqCst), 1);
}

/// Counts the bodies of one key that exist at once; the guard lives in the body, so a
/// cancelled body counts until it is dropped.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn enter(count: &'a AtomicUsize, max: &AtomicUsize) -> Self {
        let now = count.fetch_add(1, SeqCst) + 1;
        max.fetch_max(now, SeqCst);
        Running(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_cancelled_at_random_hand_over_to_one_waiter_and_nobody_hangs() {
    // Stress of the single-flight hand-over on two threads: in every round 16 callers of one
    // key start, and about a third of them (the running leader among them, often) are
    // cancelled at some point of their run. The bodies of one key never overlap (a body still
    // being dropped included), and every caller not cancelled gets the value.
    static SITE: CacheSite = CacheSite::new("reg-handover-stress", "memory");
    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static MAX: AtomicUsize = AtomicUsize::new(0);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..300u32 {
        let mut handles = Vec::new();
        for _ in 0..16 {
            let yields = next() % 8;
            handles.push(tokio::spawn(SITE.memory(round, async move {
                let _running = Running::enter(&RUNNING, &MAX);
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                Ok::<u32, String>(round)
            })));
        }
        let mut kept = Vec::new();
        for h in handles {
            if next() % 3 == 0 {
                for _ in 0..next() % 4 {
                    tokio::task::yield_now().await;
                }
                h.abort();
            } else {
                kept.push(h);
            }
        }
        let done = tokio::time::timeout(Duration::from_secs(30), async {
            for h in kept {
                assert_eq!(h.await.unwrap(), Ok(round));
            }
        })
        .await;
        assert!(done.is_ok(), "round {round}: a waiter hung");
    }
    assert_eq!(MAX.load(SeqCst), 1, "two bodies of one key ran at once");
}

/// Records, when dropped, how many flights of `name` were in progress.
struct SeenAtDrop(&'static str, &'static AtomicUsize);

impl Drop for SeenAtDrop {
    fn drop(&mut self) {
        self.1.store(
            cachex_runtime::__private::flights_in_progress(self.0),
            SeqCst,
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leader_drops_its_body_before_handing_over() {
    // Checks that the flight outlives the body: the waiters are released (and one of them may
    // start the next body) only after a cancelled leader's body is gone, on both paths.
    static MEMORY: CacheSite = CacheSite::new("reg-drop-order-memory", "memory");
    static STORE: CacheSite = CacheSite::new("reg-drop-order-store", "reg-drop-order-store");
    static SEEN_MEMORY: AtomicUsize = AtomicUsize::new(usize::MAX);
    static SEEN_STORE: AtomicUsize = AtomicUsize::new(usize::MAX);
    registry().set_store("reg-drop-order-store", MemoryStore::new(10));
    let memory = tokio::spawn(MEMORY.memory(1u8, async {
        let _seen = SeenAtDrop("reg-drop-order-memory", &SEEN_MEMORY);
        sleep(BODY).await;
        Ok::<u8, String>(1)
    }));
    let store = tokio::spawn(STORE.remote(&1u8, async {
        let _seen = SeenAtDrop("reg-drop-order-store", &SEEN_STORE);
        sleep(BODY).await;
        Some(1u8)
    }));
    sleep(BODY / 2).await;
    memory.abort();
    store.abort();
    assert!(memory.await.unwrap_err().is_cancelled());
    assert!(store.await.unwrap_err().is_cancelled());
    assert_eq!(
        SEEN_MEMORY.load(SeqCst),
        1,
        "memory flight left before its body was dropped"
    );
    assert_eq!(
        SEEN_STORE.load(SeqCst),
        1,
        "store flight left before its body was dropped"
    );
    assert_eq!(
        cachex_runtime::__private::flights_in_progress("reg-drop-order-memory"),
        0
    );
}
