//! The process-wide registry: named circuit breakers, retry policies, stores and cache
//! statistics, reached through [`registry()`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use crate::cache::Caches;
use crate::sync::RwLock;
use crate::{BreakerConfig, CacheStats, CircuitBreaker, Error, Policy, Store};

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

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
    breakers: RwLock<HashMap<String, Arc<CircuitBreaker>>>,
    policies: RwLock<HashMap<String, Policy>>,
    pub(crate) caches: Caches,
}

/// A name kept for the rest of the process: registry breakers are never removed, so their names
/// are leaked once (one allocation per distinct name) and rejections borrow them.
fn process_name(name: &str) -> Cow<'static, str> {
    Cow::Borrowed(Box::leak(name.to_owned().into_boxed_str()))
}

impl Registry {
    fn new() -> Self {
        let mut breakers = HashMap::new();
        for decl in crate::breaker::decl::BREAKERS {
            match breakers.get(decl.name) {
                None => {
                    breakers.insert(
                        decl.name.to_owned(),
                        Arc::new(CircuitBreaker::named(Cow::Borrowed(decl.name), decl.config)),
                    );
                }
                Some(existing) => {
                    let existing: &Arc<CircuitBreaker> = existing;
                    if existing.config() != decl.config {
                        tracing::warn!(
                            breaker = decl.name,
                            "functions declare the breaker with different configurations; the first one found is used"
                        );
                    }
                }
            }
        }
        let policies = HashMap::from([
            ("default".to_owned(), Policy::default()),
            ("conservative".to_owned(), Policy::conservative()),
            ("aggressive".to_owned(), Policy::aggressive()),
        ]);
        Registry {
            breakers: RwLock::new(breakers),
            policies: RwLock::new(policies),
            caches: Caches::default(),
        }
    }

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
        if let Some(b) = self.breakers.read().get(name) {
            return Arc::clone(b);
        }
        Arc::clone(
            self.breakers
                .write()
                .entry(name.to_owned())
                .or_insert_with(|| {
                    Arc::new(CircuitBreaker::named(
                        process_name(name),
                        BreakerConfig::default(),
                    ))
                }),
        )
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
        let mut all: Vec<_> = self.breakers.read().values().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
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
        let mut map = self.breakers.write();
        match map.get(name) {
            Some(b) => b.set_config(config),
            None => {
                map.insert(
                    name.to_owned(),
                    Arc::new(CircuitBreaker::named(process_name(name), config)),
                );
            }
        }
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
        self.policies.read().get(name).copied()
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
        if let Err(e) = policy.validate() {
            tracing::error!(policy = name, error = %e, "invalid retry policy; using the nearest valid one");
        }
        self.policies
            .write()
            .insert(name.to_owned(), policy.sanitized());
    }

    /// [`set_policy`](Self::set_policy), refusing an invalid policy.
    ///
    /// ```
    /// use cachex_runtime::{registry, Policy};
    /// assert!(registry().try_set_policy("bad", Policy { max_attempts: 0, ..Policy::default() }).is_err());
    /// assert_eq!(registry().policy("bad"), None);
    /// ```
    pub fn try_set_policy(&self, name: &str, policy: Policy) -> Result<(), Error> {
        policy.validate()?;
        self.policies.write().insert(name.to_owned(), policy);
        Ok(())
    }

    /// Registers (or replaces) the store `name` for `#[cached(store = "name")]`. The store
    /// "memory" exists from the start.
    ///
    /// ```
    /// use cachex_runtime::{registry, MemoryStore};
    /// registry().set_store("local", MemoryStore::new(10_000));
    /// ```
    pub fn set_store<S: Store>(&self, name: &str, store: S) {
        self.caches.set_store(name, Arc::new(store));
    }

    /// The store registered as `name` ("memory" always exists).
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// assert!(registry().store("memory").is_some());
    /// assert!(registry().store("no-such-store").is_none());
    /// ```
    pub fn store(&self, name: &str) -> Option<Arc<dyn Store>> {
        self.caches.store(name)
    }

    /// Hits and misses of the cache `cache` (a `#[cached]` name), `None` if no such cache has
    /// been used.
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// assert!(registry().cache_stats("never-used").is_none());
    /// ```
    pub fn cache_stats(&self, cache: &str) -> Option<CacheStats> {
        self.caches.cache_stats(cache)
    }

    /// Removes every entry of the cache `cache`, in its store too. A name that no cache has
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
        self.caches.clear_cache(cache).await
    }
}

impl Registry {
    /// The breakers by name, for the observability methods.
    pub(crate) fn breakers_map(&self) -> &RwLock<HashMap<String, Arc<CircuitBreaker>>> {
        &self.breakers
    }

    /// The policies by name, for the observability methods.
    pub(crate) fn policies_map(&self) -> &RwLock<HashMap<String, Policy>> {
        &self.policies
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("breakers", &self.breakers.read().len())
            .field("policies", &self.policies.read().len())
            .finish_non_exhaustive()
    }
}
