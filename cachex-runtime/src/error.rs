//! The one error type of cachex, and the result of a call through a circuit breaker.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// What went wrong inside cachex itself (as opposed to the user's own error type).
///
/// Functions under `#[circuit_breaker]` receive these through `From<cachex_runtime::Error>`
/// on their own error type.
///
/// ```
/// use cachex_runtime::Error;
/// use std::time::Duration;
///
/// let e = Error::CircuitOpen { name: "users".into(), retry_after: Duration::from_secs(3) };
/// assert!(e.to_string().contains("circuit breaker is open"));
/// assert!(e.to_string().contains("users"));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The breaker `name` rejected the call without running it; it lets trial calls through in
    /// `retry_after`.
    CircuitOpen {
        /// Name of the breaker that rejected the call (borrowed for the registry's breakers,
        /// which live for the whole process, so a rejection allocates nothing).
        name: Cow<'static, str>,
        /// Time left until the breaker lets trial calls through: zero when it is half-open with
        /// every trial slot taken, and the configured `timeout` (a hint: there is no scheduled
        /// end) when it is pinned open by `force_open`.
        retry_after: Duration,
    },
    /// A call under the breaker `name` ran past its `call_timeout` and was abandoned.
    Timeout {
        /// Name of the breaker (or retry loop) whose deadline was overrun.
        name: Cow<'static, str>,
        /// The deadline that was overrun.
        after: Duration,
    },
    /// A configuration value was refused where it was built.
    InvalidConfig {
        /// What was wrong, naming the setting.
        reason: String,
    },
    /// A store (Redis, ...) failed an operation. The message never carries a credential.
    Store {
        /// Name of the store.
        store: String,
        /// What failed.
        message: String,
    },
    /// A value could not be encoded for a store.
    Serialization {
        /// What failed.
        message: String,
    },
    /// No store is registered under this name.
    UnknownStore {
        /// The name that was looked up.
        name: String,
    },
    /// No cache of this name is declared or has been used.
    UnknownCache {
        /// The name that was looked up.
        name: String,
    },
}

impl Error {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            reason: reason.into(),
        }
    }

    /// True for [`Error::CircuitOpen`]: the call was refused without running.
    ///
    /// ```
    /// # use cachex_runtime::Error;
    /// # use std::time::Duration;
    /// let e = Error::CircuitOpen { name: "a".into(), retry_after: Duration::ZERO };
    /// assert!(e.is_circuit_open());
    /// ```
    pub fn is_circuit_open(&self) -> bool {
        matches!(self, Error::CircuitOpen { .. })
    }

    /// True for [`Error::Timeout`].
    ///
    /// ```
    /// # use cachex_runtime::Error;
    /// # use std::time::Duration;
    /// let e = Error::Timeout { name: "a".into(), after: Duration::from_millis(5) };
    /// assert!(e.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::CircuitOpen { name, retry_after } => write!(
                f,
                "circuit breaker is open: `{name}` rejects calls for another {}",
                Human(*retry_after)
            ),
            Error::Timeout { name, after } => {
                write!(
                    f,
                    "operation timeout: `{name}` gave up after {}",
                    Human(*after)
                )
            }
            Error::InvalidConfig { reason } => write!(f, "invalid configuration: {reason}"),
            Error::Store { store, message } => write!(f, "store `{store}` failed: {message}"),
            Error::Serialization { message } => write!(f, "serialization failed: {message}"),
            Error::UnknownStore { name } => write!(
                f,
                "no store is registered as `{name}` (register one with registry().set_store)"
            ),
            Error::UnknownCache { name } => write!(
                f,
                "no cache is called `{name}` (registry().caches() lists the known ones)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A duration as a person writes it: rounded to the millisecond and in the largest units that
/// keep it exact enough (`200ms`, `1.5s`, `2m30s`, `1h5m`); `<1ms` for less than a millisecond
/// but more than nothing.
pub(crate) struct Human(pub(crate) Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0ms");
        }
        let ms = (d.as_nanos().saturating_add(500_000)) / 1_000_000;
        match ms {
            0 => f.write_str("<1ms"),
            1..=999 => write!(f, "{ms}ms"),
            1_000..=59_999 => {
                let tenths = (ms + 50) / 100;
                if tenths % 10 == 0 {
                    write!(f, "{}s", tenths / 10)
                } else {
                    write!(f, "{}.{}s", tenths / 10, tenths % 10)
                }
            }
            60_000..=3_599_999 => {
                let s = (ms + 500) / 1_000;
                match s % 60 {
                    0 => write!(f, "{}m", s / 60),
                    rem => write!(f, "{}m{rem}s", s / 60),
                }
            }
            _ => {
                let m = (ms + 30_000) / 60_000;
                match m % 60 {
                    0 => write!(f, "{}h", m / 60),
                    rem => write!(f, "{}h{rem}m", m / 60),
                }
            }
        }
    }
}

