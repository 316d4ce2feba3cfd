//! What `#[retry]` functions expand to: one `static` [`RetrySite`] per function (a registry
//! policy name plus the attribute's overrides) and the per-call [`RetryState`]. Reached by
//! generated code through `__private`; not a stable API.

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::budget::{self, BudgetState};
use super::deadline::{self, Run};
use super::Policy;
use crate::Error;

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
    /// `deadline = ".."` and the name its timeout reports.
    deadline: Option<(Duration, &'static str)>,
    /// The budget state of the policy name, found on the first call.
    budget: OnceLock<Arc<BudgetState>>,
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
            deadline: None,
            budget: OnceLock::new(),
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
    /// Bounds the whole call by `after`; a timeout reports `name`.
    pub const fn deadline(mut self, after: Duration, name: &'static str) -> Self {
        self.deadline = Some((after, name));
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

    /// Starts one call's retry loop: counts a first attempt against the policy's budget (a
    /// per-thread store), and reads the clock only when the site has a deadline.
    #[inline]
    pub fn begin(&'static self) -> RetryState {
        let budget: &'static BudgetState =
            self.budget.get_or_init(|| budget::for_name(self.policy));
        budget.first_attempt();
        RetryState {
            site: self,
            budget,
            deadline: self.deadline.and_then(|(d, _)| deadline::deadline_in(d)),
            run: None,
        }
    }
}

/// One call's retry loop.
#[derive(Debug)]
pub struct RetryState {
    site: &'static RetrySite,
    budget: &'static BudgetState,
    deadline: Option<Instant>,
    run: Option<Run<'static>>,
}

impl RetryState {
    /// After a failed attempt that may be retried: sleeps the backoff and returns `true`, or
    /// returns `false` when the attempts are used up (or the budget, or the deadline).
    pub async fn retry(&mut self) -> bool {
        self.retry_hinted(None).await
    }

    /// Like [`retry`](Self::retry), the next delay being exactly `hint` when the error gave
    /// one (`retry_after`); a hint above `max_delay` returns `false` at once.
    pub async fn retry_hinted(&mut self, hint: Option<Duration>) -> bool {
        let (site, budget, at) = (self.site, self.budget, self.deadline);
        self.run
            .get_or_insert_with(|| Run::new(site.policy(), Some(budget), at))
            .wait(hint)
            .await
    }

    /// Runs one attempt within the deadline: `None` when the deadline passed first (the
    /// attempt is dropped).
    pub async fn attempt<F: Future>(&self, attempt: F) -> Option<F::Output> {
        deadline::bounded(self.deadline, attempt).await
    }

    /// The error of a call cut short by its deadline.
    pub fn timeout(&self) -> Error {
        let (after, name) = self.site.deadline.unwrap_or((Duration::ZERO, "retry"));
        Error::Timeout {
            name: Cow::Borrowed(name),
            after,
        }
    }
}
