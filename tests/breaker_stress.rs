//! Concurrency check of the HALF_OPEN permit accounting on real threads: many tasks on a
//! multi-threaded runtime race through trial calls that fail, finish or are cancelled mid-flight,
//! for a bounded number of iterations.
//!
//! Trial slots belong to one HALF_OPEN period: a failure re-opens the breaker and (with a zero
//! timeout) the next call starts a new period with every slot free, while trials of the old period
//! may still run. So across periods more than `half_open_max` trials can run at once, by design
//! (a hung trial must never wedge the breaker). The invariants checked here: within one period
//! (only cancellations, which keep the period) trials running at once never exceed
//! `half_open_max`; and no slot leaks (afterwards the breaker still closes normally). The
//! interleavings themselves are model-checked with loom in `cachex-runtime/src/breaker/loom_tests.rs`.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::{BreakerConfig, CircuitBreaker, State};

#[test]
fn half_open_never_exceeds_its_limit_across_threads() {
    // Failures start new periods; only liveness is checked on the peak here.
    storm(false);
}

#[test]
fn half_open_never_exceeds_its_limit_within_a_period() {
    // Only cancellations: one period throughout, so the peak is bounded by half_open_max.
    storm(true);
}

fn storm(cancel_only: bool) {
    const MAX: u32 = 2;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        // Timeout zero: an OPEN breaker half-opens on the very next call, so every admitted call
        // after the first failure is a trial, and only failures and cancellations follow.
        let b = Arc::new(CircuitBreaker::new(
            "stress",
            BreakerConfig {
                threshold: 1,
                timeout: Duration::ZERO,
                half_open_max: MAX,
                call_timeout: None,
                rate: None,
                max_timeout: None,
            },
        ));
        let _ = b.call(|| async { Err::<(), _>(()) }).await;
        // The timeout has passed at once: the effective state is HALF_OPEN.
        assert_eq!(b.state(), State::HalfOpen);

        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let (b, running, peak, admitted) =
                    (b.clone(), running.clone(), peak.clone(), admitted.clone());
                tokio::spawn(async move {
                    for i in 0..400usize {
                        let body = {
                            let (running, peak, admitted) =
                                (running.clone(), peak.clone(), admitted.clone());
                            move || async move {
                                admitted.fetch_add(1, SeqCst);
                                let now = running.fetch_add(1, SeqCst) + 1;
                                peak.fetch_max(now, SeqCst);
                                // Decrements when the body ends or is dropped mid-flight.
                                let _running = Running(running);
                                if cancel_only {
                                    // Never finishes: only cancellation ends it, so the period never changes.
                                    std::future::pending::<()>().await;
                                }
                                for _ in 0..(i % 3) {
                                    tokio::task::yield_now().await;
                                }
                                Err::<(), _>(())
                            }
                        };
                        if cancel_only || (i + t) % 4 == 0 {
                            // Cancelled mid-flight: polled once, then dropped.
                            let _ = tokio::time::timeout(Duration::ZERO, b.call(body)).await;
                        } else {
                            let _ = b.call(body).await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        println!(
            "cancel_only={cancel_only}: peak of trials running at once {}",
            peak.load(SeqCst)
        );
        if cancel_only {
            assert!(
                peak.load(SeqCst) <= MAX as usize,
                "peak {}",
                peak.load(SeqCst)
            );
        }
        assert!(
            admitted.load(SeqCst) > 100,
            "too few trials ran to mean anything"
        );

        // No leaked slot: two successes in a row close the breaker.
        for _ in 0..MAX {
            b.call(|| async { Ok::<_, ()>(()) }).await.unwrap();
        }
        assert_eq!(b.state(), State::Closed);
    });
}

/// Counts a body as no longer running when it is dropped, finished or not.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}
