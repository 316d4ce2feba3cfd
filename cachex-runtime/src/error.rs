//! The one error type of cachex, and the result of a call through a circuit breaker.

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
        /// Name of the breaker that rejected the call.
        name: String,
        /// Time left until the breaker lets trial calls through: zero when it is half-open with
        /// every trial slot taken, and the configured `timeout` (a hint: there is no scheduled
        /// end) when it is pinned open by `force_open`.
        retry_after: Duration,
    },
    /// A call under the breaker `name` ran past its `call_timeout` and was abandoned.
    Timeout {
        /// Name of the breaker whose deadline was overrun.
        name: String,
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
                "circuit breaker is open: `{name}` rejects calls for another {retry_after:?}"
            ),
            Error::Timeout { name, after } => {
                write!(f, "operation timeout: `{name}` gave up after {after:?}")
            }
            Error::InvalidConfig { reason } => write!(f, "invalid configuration: {reason}"),
            Error::Store { store, message } => write!(f, "store `{store}` failed: {message}"),
            Error::Serialization { message } => write!(f, "serialization failed: {message}"),
            Error::UnknownStore { name } => write!(
                f,
                "no store is registered as `{name}` (register one with registry().set_store)"
            ),
        }
    }
}

impl std::error::Error for Error {}

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
