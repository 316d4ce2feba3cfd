//! The typed in-process map behind `#[cached]` with the memory store (`store = "memory"`, the
//! default): one map per function, keyed and valued by the function's own types.
//!
//! Reads are lock-free (a concurrent hash map whose readers only touch thread-local epoch state),
//! so a hit writes to no cache line that another thread reads: two threads on one hot key scale.
//! That rules out recency tracking on a hit, so eviction is first-in, first-out: when an insert
//! takes the map past `capacity`, the oldest insertions are removed. With one TTL per function
//! the oldest entry is also the one closest to expiring. TTLs are checked on read against tokio's
//! clock (an expired entry is a miss and is replaced by the next insert), so tests can pause time.
//! With a stale window (`stale_if_error`, `stale_while_revalidate`), an entry past its TTL is
//! kept that much longer and [`FifoMap::lookup`] reports it as stale instead of missing.

use std::any::Any;
use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::flight::Flights;
use super::names::CacheName;
use crate::sync::Mutex;

type Hasher = foldhash::fast::RandomState;

struct Entry<V> {
    value: V,
    expires: Option<Instant>,
    /// Insertion number, to tell this entry from a later one under the same key.
    stamp: u64,
}

/// Insertion order, for FIFO eviction.
struct Order<K> {
    queue: VecDeque<(Arc<K>, u64)>,
    next_stamp: u64,
}

/// One `#[cached]` function's map: key type `K`, value type `V`, first-in first-out eviction.
pub(crate) struct FifoMap<K, V> {
    map: papaya::HashMap<Arc<K>, Entry<V>, Hasher>,
    order: Mutex<Order<K>>,
    ttl: Option<Duration>,
    /// How long past its TTL an entry is still served as stale (zero: not at all).
    max_stale: Duration,
    capacity: usize,
    evictions: AtomicU64,
    /// Counters and clear generation of the cache name (shared by every function of that name).
    pub(crate) name: Arc<CacheName>,
    pub(crate) flights: Flights<Arc<K>, V>,
    /// Keys whose background refresh is running: at most one per key.
    refreshing: Mutex<HashSet<Arc<K>, Hasher>>,
}

/// What [`FifoMap::lookup`] found under a key.
pub(crate) enum Found<V> {
    /// A live value, and how long it stays fresh (`None` without a TTL).
    Fresh(V, Option<Duration>),
    /// A value past its TTL but inside the stale window, and how long past its TTL it is.
    Stale(V, Duration),
    /// Nothing usable.
    Miss,
}

/// What the cache-name table does with a map without knowing its types.
pub(crate) trait MapOps: Send + Sync {
    fn len(&self) -> u64;
    fn evictions(&self) -> u64;
    fn clear(&self);
    fn in_flight(&self) -> usize;
}

impl<K, V> FifoMap<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(
        ttl: Option<Duration>,
        max_stale: Duration,
        capacity: u64,
        name: Arc<CacheName>,
    ) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        FifoMap {
            map: papaya::HashMap::builder()
                .hasher(Hasher::default())
                .capacity(capacity.min(1024))
                .build(),
            order: Mutex::new(Order {
                queue: VecDeque::new(),
                next_stamp: 0,
            }),
            ttl,
            max_stale,
            capacity,
            evictions: AtomicU64::new(0),
            name,
            flights: Flights::default(),
            refreshing: Mutex::new(HashSet::with_hasher(Hasher::default())),
        }
    }

    /// The value under `key`, fresh or stale. One clock read, and only when the function has a
    /// TTL; no allocation beyond the clone of the value.
    #[inline]
    pub(crate) fn lookup(&self, key: &K) -> Found<V> {
        let map = self.map.pin();
        let Some(entry) = map.get(key) else {
            return Found::Miss;
        };
        let Some(fresh_until) = entry.expires else {
            return Found::Fresh(entry.value.clone(), None);
        };
        let now = Instant::now();
        if now < fresh_until {
            return Found::Fresh(
                entry.value.clone(),
                Some(fresh_until.saturating_duration_since(now)),
            );
        }
        let age = now.saturating_duration_since(fresh_until);
        if age < self.max_stale {
            Found::Stale(entry.value.clone(), age)
        } else {
            Found::Miss
        }
    }

    /// Marks `key` as being refreshed; `false` when a refresh of it is running already.
    pub(crate) fn begin_refresh(&self, key: &Arc<K>) -> bool {
        self.refreshing.lock().insert(Arc::clone(key))
    }

    /// Ends the refresh of `key` that [`begin_refresh`](Self::begin_refresh) marked.
    pub(crate) fn end_refresh(&self, key: &K) {
        self.refreshing.lock().remove(key);
    }

    /// The live value under `key`. Reads the clock only when the function has a TTL.
    #[inline]
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let map = self.map.pin();
        let entry = map.get(key)?;
        if let Some(expires) = entry.expires {
            if Instant::now() >= expires {
                return None;
            }
        }
        Some(entry.value.clone())
    }

    /// Stores `value` under `key` (replacing what was there) and evicts the oldest insertions
    /// beyond `capacity`, unless the cache was cleared since `generation` was read (then
    /// `false`: nothing is stored).
    pub(crate) fn insert(&self, key: Arc<K>, value: V, generation: u64) -> bool {
        if self.capacity == 0 {
            return true;
        }
        // A TTL too large for the clock means "never expires".
        let expires = self.ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        let mut order = self.order.lock();
        // Checked under the lock that `clear` takes after moving the generation: either this
        // sees the new generation, or the clear comes after this insert and removes it.
        if !self.name.is_current(generation) {
            return false;
        }
        let stamp = order.next_stamp;
        order.next_stamp = order.next_stamp.wrapping_add(1);
        let map = self.map.pin();
        map.insert(
            Arc::clone(&key),
            Entry {
                value,
                expires,
                stamp,
            },
        );
        order.queue.push_back((key, stamp));
        while map.len() > self.capacity {
            let Some((old, old_stamp)) = order.queue.pop_front() else {
                break;
            };
            // A queued key whose entry was replaced since is stale: skip it.
            if let Ok(Some(_)) = map.remove_if(&*old, |_, e| e.stamp == old_stamp) {
                self.evictions.fetch_add(1, Relaxed);
            }
        }
        // Replacements leave stale queue items behind; drop them once they pile up.
        if order.queue.len() > self.capacity.saturating_mul(2).saturating_add(64) {
            order
                .queue
                .retain(|(k, s)| map.get(&**k).is_some_and(|e| e.stamp == *s));
        }
        true
    }
}

impl<K, V> MapOps for FifoMap<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn len(&self) -> u64 {
        self.map.len() as u64
    }

    fn evictions(&self) -> u64 {
        self.evictions.load(Relaxed)
    }

    fn clear(&self) {
        let mut order = self.order.lock();
        self.map.pin().clear();
        order.queue.clear();
    }

    fn in_flight(&self) -> usize {
        self.flights.len()
    }
}

/// A map with its types erased: `any` is downcast on the hot path, `ops` serves the registry.
pub(crate) struct Erased {
    pub(crate) any: Arc<dyn Any + Send + Sync>,
    pub(crate) ops: Arc<dyn MapOps>,
}

impl Erased {
    pub(crate) fn new<K, V>(map: FifoMap<K, V>) -> Self
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let map = Arc::new(map);
        Erased {
            any: Arc::clone(&map) as Arc<dyn Any + Send + Sync>,
            ops: map,
        }
    }
}
