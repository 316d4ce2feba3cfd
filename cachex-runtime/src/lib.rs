#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod cache;
mod decl_names;
mod error;
mod registry;
pub mod retry;
mod store;
mod striped;
mod sync;

#[doc(hidden)]
pub mod __private;

pub use breaker::{BreakerConfig, BreakerStats, CircuitBreaker, Permit, RateWindow, State, Window};
pub use cache::{Cache, CacheStats};
pub use error::{CallError, Error};
pub use registry::{registry, Registry};
pub use retry::{Policy, RetryStats};
pub use store::{is_under_prefix, BoxFuture, MemoryStore, Store};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::{RedisStore, RedisStoreBuilder};

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use cachex_macros::{cached, circuit_breaker, retry};
