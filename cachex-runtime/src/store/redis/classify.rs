//! What a failed Redis command means for the store: replace the connection and try again, or
//! take the server's answer and give up at once.
//!
//! Retrying is only worth it when the failure may pass on its own or on another connection: the
//! connection broke or timed out, or the node behind the endpoint is not (yet) a usable primary
//! (`READONLY` after a failover, `LOADING`, `MASTERDOWN`, `BUSY`, `TRYAGAIN`, `CLUSTERDOWN`). Any
//! other reply is the server's considered answer (`OOM`, `NOPERM`, `WRONGTYPE`, `ERR ...`):
//! sending the same command again gets the same answer, so it costs one attempt.

use redis::{ErrorKind, RedisError, ServerErrorKind};

/// What to do after a command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// The connection is broken or talks to a node that cannot serve us: replace it, and retry
    /// (with `retry` false, only later operations try again). A failure for the breaker.
    Reconnect {
        /// Whether the same operation may try again.
        retry: bool,
    },
    /// The server answered and refused: give up at once. Not a failure for the breaker (the
    /// server is up and answering), nor a reason to retry.
    GiveUp,
}

/// Server replies that mean "this node, over this connection, cannot serve the command now".
const RECONNECT_CODES: [&str; 6] = [
    "READONLY",
    "LOADING",
    "MASTERDOWN",
    "BUSY",
    "TRYAGAIN",
    "CLUSTERDOWN",
];

/// How the store treats `e`, the error of one command on an established connection.
pub(super) fn classify(e: &RedisError) -> Class {
    if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
        return Class::Reconnect { retry: true };
    }
    match e.kind() {
        // A password changed or revoked under a live connection (`NOAUTH`, `WRONGPASS`): a new
        // connection picks up a fixed configuration later; retrying now would be refused again.
        ErrorKind::AuthenticationFailed => Class::Reconnect { retry: false },
        ErrorKind::Server(
            ServerErrorKind::ReadOnly
            | ServerErrorKind::BusyLoading
            | ServerErrorKind::MasterDown
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown,
        ) => Class::Reconnect { retry: true },
        _ if e.code().is_some_and(|code| RECONNECT_CODES.contains(&code)) => {
            Class::Reconnect { retry: true }
        }
        _ if e.is_unrecoverable_error() => Class::Reconnect { retry: true },
        _ => Class::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: &str, detail: &str) -> RedisError {
        // The client's own parser builds server errors from the wire format.
        let wire = format!("-{code} {detail}\r\n");
        match redis::parse_redis_value(wire.as_bytes()) {
            Ok(redis::Value::ServerError(e)) => e.into(),
            other => panic!("not a server error: {other:?}"),
        }
    }

    #[test]
    fn wrong_node_replies_replace_the_connection() {
        for code in [
            "READONLY",
            "LOADING",
            "MASTERDOWN",
            "BUSY",
            "TRYAGAIN",
            "CLUSTERDOWN",
        ] {
            assert_eq!(
                classify(&reply(code, "x")),
                Class::Reconnect { retry: true },
                "{code}"
            );
        }
    }

    #[test]
    fn considered_answers_give_up_at_once() {
        for code in [
            "OOM",
            "NOPERM",
            "WRONGTYPE",
            "ERR",
            "EXECABORT",
            "MOVED",
            "NOSCRIPT",
        ] {
            assert_eq!(classify(&reply(code, "1 x")), Class::GiveUp, "{code}");
        }
    }

    #[test]
    fn io_errors_are_retried_on_a_new_connection() {
        let e = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(classify(&e), Class::Reconnect { retry: true });
    }
}
