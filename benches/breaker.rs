//! Circuit breaker hot paths, cachex side by side with `recloser` and `failsafe` in the same run.
//! Each group's figures are only compared with each other: ratios, not absolutes.
//!
//! - `breaker_closed`: one call of a future that returns `Ok` at once, through a CLOSED breaker;
//!   `direct` awaits the same future with no breaker (the overhead baseline), `cachex_macro` is a
//!   `#[circuit_breaker]` function, `cachex` is `CircuitBreaker::call`.
//! - `breaker_open`: one rejected call of an OPEN breaker (tripped by failures, long timeout);
//!   `cachex_forced` is a breaker pinned by `force_open` (no deadline, so no clock read).
//!   `cachex_parts/*` split the cachex rejection into the costs it is made of.
//! - `breaker_threads`: aggregate time per closed call with 1 and 2 OS threads hammering one
//!   shared breaker (each thread drives its own current-thread runtime);
//!   scaling = t(1 thread) / t(2 threads), where 2.0 is perfect.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::__private::{breaker_run, BreakerSite};
use cachex_runtime::{BreakerConfig, CircuitBreaker};
use criterion::{criterion_group, criterion_main, Criterion};
use failsafe::futures::CircuitBreaker as _;
use recloser::{AsyncRecloser, Recloser};

mod support;
use support::{rt, threaded};

#[inline(always)]
async fn ok_now() -> Result<u64, ()> {
    Ok(black_box(1))
}

#[inline(always)]
async fn err_now() -> Result<u64, ()> {
    black_box(Err(()))
}

fn failsafe_breaker() -> impl failsafe::futures::CircuitBreaker + Clone {
    let backoff = failsafe::backoff::constant(Duration::from_secs(3600));
    let policy = failsafe::failure_policy::consecutive_failures(5, backoff);
    failsafe::Config::new().failure_policy(policy).build()
}

fn recloser_breaker() -> AsyncRecloser {
    AsyncRecloser::from(
        Recloser::custom()
            .error_rate(0.5)
            .closed_len(10)
            .open_wait(Duration::from_secs(3600))
            .build(),
    )
}

/// An application error type, as a user would have.
#[derive(Debug)]
#[allow(dead_code)]
enum AppError {
    Breaker(cachex_runtime::Error),
}

impl From<cachex_runtime::Error> for AppError {
    fn from(e: cachex_runtime::Error) -> Self {
        AppError::Breaker(e)
    }
}

#[cachex_runtime::circuit_breaker(name = "bench.breaker.macro")]
async fn guarded() -> Result<u64, AppError> {
    Ok(black_box(1))
}

static SITE: BreakerSite = BreakerSite::new("bench.breaker.site");

fn closed(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("breaker_closed");
    let cx = CircuitBreaker::new("bench.closed", BreakerConfig::default());
    let rc = recloser_breaker();
    let fs = failsafe_breaker();

    // Every subject is awaited inside an `async` block, as a function body would await it (and
    // so that all pay the same for handing their result out of a nested future).
    g.bench_function("direct", |b| {
        b.to_async(&rt).iter(|| async { ok_now().await })
    });
    g.bench_function("cachex_macro", |b| {
        b.to_async(&rt).iter(|| async { guarded().await })
    });
    g.bench_function("cachex", |b| {
        b.to_async(&rt).iter(|| async { cx.call(ok_now).await })
    });
    // What `#[circuit_breaker]` generates: a static site resolved once, the future run under it.
    g.bench_function("cachex_site", |b| {
        b.to_async(&rt)
            .iter(|| async { breaker_run(SITE.breaker(), ok_now()).await })
    });
    g.bench_function("recloser", |b| {
        b.to_async(&rt).iter(|| async { rc.call(ok_now()).await })
    });
    g.bench_function("failsafe", |b| {
        b.to_async(&rt).iter(|| async { fs.call(ok_now()).await })
    });
    g.finish();
}

