//! `#[cached]` on the memory store through the public API: hits skip the body, TTL expiry on
//! the paused clock, only `Ok`/`Some` cached, methods, borrowed and computed keys, single-flight
//! of concurrent misses, and the registry's statistics.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::registry;
use cachex_runtime::{cached, retry};

static SQUARE_CALLS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "macros.cached.square", ttl = "10s")]
async fn square(x: u64) -> u64 {
    SQUARE_CALLS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[tokio::test(start_paused = true)]
async fn hits_skip_the_body_until_the_ttl_expires() {
    assert_eq!(square(3).await, 9);
    assert_eq!(square(3).await, 9);
    assert_eq!(SQUARE_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(square(4).await, 16);
    assert_eq!(SQUARE_CALLS.load(Ordering::SeqCst), 2);

    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(square(3).await, 9);
    assert_eq!(SQUARE_CALLS.load(Ordering::SeqCst), 2);

    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(square(3).await, 9);
    assert_eq!(SQUARE_CALLS.load(Ordering::SeqCst), 3);

    let stats = registry().cache_stats("macros.cached.square").unwrap();
    assert_eq!((stats.hits, stats.misses), (2, 3));
}

static RESULT_CALLS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "macros.cached.result")]
async fn parse(input: &str) -> Result<u32, String> {
    RESULT_CALLS.fetch_add(1, Ordering::SeqCst);
    input.parse().map_err(|e| format!("{input}: {e}"))
}

#[tokio::test]
async fn errors_are_not_cached() {
    assert!(parse("x").await.is_err());
    assert!(parse("x").await.is_err());
    assert_eq!(RESULT_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(parse("7").await, Ok(7));
    assert_eq!(parse("7").await, Ok(7));
    assert_eq!(RESULT_CALLS.load(Ordering::SeqCst), 3);
}

static OPTION_CALLS: AtomicU32 = AtomicU32::new(0);

#[cached]
async fn lookup(id: u32) -> Option<String> {
    OPTION_CALLS.fetch_add(1, Ordering::SeqCst);
    (id >= 2).then(|| format!("user-{id}"))
}

#[tokio::test]
async fn none_is_not_cached_and_the_default_name_is_the_path() {
    assert_eq!(lookup(1).await, None);
    assert_eq!(lookup(1).await, None);
    assert_eq!(OPTION_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(lookup(2).await.as_deref(), Some("user-2"));
    assert_eq!(lookup(2).await.as_deref(), Some("user-2"));
    assert_eq!(OPTION_CALLS.load(Ordering::SeqCst), 3);
    let stats = registry().cache_stats("macros_cached::lookup").unwrap();
    assert_eq!((stats.hits, stats.misses), (1, 3));
}

struct Repo {
    calls: AtomicU32,
    prefix: String,
}

impl Repo {
    // The receiver is not part of the key: every `Repo` shares the function's cache.
    #[cached(name = "macros.cached.method")]
    async fn name_of(&self, id: u32, region: &str) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        format!("{}{id}@{region}", self.prefix)
    }
}

#[tokio::test]
async fn methods_cache_on_the_arguments_but_the_receiver() {
    let repo = Repo {
        calls: AtomicU32::new(0),
        prefix: "u".into(),
    };
    assert_eq!(repo.name_of(1, "eu").await, "u1@eu");
    assert_eq!(repo.name_of(1, "eu").await, "u1@eu");
    assert_eq!(repo.name_of(1, "us").await, "u1@us");
    assert_eq!(repo.calls.load(Ordering::SeqCst), 2);

    let other = Repo {
        calls: AtomicU32::new(0),
        prefix: "other".into(),
    };
    assert_eq!(other.name_of(1, "eu").await, "u1@eu");
    assert_eq!(other.calls.load(Ordering::SeqCst), 0);
}

static SLICE_CALLS: AtomicU32 = AtomicU32::new(0);

// Borrowed arguments become owned key parts: `&[u8]` a `Vec<u8>`, `&String` a `String`.
#[cached(name = "macros.cached.borrowed")]
async fn checksum(bytes: &[u8], salt: &String) -> u32 {
    SLICE_CALLS.fetch_add(1, Ordering::SeqCst);
    bytes.iter().map(|b| u32::from(*b)).sum::<u32>() + salt.len() as u32
}

#[tokio::test]
async fn borrowed_arguments_make_owned_keys() {
    let salt = String::from("ab");
    let data = vec![1, 2, 3];
    assert_eq!(checksum(&data, &salt).await, 8);
    assert_eq!(checksum(&[1, 2, 3], &salt).await, 8);
    assert_eq!(SLICE_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(checksum(&[1, 2], &salt).await, 5);
    assert_eq!(SLICE_CALLS.load(Ordering::SeqCst), 2);
}

static KEY_CALLS: AtomicU32 = AtomicU32::new(0);

// `key = <expr>` picks what identifies a result: here the trace id is ignored.
#[cached(name = "macros.cached.keyed", key = user_id)]
async fn profile(user_id: u64, trace_id: u64) -> String {
    KEY_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("profile {user_id} (first seen in {trace_id})")
}

#[tokio::test]
async fn key_expression_chooses_the_key() {
    assert_eq!(profile(1, 100).await, "profile 1 (first seen in 100)");
    assert_eq!(profile(1, 200).await, "profile 1 (first seen in 100)");
    assert_eq!(KEY_CALLS.load(Ordering::SeqCst), 1);
}

static FLIGHT_CALLS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "macros.cached.flight")]
async fn expensive(id: u32) -> Arc<String> {
    FLIGHT_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    Arc::new(format!("value-{id}"))
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_run_the_body_once() {
    let tasks: Vec<_> = (0..32).map(|_| tokio::spawn(expensive(5))).collect();
    let mut values = Vec::new();
    for task in tasks {
        values.push(task.await.unwrap());
    }
    assert_eq!(FLIGHT_CALLS.load(Ordering::SeqCst), 1);
    assert!(values.iter().all(|v| v.as_str() == "value-5"));
    let stats = registry().cache_stats("macros.cached.flight").unwrap();
    assert_eq!(stats.hits + stats.misses, 32);
}

static CLEAR_CALLS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "macros.cached.clear", capacity = 100)]
async fn clearable(id: u32) -> u32 {
    CLEAR_CALLS.fetch_add(1, Ordering::SeqCst);
    id
}

