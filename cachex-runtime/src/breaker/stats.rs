//! [`BreakerStats`]: a snapshot of a breaker's state and lifetime totals, and the rates derived
//! from them.

use std::time::SystemTime;

use super::State;

/// A snapshot of a breaker's state and lifetime totals.
///
/// ```
/// use cachex_runtime::{BreakerConfig, CircuitBreaker};
///
/// let b = CircuitBreaker::new("doc", BreakerConfig::default());
/// let s = b.stats();
/// assert!(s.is_healthy());
/// assert_eq!(s.failure_rate(), 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerStats {
    /// State at the time of the snapshot.
    pub state: State,
    /// Every call presented, rejected ones included.
    pub total_requests: u64,
    /// Calls that returned `Ok`.
    pub total_successes: u64,
    /// Calls that returned `Err` or overran `call_timeout`.
    pub total_failures: u64,
    /// Calls that overran `call_timeout` (also counted in `total_failures`).
    pub total_timeouts: u64,
    /// Calls rejected without running.
    pub total_rejections: u64,
    /// Failures in a row since the last success or reset.
    pub consecutive_failures: u32,
    /// Wall-clock time of the last failure.
    pub last_failure: Option<SystemTime>,
}

impl BreakerStats {
    /// Percent (0.0..=100.0) of completed calls that failed; 0.0 when none completed.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerStats, State};
    /// let s = BreakerStats { state: State::Closed, total_requests: 4, total_successes: 3,
    ///     total_failures: 1, total_timeouts: 0, total_rejections: 0, consecutive_failures: 1,
    ///     last_failure: None };
    /// assert_eq!(s.failure_rate(), 25.0);
    /// ```
    pub fn failure_rate(&self) -> f64 {
        percent(self.total_failures, self.total_successes)
    }

    /// Percent (0.0..=100.0) of completed calls that succeeded; 0.0 when none completed.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerStats, State};
    /// let s = BreakerStats { state: State::Closed, total_requests: 4, total_successes: 3,
    ///     total_failures: 1, total_timeouts: 0, total_rejections: 0, consecutive_failures: 1,
    ///     last_failure: None };
    /// assert_eq!(s.success_rate(), 75.0);
    /// ```
    pub fn success_rate(&self) -> f64 {
        percent(self.total_successes, self.total_failures)
    }

    /// True when the breaker is CLOSED.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// let b = CircuitBreaker::new("doc", BreakerConfig::default());
    /// b.force_open();
    /// assert!(!b.stats().is_healthy());
    /// ```
    pub fn is_healthy(&self) -> bool {
        self.state == State::Closed
    }
}

/// `part` as a percent of `part + other`, 0.0 when both are zero. The sum is taken in `f64`:
/// two `u64` totals may not add up within `u64`.
fn percent(part: u64, other: u64) -> f64 {
    if part == 0 && other == 0 {
        return 0.0;
    }
    let (part, other) = (part as f64, other as f64);
    // Rounding can push a quotient of equal operands a hair past 100.
    (part * 100.0 / (part + other)).min(100.0)
}
