//! What `#[cached]` expands to: one `static` [`CacheSite`] per function, and [`Outcome`], which
//! says which return values are cached. Re-exported from `__private`; not a stable API.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::decl::CacheDecl;
use super::fifo::{Erased, FifoMap, Found, MapOps};
use super::flight::{self, Flights, Join, Waited};
use super::key::encode_key;
use super::names::{self, CacheName, CacheSiteOps};
use super::refresh::{self, Busy, Running};
use super::{decode, encode};

pub use super::refresh::MAX_REFRESHES;
use crate::Store;

/// Entries a memory-backed `#[cached]` function keeps when it gives no `capacity`.
///
/// ```
/// assert_eq!(cachex_runtime::__private::DEFAULT_CAPACITY, 10_000);
/// ```
pub const DEFAULT_CAPACITY: u64 = 10_000;

/// Which results of a function are cached: `Ok` of a `Result`, `Some` of an `Option`, and
/// everything wrapped in [`Plain`].
///
/// ```
/// use cachex_runtime::__private::{Outcome, Plain};
///
/// assert_eq!(Ok::<u8, ()>(1).cacheable(), Some(&1));
/// assert_eq!(Err::<u8, ()>(()).cacheable(), None);
/// assert_eq!(None::<u8>.cacheable(), None);
/// assert_eq!(Plain(7).cacheable(), Some(&7));
/// assert_eq!(<Option<u8>>::from_cached(3), Some(3));
/// ```
pub trait Outcome {
    /// The cached part of the result.
    type Value;
    /// The value to cache, if this result is cacheable.
    fn cacheable(&self) -> Option<&Self::Value>;
    /// The result to return for a cached value.
    fn from_cached(value: Self::Value) -> Self;
}

