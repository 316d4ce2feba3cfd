//! Regressions of the macros, each named after the behaviour it checks, with what used to happen.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cachex_runtime::{cached, circuit_breaker, registry, retry, Error, RedisStore};
use support::redis_server::RedisServer;

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

// ---------------------------------------------------------------------------------------------
// Return type aliases.

type ApiResult<T> = Result<T, AppError>;

static ALIAS_RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "macros.regressions.alias_result", result)]
async fn alias_with_flag(id: u32) -> ApiResult<u32> {
    match ALIAS_RUNS.fetch_add(1, Ordering::SeqCst) {
        0 => Err(AppError::Remote),
        _ => Ok(id * 10),
    }
}

/// `#[cached(result)]` over a `Result` alias caches only `Ok`. Before the flag existed the alias
/// was taken for a plain value and the first `Err` was cached and returned ever after.
#[tokio::test]
async fn cached_result_flag_does_not_cache_errors_of_an_alias() {
    assert_eq!(alias_with_flag(4).await, Err(AppError::Remote));
    assert_eq!(alias_with_flag(4).await, Ok(40));
    assert_eq!(alias_with_flag(4).await, Ok(40));
    assert_eq!(ALIAS_RUNS.load(Ordering::SeqCst), 2);
}

static PLAIN_ALIAS_RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "macros.regressions.alias_plain")]
async fn alias_without_flag(id: u32) -> ApiResult<u32> {
    match PLAIN_ALIAS_RUNS.fetch_add(1, Ordering::SeqCst) {
        0 => Err(AppError::Remote),
        _ => Ok(id),
    }
}

/// The documented behaviour without the flag: the macro cannot see through an alias, so the
/// value is cached as a plain value, `Err` included.
#[tokio::test]
async fn without_the_flag_an_alias_is_cached_as_a_plain_value() {
    assert_eq!(alias_without_flag(1).await, Err(AppError::Remote));
    assert_eq!(alias_without_flag(1).await, Err(AppError::Remote));
    assert_eq!(PLAIN_ALIAS_RUNS.load(Ordering::SeqCst), 1);
}

static OPTION_ALIAS_RUNS: AtomicU32 = AtomicU32::new(0);

type Maybe<T> = Option<T>;

#[cached(name = "macros.regressions.alias_option", option)]
async fn option_alias_with_flag(id: u32) -> Maybe<u32> {
    match OPTION_ALIAS_RUNS.fetch_add(1, Ordering::SeqCst) {
        0 => None,
        _ => Some(id),
    }
}

/// `#[cached(option)]` over an `Option` alias caches only `Some`.
#[tokio::test]
async fn cached_option_flag_does_not_cache_none_of_an_alias() {
    assert_eq!(option_alias_with_flag(2).await, None);
    assert_eq!(option_alias_with_flag(2).await, Some(2));
    assert_eq!(option_alias_with_flag(2).await, Some(2));
    assert_eq!(OPTION_ALIAS_RUNS.load(Ordering::SeqCst), 2);
}

static ALIAS_RETRY_RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "macros.regressions.alias_stacked")]
#[retry(max_attempts = 3, initial_delay = "0ms")]
#[circuit_breaker(name = "macros.regressions.alias_stacked")]
async fn alias_under_retry_and_breaker(id: u32) -> ApiResult<u32> {
    match ALIAS_RETRY_RUNS.fetch_add(1, Ordering::SeqCst) {
        0 => Err(AppError::Remote),
        _ => Ok(id + 1),
    }
}

/// `#[retry]` and `#[circuit_breaker]` accept a `Result` alias (they used to refuse it at
/// compile time: "needs a function that returns `Result<T, E>`"), and a `#[cached]` over them
/// knows the value is a `Result` without the flag.
#[tokio::test]
async fn retry_and_breaker_accept_a_result_alias() {
    assert_eq!(alias_under_retry_and_breaker(1).await, Ok(2));
    assert_eq!(alias_under_retry_and_breaker(1).await, Ok(2));
    assert_eq!(ALIAS_RETRY_RUNS.load(Ordering::SeqCst), 2);
    let stats = registry()
        .breaker("macros.regressions.alias_stacked")
        .stats();
    assert_eq!((stats.total_failures, stats.total_successes), (1, 1));
}

