//! The registry's observability methods: events, snapshots, and lookups that never create.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::events::{self, Event};
use super::snapshot::{BreakerSnapshot, CacheSnapshot, PolicySnapshot, Snapshot, StoreSnapshot};
use crate::{CircuitBreaker, Registry};

impl Registry {
    /// A receiver of every [`Event`] from now on (breaker state changes, forcing and resetting
    /// included). Standalone breakers ([`CircuitBreaker::new`]) report their changes here too;
    /// their names are the ones they were given.
    ///
    /// The channel keeps the last 1,024 events for each receiver. A receiver that falls behind
    /// lags (its next `recv` returns `RecvError::Lagged(n)` and then the oldest event it still
    /// has); it never slows a call down.
    ///
    /// ```
    /// use cachex_runtime::{registry, Event, State};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut events = registry().subscribe();
    /// registry().breaker("doc-subscribe").force_open();
    /// assert_eq!(
    ///     events.recv().await.unwrap(),
    ///     Event::BreakerStateChanged { name: "doc-subscribe".into(), from: State::Closed, to: State::Open }
    /// );
    /// # registry().breaker("doc-subscribe").reset();
    /// # }
    /// ```
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        events::subscribe()
    }

    /// Every breaker, cache, policy and store as they are now; see [`Snapshot`].
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// let snap = registry().snapshot();
    /// assert!(snap.policies.iter().any(|p| p.name == "default"));
    /// assert!(snap.stores.iter().any(|s| s.name == "memory"));
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        let breakers = crate::breaker::named::global()
            .map()
            .read()
            .values()
            .cloned()
            .collect::<Vec<_>>()
            .iter()
            .map(|b| BreakerSnapshot::of(b))
            .collect();
        let caches = self
            .caches()
            .into_iter()
            .map(|name| {
                let stats = self.cache_stats(&name).unwrap_or_default().into();
                CacheSnapshot { name, stats }
            })
            .collect();
        let policies = crate::retry::named::global()
            .map()
            .read()
            .iter()
            .map(|(name, p)| PolicySnapshot::of(name, p))
            .collect();
        let stores = crate::store::named()
            .map()
            .read()
            .keys()
            .map(|name| StoreSnapshot { name: name.clone() })
            .collect();
        Snapshot::new(breakers, caches, policies, stores)
    }

    /// The breaker called `name` if it exists (declared by a `#[circuit_breaker]`, or created
    /// by [`breaker`](Self::breaker) or [`configure_breaker`](Self::configure_breaker)); unlike
    /// `breaker`, it never creates one, so a misspelt name is `None` rather than a new breaker.
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// registry().breaker("price_service");
    /// assert!(registry().try_breaker("price_service").is_some());
    /// assert!(registry().try_breaker("price_servce").is_none());
    /// ```
    pub fn try_breaker(&self, name: &str) -> Option<Arc<CircuitBreaker>> {
        crate::breaker::named::global()
            .map()
            .read()
            .get(name)
            .cloned()
    }

    /// The names of every cache, sorted: those `#[cached]` functions declare (known before
    /// their first call) and those named [`Cache`](crate::Cache)s have used.
    ///
    /// ```
    /// use cachex_runtime::{registry, Cache, MemoryStore};
    /// let _c: Cache<u8> = Cache::with_name("doc-caches", MemoryStore::new(10));
    /// assert!(registry().caches().iter().any(|n| n == "doc-caches"));
    /// ```
    pub fn caches(&self) -> Vec<String> {
        let mut names: Vec<String> = crate::cache::decl::CACHES
            .iter()
            .map(|d| d.name.to_owned())
            .collect();
        names.extend(crate::cache::names::global().names());
        names.sort();
        names.dedup();
        names
    }

    /// Whether a cache called `name` is known (see [`caches`](Self::caches)).
    pub(crate) fn has_cache(&self, name: &str) -> bool {
        crate::cache::decl::CACHES.iter().any(|d| d.name == name)
            || crate::cache::names::global().contains(name)
    }
}
