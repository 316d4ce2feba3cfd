//! Observability: what the registry tells about itself while it runs.
//!
//! - [`events`]: a broadcast channel of [`Event`]s (breaker state changes), with a `tracing` event
//!   for each; reached through [`Registry::subscribe`](crate::Registry::subscribe).
//! - [`snapshot`]: [`Snapshot`], every breaker, cache, policy and store at one moment, as
//!   `serde::Serialize` data; reached through [`Registry::snapshot`](crate::Registry::snapshot).
//! - `registry_ext`: the registry methods built on those (`subscribe`, `snapshot`,
//!   `try_breaker`, `caches`).
//! - `metrics` (cargo feature `metrics`): publishes the snapshot's figures through the
//!   `metrics` facade when asked, so the hot paths never pay for it.

pub(crate) mod events;
mod registry_ext;
pub(crate) mod snapshot;

#[cfg(feature = "metrics")]
pub mod metrics;

pub(crate) use events::emit_state_change;
pub use events::Event;
pub use snapshot::{
    BreakerConfigSnapshot, BreakerSnapshot, BreakerStatsSnapshot, CacheSnapshot,
    CacheStatsSnapshot, PolicySnapshot, Snapshot, StoreSnapshot,
};
