//! The two-step permit API: [`CircuitBreaker::try_acquire`] admits a call, the caller runs it
//! however it likes and reports the outcome on the [`Permit`].

use std::fmt;

use tokio::time::Instant;

use super::{CircuitBreaker, Ticket};

/// Admission to run one call under a breaker, from [`CircuitBreaker::try_acquire`].
///
/// Report the outcome with [`success`](Self::success) or [`failure`](Self::failure). Dropped
/// unreported, it counts as neither (like a cancelled call) and a HALF_OPEN trial slot is given
/// back; dropped while its thread panics, it is a failure.
///
/// ```
/// use cachex_runtime::{BreakerConfig, CircuitBreaker};
///
/// let b = CircuitBreaker::new("smtp", BreakerConfig::default());
/// if let Ok(permit) = b.try_acquire() {
///     let sent = true; // send the mail here
///     if sent { permit.success() } else { permit.failure() }
/// }
/// assert_eq!(b.stats().total_successes, 1);
/// ```
#[must_use = "a permit dropped unreported counts as neither success nor failure"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Ticket<'a>,
    started: Option<Instant>,
}

impl<'a> Permit<'a> {
    pub(super) fn new(
        breaker: &'a CircuitBreaker,
        ticket: Ticket<'a>,
        started: Option<Instant>,
    ) -> Self {
        Permit {
            breaker,
            ticket,
            started,
        }
    }

    /// The call succeeded.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerConfig::default());
    /// b.try_acquire().unwrap().success();
    /// assert_eq!(b.stats().total_successes, 1);
    /// ```
    pub fn success(self) {
        let slow = self.breaker.is_slow(self.started);
        self.breaker.on_success(self.ticket, slow);
    }

    /// The call failed.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerConfig::default());
    /// b.try_acquire().unwrap().failure();
    /// assert_eq!(b.stats().total_failures, 1);
    /// ```
    pub fn failure(self) {
        let slow = self.breaker.is_slow(self.started);
        self.breaker.on_failure(self.ticket, false, slow);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("trial", &matches!(self.ticket, Ticket::Trial(_)))
            .finish()
    }
}
