#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Nothing reachable from input may panic: no unwrap/expect, no indexing, no unchecked arithmetic
// outside tests (a local `allow` says why a spot is safe).
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
pub mod admin;
mod breaker;
mod cache;
mod decl_names;
mod error;
mod observe;
mod registry;
pub mod retry;
mod store;
mod striped;
mod sync;
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use breaker::{BreakerConfig, BreakerStats, CircuitBreaker, Permit, RateWindow, State, Window};
pub use cache::{Cache, CacheStats};
pub use error::{CallError, Error};
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use observe::metrics;
pub use observe::{
    BreakerConfigSnapshot, BreakerSnapshot, BreakerStatsSnapshot, CacheSnapshot,
    CacheStatsSnapshot, Event, PolicySnapshot, Snapshot, StoreSnapshot,
};
pub use registry::{registry, Registry};
pub use retry::{Budget, Policy, RetryOptions, RetryStats};
pub use store::{is_under_prefix, BoxFuture, MemoryStore, Store};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::{RedisStore, RedisStoreBuilder};

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use cachex_macros::{cached, circuit_breaker, retry};
