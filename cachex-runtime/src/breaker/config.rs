//! [`BreakerConfig`]: what a breaker is told, its presets, and the checks made where it is built.

use std::time::Duration;

use crate::Error;

/// Configuration of a [`CircuitBreaker`](crate::CircuitBreaker).
///
/// Struct-update syntax works from any preset:
///
/// ```
/// use cachex_runtime::BreakerConfig;
/// use std::time::Duration;
///
/// let cfg = BreakerConfig { threshold: 2, ..BreakerConfig::default() };
/// assert_eq!(cfg.timeout, Duration::from_secs(30));
/// assert!(cfg.validate().is_ok());
/// assert!(BreakerConfig { half_open_max: 0, ..cfg }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit (at least 1).
    pub threshold: u32,
    /// How long the circuit stays OPEN before letting trial calls through.
    pub timeout: Duration,
    /// Trial calls allowed at once in HALF_OPEN, and the successes in a row that close it
    /// (at least 1).
    pub half_open_max: u32,
    /// Per-call deadline; a call that overruns it is abandoned and counts as a failure and a
    /// timeout.
    pub call_timeout: Option<Duration>,
}

impl BreakerConfig {
    /// The default configuration: threshold 5, timeout 30 s, 3 trial calls, no call deadline.
    ///
    /// ```
    /// # use cachex_runtime::BreakerConfig;
    /// assert_eq!(BreakerConfig::DEFAULT, BreakerConfig::default());
    /// ```
    pub const DEFAULT: BreakerConfig = BreakerConfig {
        threshold: 5,
        timeout: Duration::from_secs(30),
        half_open_max: 3,
        call_timeout: None,
    };

    /// Opens quickly and recovers slowly: threshold 3, timeout 60 s, 1 trial call.
    ///
    /// ```
    /// # use cachex_runtime::BreakerConfig;
    /// assert_eq!(BreakerConfig::conservative().threshold, 3);
    /// ```
    pub const fn conservative() -> Self {
        BreakerConfig {
            threshold: 3,
            timeout: Duration::from_secs(60),
            half_open_max: 1,
            call_timeout: None,
        }
    }

    /// Tolerates more failures and recovers fast: threshold 10, timeout 10 s, 5 trial calls.
    ///
    /// ```
    /// # use cachex_runtime::BreakerConfig;
    /// assert_eq!(BreakerConfig::aggressive().half_open_max, 5);
    /// ```
    pub const fn aggressive() -> Self {
        BreakerConfig {
            threshold: 10,
            timeout: Duration::from_secs(10),
            half_open_max: 5,
            call_timeout: None,
        }
    }

    /// Checks the configuration: `threshold` and `half_open_max` must be at least 1 and a
    /// `call_timeout` must not be zero.
    ///
    /// ```
    /// # use cachex_runtime::BreakerConfig;
    /// let err = BreakerConfig { threshold: 0, ..Default::default() }.validate().unwrap_err();
    /// assert!(err.to_string().contains("threshold"));
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if self.threshold == 0 {
            return Err(Error::invalid(
                "breaker threshold must be at least 1 (it counts the consecutive failures that open the circuit)",
            ));
        }
        if self.half_open_max == 0 {
            return Err(Error::invalid(
                "breaker half_open_max must be at least 1 (a half-open breaker with no trial calls could never close)",
            ));
        }
        if self.call_timeout == Some(Duration::ZERO) {
            return Err(Error::invalid(
                "breaker call_timeout must be longer than zero (use None for no deadline)",
            ));
        }
        Ok(())
    }

    /// The nearest valid configuration (zero counts become 1, a zero call deadline becomes none).
    pub(super) fn sanitized(mut self) -> Self {
        self.threshold = self.threshold.max(1);
        self.half_open_max = self.half_open_max.max(1);
        if self.call_timeout == Some(Duration::ZERO) {
            self.call_timeout = None;
        }
        self
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}
