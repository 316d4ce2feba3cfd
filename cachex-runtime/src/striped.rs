//! Per-thread striped counters for hot paths.
//!
//! A shared `AtomicU64` that every call increments makes two cores fight over one cache line, so a
//! breaker or cache shared by many threads gets *slower* as threads are added. Here each thread
//! increments the stripe it was assigned (one cache line per stripe) and a reader sums the
//! stripes. Sums are exact; they are only not a single atomic snapshot.
//!
//! A thread holds a process-wide *slot* for its lifetime (returned when it exits, then reused).
//! The thread in slot `s < stripes` is the only writer of its stripe's *owned* half, so it bumps
//! a counter with a plain load and store: no locked read-modify-write, which is most of the cost
//! of a counter on the hot path. Threads beyond the stripe count (more threads than CPUs) share
//! the *shared* half of stripe `s % stripes` through `fetch_add`, as every thread did before.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

use crate::sync::Mutex;

/// Counters that are bumped together live in one stripe: `N` owned and `N` shared ones per cache
/// line (so `N <= 4`).
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Stripe<const N: usize> {
    owned: [AtomicU64; N],
    shared: [AtomicU64; N],
}

impl<const N: usize> Default for Stripe<N> {
    fn default() -> Self {
        Stripe {
            owned: std::array::from_fn(|_| AtomicU64::new(0)),
            shared: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// `N` counters, striped over as many cache lines as there are CPUs (a power of two, at most 16).
#[derive(Debug)]
pub(crate) struct Striped<const N: usize> {
    stripes: Box<[Stripe<N>]>,
}

fn stripe_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .next_power_of_two()
            .min(16)
    })
}

const UNCLAIMED: usize = usize::MAX;
/// A thread whose slot was given back (it is exiting): it only ever uses shared counters.
const EXITING: usize = usize::MAX - 1;

/// Slots of exited threads, for reuse, and the next never-used slot.
static SLOTS: Mutex<(Vec<usize>, usize)> = Mutex::new((Vec::new(), 0));

thread_local! {
    /// This thread's slot. Const-initialised with no destructor: readable at every point of the
    /// thread's life, thread-local destructors included.
    static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Gives the slot back when the thread exits.
    static RELEASE: SlotRelease = const { SlotRelease };
}

struct SlotRelease;

impl Drop for SlotRelease {
    fn drop(&mut self) {
        let slot = SLOT.with(|s| s.replace(EXITING));
        if slot < EXITING {
            // The mutex orders this thread's last plain stores before the next owner's loads.
            let mut slots = SLOTS.lock();
            slots.0.push(slot);
        }
    }
}

/// This thread's slot, claimed on first use (the lowest free one).
#[inline]
fn thread_slot() -> usize {
    let s = SLOT.with(Cell::get);
    if s != UNCLAIMED {
        return s;
    }
    claim_slot()
}

#[cold]
#[inline(never)]
fn claim_slot() -> usize {
    // Register the release first: a thread already tearing down its thread-locals gets no slot.
    if RELEASE.try_with(|_| ()).is_err() {
        SLOT.with(|s| s.set(EXITING));
        return EXITING;
    }
    let mut slots = SLOTS.lock();
    let lowest = slots
        .0
        .iter()
        .enumerate()
        .min_by_key(|&(_, s)| *s)
        .map(|(i, _)| i);
    let slot = match lowest {
        Some(i) => slots.0.swap_remove(i),
        None => {
            // One slot per live thread: far from `usize::MAX`.
            let next = slots.1;
            slots.1 = next.saturating_add(1);
            next
        }
    };
    SLOT.with(|s| s.set(slot));
    slot
}

impl<const N: usize> Striped<N> {
    pub(crate) fn new() -> Self {
        const {
            assert!(
                N <= 4,
                "a stripe holds at most 4 owned and 4 shared counters"
            )
        };
        let stripes = (0..stripe_count()).map(|_| Stripe::default()).collect();
        Striped { stripes }
    }

    /// Adds `n` to counter `i` on this thread's stripe.
    #[inline]
    pub(crate) fn add(&self, i: usize, n: u64) {
        let slot = thread_slot();
        // `i < N` at every call site; `get` costs the same bounds check as indexing.
        if let Some(stripe) = self.stripes.get(slot) {
            // Sole writer of `owned`: a plain load and store cannot lose an update.
            if let Some(c) = stripe.owned.get(i) {
                c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
            }
        } else {
            // `stripes.len()` is a power of two (and at least 1).
            let shared = slot & self.stripes.len().wrapping_sub(1);
            if let Some(c) = self.stripes.get(shared).and_then(|s| s.shared.get(i)) {
                c.fetch_add(n, Relaxed);
            }
        }
    }

    /// Adds one to counter `i` on this thread's stripe.
    #[inline]
    pub(crate) fn incr(&self, i: usize) {
        self.add(i, 1);
    }

    /// The sum of counter `i` over all stripes.
    pub(crate) fn sum(&self, i: usize) -> u64 {
        let load = |c: Option<&AtomicU64>| c.map_or(0, |c| c.load(Relaxed));
        self.stripes.iter().fold(0u64, |acc, s| {
            acc.wrapping_add(load(s.owned.get(i)))
                .wrapping_add(load(s.shared.get(i)))
        })
    }

    /// Heap bytes held (for size accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.stripes)
    }
}

/// One striped counter.
#[derive(Debug)]
pub(crate) struct Counter(Striped<1>);

impl Default for Counter {
    fn default() -> Self {
        Counter(Striped::new())
    }
}

impl Counter {
    /// Adds `n` on this thread's stripe.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.add(0, n);
    }

    /// The total over all stripes.
    pub(crate) fn sum(&self) -> u64 {
        self.0.sum(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sums_are_exact_across_threads() {
        let c = Arc::new(Striped::<2>::new());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.incr(0);
                    }
                    c.incr(1);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(c.sum(0), 80_000);
        assert_eq!(c.sum(1), 8);
    }

    #[test]
    fn owned_and_shared_stripes_sum_exactly_with_threads_coming_and_going() {
        // More threads than stripes, in waves, so slots are both shared and handed back and
        // reused: no increment may be lost.
        let c = Arc::new(Striped::<1>::new());
        for _ in 0..4 {
            let handles: Vec<_> = (0..stripe_count() * 3)
                .map(|_| {
                    let c = Arc::clone(&c);
                    std::thread::spawn(move || {
                        for _ in 0..5_000 {
                            c.incr(0);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
        assert_eq!(c.sum(0), 4 * stripe_count() as u64 * 3 * 5_000);
    }
}
