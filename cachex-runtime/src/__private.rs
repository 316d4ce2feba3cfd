//! What the attribute macros' generated code calls: re-exports only, from the modules that own
//! each item. Not a stable API: only the macros of the same release may use it.

pub use core::time::Duration;
pub use linkme;

pub use crate::breaker::decl::{breaker_run, breaker_run_with, BreakerDecl, BreakerSite, BREAKERS};
pub use crate::cache::decl::{CacheDecl, CACHES};
pub use crate::cache::site::*;
pub use crate::retry::site::{RetrySite, RetryState};
pub use crate::{BreakerConfig, CallError, CircuitBreaker, Error, Policy, RateWindow, Window};
