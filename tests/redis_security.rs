//! RedisStore's URLs, credentials, TLS, naming and errors, against real redis-servers that the
//! tests start themselves (plain, on a unix socket, with a password, with TLS on a private CA):
//! no credential in any Display, Debug, error or log line; TLS that verifies (or deliberately
//! does not); one breaker per server; errors that say what to do and chain their cause.
//!
//! Every store here is named except in the one test about the default name: the default store
//! (`store.redis`) is process-wide, and this binary owns it.

mod support;

use std::error::Error as _;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cachex_runtime::{cached, registry, BreakerConfig, Error, RedisStore, Store};
use support::redis_server::RedisServer;
use support::tls::{unrelated_ca_pem, TlsFiles};

// ---------------------------------------------------------------------------------------------
// Log capture: one process-wide subscriber writing every event (TRACE and up) into a buffer.

/// Everything logged so far by any test of this binary.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_writer(move || BufferWriter(Arc::clone(&writer)))
            .init();
        buffer
    })
    .clone()
}

/// The captured log lines that mention `needle` (a store name, typically).
fn log_lines_with(needle: &str) -> Vec<String> {
    let logs = logs();
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    text.lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// All captured log text.
fn all_logs() -> String {
    let logs = logs();
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    text
}

struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Panics if `text` contains `secret` or its percent-encoded form.
#[track_caller]
fn assert_hidden(text: &str, secret: &str) {
    assert!(
        !text.contains(secret),
        "the secret {secret:?} shows in: {text}"
    );
    let encoded = secret
        .replace('%', "%25")
        .replace('@', "%40")
        .replace(':', "%3A")
        .replace('/', "%2F");
    assert!(
        !text.contains(&encoded),
        "the secret {encoded:?} shows in: {text}"
    );
}

/// The Display, Debug and whole source chain of `err`.
fn error_text(err: &Error) -> String {
    let mut text = format!("{err} | {err:?}");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(" | caused by: {cause} / {cause:?}"));
        source = cause.source();
    }
    text
}

/// Short settings, so failures are quick; `name` unique per test (its breaker is global).
fn builder(url: &str, name: &str) -> cachex_runtime::RedisStoreBuilder {
    RedisStore::builder(url)
        .name(name)
        .op_timeout(Duration::from_millis(500))
        .max_retries(0)
        .circuit_breaker(BreakerConfig {
            threshold: 100,
            ..BreakerConfig::default()
        })
}

fn dead_socket_path() -> PathBuf {
    std::env::temp_dir().join(format!("cachex-no-such-redis-{}.sock", std::process::id()))
}

// ---------------------------------------------------------------------------------------------
// Credentials

