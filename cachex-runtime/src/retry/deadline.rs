//! The per-loop engine shared by the retry functions and `#[retry]`: the backoff, the server's
//! `Retry-After` hint, the retry budget, and the deadline of the whole call.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::budget::BudgetState;
use super::{Backoff, Policy};

/// One retry loop in progress.
#[derive(Debug)]
pub(crate) struct Run<'a> {
    backoff: Backoff,
    budget: Option<&'a BudgetState>,
    deadline: Option<Instant>,
    budget_exhausted: bool,
}

impl<'a> Run<'a> {
    /// A loop over `policy` whose first attempt is under way, drawing retries from `budget`
    /// (when the policy has one) and ending by `deadline`.
    pub(crate) fn new(
        policy: Policy,
        budget: Option<&'a BudgetState>,
        deadline: Option<Instant>,
    ) -> Self {
        Run {
            backoff: Backoff::new(policy),
            budget,
            deadline,
            budget_exhausted: false,
        }
    }

    /// After a failed attempt that may be retried: sleeps before the next attempt and returns
    /// `true`, or returns `false` at once when the attempts are used up, the `hint` exceeds
    /// `max_delay`, the sleep would not end before the deadline, or the budget is spent.
    pub(crate) async fn wait(&mut self, hint: Option<Duration>) -> bool {
        let Some(d) = self.backoff.propose(hint) else {
            return false;
        };
        if let Some(at) = self.deadline {
            // An attempt that would start at (or past) the deadline could not end before it.
            match Instant::now().checked_add(d) {
                Some(end) if end < at => {}
                _ => return false,
            }
        }
        if let (Some(b), Some(state)) = (self.backoff.policy().budget, self.budget) {
            if !state.try_withdraw(&b) {
                self.budget_exhausted = true;
                return false;
            }
        }
        self.backoff.commit(d);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
        true
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.backoff.attempts()
    }

    pub(crate) fn total_delay(&self) -> Duration {
        self.backoff.total_delay()
    }

    pub(crate) fn budget_exhausted(&self) -> bool {
        self.budget_exhausted
    }
}

/// The instant `after` from now, or `None` (no deadline) for a span past what the clock holds.
pub(crate) fn deadline_in(after: Duration) -> Option<Instant> {
    Instant::now().checked_add(after)
}

/// Runs `attempt` until it ends or `deadline` passes; `None` when the deadline cut it short
/// (the attempt is dropped).
pub(crate) async fn bounded<F: Future>(deadline: Option<Instant>, attempt: F) -> Option<F::Output> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, attempt).await.ok(),
        None => Some(attempt.await),
    }
}
