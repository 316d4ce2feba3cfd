//! `#[circuit_breaker]` policies through the attribute: rate windows, `failure_if`,
//! `max_timeout`, and keyed breakers (`key = ..`) in the registry, bounded per name.

use std::time::Duration;

use cachex_runtime::circuit_breaker;
use cachex_runtime::{registry, Error, RateWindow, State, Window};

#[derive(Debug)]
enum AppError {
    Cachex(Error),
    Status(u16),
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Cachex(e)
    }
}

fn counts_as_failure(e: &AppError) -> bool {
    !matches!(e, AppError::Status(404))
}

#[circuit_breaker(
    name = "keyed.rate",
    failure_rate = 50,
    window = 4,
    minimum_calls = 4,
    slow_call = "2s",
    slow_call_rate = 80,
    max_timeout = "2m"
)]
async fn rated(fail: bool) -> Result<(), AppError> {
    if fail {
        Err(AppError::Status(500))
    } else {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_attribute_declares_the_rate_window_and_opens_on_it() {
    let b = registry().breaker("keyed.rate");
    let c = b.config();
    assert_eq!(
        c.rate,
        Some(RateWindow {
            window: Window::Calls(4),
            minimum_calls: 4,
            failure_rate: 50,
            slow_call: Some(Duration::from_secs(2)),
            slow_call_rate: 80,
        })
    );
    assert_eq!(c.max_timeout, Some(Duration::from_secs(120)));
    let _ = rated(true).await;
    let _ = rated(false).await;
    let _ = rated(false).await;
    assert_eq!(b.state(), State::Closed);
    let _ = rated(true).await;
    assert_eq!(b.state(), State::Open, "2 of 4 reach 50 %");
    assert!(matches!(rated(false).await, Err(AppError::Cachex(e)) if e.is_circuit_open()));
}

#[circuit_breaker(name = "keyed.http", threshold = 2, failure_if = counts_as_failure)]
async fn fetch(status: u16) -> Result<(), AppError> {
    Err(AppError::Status(status))
}

#[tokio::test(start_paused = true)]
async fn failure_if_keeps_a_404_from_opening_it() {
    for _ in 0..10 {
        assert!(matches!(fetch(404).await, Err(AppError::Status(404))));
    }
    let b = registry().breaker("keyed.http");
    assert_eq!(b.state(), State::Closed);
    let _ = fetch(503).await;
    let _ = fetch(503).await;
    assert_eq!(b.state(), State::Open);
}

#[circuit_breaker(name = "search", threshold = 1, timeout = "1h", key = region)]
async fn search(region: &str, fail: bool) -> Result<u32, AppError> {
    if fail {
        Err(AppError::Status(500))
    } else {
        Ok(u32::from(!region.is_empty()))
    }
}

#[tokio::test(start_paused = true)]
async fn one_breaker_per_key_named_after_it_in_the_registry() {
    let _ = search("eu", true).await;
    assert_eq!(registry().breaker("search/eu").state(), State::Open);
    // Another key has its own breaker.
    assert_eq!(search("us", false).await.unwrap(), 1);
    assert_eq!(registry().breaker("search/us").state(), State::Closed);
    let names: Vec<String> = registry()
        .breakers()
        .iter()
        .map(|b| b.name().to_owned())
        .collect();
    assert!(names.contains(&"search/eu".to_owned()), "{names:?}");
    assert!(names.contains(&"search/us".to_owned()));
    // Forcing the registry's breaker acts on the function's calls.
    registry().breaker("search/us").force_open();
    assert!(matches!(search("us", false).await, Err(AppError::Cachex(e)) if e.is_circuit_open()));
    assert_eq!(registry().breaker("search/us").config().threshold, 1);
    // Configuring it by name changes the function's breaker for that key.
    registry().configure_breaker(
        "search/eu",
        cachex_runtime::BreakerConfig {
            threshold: 9,
            ..Default::default()
        },
    );
    let b = registry().breaker("search/eu");
    assert_eq!(b.config().threshold, 9);
    b.reset();
    for _ in 0..8 {
        let _ = search("eu", true).await;
    }
    assert_eq!(b.state(), State::Closed, "8 failures, threshold 9");
}

#[circuit_breaker(name = "bounded", threshold = 1, timeout = "1h", key = n)]
async fn bounded(n: u32, fail: bool) -> Result<(), AppError> {
    if fail && n < u32::MAX {
        Err(AppError::Status(500))
    } else {
        Ok(())
    }
}

fn kept(prefix: &str) -> Vec<String> {
    registry()
        .breakers()
        .iter()
        .map(|b| b.name().to_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_thousand_and_one_keys_keep_a_thousand_breakers_and_never_evict_an_open_one() {
    // Key 0 opens and is then the idlest: it must survive every eviction.
    let _ = bounded(0, true).await;
    for n in 1..1_000 {
        bounded(n, false).await.unwrap();
    }
    assert_eq!(kept("bounded/").len(), 1_000);
    bounded(1_000, false).await.unwrap();
    let names = kept("bounded/");
    assert_eq!(names.len(), 1_000, "bounded to 1,000 per name");
    assert!(
        names.contains(&"bounded/0".to_owned()),
        "the open one is kept"
    );
    assert!(
        !names.contains(&"bounded/1".to_owned()),
        "the idlest closed one is dropped"
    );
    assert!(names.contains(&"bounded/1000".to_owned()));
    assert!(matches!(bounded(0, false).await, Err(AppError::Cachex(e)) if e.is_circuit_open()));
}

struct Weird(usize);

impl std::fmt::Display for Weird {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for _ in 0..self.0 {
            f.write_str("é")?;
        }
        Ok(())
    }
}

#[circuit_breaker(name = "weird", key = key)]
async fn weird(key: Weird) -> Result<(), AppError> {
    assert!(key.0 <= 1_000_001);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn empty_and_huge_keys_yield_valid_bounded_names() {
    weird(Weird(0)).await.unwrap();
    weird(Weird(1_000_000)).await.unwrap();
    weird(Weird(1_000_001)).await.unwrap();
    let names = kept("weird/");
    assert_eq!(
        names.len(),
        3,
        "{:?}",
        names.iter().map(|n| n.len()).collect::<Vec<_>>()
    );
    assert!(names.contains(&"weird/".to_owned()));
    for n in &names {
        assert!(n.len() <= "weird/".len() + 128 + 17, "{} bytes", n.len());
    }
}
