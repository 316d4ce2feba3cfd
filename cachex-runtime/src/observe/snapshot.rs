//! [`Snapshot`]: every breaker, cache, policy and store of the registry at one moment, as plain
//! data that serializes (with `serde`) to the JSON the admin dashboard and `/snapshot` serve.
//!
//! Durations are whole milliseconds (fields ending in `_ms`), wall-clock times are milliseconds
//! since the Unix epoch, states are the strings `"CLOSED"`, `"OPEN"` and `"HALF_OPEN"`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

use crate::{BreakerConfig, BreakerStats, CacheStats, CircuitBreaker, Policy, State};

/// The registry at one moment: what [`Registry::snapshot`](crate::Registry::snapshot) returns.
///
/// Each list is sorted by name. Serialized, it is a JSON object with the keys `breakers`,
/// `caches`, `policies` and `stores`.
///
/// ```
/// use cachex_runtime::registry;
///
/// registry().breaker("doc-snapshot");
/// let snap = registry().snapshot();
/// assert!(snap.breakers.iter().any(|b| b.name == "doc-snapshot"));
/// let json = serde_json::to_value(&snap).unwrap();
/// assert_eq!(json["policies"].as_array().unwrap().len(), snap.policies.len());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// Every breaker of the registry.
    pub breakers: Vec<BreakerSnapshot>,
    /// Every cache name: declared by `#[cached]` or used by a named [`Cache`](crate::Cache).
    pub caches: Vec<CacheSnapshot>,
    /// Every retry policy.
    pub policies: Vec<PolicySnapshot>,
    /// Every registered store.
    pub stores: Vec<StoreSnapshot>,
}

/// One breaker in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// Its registry name.
    pub name: String,
    /// Its state: `"CLOSED"`, `"OPEN"` or `"HALF_OPEN"` in JSON.
    #[serde(serialize_with = "state_str")]
    pub state: State,
    /// Whether it is pinned by `force_open` or `force_close`.
    pub forced: bool,
    /// Percent (0.0..=100.0) of completed calls that failed, as [`BreakerStats::failure_rate`].
    pub failure_rate: f64,
    /// Its configuration.
    pub config: BreakerConfigSnapshot,
    /// Its lifetime totals, with the field names of [`BreakerStats`].
    pub stats: BreakerStatsSnapshot,
}

/// A [`BreakerConfig`] in a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BreakerConfigSnapshot {
    /// Consecutive failures that open the circuit.
    pub threshold: u32,
    /// How long it stays OPEN, in milliseconds.
    pub timeout_ms: u64,
    /// Trial calls at once in HALF_OPEN, and the successes that close it.
    pub half_open_max: u32,
    /// Per-call deadline in milliseconds; `null` for none.
    pub call_timeout_ms: Option<u64>,
}

/// [`BreakerStats`] in a [`Snapshot`], with the same field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BreakerStatsSnapshot {
    /// State when the totals were read: `"CLOSED"`, `"OPEN"` or `"HALF_OPEN"`.
    #[serde(serialize_with = "state_str")]
    pub state: State,
    /// Every call presented, rejected ones included.
    pub total_requests: u64,
    /// Calls that succeeded.
    pub total_successes: u64,
    /// Calls that failed, timeouts included.
    pub total_failures: u64,
    /// Calls that overran the call deadline.
    pub total_timeouts: u64,
    /// Calls rejected without running.
    pub total_rejections: u64,
    /// Failures in a row since the last success or reset.
    pub consecutive_failures: u32,
    /// Wall-clock time of the last failure, in milliseconds since the Unix epoch; `null` for none.
    pub last_failure: Option<u64>,
}

/// One cache in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CacheSnapshot {
    /// The cache name.
    pub name: String,
    /// Its statistics, with the field names of [`CacheStats`].
    pub stats: CacheStatsSnapshot,
}

/// [`CacheStats`] in a [`Snapshot`], with the same field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CacheStatsSnapshot {
    /// Calls answered from the cache.
    pub hits: u64,
    /// Calls that were not.
    pub misses: u64,
    /// Entries held in process memory.
    pub entries: u64,
    /// Entries evicted from process memory to keep within capacity.
    pub evictions: u64,
}

