//! Fail-safe caching on the memory store, on tokio's paused clock: stale values answer failing
//! bodies (`stale_if_error`), stale values are served at once while one background refresh runs
//! (`stale_while_revalidate`), hot keys are refreshed before they expire (`refresh_ahead`), and a
//! slow body is not waited for when a stale value is at hand (`soft_timeout`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cachex_runtime::{cached, circuit_breaker, registry, retry, CacheStats, Error};
use tokio::time::{advance, sleep, Instant};

#[derive(Debug, Clone, PartialEq)]
enum AppError {
    Cachex(String),
    Remote,
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Cachex(e.to_string())
    }
}

fn stats(name: &str) -> CacheStats {
    registry().cache_stats(name).expect("the cache is declared")
}

/// The refresh slots are per process: tests that count refreshes take turns.
static SLOTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Lets spawned background tasks run to their next await on the paused clock.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

static ERR_FAIL: AtomicBool = AtomicBool::new(false);
static ERR_RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "failsafe.err", ttl = "10s", stale_if_error = "1h")]
async fn price_or_err(id: u32) -> Result<u32, AppError> {
    let run = ERR_RUNS.fetch_add(1, SeqCst);
    if ERR_FAIL.load(SeqCst) {
        Err(AppError::Remote)
    } else {
        Ok(id * 100 + run)
    }
}

#[tokio::test(start_paused = true)]
async fn stale_value_answers_an_err_after_the_ttl() {
    assert_eq!(price_or_err(1).await, Ok(100));
    advance(Duration::from_secs(11)).await;
    ERR_FAIL.store(true, SeqCst);
    // Stale: the body runs, fails, and the stale value answers.
    assert_eq!(price_or_err(1).await, Ok(100));
    assert_eq!(ERR_RUNS.load(SeqCst), 2);
    let s = stats("failsafe.err");
    assert_eq!((s.hits, s.misses, s.stale_hits), (0, 1, 1));
    // Once the body succeeds again its value replaces the stale one.
    ERR_FAIL.store(false, SeqCst);
    assert_eq!(price_or_err(1).await, Ok(102));
    assert_eq!(price_or_err(1).await, Ok(102));
    let s = stats("failsafe.err");
    assert_eq!((s.hits, s.misses, s.stale_hits), (1, 2, 1));
}

static NONE_FAIL: AtomicBool = AtomicBool::new(false);

#[cached(name = "failsafe.none", ttl = "10s", stale_if_error = "1m")]
async fn row_or_none(id: u32) -> Option<u32> {
    (!NONE_FAIL.load(SeqCst)).then_some(id)
}

#[tokio::test(start_paused = true)]
async fn stale_value_answers_a_none_and_not_past_its_window() {
    assert_eq!(row_or_none(7).await, Some(7));
    NONE_FAIL.store(true, SeqCst);
    advance(Duration::from_secs(30)).await;
    assert_eq!(row_or_none(7).await, Some(7), "stale inside ttl + 1m");
    // 10 s of ttl + 60 s of stale window: gone at 70 s.
    advance(Duration::from_secs(40)).await;
    assert_eq!(row_or_none(7).await, None, "not served past its window");
    let s = stats("failsafe.none");
    assert_eq!((s.misses, s.stale_hits), (2, 1));
}

