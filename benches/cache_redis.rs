//! `#[cached(store = "redis")]` hits with 64 concurrent tasks, side by side with the raw `redis`
//! crate's GET on one multiplexed connection, against the same `redis-server` in the same run.
//! The bench starts its own server on a free loopback port (the tests' harness); with
//! no `redis-server` installed it prints a notice and skips, except under CI (`CI=true`).
//!
//! Each figure is the aggregate time per GET (criterion's time per iteration) while 64 tasks on a
//! multi-thread runtime share the work: throughput = 1 / time. After the criterion run the bench
//! also runs `redis-benchmark -t get -c 64` against the same server and saves its summary next to
//! criterion's output (`<target>/criterion/cache_redis/redis-benchmark.txt`) for the table.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cachex_runtime::{registry, RedisStore};
use criterion::{criterion_group, criterion_main, Criterion};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

#[path = "../tests/support/redis_server.rs"]
#[allow(dead_code, unreachable_pub)]
mod redis_server;
use redis_server::RedisServer;

const TASKS: u64 = 64;
const KEY: u64 = 42;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    score: u32,
    active: bool,
}

#[cachex_runtime::cached(name = "bench.redis", store = "redis")]
async fn cachex_user(id: u64) -> User {
    User {
        id,
        score: 7,
        active: true,
    }
}

/// Runs `iters` calls of `call` spread over `TASKS` concurrent tasks; the elapsed wall time.
async fn concurrent<F, Fut>(iters: u64, call: Arc<F>) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future + Send,
{
    let per_task = iters.div_ceil(TASKS);
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let call = Arc::clone(&call);
            tokio::spawn(async move {
                for _ in 0..per_task {
                    black_box(call().await);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Time per call over the calls actually made.
    start
        .elapsed()
        .mul_f64(iters as f64 / (per_task * TASKS) as f64)
}

/// `iters` plain GETs of `key` over `conn` (cloned per call, as a multiplexed handle is shared).
async fn raw_gets<C>(iters: u64, conn: C, key: String) -> Duration
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    concurrent(
        iters,
        Arc::new(move || {
            let mut conn = conn.clone();
            let key = key.clone();
            async move {
                let v: Vec<u8> = conn.get(&key).await.unwrap();
                v
            }
        }),
    )
    .await
}

fn hits(c: &mut Criterion) {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = server.url();
    let (conn, raw_key, value_len) = rt.block_on(async {
        let store = RedisStore::connect(&url)
            .await
            .expect("connect the cachex store");
        registry().set_store("redis", store);
        assert_eq!(cachex_user(KEY).await.id, KEY); // a miss writes the value
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = conn.keys("cachex:bench.redis:*").await.unwrap();
        assert_eq!(keys.len(), 1, "one cached value in Redis: {keys:?}");
        let bytes: Vec<u8> = conn.get(&keys[0]).await.unwrap();
        (conn, keys[0].clone(), bytes.len())
    });
    let hits_before = registry().cache_stats("bench.redis").map_or(0, |s| s.hits);

    let mut g = c.benchmark_group("cache_redis_hit_64");
    g.bench_function("cachex", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| concurrent(iters, Arc::new(|| cachex_user(black_box(KEY)))))
    });
    g.bench_function("redis_raw", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| raw_gets(iters, conn.clone(), raw_key.clone()))
    });
    // Diagnostic: the same raw GET through the auto-reconnecting `ConnectionManager` that the
    // cachex store uses, to split the gap into "the connection type" and "the cachex layers".
    let manager = rt.block_on(async {
        redis::Client::open(url.as_str())
            .unwrap()
            .get_connection_manager()
            .await
            .unwrap()
    });
    g.bench_function("redis_manager", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| raw_gets(iters, manager.clone(), raw_key.clone()))
    });
    g.finish();
    let stats = registry().cache_stats("bench.redis").unwrap();
    assert!(
        stats.hits > hits_before,
        "the cachex calls were hits: {stats:?}"
    );

    redis_benchmark(&server, value_len);
}

/// `redis-benchmark -t get -c 64` against the same server, with values of the cached size.
fn redis_benchmark(server: &RedisServer, value_len: usize) {
    let out = std::process::Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
        .args(["-t", "set,get", "-c", "64", "-n", "200000", "-q"])
        .args(["-d", &value_len.to_string()])
        .output();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            eprintln!("NOTICE: redis-benchmark did not run; its row is left out");
            return;
        }
    };
    // `-q` prints one "GET: 101010.10 requests per second, ..." line per test, with \r progress.
    let get = text
        .split(['\r', '\n'])
        .rfind(|l| l.starts_with("GET:"))
        .unwrap_or("")
        .to_owned();
    println!("redis-benchmark -t get -c 64 -d {value_len}: {get}");
    let dir = std::path::PathBuf::from(
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
    )
    .join("criterion/cache_redis_hit_64");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("redis-benchmark.txt"), format!("{get}\n"));
    }
}

criterion_group!(benches, hits);
criterion_main!(benches);
