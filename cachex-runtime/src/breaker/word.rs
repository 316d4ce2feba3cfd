//! The breaker's packed state word: everything the hot path needs in one `u64`, so a call in
//! CLOSED is admitted with a single atomic load.
//!
//! ```text
//!  63            32 31                        3   2      1 0
//! +----------------+----------------------------+--------+---+
//! |   generation   |  streak (29 bits, sat.)    | forced | st|
//! +----------------+----------------------------+--------+---+
//! ```
//!
//! - `st`: the stored state (CLOSED, OPEN, HALF_OPEN). An OPEN word whose timeout has passed is
//!   still stored as OPEN until a call moves it; the façade reports the effective state.
//! - `forced`: pinned by `force_open` / `force_close`.
//! - `streak`: consecutive failures, saturating at [`Word::STREAK_MAX`].
//! - `generation`: changes (wrapping) on every state transition, so an outcome can tell whether
//!   the state it was admitted in is still current.
//!
//! Only transitions (under the breaker's transition lock) build a new generation; the lock-free
//! writers (a CLOSED call's failure or success) only change the streak of the current one.

#[cfg(loom)]
use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use super::State;

const STATE_MASK: u64 = 0b11;
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED: u64 = 0b100;
const STREAK_SHIFT: u32 = 3;
const STREAK_MASK: u64 = (Word::STREAK_MAX as u64) << STREAK_SHIFT;
const GENERATION_SHIFT: u32 = 32;

/// One value of the state word (see the module docs for the layout).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Word(u64);

impl Word {
    /// The consecutive-failure count saturates here (29 bits).
    pub(super) const STREAK_MAX: u32 = (1 << 29) - 1;

    /// A new breaker: CLOSED, not forced, no streak, generation 0.
    pub(super) const INITIAL: Word = Word(CLOSED);

    /// The stored state. An OPEN word stays OPEN here after its timeout; see
    /// `CircuitBreaker::state` for the effective state.
    #[inline]
    pub(super) fn state(self) -> State {
        match self.0 & STATE_MASK {
            CLOSED => State::Closed,
            OPEN => State::Open,
            // Only the three states are ever stored.
            _ => State::HalfOpen,
        }
    }

    /// Stored state is CLOSED (the hot path's test: one mask, one compare).
    #[inline]
    pub(super) fn is_closed(self) -> bool {
        self.0 & STATE_MASK == CLOSED
    }

    /// Pinned by `force_open` or `force_close`.
    #[inline]
    pub(super) fn is_forced(self) -> bool {
        self.0 & FORCED != 0
    }

    /// Consecutive failures (saturated at [`Word::STREAK_MAX`]).
    #[inline]
    pub(super) fn streak(self) -> u32 {
        // Masked to 29 bits: the cast cannot truncate.
        ((self.0 & STREAK_MASK) >> STREAK_SHIFT) as u32
    }

    /// The generation: changes on every transition, wrapping after 2^32 of them.
    #[inline]
    pub(super) fn generation(self) -> u32 {
        // The high 32 bits: the cast cannot truncate.
        (self.0 >> GENERATION_SHIFT) as u32
    }

    /// The same word (same state and generation) with `streak` failures in a row, saturating.
    #[inline]
    pub(super) fn with_streak(self, streak: u32) -> Word {
        let streak = u64::from(streak.min(Self::STREAK_MAX));
        Word((self.0 & !STREAK_MASK) | (streak << STREAK_SHIFT))
    }

    /// The same word with one more failure in the streak, saturating.
    #[inline]
    pub(super) fn with_failure(self) -> Word {
        self.with_streak(self.streak().saturating_add(1))
    }

    /// The word after a transition: the next generation, the given state, pin and streak.
    pub(super) fn next(self, state: State, forced: bool, streak: u32) -> Word {
        let generation = u64::from(self.generation().wrapping_add(1));
        let state = match state {
            State::Closed => CLOSED,
            State::Open => OPEN,
            State::HalfOpen => HALF_OPEN,
        };
        let forced = if forced { FORCED } else { 0 };
        Word((generation << GENERATION_SHIFT) | forced | state).with_streak(streak)
    }

    /// OPEN (not forced) with `streak` failures: a trip from CLOSED or a failed trial.
    pub(super) fn opened(self, streak: u32) -> Word {
        self.next(State::Open, false, streak)
    }

    /// HALF_OPEN after the open timeout, keeping the streak.
    pub(super) fn half_opened(self) -> Word {
        self.next(State::HalfOpen, false, self.streak())
    }

    /// CLOSED, unpinned, no streak: enough trials succeeded, or `reset`.
    pub(super) fn closed(self) -> Word {
        self.next(State::Closed, false, 0)
    }

    /// Pinned OPEN, keeping the streak (`force_open`).
    pub(super) fn forced_open(self) -> Word {
        self.next(State::Open, true, self.streak())
    }

    /// Pinned CLOSED with no streak (`force_close`).
    pub(super) fn forced_closed(self) -> Word {
        self.next(State::Closed, true, 0)
    }
}

impl std::fmt::Debug for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Word")
            .field("state", &self.state())
            .field("forced", &self.is_forced())
            .field("streak", &self.streak())
            .field("generation", &self.generation())
            .finish()
    }
}

/// The atomic cell holding a [`Word`].
pub(super) struct AtomicWord(AtomicU64);

