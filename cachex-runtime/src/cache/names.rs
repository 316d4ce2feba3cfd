//! The table of cache names: per name, the hit and miss counters, the clear generation, and what
//! holds the name's entries (`#[cached]` sites, seen through [`CacheSiteOps`], and the stores of
//! [`Cache::with_name`](crate::Cache::with_name) caches). The registry's cache operations
//! delegate to the process-wide table ([`global`]); tests build their own.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use super::decl::declarations;
use super::CacheStats;
use crate::store::{NamedStores, MEMORY};
use crate::striped::Counter;
use crate::sync::{Mutex, RwLock};
use crate::{Error, Store};

/// What the table needs of a `#[cached]` site, without knowing its key and value types.
pub(crate) trait CacheSiteOps: Send + Sync {
    /// Entries in the site's in-process map.
    fn len(&self) -> u64;
    /// Entries evicted from that map to keep within its capacity.
    fn evictions(&self) -> u64;
    /// Empties the in-process map.
    fn clear(&self);
    /// The name of the store the site uses; `Some` only once its store path has run.
    fn store_name(&self) -> Option<&'static str>;
    /// Single-flight computations in progress.
    fn in_flight(&self) -> usize;
}

/// One cache name: counters, generation and what holds its entries.
#[derive(Default)]
pub(crate) struct CacheName {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    /// Calls answered with a stale value.
    pub(crate) stale_hits: Counter,
    /// Background refreshes started.
    pub(crate) refreshes: Counter,
    /// Background refreshes that failed (`Err`, `None`, a panic), keeping the stale value.
    pub(crate) refresh_failures: Counter,
    /// Bumped by every clear before anything is removed. A body's value is written only if the
    /// generation it read when it started is still current, so nothing computed before a clear
    /// is stored after it.
    generation: AtomicU64,
    sites: Mutex<Vec<&'static dyn CacheSiteOps>>,
    /// Stores of `Cache::with_name` caches of this name, one per [`Store::store_id`].
    stores: Mutex<Vec<Arc<dyn Store>>>,
}

impl fmt::Debug for CacheName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheName")
            .field("hits", &self.hits.sum())
            .field("misses", &self.misses.sum())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl CacheName {
    /// The current clear generation (read when a body starts).
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether no clear has started since `generation` was read.
    #[inline]
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        self.generation() == generation
    }

    pub(crate) fn add_site(&self, site: &'static dyn CacheSiteOps) {
        let mut sites = self.sites.lock();
        let addr = |s: &dyn CacheSiteOps| std::ptr::from_ref(s).cast::<()>();
        if !sites.iter().any(|s| addr(*s) == addr(site)) {
            sites.push(site);
        }
    }

    /// Adds `store` unless a store with the same [`Store::store_id`] is there already.
    pub(crate) fn add_store(&self, store: &Arc<dyn Store>) {
        let mut stores = self.stores.lock();
        let id = store.store_id();
        if !stores.iter().any(|s| s.store_id() == id) {
            stores.push(Arc::clone(store));
        }
    }

    #[cfg(test)]
    fn store_count(&self) -> usize {
        self.stores.lock().len()
    }
}

/// Cache names to their [`CacheName`].
#[derive(Default)]
pub(crate) struct CacheNames {
    names: RwLock<HashMap<String, Arc<CacheName>>>,
}

impl fmt::Debug for CacheNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> = self.names.read().keys().cloned().collect();
        names.sort();
        f.debug_struct("CacheNames")
            .field("caches", &names)
            .finish()
    }
}

/// The process-wide table, which `#[cached]` sites and named [`Cache`](crate::Cache)s register
/// into and the registry reads.
pub(crate) fn global() -> &'static CacheNames {
    static NAMES: LazyLock<CacheNames> = LazyLock::new(CacheNames::default);
    &NAMES
}

impl CacheNames {
    /// The entry of cache `name`, created on first use.
    pub(crate) fn entry(&self, name: &str) -> Arc<CacheName> {
        if let Some(e) = self.names.read().get(name) {
            return Arc::clone(e);
        }
        Arc::clone(self.names.write().entry(name.to_owned()).or_default())
    }

    fn get(&self, name: &str) -> Option<Arc<CacheName>> {
        self.names.read().get(name).cloned()
    }

    /// Statistics of cache `name`; zeros for a declared cache not used yet, `None` for a name
    /// no cache has.
    pub(crate) fn stats(&self, cache: &str) -> Option<CacheStats> {
        let Some(entry) = self.get(cache) else {
            return declarations(cache).next().map(|_| CacheStats::default());
        };
        let mut stats = CacheStats {
            hits: entry.hits.sum(),
            misses: entry.misses.sum(),
            stale_hits: entry.stale_hits.sum(),
            refreshes: entry.refreshes.sum(),
            refresh_failures: entry.refresh_failures.sum(),
            ..CacheStats::default()
        };
        for site in entry.sites.lock().iter() {
            stats.entries = stats.entries.saturating_add(site.len());
            stats.evictions = stats.evictions.saturating_add(site.evictions());
        }
        Some(stats)
    }