/// One retry policy in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PolicySnapshot {
    /// The policy name.
    pub name: String,
    /// Total attempts, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt, in milliseconds.
    pub initial_delay_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    pub max_delay_ms: u64,
    /// Growth factor of the delay.
    pub multiplier: f64,
    /// Whether delays are drawn at random below the computed one.
    pub jitter: bool,
}

/// One registered store in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StoreSnapshot {
    /// The name it is registered under (`#[cached(store = "...")]`).
    pub name: String,
}

fn state_str<S: Serializer>(state: &State, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(state)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, millis)
}

impl From<BreakerConfig> for BreakerConfigSnapshot {
    fn from(c: BreakerConfig) -> Self {
        BreakerConfigSnapshot {
            threshold: c.threshold,
            timeout_ms: millis(c.timeout),
            half_open_max: c.half_open_max,
            call_timeout_ms: c.call_timeout.map(millis),
        }
    }
}

impl From<&BreakerStats> for BreakerStatsSnapshot {
    fn from(s: &BreakerStats) -> Self {
        BreakerStatsSnapshot {
            state: s.state,
            total_requests: s.total_requests,
            total_successes: s.total_successes,
            total_failures: s.total_failures,
            total_timeouts: s.total_timeouts,
            total_rejections: s.total_rejections,
            consecutive_failures: s.consecutive_failures,
            last_failure: s.last_failure.map(unix_millis),
        }
    }
}

impl From<CacheStats> for CacheStatsSnapshot {
    fn from(s: CacheStats) -> Self {
        CacheStatsSnapshot {
            hits: s.hits,
            misses: s.misses,
            entries: s.entries,
            evictions: s.evictions,
        }
    }
}

impl BreakerSnapshot {
    /// The breaker `b` as it is now.
    pub(crate) fn of(b: &CircuitBreaker) -> Self {
        let stats = b.stats();
        BreakerSnapshot {
            name: b.name().to_owned(),
            state: stats.state,
            forced: b.is_forced(),
            failure_rate: stats.failure_rate(),
            config: b.config().into(),
            stats: (&stats).into(),
        }
    }
}

impl PolicySnapshot {
    pub(crate) fn of(name: &str, p: &Policy) -> Self {
        PolicySnapshot {
            name: name.to_owned(),
            max_attempts: p.max_attempts,
            initial_delay_ms: millis(p.initial_delay),
            max_delay_ms: millis(p.max_delay),
            multiplier: p.multiplier,
            jitter: p.jitter,
        }
    }
}

impl Snapshot {
    /// Assembles a snapshot from its parts (each list is sorted by name here).
    pub(crate) fn new(
        mut breakers: Vec<BreakerSnapshot>,
        mut caches: Vec<CacheSnapshot>,
        mut policies: Vec<PolicySnapshot>,
        mut stores: Vec<StoreSnapshot>,
    ) -> Self {
        breakers.sort_by(|a, b| a.name.cmp(&b.name));
        caches.sort_by(|a, b| a.name.cmp(&b.name));
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        stores.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot {
            breakers,
            caches,
            policies,
            stores,
        }
    }

    /// The breaker called `name`, if the snapshot has it.
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// registry().breaker("doc-snapshot-find");
    /// assert!(registry().snapshot().breaker("doc-snapshot-find").is_some());
    /// ```
    pub fn breaker(&self, name: &str) -> Option<&BreakerSnapshot> {
        self.breakers.iter().find(|b| b.name == name)
    }

    /// The cache called `name`, if the snapshot has it.
    ///
    /// ```
    /// use cachex_runtime::registry;
    /// assert!(registry().snapshot().cache("no-such-cache").is_none());
    /// ```
    pub fn cache(&self, name: &str) -> Option<&CacheSnapshot> {
        self.caches.iter().find(|c| c.name == name)
    }

    /// The snapshot as JSON text (what `GET /snapshot` of the admin router serves).
    ///
    /// ```
    /// let json = cachex_runtime::registry().snapshot().to_json();
    /// assert!(json.starts_with('{'));
    /// ```
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail (no maps with non-string keys, no
        // custom serializer that errors); an empty object is the safe answer if it ever did.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}
