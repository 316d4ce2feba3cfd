//! The process-wide registry: named circuit breakers, retry policies, stores and cache
//! statistics, reached through [`registry()`].

use std::fmt;
use std::sync::{Arc, LazyLock};

use crate::breaker::named as breaker_named;
use crate::cache::names;
use crate::retry::named as policy_named;
use crate::store::named;
use crate::{BreakerConfig, CacheStats, CircuitBreaker, Error, Policy, Store};

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    crate::decl_names::report_collisions(&crate::cache::decl::CACHES, "cache", "cached");
    // Declared breakers are in their table from the start.
    let _ = breaker_named::global();
    Registry { _private: () }
});

/// The process-wide registry.
///
/// ```
/// use cachex_runtime::{registry, State};
///
/// let b = registry().breaker("billing");
/// b.force_open();
/// assert_eq!(registry().breaker("billing").state(), State::Open);
/// registry().breaker("billing").reset();
/// ```
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// Named breakers, policies, stores and caches. Get it with [`registry()`].
///
/// ```
/// use cachex_runtime::registry;
///
/// for b in registry().breakers() {
///     let s = b.stats();
///     println!("{} {} ({} requests, {:.1}% failed)", b.name(), s.state, s.total_requests, s.failure_rate());
/// }
/// ```
pub struct Registry {
    // The tables live with what they hold (`breaker::named`, `retry::named`, `store::named`,
    // `cache::names`); the registry is the one public door to them.
    _private: (),
}

impl Registry {
    /// The one shared breaker called `name`, created on first use with the configuration a
    /// `#[circuit_breaker(name = ...)]` declares, or what [`configure_breaker`](Self::configure_breaker)
    /// set, or [`BreakerConfig::default()`].
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// use std::sync::Arc;
    /// assert!(Arc::ptr_eq(&registry().breaker("geo"), &registry().breaker("geo")));
    /// ```
    pub fn breaker(&self, name: &str) -> Arc<CircuitBreaker> {
        breaker_named::global().get(name)
    }

    /// Every known breaker (all declared ones from the start), sorted by name.
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// registry().breaker("zeta");
    /// registry().breaker("alpha");
    /// let names: Vec<String> = registry().breakers().iter().map(|b| b.name().to_owned()).collect();
    /// let mut sorted = names.clone();
    /// sorted.sort();
    /// assert_eq!(names, sorted);
    /// ```
    pub fn breakers(&self) -> Vec<Arc<CircuitBreaker>> {
        breaker_named::global().all()
    }

    /// Sets the configuration of the breaker `name`: in place if it exists (its state and totals
    /// are kept), else for when it is created. An invalid configuration is replaced by the
    /// nearest valid one and reported through `tracing`; see
    /// [`try_configure_breaker`](Self::try_configure_breaker).
    ///
    /// ```
    /// use cachex_runtime::{registry, BreakerConfig};
    /// registry().configure_breaker("ledger", BreakerConfig::conservative());
    /// assert_eq!(registry().breaker("ledger").config(), BreakerConfig::conservative());
    /// ```
    pub fn configure_breaker(&self, name: &str, config: BreakerConfig) {
        breaker_named::global().configure(name, config);
    }

    /// [`configure_breaker`](Self::configure_breaker), refusing an invalid configuration.
    ///
    /// ```
    /// use cachex_runtime::{registry, BreakerConfig};
    /// let bad = BreakerConfig { half_open_max: 0, ..Default::default() };
    /// assert!(registry().try_configure_breaker("ledger2", bad).is_err());
    /// ```
    pub fn try_configure_breaker(&self, name: &str, config: BreakerConfig) -> Result<(), Error> {
        config.validate()?;
        self.configure_breaker(name, config);
        Ok(())
    }

    /// The policy called `name`: "default", "conservative" and "aggressive" always exist.
    ///
    /// ```
    /// use cachex_runtime::{registry, Policy};
    /// assert_eq!(registry().policy("conservative"), Some(Policy::conservative()));
    /// assert_eq!(registry().policy("no-such-policy"), None);
    /// ```
    pub fn policy(&self, name: &str) -> Option<Policy> {
        policy_named::global().get(name)
    }

