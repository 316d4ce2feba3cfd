//! The admin router (cargo feature `admin`): a live HTML dashboard, the registry's
//! [`Snapshot`](crate::Snapshot) as JSON, Prometheus metrics, and, with a token, operator
//! controls. Serve it with axum on an address only operators reach (loopback or an admin
//! network).
//!
//! | route | router | answer |
//! |---|---|---|
//! | `GET /` | both | the dashboard: one self-contained page that polls `/snapshot` |
//! | `GET /snapshot` | both | [`Snapshot`](crate::Snapshot) as JSON |
//! | `GET /metrics` | both | Prometheus / OpenMetrics text with `# HELP` and `# TYPE` lines |
//! | `POST /breakers/{name}/force-open`, `/force-close`, `/reset` | [`router_with_token`] | 200 with the breaker's JSON; 401 without `Authorization: Bearer <token>`; 404 for an unknown breaker |
//! | `POST /caches/{name}/clear` | [`router_with_token`] | 200; 401 without the token; 404 for an unknown cache; 500 when its store fails |
//!
//! Names in paths are percent-decoded (`/breakers/search%2Feu/reset` is the breaker
//! `search/eu`); the page builds its text with DOM text nodes, so a name with HTML in it shows
//! as text. Tokens are compared in constant time.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let app = cachex_runtime::admin::router_with_token(std::env::var("CACHEX_ADMIN_TOKEN").unwrap());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

use crate::observe::BreakerSnapshot;
use crate::{registry, CircuitBreaker, Error};

mod prometheus;

/// The page, with `__CACHEX_CONTROLS__` where the router says whether controls are offered.
const DASHBOARD: &str = include_str!("dashboard.html");

/// The read-only admin router: `GET /`, `GET /snapshot`, `GET /metrics`. Nothing can be
/// changed through it.
///
/// ```
/// let app: axum::Router = cachex_runtime::admin::router();
/// # let _ = app;
/// ```
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { page(false) }))
        .route("/snapshot", get(snapshot))
        .route("/metrics", get(metrics))
}

/// [`router`] plus the operator controls, each allowed only with
/// `Authorization: Bearer <token>`: `POST /breakers/{name}/force-open`, `/force-close`,
/// `/reset` and `POST /caches/{name}/clear`.
///
/// ```
/// let app: axum::Router = cachex_runtime::admin::router_with_token("s3cret");
/// # let _ = app;
/// ```
pub fn router_with_token(token: impl Into<String>) -> Router {
    let token: Arc<str> = Arc::from(token.into());
    let breaker_action = |action: fn(&CircuitBreaker)| {
        let token = Arc::clone(&token);
        post(
            move |headers: HeaderMap, Path(name): Path<String>| async move {
                if !authorized(&headers, &token) {
                    return unauthorized();
                }
                match registry().try_breaker(&name) {
                    Some(b) => {
                        action(&b);
                        json(StatusCode::OK, BreakerSnapshot::of(&b).to_json())
                    }
                    None => not_found("breaker", &name),
                }
            },
        )
    };
    let clear = {
        let token = Arc::clone(&token);
        post(
            move |headers: HeaderMap, Path(name): Path<String>| async move {
                if !authorized(&headers, &token) {
                    return unauthorized();
                }
                match registry().clear_cache(&name).await {
                    Ok(()) => json(StatusCode::OK, r#"{"cleared":true}"#.to_owned()),
                    Err(Error::UnknownCache { .. }) => not_found("cache", &name),
                    Err(e) => json(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        serde_json::json!({ "error": e.to_string() }).to_string(),
                    ),
                }
            },
        )
    };
    Router::new()
        .route("/", get(|| async { page(true) }))
        .route("/snapshot", get(snapshot))
        .route("/metrics", get(metrics))
        .route(
            "/breakers/{name}/force-open",
            breaker_action(CircuitBreaker::force_open),
        )
        .route(
            "/breakers/{name}/force-close",
            breaker_action(CircuitBreaker::force_close),
        )
        .route(
            "/breakers/{name}/reset",
            breaker_action(CircuitBreaker::reset),
        )
        .route("/caches/{name}/clear", clear)
}

fn page(controls: bool) -> Html<String> {
    Html(DASHBOARD.replace(
        "__CACHEX_CONTROLS__",
        if controls { "true" } else { "false" },
    ))
}

async fn snapshot() -> Response {
    json(StatusCode::OK, registry().snapshot().to_json())
}

async fn metrics() -> Response {
    let body = prometheus::render(&registry().snapshot());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(prometheus::CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"cachex admin\""),
        )],
        "a bearer token is required\n",
    )
        .into_response()
}

fn not_found(kind: &str, name: &str) -> Response {
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({ "error": format!("no {kind} is called `{name}`") }).to_string(),
    )
}

/// Whether `headers` carry `Authorization: Bearer <token>`.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let Some(given) = value.as_bytes().strip_prefix(b"Bearer ") else {
        return false;
    };
    // An empty token would let an empty header in: never accept it.
    !token.is_empty() && constant_time_eq(given, token.as_bytes())
}

/// Compares two byte strings in time that depends only on their lengths, not on where they
/// first differ (so response times do not leak a prefix of the token).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, &x) in a.iter().enumerate() {
        // Compare against the same position of `b`, or against itself when `b` is shorter,
        // so every byte of `a` is visited whatever `b` holds.
        let y = b.get(i).copied().unwrap_or(!x);
        diff |= x ^ y;
    }
    diff == 0
}

impl BreakerSnapshot {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_bytes_and_lengths() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cres"));
        assert!(!constant_time_eq(b"s3cre", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret!", b"s3cret"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
