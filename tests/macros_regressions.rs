//! Regressions of the macros, each named after the behaviour it checks, with what used to happen.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cachex_runtime::{circuit_breaker, registry, retry, Error};

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

impl AppError {
    fn is_timeout(&self) -> bool {
        matches!(self, AppError::Cachex(text) if text.contains("operation timeout"))
    }

    fn is_circuit_open(&self) -> bool {
        matches!(self, AppError::Cachex(text) if text.contains("circuit breaker is open"))
    }
}

// ---------------------------------------------------------------------------------------------
// A call timeout under `#[retry]` is a failure like any other, and is retried.

static TIMED_OUT_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 3, initial_delay = "10ms", jitter = false)]
#[circuit_breaker(
    name = "macros.regressions.timeout",
    call_timeout = "100ms",
    threshold = 10
)]
async fn always_too_slow() -> Result<u32, AppError> {
    TIMED_OUT_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(1)
}

/// Used to make 1 attempt of 3: the retry loop took the breaker's timeout for a rejection and
/// returned it at once.
#[tokio::test(start_paused = true)]
async fn a_call_timeout_under_retry_is_retried() {
    let start = tokio::time::Instant::now();
    let e = always_too_slow().await.unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(TIMED_OUT_ATTEMPTS.load(Ordering::SeqCst), 3);
    // Three deadlines of 100ms and two backoff delays; on the paused clock nothing else passes.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(1),
        "{elapsed:?}"
    );
    let stats = registry().breaker("macros.regressions.timeout").stats();
    assert_eq!(stats.total_timeouts, 3);
}

static REFUSED_TIMEOUT_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

fn not_a_timeout(e: &AppError) -> bool {
    !e.is_timeout()
}

#[retry(max_attempts = 3, initial_delay = "10ms", retry_if = not_a_timeout)]
#[circuit_breaker(name = "macros.regressions.timeout_refused", call_timeout = "100ms")]
async fn too_slow_and_refused() -> Result<u32, AppError> {
    REFUSED_TIMEOUT_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(1)
}

/// `retry_if` sees a call timeout as the function's own error, `E::from(Error::Timeout)`, and
/// may refuse it. (Before the fix the predicate was never asked: timeouts were never retried.)
#[tokio::test(start_paused = true)]
async fn retry_if_decides_about_a_call_timeout_like_any_error() {
    let e = too_slow_and_refused().await.unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(REFUSED_TIMEOUT_ATTEMPTS.load(Ordering::SeqCst), 1);
}

static TIMEOUT_THEN_OPEN_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 5, initial_delay = "10ms", jitter = false)]
#[circuit_breaker(
    name = "macros.regressions.timeout_opens",
    call_timeout = "100ms",
    threshold = 2
)]
async fn too_slow_until_open() -> Result<u32, AppError> {
    TIMEOUT_THEN_OPEN_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(1)
}

/// Timeouts are retried, but the rejection of the breaker they opened is not.
#[tokio::test(start_paused = true)]
async fn timeouts_are_retried_until_the_breaker_opens_and_its_rejection_is_not() {
    let e = too_slow_until_open().await.unwrap_err();
    assert!(e.is_circuit_open(), "{e:?}");
    assert_eq!(TIMEOUT_THEN_OPEN_ATTEMPTS.load(Ordering::SeqCst), 2);
    let stats = registry()
        .breaker("macros.regressions.timeout_opens")
        .stats();
    assert_eq!((stats.total_timeouts, stats.total_rejections), (2, 1));
}
