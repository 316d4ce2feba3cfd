//! The process-wide registry: named circuit breakers, retry policies, stores and cache
//! statistics, reached through [`registry()`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use crate::breaker::keyed::KeyedGroup;
use crate::cache::names;
use crate::store::named;
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
    /// Keyed declarations (`key = ..`) by name: their breakers are `"<name>/<key>"`.
    keyed: RwLock<HashMap<String, Arc<KeyedGroup>>>,
    policies: RwLock<HashMap<String, Policy>>,
}

/// A name kept for the rest of the process: registry breakers are never removed, so their names
/// are leaked once (one allocation per distinct name) and rejections borrow them.
fn process_name(name: &str) -> Cow<'static, str> {
    Cow::Borrowed(Box::leak(name.to_owned().into_boxed_str()))
}

impl Registry {
    fn new() -> Self {
        let mut breakers = HashMap::new();
        let declared: &'static [crate::breaker::decl::BreakerDecl] =
            &crate::breaker::decl::BREAKERS;
        crate::decl_names::report_collisions(declared, "breaker", "circuit_breaker");
        crate::decl_names::report_collisions(&crate::cache::decl::CACHES, "cache", "cached");
        let mut keyed = HashMap::new();
        for decl in declared.iter().filter(|d| d.keyed) {
            let name = decl.registry_name();
            keyed
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(KeyedGroup::new(&name, decl.config)));
        }
        for decl in declared.iter().filter(|d| !d.keyed) {
            // A name kept apart from a colliding default ("<name>#2") lives as long as the
            // declared ones: leaked once, so rejections borrow it.
            let name: Cow<'static, str> = match decl.registry_name() {
                Cow::Borrowed(name) => Cow::Borrowed(name),
                Cow::Owned(name) => process_name(&name),
            };
            match breakers.get(&*name) {
                None => {
                    breakers.insert(
                        name.to_string(),
                        Arc::new(CircuitBreaker::named(name, decl.config)),
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
            keyed: RwLock::new(keyed),
            policies: RwLock::new(policies),
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
        if let Some(b) = self.keyed_breaker(name) {
            return b;
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
        for group in self.keyed.read().values() {
            all.extend(group.breakers());
        }
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// `"<name>/<key>"` of a keyed declaration `name`: its breaker for `key` (made with the
    /// declaration's configuration if the key has none yet).
    fn keyed_breaker(&self, full: &str) -> Option<Arc<CircuitBreaker>> {
        let groups = self.keyed.read();
        if groups.is_empty() {
            return None;
        }
        // The declared name may itself hold '/': try every split, longest name first.
        for (i, _) in full.rmatch_indices('/') {
            let (Some(name), Some(key)) = (full.get(..i), full.get(i.saturating_add(1)..)) else {
                continue;
            };
            if let Some(group) = groups.get(name) {
                let mut bounded = String::new();
                crate::breaker::keyed::bounded_key(key, &mut bounded);
                return Some(group.get_bounded(&bounded));
            }
        }
        None
    }

    /// The group of keyed breakers declared as `name` (made with `config`, or the default,
    /// when no declaration was found at start-up).
    pub(crate) fn keyed_group(&self, name: &str, config: Option<BreakerConfig>) -> Arc<KeyedGroup> {
        if let Some(g) = self.keyed.read().get(name) {
            return Arc::clone(g);
        }
        Arc::clone(
            self.keyed
                .write()
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(KeyedGroup::new(name, config.unwrap_or_default()))),
        )
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
        if !self.breakers.read().contains_key(name) {
            if let Some(keyed) = self.keyed_breaker(name) {
                return keyed.set_config(config);
            }
        }
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
    /// computation started before this call is not stored after it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// cachex_runtime::registry().clear_cache("users").await.unwrap();
    /// # }
    /// ```
    pub async fn clear_cache(&self, cache: &str) -> Result<(), Error> {
        names::global().clear(cache, named()).await
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
