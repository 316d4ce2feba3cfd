//! Retry with exponential backoff: the [`Policy`], the functions [`retry`], [`retry_if`] and
//! [`retry_with_stats`], and the [`Backoff`] schedule they (and `#[retry]`) share.
//!
//! Attempt 1 runs at once; before attempt `n + 1` the loop sleeps `delay_for(n)`, drawn at random
//! from `[delay_for(n) / 2, delay_for(n)]` when `jitter` is on. Sleeping uses tokio's clock, so a
//! test with a paused clock sees the exact schedule. Dropping the future cancels the loop.
//!
//! ```
//! use cachex_runtime::{retry, Policy};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let mut left = 2;
//! let r = retry::retry(&Policy::default(), || {
//!     left -= 1;
//!     let fail = left > 0;
//!     async move { if fail { Err("busy") } else { Ok("done") } }
//! })
//! .await;
//! assert_eq!(r, Ok("done"));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::Error;

pub(crate) mod site;

/// How often and how patiently to retry.
///
/// ```
/// use cachex_runtime::Policy;
/// use std::time::Duration;
///
/// let p = Policy { max_attempts: 4, jitter: false, ..Policy::default() };
/// assert_eq!(p.delay_for(1), Duration::from_millis(100));
/// assert_eq!(p.delay_for(3), Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Total attempts, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_delay: Duration,
    /// Upper bound of any delay.
    pub max_delay: Duration,
    /// Growth of the delay from one retry to the next (at least 1.0).
    pub multiplier: f64,
    /// Draw each delay at random from its upper half, so that many clients retrying together
    /// spread out.
    pub jitter: bool,
}

impl Policy {
    /// The default policy as a constant: 3 attempts, 100 ms, up to 5 s, ×2, jitter.
    ///
    /// ```
    /// # use cachex_runtime::Policy;
    /// assert_eq!(Policy::DEFAULT, Policy::default());
    /// ```
    pub const DEFAULT: Policy = Policy {
        max_attempts: 3,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(5),
        multiplier: 2.0,
        jitter: true,
    };

    /// Few, slow retries: 2 attempts, 500 ms, up to 2 s, ×2, jitter.
    ///
    /// ```
    /// # use cachex_runtime::Policy;
    /// assert_eq!(Policy::conservative().max_attempts, 2);
    /// ```
    pub const fn conservative() -> Self {
        Policy {
            max_attempts: 2,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(2),
            multiplier: 2.0,
            jitter: true,
        }
    }

    /// Many, quick retries: 5 attempts, 50 ms, up to 10 s, ×1.5, jitter.
    ///
    /// ```
    /// # use cachex_runtime::Policy;
    /// assert_eq!(Policy::aggressive().max_attempts, 5);
    /// ```
    pub const fn aggressive() -> Self {
        Policy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(10),
            multiplier: 1.5,
            jitter: true,
        }
    }

    /// The un-jittered delay before attempt `retry + 1`:
    /// `min(initial_delay × multiplier^(retry − 1), max_delay)`; zero for `retry == 0` (the
    /// first attempt runs at once).
    ///
    /// ```
    /// # use cachex_runtime::Policy;
    /// # use std::time::Duration;
    /// let p = Policy::default();
    /// assert_eq!(p.delay_for(0), Duration::ZERO);
    /// assert_eq!(p.delay_for(2), Duration::from_millis(200));
    /// assert_eq!(p.delay_for(50), Duration::from_secs(5)); // capped
    /// ```
    pub fn delay_for(&self, retry: u32) -> Duration {
        if retry == 0 {
            return Duration::ZERO;
        }
        let exp = i32::try_from(retry - 1).unwrap_or(i32::MAX);
        let secs = self.initial_delay.as_secs_f64() * self.multiplier.max(1.0).powi(exp);
        match Duration::try_from_secs_f64(secs) {
            Ok(d) => d.min(self.max_delay),
            // Overflow (or a NaN from a nonsensical multiplier): the cap applies.
            Err(_) => self.max_delay,
        }
    }

    /// Checks the policy: at least one attempt, a finite multiplier of at least 1.0, and
    /// `initial_delay <= max_delay`.
    ///
    /// ```
    /// # use cachex_runtime::Policy;
    /// let err = Policy { multiplier: 0.5, ..Policy::default() }.validate().unwrap_err();
    /// assert!(err.to_string().contains("multiplier"));
    /// assert!(Policy { max_attempts: 0, ..Policy::default() }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_attempts == 0 {
            return Err(Error::invalid(
                "retry max_attempts must be at least 1 (it counts the first attempt)",
            ));
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err(Error::invalid(format!(
                "retry multiplier must be a finite number of at least 1.0, got {}",
                self.multiplier
            )));
        }
        if self.initial_delay > self.max_delay {
            return Err(Error::invalid(format!(
                "retry initial_delay ({:?}) must not exceed max_delay ({:?})",
                self.initial_delay, self.max_delay
            )));
        }
        Ok(())
    }

    /// The nearest valid policy.
    pub(crate) fn sanitized(mut self) -> Self {
        self.max_attempts = self.max_attempts.max(1);
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            self.multiplier = 1.0;
        }
        self.max_delay = self.max_delay.max(self.initial_delay);
        self
    }

    /// The delay to sleep before attempt `retry + 1`, with jitter applied if enabled: drawn
    /// from `[d / 2, d]` where `d = delay_for(retry)`, so never above `d`.
    ///
    /// ```
    /// # use cachex_runtime::Policy;
    /// let p = Policy::default();
    /// let d = p.jittered_delay_for(2);
    /// assert!(d <= p.delay_for(2) && d >= p.delay_for(2) / 2);
    /// ```
    pub fn jittered_delay_for(&self, retry: u32) -> Duration {
        let d = self.delay_for(retry);
        if !self.jitter || d.is_zero() {
            return d;
        }
        let hi = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(hi / 2..=hi))
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

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
    /// A schedule for `policy` with the first attempt under way (an invalid policy is replaced
    /// by the nearest valid one).
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
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let d = self.policy.jittered_delay_for(self.attempts);
        self.attempts += 1;
        self.total_delay += d;
        Some(d)
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

    /// The sum of the delays handed out.
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

