//! What `#[retry]` functions expand to: one `static` [`RetrySite`] per function (a registry
//! policy name plus the attribute's overrides) and the per-call [`RetryState`]. Reached by
//! generated code through `__private`; not a stable API.

use std::time::Duration;

use super::{Backoff, Policy};

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
    /// warning, for an unknown name) with the overrides applied, each field as given (an
    /// override of `max_delay` alone caps the registry policy's delays).
    ///
    /// Runs once per call, at its first failure: one shared read lock on the registry's
    /// policies and a lookup by `&str`, nothing allocated (`Policy` is `Copy`).
    pub fn policy(&self) -> Policy {
        let mut p = super::named::global().get(self.policy).unwrap_or_else(|| {
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
