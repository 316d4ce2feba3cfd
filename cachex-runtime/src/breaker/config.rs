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
    /// Rate-based tripping. `None` (every preset) opens after `threshold` consecutive failures;
    /// `Some` replaces that count: the breaker then opens on the rates of its window only, and
    /// `threshold` is ignored.
    pub rate: Option<RateWindow>,
    /// Growing open periods: each re-open from HALF_OPEN doubles the open period, up to this.
    /// Closing resets it to `timeout`. `None` (every preset) keeps every open period `timeout`.
    pub max_timeout: Option<Duration>,
}

/// The calls a rate-based breaker judges.
///
/// ```
/// use cachex_runtime::Window;
/// use std::time::Duration;
/// let last_100_calls = Window::Calls(100);
/// let last_minute = Window::Time(Duration::from_secs(60));
/// assert_ne!(last_100_calls, last_minute);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last n calls (a count window, at least 1).
    Calls(u32),
    /// The calls that ended within the last span, on tokio's clock (a time window, longer than
    /// zero). It is kept as 10 buckets of a tenth of the span each, so a call is forgotten
    /// between one span and 1.1 spans after it ended.
    Time(Duration),
}

/// Rate-based tripping, as in resilience4j: once at least `minimum_calls` calls are in the
/// `window`, the breaker opens when the percentage of failures reaches `failure_rate`, or the
/// percentage of slow calls (slower than `slow_call`, failed or not) reaches `slow_call_rate`.
///
/// A rate of 0 turns that check off. Rates are whole percentages in `0..=100`.
///
/// ```
/// use cachex_runtime::{BreakerConfig, RateWindow, Window};
/// use std::time::Duration;
///
/// let cfg = BreakerConfig {
///     rate: Some(RateWindow {
///         window: Window::Calls(100),
///         minimum_calls: 20,
///         failure_rate: 50,
///         slow_call: Some(Duration::from_secs(2)),
///         slow_call_rate: 80,
///     }),
///     ..BreakerConfig::default()
/// };
/// assert!(cfg.validate().is_ok());
/// assert_eq!(RateWindow::default().failure_rate, 50);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateWindow {
    /// The calls judged: the last n, or those of the last span.
    pub window: Window,
    /// Calls the window must hold before a rate is judged (at least 1).
    pub minimum_calls: u32,
    /// Percentage of failed calls that opens the breaker (0 = never on failures).
    pub failure_rate: u32,
    /// Calls slower than this are slow (`None`: no call is slow).
    pub slow_call: Option<Duration>,
    /// Percentage of slow calls that opens the breaker (0 = never on slowness).
    pub slow_call_rate: u32,
}

impl RateWindow {
    /// resilience4j's defaults: the last 100 calls, judged from 100 calls on, 50 % failures,
    /// no slow-call check.
    ///
    /// ```
    /// # use cachex_runtime::{RateWindow, Window};
    /// assert_eq!(RateWindow::DEFAULT.window, Window::Calls(100));
    /// ```
    pub const DEFAULT: RateWindow = RateWindow {
        window: Window::Calls(100),
        minimum_calls: 100,
        failure_rate: 50,
        slow_call: None,
        slow_call_rate: 100,
    };

    fn validate(&self) -> Result<(), Error> {
        match self.window {
            Window::Calls(0) => {
                return Err(Error::invalid(
                    "breaker rate window must hold at least 1 call",
                ))
            }
            Window::Time(d) if d.is_zero() => {
                return Err(Error::invalid(
                    "breaker rate window must span longer than zero",
                ))
            }
            _ => {}
        }
        if self.minimum_calls == 0 {
            return Err(Error::invalid("breaker minimum_calls must be at least 1"));
        }
        if self.failure_rate > 100 {
            return Err(Error::invalid(
                "breaker failure_rate is a percentage: 0..=100",
            ));
        }
        if self.slow_call_rate > 100 {
            return Err(Error::invalid(
                "breaker slow_call_rate is a percentage: 0..=100",
            ));
        }
        if self.slow_call == Some(Duration::ZERO) {
            return Err(Error::invalid(
                "breaker slow_call must be longer than zero (use None for no slow-call check)",
            ));
        }
        Ok(())
    }

    fn sanitized(mut self) -> Self {
        self.window = match self.window {
            Window::Calls(n) => Window::Calls(n.max(1)),
            Window::Time(d) if d.is_zero() => Window::Time(Duration::from_nanos(1)),
            w => w,
        };
        self.minimum_calls = self.minimum_calls.max(1);
        self.failure_rate = self.failure_rate.min(100);
        self.slow_call_rate = self.slow_call_rate.min(100);
        if self.slow_call == Some(Duration::ZERO) {
            self.slow_call = None;
        }
        self
    }
}

impl Default for RateWindow {
    fn default() -> Self {
        Self::DEFAULT
    }
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
        rate: None,
        max_timeout: None,
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
            rate: None,
            max_timeout: None,
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
            rate: None,
            max_timeout: None,
        }
    }

    /// Checks the configuration: `threshold` and `half_open_max` must be at least 1, a
    /// `call_timeout` must not be zero, a `rate` window must hold something (see
    /// [`RateWindow`]), and a `max_timeout` must not be shorter than `timeout`.
    ///
    /// With `rate: Some(..)` the `threshold` is not used (the rates replace it), so it is not a
    /// conflict to leave it at its preset value.
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
        if let Some(rate) = &self.rate {
            rate.validate()?;
        }
        if matches!(self.max_timeout, Some(m) if m < self.timeout) {
            return Err(Error::invalid(
                "breaker max_timeout must not be shorter than timeout (open periods only grow)",
            ));
        }
        Ok(())
    }

    /// The nearest valid configuration (zero counts become 1, a zero call deadline becomes none,
    /// rates above 100 become 100, a `max_timeout` below `timeout` becomes `timeout`).
    pub(super) fn sanitized(mut self) -> Self {
        self.rate = self.rate.map(RateWindow::sanitized);
        if let Some(m) = self.max_timeout {
            self.max_timeout = Some(m.max(self.timeout));
        }
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
