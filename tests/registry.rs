//! The registry through the public API.

use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::__private::{linkme, BreakerDecl, BREAKERS};
use cachex_runtime::{registry, BreakerConfig, Policy, State};

// What `#[circuit_breaker(name = "registry-test.declared", threshold = 7)]` emits: a declaration
// collected at link time.
#[linkme::distributed_slice(BREAKERS)]
#[linkme(crate = cachex_runtime::__private::linkme)]
static DECLARED: BreakerDecl = BreakerDecl {
    name: "registry-test.declared",
    config: BreakerConfig {
        threshold: 7,
        ..BreakerConfig::conservative()
    },
    defaulted: false,
    keyed: false,
};

#[test]
fn declared_breakers_exist_before_any_lookup() {
    let names: Vec<String> = registry()
        .breakers()
        .iter()
        .map(|b| b.name().to_owned())
        .collect();
    assert!(
        names.contains(&"registry-test.declared".to_owned()),
        "{names:?}"
    );
    let b = registry().breaker("registry-test.declared");
    assert_eq!(
        b.config(),
        BreakerConfig {
            threshold: 7,
            ..BreakerConfig::conservative()
        }
    );
}

#[test]
fn one_shared_breaker_per_name() {
    let a = registry().breaker("registry-test.shared");
    let b = registry().breaker("registry-test.shared");
    assert!(Arc::ptr_eq(&a, &b));
    a.force_open();
    assert_eq!(b.state(), State::Open);
    assert_eq!(a.config(), BreakerConfig::default());
}

#[test]
fn breakers_are_sorted_by_name() {
    registry().breaker("registry-test.z");
    registry().breaker("registry-test.a");
    let names: Vec<String> = registry()
        .breakers()
        .iter()
        .map(|b| b.name().to_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn configure_breaker_before_and_after_creation() {
    let cfg = BreakerConfig {
        threshold: 2,
        timeout: Duration::from_secs(1),
        ..BreakerConfig::default()
    };
    registry().configure_breaker("registry-test.pre", cfg);
    assert_eq!(registry().breaker("registry-test.pre").config(), cfg);

    let b = registry().breaker("registry-test.post");
    b.force_open();
    registry().configure_breaker("registry-test.post", cfg);
    // Changed in place: the same breaker, its state kept.
    let again = registry().breaker("registry-test.post");
    assert!(Arc::ptr_eq(&b, &again));
    assert_eq!((again.config(), again.state()), (cfg, State::Open));

    let bad = BreakerConfig {
        threshold: 0,
        ..cfg
    };
    assert!(registry()
        .try_configure_breaker("registry-test.post", bad)
        .is_err());
    assert_eq!(again.config(), cfg);
}

#[test]
fn policies() {
    assert_eq!(registry().policy("default"), Some(Policy::default()));
    assert_eq!(
        registry().policy("conservative"),
        Some(Policy::conservative())
    );
    assert_eq!(registry().policy("aggressive"), Some(Policy::aggressive()));
    assert_eq!(registry().policy("registry-test.unknown"), None);
    let p = Policy {
        max_attempts: 9,
        ..Policy::default()
    };
    registry().set_policy("registry-test.p", p);
    assert_eq!(registry().policy("registry-test.p"), Some(p));
    let bad = Policy {
        multiplier: 0.1,
        ..p
    };
    assert!(registry().try_set_policy("registry-test.p", bad).is_err());
    assert_eq!(registry().policy("registry-test.p"), Some(p));
    // The infallible form keeps the nearest valid policy instead of losing the setting.
    registry().set_policy("registry-test.q", bad);
    assert_eq!(
        registry().policy("registry-test.q").unwrap().multiplier,
        1.0
    );
}