#[tokio::test(flavor = "current_thread")]
async fn no_credential_shows_in_debug_or_build_errors_for_any_url_form() {
    // Used to happen: a password in a unix-socket URL (`?pass=`) was shown in full by the
    // builder's and the store's Debug and in build() errors (only `user:pass@` was redacted).
    let secret = "S3cr3t-Pw";
    let urls = [
        format!("redis://user:{secret}@127.0.0.1:6390/1"),
        format!("redis://:{secret}@127.0.0.1"),
        format!("rediss://user:{secret}@127.0.0.1:6390/#insecure"),
        format!("valkey://user:{secret}@127.0.0.1:6390"),
        format!("valkeys://:{secret}@127.0.0.1:6390"),
        format!("redis://user:{secret}%40x@127.0.0.1:6390"),
        format!("redis+unix:///run/redis.sock?pass={secret}"),
        format!("redis+unix:///run/redis.sock?password={secret}&db=2"),
        format!("redis+unix:///run/redis.sock?db=3&pass={secret}&user=app"),
        format!("unix:///run/redis.sock?pass={secret}"),
        format!("valkey+unix:///run/redis.sock?pass={secret}"),
    ];
    for url in &urls {
        let builder = RedisStore::builder(url).name("shown-forms");
        assert_hidden(&format!("{builder:?}"), secret);
        let store = builder
            .build()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let shown = format!("{store:?}");
        assert_hidden(&shown, secret);
        assert!(shown.contains("***"), "{shown}");
    }

    // URLs that parse but that the client refuses: the error shows the URL, never the secret.
    let refused = [
        format!("redis+unix:///run/redis.sock?pass={secret}&db=notanumber"),
        format!("redis://:{secret}@0.0.0.0:6390"),
        format!("redis://:{secret}@127.0.0.1:6390/notanumber"),
        format!("unix:///run/redis.sock?password={secret}&protocol=bogus"),
    ];
    for url in &refused {
        let err = RedisStore::builder(url)
            .name("shown-refused")
            .build()
            .await
            .expect_err(url);
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
        assert_hidden(&error_text(&err), secret);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_shows_in_the_log_line_of_a_failed_operation() {
    // Used to happen: every failed operation logged the store's URL, and for a unix-socket URL
    // that URL carried `?pass=...` in clear; errors printed it too.
    logs(); // install the capturing subscriber before anything logs
    let password = "right-Pa55";
    let Some(server) = RedisServer::start_with_password(None, password) else {
        return;
    };
    let socket = server.unix_socket();
    let socket = socket.display();
    let dead = dead_socket_path();
    let dead = dead.display();
    let cases = [
        // (store name, URL, secret in it)
        (
            "log-unix-pass",
            format!("redis+unix://{socket}?pass=wrong-Unix-pw"),
            "wrong-Unix-pw",
        ),
        (
            "log-unix-password",
            format!("unix://{socket}?password=wrong-Unix-pw2"),
            "wrong-Unix-pw2",
        ),
        (
            "log-dead-socket",
            format!("redis+unix://{dead}?pass=dead-Sock-pw"),
            "dead-Sock-pw",
        ),
        (
            "log-tcp-wrong",
            format!("redis://:wrong-Tcp-pw@127.0.0.1:{}", server.port()),
            "wrong-Tcp-pw",
        ),
        (
            "log-tcp-right-user-wrong",
            format!("redis://nobody:wrong-Acl-pw@127.0.0.1:{}", server.port()),
            "wrong-Acl-pw",
        ),
    ];
    for (name, url, secret) in &cases {
        let store = builder(url, name).build().await.unwrap();
        let err = store.get("k").await.expect_err(name);
        assert!(matches!(err, Error::Store { .. }), "{name}: {err:?}");
        assert_hidden(&error_text(&err), secret);
        assert_hidden(&format!("{store:?}"), secret);
        let lines = log_lines_with(name);
        assert!(
            !lines.is_empty(),
            "{name}: the failed operation was not logged; captured:\n{}",
            all_logs()
        );
        for line in &lines {
            assert_hidden(line, secret);
        }
    }
    assert_hidden(&all_logs(), password);
    for (_, _, secret) in &cases {
        assert_hidden(&all_logs(), secret);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_url_with_a_password_works_with_pass_or_password() {
    // Used to happen: `?password=` was ignored by the client (only `?pass=` was read), so the
    // store connected without a password and every operation was refused with NOAUTH.
    let password = "unix-Pa55";
    let Some(server) = RedisServer::start_with_password(None, password) else {
        return;
    };
    let socket = server.unix_socket();
    for (name, key) in [("unix-pass", "pass"), ("unix-password", "password")] {
        let url = format!("redis+unix://{}?{key}={password}", socket.display());
        let store = builder(&url, name).build().await.unwrap();
        store
            .set("k", b"v", None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()), "{name}");
        assert_hidden(&format!("{store:?}"), password);
    }
}

// ---------------------------------------------------------------------------------------------
// Names and breakers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_unnamed_store_on_another_server_is_refused_and_told_to_take_a_name() {
    // Used to happen: two stores built without `.name()` on different servers shared the
    // breaker `store.redis`, so one dead server made the store of the healthy one refuse calls.
    let (Some(first), Some(second)) = (RedisServer::start(), RedisServer::start()) else {
        return;
    };
    let default = RedisStore::connect(&first.url()).await.unwrap();
    assert_eq!(default.name(), "redis");
    assert!(Arc::ptr_eq(
        &default.breaker(),
        &registry().breaker("store.redis")
    ));

    let err = RedisStore::connect(&second.url()).await.unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(".name("), "{text}");
    assert!(text.contains("store.redis"), "{text}");

    // The same server again (spelled differently) is the same endpoint: allowed, and shared.
    let again = RedisStore::connect(&format!("redis://127.0.0.1:{}/0", first.port()))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&again.breaker(), &default.breaker()));
    again.set("k", b"v", None).await.unwrap();
    assert_eq!(default.get("k").await.unwrap(), Some(b"v".to_vec()));

    // With a name, the second server gets its own breaker.
    let named = RedisStore::builder(&second.url())
        .name("second-server")
        .build()
        .await
        .unwrap();
    assert!(!Arc::ptr_eq(&named.breaker(), &default.breaker()));
    named.set("k", b"w", None).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// TLS

