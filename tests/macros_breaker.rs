//! `#[circuit_breaker]` through the public API: static declaration, rejection without running
//! the body, opening after the threshold, presets, call timeouts and methods.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cachex_runtime::circuit_breaker;
use cachex_runtime::{registry, BreakerConfig, Error, State};

#[derive(Debug)]
enum AppError {
    Cachex(Error),
    Remote(&'static str),
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Cachex(e)
    }
}

fn is_circuit_open(r: &Result<u32, AppError>, name: &str) -> bool {
    matches!(r, Err(AppError::Cachex(Error::CircuitOpen { name: n, .. })) if n == name)
}

static FORCED_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(name = "macros.breaker.forced", threshold = 3, timeout = "10s")]
async fn forced(x: u32) -> Result<u32, AppError> {
    FORCED_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(x)
}

#[tokio::test]
async fn forced_open_breaker_rejects_without_running_the_body() {
    // Forced before the first call: the registry already has the declared breaker.
    let breaker = registry().breaker("macros.breaker.forced");
    assert_eq!(breaker.config().threshold, 3);
    assert_eq!(breaker.config().timeout, Duration::from_secs(10));
    breaker.force_open();

    let r = forced(7).await;
    assert!(is_circuit_open(&r, "macros.breaker.forced"), "{r:?}");
    let message = match &r {
        Err(AppError::Cachex(e)) => e.to_string(),
        _ => unreachable!(),
    };
    assert!(message.contains("circuit breaker is open"), "{message}");
    assert_eq!(FORCED_CALLS.load(Ordering::SeqCst), 0);
    assert_eq!(breaker.stats().total_rejections, 1);

    breaker.force_close();
    assert_eq!(forced(7).await.unwrap(), 7);
    assert_eq!(FORCED_CALLS.load(Ordering::SeqCst), 1);
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(
    name = "macros.breaker.opens",
    threshold = 2,
    timeout = "30s",
    half_open_max = 1
)]
async fn flaky(fail: bool) -> Result<u32, AppError> {
    FLAKY_CALLS.fetch_add(1, Ordering::SeqCst);
    if fail {
        return Err(AppError::Remote("down"));
    }
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn opens_after_threshold_and_recovers_after_timeout() {
    let breaker = registry().breaker("macros.breaker.opens");
    assert!(matches!(flaky(true).await, Err(AppError::Remote("down"))));
    assert_eq!(breaker.state(), State::Closed);
    assert!(matches!(flaky(true).await, Err(AppError::Remote("down"))));
    assert_eq!(breaker.state(), State::Open);

    let r = flaky(false).await;
    assert!(is_circuit_open(&r, "macros.breaker.opens"), "{r:?}");
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 2);

    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(flaky(false).await.unwrap(), 1);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 3);
}

#[circuit_breaker]
async fn default_named() -> Result<(), AppError> {
    Ok(())
}

#[circuit_breaker(name = "macros.breaker.preset", preset = "aggressive", threshold = 4)]
async fn preset_with_override() -> Result<(), AppError> {
    Ok(())
}

#[circuit_breaker(name = "macros.breaker.conservative", preset = "conservative")]
async fn conservative() -> Result<(), AppError> {
    Ok(())
}

#[test]
fn declarations_are_known_before_any_call() {
    let names: Vec<String> = registry()
        .breakers()
        .iter()
        .map(|b| b.name().to_owned())
        .collect();
    assert!(
        names.iter().any(|n| n == "macros_breaker::default_named"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "macros.breaker.preset"),
        "{names:?}"
    );

    assert_eq!(
        registry().breaker("macros_breaker::default_named").config(),
        BreakerConfig::default()
    );
    assert_eq!(
        registry().breaker("macros.breaker.preset").config(),
        BreakerConfig {
            threshold: 4,
            ..BreakerConfig::aggressive()
        }
    );
    assert_eq!(
        registry().breaker("macros.breaker.conservative").config(),
        BreakerConfig::conservative()
    );
    // Only the declarations are asserted here; calling keeps the functions used.
    let _ = (default_named(), preset_with_override(), conservative());
}

#[circuit_breaker(
    name = "macros.breaker.deadline",
    call_timeout = "250ms",
    threshold = 1
)]
async fn slow(delay: Duration) -> Result<&'static str, AppError> {
    tokio::time::sleep(delay).await;
    Ok("done")
}

