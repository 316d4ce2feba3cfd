//! Retry policies through the public API, on tokio's paused clock: the retry budget, the
//! server's `Retry-After` hint, and a deadline for the whole call, both in the `retry`
//! functions and on `#[retry]`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cachex_runtime::retry::{self, retry_with, retry_with_options_and_stats, RetryOptions};
use cachex_runtime::{registry, Budget, Error, Policy};
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    /// A 429/503 with a `Retry-After` of that many milliseconds.
    Busy(u64),
    Down,
    Cachex(String),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Cachex(e.to_string())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

fn retry_hint(e: &ApiError) -> Option<Duration> {
    match e {
        ApiError::Busy(ms) => Some(Duration::from_millis(*ms)),
        _ => None,
    }
}

fn instant(max_attempts: u32) -> Policy {
    Policy {
        max_attempts,
        initial_delay: Duration::ZERO,
        jitter: false,
        ..Policy::default()
    }
}

// ---- budget ----

#[tokio::test(start_paused = true)]
async fn budget_of_a_fifth_over_100_calls_allows_20_retries_plus_the_floor() {
    // A distinct policy value, so no other test shares its budget.
    let p = Policy {
        budget: Some(Budget {
            ratio: 0.2,
            min_per_sec: 10,
        }),
        ..instant(2)
    };
    let mut retried = 0;
    let mut exhausted = 0;
    for _ in 0..100 {
        let (r, s) = retry::retry_with_stats(&p, || async { Err::<(), _>("down") }).await;
        assert!(r.is_err());
        retried += s.attempts - 1;
        exhausted += u32::from(s.budget_exhausted);
    }
    println!("retries granted: {retried} of 100 due; budget refused {exhausted}");
    // 0.2 × 100 first attempts + a floor of 10, all within one window.
    assert_eq!(retried, 30);
    assert_eq!(exhausted, 70);
}

#[tokio::test(start_paused = true)]
async fn budget_refills_as_the_ten_second_window_moves_on() {
    let p = Policy {
        budget: Some(Budget {
            ratio: 0.0,
            min_per_sec: 3,
        }),
        ..instant(4)
    };
    let (_, s) = retry::retry_with_stats(&p, || async { Err::<(), _>("down") }).await;
    assert_eq!((s.attempts, s.budget_exhausted), (4, false));
    let (_, s) = retry::retry_with_stats(&p, || async { Err::<(), _>("down") }).await;
    assert_eq!((s.attempts, s.budget_exhausted), (1, true));
    tokio::time::advance(Duration::from_secs(11)).await;
    let (_, s) = retry::retry_with_stats(&p, || async { Err::<(), _>("down") }).await;
    assert_eq!(s.attempts, 4);
}

#[tokio::test(start_paused = true)]
async fn successes_leave_the_budget_untouched() {
    let p = Policy {
        budget: Some(Budget {
            ratio: 0.0,
            min_per_sec: 1,
        }),
        ..instant(5)
    };
    for _ in 0..50 {
        assert_eq!(retry::retry(&p, || async { Ok::<_, ()>(1) }).await, Ok(1));
    }
    let (_, s) = retry::retry_with_stats(&p, || async { Err::<(), _>("down") }).await;
    assert_eq!(s.attempts, 2);
}

#[test]
fn budget_ratio_must_be_a_finite_non_negative_number() {
    for ratio in [-0.1, f64::NAN, f64::INFINITY] {
        let p = Policy {
            budget: Some(Budget {
                ratio,
                min_per_sec: 1,
            }),
            ..Policy::default()
        };
        assert!(p.validate().is_err(), "ratio {ratio} accepted");
    }
    assert_eq!(Policy::default().budget, None);
    assert_eq!(Policy::conservative().budget, None);
    assert_eq!(Policy::aggressive().budget, None);
}

static BUDGETED_CALLS: AtomicU32 = AtomicU32::new(0);

