//! Per-thread striped counters for hot paths.
//!
//! A shared `AtomicU64` that every call increments makes two cores fight over one cache line, so a
//! breaker or cache shared by many threads gets *slower* as threads are added. Here each thread
//! increments the stripe it was assigned (one cache line per stripe, usually uncontended) and a
//! reader sums the stripes. Sums are exact; they are only not a single atomic snapshot.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

/// Counters that are bumped together live in one stripe: `N` of them per cache line.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Stripe<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Stripe<N> {
    fn default() -> Self {
        Stripe(std::array::from_fn(|_| AtomicU64::new(0)))
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

/// This thread's stripe index, assigned round-robin on first use (no hashing on the hot path).
#[inline]
fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        let v = i.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT.fetch_add(1, Relaxed);
        i.set(v);
        v
    })
}

impl<const N: usize> Striped<N> {
    pub(crate) fn new() -> Self {
        let stripes = (0..stripe_count()).map(|_| Stripe::default()).collect();
        Striped { stripes }
    }

    /// The calling thread's stripe.
    #[inline]
    fn local(&self) -> &Stripe<N> {
        // `stripes.len()` is a power of two.
        &self.stripes[thread_index() & (self.stripes.len() - 1)]
    }

    /// Adds one to counter `i` on this thread's stripe.
    #[inline]
    pub(crate) fn incr(&self, i: usize) {
        self.local().0[i].fetch_add(1, Relaxed);
    }

    /// Adds `n` to counter `i` on this thread's stripe.
    #[inline]
    pub(crate) fn add(&self, i: usize, n: u64) {
        self.local().0[i].fetch_add(n, Relaxed);
    }

    /// The sum of counter `i` over all stripes.
    pub(crate) fn sum(&self, i: usize) -> u64 {
        self.stripes
            .iter()
            .fold(0u64, |acc, s| acc.wrapping_add(s.0[i].load(Relaxed)))
    }

    /// Sets counter `i` to zero on every stripe.
    pub(crate) fn reset(&self, i: usize) {
        for s in self.stripes.iter() {
            s.0[i].store(0, Relaxed);
        }
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

    /// Back to zero.
    pub(crate) fn reset(&self) {
        self.0.reset(0);
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
        c.reset(0);
        assert_eq!(c.sum(0), 0);
        assert_eq!(c.sum(1), 8);
    }
}