static BREAKER_RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "failsafe.breaker", ttl = "10s", stale_if_error = "1h")]
#[circuit_breaker(name = "failsafe.breaker", threshold = 1, timeout = "30s")]
async fn behind_breaker(id: u32) -> Result<u32, AppError> {
    BREAKER_RUNS.fetch_add(1, SeqCst);
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn open_breaker_answers_from_stale_data_at_once() {
    assert_eq!(behind_breaker(3).await, Ok(3));
    advance(Duration::from_secs(20)).await;
    registry().breaker("failsafe.breaker").force_open();
    let start = Instant::now();
    assert_eq!(behind_breaker(3).await, Ok(3));
    assert_eq!(start.elapsed(), Duration::ZERO, "no waiting");
    assert_eq!(BREAKER_RUNS.load(SeqCst), 1, "the body did not run");
    assert_eq!(stats("failsafe.breaker").stale_hits, 1);
    // Without a stale value the rejection comes through.
    let e = behind_breaker(4).await.unwrap_err();
    assert!(
        matches!(e, AppError::Cachex(ref m) if m.contains("circuit breaker is open")),
        "{e:?}"
    );
    // Once the breaker lets calls through again, the call refreshes the entry.
    registry().breaker("failsafe.breaker").reset();
    assert_eq!(behind_breaker(3).await, Ok(3));
    assert_eq!(BREAKER_RUNS.load(SeqCst), 2);
}

static RETRY_RUNS: AtomicU32 = AtomicU32::new(0);
static RETRY_FAIL: AtomicBool = AtomicBool::new(false);

#[cached(name = "failsafe.retry", ttl = "10s", stale_if_error = "1h")]
#[retry(max_attempts = 3, initial_delay = "100ms", jitter = false)]
async fn retried(id: u32) -> Result<u32, AppError> {
    RETRY_RUNS.fetch_add(1, SeqCst);
    if RETRY_FAIL.load(SeqCst) {
        Err(AppError::Remote)
    } else {
        Ok(id)
    }
}

#[tokio::test(start_paused = true)]
async fn stale_value_answers_after_retries_are_exhausted() {
    assert_eq!(retried(5).await, Ok(5));
    advance(Duration::from_secs(11)).await;
    RETRY_FAIL.store(true, SeqCst);
    assert_eq!(retried(5).await, Ok(5));
    assert_eq!(
        RETRY_RUNS.load(SeqCst),
        4,
        "one first call, then three attempts"
    );
    assert_eq!(stats("failsafe.retry").stale_hits, 1);
}

static SWR_RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "failsafe.swr", ttl = "10s", stale_while_revalidate = "30s")]
async fn revalidated(id: u32) -> Option<u32> {
    let run = SWR_RUNS.fetch_add(1, SeqCst);
    sleep(Duration::from_secs(1)).await;
    Some(id * 100 + run)
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_answers_at_once_with_one_refresh_for_100_callers() {
    let _turn = SLOTS.lock().await;
    assert_eq!(revalidated(1).await, Some(100));
    advance(Duration::from_secs(15)).await;
    let start = Instant::now();
    let calls: Vec<_> = (0..100).map(|_| tokio::spawn(revalidated(1))).collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), Some(100), "the stale value, at once");
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    // The refresh finishes in the background (the callers are all gone) and replaces the entry.
    advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(SWR_RUNS.load(SeqCst), 2, "exactly one refresh ran");
    let s = stats("failsafe.swr");
    assert_eq!((s.refreshes, s.refresh_failures, s.stale_hits), (1, 0, 100));
    assert_eq!(revalidated(1).await, Some(101));
}

static SWR_FAIL_MODE: AtomicU32 = AtomicU32::new(0);

#[cached(
    name = "failsafe.swr_fail",
    ttl = "10s",
    stale_while_revalidate = "30s"
)]
async fn revalidated_failing(id: u32) -> Result<u32, AppError> {
    match SWR_FAIL_MODE.load(SeqCst) {
        0 => Ok(id),
        1 => Err(AppError::Remote),
        _ => panic!("the origin panicked"),
    }
}

#[tokio::test(start_paused = true)]
async fn failed_or_panicking_refresh_keeps_the_stale_value() {
    let _turn = SLOTS.lock().await;
    assert_eq!(revalidated_failing(9).await, Ok(9));
    advance(Duration::from_secs(11)).await;
    SWR_FAIL_MODE.store(1, SeqCst);
    assert_eq!(revalidated_failing(9).await, Ok(9));
    settle().await;
    let s = stats("failsafe.swr_fail");
    assert_eq!((s.refreshes, s.refresh_failures), (1, 1));
    // A panicking refresh counts as a failure, and only the next call starts another one.
    SWR_FAIL_MODE.store(2, SeqCst);
    assert_eq!(revalidated_failing(9).await, Ok(9));
    settle().await;
    let s = stats("failsafe.swr_fail");
    assert_eq!((s.refreshes, s.refresh_failures), (2, 2));
    settle().await;
    assert_eq!(
        stats("failsafe.swr_fail").refreshes,
        2,
        "not retried in a loop"
    );
    assert_eq!(revalidated_failing(9).await, Ok(9), "still the stale value");
}

