//! Retry engine behaviour through the public API, on tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cachex_runtime::retry::{retry, retry_if, retry_with_stats};
use cachex_runtime::Policy;
use tokio::time::Instant;

fn fixed(max_attempts: u32, initial_ms: u64, max_ms: u64, multiplier: f64) -> Policy {
    Policy {
        max_attempts,
        initial_delay: Duration::from_millis(initial_ms),
        max_delay: Duration::from_millis(max_ms),
        multiplier,
        jitter: false,
        budget: None,
    }
}

/// When each attempt ran, relative to the start.
type AttemptLog = Arc<Mutex<Vec<Duration>>>;

/// An operation that fails `failures` times, recording the (paused-clock) instant of each
/// attempt relative to `start`.
fn flaky(
    failures: usize,
    start: Instant,
) -> (
    AttemptLog,
    impl FnMut() -> std::future::Ready<Result<usize, String>>,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let op = move || {
        let mut l = l.lock().unwrap();
        l.push(start.elapsed());
        let n = l.len();
        std::future::ready(if n <= failures {
            Err(format!("failure {n}"))
        } else {
            Ok(n)
        })
    };
    (log, op)
}

fn ms(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|&m| Duration::from_millis(m)).collect()
}

#[test]
fn presets_match_the_documented_values() {
    assert_eq!(Policy::default(), fixed_j(3, 100, 5_000, 2.0));
    assert_eq!(Policy::conservative(), fixed_j(2, 500, 2_000, 2.0));
    assert_eq!(Policy::aggressive(), fixed_j(5, 50, 10_000, 1.5));
}

fn fixed_j(a: u32, i: u64, m: u64, x: f64) -> Policy {
    Policy {
        jitter: true,
        ..fixed(a, i, m, x)
    }
}

#[test]
fn delay_for_follows_the_formula_and_caps() {
    let p = fixed(10, 100, 1_000, 2.0);
    let got: Vec<_> = (0..7).map(|r| p.delay_for(r)).collect();
    assert_eq!(got, ms(&[0, 100, 200, 400, 800, 1_000, 1_000]));
    let p = fixed(10, 50, 10_000, 1.5);
    assert_eq!(p.delay_for(3), Duration::from_micros(112_500));
    // Huge exponents saturate at the cap instead of overflowing.
    assert_eq!(p.delay_for(u32::MAX), Duration::from_secs(10));
}

#[test]
fn invalid_policies_are_refused() {
    assert!(fixed(0, 1, 1, 2.0).validate().is_err());
    assert!(fixed(1, 1, 1, 0.9).validate().is_err());
    assert!(fixed(1, 1, 1, f64::NAN).validate().is_err());
    assert!(fixed(1, 10, 1, 2.0).validate().is_err());
    assert!(fixed(1, 1, 10, 1.0).validate().is_ok());
}

#[tokio::test(start_paused = true)]
async fn exact_backoff_schedule_without_jitter() {
    let start = Instant::now();
    let (log, op) = flaky(3, start);
    let r = retry(&fixed(5, 100, 10_000, 2.0), op).await;
    assert_eq!(r, Ok(4));
    assert_eq!(*log.lock().unwrap(), ms(&[0, 100, 300, 700]));
}

#[tokio::test(start_paused = true)]
async fn delays_are_capped_by_max_delay() {
    let start = Instant::now();
    let (log, op) = flaky(10, start);
    let r = retry(&fixed(6, 100, 250, 2.0), op).await;
    assert_eq!(r, Err("failure 6".to_owned()));
    // 100, 200, then capped at 250.
    assert_eq!(*log.lock().unwrap(), ms(&[0, 100, 300, 550, 800, 1_050]));
}

#[tokio::test(start_paused = true)]
async fn last_error_is_returned_after_max_attempts() {
    let (log, op) = flaky(usize::MAX, Instant::now());
    let r = retry(&fixed(3, 1, 10, 2.0), op).await;
    assert_eq!(r, Err("failure 3".to_owned()));
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn jitter_never_exceeds_the_unjittered_delay() {
    let p = Policy {
        jitter: true,
        ..fixed(8, 100, 1_000, 2.0)
    };
    for _ in 0..50 {
        let start = Instant::now();
        let (log, op) = flaky(usize::MAX, start);
        let _ = retry(&p, op).await;
        let at = log.lock().unwrap().clone();
        for n in 1..at.len() {
            let slept = at[n] - at[n - 1];
            let d = p.delay_for(n as u32);
            assert!(
                slept <= d && slept >= d / 2,
                "retry {n}: slept {slept:?}, delay {d:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn refused_errors_return_at_once() {
    let start = Instant::now();
    let (log, op) = flaky(usize::MAX, start);
    let r = retry_if(
        &fixed(5, 100, 1_000, 2.0),
        |e: &String| e != "failure 2",
        op,
    )
    .await;
    assert_eq!(r, Err("failure 2".to_owned()));
    assert_eq!(*log.lock().unwrap(), ms(&[0, 100]));
}

#[tokio::test(start_paused = true)]
async fn stats_report_attempts_delay_and_last_error() {
    let (_, op) = flaky(2, Instant::now());
    let (r, s) = retry_with_stats(&fixed(5, 100, 1_000, 2.0), op).await;
    assert_eq!(r, Ok(3));
    assert_eq!(s.attempts, 3);
    assert_eq!(s.total_delay, Duration::from_millis(300));
    assert!(s.success);
    assert_eq!(s.last_error.as_deref(), Some("failure 2"));

    let (_, op) = flaky(0, Instant::now());
    let (_, s) = retry_with_stats(&fixed(5, 100, 1_000, 2.0), op).await;
    assert_eq!(
        (s.attempts, s.total_delay, s.last_error),
        (1, Duration::ZERO, None)
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_in_a_sleep() {
    let start = Instant::now();
    let (log, op) = flaky(usize::MAX, start);
    let p = fixed(10, 1_000, 1_000, 1.0);
    let r = tokio::time::timeout(Duration::from_millis(1_500), retry(&p, op)).await;
    assert!(r.is_err());
    // Attempt 1 at 0 ms, attempt 2 at 1000 ms; cancelled while sleeping towards 2000 ms.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(*log.lock().unwrap(), ms(&[0, 1_000]));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_in_an_attempt() {
    let attempts = Arc::new(Mutex::new(0));
    let a = attempts.clone();
    let p = fixed(10, 1, 1, 1.0);
    let fut = retry(&p, move || {
        *a.lock().unwrap() += 1;
        async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Err::<(), _>("slow")
        }
    });
    assert!(tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .is_err());
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(*attempts.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_invalid_policy_is_used_as_its_nearest_valid_form() {
    // max_attempts 0 still runs the operation once; nothing panics.
    let (log, op) = flaky(usize::MAX, Instant::now());
    let r = retry(&fixed(0, 1, 1, 0.0), op).await;
    assert!(r.is_err());
    assert_eq!(log.lock().unwrap().len(), 1);
}
