//! Circuit breaker behaviour through the public API, on tokio's paused clock.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::{BreakerConfig, CallError, CircuitBreaker, Error, State};
use tokio::sync::Notify;
use tokio::time::{advance, Instant};

fn cfg(threshold: u32, timeout_s: u64, half_open_max: u32) -> BreakerConfig {
    BreakerConfig {
        threshold,
        timeout: Duration::from_secs(timeout_s),
        half_open_max,
        call_timeout: None,
        rate: None,
        max_timeout: None,
    }
}

async fn ok(b: &CircuitBreaker) -> Result<u32, CallError<&'static str>> {
    b.call(|| async { Ok(1) }).await
}

async fn fail(b: &CircuitBreaker) -> Result<u32, CallError<&'static str>> {
    b.call(|| async { Err("down") }).await
}

fn rejected<T: std::fmt::Debug, E: std::fmt::Debug>(r: &Result<T, CallError<E>>) -> Duration {
    match r {
        Err(CallError::Rejected(Error::CircuitOpen { retry_after, .. })) => *retry_after,
        other => panic!("expected a CircuitOpen rejection, got {other:?}"),
    }
}

#[test]
fn presets_match_the_documented_values() {
    assert_eq!(BreakerConfig::default(), cfg(5, 30, 3));
    assert_eq!(BreakerConfig::conservative(), cfg(3, 60, 1));
    assert_eq!(BreakerConfig::aggressive(), cfg(10, 10, 5));
    let c = BreakerConfig {
        threshold: 2,
        ..BreakerConfig::default()
    };
    assert_eq!(c, cfg(2, 30, 3));
}

#[test]
fn invalid_configs_are_refused_where_built() {
    for bad in [
        cfg(0, 1, 1),
        cfg(1, 1, 0),
        BreakerConfig {
            call_timeout: Some(Duration::ZERO),
            ..cfg(1, 1, 1)
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
        assert!(CircuitBreaker::try_new("bad", bad).is_err());
        // `new` never panics: it takes the nearest valid configuration.
        let b = CircuitBreaker::new("bad", bad);
        assert!(b.config().validate().is_ok());
    }
}

#[test]
fn state_display() {
    assert_eq!(State::Closed.to_string(), "CLOSED");
    assert_eq!(State::Open.to_string(), "OPEN");
    assert_eq!(State::HalfOpen.to_string(), "HALF_OPEN");
}

#[tokio::test(start_paused = true)]
async fn opens_after_threshold_consecutive_failures() {
    let b = CircuitBreaker::new("t", cfg(3, 30, 1));
    fail(&b).await.unwrap_err();
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.stats().consecutive_failures, 2);
    // A success clears the streak: failures must be consecutive.
    ok(&b).await.unwrap();
    assert_eq!(b.stats().consecutive_failures, 0);
    for _ in 0..2 {
        fail(&b).await.unwrap_err();
    }
    assert_eq!(b.state(), State::Closed);
    let r = fail(&b).await;
    assert!(matches!(r, Err(CallError::Inner("down"))));
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_without_running_and_reports_time_left() {
    let b = CircuitBreaker::new("svc-a", cfg(1, 30, 1));
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(10)).await;
    let ran = AtomicU32::new(0);
    let r = b
        .call(|| {
            ran.fetch_add(1, SeqCst);
            async { Ok::<_, ()>(()) }
        })
        .await;
    assert_eq!(ran.load(SeqCst), 0, "the function must not be called");
    assert_eq!(rejected(&r), Duration::from_secs(20));
    let msg = match r.unwrap_err() {
        CallError::Rejected(e) => e.to_string(),
        CallError::Inner(()) => unreachable!(),
    };
    assert!(
        msg.contains("circuit breaker is open") && msg.contains("svc-a"),
        "{msg}"
    );
    let s = b.stats();
    assert_eq!(
        (s.total_requests, s.total_rejections, s.total_failures),
        (2, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_after_timeout_and_closes_after_successes() {
    let b = CircuitBreaker::new("t", cfg(1, 5, 2));
    fail(&b).await.unwrap_err();
    advance(Duration::from_millis(4_999)).await;
    assert_eq!(rejected(&ok(&b).await), Duration::from_millis(1));
    advance(Duration::from_millis(1)).await;
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.stats().consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn half_open_failure_reopens_and_restarts_timeout() {
    let b = CircuitBreaker::new("t", cfg(1, 5, 3));
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(5)).await;
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&ok(&b).await), Duration::from_secs(5));
    advance(Duration::from_secs(5)).await;
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::HalfOpen);
}