fn open(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("breaker_open");
    let cfg = BreakerConfig {
        threshold: 5,
        timeout: Duration::from_secs(3600),
        ..BreakerConfig::default()
    };
    let cx = CircuitBreaker::new("bench.open", cfg);
    let forced = CircuitBreaker::new("bench.forced", cfg);
    forced.force_open();
    let rc = recloser_breaker();
    let fs = failsafe_breaker();
    rt.block_on(async {
        for _ in 0..20 {
            let _ = cx.call(err_now).await;
            let _ = rc.call(err_now()).await;
            let _ = fs.call(err_now()).await;
        }
    });
    assert!(!fs.is_call_permitted(), "failsafe breaker must be open");
    assert!(cx.call_rejects_now(&rt), "cachex breaker must be open");

    g.bench_function("cachex", |b| {
        b.to_async(&rt).iter(|| async { cx.call(ok_now).await })
    });
    g.bench_function("cachex_forced", |b| {
        b.to_async(&rt).iter(|| async { forced.call(ok_now).await })
    });
    g.bench_function("recloser", |b| {
        b.to_async(&rt).iter(|| async { rc.call(ok_now()).await })
    });
    g.bench_function("failsafe", |b| {
        b.to_async(&rt).iter(|| async { fs.call(ok_now()).await })
    });
    // The pieces of a rejection: cloning an owned name (an allocation and a free, which a
    // registry breaker's borrowed name avoids), and `retry_after`, which needs the time left.
    let name = String::from("bench.open");
    g.bench_function("cachex_parts/name_clone", |b| {
        b.iter(|| black_box(black_box(&name).clone()))
    });
    g.bench_function("cachex_parts/tokio_now", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(tokio::time::Instant::now()) })
    });
    g.bench_function("cachex_parts/std_now", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    g.finish();
}

trait RejectsNow {
    fn call_rejects_now(&self, rt: &tokio::runtime::Runtime) -> bool;
}
impl RejectsNow for CircuitBreaker {
    fn call_rejects_now(&self, rt: &tokio::runtime::Runtime) -> bool {
        rt.block_on(async { self.call(ok_now).await.is_err() })
    }
}

fn threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker_threads");
    let cx = Arc::new(CircuitBreaker::new(
        "bench.threads",
        BreakerConfig::default(),
    ));
    let rc = recloser_breaker();
    let fs = failsafe_breaker();
    for n in [1usize, 2] {
        g.bench_function(format!("cachex/{n}"), |b| {
            b.iter_custom(|iters| threaded(n, iters, || cx.call(ok_now)))
        });
        g.bench_function(format!("recloser/{n}"), |b| {
            b.iter_custom(|iters| threaded(n, iters, || rc.call(ok_now())))
        });
        g.bench_function(format!("failsafe/{n}"), |b| {
            b.iter_custom(|iters| threaded(n, iters, || fs.call(ok_now())))
        });
    }
    g.finish();
}

/// Not a timing: prints the breaker's footprint once so the table can show it.
fn footprint(_: &mut Criterion) {
    let b = CircuitBreaker::new("user-service", BreakerConfig::default());
    println!(
        "breaker footprint: {} bytes (size_of {} + heap)",
        b.footprint(),
        std::mem::size_of::<CircuitBreaker>()
    );
    // For scripts/bench-table, next to criterion's own output.
    let dir = std::path::PathBuf::from(
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
    )
    .join("criterion");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(
            dir.join("breaker_footprint.txt"),
            format!("{} bytes, name \"user-service\"\n", b.footprint()),
        );
    }
    println!(
        "future sizes: call {} bytes, breaker_run {} bytes, result {} bytes",
        std::mem::size_of_val(&b.call(ok_now)),
        std::mem::size_of_val(&breaker_run(&b, ok_now())),
        std::mem::size_of::<Result<u64, cachex_runtime::CallError<()>>>()
    );
}

criterion_group!(benches, footprint, closed, open, threads);
criterion_main!(benches);
