//! Concurrency check of the HALF_OPEN permit accounting: many tasks on a multi-threaded runtime
//! race through trial calls that fail, finish or are cancelled mid-flight, for a bounded number of
//! iterations. The invariant: trial calls running at once never exceed `half_open_max`, and no
//! slot leaks (afterwards the breaker still closes normally).
//!
//! Why a stress test rather than loom or shuttle: the permit accounting sits behind one mutex and
//! a `Drop` guard, and the breaker reads tokio's clock; model checkers would need every atomic,
//! the mutex and the clock swapped for their own types through cfg shims in the breaker itself.
//! The single-threaded interleavings are covered exhaustively enough by the model-based test;
//! this test adds real parallel threads.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cachex_runtime::{BreakerConfig, CircuitBreaker, State};

#[test]
fn half_open_never_exceeds_its_limit_across_threads() {
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
            },
        ));
        let _ = b.call(|| async { Err::<(), _>(()) }).await;
        assert_eq!(b.state(), State::Open);

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
                                for _ in 0..(i % 3) {
                                    tokio::task::yield_now().await;
                                }
                                Err::<(), _>(())
                            }
                        };
                        if (i + t) % 4 == 0 {
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
        assert!(
            peak.load(SeqCst) <= MAX as usize,
            "peak {}",
            peak.load(SeqCst)
        );
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