#[tokio::test]
async fn clear_cache_empties_the_function_cache() {
    clearable(1).await;
    clearable(1).await;
    assert_eq!(CLEAR_CALLS.load(Ordering::SeqCst), 1);
    registry().clear_cache("macros.cached.clear").await.unwrap();
    clearable(1).await;
    assert_eq!(CLEAR_CALLS.load(Ordering::SeqCst), 2);
}

static STACK_CALLS: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Clone, PartialEq)]
struct Flaky;

// The cache is outside the retry: a result that needed retries is cached once it succeeds.
#[cached(name = "macros.cached.over_retry")]
#[retry(max_attempts = 3, initial_delay = "1ms")]
async fn flaky_fetch(id: u32) -> Result<u32, Flaky> {
    if STACK_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(Flaky);
    }
    Ok(id * 10)
}

#[tokio::test(start_paused = true)]
async fn cached_over_retry_caches_the_retried_success() {
    assert_eq!(flaky_fetch(4).await, Ok(40));
    assert_eq!(flaky_fetch(4).await, Ok(40));
    assert_eq!(STACK_CALLS.load(Ordering::SeqCst), 2);
}

#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    assert_send(square(1));
    assert_send(parse("1"));
    assert_send(checksum(&[], &String::new()));
    assert_send(flaky_fetch(1));
}

#[cached(name = "declared-never-called")]
async fn declared_never_called(x: u32) -> u32 {
    x
}

#[cached(name = "declared-in-store", store = "macros-cached-decl-store")]
async fn declared_in_store(x: u32) -> Option<u32> {
    Some(x)
}

#[tokio::test]
async fn a_declared_cache_is_known_before_its_first_call() {
    let _ = declared_never_called; // never called in this test binary
    let stats = registry().cache_stats("declared-never-called").unwrap();
    assert_eq!((stats.hits, stats.misses), (0, 0));
    assert!(registry().cache_stats("no-cache-has-this-name").is_none());
}

/// Regression: clearing a store-backed cache that this process has not called yet must still
/// clear the keys another process left in the store.
#[tokio::test]
async fn clear_cache_reaches_the_store_before_the_first_call() {
    let _ = declared_in_store;
    let store = cachex_runtime::MemoryStore::new(100);
    registry().set_store("macros-cached-decl-store", store.clone());
    let other_process: cachex_runtime::Cache<u32> =
        cachex_runtime::Cache::with_name("declared-in-store", store.clone());
    other_process.set("[1]", &1, None).await.unwrap();
    registry().clear_cache("declared-in-store").await.unwrap();
    assert_eq!(other_process.get("[1]").await.unwrap(), None);
}