/// Runs `n` calls concurrently on this task's runtime; each admitted one waits for `gate`.
async fn hammer(
    b: &Arc<CircuitBreaker>,
    n: usize,
    gate: &Arc<Notify>,
) -> (
    Vec<tokio::task::JoinHandle<Result<(), CallError<()>>>>,
    Arc<AtomicUsize>,
) {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handles = (0..n)
        .map(|_| {
            let (b, gate, running, peak) = (b.clone(), gate.clone(), running.clone(), peak.clone());
            tokio::spawn(async move {
                b.call(|| async {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    gate.notified().await;
                    running.fetch_sub(1, SeqCst);
                    Ok(())
                })
                .await
            })
        })
        .collect();
    // Let every task reach its admission decision.
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    (handles, peak)
}

#[tokio::test(start_paused = true)]
async fn half_open_limit_holds_under_1000_concurrent_calls() {
    let b = Arc::new(CircuitBreaker::new("t", cfg(1, 1, 3)));
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(1)).await;

    let gate = Arc::new(Notify::new());
    let (handles, peak) = hammer(&b, 1_000, &gate).await;
    assert_eq!(peak.load(SeqCst), 3);
    gate.notify_waiters();
    let mut admitted = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(()) => admitted += 1,
            r @ Err(_) => assert_eq!(rejected(&r), Duration::ZERO),
        }
    }
    assert_eq!(admitted, 3);
    assert_eq!(b.state(), State::Closed);
    let s = b.stats();
    assert_eq!((s.total_rejections, s.total_successes), (997, 3));
}

#[tokio::test(start_paused = true)]
async fn cancelled_trial_gives_its_slot_back() {
    let b = Arc::new(CircuitBreaker::new("t", cfg(1, 1, 1)));
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(1)).await;

    // A trial that never finishes, then is cancelled.
    let pending = {
        let b = b.clone();
        tokio::spawn(async move { b.call(std::future::pending::<Result<(), ()>>).await })
    };
    tokio::task::yield_now().await;
    assert_eq!(b.state(), State::HalfOpen);
    rejected(&ok(&b).await); // the only slot is taken
    pending.abort();
    assert!(pending.await.unwrap_err().is_cancelled());

    // Neither success nor failure: still HALF_OPEN, and the next call may run.
    assert_eq!(b.state(), State::HalfOpen);
    let s = b.stats();
    assert_eq!((s.total_successes, s.total_failures), (0, 1));
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn cancelling_many_trials_never_wedges() {
    let b = Arc::new(CircuitBreaker::new("t", cfg(1, 1, 2)));
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(1)).await;
    for _ in 0..100 {
        // Poll a trial once (it takes a slot), then drop it.
        let fut = b.call(std::future::pending::<Result<(), ()>>);
        let mut fut = Box::pin(fut);
        assert!(futures_poll_once(fut.as_mut()).await.is_none());
        drop(fut);
    }
    ok(&b).await.unwrap();
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