    /// Adds or replaces the policy `name`. `#[retry]` functions look their policy up at call
    /// time, so this takes effect for their next failure. An invalid policy is replaced by the
    /// nearest valid one and reported through `tracing`; see
    /// [`try_set_policy`](Self::try_set_policy).
    ///
    /// ```
    /// use cachex_runtime::{registry, Policy};
    /// registry().set_policy("fast", Policy { max_attempts: 5, ..Policy::aggressive() });
    /// assert_eq!(registry().policy("fast").unwrap().max_attempts, 5);
    /// ```
    pub fn set_policy(&self, name: &str, policy: Policy) {
        policy_named::global().set(name, policy);
    }

    /// [`set_policy`](Self::set_policy), refusing an invalid policy.
    ///
    /// ```
    /// use cachex_runtime::{registry, Policy};
    /// assert!(registry().try_set_policy("bad", Policy { max_attempts: 0, ..Policy::default() }).is_err());
    /// assert_eq!(registry().policy("bad"), None);
    /// ```
    pub fn try_set_policy(&self, name: &str, policy: Policy) -> Result<(), Error> {
        policy_named::global().try_set(name, policy)
    }

    /// Registers (or replaces) the store `name` for `#[cached(store = "name")]` and
    /// [`store`](Self::store).
    ///
    /// `"memory"` is refused (reported with `tracing::error!`; see
    /// [`try_set_store`](Self::try_set_store)): it names the typed in-process tier of
    /// `#[cached]`, where each function keeps its own map of typed values (no serialisation,
    /// first-in first-out eviction), so a byte store registered under that name would never be
    /// used by them. The registry's own `"memory"` byte store (a [`MemoryStore`](crate::MemoryStore),
    /// TinyLFU eviction) exists from the start for [`Cache`](crate::Cache)s.
    ///
    /// ```
    /// use cachex_runtime::{registry, MemoryStore};
    /// registry().set_store("local", MemoryStore::new(10_000));
    /// ```
    pub fn set_store<S: Store>(&self, name: &str, store: S) {
        if let Err(e) = self.try_set_store(name, store) {
            tracing::error!(store = name, error = %e, "cachex: store not registered");
        }
    }

    /// [`set_store`](Self::set_store), returning [`Error::InvalidConfig`] for `"memory"`.
    ///
    /// ```
    /// use cachex_runtime::{registry, Error, MemoryStore};
    /// assert!(registry().try_set_store("sessions", MemoryStore::new(100)).is_ok());
    /// let refused = registry().try_set_store("memory", MemoryStore::new(100));
    /// assert!(matches!(refused, Err(Error::InvalidConfig { .. })));
    /// ```
    pub fn try_set_store<S: Store>(&self, name: &str, store: S) -> Result<(), Error> {
        named().set(name, Arc::new(store))
    }

    /// The store registered as `name` ("memory" always exists).
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// assert!(registry().store("memory").is_some());
    /// assert!(registry().store("no-such-store").is_none());
    /// ```
    pub fn store(&self, name: &str) -> Option<Arc<dyn Store>> {
        named().get(name)
    }

    /// Hits and misses of the cache `cache` (a `#[cached]` name), `None` if no such cache has
    /// been used.
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// assert!(registry().cache_stats("never-used").is_none());
    /// ```
    pub fn cache_stats(&self, cache: &str) -> Option<CacheStats> {
        names::global().stats(cache)
    }

    /// Removes every entry of the cache `cache`, in its store too: the keys `<cache>:<key>`
    /// where `<key>` does not start with `:` (see [`is_under_prefix`](crate::is_under_prefix)),
    /// so the caches whose names extend it (`<cache>::child`) keep theirs. A value whose
    /// computation started before this call is not stored after it. A name that no cache has
    /// (see [`caches`](Self::caches)) is [`Error::UnknownCache`], so a typo does not pass
    /// silently.
    ///
    /// ```
    /// # use cachex_runtime::{registry, Cache, MemoryStore};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let _users: Cache<u64> = Cache::with_name("users", MemoryStore::new(100));
    /// registry().clear_cache("users").await.unwrap();
    /// assert!(registry().clear_cache("usres").await.is_err());
    /// # }
    /// ```
    pub async fn clear_cache(&self, cache: &str) -> Result<(), Error> {
        if !self.has_cache(cache) {
            return Err(Error::UnknownCache {
                name: cache.to_owned(),
            });
        }
        names::global().clear(cache, named()).await
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("breakers", &breaker_named::global().all().len())
            .field("policies", &policy_named::global().all().len())
            .finish_non_exhaustive()
    }
}