// ---------------------------------------------------------------------------------------------
// Associated functions of two types with one default name.

struct Users;
struct Orders;

static USERS_LOOKUPS: AtomicU32 = AtomicU32::new(0);
static ORDERS_LOOKUPS: AtomicU32 = AtomicU32::new(0);

impl Users {
    #[circuit_breaker(threshold = 1, timeout = "1h")]
    async fn lookup(fail: bool) -> Result<&'static str, AppError> {
        USERS_LOOKUPS.fetch_add(1, Ordering::SeqCst);
        if fail {
            Err(AppError::Remote)
        } else {
            Ok("user")
        }
    }
}

impl Orders {
    #[circuit_breaker(threshold = 1, timeout = "1h")]
    async fn lookup(fail: bool) -> Result<&'static str, AppError> {
        ORDERS_LOOKUPS.fetch_add(1, Ordering::SeqCst);
        if fail {
            Err(AppError::Remote)
        } else {
            Ok("order")
        }
    }
}

/// Used to share one breaker, `macros_regressions::lookup`: one failure of `Users::lookup`
/// opened it and `Orders::lookup` was rejected without running. The second declaration of a
/// defaulted name now gets a breaker of its own, `"<name>#2"`.
#[tokio::test]
async fn two_types_associated_fns_with_one_default_name_get_their_own_breakers() {
    assert_eq!(Users::lookup(true).await, Err(AppError::Remote));
    assert!(Users::lookup(false).await.unwrap_err().is_circuit_open());
    assert_eq!(Orders::lookup(false).await, Ok("order"));
    assert_eq!(Orders::lookup(true).await, Err(AppError::Remote));
    assert!(Orders::lookup(false).await.unwrap_err().is_circuit_open());
    assert_eq!(USERS_LOOKUPS.load(Ordering::SeqCst), 1);
    assert_eq!(ORDERS_LOOKUPS.load(Ordering::SeqCst), 2);

    // Both declared from the start, under two names.
    let name = concat!(module_path!(), "::lookup");
    let names: Vec<String> = registry()
        .breakers()
        .iter()
        .map(|b| b.name().to_owned())
        .collect();
    assert!(names.iter().any(|n| n == name), "{names:?}");
    assert!(names.iter().any(|n| *n == format!("{name}#2")), "{names:?}");
}

impl Users {
    #[cached(store = "macros-regressions-redis")]
    async fn load(id: u64) -> Option<String> {
        Some(format!("user {id}"))
    }
}

impl Orders {
    #[cached(store = "macros-regressions-redis")]
    async fn load(id: u64) -> Option<String> {
        Some(format!("order {id}"))
    }
}

/// Used to share one cache name, so one Redis key `cachex:macros_regressions::load:[1]`:
/// `Orders::load(1)` returned the value `Users::load(1)` had stored. The second declaration of
/// a defaulted name now caches under `"<name>#2"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_types_associated_fns_with_one_default_name_never_share_cached_values() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::builder(&server.url())
        .name("macros-regressions")
        .build()
        .await
        .unwrap();
    registry().set_store("macros-regressions-redis", store);

    assert_eq!(Users::load(1).await.as_deref(), Some("user 1"));
    assert_eq!(Orders::load(1).await.as_deref(), Some("order 1"));
    // Both stored, under two names.
    assert_eq!(Users::load(1).await.as_deref(), Some("user 1"));
    assert_eq!(Orders::load(1).await.as_deref(), Some("order 1"));
    let name = concat!(module_path!(), "::load");
    let first = registry().cache_stats(name).unwrap();
    let second = registry().cache_stats(&format!("{name}#2")).unwrap();
    assert_eq!((first.hits, first.misses), (1, 1));
    assert_eq!((second.hits, second.misses), (1, 1));
}
