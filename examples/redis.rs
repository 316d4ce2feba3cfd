//! A `#[cached]` function backed by Redis, and what it does when Redis is not there.
//!
//! ```text
//! cargo run --example redis                                    # redis://127.0.0.1:6379
//! REDIS_URL=redis://:secret@10.0.0.5:6379/2 cargo run --example redis
//! REDIS_URL=rediss://app:secret@cache.example:6380 cargo run --example redis   # TLS
//! ```
//!
//! Without a reachable Redis the program still runs to the end: every call answers (uncached),
//! and the store's circuit breaker opens so that Redis costs nothing while it is down.

use std::env;
use std::fmt;
use std::time::{Duration, Instant};

use cachex_runtime::{cached, registry, RedisStore};

/// The application's error type.
#[derive(Debug)]
struct AppError(String);

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AppError {}

impl From<cachex_runtime::Error> for AppError {
    fn from(e: cachex_runtime::Error) -> Self {
        AppError(e.to_string())
    }
}

/// A slow lookup (50 ms), cached in Redis for a minute under `cachex:users:[<id>]`.
#[cached(name = "users", store = "redis", ttl = "60s")]
async fn load_user(id: u64) -> Result<String, AppError> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(format!("user-{id}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());

    // Building does not connect, so a service starts even while its Redis is down.
    let store = RedisStore::builder(&url)
        .op_timeout(Duration::from_millis(250))
        .build()
        .await?;
    println!("store: {store:?}"); // the URL's password is shown as ***
    match store.ping().await {
        Ok(()) => println!("Redis answers"),
        Err(e) => println!("Redis unreachable ({e}); calls still answer, uncached"),
    }
    registry().set_store("redis", store.clone());

    for round in 1..=2 {
        for id in 1..=3 {
            let started = Instant::now();
            let user = load_user(id).await?;
            println!(
                "round {round}: load_user({id}) = {user} in {:?}",
                started.elapsed()
            );
        }
    }

    if let Some(stats) = registry().cache_stats("users") {
        println!(
            "cache `users`: {} hits, {} misses",
            stats.hits, stats.misses
        );
    }
    let breaker = store.breaker();
    let stats = breaker.stats();
    println!(
        "breaker `{}`: {}, {} requests, {} failures, {} rejected",
        breaker.name(),
        stats.state,
        stats.total_requests,
        stats.total_failures,
        stats.total_rejections
    );

    // Clean up the example's keys (SCAN + UNLINK on `cachex:users:*`).
    if let Err(e) = registry().clear_cache("users").await {
        println!("could not clear the cache: {e}");
    }
    Ok(())
}