impl<T, E> Outcome for Result<T, E> {
    type Value = T;
    #[inline]
    fn cacheable(&self) -> Option<&T> {
        self.as_ref().ok()
    }
    #[inline]
    fn from_cached(value: T) -> Self {
        Ok(value)
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    #[inline]
    fn cacheable(&self) -> Option<&T> {
        self.as_ref()
    }
    #[inline]
    fn from_cached(value: T) -> Self {
        Some(value)
    }
}

/// A return value of any other type: always cached. The macro unwraps `.0`.
///
/// ```
/// use cachex_runtime::__private::{Outcome, Plain};
/// let p = Plain::from_cached("x");
/// assert_eq!(p.0, "x");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plain<T>(pub T);

impl<T> Outcome for Plain<T> {
    type Value = T;
    #[inline]
    fn cacheable(&self) -> Option<&T> {
        Some(&self.0)
    }
    #[inline]
    fn from_cached(value: T) -> Self {
        Plain(value)
    }
}

/// Shared bytes of a value a store-backed flight produced, and whether they came from the store.
type Shared = (Arc<[u8]>, bool);

/// The number of single-flight computations in progress for cache `name`, over every
/// `#[cached]` function of that name that has been called. Every one ends when its caller
/// finishes or is dropped, so this reads 0 whenever no call of the cache is running.
///
/// ```
/// assert_eq!(cachex_runtime::__private::flights_in_progress("no-such-cache"), 0);
/// ```
pub fn flights_in_progress(name: &str) -> usize {
    names::global().in_flight(name)
}

/// One `#[cached]` function: its name, store, TTL and capacity, and (created on the first call)
/// its typed in-memory map or its single-flight table for a store.
///
/// Two in-process tiers are easy to confuse: a site on `"memory"` keeps a typed map of its own
/// (first-in, first-out eviction, no serialisation), while the registry's byte store of that
/// name (a [`MemoryStore`](crate::MemoryStore), moka's TinyLFU eviction) serves
/// [`Cache`](crate::Cache)s only; it cannot be replaced with `set_store`.
///
/// The site registers itself under its name in the registry on its first call; from then on
/// `registry().cache_stats(name)` counts its hits and misses and `registry().clear_cache(name)`
/// empties it. In memory, at most `capacity` entries are kept (default [`DEFAULT_CAPACITY`]);
/// past that the oldest insertions are evicted first (a hit records nothing, so recency is not
/// tracked). TTLs run on tokio's clock.
///
/// ```
/// use cachex_runtime::__private::{CacheSite, Duration};
///
/// static SITE: CacheSite = CacheSite::new("squares", "memory")
///     .ttl(Duration::from_secs(60))
///     .capacity(1_000);
///
/// async fn square(x: u64) -> u64 {
///     SITE.memory((x,), async move { cachex_runtime::__private::Plain(x * x) }).await.0
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(square(12).await, 144);
/// assert_eq!(square(12).await, 144); // a hit
/// let stats = cachex_runtime::registry().cache_stats("squares").unwrap();
/// assert_eq!((stats.hits, stats.misses), (1, 1));
/// # }
/// ```
pub struct CacheSite {
    name: &'static str,
    /// The `#[cached]` declaration, whose name may be kept apart from another's (`"<name>#2"`).
    decl: Option<&'static CacheDecl>,
    /// The name the site goes by, resolved on first use.
    resolved: OnceLock<Cow<'static, str>>,
    store: &'static str,
    ttl: Option<Duration>,
    capacity: u64,
    fail_safe: FailSafe,
    local: OnceLock<Erased>,
    /// The store path's flights; set once that path has run.
    flights: OnceLock<Flights<String, Shared>>,
    stats: OnceLock<Arc<CacheName>>,
    warned: AtomicBool,
}

impl fmt::Debug for CacheSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheSite")
            .field("name", &self.name())
            .field("store", &self.store)
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl CacheSite {
    /// A site for cache `name` on the store registered as `store` (`"memory"` for the typed
    /// in-process map), without TTL and with [`DEFAULT_CAPACITY`].
    ///
    /// ```
    /// # use cachex_runtime::__private::CacheSite;
    /// static SITE: CacheSite = CacheSite::new("users", "memory");
    /// # let _ = &SITE;
    /// ```
    pub const fn new(name: &'static str, store: &'static str) -> Self {
        CacheSite {
            name,
            decl: None,
            resolved: OnceLock::new(),
            store,
            ttl: None,
            capacity: DEFAULT_CAPACITY,
            fail_safe: FailSafe::NONE,
            local: OnceLock::new(),
            flights: OnceLock::new(),
            stats: OnceLock::new(),
            warned: AtomicBool::new(false),
        }
    }

    /// Entries expire `ttl` after they were stored.
    ///
    /// ```
    /// # use cachex_runtime::__private::{CacheSite, Duration};
    /// static SITE: CacheSite = CacheSite::new("users", "memory").ttl(Duration::from_secs(30));
    /// # let _ = &SITE;
    /// ```
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// At most `n` entries in memory (memory store only; oldest insertions are evicted first).
    ///
    /// ```
    /// # use cachex_runtime::__private::CacheSite;
    /// static SITE: CacheSite = CacheSite::new("users", "memory").capacity(500);
    /// # let _ = &SITE;
    /// ```
    pub const fn capacity(mut self, n: u64) -> Self {
        self.capacity = n;
        self
    }

    /// After its TTL, an entry is kept this long as a fallback: a call on it runs the body, and
    /// when that fails (`Err`, `None`) the stale value is returned and counted as a stale hit.
    ///
    /// ```
    /// # use cachex_runtime::__private::{CacheSite, Duration};
    /// static SITE: CacheSite = CacheSite::new("users", "memory")
    ///     .ttl(Duration::from_secs(60))
    ///     .stale_if_error(Duration::from_secs(3600));
    /// # let _ = &SITE;
    /// ```
    pub const fn stale_if_error(mut self, window: Duration) -> Self {
        self.fail_safe.stale_if_error = Some(window);
        self
    }

    /// After its TTL, an entry is served this long at once while one background refresh runs
    /// (needs [`failsafe`](Self::failsafe)).
    ///
    /// ```
    /// # use cachex_runtime::__private::{CacheSite, Duration};
    /// static SITE: CacheSite = CacheSite::new("users", "memory")
    ///     .ttl(Duration::from_secs(60))
    ///     .stale_while_revalidate(Duration::from_secs(30));
    /// # let _ = &SITE;
    /// ```
    pub const fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.fail_safe.stale_while_revalidate = Some(window);
        self
    }

