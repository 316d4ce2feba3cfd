//! HALF_OPEN trial calls: the bookkeeping of a half-open period and the permit a trial call
//! holds while it runs.
//!
//! A HALF_OPEN period is named by the generation of its state word. Its slots and its successes
//! belong to it alone: the next period (after a re-open, or after `reset`) starts with all
//! `half_open_max` slots free, so a trial that hangs can never wedge the breaker. A trial from an
//! earlier period that finishes later is stale: it gives back nothing of the current period and
//! its outcome moves nothing.

use super::CircuitBreaker;

/// The current HALF_OPEN period's bookkeeping, guarded by the breaker's transition mutex.
#[derive(Debug, Default)]
pub(super) struct Trial {
    /// Generation of the period these counts belong to.
    generation: u32,
    /// Trials admitted in this period and not settled yet.
    in_flight: u32,
    /// Successful trials of this period.
    successes: u32,
}

impl Trial {
    /// Starts the period of `generation`: every slot free, no success yet.
    pub(super) fn begin(&mut self, generation: u32) {
        *self = Trial {
            generation,
            in_flight: 0,
            successes: 0,
        };
    }

    /// Takes a slot of the period `generation` if fewer than `max` are taken.
    pub(super) fn try_admit(&mut self, generation: u32, max: u32) -> bool {
        if self.generation != generation {
            // Every HALF_OPEN word is begun when it is stored; this only guards the invariant.
            self.begin(generation);
        }
        if self.in_flight < max {
            self.in_flight = self.in_flight.saturating_add(1);
            true
        } else {
            false
        }
    }

    /// Gives back a slot taken in `generation`. A slot of an earlier period is not counted in
    /// the current one, so there is nothing to give back.
    pub(super) fn release(&mut self, generation: u32) {
        if self.generation == generation {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// Counts a successful trial of the current period; returns the successes so far.
    pub(super) fn record_success(&mut self) -> u32 {
        self.successes = self.successes.saturating_add(1);
        self.successes
    }

    /// Trials of the current period running now.
    #[cfg(test)]
    pub(super) fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

/// A HALF_OPEN slot, carrying the generation of the period that issued it.
///
/// Dropped without an outcome it gives the slot back: a cancelled call counts as neither
/// success nor failure. Dropped while its thread panics (the call panicked), it is a failed
/// trial.
pub(super) struct TrialSlot<'a> {
    breaker: &'a CircuitBreaker,
    generation: u32,
    settled: bool,
}

impl<'a> TrialSlot<'a> {
    /// A permit for a trial admitted in `generation`; the caller has taken its slot.
    pub(super) fn new(breaker: &'a CircuitBreaker, generation: u32) -> Self {
        TrialSlot {
            breaker,
            generation,
            settled: false,
        }
    }

    /// The generation of the period that issued this permit.
    #[cfg(all(test, loom))]
    pub(super) fn generation(&self) -> u32 {
        self.generation
    }

    /// Marks the permit as settled (its outcome is being recorded) and returns its generation.
    pub(super) fn settle(mut self) -> u32 {
        self.settled = true;
        self.generation
    }
}

impl Drop for TrialSlot<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if std::thread::panicking() {
            self.breaker.count_failure(false);
            self.breaker.trial_failure(self.generation);
        } else {
            self.breaker.lock().release(self.generation);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_period_admits_at_most_max_and_release_frees_a_slot() {
        let mut t = Trial::default();
        t.begin(7);
        assert!(t.try_admit(7, 2));
        assert!(t.try_admit(7, 2));
        assert!(!t.try_admit(7, 2));
        t.release(7);
        assert!(t.try_admit(7, 2));
        assert_eq!(t.in_flight(), 2);
    }

    #[test]
    fn a_new_period_starts_with_every_slot_free_and_ignores_older_releases() {
        let mut t = Trial::default();
        t.begin(1);
        assert!(t.try_admit(1, 1));
        assert_eq!(t.record_success(), 1);
        t.begin(3);
        assert_eq!(t.in_flight(), 0);
        assert!(t.try_admit(3, 1));
        // The trial from period 1 finishing now frees nothing of period 3.
        t.release(1);
        assert_eq!(t.in_flight(), 1);
        assert!(!t.try_admit(3, 1));
        assert_eq!(t.record_success(), 1, "successes are per period");
    }

    #[test]
    fn release_never_underflows() {
        let mut t = Trial::default();
        t.release(0);
        t.release(0);
        assert_eq!(t.in_flight(), 0);
    }
}
