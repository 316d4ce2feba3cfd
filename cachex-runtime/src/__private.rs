//! What the attribute macros' generated code calls. Not a stable API: only the macros of the
//! same release may use it.

use std::future::Future;
use std::sync::{Arc, OnceLock};

pub use core::time::Duration;
pub use linkme;

use crate::retry::Backoff;
pub use crate::{BreakerConfig, CallError, CircuitBreaker, Error, Policy};

pub use crate::cache::private::*;

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

/// Every `#[cached]` function adds its declaration here at link time, so that
/// `registry().cache_stats(name)` and `registry().clear_cache(name)` know the cache (and the
/// store it lives in) before the function is first called.
#[linkme::distributed_slice]
pub static CACHES: [CacheDecl];

/// One `#[cached]` declaration.
#[derive(Debug)]
pub struct CacheDecl {
    /// Cache name.
    pub name: &'static str,
    /// Name of the store it uses.
    pub store: &'static str,
}

/// The default breaker configuration, usable in a `static`.
pub const BREAKER_DEFAULT: BreakerConfig = BreakerConfig::DEFAULT;

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

/// A `#[retry]` function's policy: a registry policy name plus explicit overrides, resolved at
/// call time on the first failure (a call that succeeds at once never looks it up).
#[derive(Debug)]
pub struct RetrySite {
    policy: &'static str,
    max_attempts: Option<u32>,
    initial_delay: Option<Duration>,
    max_delay: Option<Duration>,
    multiplier: Option<f64>,
    jitter: Option<bool>,
}

impl RetrySite {
    /// A site that follows the registry policy `policy`.
    pub const fn new(policy: &'static str) -> Self {
        RetrySite {
            policy,
            max_attempts: None,
            initial_delay: None,
            max_delay: None,
            multiplier: None,
            jitter: None,
        }
    }
    /// Overrides `max_attempts`.
    pub const fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }
    /// Overrides `initial_delay`.
    pub const fn initial_delay(mut self, d: Duration) -> Self {
        self.initial_delay = Some(d);
        self
    }
    /// Overrides `max_delay`.
    pub const fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = Some(d);
        self
    }
    /// Overrides `multiplier`.
    pub const fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = Some(m);
        self
    }
    /// Overrides `jitter`.
    pub const fn jitter(mut self, j: bool) -> Self {
        self.jitter = Some(j);
        self
    }

    /// The policy in force now: the registry's (falling back to the default policy, with a
    /// warning, for an unknown name) with the overrides applied.
    pub fn policy(&self) -> Policy {
        let mut p = crate::registry().policy(self.policy).unwrap_or_else(|| {
            tracing::warn!(
                policy = self.policy,
                "unknown retry policy; using the default policy (register it with registry().set_policy)"
            );
            Policy::default()
        });
        if let Some(v) = self.max_attempts {
            p.max_attempts = v;
        }
        if let Some(v) = self.initial_delay {
            p.initial_delay = v;
        }
        if let Some(v) = self.max_delay {
            p.max_delay = v;
        }
        if let Some(v) = self.multiplier {
            p.multiplier = v;
        }
        if let Some(v) = self.jitter {
            p.jitter = v;
        }
        p
    }

    /// Starts one call's retry loop. Costs nothing until the first failure.
    #[inline]
    pub fn begin(&'static self) -> RetryState {
        RetryState {
            site: self,
            backoff: None,
        }
    }
}

/// One call's retry loop.
#[derive(Debug)]
pub struct RetryState {
    site: &'static RetrySite,
    backoff: Option<Backoff>,
}

impl RetryState {
    /// After a failed attempt that may be retried: sleeps the backoff and returns `true`, or
    /// returns `false` when the attempts are used up.
    pub async fn retry(&mut self) -> bool {
        let site = self.site;
        self.backoff
            .get_or_insert_with(|| Backoff::new(site.policy()))
            .wait()
            .await
    }
}

/// The `should_retry` of a retry loop around a breaker: a rejection is never retried.
#[inline]
pub fn not_rejected<E>(e: &CallError<E>, should_retry: impl Fn(&E) -> bool) -> bool {
    match e {
        CallError::Rejected(_) => false,
        CallError::Inner(e) => should_retry(e),
    }
}
