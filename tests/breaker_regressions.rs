//! Regression tests for circuit-breaker edge cases, each named after the behaviour it checks,
//! on tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::{BreakerConfig, BreakerStats, CallError, CircuitBreaker, Error, State};
use proptest::prelude::*;
use tokio::sync::Notify;
use tokio::time::advance;

fn cfg(threshold: u32, timeout: Duration, half_open_max: u32) -> BreakerConfig {
    BreakerConfig {
        threshold,
        timeout,
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

fn retry_after<T: std::fmt::Debug, E: std::fmt::Debug>(r: &Result<T, CallError<E>>) -> Duration {
    match r {
        Err(CallError::Rejected(Error::CircuitOpen { retry_after, .. })) => *retry_after,
        other => panic!("expected a CircuitOpen rejection, got {other:?}"),
    }
}

/// Starts a call on `b` that is admitted now and returns `outcome` once the gate is opened.
async fn gated_call(
    b: &Arc<CircuitBreaker>,
    outcome: Result<u32, &'static str>,
) -> (
    Arc<Notify>,
    tokio::task::JoinHandle<Result<u32, CallError<&'static str>>>,
) {
    let gate = Arc::new(Notify::new());
    let call = {
        let (b, gate) = (b.clone(), gate.clone());
        tokio::spawn(async move {
            b.call(|| async move {
                gate.notified().await;
                outcome
            })
            .await
        })
    };
    // Let the task reach its admission decision and park on the gate.
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    (gate, call)
}

/// Spawns a call on `b` that never finishes (a hung remote), and lets it be admitted.
async fn hung_call(b: &Arc<CircuitBreaker>) -> tokio::task::JoinHandle<Result<(), CallError<()>>> {
    let b = b.clone();
    let h = tokio::spawn(async move { b.call(std::future::pending::<Result<(), ()>>).await });
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    h
}

// ---- open timeout -----------------------------------------------------------------------------

/// Regression: a timeout of about 292 years or more (`Duration::MAX` included) overflowed the
/// deadline arithmetic, which wrapped into the past, so the breaker half-opened on the very next
/// call. It must stay OPEN (the deadline saturates).
#[tokio::test(start_paused = true)]
async fn a_huge_open_timeout_keeps_the_breaker_open() {
    let three_centuries = Duration::from_secs(300 * 365 * 24 * 3600);
    for timeout in [Duration::MAX, three_centuries] {
        let b = CircuitBreaker::new("huge-timeout", cfg(1, timeout, 1));
        fail(&b).await.unwrap_err();
        advance(Duration::from_secs(3600)).await;
        let r = ok(&b).await;
        let left = retry_after(&r);
        assert!(
            left > Duration::from_secs(200 * 365 * 24 * 3600),
            "timeout {timeout:?}: retry_after {left:?}"
        );
        assert_eq!(b.state(), State::Open, "timeout {timeout:?}");
        assert_eq!(b.stats().total_rejections, 1, "timeout {timeout:?}");
    }
}

// ---- panics -----------------------------------------------------------------------------------

/// Runs `call` in its own task and returns whether it panicked.
async fn panicked<F>(call: F) -> bool
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(call).await.is_err_and(|e| e.is_panic())
}

/// Regression: a call whose future panicked while CLOSED was not counted at all (neither success
/// nor failure), so a service that crashes its caller could never open the circuit. It counts as
/// a failure, and the panic still reaches the caller.
#[tokio::test(start_paused = true)]
async fn a_call_that_panics_counts_as_a_failure() {
    let b = Arc::new(CircuitBreaker::new(
        "panics",
        cfg(2, Duration::from_secs(5), 1),
    ));
    let b1 = b.clone();
    assert!(
        panicked(async move {
            b1.call(|| async { panic!("remote client bug") as Result<(), ()> })
                .await
        })
        .await
    );
    let s = b.stats();
    assert_eq!((s.total_failures, s.consecutive_failures), (1, 1));
    assert!(s.last_failure.is_some());
    assert_eq!(s.state, State::Closed);

    // A closure that panics before it returns a future counts the same.
    let b2 = b.clone();
    assert!(
        panicked(async move {
            b2.call(|| -> std::future::Ready<Result<(), ()>> { panic!("bad closure") })
                .await
        })
        .await
    );
    let s = b.stats();
    assert_eq!((s.total_failures, s.consecutive_failures), (2, 2));
    assert_eq!(s.state, State::Open, "two failures reach the threshold");
}

/// Regression: with a `call_timeout` (the call runs under a deadline) a panic was not counted
/// either.
#[tokio::test(start_paused = true)]
async fn a_call_that_panics_under_a_call_timeout_counts_as_a_failure() {
    let b = Arc::new(CircuitBreaker::new(
        "panics-deadline",
        BreakerConfig {
            call_timeout: Some(Duration::from_secs(1)),
            ..cfg(1, Duration::from_secs(5), 1)
        },
    ));
    let b1 = b.clone();
    assert!(
        panicked(async move {
            b1.call(|| async {
                tokio::task::yield_now().await;
                panic!("mid-call") as Result<(), ()>
            })
            .await
        })
        .await
    );
    let s = b.stats();
    assert_eq!((s.total_failures, s.total_timeouts), (1, 0));
    assert_eq!(s.state, State::Open);
}

/// Regression: a HALF_OPEN trial that panicked gave its slot back but counted as nothing, so the
/// breaker stayed HALF_OPEN and let the next trial hit the crashing service. It is a failed
/// trial: the breaker re-opens (and the slot is free for the next period).
#[tokio::test(start_paused = true)]
async fn a_trial_that_panics_reopens_the_breaker() {
    let b = Arc::new(CircuitBreaker::new(
        "panics-trial",
        cfg(1, Duration::from_secs(5), 1),
    ));
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(5)).await;
    let b1 = b.clone();
    assert!(
        panicked(async move {
            b1.call(|| async { panic!("trial crashed") as Result<(), ()> })
                .await
        })
        .await
    );
    let s = b.stats();
    assert_eq!(s.total_failures, 2);
    assert_eq!(s.state, State::Open);
    assert_eq!(retry_after(&ok(&b).await), Duration::from_secs(5));
    // The next period has its slot: the panicking trial gave it back.
    advance(Duration::from_secs(5)).await;
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

// ---- hung trials and half-open periods --------------------------------------------------------

/// Regression: a HALF_OPEN trial that hangs kept its slot across `reset()` and every later
/// HALF_OPEN period, so with `half_open_max = 1` every later trial was rejected: the breaker was
/// wedged for good. `reset()` and each new period start with all slots free.
#[tokio::test(start_paused = true)]
async fn a_hung_trial_does_not_wedge_the_breaker_after_reset() {
    let b = Arc::new(CircuitBreaker::new(
        "hung-reset",
        cfg(1, Duration::from_secs(5), 1),
    ));
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(5)).await;
    let hung = hung_call(&b).await;
    assert_eq!(b.state(), State::HalfOpen);
    retry_after(&ok(&b).await); // its one slot is taken

    b.reset();
    fail(&b).await.unwrap_err();
    assert_eq!(b.state(), State::Open);
    advance(Duration::from_secs(5)).await;
    ok(&b)
        .await
        .expect("a new HALF_OPEN period must admit a trial");
    assert_eq!(b.state(), State::Closed);
    hung.abort();
}

