//! What the benches share: the runtime they run on and the multi-thread throughput harness.

#![allow(dead_code)]

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The runtime every single-thread figure is taken on (the peers' published figures were taken on one too).
pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Time per call when `threads` OS threads, each driving its own current-thread runtime, make
/// `iters` calls of `call` at once, from the moment all are ready until the last is done: the
/// aggregate time per call. Scaling is `threaded(1, ..) / threaded(2, ..)` (2.0 is perfect).
pub(crate) fn threaded<F, Fut>(threads: usize, iters: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Sync,
    Fut: std::future::Future,
{
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (barrier, call) = (&barrier, &call);
                s.spawn(move || {
                    let rt = rt();
                    rt.block_on(async {
                        barrier.wait();
                        let t0 = Instant::now();
                        for _ in 0..iters {
                            black_box(call().await);
                        }
                        (t0, Instant::now())
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    (end - start) / threads as u32
}