    /// A hit within this long of the end of the TTL starts one background refresh (needs
    /// [`failsafe`](Self::failsafe)).
    ///
    /// ```
    /// # use cachex_runtime::__private::{CacheSite, Duration};
    /// static SITE: CacheSite = CacheSite::new("users", "memory")
    ///     .ttl(Duration::from_secs(60))
    ///     .refresh_ahead(Duration::from_secs(10));
    /// # let _ = &SITE;
    /// ```
    pub const fn refresh_ahead(mut self, window: Duration) -> Self {
        self.fail_safe.refresh_ahead = Some(window);
        self
    }

    /// With a stale value at hand, the call waits at most this long for the body, which runs in
    /// the background from its start (needs [`failsafe`](Self::failsafe)).
    ///
    /// ```
    /// # use cachex_runtime::__private::{CacheSite, Duration};
    /// static SITE: CacheSite = CacheSite::new("users", "memory")
    ///     .ttl(Duration::from_secs(60))
    ///     .stale_if_error(Duration::from_secs(600))
    ///     .soft_timeout(Duration::from_millis(100));
    /// # let _ = &SITE;
    /// ```
    pub const fn soft_timeout(mut self, wait: Duration) -> Self {
        self.fail_safe.soft_timeout = Some(wait);
        self
    }

    /// The site of a `#[cached]` function: it goes by the name the declaration is known by
    /// (`"<name>#<n>"` when several declarations defaulted to one name).
    ///
    /// ```
    /// # use cachex_runtime::__private::{CacheDecl, CacheSite};
    /// static DECL: CacheDecl = CacheDecl { name: "users", store: "memory", defaulted: false };
    /// static SITE: CacheSite = CacheSite::new("users", "memory").declared(&DECL);
    /// # let _ = &SITE;
    /// ```
    pub const fn declared(mut self, decl: &'static CacheDecl) -> Self {
        self.decl = Some(decl);
        self
    }

    /// The cache name this site counts and stores under.
    fn name(&self) -> &str {
        match self.decl {
            None => self.name,
            Some(decl) => self.resolved.get_or_init(|| decl.cache_name()),
        }
    }

    /// The typed map's untyped view, once the memory path has been used.
    fn map_ops(&self) -> Option<&dyn MapOps> {
        self.local.get().map(|e| &*e.ops)
    }

