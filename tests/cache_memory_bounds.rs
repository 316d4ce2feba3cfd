//! Memory bounds of `#[cached]`: a bounded cache stays bounded in resident memory however many
//! distinct keys pass through it, and cancelled calls leave no single-flight bookkeeping behind.
//!
//! The two tests run one after the other (one lock), so the resident-memory figure of one is
//! not disturbed by the other's allocations.

use std::time::Duration;

use cachex_runtime::__private::flights_in_progress;
use cachex_runtime::{cached, registry, MemoryStore};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

static SERIAL: Mutex<()> = Mutex::const_new(());

#[cached(name = "bounds.fifo", capacity = 10_000)]
async fn bounded(key: u64) -> String {
    format!("value-{key}")
}

/// Resident memory of this process in bytes, from `/proc/self/status` (`VmRSS`, in kB).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS value in kB");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_distinct_keys_keep_a_bounded_cache_within_64_mib() {
    let _serial = SERIAL.lock().await;
    // Warm up: fill the map to capacity and let its queue and tables reach their size.
    for k in 0..20_000 {
        bounded(k).await;
    }
    let before = resident_bytes();
    for k in 20_000..1_020_000u64 {
        assert_eq!(bounded(k).await, format!("value-{k}"));
    }
    let after = resident_bytes();
    let growth = after.saturating_sub(before);
    let stats = registry().cache_stats("bounds.fifo").unwrap();
    println!(
        "1,000,000 distinct keys: resident {} -> {} KiB (growth {} KiB); entries {}, evictions {}",
        before / 1024,
        after / 1024,
        growth / 1024,
        stats.entries,
        stats.evictions
    );
    assert!(stats.entries <= 10_000, "entries {}", stats.entries);
    assert!(
        stats.evictions >= 1_000_000,
        "evictions {}",
        stats.evictions
    );
    assert!(growth < 64 << 20, "resident memory grew by {growth} bytes");
}

#[cached(name = "bounds.cancel.memory")]
async fn slow_memory(key: u64) -> u64 {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    key
}

#[cached(name = "bounds.cancel.store", store = "bounds-cancel-store")]
async fn slow_store(key: u64) -> u64 {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_cancelled_calls_leave_no_flight_behind() {
    let _serial = SERIAL.lock().await;
    registry().set_store("bounds-cancel-store", MemoryStore::new(1_000));
    for (name, store) in [
        ("bounds.cancel.memory", false),
        ("bounds.cancel.store", true),
    ] {
        let mut set = JoinSet::new();
        // Distinct keys (leaders) and repeated ones (followers of those leaders).
        for i in 0..10_000u64 {
            let key = i % 5_000;
            if store {
                set.spawn(slow_store(key));
            } else {
                set.spawn(slow_memory(key));
            }
        }
        // Every call is in its body (or waiting for a leader's) before it is cancelled.
        while flights_in_progress(name) < 5_000 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let running = flights_in_progress(name);
        set.abort_all();
        while set.join_next().await.is_some() {}
        let left = flights_in_progress(name);
        println!("{name}: {running} flights while running, {left} after 10,000 cancellations");
        assert_eq!(running, 5_000);
        assert_eq!(left, 0);
    }
}