static AHEAD_RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "failsafe.ahead", ttl = "10s", refresh_ahead = "3s")]
async fn hot(id: u32) -> u32 {
    AHEAD_RUNS.fetch_add(1, SeqCst);
    sleep(Duration::from_millis(500)).await;
    id
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_keeps_a_hot_key_from_ever_missing() {
    let _turn = SLOTS.lock().await;
    assert_eq!(hot(2).await, 2);
    let misses = stats("failsafe.ahead").misses;
    // A call every second for 10 TTL periods.
    for _ in 0..100 {
        advance(Duration::from_secs(1)).await;
        assert_eq!(hot(2).await, 2);
        settle().await;
    }
    let s = stats("failsafe.ahead");
    assert_eq!(s.misses, misses, "never a miss after the first call");
    assert_eq!(s.hits, 100);
    assert!(
        s.refreshes >= 10,
        "refreshed at least once per period: {}",
        s.refreshes
    );
    assert!(
        AHEAD_RUNS.load(SeqCst) <= 40,
        "one refresh at a time: {}",
        AHEAD_RUNS.load(SeqCst)
    );
}

static SOFT_RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(
    name = "failsafe.soft",
    ttl = "10s",
    stale_if_error = "1h",
    soft_timeout = "100ms"
)]
async fn slow(id: u32) -> Result<u32, AppError> {
    let run = SOFT_RUNS.fetch_add(1, SeqCst);
    if run > 0 {
        sleep(Duration::from_secs(2)).await;
    }
    Ok(id * 100 + run)
}

#[tokio::test(start_paused = true)]
async fn soft_timeout_returns_the_stale_value_and_the_slow_body_refreshes_the_entry() {
    let _turn = SLOTS.lock().await;
    assert_eq!(slow(1).await, Ok(100));
    advance(Duration::from_secs(11)).await;
    let start = Instant::now();
    assert_eq!(
        slow(1).await,
        Ok(100),
        "the stale value at the soft timeout"
    );
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(
        slow(1).await,
        Ok(101),
        "the slow body's value is in the cache"
    );
    let s = stats("failsafe.soft");
    assert_eq!((s.stale_hits, s.refreshes, s.hits), (1, 1, 1));
}

#[cached(
    name = "failsafe.soft_cold",
    ttl = "10s",
    stale_if_error = "1h",
    soft_timeout = "100ms"
)]
async fn slow_cold(id: u32) -> Result<u32, AppError> {
    sleep(Duration::from_secs(2)).await;
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn soft_timeout_without_a_stale_value_waits_for_the_body() {
    let start = Instant::now();
    assert_eq!(slow_cold(2).await, Ok(2));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

static DROP_RUNS: AtomicU32 = AtomicU32::new(0);
static DROP_DONE: AtomicU32 = AtomicU32::new(0);

#[cached(
    name = "failsafe.dropped",
    ttl = "10s",
    stale_if_error = "1h",
    soft_timeout = "1s"
)]
async fn outlives_its_caller(id: u32) -> Result<u32, AppError> {
    let run = DROP_RUNS.fetch_add(1, SeqCst);
    if run > 0 {
        sleep(Duration::from_secs(5)).await;
    }
    DROP_DONE.fetch_add(1, SeqCst);
    Ok(id + run)
}

#[tokio::test(start_paused = true)]
async fn dropped_caller_does_not_cancel_the_refresh() {
    let _turn = SLOTS.lock().await;
    assert_eq!(outlives_its_caller(10).await, Ok(10));
    advance(Duration::from_secs(11)).await;
    // The caller gives up after 10 ms, long before the body (5 s) or the soft timeout (1 s).
    let dropped = tokio::time::timeout(Duration::from_millis(10), outlives_its_caller(10)).await;
    assert!(dropped.is_err());
    sleep(Duration::from_secs(6)).await;
    settle().await;
    assert_eq!(DROP_DONE.load(SeqCst), 2, "the body ran to its end");
    assert_eq!(outlives_its_caller(10).await, Ok(11));
}

