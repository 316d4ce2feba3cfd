//! Chaos under load: 64 tasks call a `#[cached(store = ..)] #[retry] #[circuit_breaker]`
//! function over 200 keys for 13 s (kept short for CI) while Redis is killed and restarted,
//! paused with `DEBUG SLEEP`, and black-holed through a loopback proxy. Every call must answer,
//! nothing may panic, calls made while Redis is unusable and the store breaker is open must stay
//! within `op_timeout` + 5 ms at p99, and the cache must serve hits again within the breaker's
//! timeout plus one probe period of Redis being back.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cachex_runtime::{cached, circuit_breaker, registry, retry, BreakerConfig, RedisStore, State};
use support::proxy::Proxy;
use support::redis_server::RedisServer;
use tokio::time::Instant;

const OP_TIMEOUT: Duration = Duration::from_millis(50);
const BREAKER_TIMEOUT: Duration = Duration::from_secs(1);
/// The store's probe period (see the store's docs).
const PROBE_EVERY: Duration = Duration::from_millis(250);
const TASKS: u64 = 64;
const KEYS: u64 = 200;
const RUN_FOR: Duration = Duration::from_secs(13);

#[derive(Debug, Clone, PartialEq)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

#[cached(name = "chaos-values", store = "chaos", ttl = "2s")]
#[retry(max_attempts = 2, initial_delay = "1ms", jitter = false)]
#[circuit_breaker(name = "chaos-backend", threshold = 5, timeout = "1s")]
async fn value(key: u64) -> Result<u64, AppError> {
    Ok(key.wrapping_mul(3))
}

/// One call's record: its latency, and whether it started while Redis was unusable and the
/// store breaker was not closed.
struct Sample {
    latency: Duration,
    degraded: bool,
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    let index = (latencies.len() * 99).div_ceil(100).saturating_sub(1);
    latencies.get(index).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_function_always_answers_while_redis_is_killed_paused_and_black_holed() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let proxy = Arc::new(Proxy::start(server.port()));
    let store = RedisStore::builder(&proxy.url(""))
        .name("chaos")
        .op_timeout(OP_TIMEOUT)
        .max_retries(1)
        .retry_delay(Duration::from_millis(5))
        .circuit_breaker(BreakerConfig {
            threshold: 5,
            timeout: BREAKER_TIMEOUT,
            half_open_max: 1,
            ..BreakerConfig::default()
        })
        .build()
        .await
        .unwrap();
    registry().set_store("chaos", store.clone());
    let breaker = store.breaker();

    let unusable = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));

    let mut workers = Vec::new();
    for task in 0..TASKS {
        let (unusable, stop, failures, samples, breaker) = (
            Arc::clone(&unusable),
            Arc::clone(&stop),
            Arc::clone(&failures),
            Arc::clone(&samples),
            Arc::clone(&breaker),
        );
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut n = task;
            while !stop.load(Ordering::Relaxed) {
                let key = n.wrapping_mul(7) % KEYS;
                n = n.wrapping_add(TASKS);
                let degraded = unusable.load(Ordering::Relaxed) && breaker.state() != State::Closed;
                let start = Instant::now();
                let answer = value(key).await;
                let latency = start.elapsed();
                if answer != Ok(key.wrapping_mul(3)) {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                mine.push(Sample { latency, degraded });
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            samples.lock().unwrap().extend(mine);
        }));
    }

    // Hits over time, to see when the cache serves again.
    let hits = Arc::new(Mutex::new(Vec::<(Instant, u64)>::new()));
    let monitor = {
        let (hits, stop) = (Arc::clone(&hits), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let stats = registry().cache_stats("chaos-values").unwrap_or_default();
                hits.lock().unwrap().push((Instant::now(), stats.hits));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    // The disruptions, on a blocking thread (the harness is synchronous). Returns the moments
    // Redis was usable again.
    let started = Instant::now();
    let controller = {
        let (unusable, proxy) = (Arc::clone(&unusable), Arc::clone(&proxy));
        tokio::task::spawn_blocking(move || {
            let mut server = server;
            let at = |secs: f64| {
                let due = started + Duration::from_secs_f64(secs);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            };
            let mut back = Vec::new();
            at(2.0);
            unusable.store(true, Ordering::SeqCst);
            server.kill();
            at(4.0);
            server.restart();
            unusable.store(false, Ordering::SeqCst);
            back.push(("restart", Instant::now()));
            at(6.0);
            unusable.store(true, Ordering::SeqCst);
            let pause_start = Instant::now();
            server.pause(Duration::from_millis(1_500));
            at(7.5);
            unusable.store(false, Ordering::SeqCst);
            back.push((
                "DEBUG SLEEP over",
                pause_start + Duration::from_millis(1_500),
            ));
            at(8.5);
            unusable.store(true, Ordering::SeqCst);
            proxy.black_hole();
            at(10.0);
            proxy.forward();
            unusable.store(false, Ordering::SeqCst);
            back.push(("black hole over", Instant::now()));
            (server, back)
        })
    };

    let (server, back) = controller.await.expect("the controller ran");
    tokio::time::sleep(RUN_FOR.saturating_sub(started.elapsed())).await;
    stop.store(true, Ordering::SeqCst);
    let mut panics = 0;
    for worker in workers {
        if worker.await.is_err() {
            panics += 1;
        }
    }
    monitor.await.unwrap();
    drop(server);

    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let calls = samples.len();
    let degraded: Vec<Duration> = samples
        .iter()
        .filter(|s| s.degraded)
        .map(|s| s.latency)
        .collect();
    let degraded_calls = degraded.len();
    let degraded_max = degraded.iter().max().copied().unwrap_or_default();
    let degraded_p99 = p99(degraded);
    let all_p99 = p99(samples.iter().map(|s| s.latency).collect());
    let failures = failures.load(Ordering::Relaxed);
    println!(
        "chaos: {calls} calls in {RUN_FOR:?}, {failures} failed, {panics} panicked; p99 {all_p99:?} \
         overall, p99 {degraded_p99:?} over {degraded_calls} calls while Redis was unusable and \
         the store breaker open (bound {:?}; slowest {degraded_max:?})",
        OP_TIMEOUT + Duration::from_millis(5)
    );

    println!("store breaker: {:?}", breaker.stats());
    let hits = hits.lock().unwrap().clone();
    let recovery_bound = BREAKER_TIMEOUT + PROBE_EVERY;
    let margin = Duration::from_millis(250);
    let mut recoveries = Vec::new();
    for (what, at) in &back {
        let before = hits
            .iter()
            .filter(|(t, _)| t <= at)
            .map(|(_, h)| *h)
            .next_back()
            .unwrap_or(0);
        let recovered = hits
            .iter()
            .find(|(t, h)| t > at && *h > before)
            .map(|(t, _)| t.duration_since(*at));
        println!(
            "hits again {recovered:?} after the {what} (bound {recovery_bound:?} + {margin:?})"
        );
        recoveries.push((*what, recovered));
    }

    assert_eq!(failures, 0, "every call answers");
    assert_eq!(panics, 0, "no task panicked");
    assert!(degraded_calls > 0, "calls were made with the breaker open");
    assert!(
        degraded_p99 <= OP_TIMEOUT + Duration::from_millis(5),
        "p99 while degraded {degraded_p99:?}"
    );
    for (what, recovered) in recoveries {
        let recovered = recovered.unwrap_or_else(|| panic!("no hits after the {what}"));
        assert!(
            recovered <= recovery_bound + margin,
            "{what}: hits again after {recovered:?}"
        );
    }
}
