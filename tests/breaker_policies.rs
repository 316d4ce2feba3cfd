//! Breaker policies through the public API, on tokio's paused clock: rate windows (count and
//! time), minimum calls, slow calls, growing open periods, errors that do not count, and the
//! two-step permit.

use std::time::Duration;

use cachex_runtime::{BreakerConfig, CallError, CircuitBreaker, RateWindow, State, Window};

fn rated(window: Window, minimum_calls: u32, failure_rate: u32) -> BreakerConfig {
    BreakerConfig {
        rate: Some(RateWindow {
            window,
            minimum_calls,
            failure_rate,
            slow_call: None,
            slow_call_rate: 0,
        }),
        timeout: Duration::from_secs(10),
        half_open_max: 1,
        ..BreakerConfig::default()
    }
}

async fn ok(b: &CircuitBreaker) -> Result<(), CallError<&'static str>> {
    b.call(|| async { Ok(()) }).await
}

async fn fail(b: &CircuitBreaker) -> Result<(), CallError<&'static str>> {
    b.call(|| async { Err("down") }).await
}

fn rejected<T>(r: &Result<T, CallError<&'static str>>) -> bool {
    matches!(r, Err(CallError::Rejected(e)) if e.is_circuit_open())
}

#[tokio::test(start_paused = true)]
async fn a_count_window_of_10_at_50_percent_opens_on_the_5th_failure_of_10_mixed_calls() {
    let b = CircuitBreaker::new("count-10", rated(Window::Calls(10), 10, 50));
    for i in 0..9 {
        let r = if i % 2 == 0 {
            ok(&b).await
        } else {
            fail(&b).await
        };
        assert!(!rejected(&r));
        assert_eq!(b.state(), State::Closed, "after call {}", i + 1);
    }
    // The 10th call is the 5th failure: 5 of 10 reaches 50 %.
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Open);
    assert!(rejected(&ok(&b).await));
}

#[tokio::test(start_paused = true)]
async fn a_rate_is_not_judged_before_minimum_calls() {
    let b = CircuitBreaker::new("count-min", rated(Window::Calls(10), 10, 50));
    for _ in 0..5 {
        let _ = fail(&b).await;
    }
    assert_eq!(
        b.state(),
        State::Closed,
        "100 % of 5 calls, below minimum_calls"
    );
    for _ in 0..4 {
        let _ = ok(&b).await;
    }
    assert_eq!(b.state(), State::Closed, "9 calls");
    let _ = ok(&b).await;
    assert_eq!(
        b.state(),
        State::Open,
        "the 10th call: 5 failures of 10 reach 50 %"
    );
}

#[tokio::test(start_paused = true)]
async fn a_count_window_judges_only_the_last_n_calls() {
    let b = CircuitBreaker::new("count-last", rated(Window::Calls(4), 4, 50));
    let _ = fail(&b).await;
    for _ in 0..4 {
        let _ = ok(&b).await;
    }
    // The first failure has left the window: this one is 1 of 4 (25 %).
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Closed);
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Open, "2 of the last 4");
}

#[tokio::test(start_paused = true)]
async fn a_time_window_forgets_calls_older_than_its_span() {
    let cfg = rated(Window::Time(Duration::from_secs(10)), 4, 50);
    let forgets = CircuitBreaker::new("time-forgets", cfg);
    let remembers = CircuitBreaker::new("time-remembers", cfg);
    for b in [&forgets, &remembers] {
        for _ in 0..3 {
            let _ = fail(b).await;
        }
        assert_eq!(b.state(), State::Closed, "3 calls, below minimum_calls");
    }
    // Within the span the three failures still count: one more call makes 3 of 4.
    tokio::time::advance(Duration::from_secs(5)).await;
    let _ = ok(&remembers).await;
    assert_eq!(remembers.state(), State::Open);
    // Past the span (and its last bucket) they are forgotten.
    tokio::time::advance(Duration::from_secs(7)).await;
    let _ = ok(&forgets).await;
    assert_eq!(forgets.state(), State::Closed);
    for _ in 0..3 {
        let _ = ok(&forgets).await;
    }
    assert_eq!(
        forgets.state(),
        State::Closed,
        "4 calls in the span, none failed"
    );
    for n in 1..4 {
        let _ = fail(&forgets).await;
        assert_eq!(forgets.state(), State::Closed, "{n} failures of {}", 4 + n);
    }
    let _ = fail(&forgets).await;
    assert_eq!(forgets.state(), State::Open, "4 failures of 8 reach 50 %");
}

