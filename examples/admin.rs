//! The admin dashboard: the quickstart's shop (a flaky pricing service behind a cache, retries
//! and a breaker; an inventory service that goes down and up again behind a breaker) kept busy
//! in the background, with `cachex_runtime::admin::router_with_token` served on loopback.
//!
//! Run it with `cargo run --example admin --features admin` and open the address it prints.
//! Settings (environment): `CACHEX_ADMIN_ADDR` (default `127.0.0.1:0`, a free port),
//! `CACHEX_ADMIN_TOKEN` (default: a random token, printed), `CACHEX_ADMIN_RUN_FOR` (seconds;
//! default: until Ctrl-C).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use cachex_runtime::{cached, circuit_breaker, retry, Error};

#[derive(Debug)]
enum ShopError {
    Unavailable(&'static str),
    UnknownItem(String),
    Resilience(Error),
}

impl From<Error> for ShopError {
    fn from(e: Error) -> Self {
        ShopError::Resilience(e)
    }
}

impl fmt::Display for ShopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShopError::Unavailable(service) => write!(f, "{service} is unavailable"),
            ShopError::UnknownItem(sku) => write!(f, "unknown item {sku}"),
            ShopError::Resilience(e) => write!(f, "{e}"),
        }
    }
}

fn worth_retrying(e: &ShopError) -> bool {
    matches!(e, ShopError::Unavailable(_))
}

/// The pricing service fails every other request.
static PRICING_HEALTHY_NEXT: AtomicBool = AtomicBool::new(false);

async fn pricing_service(sku: &str) -> Result<u32, ShopError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    if !PRICING_HEALTHY_NEXT.fetch_xor(true, Ordering::SeqCst) {
        return Err(ShopError::Unavailable("pricing"));
    }
    match sku {
        "apple" => Ok(120),
        "pear" => Ok(95),
        _ => Err(ShopError::UnknownItem(sku.to_owned())),
    }
}

/// The inventory service is down for 3 s out of every 8 s.
static INVENTORY_TICKS: AtomicU32 = AtomicU32::new(0);

async fn inventory_service(sku: &str) -> Result<u32, ShopError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let tick = INVENTORY_TICKS.fetch_add(1, Ordering::SeqCst) % 40;
    if tick < 25 {
        Ok(sku.len() as u32 * 10)
    } else {
        Err(ShopError::Unavailable("inventory"))
    }
}

#[cached(name = "prices", ttl = "2s", capacity = 1_000)]
#[retry(max_attempts = 3, initial_delay = "20ms", retry_if = worth_retrying)]
#[circuit_breaker(name = "pricing-service", threshold = 5, timeout = "30s")]
async fn price(sku: &str) -> Result<u32, ShopError> {
    pricing_service(sku).await
}

#[circuit_breaker(
    name = "inventory-service",
    threshold = 2,
    timeout = "1s",
    half_open_max = 1
)]
async fn stock(sku: &str) -> Result<u32, ShopError> {
    inventory_service(sku).await
}

/// A token nobody can guess, for when none is given.
fn random_token() -> String {
    (0..2)
        .map(|_| format!("{:016x}", RandomState::new().build_hasher().finish()))
        .collect()
}

/// The shop at work: a few calls every 200 ms, so the dashboard has something to show.
pub async fn keep_the_shop_busy() {
    let mut every = tokio::time::interval(Duration::from_millis(200));
    loop {
        every.tick().await;
        for sku in ["apple", "pear", "kiwi"] {
            let _ = price(sku).await;
        }
        let _ = stock("apple").await;
    }
}

/// Serves the dashboard with operator controls behind `token` on `listener` until `shutdown`
/// completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    token: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = cachex_runtime::admin::router_with_token(token);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("CACHEX_ADMIN_ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let token = std::env::var("CACHEX_ADMIN_TOKEN").unwrap_or_else(|_| random_token());
    let run_for = std::env::var("CACHEX_ADMIN_RUN_FOR")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);

    tokio::spawn(keep_the_shop_busy());

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("cachex admin dashboard on http://{local}/");
    println!("admin token: {token}");
    println!("(JSON at http://{local}/snapshot, Prometheus text at http://{local}/metrics)");

    serve(listener, token, async move {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    })
    .await
}
