//! HALF_OPEN trial calls: the bookkeeping of a half-open period and the permit a trial call
//! holds while it runs.

use super::CircuitBreaker;

/// HALF_OPEN bookkeeping, guarded by the breaker's transition mutex.
///
/// `in_flight` counts every trial permit not yet settled, whatever HALF_OPEN period issued it,
/// so trial calls running at once never exceed `half_open_max` even when the breaker re-opens
/// and half-opens again while older trials still run. `successes` belongs to the current
/// HALF_OPEN period only.
#[derive(Debug, Default)]
pub(super) struct Trial {
    pub(super) in_flight: u32,
    pub(super) successes: u32,
}

/// A HALF_OPEN slot, carrying the generation of the period that issued it. Dropped without an
/// outcome (the call was cancelled), it gives the slot back and counts as neither success nor
/// failure.
pub(super) struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    generation: u32,
    settled: bool,
}

impl<'a> Permit<'a> {
    /// A permit for a trial admitted in `generation`. The caller has counted it in `in_flight`.
    pub(super) fn new(breaker: &'a CircuitBreaker, generation: u32) -> Self {
        Permit {
            breaker,
            generation,
            settled: false,
        }
    }

    /// Marks the permit as settled: its outcome is being recorded, so dropping it does nothing.
    pub(super) fn settle(mut self) -> u32 {
        self.settled = true;
        self.generation
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            let mut trial = self.breaker.lock();
            trial.in_flight = trial.in_flight.saturating_sub(1);
        }
    }
}
