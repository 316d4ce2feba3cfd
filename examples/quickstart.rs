//! Quickstart: a shop front that calls a flaky "remote" pricing service and an inventory
//! service that goes down for a while, both simulated in-process. It shows the three macros on
//! the memory store and prints what the registry knows about breakers and caches.
//!
//! Run it with `cargo run --example quickstart` (no external service needed; about half a
//! second).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use cachex_runtime::{cached, circuit_breaker, retry};
use cachex_runtime::{registry, Error};

/// The shop's own error type. `From<cachex_runtime::Error>` lets a breaker's rejection come back
/// as a `ShopError`.
#[derive(Debug)]
enum ShopError {
    /// The remote call failed (a timeout, a 503, ...).
    Unavailable(&'static str),
    /// The item does not exist: retrying will not help.
    UnknownItem(String),
    /// cachex refused the call: the breaker is open.
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

// --- The simulated remote services -------------------------------------------------------

/// The pricing service fails every other request, starting with the first.
static PRICING_REQUESTS: AtomicU32 = AtomicU32::new(0);
static PRICING_HEALTHY_NEXT: AtomicBool = AtomicBool::new(false);

async fn pricing_service(sku: &str) -> Result<u32, ShopError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    PRICING_REQUESTS.fetch_add(1, Ordering::SeqCst);
    if !PRICING_HEALTHY_NEXT.fetch_xor(true, Ordering::SeqCst) {
        return Err(ShopError::Unavailable("pricing"));
    }
    match sku {
        "apple" => Ok(120),
        "pear" => Ok(95),
        _ => Err(ShopError::UnknownItem(sku.to_owned())),
    }
}

/// The inventory service is down until someone "restarts" it.
static INVENTORY_UP: AtomicBool = AtomicBool::new(false);
static INVENTORY_REQUESTS: AtomicU32 = AtomicU32::new(0);

async fn inventory_service(sku: &str) -> Result<u32, ShopError> {
    INVENTORY_REQUESTS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await;
    if INVENTORY_UP.load(Ordering::SeqCst) {
        Ok(sku.len() as u32 * 10)
    } else {
        Err(ShopError::Unavailable("inventory"))
    }
}

/// The shipping service answers until it goes down.
static SHIPPING_UP: AtomicBool = AtomicBool::new(true);
static SHIPPING_REQUESTS: AtomicU32 = AtomicU32::new(0);

async fn shipping_service(sku: &str) -> Result<u32, ShopError> {
    SHIPPING_REQUESTS.fetch_add(1, Ordering::SeqCst);
    if SHIPPING_UP.load(Ordering::SeqCst) {
        Ok(sku.len() as u32 * 100)
    } else {
        Err(ShopError::Unavailable("shipping"))
    }
}

// --- The shop's resilient client ---------------------------------------------------------

/// Prices change rarely: cache them for a minute. A failed request is retried (unknown items
/// are not); the breaker protects the pricing service when it really goes down.
#[cached(name = "prices", ttl = "60s", capacity = 1_000)]
#[retry(max_attempts = 3, initial_delay = "20ms", retry_if = worth_retrying)]
#[circuit_breaker(name = "pricing-service", threshold = 5, timeout = "30s")]
async fn price(sku: &str) -> Result<u32, ShopError> {
    pricing_service(sku).await
}

/// Shipping quotes are cached briefly; when the shipping service fails, a quote up to an hour
/// old is better than none: `stale_if_error` answers from it, at once while the breaker is open.
#[cached(name = "shipping", ttl = "100ms", stale_if_error = "1h")]
#[circuit_breaker(name = "shipping-service", threshold = 1, timeout = "30s")]
async fn shipping(sku: &str) -> Result<u32, ShopError> {
    shipping_service(sku).await
}

/// Stock levels are live, so they are not cached. After two failures in a row the breaker
/// opens and answers at once for 200ms instead of waiting on a dead service.
#[circuit_breaker(
    name = "inventory-service",
    threshold = 2,
    timeout = "200ms",
    half_open_max = 1
)]
async fn stock(sku: &str) -> Result<u32, ShopError> {
    inventory_service(sku).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("== prices (cached, retried, behind a breaker)");
    for sku in ["apple", "apple", "pear", "kiwi", "pear"] {
        match price(sku).await {
            Ok(cents) => println!("  {sku:<6} {cents} cents"),
            Err(e) => println!("  {sku:<6} error: {e}"),
        }
    }
    println!(
        "  the pricing service saw {} requests",
        PRICING_REQUESTS.load(Ordering::SeqCst)
    );

    println!("\n== stock (behind a breaker; the inventory service is down)");
    for _ in 0..4 {
        match stock("apple").await {
            Ok(n) => println!("  apple: {n} in stock"),
            Err(e) => println!("  apple: {e}"),
        }
    }
    println!(
        "  the inventory service saw {} requests: the open breaker spared it the rest",
        INVENTORY_REQUESTS.load(Ordering::SeqCst)
    );

    println!("  ... the inventory service is restarted; waiting out the breaker's timeout");
    INVENTORY_UP.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await;
    match stock("apple").await {
        Ok(n) => println!("  apple: {n} in stock (trial call succeeded, breaker closed)"),
        Err(e) => println!("  apple: {e}"),
    }

    println!("\n== shipping (cached with stale_if_error, behind a breaker)");
    match shipping("apple").await {
        Ok(cents) => println!("  apple: shipping {cents} cents (fresh)"),
        Err(e) => println!("  apple: {e}"),
    }
    println!("  ... the shipping service goes down and the quote's ttl passes");
    SHIPPING_UP.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    for _ in 0..3 {
        match shipping("apple").await {
            Ok(cents) => println!(
                "  apple: shipping {cents} cents (stale; breaker {})",
                registry().breaker("shipping-service").state()
            ),
            Err(e) => println!("  apple: {e}"),
        }
    }
    println!(
        "  the shipping service saw {} requests: once the breaker opened, the stale quote \
         answered at once",
        SHIPPING_REQUESTS.load(Ordering::SeqCst)
    );

    println!("\n== registry: breakers");
    for breaker in registry().breakers() {
        let s = breaker.stats();
        println!(
            "  {:<18} {:<9} requests {:>2}  ok {:>2}  failed {:>2}  rejected {:>2}  failure rate {:>5.1}%",
            breaker.name(),
            s.state.to_string(),
            s.total_requests,
            s.total_successes,
            s.total_failures,
            s.total_rejections,
            s.failure_rate(),
        );
    }

    println!("\n== registry: caches");
    if let Some(s) = registry().cache_stats("prices") {
        println!("  prices             hits {}  misses {}", s.hits, s.misses);
    }
    if let Some(s) = registry().cache_stats("shipping") {
        println!(
            "  shipping           hits {}  misses {}  stale hits {}",
            s.hits, s.misses, s.stale_hits
        );
    }
}