/// The deadline of one attempt over TLS: a handshake loads the system's roots and verifies a
/// chain, which takes a few hundred milliseconds in a debug build on a busy machine.
const TLS_OP_TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS server on a fresh private CA, and that CA's files. `None`: no redis-server here.
fn tls_server(tag: &str, auth_clients: bool) -> Option<(RedisServer, TlsFiles)> {
    let dir = std::env::temp_dir().join(format!("cachex-tls-{}-{tag}", std::process::id()));
    let files = TlsFiles::generate(&dir, &format!("cachex test CA {tag}"));
    let server = RedisServer::start_tls(&files.dir, auth_clients)?;
    Some((server, files))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insecure_tls_url_connects_to_a_tls_server() {
    // Used to happen: `rediss://...#insecure` could never connect (the client's insecure TLS
    // mode was not compiled in), and the only TLS test ran against a plain server, so it passed
    // on any failure.
    let Some((server, _files)) = tls_server("insecure", false) else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{}/#insecure", server.tls_port());
    let store = builder(&url, "tls-insecure")
        .op_timeout(TLS_OP_TIMEOUT)
        .build()
        .await
        .unwrap();
    store.set("k", b"over-tls", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"over-tls".to_vec()));
    // It went over TLS to the TLS port: the plain port sees the value too (same server).
    assert_eq!(
        server.cmd_str(&["GET", "cachex:k"]).bulk(),
        Some(b"over-tls".to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_verifies_the_server_and_connects() {
    let Some((server, files)) = tls_server("private-ca", false) else {
        return;
    };
    for (name, host) in [("tls-ca-ip", "127.0.0.1"), ("tls-ca-dns", "localhost")] {
        let url = format!("rediss://{host}:{}", server.tls_port());
        let store = builder(&url, name)
            .op_timeout(TLS_OP_TIMEOUT)
            .tls_ca(&files.ca_pem)
            .build()
            .await
            .unwrap();
        store
            .set("k", name.as_bytes(), None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            store.get("k").await.unwrap(),
            Some(name.as_bytes().to_vec())
        );
    }
}

static WRONG_CA_RUNS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, PartialEq)]
struct AppError;

impl From<Error> for AppError {
    fn from(_: Error) -> Self {
        AppError
    }
}

#[cached(name = "tls-wrong-ca-users", store = "redis-tls-wrong-ca", ttl = "60s")]
async fn load_over_wrong_ca(id: u64) -> Result<u64, AppError> {
    WRONG_CA_RUNS.fetch_add(1, Ordering::Relaxed);
    Ok(id * 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_signed_by_another_ca_is_refused_and_cached_calls_still_answer() {
    let Some((server, _files)) = tls_server("wrong-ca", false) else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{}", server.tls_port());
    let store = builder(&url, "tls-wrong-ca")
        .op_timeout(TLS_OP_TIMEOUT)
        .tls_ca(unrelated_ca_pem())
        .build()
        .await
        .unwrap();
    let err = store.get("k").await.unwrap_err();
    assert!(matches!(err, Error::Store { .. }), "{err:?}");
    let text = error_text(&err);
    assert!(
        text.to_lowercase().contains("certificate"),
        "the error says the certificate was refused: {text}"
    );
    assert!(err.source().is_some(), "{text}");

    registry().set_store("redis-tls-wrong-ca", store);
    assert_eq!(load_over_wrong_ca(4).await, Ok(40));
    assert_eq!(load_over_wrong_ca(4).await, Ok(40));
    assert_eq!(
        WRONG_CA_RUNS.load(Ordering::Relaxed),
        2,
        "no cache, body ran"
    );
    // Nothing was written through the refused connection.
    assert_eq!(server.cmd_str(&["DBSIZE"]).int(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_presented_when_the_server_asks_for_one() {
    let Some((server, files)) = tls_server("mtls", true) else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{}", server.tls_port());
    let without = builder(&url, "tls-mtls-without")
        .op_timeout(TLS_OP_TIMEOUT)
        .tls_ca(&files.ca_pem)
        .build()
        .await
        .unwrap();
    assert!(
        without.get("k").await.is_err(),
        "the server asks for a certificate"
    );

    let with = builder(&url, "tls-mtls-with")
        .op_timeout(TLS_OP_TIMEOUT)
        .tls_ca(&files.ca_pem)
        .tls_client_cert(&files.client_cert_pem, &files.client_key_pem)
        .build()
        .await
        .unwrap();
    with.set("k", b"mtls", None).await.unwrap();
    assert_eq!(with.get("k").await.unwrap(), Some(b"mtls".to_vec()));
    let shown = format!("{with:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

#[tokio::test(flavor = "current_thread")]
async fn tls_settings_on_a_plain_url_or_bad_pem_are_refused_at_build() {
    let err = RedisStore::builder("redis://127.0.0.1:6390")
        .name("tls-on-plain")
        .tls_ca("-----BEGIN CERTIFICATE-----\n")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("rediss://"), "{err}");

    let err = RedisStore::builder("rediss://127.0.0.1:6390")
        .name("tls-bad-pem")
        .tls_ca("not a certificate")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("tls_ca"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_error_chains_the_client_error_as_its_source() {
    // Used to happen: `source()` was always None; the cause was flattened into the message.
    let password = "chain-Pa55";
    let Some(server) = RedisServer::start_with_password(None, password) else {
        return;
    };
    let url = format!("redis://:wrong-Chain-pw@127.0.0.1:{}", server.port());
    let store = builder(&url, "error-chain").build().await.unwrap();
    let err = store.get("k").await.unwrap_err();
    let source = err.source().expect("the client's error is the source");
    assert!(!source.to_string().is_empty());
    assert_hidden(&error_text(&err), "wrong-Chain-pw");
    // Equality and cloning ignore the source's identity but keep it.
    let copy = err.clone();
    assert_eq!(copy, err);
    assert!(copy.source().is_some());
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_scheme_lists_the_accepted_ones() {
    // Used to happen: "http://..." was refused with the client's "not a redis URL", which did
    // not say which URLs are.
    let err = RedisStore::connect("http://user:pw-in-url@127.0.0.1:6390")
        .await
        .unwrap_err();
    let text = err.to_string();
    for scheme in [
        "redis://",
        "rediss://",
        "redis+unix://",
        "valkey://",
        "unix://",
    ] {
        assert!(text.contains(scheme), "{text}");
    }
    assert!(text.contains("`http`"), "{text}");
    assert_hidden(&text, "pw-in-url");
}

#[tokio::test(flavor = "current_thread")]
async fn a_reserved_character_in_the_password_says_to_percent_encode_it() {
    // Used to happen: `redis://user:pa/ss@host:6379` said only "invalid port number" (the `/`
    // ends the host part, so the parser read `pa` as a port).
    for (url, secret, char) in [
        ("redis://user:pa/ss@127.0.0.1:6379", "pa/ss", "/"),
        ("redis://user:pa?ss@127.0.0.1:6379", "pa?ss", "?"),
        ("redis://user:pa#ss@127.0.0.1:6379", "pa#ss", "#"),
    ] {
        let err = RedisStore::connect(url).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("percent-encode"), "{text}");
        assert!(text.contains(&format!("`{char}`")), "{text}");
        assert!(!text.contains(secret), "{text}");
    }
    // `redis://user:12#cd@host`: the `#` makes `12` a port and `cd@host` a fragment. The
    // fragment is not shown (it is part of the password), and the error says why it failed.
    let err = RedisStore::builder("redis://user:12#cd-Frag@127.0.0.1")
        .name("fragment-in-password")
        .build()
        .await
        .unwrap_err();
    let text = error_text(&err);
    assert!(!text.contains("cd-Frag"), "{text}");
    assert!(text.contains("%23"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_speak_resp_is_named_as_such() {
    // Used to happen: pointing the store at a web server printed the client's parse error with
    // raw byte codes, which did not say that the port is not Redis.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            });
        }
    });
    let url = format!("redis://127.0.0.1:{port}");
    let store = builder(&url, "not-resp").build().await.unwrap();
    let err = store.get("k").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("does not speak RESP"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
}
