//! [`Backoff`]: the schedule of one retry loop over a [`Policy`], shared by the retry
//! functions and by what `#[retry]` expands to.

use std::time::Duration;

use super::Policy;

/// The schedule of one retry loop: how many attempts were made and what to sleep next.
///
/// ```
/// use cachex_runtime::retry::Backoff;
/// use cachex_runtime::Policy;
/// use std::time::Duration;
///
/// let mut b = Backoff::new(Policy { max_attempts: 3, jitter: false, ..Policy::default() });
/// assert_eq!(b.next_delay(), Some(Duration::from_millis(100))); // before attempt 2
/// assert_eq!(b.next_delay(), Some(Duration::from_millis(200))); // before attempt 3
/// assert_eq!(b.next_delay(), None);                             // attempts used up
/// assert_eq!(b.attempts(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: Policy,
    attempts: u32,
    total_delay: Duration,
}

impl Backoff {
    /// A schedule for `policy` with the first attempt under way. An invalid policy is read as
    /// its nearest valid form (at least one attempt, a multiplier of at least 1.0); the delays
    /// are taken as given, `max_delay` capping each of them.
    ///
    /// ```
    /// # use cachex_runtime::{retry::Backoff, Policy};
    /// let b = Backoff::new(Policy { max_attempts: 0, ..Policy::default() });
    /// assert_eq!(b.attempts(), 1); // zero attempts is read as one
    /// ```
    pub fn new(policy: Policy) -> Self {
        Backoff {
            policy: policy.sanitized(),
            attempts: 1,
            total_delay: Duration::ZERO,
        }
    }

    /// After a failed attempt: the delay before the next one, or `None` when the attempts are
    /// used up. Counts the next attempt as made.
    ///
    /// ```
    /// # use cachex_runtime::{retry::Backoff, Policy};
    /// let mut b = Backoff::new(Policy { max_attempts: 2, ..Policy::default() });
    /// assert!(b.next_delay().is_some_and(|d| d <= Policy::default().delay_for(1)));
    /// assert_eq!(b.next_delay(), None);
    /// ```
    pub fn next_delay(&mut self) -> Option<Duration> {
        let d = self.propose(None)?;
        self.commit(d);
        Some(d)
    }

    /// The delay before the next attempt, without counting it: `None` when the attempts are
    /// used up or when the server's `hint` (a `Retry-After`) exceeds `max_delay`. A hint is
    /// taken exactly, without jitter; zero means at once.
    pub(crate) fn propose(&self, hint: Option<Duration>) -> Option<Duration> {
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        match hint {
            Some(h) if h > self.policy.max_delay => None,
            Some(h) => Some(h),
            None => Some(self.policy.jittered_delay_for(self.attempts)),
        }
    }

    /// Counts the next attempt as made after sleeping `d`.
    pub(crate) fn commit(&mut self, d: Duration) {
        // Below `max_attempts` (checked by `propose`), so no overflow; saturating all the same.
        self.attempts = self.attempts.saturating_add(1);
        self.total_delay = self.total_delay.saturating_add(d);
    }

    /// The policy this schedule follows (in its nearest valid form).
    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Attempts made so far, the current one included.
    ///
    /// ```
    /// # use cachex_runtime::{retry::Backoff, Policy};
    /// let mut b = Backoff::new(Policy::default());
    /// b.next_delay();
    /// assert_eq!(b.attempts(), 2);
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The sum of the delays handed out, saturating at `Duration::MAX`.
    ///
    /// ```
    /// # use cachex_runtime::{retry::Backoff, Policy};
    /// # use std::time::Duration;
    /// let mut b = Backoff::new(Policy { jitter: false, ..Policy::default() });
    /// b.next_delay();
    /// b.next_delay();
    /// assert_eq!(b.total_delay(), Duration::from_millis(300));
    /// ```
    pub fn total_delay(&self) -> Duration {
        self.total_delay
    }

    /// After a failed attempt: sleeps the next delay and returns `true`, or returns `false` when
    /// the attempts are used up.
    ///
    /// ```
    /// # use cachex_runtime::{retry::Backoff, Policy};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let mut b = Backoff::new(Policy { max_attempts: 2, ..Policy::default() });
    /// assert!(b.wait().await);  // slept up to 100 ms (tokio's clock)
    /// assert!(!b.wait().await); // no attempts left
    /// # }
    /// ```
    pub async fn wait(&mut self) -> bool {
        match self.next_delay() {
            Some(d) => {
                if !d.is_zero() {
                    tokio::time::sleep(d).await;
                }
                true
            }
            None => false,
        }
    }
}