impl AtomicWord {
    pub(super) fn new(w: Word) -> Self {
        AtomicWord(AtomicU64::new(w.0))
    }

    #[inline]
    pub(super) fn load(&self, order: Ordering) -> Word {
        Word(self.0.load(order))
    }

    #[inline]
    pub(super) fn store(&self, w: Word, order: Ordering) {
        self.0.store(w.0, order);
    }

    #[inline]
    pub(super) fn compare_exchange_weak(
        &self,
        current: Word,
        new: Word,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Word, Word> {
        self.0
            .compare_exchange_weak(current.0, new.0, success, failure)
            .map(Word)
            .map_err(Word)
    }
}

impl std::fmt::Debug for AtomicWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.load(Ordering::Relaxed).fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const STATES: [State; 3] = [State::Closed, State::Open, State::HalfOpen];

    #[test]
    fn initial_word_is_closed_unforced_with_no_streak_in_generation_zero() {
        let w = Word::INITIAL;
        assert_eq!(w.state(), State::Closed);
        assert!(w.is_closed());
        assert!(!w.is_forced());
        assert_eq!((w.streak(), w.generation()), (0, 0));
    }

    #[test]
    fn every_field_round_trips_without_touching_the_others() {
        for state in STATES {
            for forced in [false, true] {
                for streak in [0, 1, 2, 1_000, Word::STREAK_MAX - 1, Word::STREAK_MAX] {
                    for generation in [0u32, 1, 7, 0xdead_beef, u32::MAX - 1, u32::MAX] {
                        let prev = Word(u64::from(generation.wrapping_sub(1)) << GENERATION_SHIFT);
                        let w = prev.next(state, forced, streak);
                        let ctx = (state, forced, streak, generation);
                        assert_eq!(w.state(), state, "{ctx:?}");
                        assert_eq!(w.is_closed(), state == State::Closed, "{ctx:?}");
                        assert_eq!(w.is_forced(), forced, "{ctx:?}");
                        assert_eq!(w.streak(), streak, "{ctx:?}");
                        assert_eq!(w.generation(), generation, "{ctx:?}");
                        // Changing the streak keeps everything else.
                        let s = w.with_streak(3);
                        assert_eq!(
                            (s.state(), s.is_forced(), s.streak(), s.generation()),
                            (state, forced, 3, generation),
                            "{ctx:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn streak_saturates_at_29_bits_and_never_spills_into_the_generation() {
        let w = Word::INITIAL.with_streak(u32::MAX);
        assert_eq!(w.streak(), Word::STREAK_MAX);
        assert_eq!(
            (w.generation(), w.state(), w.is_forced()),
            (0, State::Closed, false)
        );
        let more = w.with_failure().with_failure();
        assert_eq!(more, w, "a saturated streak stays put");
        let below = Word::INITIAL
            .with_streak(Word::STREAK_MAX - 1)
            .with_failure();
        assert_eq!(below.streak(), Word::STREAK_MAX);
        // Transitions saturate the streak they are given as well.
        let opened = Word::INITIAL.opened(u32::MAX);
        assert_eq!(
            (opened.streak(), opened.generation()),
            (Word::STREAK_MAX, 1)
        );
    }

    #[test]
    fn with_failure_counts_one_up() {
        let mut w = Word::INITIAL;
        for n in 1..=10 {
            w = w.with_failure();
            assert_eq!(w.streak(), n);
        }
        assert_eq!(w.generation(), 0, "a failure is not a transition");
    }

    #[test]
    fn generation_wraps_around_after_u32_max() {
        let last = Word::INITIAL.next(State::Open, false, 4);
        let last = Word(
            (last.0 & !(u64::from(u32::MAX) << GENERATION_SHIFT))
                | (u64::from(u32::MAX) << GENERATION_SHIFT),
        );
        assert_eq!(last.generation(), u32::MAX);
        let wrapped = last.half_opened();
        assert_eq!(wrapped.generation(), 0);
        assert_eq!((wrapped.state(), wrapped.streak()), (State::HalfOpen, 4));
        assert_eq!(wrapped.closed().generation(), 1);
    }

    #[test]
    fn named_transitions_set_what_they_say_and_bump_the_generation() {
        let w = Word::INITIAL.with_streak(5);
        let cases = [
            (w.opened(6), State::Open, false, 6),
            (w.half_opened(), State::HalfOpen, false, 5),
            (w.closed(), State::Closed, false, 0),
            (w.forced_open(), State::Open, true, 5),
            (w.forced_closed(), State::Closed, true, 0),
        ];
        for (got, state, forced, streak) in cases {
            assert_eq!(
                (got.state(), got.is_forced(), got.streak(), got.generation()),
                (state, forced, streak, 1),
                "{got:?}"
            );
        }
    }

    #[test]
    fn atomic_word_stores_loads_and_compares_words() {
        use std::sync::atomic::Ordering::*;
        let a = AtomicWord::new(Word::INITIAL);
        let open = Word::INITIAL.opened(1);
        assert_eq!(
            a.compare_exchange_weak(open, open, AcqRel, Acquire),
            Err(Word::INITIAL)
        );
        a.store(open, Release);
        assert_eq!(a.load(Acquire), open);
        // A weak CAS may fail spuriously; retry until it lands.
        while a
            .compare_exchange_weak(open, open.closed(), AcqRel, Acquire)
            .is_err()
        {}
        assert_eq!(a.load(Acquire), open.closed());
    }
}
