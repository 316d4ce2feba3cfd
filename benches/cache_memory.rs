//! `#[cached]` memory hits, cachex side by side with the `cached` crate's `#[cached]`, moka 0.12
//! (sync and future caches) and a plain `RwLock<HashMap>` get + clone, in the same run.
//!
//! Every subject answers the same hit: a `u64` key, a small `Clone` struct value, the clone
//! included. `cachex_ttl` is a site with a TTL (its hits read the clock). `cache_memory_threads` runs 1 and 2 OS threads on one hot key of one cache;
//! scaling = t(1 thread) / t(2 threads), where 2.0 is perfect.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::RwLock;

use criterion::{criterion_group, criterion_main, Criterion};

mod support;
use support::{rt, threaded};

#[derive(Clone, Debug, PartialEq)]
struct User {
    id: u64,
    score: u32,
    active: bool,
}

fn load(id: u64) -> User {
    User {
        id,
        score: 7,
        active: true,
    }
}

#[cachex_runtime::cached(name = "bench.users")]
async fn cachex_user(id: u64) -> User {
    load(id)
}

/// The same with a TTL: a hit then also reads the clock to check the entry's expiry.
#[cachex_runtime::cached(name = "bench.users.ttl", ttl = "1h")]
async fn cachex_user_ttl(id: u64) -> User {
    load(id)
}

#[cached::proc_macro::cached]
async fn cached_user(id: u64) -> User {
    load(id)
}

const KEY: u64 = 42;

fn hits(c: &mut Criterion) {
    let rt = rt();
    let moka_sync: moka::sync::Cache<u64, User> = moka::sync::Cache::new(10_000);
    let moka_future: moka::future::Cache<u64, User> = moka::future::Cache::new(10_000);
    let map = RwLock::new(HashMap::new());
    moka_sync.insert(KEY, load(KEY));
    map.write().unwrap().insert(KEY, load(KEY));
    rt.block_on(async {
        moka_future.insert(KEY, load(KEY)).await;
        cachex_user(KEY).await;
        cachex_user_ttl(KEY).await;
        cached_user(KEY).await;
    });

    let mut g = c.benchmark_group("cache_memory_hit");
    g.bench_function("cachex", |b| {
        b.to_async(&rt).iter(|| cachex_user(black_box(KEY)))
    });
    g.bench_function("cachex_ttl", |b| {
        b.to_async(&rt).iter(|| cachex_user_ttl(black_box(KEY)))
    });
    g.bench_function("cached", |b| {
        b.to_async(&rt).iter(|| cached_user(black_box(KEY)))
    });
    g.bench_function("moka_sync", |b| b.iter(|| moka_sync.get(&black_box(KEY))));
    g.bench_function("moka_future", |b| {
        b.to_async(&rt)
            .iter(|| async { moka_future.get(&black_box(KEY)).await })
    });
    g.bench_function("rwlock_hashmap", |b| {
        b.iter(|| map.read().unwrap().get(&black_box(KEY)).cloned())
    });
    g.finish();

    let mut g = c.benchmark_group("cache_memory_threads");
    for n in [1usize, 2] {
        g.bench_function(format!("cachex/{n}"), |b| {
            b.iter_custom(|iters| threaded(n, iters, || cachex_user(black_box(KEY))))
        });
        g.bench_function(format!("cached/{n}"), |b| {
            b.iter_custom(|iters| threaded(n, iters, || cached_user(black_box(KEY))))
        });
        g.bench_function(format!("moka_sync/{n}"), |b| {
            b.iter_custom(|iters| threaded(n, iters, || async { moka_sync.get(&black_box(KEY)) }))
        });
        g.bench_function(format!("rwlock_hashmap/{n}"), |b| {
            b.iter_custom(|iters| {
                threaded(n, iters, || async {
                    map.read().unwrap().get(&black_box(KEY)).cloned()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hits);
criterion_main!(benches);