static LOADS: AtomicU32 = AtomicU32::new(0);

#[tokio::test(start_paused = true)]
async fn get_or_load_runs_load_once_for_concurrent_misses_and_caches_ok() {
    use cachex_runtime::{Cache, MemoryStore};
    let cache: Cache<u32> = Cache::with_name("failsafe.get_or_load", MemoryStore::new(100));
    let ttl = Some(Duration::from_secs(60));
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_load("k", ttl, || async {
                        LOADS.fetch_add(1, SeqCst);
                        sleep(Duration::from_millis(100)).await;
                        Ok::<_, AppError>(7)
                    })
                    .await
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), Ok(7));
    }
    assert_eq!(LOADS.load(SeqCst), 1, "one load for 50 concurrent misses");
    // A hit: `load` is not run.
    let v = cache
        .get_or_load("k", ttl, || async { Err::<u32, _>(AppError::Remote) })
        .await;
    assert_eq!(v, Ok(7));
    let s = stats("failsafe.get_or_load");
    assert_eq!((s.hits, s.misses), (1, 50));
}

#[tokio::test(start_paused = true)]
async fn get_or_load_does_not_cache_an_err() {
    use cachex_runtime::{Cache, MemoryStore};
    let cache: Cache<u32> = Cache::with_name("failsafe.get_or_load_err", MemoryStore::new(100));
    let v = cache
        .get_or_load("k", None, || async { Err::<u32, _>(AppError::Remote) })
        .await;
    assert_eq!(v, Err(AppError::Remote));
    let v = cache
        .get_or_load("k", None, || async { Ok::<_, AppError>(3) })
        .await;
    assert_eq!(v, Ok(3), "the error was not cached");
    assert_eq!(cache.get("k").await.unwrap(), Some(3));
}

static BOUND_SLOW: AtomicBool = AtomicBool::new(false);
static BOUND_RUNNING: AtomicU32 = AtomicU32::new(0);
static BOUND_PEAK: AtomicU32 = AtomicU32::new(0);

#[cached(
    name = "failsafe.bound",
    ttl = "10s",
    stale_while_revalidate = "1m",
    capacity = 1_000
)]
async fn many(id: u32) -> Option<u32> {
    if BOUND_SLOW.load(SeqCst) {
        let now = BOUND_RUNNING.fetch_add(1, SeqCst) + 1;
        BOUND_PEAK.fetch_max(now, SeqCst);
        sleep(Duration::from_secs(1)).await;
        BOUND_RUNNING.fetch_sub(1, SeqCst);
    }
    Some(id)
}

#[tokio::test(start_paused = true)]
async fn background_refreshes_are_bounded_per_process() {
    let _turn = SLOTS.lock().await;
    for id in 0..200 {
        assert_eq!(many(id).await, Some(id));
    }
    advance(Duration::from_secs(11)).await;
    BOUND_SLOW.store(true, SeqCst);
    for id in 0..200 {
        assert_eq!(many(id).await, Some(id), "the stale value at once");
    }
    settle().await;
    let s = stats("failsafe.bound");
    println!(
        "refreshes started: {}, peak running: {}",
        s.refreshes,
        BOUND_PEAK.load(SeqCst)
    );
    assert_eq!(s.refreshes, cachex_runtime::__private::MAX_REFRESHES as u64);
    assert_eq!(s.stale_hits, 200);
    // The skipped keys are refreshed by a later call once slots are free.
    advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(BOUND_RUNNING.load(SeqCst), 0);
    for id in 0..200 {
        assert_eq!(many(id).await, Some(id));
    }
    settle().await;
    assert_eq!(stats("failsafe.bound").refreshes, 128);
    assert!(BOUND_PEAK.load(SeqCst) <= 64);
    // Let them finish, so the slots are free for the next test.
    advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(BOUND_RUNNING.load(SeqCst), 0);
}