#[cachex_runtime::retry(policy = "retry_policies.budgeted")]
async fn budgeted() -> Result<(), ApiError> {
    BUDGETED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn budget_of_a_registry_policy_is_shared_by_its_functions() {
    registry().set_policy(
        "retry_policies.budgeted",
        Policy {
            budget: Some(Budget {
                ratio: 0.2,
                min_per_sec: 10,
            }),
            ..instant(2)
        },
    );
    for _ in 0..100 {
        assert_eq!(budgeted().await, Err(ApiError::Down));
    }
    // 100 first attempts and 20 + 10 retries.
    assert_eq!(BUDGETED_CALLS.load(Ordering::SeqCst), 130);
}

// ---- retry_after ----

#[tokio::test(start_paused = true)]
async fn retry_after_of_300ms_is_waited_exactly() {
    let mut calls = 0;
    let start = Instant::now();
    // With jitter on and a 100 ms backoff: the hint wins, exactly.
    let options = RetryOptions::new().retry_after(retry_hint);
    let r = retry_with(&Policy::default(), options, || {
        calls += 1;
        let first = calls == 1;
        async move {
            if first {
                Err(ApiError::Busy(300))
            } else {
                Ok(calls)
            }
        }
    })
    .await;
    assert_eq!(r, Ok(2));
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn retry_after_above_max_delay_is_returned_at_once() {
    let mut calls = 0;
    let start = Instant::now();
    let p = Policy {
        max_delay: Duration::from_secs(5),
        ..Policy::default()
    };
    let options = RetryOptions::new().retry_after(retry_hint);
    let (r, s) = retry_with_options_and_stats(&p, options, || {
        calls += 1;
        async { Err::<(), _>(ApiError::Busy(5_001)) }
    })
    .await;
    assert_eq!(r, Err(ApiError::Busy(5_001)));
    assert_eq!((calls, s.attempts), (1, 1));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn retry_after_of_zero_or_absurd_size_never_panics() {
    // Zero retries at once; `u64::MAX` seconds is far above max_delay and returns at once.
    let start = Instant::now();
    let zero = RetryOptions::new().retry_after(|_: &&str| Some(Duration::ZERO));
    let r: Result<(), _> = retry_with(&instant(3), zero, || async { Err("busy") }).await;
    assert_eq!(r, Err("busy"));
    let absurd = RetryOptions::new().retry_after(|_: &&str| Some(Duration::MAX));
    let r: Result<(), _> = retry_with(&Policy::default(), absurd, || async { Err("busy") }).await;
    assert_eq!(r, Err("busy"));
    let huge = RetryOptions::new()
        .retry_after(|_: &ApiError| Some(Duration::from_secs(u64::MAX)))
        .deadline(Duration::from_secs(1));
    let p = Policy {
        max_delay: Duration::MAX,
        ..Policy::default()
    };
    let r: Result<(), _> = retry_with(&p, huge, || async { Err(ApiError::Down) }).await;
    assert_eq!(r, Err(ApiError::Down));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

static HINTED_CALLS: AtomicU32 = AtomicU32::new(0);

#[cachex_runtime::retry(max_attempts = 3, max_delay = "1s", retry_after = retry_hint)]
async fn hinted(ms: u64) -> Result<u32, ApiError> {
    let n = HINTED_CALLS.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        Err(ApiError::Busy(ms))
    } else {
        Ok(n)
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_on_the_attribute_waits_the_hint_or_gives_up() {
    let start = Instant::now();
    assert_eq!(hinted(300).await, Ok(1));
    assert_eq!(start.elapsed(), Duration::from_millis(300));

    HINTED_CALLS.store(0, Ordering::SeqCst);
    let start = Instant::now();
    assert_eq!(hinted(1_500).await, Err(ApiError::Busy(1_500)));
    assert_eq!(HINTED_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

// ---- deadline ----

#[tokio::test(start_paused = true)]
async fn deadline_of_1s_with_400ms_attempts_makes_2_attempts_and_times_out_at_1s() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let p = Policy {
        max_attempts: 10,
        initial_delay: Duration::from_millis(250),
        multiplier: 1.0,
        jitter: false,
        ..Policy::default()
    };
    let options = RetryOptions::new()
        .deadline(Duration::from_secs(1))
        .name("search");
    let r: Result<(), Error> = retry_with(&p, options, || async {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await;
        Err(Error::Timeout {
            name: "inner".into(),
            after: Duration::ZERO,
        })
    })
    .await;
    // 0–400 ms attempt 1, a 250 ms sleep, attempt 2 from 650 ms dropped at 1 s.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    match r {
        Err(Error::Timeout { name, after }) => {
            assert_eq!(name, "search");
            assert_eq!(after, Duration::from_secs(1));
        }
        other => panic!("expected the deadline's timeout, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn deadline_skips_a_sleep_that_would_cross_it() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let p = Policy {
        max_attempts: 10,
        initial_delay: Duration::from_millis(700),
        max_delay: Duration::from_secs(1),
        jitter: false,
        ..Policy::default()
    };
    let options = RetryOptions::new().deadline(Duration::from_secs(1));
    let r: Result<(), ApiError> = retry_with(&p, options, || async {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await;
        Err(ApiError::Down)
    })
    .await;
    // A 700 ms sleep from 400 ms would end past the deadline: the error comes back at once.
    assert_eq!(r, Err(ApiError::Down));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), Duration::from_millis(400));
}

static SLOW_CALLS: AtomicU32 = AtomicU32::new(0);

#[cachex_runtime::retry(
    max_attempts = 10,
    initial_delay = "250ms",
    multiplier = 1.0,
    jitter = false,
    deadline = "1s"
)]
async fn slow_search() -> Result<(), ApiError> {
    SLOW_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn deadline_on_the_attribute_returns_timeout_at_1s() {
    let start = Instant::now();
    let r = slow_search().await;
    assert_eq!(SLOW_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    match r {
        Err(ApiError::Cachex(text)) => {
            assert!(text.contains("operation timeout"), "{text}");
            assert!(text.contains("slow_search"), "{text}");
        }
        other => panic!("expected the deadline's timeout, got {other:?}"),
    }
}

static QUICK_CALLS: AtomicU32 = AtomicU32::new(0);

#[cachex_runtime::retry(max_attempts = 3, initial_delay = "10ms", deadline = "1s")]
async fn quick() -> Result<u32, ApiError> {
    Ok(QUICK_CALLS.fetch_add(1, Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn deadline_leaves_a_quick_success_alone() {
    assert_eq!(quick().await, Ok(0));
}

static GUARDED_CALLS: AtomicU32 = AtomicU32::new(0);

#[cachex_runtime::retry(
    max_attempts = 10,
    initial_delay = "250ms",
    multiplier = 1.0,
    jitter = false,
    deadline = "1s",
    retry_after = retry_hint
)]
#[cachex_runtime::circuit_breaker(name = "retry_policies.guarded", threshold = 100)]
async fn guarded() -> Result<(), ApiError> {
    GUARDED_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    Err(ApiError::Busy(250))
}

#[tokio::test(start_paused = true)]
async fn deadline_and_hint_over_a_breaker_end_the_call_at_the_deadline() {
    let start = Instant::now();
    let r = guarded().await;
    assert_eq!(GUARDED_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(
        matches!(&r, Err(ApiError::Cachex(t)) if t.contains("operation timeout")),
        "{r:?}"
    );
}