    /// The counters of this site's name; registers the site in the cache-name table on first
    /// use.
    fn stats(&'static self) -> &'static Arc<CacheName> {
        self.stats.get_or_init(|| {
            let entry = names::global().entry(self.name());
            entry.add_site(self);
            entry
        })
    }

    /// This site's typed map; `None` if the site was first used with other types (cannot happen
    /// for macro-generated sites: one site per non-generic function).
    #[inline]
    fn local<K, V>(&'static self) -> Option<&'static FifoMap<K, V>>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let erased = self.local.get_or_init(|| {
            Erased::new(FifoMap::<K, V>::new(
                self.ttl,
                self.fail_safe.max_stale(),
                self.capacity,
                Arc::clone(self.stats()),
            ))
        });
        erased.any.downcast_ref::<FifoMap<K, V>>()
    }

    /// The memory path: a typed, per-function map (no serialisation), single-flight per key.
    /// `compute` is dropped unpolled on a hit.
    ///
    /// A hit takes no lock and writes no shared memory (the hit counter is striped per thread);
    /// it reads the clock only when the site has a TTL. Concurrent misses of one key run
    /// `compute` once and share its value. If that result is not cacheable (`Err`, `None`), the
    /// waiting callers all run their own `compute` at once (an error cannot be shared, and
    /// running them one after another would add up their latencies); if the caller running it
    /// is cancelled, one of the waiting callers leads next. A value computed while
    /// `clear_cache` ran is returned to its caller but not stored. (A body that calls its own
    /// function with the same key waits for itself: that recursion never finishes.)
    ///
    /// With [`stale_if_error`](Self::stale_if_error), a call on an entry past its TTL but inside
    /// the window runs `compute`, and when that fails (or the flight it waited for failed) the
    /// stale value is returned and counted as a stale hit. The other fail-safe settings need
    /// [`failsafe`](Self::failsafe).
    ///
    /// ```
    /// use cachex_runtime::__private::CacheSite;
    ///
    /// static SITE: CacheSite = CacheSite::new("doc-memory", "memory");
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let first: Result<u32, String> = SITE.memory(1u8, async { Ok(10) }).await;
    /// let again: Result<u32, String> = SITE.memory(1u8, async { Ok(99) }).await;
    /// assert_eq!((first, again), (Ok(10), Ok(10)));
    /// # }
    /// ```
    #[inline]
    pub fn memory<K, R, Fut>(
        &'static self,
        key: K,
        compute: Fut,
    ) -> Memory<R, impl Future<Output = R>>
    where
        K: Hash + Eq + Send + Sync + 'static,
        R: Outcome,
        R::Value: Clone + Send + Sync + 'static,
        Fut: Future<Output = R>,
    {
        // The lookup runs here, when the call is made (the generated code awaits at once), so
        // a hit is a ready future: no state machine of its own, and `compute` dropped unpolled.
        let map = self.local::<K, R::Value>();
        let mut stale = None;
        if let Some(map) = map {
            match map.lookup(&key) {
                Found::Fresh(v, _) => {
                    map.name.hits.add(1);
                    return Memory::Hit(std::future::ready(R::from_cached(v)));
                }
                Found::Stale(v, _) => stale = Some(v),
                Found::Miss => {}
            }
        }
        // Boxed so the hit path's future stays small: a miss costs far more than the allocation.
        Memory::Miss(Box::pin(async move {
            match map {
                Some(map) => memory_miss(map, Arc::new(key), compute, stale).await,
                None => {
                    tracing::error!(
                        cache = self.name(),
                        "cachex: cache site used with other types than on its first call; not caching"
                    );
                    compute.await
                }
            }
        }))
    }

    /// The memory path with background work: [`memory`](Self::memory) plus
    /// `stale_while_revalidate`, `refresh_ahead` and `soft_timeout`, which move the body into a
    /// task on the caller's tokio runtime (hence the `Send + 'static` bounds).
    ///
    /// - A fresh hit within `refresh_ahead` of its end returns the value and starts one
    ///   background refresh of the key.
    /// - A stale entry within `stale_while_revalidate` returns the stale value at once and
    ///   starts one background refresh.
    /// - Past that (inside `stale_if_error`), the body runs; with `soft_timeout` it runs as a
    ///   background task from its start and the call waits at most that long before returning
    ///   the stale value (the task's result still refreshes the entry). A failing body returns
    ///   the stale value.
    ///
    /// At most one refresh per key runs at a time, and at most [`MAX_REFRESHES`] in the
    /// process; over that, the stale value is served and the next call tries again. Outside a
    /// tokio runtime the caller runs the body itself. A refresh that fails or panics keeps the
    /// stale value and counts in `refresh_failures`.
    ///
    /// ```
    /// use cachex_runtime::__private::{CacheSite, Duration};
    ///
    /// static SITE: CacheSite = CacheSite::new("doc-failsafe", "memory")
    ///     .ttl(Duration::from_secs(60))
    ///     .stale_while_revalidate(Duration::from_secs(30));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let v: Option<u32> = SITE.failsafe(1u8, async { Some(10) }).await;
    /// assert_eq!(v, Some(10));
    /// # }
    /// ```
    #[inline]
    pub fn failsafe<K, R, Fut>(
        &'static self,
        key: K,
        compute: Fut,
    ) -> Memory<R, impl Future<Output = R>>
    where
        K: Hash + Eq + Send + Sync + 'static,
        R: Outcome + Send + 'static,
        R::Value: Clone + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
    {
        let map = self.local::<K, R::Value>();
        let fs = self.fail_safe;
        let mut stale = None;
        if let Some(map) = map {
            match map.lookup(&key) {
                Found::Fresh(v, left) => {
                    map.name.hits.add(1);
                    if let (Some(ahead), Some(left)) = (fs.refresh_ahead, left) {
                        if left <= ahead {
                            // Outside a runtime nothing is refreshed ahead: the entry expires
                            // and the next call runs the body.
                            refresh::spawn(map, &Arc::new(key), compute);
                        }
                    }
                    return Memory::Hit(std::future::ready(R::from_cached(v)));
                }
                Found::Stale(v, age) => {
                    // Outside a runtime the caller runs the body itself, the stale value as
                    // its fallback.
                    if fs.stale_while_revalidate.is_some_and(|w| age < w) && refresh::has_runtime()
                    {
                        refresh::spawn(map, &Arc::new(key), compute);
                        map.name.stale_hits.add(1);
                        return Memory::Hit(std::future::ready(R::from_cached(v)));
                    }
                    stale = Some(v);
                }
                Found::Miss => {}
            }
        }
        Memory::Miss(Box::pin(async move {
            match (map, stale, fs.soft_timeout) {
                (Some(map), Some(stale), Some(wait)) => {
                    soft_timed(map, key, compute, stale, wait).await
                }
                (Some(map), stale, _) => memory_miss(map, Arc::new(key), compute, stale).await,
                (None, _, _) => {
                    tracing::error!(
                        cache = self.name(),
                        "cachex: cache site used with other types than on its first call; not caching"
                    );
                    compute.await
                }
            }
        }))
    }

    /// The store path with the default key (the arguments, `Serialize`), encoded as JSON with
    /// map entries sorted; a key JSON cannot express faithfully (a non-finite float, a map with
    /// non-string keys) is `#` + hex MessagePack instead.
    /// The store is looked up by name at call time; the store key is `<name>:<encoded key>`.
    ///
    /// A hit costs one store read. After a miss the callers of one key join a single flight: the
    /// leader reads once more (a flight may have just written the value), runs `compute` and
    /// writes a cacheable value back; the others get that value. When the value is not
    /// cacheable, the waiters run their own `compute` at once, as on the memory path. A value
    /// computed while `clear_cache` ran is not written. The call never fails because
    /// of the store: a failed read runs `compute` and skips the write-back (so a down or slow
    /// store is waited on once per call), a value that does not decode is a miss and is
    /// overwritten, and an unregistered store name is reported once through `tracing`.
    ///
    /// ```
    /// use cachex_runtime::__private::CacheSite;
    /// use cachex_runtime::{registry, Cache, MemoryStore};
    ///
    /// static SITE: CacheSite = CacheSite::new("doc-remote", "doc-store");
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = MemoryStore::new(100);
    /// registry().set_store("doc-store", store.clone());
    /// let v: Option<String> = SITE.remote(&(7u32, "x"), async { Some("seven".to_string()) }).await;
    /// assert_eq!(v.as_deref(), Some("seven"));
    /// // Stored under `<name>:<key as JSON>`, readable by a typed cache of that name.
    /// let cache: Cache<String> = Cache::with_name("doc-remote", store);
    /// assert_eq!(cache.get(r#"[7,"x"]"#).await?.as_deref(), Some("seven"));
    /// # Ok(()) }
    /// ```
    pub async fn remote<K, R, Fut>(&'static self, key: &K, compute: Fut) -> R
    where
        K: Serialize + ?Sized,
        R: Outcome,
        R::Value: Serialize + DeserializeOwned + Send + Sync + 'static,
        Fut: Future<Output = R>,
    {
        match encode_key(key) {
            Some(key) => self.remote_keyed(key, compute).await,
            None => {
                self.stats().misses.add(1);
                compute.await
            }
        }
    }

    /// The store path with a `key = <expr>` key, written with `to_string()`.
    ///
    /// The store key is `<name>:<key>`. A key whose text starts with `:` is the one key that
    /// [`registry().clear_cache(name)`](crate::Registry::clear_cache) does not reach: it reads
    /// as a key of a cache named `<name>:` (see [`is_under_prefix`](crate::is_under_prefix)).
    ///
    /// ```
    /// use cachex_runtime::__private::{CacheSite, Plain};
    /// use cachex_runtime::{registry, MemoryStore, Store};
    ///
    /// static SITE: CacheSite = CacheSite::new("doc-display", "doc-store-2");
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = MemoryStore::new(100);
    /// registry().set_store("doc-store-2", store.clone());
    /// let v = SITE.remote_display("user-7", async { Plain(7u64) }).await;
    /// assert_eq!(v.0, 7);
    /// assert!(store.get("doc-display:user-7").await?.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn remote_display<K, R, Fut>(&'static self, key: &K, compute: Fut) -> R
    where
        K: fmt::Display + ?Sized,
        R: Outcome,
        R::Value: Serialize + DeserializeOwned + Send + Sync + 'static,
        Fut: Future<Output = R>,
    {
        self.remote_keyed(key.to_string(), compute).await
    }

    async fn remote_keyed<R, Fut>(&'static self, key: String, compute: Fut) -> R
    where
        R: Outcome,
        R::Value: Serialize + DeserializeOwned + Send + Sync + 'static,
        Fut: Future<Output = R>,
    {
        let stats = self.stats();
        let flights = self.flights.get_or_init(Flights::default);
        let Some(store) = crate::store::named().get(self.store) else {
            if !self.warned.swap(true, Relaxed) {
                tracing::warn!(
                    cache = self.name(),
                    store = self.store,
                    "cachex: no store is registered under this name; the function runs uncached \
                     (register one with registry().set_store)"
                );
            }
            stats.misses.add(1);
            return compute.await;
        };
        let key = format!("{}:{key}", self.name());

        // A hit costs one store read and no flight bookkeeping.
        let first = self.read::<R::Value>(&*store, &key).await;
        if let Read::Hit(v) = first {
            stats.hits.add(1);
            return R::from_cached(v);
        }

        let leader = loop {
            match flights.join(&key, || None::<Infallible>) {
                Join::Lead(leader) => break leader,
                Join::Ready(never) => match never {},
                Join::Follow(rx) => match flight::wait(rx).await {
                    Waited::Value((bytes, hit)) => {
                        if let Some(v) = decode::<R::Value>(&bytes) {
                            if hit {
                                stats.hits.add(1);
                            } else {
                                stats.misses.add(1);
                            }
                            return R::from_cached(v);
                        }
                        // Not decodable as this type (cannot happen for one site): start over.
                    }
                    Waited::Failed => {
                        // The leader's outcome is not shareable: run this caller's own body
                        // now, without waiting for anyone.
                        stats.misses.add(1);
                        let generation = stats.generation();
                        let out = compute.await;
                        if let Some(Ok(bytes)) = out.cacheable().map(encode) {
                            if !matches!(first, Read::Failed) {
                                self.write(&*store, &key, &bytes, generation).await;
                            }
                        }
                        return out;
                    }
                    // Start over: one waiter leads next.
                    Waited::Abandoned => {}
                },
            }
        };

        // A flight that finished between the first read and `join` has written the value: read
        // again, but only after a clean miss, so a failing or slow store is waited on once.
        if matches!(first, Read::Miss) {
            if let Read::Hit(v) = self.read::<R::Value>(&*store, &key).await {
                stats.hits.add(1);
                match encode(&v) {
                    Ok(bytes) => leader.finish((bytes.into(), true)),
                    Err(_) => leader.fail(),
                }
                return R::from_cached(v);
            }
        }

        stats.misses.add(1);
        let generation = stats.generation();
        let out = compute.await;
        let bytes = match out.cacheable().map(encode) {
            Some(Ok(bytes)) => bytes,
            Some(Err(e)) => {
                tracing::debug!(cache = self.name(), error = %e, "cachex: value not encodable; not cached");
                leader.fail();
                return out;
            }
            None => {
                leader.fail();
                return out;
            }
        };
        // After a failed read the store is not waited on a second time: the call stays within
        // one store operation's bound while the store is down or slow.
        if !matches!(first, Read::Failed) && !self.write(&*store, &key, &bytes, generation).await {
            // Cleared while the body ran: the waiters compute afresh, in one new flight.
            leader.abandon();
            return out;
        }
        if stats.is_current(generation) {
            leader.finish((bytes.into(), false));
        } else {
            leader.abandon();
        }
        out
    }

    /// Writes `bytes` under `key` unless the cache was cleared since `generation` was read;
    /// `false` when it was (nothing is left in the store). A clear that starts during the write
    /// is seen afterwards, and the value is deleted again.
    async fn write(&self, store: &dyn Store, key: &str, bytes: &[u8], generation: u64) -> bool {
        let Some(name) = self.stats.get() else {
            return false;
        };
        if !name.is_current(generation) {
            return false;
        }
        if let Err(e) = store.set(key, bytes, self.ttl).await {
            tracing::debug!(cache = self.name(), error = %e, "cachex: store write failed");
        }
        if name.is_current(generation) {
            return true;
        }
        if let Err(e) = store.delete(key).await {
            tracing::debug!(cache = self.name(), error = %e, "cachex: store delete failed");
        }
        false
    }

    /// One store read, classified. Failures and undecodable values are logged at debug level.
    async fn read<V: DeserializeOwned>(&self, store: &dyn Store, key: &str) -> Read<V> {
        match store.get(key).await {
            // `decode` logs why a value does not decode; it is overwritten after the body runs.
            Ok(Some(bytes)) => decode(&bytes).map_or(Read::Undecodable, Read::Hit),
            Ok(None) => Read::Miss,
            Err(e) => {
                tracing::debug!(cache = self.name(), error = %e, "cachex: store read failed; running the function");
                Read::Failed
            }
        }
    }
}

/// What a store read found.
enum Read<V> {
    Hit(V),
    /// Nothing under the key.
    Miss,
    /// A value that does not decode (garbage, another format version, another type).
    Undecodable,
    /// The store failed (or timed out).
    Failed,
}

/// The memory path after a miss or on a stale entry: join or lead the key's flight. With a
/// `stale` value at hand, a failing body (of this caller or of the flight it waited for)
/// returns the stale value instead, counted as a stale hit rather than a miss.
async fn memory_miss<K, R, Fut>(
    map: &'static FifoMap<K, R::Value>,
    key: Arc<K>,
    compute: Fut,
    stale: Option<R::Value>,
) -> R
where
    K: Hash + Eq + Send + Sync + 'static,
    R: Outcome,
    R::Value: Clone + Send + Sync + 'static,
    Fut: Future<Output = R>,
{
    let name = &map.name;
    // A stale answer counts as a stale hit, so the miss is counted once the answer is known.
    let fallback = |out: R, stale: Option<R::Value>| -> R {
        match stale {
            Some(v) if out.cacheable().is_none() => {
                name.stale_hits.add(1);
                R::from_cached(v)
            }
            Some(_) => {
                name.misses.add(1);
                out
            }
            None => out,
        }
    };
    if stale.is_none() {
        name.misses.add(1);
    }
    let leader = loop {
        match map.flights.join(&key, || map.get(&key)) {
            Join::Ready(v) => return fallback(R::from_cached(v), stale),
            Join::Lead(leader) => break leader,
            Join::Follow(rx) => match flight::wait(rx).await {
                Waited::Value(v) => return fallback(R::from_cached(v), stale),
                Waited::Failed => {
                    if let Some(v) = stale {
                        // The flight's body failed just now: do not run it again.
                        name.stale_hits.add(1);
                        return R::from_cached(v);
                    }
                    // The leader's outcome is not shareable: run this caller's own body now.
                    let generation = name.generation();
                    let out = compute.await;
                    if let Some(v) = out.cacheable() {
                        map.insert(key, v.clone(), generation);
                    }
                    return out;
                }
                // Start over: one waiter leads next.
                Waited::Abandoned => {}
            },
        }
    };
    let generation = name.generation();
    let out = compute.await;
    match out.cacheable() {
        // Into the map before leaving the flight, so no caller in between runs the body.
        Some(v) => {
            if map.insert(Arc::clone(&key), v.clone(), generation) {
                leader.finish(v.clone());
            } else {
                // Cleared while the body ran: the waiters compute afresh, in one new flight.
                leader.abandon();
            }
        }
        None => leader.fail(),
    }
    fallback(out, stale)
}

/// A call on a stale entry with `soft_timeout`: the body runs as a background task from its
/// start (so dropping the caller never cancels it, and its value refreshes the entry); the call
/// waits at most `wait` for it, then answers with the stale value. A failing body answers with
/// the stale value too. Outside a runtime, with a refresh of the key already running, or with
/// every refresh slot taken, the call does not start a second body: it runs it itself (no
/// runtime, no slot) or answers stale at once (one running).
async fn soft_timed<K, R, Fut>(
    map: &'static FifoMap<K, R::Value>,
    key: K,
    compute: Fut,
    stale: R::Value,
    wait: Duration,
) -> R
where
    K: Hash + Eq + Send + Sync + 'static,
    R: Outcome + Send + 'static,
    R::Value: Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return memory_miss(map, Arc::new(key), compute, Some(stale)).await;
    };
    let key = Arc::new(key);
    let running = match Running::start(map, &key) {
        Ok(running) => running,
        Err(Busy::Key) => {
            map.name.stale_hits.add(1);
            return R::from_cached(stale);
        }
        Err(Busy::Slots) => return memory_miss(map, key, compute, Some(stale)).await,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    handle.spawn(async move {
        let out = refresh::run(running, compute).await;
        // The caller may be gone; the entry is refreshed either way.
        let _ = tx.send(out);
    });
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(out)) if out.cacheable().is_some() => {
            map.name.misses.add(1);
            out
        }
        // Failed, panicked, or not answered in time.
        _ => {
            map.name.stale_hits.add(1);
            R::from_cached(stale)
        }
    }
}