/// Regression: the same wedge without a reset: a trial hangs, another fails and re-opens the
/// breaker; the next HALF_OPEN period had only `half_open_max - 1` slots (0 once every slot had
/// hung once). Each period admits `half_open_max` trials at once.
#[tokio::test(start_paused = true)]
async fn every_half_open_period_admits_half_open_max_trials() {
    let b = Arc::new(CircuitBreaker::new(
        "hung-period",
        cfg(1, Duration::from_secs(5), 2),
    ));
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(5)).await;
    let hung = hung_call(&b).await;
    fail(&b).await.unwrap_err(); // the second trial fails: re-open
    assert_eq!(b.state(), State::Open);

    advance(Duration::from_secs(5)).await;
    let (gate_a, a) = gated_call(&b, Ok(1)).await;
    let (gate_b, c) = gated_call(&b, Ok(2)).await;
    // Both trials of this period run at once; a third is rejected at once.
    retry_after(&ok(&b).await);
    gate_a.notify_one();
    gate_b.notify_one();
    assert_eq!(a.await.unwrap().unwrap(), 1);
    assert_eq!(c.await.unwrap().unwrap(), 2);
    assert_eq!(b.state(), State::Closed);
    hung.abort();
}

/// A trial admitted in an earlier period that finishes during a later one is stale: its success
/// neither closes the breaker nor frees a slot of the current period.
#[tokio::test(start_paused = true)]
async fn a_stale_trial_neither_closes_the_breaker_nor_frees_a_current_slot() {
    let b = Arc::new(CircuitBreaker::new(
        "stale-trial",
        cfg(1, Duration::from_secs(5), 1),
    ));
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(5)).await;
    let (gate_old, old) = gated_call(&b, Ok(1)).await;

    b.reset();
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(5)).await;
    let (gate_new, new) = gated_call(&b, Ok(2)).await;
    assert_eq!(b.state(), State::HalfOpen);

    gate_old.notify_one();
    assert_eq!(old.await.unwrap().unwrap(), 1);
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "a stale success must not close it"
    );
    retry_after(&ok(&b).await); // the current period's one slot is still taken

    gate_new.notify_one();
    assert_eq!(new.await.unwrap().unwrap(), 2);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.stats().total_successes, 2);
}

