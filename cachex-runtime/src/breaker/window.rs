//! The rate windows of a rate-based breaker: a count window (an atomic ring of the last n
//! outcomes) and a time window (ten buckets on tokio's clock). Both are written with atomics
//! only; recording an outcome returns the window's totals so the caller can judge the rates.
//!
//! Under concurrent writers the totals are those of some interleaving of the outcomes, give or
//! take the outcomes being recorded at that moment (each counter is exact on its own, the three
//! are not one snapshot). A time bucket that rolls over while another thread writes to it may
//! lose that one outcome.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::*};
use std::time::Duration;

use super::config::{RateWindow, Window};

/// One outcome as stored in a ring slot: 0 is an empty slot.
const RECORDED: u8 = 1;
const FAILED: u8 = 2;
const SLOW: u8 = 4;

/// Time-window buckets per span.
const BUCKETS: u32 = 10;

/// The totals of a window after an outcome was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Totals {
    pub(super) calls: u32,
    pub(super) failures: u32,
    pub(super) slow: u32,
}

impl Totals {
    /// Whether these totals open a breaker configured with `cfg`: at least `minimum_calls`
    /// calls, and a rate that reaches its (non-zero) threshold.
    pub(super) fn trips(&self, cfg: &RateWindow) -> bool {
        if self.calls == 0 || self.calls < cfg.minimum_calls {
            return false;
        }
        let reaches = |n: u32, pct: u32| {
            pct != 0
                && u64::from(n).saturating_mul(100)
                    >= u64::from(pct).saturating_mul(u64::from(self.calls))
        };
        reaches(self.failures, cfg.failure_rate) || reaches(self.slow, cfg.slow_call_rate)
    }
}

/// The window of one breaker configuration.
#[derive(Debug)]
pub(super) struct RateState {
    pub(super) cfg: RateWindow,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Calls(Ring),
    Time(Buckets),
}

impl RateState {
    pub(super) fn new(cfg: RateWindow) -> Self {
        let kind = match cfg.window {
            Window::Calls(n) => Kind::Calls(Ring::new(n)),
            Window::Time(span) => Kind::Time(Buckets::new(span)),
        };
        RateState { cfg, kind }
    }

    /// Records one outcome and returns the totals of the window after it. `now_ns` reads the
    /// clock (nanoseconds on tokio's clock, any origin); only a time window calls it.
    pub(super) fn record(&self, failed: bool, slow: bool, now_ns: impl FnOnce() -> u64) -> Totals {
        let mut v = RECORDED;
        if failed {
            v |= FAILED;
        }
        if slow {
            v |= SLOW;
        }
        match &self.kind {
            Kind::Calls(r) => r.record(v),
            Kind::Time(b) => b.record(v, now_ns()),
        }
    }

    /// Forgets every outcome (the breaker left CLOSED or was reset).
    pub(super) fn clear(&self) {
        match &self.kind {
            Kind::Calls(r) => r.clear(),
            Kind::Time(b) => b.clear(),
        }
    }

    /// Bytes on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        match &self.kind {
            Kind::Calls(r) => r.slots.len(),
            Kind::Time(b) => b
                .buckets
                .len()
                .saturating_mul(std::mem::size_of::<Bucket>()),
        }
    }
}

/// The last n outcomes, one byte each, with running totals.
#[derive(Debug)]
struct Ring {
    slots: Box<[AtomicU8]>,
    next: AtomicU64,
    calls: AtomicU32,
    failures: AtomicU32,
    slow: AtomicU32,
}

impl Ring {
    fn new(n: u32) -> Self {
        Ring {
            slots: (0..n.max(1)).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicU64::new(0),
            calls: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            slow: AtomicU32::new(0),
        }
    }

    fn record(&self, v: u8) -> Totals {
        let i = self.next.fetch_add(1, Relaxed);
        let len = u64::try_from(self.slots.len()).unwrap_or(u64::MAX).max(1);
        let idx = usize::try_from(i.checked_rem(len).unwrap_or(0)).unwrap_or(0);
        let old = match self.slots.get(idx) {
            Some(slot) => slot.swap(v, Relaxed),
            None => return self.totals(),
        };
        // Each counter moves by the difference between the outcome that leaves the ring and the
        // one that enters it.
        adjust(&self.calls, old & RECORDED != 0, true);
        adjust(&self.failures, old & FAILED != 0, v & FAILED != 0);
        adjust(&self.slow, old & SLOW != 0, v & SLOW != 0);
        self.totals()
    }

    fn totals(&self) -> Totals {
        Totals {
            calls: self.calls.load(Relaxed),
            failures: self.failures.load(Relaxed),
            slow: self.slow.load(Relaxed),
        }
    }

    fn clear(&self) {
        for s in self.slots.iter() {
            s.store(0, Relaxed);
        }
        self.calls.store(0, Relaxed);
        self.failures.store(0, Relaxed);
        self.slow.store(0, Relaxed);
    }
}

