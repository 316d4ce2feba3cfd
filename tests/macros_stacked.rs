//! Stacked attributes nest as written, the first outermost, and form one pipeline: a `#[retry]`
//! over a `#[circuit_breaker]` sees the breaker's rejections and does not retry them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cachex_runtime::{circuit_breaker, retry};
use cachex_runtime::{registry, Error, State};

#[derive(Debug)]
enum AppError {
    Cachex(Error),
    Remote,
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Cachex(e)
    }
}

impl AppError {
    fn is_circuit_open(&self) -> bool {
        matches!(self, AppError::Cachex(e) if e.is_circuit_open())
    }
}

static REJECTED_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 5, initial_delay = "10ms", jitter = false)]
#[circuit_breaker(name = "macros.stacked.forced")]
async fn retry_over_forced_breaker() -> Result<u32, AppError> {
    REJECTED_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn retry_does_not_retry_a_rejection() {
    let breaker = registry().breaker("macros.stacked.forced");
    breaker.force_open();
    let start = tokio::time::Instant::now();
    let e = retry_over_forced_breaker().await.unwrap_err();
    assert!(e.is_circuit_open(), "{e:?}");
    assert_eq!(REJECTED_CALLS.load(Ordering::SeqCst), 0);
    // Presented once, rejected once, returned at once: no backoff slept.
    assert_eq!(breaker.stats().total_requests, 1);
    assert_eq!(breaker.stats().total_rejections, 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

static OPENING_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 10, initial_delay = "10ms", jitter = false)]
#[circuit_breaker(name = "macros.stacked.opening", threshold = 3, timeout = "1m")]
async fn retry_until_the_breaker_opens() -> Result<u32, AppError> {
    OPENING_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(AppError::Remote)
}

#[tokio::test(start_paused = true)]
async fn retries_stop_when_the_breaker_opens() {
    let e = retry_until_the_breaker_opens().await.unwrap_err();
    // Three failures open the breaker; the fourth attempt is rejected and returned as it is.
    assert!(e.is_circuit_open(), "{e:?}");
    assert_eq!(OPENING_CALLS.load(Ordering::SeqCst), 3);
    let stats = registry().breaker("macros.stacked.opening").stats();
    assert_eq!(stats.state, State::Open);
    assert_eq!((stats.total_failures, stats.total_rejections), (3, 1));
}

static INNER_RETRY_CALLS: AtomicU32 = AtomicU32::new(0);

// The other order: the breaker sees one outcome per call, after all the retries.
#[circuit_breaker(name = "macros.stacked.outer_breaker", threshold = 2)]
#[retry(max_attempts = 3, initial_delay = "1ms")]
async fn breaker_over_retry() -> Result<u32, AppError> {
    INNER_RETRY_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(AppError::Remote)
}

#[tokio::test(start_paused = true)]
async fn a_breaker_outside_counts_whole_retried_calls() {
    assert!(matches!(breaker_over_retry().await, Err(AppError::Remote)));
    assert_eq!(INNER_RETRY_CALLS.load(Ordering::SeqCst), 3);
    let stats = registry().breaker("macros.stacked.outer_breaker").stats();
    assert_eq!((stats.total_failures, stats.consecutive_failures), (1, 1));
    assert!(matches!(breaker_over_retry().await, Err(AppError::Remote)));
    assert_eq!(INNER_RETRY_CALLS.load(Ordering::SeqCst), 6);
    let e = breaker_over_retry().await.unwrap_err();
    assert!(e.is_circuit_open(), "{e:?}");
    assert_eq!(INNER_RETRY_CALLS.load(Ordering::SeqCst), 6);
}

static RECOVER_CALLS: AtomicU32 = AtomicU32::new(0);

fn is_remote(e: &AppError) -> bool {
    matches!(e, AppError::Remote)
}

// `retry_if` sees the function's own errors; a rejection never reaches it.
#[retry(max_attempts = 4, initial_delay = "5ms", retry_if = is_remote)]
#[circuit_breaker(name = "macros.stacked.recover", threshold = 5)]
async fn recovers(id: u64) -> Result<u64, AppError> {
    if RECOVER_CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(AppError::Remote);
    }
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn retry_over_breaker_recovers_from_transient_failures() {
    assert_eq!(recovers(9).await.unwrap(), 9);
    assert_eq!(RECOVER_CALLS.load(Ordering::SeqCst), 3);
    let stats = registry().breaker("macros.stacked.recover").stats();
    assert_eq!((stats.total_failures, stats.total_successes), (2, 1));
    assert_eq!(stats.consecutive_failures, 0);
}

// Breakers nested in one another: a rejection by the inner one stays a rejection.
#[retry(max_attempts = 3, initial_delay = "1ms")]
#[circuit_breaker(name = "macros.stacked.outer")]
#[circuit_breaker(name = "macros.stacked.inner")]
async fn two_breakers() -> Result<(), AppError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn nested_breakers_keep_rejections() {
    registry().breaker("macros.stacked.inner").force_open();
    let e = two_breakers().await.unwrap_err();
    assert!(e.is_circuit_open(), "{e:?}");
    assert_eq!(
        registry()
            .breaker("macros.stacked.inner")
            .stats()
            .total_rejections,
        1
    );
    assert_eq!(
        registry()
            .breaker("macros.stacked.outer")
            .stats()
            .total_requests,
        1
    );
}

#[test]
fn stacked_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    assert_send(retry_over_forced_breaker());
    assert_send(breaker_over_retry());
    assert_send(two_breakers());
}

static FULL_CALLS: AtomicU32 = AtomicU32::new(0);

// The recommended order: cache outermost, then retry, then the breaker around the remote call.
#[cachex_runtime::cached(name = "macros.stacked.full", ttl = "60s")]
#[retry(max_attempts = 3, initial_delay = "10ms")]
#[circuit_breaker(name = "macros.stacked.full", threshold = 5, timeout = "30s")]
async fn load_user(id: u64) -> Result<String, AppError> {
    if FULL_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(AppError::Remote);
    }
    Ok(format!("user-{id}"))
}

#[tokio::test(start_paused = true)]
async fn cache_retry_breaker_in_written_order() {
    let breaker = registry().breaker("macros.stacked.full");
    // Rejected while forced open: the error is returned, not retried and not cached.
    breaker.force_open();
    assert!(load_user(1).await.unwrap_err().is_circuit_open());
    assert_eq!(FULL_CALLS.load(Ordering::SeqCst), 0);

    // Closed again: the first attempt fails, the retry succeeds, the success is cached.
    breaker.reset();
    assert_eq!(load_user(1).await.unwrap(), "user-1");
    assert_eq!(FULL_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(load_user(1).await.unwrap(), "user-1");
    assert_eq!(FULL_CALLS.load(Ordering::SeqCst), 2);

    // A hit does not even reach the breaker.
    breaker.force_open();
    assert_eq!(load_user(1).await.unwrap(), "user-1");
    let stats = registry().cache_stats("macros.stacked.full").unwrap();
    assert_eq!((stats.hits, stats.misses), (2, 2));
    breaker.reset();
}
