//! How `#[circuit_breaker]` functions declare their breakers: a link-time list of
//! [`BreakerDecl`]s (so the registry knows every declared breaker before its first call) and the
//! per-function [`BreakerSite`] that resolves the registry breaker once. Reached by generated code
//! through `__private`; not a stable API.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use super::{BreakerConfig, CircuitBreaker};
use crate::CallError;

/// Every `#[circuit_breaker]` function adds its declaration here at link time, so the registry
/// knows each declared breaker's configuration before the function is first called.
#[linkme::distributed_slice]
pub static BREAKERS: [BreakerDecl];

/// One `#[circuit_breaker]` declaration.
#[derive(Debug)]
pub struct BreakerDecl {
    /// Breaker name.
    pub name: &'static str,
    /// Declared configuration.
    pub config: BreakerConfig,
}

/// A `#[circuit_breaker]` function's handle on its registry breaker, resolved on first use.
#[derive(Debug)]
pub struct BreakerSite {
    name: &'static str,
    breaker: OnceLock<Arc<CircuitBreaker>>,
}

impl BreakerSite {
    /// A site for the registry breaker `name`.
    pub const fn new(name: &'static str) -> Self {
        BreakerSite {
            name,
            breaker: OnceLock::new(),
        }
    }

    /// The registry breaker (the same `Arc` for the life of the process: reconfiguring a breaker
    /// changes it in place).
    #[inline]
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker
            .get_or_init(|| crate::registry().breaker(self.name))
    }
}

/// Runs an already-built future under `breaker`; it is dropped unpolled when rejected.
#[inline]
pub async fn breaker_run<T, E, Fut>(breaker: &CircuitBreaker, fut: Fut) -> Result<T, CallError<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    breaker.call_future(fut).await
}
