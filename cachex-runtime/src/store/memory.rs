//! The in-process byte store: bounded by entry count, with per-entry TTL.
//!
//! Eviction (by capacity) and the release of expired entries are left to a concurrent cache
//! crate. Expiry is also checked on every read against tokio's clock, so a TTL is exact to the
//! millisecond and tests that pause tokio's time see entries expire.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{is_under_prefix, ttl_millis, BoxFuture, Store};
use crate::Error;

#[derive(Clone)]
struct Item {
    bytes: Arc<[u8]>,
    ttl: Option<Duration>,
    expires: Option<Instant>,
}

impl Item {
    fn is_live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

/// Lets the backing cache drop expired entries by itself (it keeps its own clock; reads check
/// tokio's).
struct ItemExpiry;

impl moka::Expiry<String, Item> for ItemExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        item: &Item,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        item.ttl
    }

    fn expire_after_update(
        &self,
        _key: &String,
        item: &Item,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        item.ttl
    }
}

/// An in-process [`Store`] of at most `capacity` entries, each with an optional TTL. Clones share
/// the same entries.
///
/// Keys are kept as `<prefix>:<key>` (prefix `"cachex"` unless [`with_prefix`](Self::with_prefix)
/// says otherwise), the same layout as other stores. When full, the entries least likely to be
/// used again are evicted first. The registry holds one as the store `"memory"` from the start.
///
/// ```
/// use cachex_runtime::{MemoryStore, Store};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
/// let store = MemoryStore::new(10_000);
/// store.set("users:1", b"alice", Some(Duration::from_secs(60))).await?;
/// store.set("users:2", b"bob", None).await?;
/// assert_eq!(store.get("users:1").await?.as_deref(), Some(&b"alice"[..]));
/// assert_eq!(store.clear_prefix("users:").await?, 2);
/// assert_eq!(store.get("users:2").await?, None);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    entries: moka::sync::Cache<String, Item>,
    prefix: Arc<str>,
    capacity: u64,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("prefix", &self.prefix)
            .field("capacity", &self.capacity)
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl MemoryStore {
    /// A store that holds at most `capacity` entries.
    ///
    /// ```
    /// # use cachex_runtime::MemoryStore;
    /// let store = MemoryStore::new(1_000);
    /// assert_eq!(store.capacity(), 1_000);
    /// ```
    pub fn new(capacity: u64) -> Self {
        MemoryStore {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(ItemExpiry)
                .build(),
            prefix: Arc::from("cachex"),
            capacity,
        }
    }

    /// The same store with keys kept under `prefix` instead of `"cachex"` (entries already held
    /// stay under the old prefix).
    ///
    /// ```
    /// # use cachex_runtime::MemoryStore;
    /// let store = MemoryStore::new(100).with_prefix("myapp");
    /// assert_eq!(store.prefix(), "myapp");
    /// ```
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    /// The prefix in front of every key.
    ///
    /// ```
    /// # use cachex_runtime::MemoryStore;
    /// assert_eq!(MemoryStore::new(100).prefix(), "cachex");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The most entries the store holds.
    ///
    /// ```
    /// # use cachex_runtime::MemoryStore;
    /// assert_eq!(MemoryStore::new(5).capacity(), 5);
    /// ```
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Entries held, approximately (expired entries may be counted until they are released).
    ///
    /// ```
    /// # use cachex_runtime::{MemoryStore, Store};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = MemoryStore::new(100);
    /// store.set("a", b"1", None).await?;
    /// assert_eq!(store.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// True when [`len`](Self::len) is zero.
    ///
    /// ```
    /// # use cachex_runtime::MemoryStore;
    /// assert!(MemoryStore::new(100).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn full_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(
            self.prefix
                .len()
                .saturating_add(1)
                .saturating_add(key.len()),
        );
        k.push_str(&self.prefix);
        k.push(':');
        k.push_str(key);
        k
    }

    fn get_now(&self, key: &str) -> Option<Vec<u8>> {
        let item = self.entries.get(&self.full_key(key))?;
        item.is_live(Instant::now()).then(|| item.bytes.to_vec())
    }

    fn set_now(&self, key: &str, value: &[u8], ttl: Option<Duration>) {
        // Whole milliseconds, at least 1 ms, like every store.
        let ttl = ttl.map(|t| Duration::from_millis(ttl_millis(t)));
        let item = Item {
            bytes: Arc::from(value),
            ttl,
            // A TTL too large for the clock means "never expires".
            expires: ttl.and_then(|t| Instant::now().checked_add(t)),
        };
        self.entries.insert(self.full_key(key), item);
    }

    fn delete_now(&self, key: &str) -> bool {
        self.entries
            .remove(&self.full_key(key))
            .is_some_and(|item| item.is_live(Instant::now()))
    }

    fn clear_prefix_now(&self, prefix: &str) -> u64 {
        let full = self.full_key(prefix);
        let now = Instant::now();
        let mut removed = 0u64;
        for (key, _) in self.entries.iter() {
            if is_under_prefix(&key, &full) {
                if let Some(item) = self.entries.remove(&*key) {
                    removed = removed.saturating_add(u64::from(item.is_live(now)));
                }
            }
        }
        removed
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, Error>> {
        Box::pin(async move { Ok(self.get_now(key)) })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            self.set_now(key, value, ttl);
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move { Ok(self.delete_now(key)) })
    }

    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async move { Ok(self.clear_prefix_now(prefix)) })
    }

    /// Clones share the entries and the prefix; [`with_prefix`](Self::with_prefix) makes a
    /// store with another identity.
    fn store_id(&self) -> usize {
        Arc::as_ptr(&self.prefix).cast::<()>() as usize
    }
}
