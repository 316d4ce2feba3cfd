//! Lookups that cannot be fooled by a typo, and `cachex_runtime::testing`'s guard that keeps
//! tests sharing the process-wide registry apart.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cachex_runtime::{
    cached, circuit_breaker, registry, testing, BreakerConfig, Error, MemoryStore, Policy, State,
};

static RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(name = "isolation.declared")]
async fn declared(x: u32) -> u32 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * 2
}

#[test]
fn try_breaker_does_not_create_a_breaker_for_a_misspelt_name() {
    // `registry().breaker("price_servce")` used to be the only lookup: it creates a new breaker,
    // which a test then forced open while the real one kept running.
    let _guard = testing::isolate();
    registry().breaker("price_service");
    assert!(registry().try_breaker("price_service").is_some());
    assert!(registry().try_breaker("price_servce").is_none());
    assert!(
        registry().try_breaker("price_servce").is_none(),
        "the lookup did not create it"
    );
}

#[tokio::test]
async fn caches_lists_declared_names_and_clear_cache_of_an_unknown_name_is_an_error() {
    // `clear_cache("unknown")` used to return Ok, so a misspelt name passed silently.
    let names = registry().caches();
    assert!(
        names.contains(&"isolation.declared".to_owned()),
        "{names:?}"
    );
    registry().clear_cache("isolation.declared").await.unwrap();
    let err = registry()
        .clear_cache("isolation.declraed")
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::UnknownCache { name } if name == "isolation.declraed"));
    assert!(err.to_string().contains("isolation.declraed"), "{err}");
}

#[circuit_breaker(
    name = "isolation.pinned",
    threshold = 3,
    timeout = "60s",
    half_open_max = 1
)]
async fn pinned() -> Result<(), Error> {
    Ok(())
}

#[tokio::test]
async fn the_guard_restores_breakers_policies_stores_and_cached_entries() {
    let runs = {
        let _guard = testing::isolate();
        assert_eq!(declared(21).await, 42);
        let runs = RUNS.load(Ordering::SeqCst);
        assert_eq!(declared(21).await, 42, "a hit inside the guard");
        assert_eq!(RUNS.load(Ordering::SeqCst), runs);
        registry().breaker("isolation-created").force_open();
        registry().set_policy(
            "default",
            Policy {
                max_attempts: 1,
                ..Policy::default()
            },
        );
        registry().set_policy("isolation-policy", Policy::aggressive());
        registry().set_store("isolation-store", MemoryStore::new(10));
        runs
    };
    let _guard = testing::isolate();
    assert!(registry().try_breaker("isolation-created").is_none());
    assert_eq!(registry().policy("default"), Some(Policy::default()));
    assert_eq!(registry().policy("isolation-policy"), None);
    assert!(registry().store("isolation-store").is_none());
    assert!(registry().store("memory").is_some());
    // The function's in-process entries were dropped: the body runs again.
    assert_eq!(declared(21).await, 42);
    assert_eq!(RUNS.load(Ordering::SeqCst), runs + 1);
}

#[tokio::test]
async fn the_guard_puts_back_the_configuration_and_state_of_breakers_that_existed() {
    let b = {
        let _guard = testing::isolate();
        let b = registry()
            .try_breaker("isolation.pinned")
            .expect("declared");
        assert_eq!(b.config().threshold, 3);
        b.force_open();
        registry().configure_breaker("isolation.pinned", BreakerConfig::aggressive());
        assert!(pinned().await.is_err(), "pinned open");
        b
    };
    // The same breaker (the function holds it), unpinned and CLOSED as it was, with its
    // declared configuration.
    let _guard = testing::isolate();
    let after = registry().try_breaker("isolation.pinned").unwrap();
    assert!(std::sync::Arc::ptr_eq(&b, &after));
    assert_eq!(after.config().threshold, 3);
    assert_eq!((after.state(), after.is_forced()), (State::Closed, false));
    assert!(pinned().await.is_ok());
}

/// Six tests as a user writes them, each forcing the shared breaker "payments" and checking
/// what its code sees over a few milliseconds, run on six threads at once.
fn forcing_test(i: usize) -> Result<(), String> {
    let _guard = testing::isolate();
    let b = registry().breaker("payments");
    let want = if i.is_multiple_of(2) {
        b.force_open();
        State::Open
    } else {
        b.force_close();
        State::Closed
    };
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(1));
        if b.state() != want {
            return Err(format!("test {i} saw {} instead of {want}", b.state()));
        }
    }
    Ok(())
}

#[test]
fn tests_forcing_the_same_breaker_at_once_do_not_see_each_other() {
    // Without a guard, 1 to 3 of 6 such tests failed per run at --test-threads=8: one test's
    // force_close reached another test's forced-open breaker mid-test.
    let threads: Vec<_> = (0..6)
        .map(|i| std::thread::spawn(move || forcing_test(i)))
        .collect();
    let failures: Vec<String> = threads
        .into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    let _guard = testing::isolate();
    assert!(
        registry().try_breaker("payments").is_none(),
        "restored after each test"
    );
}
