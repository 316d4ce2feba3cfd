//! The admin router through `tower::ServiceExt::oneshot`: every route, every status code.

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use cachex_runtime::{admin, registry, Cache, CallError, MemoryStore, State};
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "t0ken-for-tests";

async fn send(
    app: Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, String, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = to_bytes(resp.into_body(), 16 << 20).await.unwrap();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(app: Router, uri: &str) -> (StatusCode, String, String) {
    send(app, Method::GET, uri, None).await
}

async fn post(app: Router, uri: &str, token: Option<&str>) -> StatusCode {
    send(app, Method::POST, uri, token).await.0
}

#[tokio::test]
async fn get_routes_answer_on_both_routers() {
    registry().breaker("admin-get");
    for app in [admin::router(), admin::router_with_token(TOKEN)] {
        let (status, ctype, body) = get(app.clone(), "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ctype.starts_with("text/html"), "{ctype}");
        assert!(body.contains("<title>cachex dashboard</title>"));
        assert!(!body.contains("__CACHEX_CONTROLS__"));
        // No external assets: nothing is loaded from another origin.
        assert!(!body.contains("http://") && !body.contains("https://") && !body.contains("src="));

        let (status, ctype, body) = get(app.clone(), "/snapshot").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ctype, "application/json");
        let json: Value = serde_json::from_str(&body).unwrap();
        assert!(json["breakers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "admin-get"));

        let (status, ctype, body) = get(app.clone(), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
        assert!(body.contains("# HELP cachex_breaker_calls "), "{body}");
        assert!(
            body.contains("# TYPE cachex_breaker_calls counter"),
            "{body}"
        );
        assert!(body.contains("# TYPE cachex_breaker_state gauge"), "{body}");
        assert!(
            body.contains(r#"cachex_breaker_state{breaker="admin-get"} 0"#),
            "{body}"
        );
        assert!(body.trim_end().ends_with("# EOF"));

        let (status, _, _) = get(app, "/no-such-route").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Only the router with a token offers controls on the page.
    assert!(get(admin::router(), "/")
        .await
        .2
        .contains(r#"data-controls="false""#));
    assert!(get(admin::router_with_token(TOKEN), "/")
        .await
        .2
        .contains(r#"data-controls="true""#));
}

#[tokio::test]
async fn metrics_text_has_calls_by_outcome_and_cache_requests_by_result() {
    let b = registry().breaker("admin-metrics");
    let _ = b.call(|| async { Ok::<_, ()>(()) }).await;
    let _ = b.call(|| async { Err::<(), _>(()) }).await;
    let cache: Cache<u8> = Cache::with_name("admin-metrics-cache", MemoryStore::new(10));
    cache.set("k", &1, None).await.unwrap();
    cache.get("k").await.unwrap();
    cache.get("k").await.unwrap();
    cache.get("x").await.unwrap();
    let (_, _, body) = get(admin::router(), "/metrics").await;
    for line in [
        r#"cachex_breaker_calls_total{breaker="admin-metrics",outcome="success"} 1"#,
        r#"cachex_breaker_calls_total{breaker="admin-metrics",outcome="failure"} 1"#,
        r#"cachex_breaker_calls_total{breaker="admin-metrics",outcome="timeout"} 0"#,
        r#"cachex_breaker_calls_total{breaker="admin-metrics",outcome="rejected"} 0"#,
        r#"cachex_cache_requests_total{cache="admin-metrics-cache",result="hit"} 2"#,
        r#"cachex_cache_requests_total{cache="admin-metrics-cache",result="miss"} 1"#,
        "# TYPE cachex_cache_entries gauge",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing `{line}` in\n{body}"
        );
    }
}

#[tokio::test]
async fn the_read_only_router_changes_nothing() {
    let b = registry().breaker("admin-readonly");
    for action in ["force-open", "force-close", "reset"] {
        let status = post(
            admin::router(),
            &format!("/breakers/admin-readonly/{action}"),
            Some(TOKEN),
        )
        .await;
        assert!(status.is_client_error(), "{action}: {status}");
    }
    assert_eq!((b.state(), b.is_forced()), (State::Closed, false));
    let status = post(admin::router(), "/caches/admin-readonly/clear", Some(TOKEN)).await;
    assert!(status.is_client_error());
}

#[tokio::test]
async fn posts_without_the_right_token_get_401_and_change_nothing() {
    let b = registry().breaker("admin-401");
    let app = admin::router_with_token(TOKEN);
    for path in [
        "/breakers/admin-401/force-open",
        "/breakers/admin-401/force-close",
        "/breakers/admin-401/reset",
        "/caches/admin-401/clear",
        // An unknown name without a token is still 401: names are not revealed.
        "/breakers/admin-no-such/force-open",
    ] {
        assert_eq!(
            post(app.clone(), path, None).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            post(app.clone(), path, Some("wrong")).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            post(app.clone(), path, Some("t0ken-for-test")).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            post(app.clone(), path, Some("")).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    // A token given in another scheme does not count either.
    let req = Request::post("/breakers/admin-401/force-open")
        .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.oneshot(req).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!((b.state(), b.is_forced()), (State::Closed, false));
}

#[tokio::test]
async fn unknown_names_get_404() {
    let app = admin::router_with_token(TOKEN);
    for path in [
        "/breakers/admin-unknown/force-open",
        "/breakers/admin-unknown/force-close",
        "/breakers/admin-unknown/reset",
        "/caches/admin-unknown/clear",
    ] {
        assert_eq!(
            post(app.clone(), path, Some(TOKEN)).await,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert!(
        registry().try_breaker("admin-unknown").is_none(),
        "a 404 creates nothing"
    );
}

#[tokio::test]
async fn force_open_through_http_really_rejects_the_next_call() {
    let b = registry().breaker("admin-force");
    let app = admin::router_with_token(TOKEN);
    let (status, _, body) = send(
        app.clone(),
        Method::POST,
        "/breakers/admin-force/force-open",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&json["state"], &json["forced"]),
        (&Value::from("OPEN"), &Value::from(true))
    );

    let ran = std::sync::atomic::AtomicBool::new(false);
    let r: Result<(), CallError<()>> = b
        .call(|| async {
            ran.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert!(matches!(r, Err(CallError::Rejected(e)) if e.is_circuit_open()));
    assert!(
        !ran.load(std::sync::atomic::Ordering::SeqCst),
        "the function did not run"
    );

    assert_eq!(
        post(
            app.clone(),
            "/breakers/admin-force/force-close",
            Some(TOKEN)
        )
        .await,
        StatusCode::OK
    );
    assert_eq!((b.state(), b.is_forced()), (State::Closed, true));
    assert!(b.call(|| async { Ok::<_, ()>(()) }).await.is_ok());
    assert_eq!(
        post(app, "/breakers/admin-force/reset", Some(TOKEN)).await,
        StatusCode::OK
    );
    assert_eq!((b.state(), b.is_forced()), (State::Closed, false));
}

#[tokio::test]
async fn clear_through_http_empties_the_cache() {
    let cache: Cache<u8> = Cache::with_name("admin-clear", MemoryStore::new(10));
    cache.set("k", &7, None).await.unwrap();
    let app = admin::router_with_token(TOKEN);
    assert_eq!(
        post(app, "/caches/admin-clear/clear", Some(TOKEN)).await,
        StatusCode::OK
    );
    assert_eq!(cache.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn names_with_path_and_html_characters_are_percent_decoded() {
    // A keyed breaker's name has a slash; names may hold markup or spaces.
    let names = ["search/eu", "<b>x</b> & \"y\"", "with space"];
    let app = admin::router_with_token(TOKEN);
    for name in names {
        let b = registry().breaker(name);
        let encoded: String = name
            .bytes()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    (c as char).to_string()
                } else {
                    format!("%{c:02X}")
                }
            })
            .collect();
        let status = post(
            app.clone(),
            &format!("/breakers/{encoded}/force-open"),
            Some(TOKEN),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(b.state(), State::Open, "{name}");
        b.reset();
    }
    // The snapshot carries the name as data, JSON-escaped, never as markup in the page.
    let (_, _, body) = get(app.clone(), "/snapshot").await;
    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(json["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["name"] == names[1]));
    let (_, _, page) = get(app, "/").await;
    assert!(
        !page.contains("<b>x</b>"),
        "names are not part of the served HTML"
    );
}