#[tokio::test(start_paused = true)]
async fn slow_successes_open_it() {
    let mut cfg = rated(Window::Calls(4), 4, 50);
    if let Some(r) = cfg.rate.as_mut() {
        r.slow_call = Some(Duration::from_secs(1));
        r.slow_call_rate = 75;
    }
    let b = CircuitBreaker::new("slow", cfg);
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok::<_, &str>(())
    };
    let quick = || async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok::<_, &str>(())
    };
    b.call(quick).await.unwrap();
    for _ in 0..2 {
        b.call(slow).await.unwrap();
    }
    b.call(quick).await.unwrap();
    assert_eq!(b.state(), State::Closed, "2 slow of 4 is below 75 %");
    b.call(slow).await.unwrap();
    assert_eq!(
        b.state(),
        State::Open,
        "the last 4 are slow, slow, quick, slow: 3 of 4 reaches 75 %"
    );
}

#[tokio::test(start_paused = true)]
async fn with_a_rate_window_the_consecutive_threshold_is_not_used() {
    let mut cfg = rated(Window::Calls(10), 10, 100);
    cfg.threshold = 1;
    let b = CircuitBreaker::new("no-threshold", cfg);
    for _ in 0..9 {
        let _ = fail(&b).await;
    }
    assert_eq!(
        b.state(),
        State::Closed,
        "9 consecutive failures, threshold 1 ignored"
    );
    assert_eq!(b.stats().consecutive_failures, 9);
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_rate_breaker_half_opens_and_closes_with_a_fresh_window() {
    let b = CircuitBreaker::new("rate-cycle", rated(Window::Calls(4), 4, 50));
    for _ in 0..4 {
        let _ = fail(&b).await;
    }
    assert_eq!(b.state(), State::Open);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(b.state(), State::HalfOpen);
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    // The failures before it opened are gone: one more is 1 of 1, below minimum_calls.
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn each_reopen_from_half_open_doubles_the_open_period_up_to_max_timeout() {
    let b = CircuitBreaker::new(
        "growing",
        BreakerConfig {
            threshold: 1,
            timeout: Duration::from_secs(1),
            half_open_max: 1,
            max_timeout: Some(Duration::from_secs(3)),
            ..BreakerConfig::default()
        },
    );
    let _ = fail(&b).await;
    // Open periods: 1 s, then 2 s, 3 s (4 s capped), 3 s.
    for period_ms in [1_000u64, 2_000, 3_000, 3_000] {
        tokio::time::advance(Duration::from_millis(period_ms - 1)).await;
        assert_eq!(b.state(), State::Open, "period of {period_ms} ms");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(b.state(), State::HalfOpen, "period of {period_ms} ms");
        let _ = fail(&b).await;
    }
    // Closing resets it: the next open period is 1 s again.
    tokio::time::advance(Duration::from_secs(3)).await;
    ok(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    let _ = fail(&b).await;
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(b.state(), State::Open);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(b.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn without_max_timeout_every_open_period_is_timeout() {
    let b = CircuitBreaker::new(
        "constant",
        BreakerConfig {
            threshold: 1,
            timeout: Duration::from_secs(1),
            half_open_max: 1,
            ..BreakerConfig::default()
        },
    );
    let _ = fail(&b).await;
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.state(), State::HalfOpen);
        let _ = fail(&b).await;
    }
}

#[derive(Debug, PartialEq)]
struct Http(u16);

fn counts_as_failure(e: &Http) -> bool {
    e.0 >= 500
}

#[tokio::test(start_paused = true)]
async fn an_error_that_does_not_count_keeps_a_404_from_opening_it() {
    let b = CircuitBreaker::new(
        "http",
        BreakerConfig {
            threshold: 2,
            ..BreakerConfig::default()
        },
    );
    for _ in 0..10 {
        let r = b
            .call_with(counts_as_failure, || async { Err::<(), _>(Http(404)) })
            .await;
        assert!(
            matches!(r, Err(CallError::Inner(Http(404)))),
            "the error is still returned"
        );
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.stats().total_successes, 10);
    assert_eq!(b.stats().total_failures, 0);
    for _ in 0..2 {
        let _ = b
            .call_with(counts_as_failure, || async { Err::<(), _>(Http(503)) })
            .await;
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_permit_reports_success_and_failure_and_a_dropped_one_counts_as_neither() {
    let b = CircuitBreaker::new(
        "permits",
        BreakerConfig {
            threshold: 2,
            timeout: Duration::from_secs(1),
            half_open_max: 1,
            ..BreakerConfig::default()
        },
    );
    b.try_acquire().unwrap().success();
    b.try_acquire().unwrap().failure();
    drop(b.try_acquire().unwrap());
    let s = b.stats();
    assert_eq!((s.total_successes, s.total_failures), (1, 1));
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    let err = b.try_acquire().unwrap_err();
    assert!(err.is_circuit_open());
    tokio::time::advance(Duration::from_secs(1)).await;
    // A dropped trial permit gives its slot back.
    let trial = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err(), "the one trial slot is taken");
    drop(trial);
    assert_eq!(b.state(), State::HalfOpen);
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn permits_feed_a_rate_window() {
    let b = CircuitBreaker::new("permit-rate", rated(Window::Calls(2), 2, 50));
    b.try_acquire().unwrap().success();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn rate_windows_are_validated_where_configs_are_built() {
    let base = rated(Window::Calls(10), 5, 50);
    assert!(base.validate().is_ok());
    let with = |f: fn(&mut RateWindow)| {
        let mut c = base;
        if let Some(r) = c.rate.as_mut() {
            f(r);
        }
        c
    };
    for (bad, word) in [
        (with(|r| r.failure_rate = 101), "failure_rate"),
        (with(|r| r.slow_call_rate = 250), "slow_call_rate"),
        (with(|r| r.window = Window::Calls(0)), "window"),
        (with(|r| r.window = Window::Time(Duration::ZERO)), "window"),
        (with(|r| r.minimum_calls = 0), "minimum_calls"),
        (with(|r| r.slow_call = Some(Duration::ZERO)), "slow_call"),
    ] {
        let e = bad.validate().unwrap_err();
        assert!(e.to_string().contains(word), "{e}");
        assert!(CircuitBreaker::try_new("bad", bad).is_err());
        // The infallible constructor keeps the nearest valid config.
        assert!(CircuitBreaker::new("bad", bad).config().validate().is_ok());
    }
    let short_max = BreakerConfig {
        max_timeout: Some(Duration::from_secs(1)),
        ..BreakerConfig::default()
    };
    assert!(short_max
        .validate()
        .unwrap_err()
        .to_string()
        .contains("max_timeout"));
    assert!(with(|r| r.failure_rate = 0).validate().is_ok());
    assert!(with(|r| r.failure_rate = 100).validate().is_ok());
}

#[test]
fn presets_keep_consecutive_failures_and_constant_open_periods() {
    for c in [
        BreakerConfig::default(),
        BreakerConfig::conservative(),
        BreakerConfig::aggressive(),
    ] {
        assert_eq!((c.rate, c.max_timeout), (None, None));
    }
}
