//! Byte stores behind `#[cached(store = ...)]` and [`Cache`](crate::Cache): the [`Store`] trait,
//! the in-process [`MemoryStore`] and (feature `redis`) the [`RedisStore`].
//!
//! A store sees keys without its own prefix: it adds the prefix itself, so the same cache can be
//! pointed at stores with different prefixes.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

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

    /// Removes every key that starts with `prefix` (given without the store's own prefix) and
    /// returns how many were removed.
    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>>;
}

/// TTL in whole milliseconds, at least 1 ms (a zero TTL would mean "no TTL" to some backends).
pub(crate) fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
