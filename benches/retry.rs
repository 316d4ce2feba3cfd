//! `#[retry]` on a call that succeeds at once, cachex side by side with `backon` in the same run.
//!
//! - `direct`: the same future awaited with no retry (the overhead baseline).
//! - `cachex_macro`: a `#[retry(policy = "default")]` function.
//! - `cachex_site`: what `#[retry(policy = "default")]` generates: a static `RetrySite`, a loop
//!   that only looks the named policy up after a failure.
//! - `cachex_fn`: `cachex_runtime::retry::retry` with a policy already in hand.
//! - `backon`: `(|| fut).retry(ExponentialBuilder::default())`.

use std::hint::black_box;

use backon::{ExponentialBuilder, Retryable};
use cachex_runtime::__private::RetrySite;
use cachex_runtime::Policy;
use criterion::{criterion_group, criterion_main, Criterion};

#[inline(always)]
async fn ok_now() -> Result<u64, ()> {
    Ok(black_box(1))
}

/// The real thing: the policy named "default" is looked up at call time, on a failure.
#[cachex_runtime::retry(policy = "default")]
async fn retried() -> Result<u64, ()> {
    Ok(black_box(1))
}

static SITE: RetrySite = RetrySite::new("default");

/// The loop `#[retry]` generates (see PRIVATE_API.md), on a body that succeeds.
async fn cachex_site() -> Result<u64, ()> {
    let mut st = SITE.begin();
    loop {
        let r = ok_now().await;
        match r {
            Ok(v) => break Ok(v),
            Err(e) => {
                if st.retry().await {
                    continue;
                }
                break Err(e);
            }
        }
    }
}

fn success(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("retry_success");
    let policy = Policy::default();
    g.bench_function("direct", |b| b.to_async(&rt).iter(ok_now));
    g.bench_function("cachex_macro", |b| b.to_async(&rt).iter(retried));
    g.bench_function("cachex_site", |b| b.to_async(&rt).iter(cachex_site));
    g.bench_function("cachex_fn", |b| {
        b.to_async(&rt)
            .iter(|| cachex_runtime::retry::retry(&policy, ok_now))
    });
    g.bench_function("backon", |b| {
        b.to_async(&rt)
            .iter(|| ok_now.retry(ExponentialBuilder::default()))
    });
    g.finish();
}

criterion_group!(benches, success);
criterion_main!(benches);
