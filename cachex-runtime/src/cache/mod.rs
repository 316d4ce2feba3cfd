//! Caching: the typed [`Cache`] over any [`Store`] and the statistics users read
//! ([`CacheStats`]). Inside: `site`, the call sites that `#[cached]` generates code against;
//! `fifo`, their typed in-process maps; `flight`, single-flight; `key`, default store keys;
//! `names`, the table of cache names that the registry reads and clears.
//!
//! Values that go to a store are encoded as one format-version byte followed by MessagePack with
//! field names (see [`encode`]). Bytes that do not decode as the expected type — garbage, another
//! format version, a value of another type — are a miss, never an error or a panic.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io::Cursor;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use self::flight::{Flights, Join, Waited};
use self::names::CacheName;
use crate::{BoxFuture, Error, Store};

pub(crate) mod decl;
mod fifo;
mod flight;
mod key;
pub(crate) mod names;
mod refresh;
pub(crate) mod site;

/// The format-version byte in front of every encoded value. Bump it when the encoding changes:
/// values written by an older build then read as misses and are overwritten.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Encodes `value` as the format-version byte followed by MessagePack with field names.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64);
    out.push(FORMAT_VERSION);
    rmp_serde::encode::write_named(&mut out, value).map_err(|e| Error::Serialization {
        message: e.to_string(),
    })?;
    Ok(out)
}

/// Decodes what [`encode`] produced. Anything else — empty, another version byte, bytes that are
/// not a `T`, trailing bytes — is `None`, logged at debug level.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let Some((&version, body)) = bytes.split_first() else {
        tracing::debug!("cachex: empty cached value, treated as a miss");
        return None;
    };
    if version != FORMAT_VERSION {
        tracing::debug!(
            version,
            expected = FORMAT_VERSION,
            "cachex: cached value has another format version, treated as a miss"
        );
        return None;
    }
    let mut de = rmp_serde::Deserializer::new(Cursor::new(body));
    match T::deserialize(&mut de) {
        // Trailing bytes mean the value was written as some other type.
        Ok(v) if u64::try_from(body.len()).is_ok_and(|len| de.position() == len) => Some(v),
        Ok(_) => {
            tracing::debug!(
                type_name = std::any::type_name::<T>(),
                "cachex: cached value has trailing bytes, treated as a miss"
            );
            None
        }
        Err(e) => {
            tracing::debug!(
                type_name = std::any::type_name::<T>(),
                error = %e,
                "cachex: cached value does not decode, treated as a miss"
            );
            None
        }
    }
}

/// Hit and miss counts of one cache name, as [`registry().cache_stats(name)`](crate::Registry::cache_stats)
/// reports them.
///
/// Every call of a `#[cached]` function counts once: a *hit* when a fresh value came from the
/// cache (memory or store), a *stale hit* when a stale value answered it, a *miss* otherwise (callers that waited for a concurrent miss of the same
/// key count as misses too). [`Cache::get`] on a cache made with [`Cache::with_name`] counts as
/// well.
///
/// ```
/// use cachex_runtime::CacheStats;
///
/// let stats = CacheStats { hits: 3, misses: 1, ..CacheStats::default() };
/// assert_eq!(stats.hit_rate(), 75.0);
/// assert_eq!(CacheStats::default().hit_rate(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls answered from the cache.
    pub hits: u64,
    /// Calls that were not (the function body ran, or the caller waited for a concurrent run).
    pub misses: u64,
    /// Entries held in process memory by the `#[cached]` functions of this name (expired entries
    /// included until they are replaced or evicted). Entries in other stores are not counted.
    pub entries: u64,
    /// Entries evicted from process memory to keep within `capacity`.
    pub evictions: u64,
    /// Calls answered with a stale value (`stale_if_error`, `stale_while_revalidate`,
    /// `soft_timeout`); counted apart from `hits` and `misses`.
    pub stale_hits: u64,
    /// Background refreshes started (`stale_while_revalidate`, `refresh_ahead`, and the body of
    /// a call with `soft_timeout` and a stale value at hand).
    pub refreshes: u64,
    /// Background refreshes that failed (`Err`, `None`, a panic); the stale value is kept.
    pub refresh_failures: u64,
}

impl CacheStats {
    /// Hits as a percentage (0.0..=100.0) of all lookups; 0.0 before the first lookup.
    ///
    /// ```
    /// # use cachex_runtime::CacheStats;
    /// let stats = CacheStats { hits: 1, misses: 3, ..CacheStats::default() };
    /// assert_eq!(stats.hit_rate(), 25.0);
    /// ```
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits.saturating_add(self.misses);
        if total == 0 {
            0.0
        } else {
            self.hits as f64 * 100.0 / total as f64
        }
    }
}

