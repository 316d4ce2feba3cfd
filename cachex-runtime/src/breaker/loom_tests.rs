//! Model checking of the state word transitions and the HALF_OPEN permits with loom: every
//! interleaving of a few threads admitting calls, reporting outcomes and resetting.
//!
//! How to run (the normal build never depends on loom; a separate target directory keeps the
//! `--cfg loom` build from invalidating the normal one; `--no-default-features` leaves out the
//! Redis client, whose `event-listener` dependency does not build under `--cfg loom` without
//! its own `loom` feature):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p cachex-runtime --no-default-features --lib --release loom
//! ```
//!
//! The clock stays out of the modelled section: the open timeout is either `Duration::MAX`
//! (never half-opens) or zero (the first call after a trip half-opens), so the only clock read
//! cannot change a decision. The steps are the breaker's own admission and outcome methods,
//! called synchronously (no future, no runtime).

use std::collections::HashMap;
use std::time::Duration;

use loom::sync::Arc;
use loom::thread;

use super::{BreakerConfig, CircuitBreaker, State, Ticket};

fn breaker(threshold: u32, timeout: Duration, half_open_max: u32) -> CircuitBreaker {
    CircuitBreaker::new(
        "loom",
        BreakerConfig {
            threshold,
            timeout,
            half_open_max,
            call_timeout: None,
            rate: None,
            max_timeout: None,
        },
    )
}

fn admit(b: &CircuitBreaker) -> Option<Ticket<'_>> {
    b.admit_from(b.admit_word()).ok()
}

fn fail(b: &CircuitBreaker) -> bool {
    admit(b).map(|t| b.on_failure(t, false)).is_some()
}

fn succeed(b: &CircuitBreaker) -> bool {
    admit(b).map(|t| b.on_success(t)).is_some()
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A failure that brings the streak to the threshold races a success that clears it. Every
/// outcome must be one of a sequential order: success first (CLOSED, streak 1) or failure
/// first (OPEN; the success is stale or rejected). A CLOSED breaker whose streak reached the
/// threshold, or one whose threshold-reaching failure was wiped by the success between the
/// count and the trip, is a lost transition.
#[test]
fn loom_a_tripping_failure_and_a_clearing_success_lose_no_transition() {
    model(|| {
        let b = Arc::new(breaker(2, Duration::MAX, 1));
        assert!(fail(&b));
        let failure = {
            let b = b.clone();
            thread::spawn(move || assert!(fail(&b), "nothing opened before this failure"))
        };
        let success = {
            let b = b.clone();
            thread::spawn(move || succeed(&b))
        };
        failure.join().unwrap();
        let succeeded = success.join().unwrap();
        let w = b.word.load(std::sync::atomic::Ordering::SeqCst);
        match w.state() {
            State::Closed => {
                assert!(succeeded);
                assert_eq!((w.streak(), w.generation()), (1, 0), "{w:?}");
            }
            State::Open => {
                assert_eq!((w.streak(), w.generation()), (2, 1), "{w:?}");
                assert!(!w.is_forced());
            }
            State::HalfOpen => panic!("half-open without a timeout: {w:?}"),
        }
    });
}

/// Two failures and a success race from an empty streak with threshold 2: the breaker is
/// CLOSED only with a streak below the threshold, and OPEN exactly once (generation 1).
#[test]
fn loom_two_failures_and_a_success_trip_at_most_once() {
    model(|| {
        let b = Arc::new(breaker(2, Duration::MAX, 1));
        let threads: Vec<_> = [false, false, true]
            .into_iter()
            .map(|ok| {
                let b = b.clone();
                thread::spawn(move || if ok { succeed(&b) } else { fail(&b) })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let w = b.word.load(std::sync::atomic::Ordering::SeqCst);
        match w.state() {
            State::Closed => assert!(w.streak() < 2 && w.generation() == 0, "{w:?}"),
            State::Open => assert_eq!(w.generation(), 1, "{w:?}"),
            State::HalfOpen => panic!("{w:?}"),
        }
    });
}

/// Trial calls racing each other and a reset, with a zero open timeout (every trip half-opens
/// on the next call): no HALF_OPEN period ever has more than `half_open_max` trials running,
/// and afterwards the breaker admits a call (nothing wedged, no slot leaked).
#[test]
fn loom_trials_and_a_reset_keep_at_most_half_open_max_per_period() {
    const MAX: u32 = 1;
    model(|| {
        let b = Arc::new(breaker(1, Duration::ZERO, MAX));
        assert!(fail(&b));
        // Trials running now, by the generation of the period that admitted them.
        let running = Arc::new(loom::sync::Mutex::new(HashMap::<u32, u32>::new()));
        let trial = |ok: bool| {
            let (b, running) = (b.clone(), running.clone());
            thread::spawn(move || {
                let Some(ticket) = admit(&b) else { return };
                let generation = match &ticket {
                    Ticket::Trial(p) => Some(p.generation()),
                    Ticket::Closed(_) => None,
                };
                if let Some(g) = generation {
                    let mut r = running.lock().unwrap();
                    let n = r.entry(g).or_default();
                    *n += 1;
                    assert!(*n <= MAX, "{n} trials at once in period {g}");
                }
                if let Some(g) = generation {
                    *running.lock().unwrap().entry(g).or_default() -= 1;
                }
                if ok {
                    b.on_success(ticket);
                } else {
                    b.on_failure(ticket, false);
                }
            })
        };
        let threads = [trial(true), trial(false)];
        let reset = {
            let b = b.clone();
            thread::spawn(move || b.reset())
        };
        for t in threads {
            t.join().unwrap();
        }
        reset.join().unwrap();
        if b.word.load(std::sync::atomic::Ordering::SeqCst).state() == State::HalfOpen {
            assert_eq!(
                b.trial.lock().in_flight(),
                0,
                "a settled trial kept its slot"
            );
        }
        assert!(admit(&b).is_some(), "wedged: {:?}", b.word);
    });
}

/// A trial admitted before a reset finishes while the breaker goes through a new OPEN period
/// into a new HALF_OPEN one: the new period always admits its trial (the old one holds no slot
/// of it), the old trial's success frees nothing of it and closes nothing, and the new trial's
/// success closes the breaker.
#[test]
fn loom_a_trial_from_before_a_reset_never_wedges_or_moves_the_next_period() {
    model(|| {
        let b = Arc::new(breaker(1, Duration::ZERO, 1));
        assert!(fail(&b));
        // The old trial, admitted before the reset and settled while the other thread runs.
        let old = admit(&b).expect("the first period admits a trial");
        assert!(matches!(old, Ticket::Trial(_)));
        let next_period = {
            let b = b.clone();
            thread::spawn(move || {
                b.reset();
                assert!(fail(&b));
                let ticket = admit(&b).expect("a new period has every slot free");
                assert!(matches!(ticket, Ticket::Trial(_)));
                assert!(admit(&b).is_none(), "the period's one slot is taken");
                b.on_success(ticket);
            })
        };
        b.on_success(old);
        next_period.join().unwrap();
        let w = b.word.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(w.state(), State::Closed, "{w:?}");
    });
}