/// The fail-safe settings of a site (all `None`: a plain cache).
#[derive(Debug, Clone, Copy)]
struct FailSafe {
    stale_if_error: Option<Duration>,
    stale_while_revalidate: Option<Duration>,
    refresh_ahead: Option<Duration>,
    soft_timeout: Option<Duration>,
}

impl FailSafe {
    const NONE: FailSafe = FailSafe {
        stale_if_error: None,
        stale_while_revalidate: None,
        refresh_ahead: None,
        soft_timeout: None,
    };

    /// How long past its TTL an entry is kept: the longer of the two stale windows.
    fn max_stale(&self) -> Duration {
        let a = self.stale_if_error.unwrap_or(Duration::ZERO);
        let b = self.stale_while_revalidate.unwrap_or(Duration::ZERO);
        a.max(b)
    }
}

/// The future of a memory-backed call: ready at once on a hit, the boxed miss path otherwise.
#[derive(Debug)]
pub enum Memory<R, M> {
    /// The cached value.
    Hit(std::future::Ready<R>),
    /// The miss path: single-flight, then the body.
    Miss(Pin<Box<M>>),
}

impl<R, M: Future<Output = R>> Future for Memory<R, M> {
    type Output = R;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        // Both variants are `Unpin` (`Ready` always, the miss behind its box).
        match self.get_mut() {
            Memory::Hit(ready) => Pin::new(ready).poll(cx),
            Memory::Miss(miss) => miss.as_mut().poll(cx),
        }
    }
}

impl CacheSiteOps for CacheSite {
    fn len(&self) -> u64 {
        self.map_ops().map_or(0, MapOps::len)
    }

    fn evictions(&self) -> u64 {
        self.map_ops().map_or(0, MapOps::evictions)
    }

    fn clear(&self) {
        if let Some(ops) = self.map_ops() {
            ops.clear();
        }
    }

    fn store_name(&self) -> Option<&'static str> {
        self.flights.get().map(|_| self.store)
    }

    fn in_flight(&self) -> usize {
        let memory = self.map_ops().map_or(0, MapOps::in_flight);
        let store = self.flights.get().map_or(0, Flights::len);
        memory.saturating_add(store)
    }
}