/// A typed cache over a [`Store`]: values of type `T` are encoded as a format-version byte plus
/// MessagePack with field names, so any process that shares the store can read them.
///
/// A value that does not decode as `T` (written by another type, another format version, or
/// garbage) reads as `None` and is replaced by the next [`set`](Cache::set). Store failures are
/// returned as [`Error`]s (only `#[cached]` functions hide them).
///
/// ```
/// use cachex_runtime::{Cache, MemoryStore};
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct User { id: u64, name: String }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
/// let users: Cache<User> = Cache::with_name("users", MemoryStore::new(1_000));
/// let alice = User { id: 1, name: "alice".into() };
/// users.set("1", &alice, Some(Duration::from_secs(60))).await?;
/// assert_eq!(users.get("1").await?, Some(alice));
/// assert!(users.delete("1").await?);
/// assert_eq!(users.get("1").await?, None);
/// # Ok(()) }
/// ```
pub struct Cache<T> {
    store: Arc<dyn Store>,
    /// `""` or `"<name>:"`.
    prefix: String,
    /// Hit/miss counters of the name, for a named cache.
    stats: Option<Arc<CacheName>>,
    /// Loads in progress of [`Cache::get_or_load`], shared by the clones of this cache.
    flights: Arc<Flights<String, Arc<[u8]>>>,
    _value: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Cache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.prefix.strip_suffix(':').unwrap_or(""))
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Cache {
            store: Arc::clone(&self.store),
            prefix: self.prefix.clone(),
            stats: self.stats.clone(),
            flights: Arc::clone(&self.flights),
            _value: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Cache<T> {
    /// A cache whose keys go to `store` as they are (the store adds its own prefix:
    /// `<prefix>:<key>`).
    ///
    /// ```
    /// use cachex_runtime::{Cache, MemoryStore, Store};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = MemoryStore::new(100);
    /// let cache: Cache<u32> = Cache::new(store.clone());
    /// cache.set("answer", &42, None).await?;
    /// assert!(store.get("answer").await?.is_some()); // stored under the plain key
    /// # Ok(()) }
    /// ```
    pub fn new<S: Store>(store: S) -> Self {
        Cache {
            store: Arc::new(store),
            prefix: String::new(),
            stats: None,
            flights: Arc::default(),
            _value: PhantomData,
        }
    }

    /// A cache named `name`: keys go to `store` as `<name>:<key>` (so `<prefix>:<name>:<key>` in
    /// the store), hits and misses count in [`registry().cache_stats(name)`](crate::Registry::cache_stats),
    /// and [`registry().clear_cache(name)`](crate::Registry::clear_cache) clears them.
    ///
    /// The store is registered for clearing once per name and [`Store::store_id`]: building
    /// many caches on clones of one store (or on one `Arc<dyn Store>`) keeps one sweep.
    ///
    /// ```
    /// use cachex_runtime::{Cache, MemoryStore, Store};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = MemoryStore::new(100);
    /// let cache: Cache<String> = Cache::with_name("greetings", store.clone());
    /// cache.set("en", &"hello".to_string(), None).await?;
    /// assert!(store.get("greetings:en").await?.is_some());
    /// # Ok(()) }
    /// ```
    pub fn with_name<S: Store>(name: &str, store: S) -> Self {
        let store: Arc<dyn Store> = Arc::new(store);
        let entry = names::global().entry(name);
        entry.add_store(&store);
        Cache {
            store,
            prefix: format!("{name}:"),
            stats: Some(entry),
            flights: Arc::default(),
            _value: PhantomData,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The value under `key`, or `None` when absent, expired, or not decodable as `T`.
    ///
    /// ```
    /// # use cachex_runtime::{Cache, MemoryStore};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let cache: Cache<u64> = Cache::new(MemoryStore::new(100));
    /// assert_eq!(cache.get("missing").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, key: &str) -> Result<Option<T>, Error> {
        let bytes = self.store.get(&self.key(key)).await?;
        let value = bytes.and_then(|b| decode::<T>(&b));
        if let Some(stats) = &self.stats {
            if value.is_some() {
                stats.hits.add(1);
            } else {
                stats.misses.add(1);
            }
        }
        Ok(value)
    }

    /// Stores `value` under `key`; with `ttl` it expires after that long (whole milliseconds, at
    /// least 1 ms).
    ///
    /// ```
    /// # use cachex_runtime::{Cache, MemoryStore};
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let cache: Cache<Vec<u8>> = Cache::new(MemoryStore::new(100));
    /// cache.set("k", &vec![1, 2, 3], Some(Duration::from_secs(5))).await?;
    /// assert_eq!(cache.get("k").await?, Some(vec![1, 2, 3]));
    /// # Ok(()) }
    /// ```
    pub async fn set(&self, key: &str, value: &T, ttl: Option<Duration>) -> Result<(), Error> {
        let bytes = encode(value)?;
        self.store.set(&self.key(key), &bytes, ttl).await
    }

    /// The value under `key`, or the one `load` produces. A hit returns the cached value; a miss
    /// runs `load` once per key for this cache and its clones (concurrent callers wait for it and
    /// share its value), and stores an `Ok` value with `ttl`. An `Err` is returned and not
    /// cached (the waiting callers then run their own `load`). Store failures never fail the
    /// call: a failed read runs `load` (and skips the write-back, so a down store is waited on
    /// once), a failed write is logged at `debug`, and a value that does not decode is a miss
    /// and is overwritten.
    ///
    /// ```
    /// use cachex_runtime::{Cache, MemoryStore};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache: Cache<u64> = Cache::with_name("doc-get-or-load", MemoryStore::new(100));
    /// let ttl = Some(Duration::from_secs(60));
    /// let v: Result<u64, String> = cache.get_or_load("answer", ttl, || async { Ok(42) }).await;
    /// assert_eq!(v, Ok(42));
    /// // A hit: `load` does not run.
    /// let v: Result<u64, String> = cache.get_or_load("answer", ttl, || async { Ok(0) }).await;
    /// assert_eq!(v, Ok(42));
    /// # }
    /// ```
    pub async fn get_or_load<E, F, Fut>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        load: F,
    ) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let full = self.key(key);
        let count = |hit: bool| {
            if let Some(stats) = &self.stats {
                if hit {
                    stats.hits.add(1);
                } else {
                    stats.misses.add(1);
                }
            }
        };
        let first = self.store.get(&full).await;
        match &first {
            Ok(Some(bytes)) => {
                if let Some(v) = decode::<T>(bytes) {
                    count(true);
                    return Ok(v);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(key = %full, error = %e, "cachex: store read failed; loading");
            }
        }
        let store_ok = first.is_ok();
        let leader = loop {
            match self.flights.join(&full, || None::<Infallible>) {
                Join::Lead(leader) => break leader,
                Join::Ready(never) => match never {},
                Join::Follow(rx) => match flight::wait(rx).await {
                    Waited::Value(bytes) => {
                        if let Some(v) = decode::<T>(&bytes) {
                            count(false);
                            return Ok(v);
                        }
                    }
                    Waited::Failed => {
                        // The leader's error cannot be shared: load now, without a flight.
                        count(false);
                        let out = load().await;
                        if let (Ok(v), true) = (&out, store_ok) {
                            self.write_back(&full, v, ttl).await;
                        }
                        return out;
                    }
                    Waited::Abandoned => {}
                },
            }
        };
        // A load that finished between the first read and `join` has written the value.
        if matches!(first, Ok(None)) {
            if let Ok(Some(bytes)) = self.store.get(&full).await {
                if let Some(v) = decode::<T>(&bytes) {
                    count(true);
                    leader.finish(bytes.into());
                    return Ok(v);
                }
            }
        }
        count(false);
        let out = load().await;
        match &out {
            Ok(v) => match encode(v) {
                Ok(bytes) => {
                    if store_ok {
                        if let Err(e) = self.store.set(&full, &bytes, ttl).await {
                            tracing::debug!(key = %full, error = %e, "cachex: store write failed");
                        }
                    }
                    leader.finish(bytes.into());
                }
                Err(e) => {
                    tracing::debug!(key = %full, error = %e, "cachex: value not encodable; not cached");
                    leader.fail();
                }
            },
            Err(_) => leader.fail(),
        }
        out
    }

    /// Writes `value` back after a load; failures are logged, never returned.
    async fn write_back(&self, full: &str, value: &T, ttl: Option<Duration>) {
        let result = match encode(value) {
            Ok(bytes) => self.store.set(full, &bytes, ttl).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::debug!(key = %full, error = %e, "cachex: store write failed");
        }
    }

    /// Removes `key`; `true` when a value was removed.
    ///
    /// ```
    /// # use cachex_runtime::{Cache, MemoryStore};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let cache: Cache<bool> = Cache::new(MemoryStore::new(100));
    /// cache.set("flag", &true, None).await?;
    /// assert!(cache.delete("flag").await?);
    /// assert!(!cache.delete("flag").await?);
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, key: &str) -> Result<bool, Error> {
        self.store.delete(&self.key(key)).await
    }
}

/// A shared store is a store: lets one `Arc` (for example the one the registry holds) back
/// several [`Cache`]s.
///
/// ```
/// use cachex_runtime::{Cache, MemoryStore, Store};
/// use std::sync::Arc;
///
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new(100));
/// let a: Cache<u8> = Cache::with_name("a", Arc::clone(&store));
/// let b: Cache<u8> = Cache::with_name("b", store);
/// # let _ = (a, b);
/// ```
impl<S: Store + ?Sized> Store for Arc<S> {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, Error>> {
        (**self).get(key)
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        (**self).set(key, value, ttl)
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        (**self).delete(key)
    }

    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        (**self).clear_prefix(prefix)
    }

    fn store_id(&self) -> usize {
        (**self).store_id()
    }
}
