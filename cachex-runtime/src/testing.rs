//! Test isolation for code that touches the process-wide [`registry`](crate::registry()).
//!
//! Tests in one binary run on several threads at once and share one registry, so two tests
//! that force the same breaker, swap the same policy or fill the same cache run into each
//! other. [`isolate`] returns a [`RegistryGuard`]: while one is alive, every other test that
//! asks for one waits, and when it is dropped (even by a failing test's panic) the registry is
//! put back as it was:
//!
//! - breakers created while it was held are removed again (so
//!   [`try_breaker`](crate::Registry::try_breaker) of a misspelt name stays `None` in the next
//!   test); breakers that existed get their configuration back and are reset to CLOSED, or
//!   pinned again as they were;
//! - policies and stores are restored to the set that existed (added ones removed, replaced
//!   ones put back);
//! - every `#[cached]` function's in-process entries are dropped. Entries in a shared store
//!   (Redis) are not touched: clear them with [`clear_cache`](crate::Registry::clear_cache).
//!   Hit and miss statistics keep counting: compare differences, not absolute numbers.
//!
//! Only tests that take a guard are serialised; others still run alongside, and what they do
//! to the registry while a guard is held is undone with the rest when it is dropped (a breaker
//! they create then is removed again): take a guard in every test that touches the registry. With
//! `cargo nextest`, which runs each test in its own process, every test has a registry of its
//! own and the guard costs nothing.
//!
//! ```
//! use cachex_runtime::{registry, testing, State};
//!
//! let guard = testing::isolate();
//! registry().breaker("payments").force_open();
//! assert_eq!(registry().breaker("payments").state(), State::Open);
//! drop(guard);
//! // Restored: "payments" did not exist before the guard, so it is gone again.
//! assert!(registry().try_breaker("payments").is_none());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::sync::{Mutex, MutexGuard};
use crate::{BreakerConfig, CircuitBreaker, Policy, State, Store};

/// The lock every [`RegistryGuard`] holds. It never poisons, so a failing test does not fail
/// the ones after it.
static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises this test with every other test holding a guard, and restores the registry when
/// dropped. See the [module docs](self).
///
/// ```
/// # use cachex_runtime::{registry, testing, Policy};
/// let _guard = testing::isolate();
/// registry().set_policy("default", Policy { max_attempts: 1, ..Policy::default() });
/// // ... test code that expects a single attempt ...
/// ```
pub fn isolate() -> RegistryGuard {
    RegistryGuard::new()
}

/// Held for the duration of a test; see [`isolate`].
#[must_use = "the registry is restored when the guard is dropped: bind it with `let _guard = ...`"]
pub struct RegistryGuard {
    breakers: Vec<(Arc<CircuitBreaker>, BreakerConfig, Option<State>)>,
    policies: HashMap<String, Policy>,
    stores: HashMap<String, Arc<dyn Store>>,
    _serial: MutexGuard<'static, ()>,
}

impl fmt::Debug for RegistryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryGuard")
            .field("breakers", &self.breakers.len())
            .field("policies", &self.policies.len())
            .field("stores", &self.stores.len())
            .finish()
    }
}

impl RegistryGuard {
    /// Waits for any other guard to be dropped, then records the registry as it is.
    ///
    /// ```
    /// let _guard = cachex_runtime::testing::RegistryGuard::new();
    /// ```
    pub fn new() -> Self {
        let serial = SERIAL.lock();
        let breakers = crate::breaker::named::global()
            .map()
            .read()
            .values()
            .map(|b| {
                let pinned = b.is_forced().then(|| b.state());
                (Arc::clone(b), b.config(), pinned)
            })
            .collect();
        RegistryGuard {
            breakers,
            policies: crate::retry::named::global().map().read().clone(),
            stores: crate::store::named().map().read().clone(),
            _serial: serial,
        }
    }
}

impl Default for RegistryGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        {
            let mut map = crate::breaker::named::global().map().write();
            map.retain(|name, _| self.breakers.iter().any(|(b, _, _)| b.name() == name));
            for (b, config, pinned) in &self.breakers {
                // Put back the very breaker that was there (a function may hold it), with its
                // configuration and pin.
                map.insert(b.name().to_owned(), Arc::clone(b));
                b.set_config(*config);
                match pinned {
                    Some(State::Open) => b.force_open(),
                    Some(_) => b.force_close(),
                    None => b.reset(),
                }
            }
        }
        *crate::retry::named::global().map().write() = std::mem::take(&mut self.policies);
        *crate::store::named().map().write() = std::mem::take(&mut self.stores);
        crate::cache::names::global().clear_local();
    }
}
