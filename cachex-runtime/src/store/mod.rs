//! Byte stores behind `#[cached(store = ...)]` and [`Cache`](crate::Cache): the [`Store`] trait,
//! the in-process [`MemoryStore`] and (feature `redis`) the [`RedisStore`].
//!
//! A store sees keys without its own prefix: it adds the prefix itself, so the same cache can be
//! pointed at stores with different prefixes.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::sync::RwLock;
use crate::Error;

mod memory;
pub use memory::MemoryStore;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{RedisStore, RedisStoreBuilder};

/// A boxed, `Send` future: what [`Store`] methods return, so the trait stays object safe.
///
/// ```
/// use cachex_runtime::{BoxFuture, Error};
/// fn answer<'a>() -> BoxFuture<'a, Result<u32, Error>> {
///     Box::pin(async { Ok(42) })
/// }
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An async key-value store of bytes with per-entry TTL.
///
/// The trait is object safe (`Arc<dyn Store>` is how the registry holds stores). Keys are given
/// without the store's prefix; the store adds it. Implementations must never panic on bad input:
/// a failure is an [`Error`].
///
/// ```
/// use cachex_runtime::{MemoryStore, Store};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
/// let store = MemoryStore::new(1_000);
/// store.set("users:1", b"alice", Some(Duration::from_secs(60))).await?;
/// assert_eq!(store.get("users:1").await?.as_deref(), Some(&b"alice"[..]));
/// assert!(store.delete("users:1").await?);
/// # Ok(()) }
/// ```
pub trait Store: Send + Sync + 'static {
    /// The bytes under `key`, or `None` when absent or expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, Error>>;

    /// Stores `value` under `key`, replacing what was there. `ttl` of `None` keeps it until
    /// evicted; a TTL is set atomically with the value, in whole milliseconds (at least 1 ms).
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// Removes `key`; `true` when a value was removed.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, Error>>;

    /// Removes the keys under `prefix` (given without the store's own prefix) and returns how
    /// many were removed.
    ///
    /// A prefix that ends with `:` names one cache: it removes `<prefix><rest>` for every `rest`
    /// that does not start with `:` (see [`is_under_prefix`]), so clearing `svc::users:` leaves
    /// the keys of `svc::users::admins` (`svc::users::admins:<key>`) alone. Any other prefix
    /// removes every key that starts with it.
    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>>;

    /// Handles that return the same id share their entries under the same prefix (clones of one
    /// store), so the registry sweeps them once when a cache is cleared, however many caches
    /// were built on clones of it. The default, the address of `self`, is right for a store
    /// that is not a handle onto shared state; a cloneable handle returns the address of what
    /// its clones share.
    ///
    /// ```
    /// use cachex_runtime::{MemoryStore, Store};
    /// let store = MemoryStore::new(100);
    /// assert_eq!(store.store_id(), store.clone().store_id());
    /// assert_ne!(store.store_id(), MemoryStore::new(100).store_id());
    /// ```
    fn store_id(&self) -> usize {
        std::ptr::from_ref(self).cast::<()>() as usize
    }
}

/// Whether `key` is one of the keys [`Store::clear_prefix`]`(prefix)` removes: it starts with
/// `prefix`, and when `prefix` ends with `:` (a cache name and its separator), what follows does
/// not start with another `:`.
///
/// Keys of cache `N` are `N:<key>`, and a default `#[cached]` key (JSON, or `#` and hex) never
/// starts with `:`, so a cache's clear never reaches a cache whose name extends it with `:`
/// (`N::child`). The one key it misses: a `key = <expr>` whose `Display` starts with `:`.
///
/// ```
/// use cachex_runtime::is_under_prefix;
/// assert!(is_under_prefix("svc::users:42", "svc::users:"));
/// assert!(is_under_prefix("svc::users:", "svc::users:"));
/// assert!(!is_under_prefix("svc::users::admins:42", "svc::users:"));
/// assert!(is_under_prefix("usersettings", "users"));
/// ```
pub fn is_under_prefix(key: &str, prefix: &str) -> bool {
    match key.strip_prefix(prefix) {
        None => false,
        Some(rest) => !(prefix.ends_with(':') && rest.starts_with(':')),
    }
}

/// Capacity (entries) of the `"memory"` store that the registry holds from the start.
pub(crate) const DEFAULT_MEMORY_STORE_CAPACITY: u64 = 100_000;

/// The name of the typed in-process tier of `#[cached]`; the registry's byte store of that name
/// cannot be replaced.
pub(crate) const MEMORY: &str = "memory";

/// Stores by name, as `#[cached(store = "...")]` finds them. The registry delegates to the
/// process-wide one ([`named`]); tests build their own.
pub(crate) struct NamedStores {
    stores: RwLock<HashMap<String, Arc<dyn Store>>>,
}

impl fmt::Debug for NamedStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> = self.stores.read().keys().cloned().collect();
        names.sort();
        f.debug_struct("NamedStores")
            .field("stores", &names)
            .finish()
    }
}

impl Default for NamedStores {
    fn default() -> Self {
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new(DEFAULT_MEMORY_STORE_CAPACITY));
        NamedStores {
            stores: RwLock::new(HashMap::from([(MEMORY.to_owned(), memory)])),
        }
    }
}

impl NamedStores {
    /// Registers (or replaces) the store called `name`. "memory" is refused: `#[cached]`
    /// functions on "memory" use their typed per-function maps, not a byte store, so replacing
    /// it would change nothing they do.
    pub(crate) fn set(&self, name: &str, store: Arc<dyn Store>) -> Result<(), Error> {
        if name == MEMORY {
            return Err(Error::invalid(
                "store \"memory\" cannot be replaced: it names the typed in-process tier of \
                 #[cached] (one FIFO map per function, no serialisation); register the store \
                 under another name and use #[cached(store = \"<that name>\")]",
            ));
        }
        self.stores.write().insert(name.to_owned(), store);
        Ok(())
    }

    /// The store called `name`, if one is registered.
    /// The table itself, for the registry's snapshot and the test guard.
    pub(crate) fn map(&self) -> &RwLock<HashMap<String, Arc<dyn Store>>> {
        &self.stores
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn Store>> {
        self.stores.read().get(name).cloned()
    }
}

/// The process-wide store table.
pub(crate) fn named() -> &'static NamedStores {
    static NAMED: LazyLock<NamedStores> = LazyLock::new(NamedStores::default);
    &NAMED
}

/// TTL in whole milliseconds, at least 1 ms (a zero TTL would mean "no TTL" to some backends).
pub(crate) fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