/// What happened in a [`retry_with_stats`] loop.
///
/// ```
/// use cachex_runtime::retry::retry_with_stats;
/// use cachex_runtime::Policy;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (r, stats) = retry_with_stats(&Policy::default(), || async { Ok::<_, String>(1) }).await;
/// assert_eq!(r, Ok(1));
/// assert_eq!((stats.attempts, stats.success), (1, true));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetryStats {
    /// Attempts made, the first included.
    pub attempts: u32,
    /// Time slept between attempts.
    pub total_delay: Duration,
    /// Whether the last attempt succeeded.
    pub success: bool,
    /// Display of the last error seen, if any attempt failed.
    pub last_error: Option<String>,
}

/// Runs `op` until it succeeds or `policy.max_attempts` attempts have failed; returns the last
/// error as it is.
///
/// ```
/// use cachex_runtime::{retry::retry, Policy};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let calls = AtomicU32::new(0);
/// let r = retry(&Policy::default(), || async {
///     if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err("flaky") } else { Ok("done") }
/// })
/// .await;
/// assert_eq!(r, Ok("done"));
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # }
/// ```
pub async fn retry<T, E, F, Fut>(policy: &Policy, op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_if(policy, |_: &E| true, op).await
}

/// Like [`retry`], but an error that `should_retry` refuses is returned at once.
///
/// ```
/// use cachex_runtime::{retry::retry_if, Policy};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut calls = 0;
/// let r: Result<(), &str> = retry_if(&Policy::default(), |e: &&str| *e != "fatal", || {
///     calls += 1;
///     async { Err("fatal") }
/// })
/// .await;
/// assert_eq!((r, calls), (Err("fatal"), 1));
/// # }
/// ```
pub async fn retry_if<T, E, F, Fut, P>(policy: &Policy, should_retry: P, mut op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
{
    let mut backoff = Backoff::new(*policy);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                if !should_retry(&e) || !backoff.wait().await {
                    return Err(e);
                }
            }
        }
    }
}

/// Like [`retry`], and reports the attempts, the time slept and the last error.
///
/// ```
/// use cachex_runtime::{retry::retry_with_stats, Policy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let p = Policy { max_attempts: 2, jitter: false, ..Policy::default() };
/// let (r, s) = retry_with_stats(&p, || async { Err::<(), _>("down") }).await;
/// assert_eq!(r, Err("down"));
/// assert_eq!((s.attempts, s.success), (2, false));
/// assert_eq!(s.last_error.as_deref(), Some("down"));
/// assert_eq!(s.total_delay, std::time::Duration::from_millis(100));
/// # }
/// ```
pub async fn retry_with_stats<T, E, F, Fut>(
    policy: &Policy,
    mut op: F,
) -> (Result<T, E>, RetryStats)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    let mut backoff = Backoff::new(*policy);
    let mut last_error = None;
    let result = loop {
        match op().await {
            Ok(v) => break Ok(v),
            Err(e) => {
                last_error = Some(e.to_string());
                if !backoff.wait().await {
                    break Err(e);
                }
            }
        }
    };
    let stats = RetryStats {
        attempts: backoff.attempts(),
        total_delay: backoff.total_delay(),
        success: result.is_ok(),
        last_error,
    };
    (result, stats)
}
