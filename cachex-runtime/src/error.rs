//! The one error type of cachex, and the result of a call through a circuit breaker.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
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
///
/// Equality compares what an error says, not the identity of its cause: two
/// [`Error::Store`] with the same store and message are equal whatever their `source`.
#[non_exhaustive]
#[derive(Clone)]
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
    /// A store (Redis, ...) failed an operation. Neither the message nor the source carries a
    /// credential.
    ///
    /// Build one with [`Error::store`] or [`Error::store_caused_by`] (the `source` field was
    /// added in 0.2: a struct literal now needs `source: None` or a cause).
    ///
    /// ```
    /// use cachex_runtime::Error;
    /// use std::error::Error as _;
    ///
    /// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    /// let e = Error::store_caused_by("sessions", "GET failed after 1 attempt(s)", io);
    /// assert!(e.to_string().contains("store `sessions` failed"));
    /// assert_eq!(e.source().unwrap().to_string(), "refused");
    /// ```
    Store {
        /// Name of the store.
        store: String,
        /// What failed, and what to do about it when the cause does not say.
        message: String,
        /// The error of the client library that caused it (the Redis client's error, for
        /// [`RedisStore`](crate::RedisStore)), returned by [`std::error::Error::source`].
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// A value could not be encoded for a store.
    Serialization {
        /// What failed.
        message: String,
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

    /// An [`Error::Store`] of `store` without a cause.
    ///
    /// ```
    /// let e = cachex_runtime::Error::store("disk", "write refused");
    /// assert_eq!(e.to_string(), "store `disk` failed: write refused");
    /// ```
    pub fn store(store: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Store {
            store: store.into(),
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::Store`] of `store` caused by `source` (see [`Error::Store`] for an example).
    /// The source's own text must carry no credential.
    pub fn store_caused_by(
        store: impl Into<String>,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Store {
            store: store.into(),
            message: message.into(),
            source: Some(Arc::new(source)),
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
            Error::Store { store, message, .. } => {
                write!(f, "store `{store}` failed: {message}")
            }
            Error::Serialization { message } => write!(f, "serialization failed: {message}"),
            Error::UnknownCache { name } => write!(
                f,
                "no cache is called `{name}` (registry().caches() lists the known ones)"
            ),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::CircuitOpen { name, retry_after } => f
                .debug_struct("CircuitOpen")
                .field("name", name)
                .field("retry_after", retry_after)
                .finish(),
            Error::Timeout { name, after } => f
                .debug_struct("Timeout")
                .field("name", name)
                .field("after", after)
                .finish(),
            Error::InvalidConfig { reason } => f
                .debug_struct("InvalidConfig")
                .field("reason", reason)
                .finish(),
            Error::Store {
                store,
                message,
                source,
            } => f
                .debug_struct("Store")
                .field("store", store)
                .field("message", message)
                // The cause as it reads: its Debug may be a wall of internals.
                .field("source", &source.as_ref().map(|e| e.to_string()))
                .finish(),
            Error::Serialization { message } => f
                .debug_struct("Serialization")
                .field("message", message)
                .finish(),
            Error::UnknownCache { name } => {
                f.debug_struct("UnknownCache").field("name", name).finish()
            }
        }
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Error::CircuitOpen { name, retry_after },
                Error::CircuitOpen {
                    name: n,
                    retry_after: r,
                },
            ) => name == n && retry_after == r,
            (Error::Timeout { name, after }, Error::Timeout { name: n, after: a }) => {
                name == n && after == a
            }
            (Error::InvalidConfig { reason }, Error::InvalidConfig { reason: r }) => reason == r,
            (
                Error::Store { store, message, .. },
                Error::Store {
                    store: s,
                    message: m,
                    ..
                },
            ) => store == s && message == m,
            (Error::Serialization { message }, Error::Serialization { message: m }) => message == m,
            (Error::UnknownCache { name }, Error::UnknownCache { name: n }) => name == n,
            _ => false,
        }
    }
}

impl Eq for Error {}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store {
                source: Some(source),
                ..
            } => Some(&**source),
            _ => None,
        }
    }
}

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
                let tenths = ms.saturating_add(50) / 100;
                if tenths.is_multiple_of(10) {
                    write!(f, "{}s", tenths / 10)
                } else {
                    write!(f, "{}.{}s", tenths / 10, tenths % 10)
                }
            }
            60_000..=3_599_999 => {
                let s = ms.saturating_add(500) / 1_000;
                match s % 60 {
                    0 => write!(f, "{}m", s / 60),
                    rem => write!(f, "{}m{rem}s", s / 60),
                }
            }
            _ => {
                let m = ms.saturating_add(30_000) / 60_000;
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
    fn store_errors_compare_by_what_they_say_and_keep_their_cause() {
        let io = || std::io::Error::other("refused");
        let a = Error::store_caused_by("s", "GET failed", io());
        let b = Error::store("s", "GET failed");
        assert_eq!(a, b);
        assert_eq!(a.clone(), a);
        assert_ne!(a, Error::store("s", "SET failed"));
        assert_ne!(a, Error::store("t", "GET failed"));
        assert_eq!(
            std::error::Error::source(&a.clone()).map(|e| e.to_string()),
            Some("refused".to_owned())
        );
        assert!(std::error::Error::source(&b).is_none());
        assert_eq!(
            format!("{a:?}"),
            r#"Store { store: "s", message: "GET failed", source: Some("refused") }"#
        );
        let open = Error::CircuitOpen {
            name: "x".into(),
            retry_after: Duration::ZERO,
        };
        assert_ne!(open, b);
        assert!(format!("{open:?}").starts_with("CircuitOpen { name: \"x\""));
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
