//! [`Policy`]: how many attempts, how long between them (`delay_for`), the presets, the
//! validation applied where a policy is registered, and the jitter drawn for each sleep.

use std::time::Duration;

use super::Budget;
use crate::Error;

/// How often and how patiently to retry.
///
/// Attempt 1 runs at once; before attempt `n + 1` a retry loop sleeps
/// [`delay_for(n)`](Self::delay_for) = `min(initial_delay × multiplier^(n − 1), max_delay)`.
/// `max_delay` caps every sleep, always:
///
/// - an `initial_delay` above `max_delay` is valid and means that every delay is `max_delay`
///   (a policy that is "2 s, but never more than 123 ms" sleeps 123 ms);
/// - a zero `initial_delay` or a zero `max_delay` means retries without sleeping.
///
/// With `jitter`, each sleep is drawn at random from `[d / 2, d]` where `d = delay_for(n)`:
/// the upper half, never above `d` (see [`jittered_delay_for`](Self::jittered_delay_for)).
///
/// [`validate`](Self::validate) (used by `registry().try_set_policy`) refuses zero attempts and
/// a multiplier that is not a finite number of at least 1.0; everywhere else such a policy is
/// read as its nearest valid form (one attempt, multiplier 1.0).
///
/// ```
/// use cachex_runtime::Policy;
/// use std::time::Duration;
///
/// let p = Policy { max_attempts: 4, jitter: false, ..Policy::default() };
/// assert_eq!(p.delay_for(1), Duration::from_millis(100));
/// assert_eq!(p.delay_for(3), Duration::from_millis(400));
///
/// // The cap wins over the initial delay.
/// let capped = Policy { initial_delay: Duration::from_secs(2), max_delay: Duration::from_millis(123), ..p };
/// assert_eq!(capped.delay_for(1), Duration::from_millis(123));
/// assert_eq!(capped.delay_for(3), Duration::from_millis(123));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Total attempts, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt (capped at `max_delay` like every delay).
    pub initial_delay: Duration,
    /// Upper bound of every delay, `initial_delay` included.
    pub max_delay: Duration,
    /// Growth of the delay from one retry to the next (at least 1.0).
    pub multiplier: f64,
    /// Draw each delay at random from its upper half (`[d / 2, d]`, never above `d`), so that
    /// many clients retrying together spread out.
    pub jitter: bool,
    /// A cap on retries relative to first attempts over the last 10 s (see [`Budget`]);
    /// `None`, the default and every preset, retries without one.
    pub budget: Option<Budget>,
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
        budget: None,
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
            budget: None,
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
            budget: None,
        }
    }

    /// The un-jittered delay before attempt `retry + 1`:
    /// `min(initial_delay × multiplier^(retry − 1), max_delay)`; zero for `retry == 0` (the
    /// first attempt runs at once).
    ///
    /// Defined for every input and never panics: it never exceeds `max_delay`, never
    /// decreases as `retry` grows, and is zero when `initial_delay` or `max_delay` is zero
    /// (whatever the multiplier and retry number). A growth past `Duration::MAX` is capped.
    /// A multiplier that is not a number of at least 1.0 is read as 1.0.
    ///
    /// ```
    /// # use cachex_runtime::Policy;
    /// # use std::time::Duration;
    /// let p = Policy::default();
    /// assert_eq!(p.delay_for(0), Duration::ZERO);
    /// assert_eq!(p.delay_for(2), Duration::from_millis(200));
    /// assert_eq!(p.delay_for(50), Duration::from_secs(5)); // capped
    /// assert_eq!(p.delay_for(u32::MAX), Duration::from_secs(5));
    ///
    /// let instant = Policy { initial_delay: Duration::ZERO, ..p };
    /// assert_eq!(instant.delay_for(u32::MAX), Duration::ZERO);
    /// ```
    pub fn delay_for(&self, retry: u32) -> Duration {
        let cap = self.max_delay;
        // Retry 0 is the first attempt; zero times anything is zero.
        if retry == 0 || self.initial_delay.is_zero() || cap.is_zero() {
            return Duration::ZERO;
        }
        let first = self.initial_delay.min(cap);
        let exp = retry.saturating_sub(1);
        // A multiplier below 1.0 or NaN (refused by `validate`) is read as 1.0: a constant delay.
        let grows = self.multiplier > 1.0;
        if exp == 0 || !grows || first == cap {
            return first;
        }
        // `powf` over the whole `u32` range: the delay keeps growing for a multiplier just
        // above 1.0. Infinity (a huge multiplier or exponent) falls into the cap below.
        let secs = self.initial_delay.as_secs_f64() * self.multiplier.powf(f64::from(exp));
        match Duration::try_from_secs_f64(secs) {
            // Never below the first delay, which float rounding of a long initial delay could
            // otherwise undercut.
            Ok(d) => d.clamp(first, cap),
            // Beyond `Duration::MAX`, so beyond the cap.
            Err(_) => cap,
        }
    }

    /// Checks the policy: at least one attempt, a finite multiplier of at least 1.0,
    /// `initial_delay <= max_delay`, and a budget ratio that is a finite number of at least 0.0.
    ///
    /// An `initial_delay` above `max_delay` is refused as a likely mistake (the two were probably
    /// swapped), although it has a meaning: every delay is then `max_delay`, which is what
    /// [`Registry::set_policy`](crate::Registry::set_policy) stores for it and what a loop run
    /// with it sleeps. A zero `max_delay` is valid: the retries follow one another at once.
    ///
    /// ```
    /// # use cachex_runtime::Policy;
    /// # use std::time::Duration;
    /// let err = Policy { multiplier: 0.5, ..Policy::default() }.validate().unwrap_err();
    /// assert!(err.to_string().contains("multiplier"));
    /// assert!(Policy { max_attempts: 0, ..Policy::default() }.validate().is_err());
    ///
    /// let capped = Policy { initial_delay: Duration::from_secs(2), max_delay: Duration::from_millis(123), ..Policy::default() };
    /// assert!(capped.validate().is_err());
    /// assert_eq!(capped.delay_for(1), Duration::from_millis(123)); // still capped when run
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
        if let Some(b) = self.budget {
            if !b.ratio.is_finite() || b.ratio < 0.0 {
                return Err(Error::invalid(format!(
                    "retry budget ratio must be a finite number of at least 0.0, got {}",
                    b.ratio
                )));
            }
        }
        if self.initial_delay > self.max_delay {
            return Err(Error::invalid(format!(
                "retry initial_delay ({}) must not exceed max_delay ({}): every delay would be \
                 max_delay (swapped?)",
                crate::error::Human(self.initial_delay),
                crate::error::Human(self.max_delay)
            )));
        }
        Ok(())
    }

    /// The nearest valid policy: at least one attempt, a multiplier that is not finite or below
    /// 1.0 read as 1.0, and an `initial_delay` above `max_delay` lowered to it. The cap is never
    /// raised, so every sleep stays what [`delay_for`](Self::delay_for) gives for the policy as
    /// written.
    pub(crate) fn sanitized(mut self) -> Self {
        self.max_attempts = self.max_attempts.max(1);
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            self.multiplier = 1.0;
        }
        self.initial_delay = self.initial_delay.min(self.max_delay);
        self
    }

    /// The delay to sleep before attempt `retry + 1`, with jitter applied if enabled: drawn
    /// at random from `[d / 2, d]` where `d = delay_for(retry)`. That is a narrower range
    /// inside `[0, d]`: never above `d`, and at least half of it so that jitter spreads
    /// clients out without collapsing the backoff. Without jitter it is `d`.
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
        // Delays beyond u64::MAX ns (584 years) draw from below that, still within [0, d].
        let hi = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(hi / 2..=hi))
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::DEFAULT
    }
}