async fn futures_poll_once<F: Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn call_timeout_is_a_failure_and_a_timeout() {
    let b = CircuitBreaker::new(
        "slow-svc",
        BreakerConfig {
            call_timeout: Some(Duration::from_millis(50)),
            ..cfg(2, 10, 1)
        },
    );
    let start = Instant::now();
    let r = b
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, ()>(())
        })
        .await;
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    match &r {
        Err(CallError::Rejected(e @ Error::Timeout { name, after })) => {
            assert_eq!((&**name, *after), ("slow-svc", Duration::from_millis(50)));
            assert!(e.to_string().contains("operation timeout"));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let s = b.stats();
    assert_eq!(
        (s.total_failures, s.total_timeouts, s.consecutive_failures),
        (1, 1, 1)
    );
    // A call that finishes in time is unaffected.
    b.call(|| async { Ok::<_, ()>(()) }).await.unwrap();
    assert!(s.last_failure.is_some());
}

#[tokio::test(start_paused = true)]
async fn forced_open_rejects_until_force_close_or_reset() {
    let b = CircuitBreaker::new("t", cfg(5, 1, 1));
    b.force_open();
    assert!(b.is_forced());
    advance(Duration::from_secs(3600)).await;
    rejected(&ok(&b).await); // no timeout ever half-opens a pinned breaker
    assert_eq!(b.state(), State::Open);
    b.reset();
    assert!(!b.is_forced());
    ok(&b).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn forced_closed_permits_everything_and_still_counts() {
    let b = CircuitBreaker::new("t", cfg(2, 1, 1));
    b.force_close();
    for _ in 0..10 {
        fail(&b).await.unwrap_err();
    }
    assert_eq!(b.state(), State::Closed);
    let s = b.stats();
    assert_eq!((s.total_failures, s.consecutive_failures), (10, 10));
    // Unpinned by reset: counters of the state machine cleared, lifetime totals kept.
    b.reset();
    let s = b.stats();
    assert_eq!(
        (s.total_failures, s.consecutive_failures, s.total_requests),
        (10, 0, 10)
    );
    fail(&b).await.unwrap_err();
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn stats_arithmetic() {
    let b = CircuitBreaker::new("t", cfg(100, 1, 1));
    assert_eq!(
        (b.stats().failure_rate(), b.stats().success_rate()),
        (0.0, 0.0)
    );
    for _ in 0..3 {
        ok(&b).await.unwrap();
    }
    fail(&b).await.unwrap_err();
    let s = b.stats();
    assert_eq!(s.total_requests, 4);
    assert_eq!((s.failure_rate(), s.success_rate()), (25.0, 75.0));
    assert!(s.is_healthy());
    b.force_open();
    rejected(&ok(&b).await);
    let s = b.stats();
    assert_eq!((s.total_requests, s.total_rejections), (5, 1));
    // Rejections are not completed calls: the rates are unchanged.
    assert_eq!(s.failure_rate(), 25.0);
    assert!(!s.is_healthy());
}

/// Starts a call on `b` that is admitted now and returns `outcome` once the gate is opened.
async fn gated_call(
    b: &Arc<CircuitBreaker>,
    outcome: Result<(), &'static str>,
) -> (
    Arc<Notify>,
    tokio::task::JoinHandle<Result<(), CallError<&'static str>>>,
) {
    let gate = Arc::new(Notify::new());
    let slow = {
        let (b, gate) = (b.clone(), gate.clone());
        tokio::spawn(async move {
            b.call(|| async move {
                gate.notified().await;
                outcome
            })
            .await
        })
    };
    tokio::task::yield_now().await;
    (gate, slow)
}

/// Regression: a slow success that started while CLOSED must not close (or otherwise move) a
/// breaker that opened while it ran.
#[tokio::test(start_paused = true)]
async fn stale_success_does_not_close_an_open_breaker() {
    let b = Arc::new(CircuitBreaker::new("t", cfg(1, 60, 1)));
    let (gate, slow) = gated_call(&b, Ok(())).await;
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
    gate.notify_one();
    slow.await.unwrap().unwrap();
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.stats().total_successes, 1);
}

/// Regression: a slow failure from before a reset must not count toward the new streak.
#[tokio::test(start_paused = true)]
async fn stale_failure_does_not_count_after_reset() {
    let b = Arc::new(CircuitBreaker::new("t", cfg(1, 60, 1)));
    let (gate, slow) = gated_call(&b, Err("late")).await;
    b.force_open();
    b.reset();
    gate.notify_one();
    slow.await.unwrap().unwrap_err();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.stats().consecutive_failures, 0);
    assert_eq!(b.stats().total_failures, 1);
}

#[test]
fn breaker_is_small() {
    let b = CircuitBreaker::new("user-service", BreakerConfig::default());
    // The per-thread stripes are the bulk; see BENCHMARKS.md for what they buy.
    assert!(b.footprint() <= 256 + 16 * 64, "{}", b.footprint());
}