#[tokio::test(start_paused = true)]
async fn call_timeout_is_a_timeout_failure() {
    assert_eq!(slow(Duration::from_millis(100)).await.unwrap(), "done");
    match slow(Duration::from_secs(1)).await {
        Err(AppError::Cachex(Error::Timeout { name, after })) => {
            assert_eq!(name, "macros.breaker.deadline");
            assert_eq!(after, Duration::from_millis(250));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let stats = registry().breaker("macros.breaker.deadline").stats();
    assert_eq!(stats.total_timeouts, 1);
    assert_eq!(stats.state, State::Open);
}

// Two functions naming one breaker share it: failures of one open it for the other.
#[circuit_breaker(name = "macros.breaker.shared", threshold = 1)]
async fn shared_a() -> Result<u32, AppError> {
    Err(AppError::Remote("a failed"))
}

#[circuit_breaker(name = "macros.breaker.shared", threshold = 1)]
async fn shared_b() -> Result<u32, AppError> {
    Ok(2)
}

#[tokio::test]
async fn functions_naming_one_breaker_share_it() {
    assert!(matches!(shared_a().await, Err(AppError::Remote(_))));
    let r = shared_b().await;
    assert!(is_circuit_open(&r, "macros.breaker.shared"), "{r:?}");
}

struct Client {
    calls: u32,
    base: u32,
}

impl Client {
    /// Doc comments and attributes stay on the method.
    #[circuit_breaker(name = "macros.breaker.methods")]
    #[inline]
    async fn by_ref(&self, x: u32) -> Result<u32, AppError> {
        Ok(self.base + x)
    }

    #[circuit_breaker(name = "macros.breaker.methods")]
    async fn by_mut(&mut self) -> Result<u32, AppError> {
        self.calls += 1;
        Ok(self.calls)
    }

    #[circuit_breaker(name = "macros.breaker.methods")]
    async fn by_value(self) -> Result<u32, AppError> {
        Ok(self.calls * 100 + self.base)
    }
}

#[tokio::test]
async fn methods_with_every_receiver() {
    let mut client = Client { calls: 0, base: 10 };
    assert_eq!(client.by_ref(5).await.unwrap(), 15);
    assert_eq!(client.by_mut().await.unwrap(), 1);
    assert_eq!(client.by_mut().await.unwrap(), 2);
    assert_eq!(client.by_value().await.unwrap(), 210);
    assert_eq!(
        registry()
            .breaker("macros.breaker.methods")
            .stats()
            .total_successes,
        4
    );
}

// Any error type that converts from `cachex_runtime::Error` works, boxed errors included.
#[circuit_breaker(name = "macros.breaker.boxed")]
async fn boxed(fail: bool) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        Err("remote said no")?;
    }
    Ok(3)
}

#[tokio::test]
async fn boxed_error_type_and_question_mark() {
    assert_eq!(boxed(false).await.unwrap(), 3);
    assert_eq!(boxed(true).await.unwrap_err().to_string(), "remote said no");
    registry().breaker("macros.breaker.boxed").force_open();
    let e = boxed(false).await.unwrap_err();
    assert!(e.to_string().contains("circuit breaker is open"), "{e}");
    assert!(e
        .downcast_ref::<Error>()
        .is_some_and(Error::is_circuit_open));
}

#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    assert_send(forced(1));
    assert_send(slow(Duration::ZERO));
    let client = Client { calls: 0, base: 0 };
    assert_send(client.by_ref(1));
}

// Regression: with `cachex_runtime::Error` itself as the error type, the rejection's `From`
// conversion is the identity; the generated code must not trip clippy's `useless_conversion`
// (CI runs clippy with -D warnings over this file).
#[circuit_breaker(name = "macros.breaker.runtime-error")]
async fn runtime_error(n: u32) -> Result<u32, Error> {
    Ok(n)
}

#[tokio::test]
async fn the_runtime_error_itself_as_error_type() {
    assert_eq!(runtime_error(2).await.unwrap(), 2);
    registry()
        .breaker("macros.breaker.runtime-error")
        .force_open();
    assert!(runtime_error(2).await.unwrap_err().is_circuit_open());
}