/// Moves a counter by `new - old` (each 0 or 1).
#[inline]
fn adjust(c: &AtomicU32, old: bool, new: bool) {
    match (old, new) {
        (false, true) => {
            c.fetch_add(1, Relaxed);
        }
        (true, false) => {
            // Never below zero, even if a concurrent `clear` zeroed it first.
            let _ = c.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        }
        _ => {}
    }
}

/// One tenth of a time window.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Bucket {
    /// Which tenth of which span this bucket holds (`now / width`), `u64::MAX` for none.
    epoch: AtomicU64,
    calls: AtomicU32,
    failures: AtomicU32,
    slow: AtomicU32,
}

#[derive(Debug)]
struct Buckets {
    width_ns: u64,
    buckets: Box<[Bucket]>,
}

impl Buckets {
    fn new(span: Duration) -> Self {
        let span_ns = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        let width_ns = span_ns.checked_div(u64::from(BUCKETS)).unwrap_or(0).max(1);
        let buckets: Box<[Bucket]> = (0..BUCKETS)
            .map(|_| Bucket {
                epoch: AtomicU64::new(u64::MAX),
                ..Bucket::default()
            })
            .collect();
        Buckets { width_ns, buckets }
    }

    fn record(&self, v: u8, now_ns: u64) -> Totals {
        let epoch = now_ns.checked_div(self.width_ns).unwrap_or(0);
        let idx = usize::try_from(epoch.checked_rem(u64::from(BUCKETS)).unwrap_or(0)).unwrap_or(0);
        if let Some(b) = self.buckets.get(idx) {
            let seen = b.epoch.load(Acquire);
            if seen != epoch
                && b.epoch
                    .compare_exchange(seen, epoch, AcqRel, Acquire)
                    .is_ok()
            {
                // This thread rolled the bucket over: it starts empty.
                b.calls.store(0, Relaxed);
                b.failures.store(0, Relaxed);
                b.slow.store(0, Relaxed);
            }
            b.calls.fetch_add(1, Relaxed);
            if v & FAILED != 0 {
                b.failures.fetch_add(1, Relaxed);
            }
            if v & SLOW != 0 {
                b.slow.fetch_add(1, Relaxed);
            }
        }
        self.totals(epoch)
    }

    /// The totals of the buckets of the current span (epochs `now - 9 ..= now`).
    fn totals(&self, now_epoch: u64) -> Totals {
        let oldest = now_epoch.saturating_sub(u64::from(BUCKETS - 1));
        let mut t = Totals {
            calls: 0,
            failures: 0,
            slow: 0,
        };
        for b in self.buckets.iter() {
            let e = b.epoch.load(Acquire);
            if e != u64::MAX && e >= oldest && e <= now_epoch {
                t.calls = t.calls.saturating_add(b.calls.load(Relaxed));
                t.failures = t.failures.saturating_add(b.failures.load(Relaxed));
                t.slow = t.slow.saturating_add(b.slow.load(Relaxed));
            }
        }
        t
    }

    fn clear(&self) {
        for b in self.buckets.iter() {
            b.epoch.store(u64::MAX, Release);
            b.calls.store(0, Relaxed);
            b.failures.store(0, Relaxed);
            b.slow.store(0, Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn rate(window: Window) -> RateWindow {
        RateWindow {
            window,
            minimum_calls: 4,
            failure_rate: 50,
            slow_call: None,
            slow_call_rate: 0,
        }
    }

    #[test]
    fn a_count_window_keeps_the_last_n_outcomes() {
        let s = RateState::new(rate(Window::Calls(4)));
        for _ in 0..4 {
            s.record(true, false, || 0);
        }
        let t = s.record(false, false, || 0);
        assert_eq!((t.calls, t.failures), (4, 3));
        for _ in 0..3 {
            s.record(false, false, || 0);
        }
        let t = s.record(false, true, || 0);
        assert_eq!((t.calls, t.failures, t.slow), (4, 0, 1));
    }

    #[test]
    fn a_time_window_forgets_buckets_older_than_its_span() {
        let s = RateState::new(rate(Window::Time(Duration::from_secs(10))));
        s.record(true, false, || 0);
        let t = s.record(true, false, || 9_000_000_000);
        assert_eq!(t.calls, 2);
        let t = s.record(false, false, || 10_000_000_000);
        assert_eq!(
            (t.calls, t.failures),
            (2, 1),
            "the bucket of t=0 is out of the span"
        );
    }

    #[test]
    fn a_rate_trips_when_it_reaches_its_threshold_once_minimum_calls_are_in() {
        let cfg = rate(Window::Calls(10));
        let t = |calls, failures| Totals {
            calls,
            failures,
            slow: 0,
        };
        assert!(!t(3, 3).trips(&cfg), "below minimum_calls");
        assert!(t(4, 2).trips(&cfg));
        assert!(!t(5, 2).trips(&cfg));
        assert!(!t(0, 0).trips(&cfg));
    }
}