/// The result of [`CircuitBreaker::call`](crate::CircuitBreaker::call) when it is not `Ok`:
/// either the breaker refused (or timed out) the call, or the call itself failed.
///
/// ```
/// use cachex_runtime::{CallError, Error};
/// use std::time::Duration;
///
/// let e: CallError<std::io::Error> =
///     CallError::Rejected(Error::Timeout { name: "db".into(), after: Duration::from_millis(50) });
/// assert!(e.to_string().contains("operation timeout"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker refused the call ([`Error::CircuitOpen`]) or abandoned it ([`Error::Timeout`]).
    Rejected(Error),
    /// The call ran and returned this error.
    Inner(E),
}

impl<E> CallError<E> {
    /// The inner error, if the call ran and failed.
    ///
    /// ```
    /// # use cachex_runtime::CallError;
    /// assert_eq!(CallError::<u8>::Inner(3).into_inner(), Some(3));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            CallError::Inner(e) => Some(e),
            CallError::Rejected(_) => None,
        }
    }

    /// Collapses into the caller's error type, converting a rejection with `From`.
    ///
    /// ```
    /// # use cachex_runtime::{CallError, Error};
    /// #[derive(Debug)]
    /// struct AppError(String);
    /// impl From<Error> for AppError { fn from(e: Error) -> Self { AppError(e.to_string()) } }
    /// let e = CallError::<AppError>::Rejected(Error::CircuitOpen {
    ///     name: "x".into(), retry_after: std::time::Duration::ZERO });
    /// assert!(e.flatten().0.contains("circuit breaker is open"));
    /// ```
    pub fn flatten(self) -> E
    where
        E: From<Error>,
    {
        match self {
            CallError::Inner(e) => e,
            CallError::Rejected(e) => E::from(e),
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(e) => fmt::Display::fmt(e, f),
            CallError::Inner(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rejected(e) => Some(e),
            CallError::Inner(e) => Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        let h = |ns: u64| Human(Duration::from_nanos(ns)).to_string();
        assert_eq!(h(0), "0ms");
        assert_eq!(h(1_000), "<1ms");
        assert_eq!(h(199_959_260), "200ms");
        assert_eq!(h(1_000_000_000), "1s");
        assert_eq!(h(1_540_000_000), "1.5s");
        assert_eq!(h(29_999_000_000), "30s");
        assert_eq!(h(150_000_000_000), "2m30s");
        assert_eq!(h(3_600_000_000_000), "1h");
        assert_eq!(h(3_900_000_000_000), "1h5m");
        assert!(!Human(Duration::MAX).to_string().is_empty());
    }

    #[test]
    fn a_rejection_names_the_breaker_and_the_time_left() {
        let e = Error::CircuitOpen {
            name: Cow::Borrowed("users"),
            retry_after: Duration::from_nanos(199_959_260),
        };
        assert_eq!(
            e.to_string(),
            "circuit breaker is open: `users` rejects calls for another 200ms"
        );
    }
}