// ---- effective state --------------------------------------------------------------------------

/// Regression: after the open timeout had passed, `state()`, `stats().state` and `is_healthy()`
/// still said OPEN until some call arrived, so dashboards showed a breaker OPEN that would let
/// the next call through. They report the effective state, HALF_OPEN.
#[tokio::test(start_paused = true)]
async fn state_reads_half_open_once_the_open_timeout_has_passed() {
    let b = CircuitBreaker::new("effective", cfg(1, Duration::from_secs(5), 2));
    fail(&b).await.unwrap_err();
    advance(Duration::from_millis(4_999)).await;
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.stats().state, State::Open);

    advance(Duration::from_millis(1)).await;
    assert_eq!(b.state(), State::HalfOpen);
    let s = b.stats();
    assert_eq!(s.state, State::HalfOpen);
    assert!(!s.is_healthy());
    assert!(format!("{b:?}").contains("HalfOpen"), "{b:?}");
    // Reading changed nothing: no call was counted, and the period starts with the first call.
    assert_eq!((s.total_requests, s.total_rejections), (1, 0));
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

/// A breaker pinned by `force_open` has no timeout: it reads OPEN however long it has been.
#[tokio::test(start_paused = true)]
async fn a_forced_open_breaker_reads_open_after_any_time() {
    let b = CircuitBreaker::new("effective-forced", cfg(1, Duration::from_secs(5), 1));
    fail(&b).await.unwrap_err();
    b.force_open();
    advance(Duration::from_secs(3600)).await;
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.stats().state, State::Open);
    retry_after(&ok(&b).await);
}

/// Reading the state from many threads while the breaker is OPEN past its timeout never moves
/// it: the first call after that is the one that starts the HALF_OPEN period.
#[test]
fn reading_the_effective_state_from_other_threads_changes_nothing() {
    let b = Arc::new(CircuitBreaker::new(
        "effective-threads",
        cfg(1, Duration::ZERO, 1),
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async { fail(&b).await.unwrap_err() });
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    assert_eq!(b.state(), State::HalfOpen);
                    assert_eq!(b.stats().state, State::HalfOpen);
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    let s = b.stats();
    assert_eq!((s.total_requests, s.total_failures), (1, 1));
    rt.block_on(async { ok(&b).await.unwrap() });
    assert_eq!(b.state(), State::Closed);
}

// ---- rates ------------------------------------------------------------------------------------

fn stats(successes: u64, failures: u64) -> BreakerStats {
    BreakerStats {
        state: State::Closed,
        total_requests: successes.saturating_add(failures),
        total_successes: successes,
        total_failures: failures,
        total_timeouts: 0,
        total_rejections: 0,
        consecutive_failures: 0,
        last_failure: None,
    }
}

/// Regression: `failure_rate()` and `success_rate()` added the two totals in `u64`, which
/// panicked (debug) or wrapped to a nonsense rate (release) near `u64::MAX`.
#[test]
fn rates_of_totals_near_u64_max_do_not_overflow() {
    let s = stats(u64::MAX, u64::MAX);
    assert_eq!((s.failure_rate(), s.success_rate()), (50.0, 50.0));
    let s = stats(u64::MAX, 1);
    assert!(s.success_rate() > 99.9 && s.success_rate() <= 100.0);
    let s = stats(0, u64::MAX);
    assert_eq!((s.failure_rate(), s.success_rate()), (100.0, 0.0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    /// Over the whole input range the rates are percents of completed calls: within
    /// 0.0..=100.0, summing to 100 when any call completed, both 0.0 when none did.
    #[test]
    fn rates_are_percents_over_the_whole_input_range(
        successes in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), 0u64..1_000],
        failures in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), 0u64..1_000],
    ) {
        let s = stats(successes, failures);
        let (f, ok) = (s.failure_rate(), s.success_rate());
        prop_assert!((0.0..=100.0).contains(&f), "failure_rate {f}");
        prop_assert!((0.0..=100.0).contains(&ok), "success_rate {ok}");
        if successes == 0 && failures == 0 {
            prop_assert_eq!((f, ok), (0.0, 0.0));
        } else {
            prop_assert!((f + ok - 100.0).abs() < 1e-9, "{f} + {ok}");
            let expected = failures as f64 * 100.0 / (successes as f64 + failures as f64);
            prop_assert!((f - expected).abs() < 1e-9, "{f} vs {expected}");
        }
    }
}
