//! `#[retry]` through the public API: attempt counts, backoff on the paused clock, `retry_if`,
//! policies looked up at call time, fresh argument clones per attempt, and methods.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cachex_runtime::retry;
use cachex_runtime::{registry, Policy};
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
enum AppError {
    Transient,
    Permanent,
}

fn is_transient(e: &AppError) -> bool {
    *e == AppError::Transient
}

static ALWAYS_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(
    max_attempts = 4,
    initial_delay = "100ms",
    multiplier = 2.0,
    jitter = false
)]
async fn always_fails() -> Result<(), AppError> {
    ALWAYS_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(AppError::Transient)
}

#[tokio::test(start_paused = true)]
async fn counts_attempts_and_sleeps_the_backoff() {
    let start = Instant::now();
    assert_eq!(always_fails().await, Err(AppError::Transient));
    assert_eq!(ALWAYS_CALLS.load(Ordering::SeqCst), 4);
    // 100ms + 200ms + 400ms, on tokio's paused clock.
    assert_eq!(start.elapsed(), Duration::from_millis(700));
}

static EVENTUAL_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 5, initial_delay = "10ms", jitter = false)]
async fn succeeds_on_third(label: String) -> Result<String, AppError> {
    let n = EVENTUAL_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 3 {
        return Err(AppError::Transient);
    }
    Ok(format!("{label}#{n}"))
}

#[tokio::test(start_paused = true)]
async fn stops_at_the_first_success() {
    assert_eq!(succeeds_on_third("job".into()).await.unwrap(), "job#3");
    assert_eq!(EVENTUAL_CALLS.load(Ordering::SeqCst), 3);
}

static FILTERED_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 5, initial_delay = "1ms", retry_if = is_transient)]
async fn filtered(error: AppError) -> Result<(), AppError> {
    FILTERED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(error)
}

#[tokio::test(start_paused = true)]
async fn retry_if_refuses_permanent_errors() {
    assert_eq!(
        filtered(AppError::Permanent).await,
        Err(AppError::Permanent)
    );
    assert_eq!(FILTERED_CALLS.swap(0, Ordering::SeqCst), 1);
    assert_eq!(
        filtered(AppError::Transient).await,
        Err(AppError::Transient)
    );
    assert_eq!(FILTERED_CALLS.swap(0, Ordering::SeqCst), 5);
}

static POLICY_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(policy = "macros.retry.swappable")]
async fn by_policy() -> Result<(), AppError> {
    POLICY_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(AppError::Transient)
}

#[tokio::test(start_paused = true)]
async fn policy_is_looked_up_at_call_time() {
    let fast = |max_attempts| Policy {
        max_attempts,
        initial_delay: Duration::ZERO,
        jitter: false,
        ..Policy::default()
    };
    registry().set_policy("macros.retry.swappable", fast(2));
    assert!(by_policy().await.is_err());
    assert_eq!(POLICY_CALLS.swap(0, Ordering::SeqCst), 2);

    registry().set_policy("macros.retry.swappable", fast(6));
    assert!(by_policy().await.is_err());
    assert_eq!(POLICY_CALLS.swap(0, Ordering::SeqCst), 6);
}

static OVERRIDE_CALLS: AtomicU32 = AtomicU32::new(0);

// An explicit field overrides the named policy; the rest of the policy still applies.
#[retry(policy = "macros.retry.base", max_attempts = 2)]
async fn overridden() -> Result<(), AppError> {
    OVERRIDE_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(AppError::Transient)
}

#[tokio::test(start_paused = true)]
async fn explicit_fields_override_the_policy() {
    registry().set_policy(
        "macros.retry.base",
        Policy {
            max_attempts: 9,
            initial_delay: Duration::from_secs(1),
            jitter: false,
            ..Policy::default()
        },
    );
    let start = Instant::now();
    assert!(overridden().await.is_err());
    assert_eq!(OVERRIDE_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

static DEFAULT_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry]
async fn default_policy() -> Result<(), AppError> {
    DEFAULT_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(AppError::Transient)
}

#[tokio::test(start_paused = true)]
async fn without_arguments_the_default_policy_applies() {
    assert!(default_policy().await.is_err());
    assert_eq!(
        DEFAULT_CALLS.load(Ordering::SeqCst),
        Policy::default().max_attempts
    );
}

static SEEN: Mutex<Vec<usize>> = Mutex::new(Vec::new());

// Each attempt gets its own clone of `items`, so the body's mutation does not leak into the next
// attempt; `&str` and `&[u8]` arguments are copied references.
#[retry(max_attempts = 3, initial_delay = "0ms")]
async fn fresh_arguments(mut items: Vec<u32>, tag: &str, bytes: &[u8]) -> Result<usize, AppError> {
    items.push(bytes.len() as u32);
    SEEN.lock().unwrap().push(items.len() + tag.len());
    if SEEN.lock().unwrap().len() < 3 {
        return Err(AppError::Transient);
    }
    Ok(items.len())
}

#[tokio::test]
async fn every_attempt_runs_with_fresh_clones() {
    let tag = String::from("ab");
    assert_eq!(fresh_arguments(vec![1, 2], &tag, b"xyz").await, Ok(3));
    assert_eq!(*SEEN.lock().unwrap(), vec![5, 5, 5]);
}

struct Counter {
    attempts: u32,
    fail_until: u32,
}

impl Counter {
    #[retry(max_attempts = 5, initial_delay = "0ms")]
    async fn bump(&mut self, by: u32) -> Result<u32, AppError> {
        self.attempts += by;
        if self.attempts < self.fail_until {
            return Err(AppError::Transient);
        }
        Ok(self.attempts)
    }

    #[retry(max_attempts = 3, initial_delay = "0ms")]
    async fn peek(&self) -> Result<u32, AppError> {
        if self.attempts == 0 {
            Err(AppError::Permanent)
        } else {
            Ok(self.attempts)
        }
    }
}

#[tokio::test]
async fn methods_with_shared_and_mutable_receivers() {
    let mut c = Counter {
        attempts: 0,
        fail_until: 4,
    };
    // `&mut self` is reborrowed for every attempt.
    assert_eq!(c.bump(1).await, Ok(4));
    assert_eq!(c.peek().await, Ok(4));
    let idle = Counter {
        attempts: 0,
        fail_until: 0,
    };
    assert_eq!(idle.peek().await, Err(AppError::Permanent));
}

#[retry(max_attempts = 2, initial_delay = "0ms")]
async fn question_mark(input: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = input.parse()?;
    Ok(n * 2)
}

#[tokio::test]
async fn question_mark_in_the_body() {
    assert_eq!(question_mark("21").await, Ok(42));
    assert!(question_mark("x").await.is_err());
}

#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    assert_send(always_fails());
    assert_send(fresh_arguments(vec![], "", b""));
    let mut c = Counter {
        attempts: 0,
        fail_until: 0,
    };
    assert_send(c.bump(1));
}