    /// Single-flight computations in progress for cache `name`.
    pub(crate) fn in_flight(&self, cache: &str) -> usize {
        self.get(cache).map_or(0, |entry| {
            entry
                .sites
                .lock()
                .iter()
                .fold(0usize, |n, s| n.saturating_add(s.in_flight()))
        })
    }

    /// Empties cache `name`: the in-memory maps of its `#[cached]` functions, and its keys
    /// (`<name>:<key>`, see [`is_under_prefix`](crate::is_under_prefix)) in every store it has
    /// used, each store swept once. An unknown name is not an error.
    ///
    /// The generation moves first, so a body that started before this call writes nothing
    /// after it.
    /// Every cache name in the table, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.names.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// Whether the table has a cache called `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.read().contains_key(name)
    }

    /// Empties the in-process entries of every cache (stores are left as they are).
    pub(crate) fn clear_local(&self) {
        let entries: Vec<Arc<CacheName>> = self.names.read().values().cloned().collect();
        for entry in entries {
            let sites: Vec<&'static dyn CacheSiteOps> = entry.sites.lock().clone();
            for site in sites {
                site.clear();
            }
        }
    }

    pub(crate) async fn clear(&self, cache: &str, named: &NamedStores) -> Result<(), Error> {
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        let mut add = |store: Arc<dyn Store>| {
            let id = store.store_id();
            if !stores.iter().any(|s| s.store_id() == id) {
                stores.push(store);
            }
        };
        // Declared store-backed caches are cleared in their store even before (or without) a
        // call in this process: another process may have filled them.
        for decl in declarations(cache).filter(|d| d.store != MEMORY) {
            if let Some(store) = named.get(decl.store) {
                add(store);
            }
        }
        if let Some(entry) = self.get(cache) {
            entry.generation.fetch_add(1, Ordering::AcqRel);
            for store in entry.stores.lock().iter() {
                add(Arc::clone(store));
            }
            // Copied out: a site's `clear` takes its own lock.
            let sites: Vec<&'static dyn CacheSiteOps> = entry.sites.lock().clone();
            for site in sites {
                site.clear();
                if let Some(store) = site.store_name().and_then(|n| named.get(n)) {
                    add(store);
                }
            }
        }
        let prefix = format!("{cache}:");
        let mut first_error = None;
        for store in stores {
            if let Err(e) = store.clear_prefix(&prefix).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct FakeSite {
        clears: AtomicUsize,
    }

    impl CacheSiteOps for FakeSite {
        fn len(&self) -> u64 {
            3
        }
        fn evictions(&self) -> u64 {
            1
        }
        fn clear(&self) {
            self.clears.fetch_add(1, Ordering::Relaxed);
        }
        fn store_name(&self) -> Option<&'static str> {
            None
        }
        fn in_flight(&self) -> usize {
            2
        }
    }

    #[test]
    fn a_table_counts_and_clears_its_sites_without_the_registry() {
        let names = CacheNames::default();
        let stores = NamedStores::default();
        let site: &'static FakeSite = Box::leak(Box::default());
        let entry = names.entry("t");
        entry.add_site(site);
        entry.add_site(site);
        entry.hits.add(2);
        entry.misses.add(1);
        let stats = names.stats("t");
        assert_eq!(
            stats,
            Some(CacheStats {
                hits: 2,
                misses: 1,
                entries: 3,
                evictions: 1,
                ..CacheStats::default()
            })
        );
        assert_eq!(names.in_flight("t"), 2);
        let before = entry.generation();
        tokio_test_block_on(names.clear("t", &stores)).unwrap();
        assert_eq!(site.clears.load(Ordering::Relaxed), 1);
        assert!(!entry.is_current(before));
        assert_eq!(names.stats("unknown-name-in-this-table"), None);
    }

    #[test]
    fn clones_of_one_memory_store_are_one_store_of_a_name() {
        let names = CacheNames::default();
        let entry = names.entry("dedupe");
        let store = MemoryStore::new(10);
        for _ in 0..1_000 {
            let s: Arc<dyn Store> = Arc::new(store.clone());
            entry.add_store(&s);
        }
        let other: Arc<dyn Store> = Arc::new(MemoryStore::new(10));
        entry.add_store(&other);
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new(10));
        for _ in 0..1_000 {
            let s: Arc<dyn Store> = Arc::new(Arc::clone(&shared));
            entry.add_store(&s);
        }
        assert_eq!(entry.store_count(), 3);
    }

    #[test]
    fn the_memory_byte_store_cannot_be_replaced() {
        let stores = NamedStores::default();
        let err = stores
            .set(MEMORY, Arc::new(MemoryStore::new(1)))
            .unwrap_err();
        assert!(err.to_string().contains("typed in-process tier"), "{err}");
        assert!(stores.set("other", Arc::new(MemoryStore::new(1))).is_ok());
        assert!(stores.get("other").is_some());
    }

    /// Runs a future that never waits on a timer or I/O.
    fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}
