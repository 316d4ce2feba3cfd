//! Retry regressions: backoff arithmetic at the edges of its input range, and `max_delay`
//! honoured whatever `initial_delay` is, through the functions, the registry and `#[retry]`.
//! Sleeps are measured on tokio's paused clock, where they are exact.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cachex_runtime::retry::{self, retry_with_stats, Backoff};
use cachex_runtime::{registry, Policy};
use proptest::prelude::*;
use tokio::time::Instant;

fn policy(max_attempts: u32, initial: Duration, max: Duration, multiplier: f64) -> Policy {
    Policy {
        max_attempts,
        initial_delay: initial,
        max_delay: max,
        multiplier,
        jitter: false,
        budget: None,
    }
}

const MS: fn(u64) -> Duration = Duration::from_millis;

// ---------------------------------------------------------------------------------------------
// Arithmetic
// ---------------------------------------------------------------------------------------------

#[test]
fn backoff_total_delay_saturates_instead_of_overflowing() {
    // The sum of the delays handed out used to be a plain `Duration` addition: two delays of
    // `Duration::MAX` panicked with "overflow when adding durations".
    let mut b = Backoff::new(policy(3, Duration::MAX, Duration::MAX, 1.0));
    assert_eq!(b.next_delay(), Some(Duration::MAX));
    assert_eq!(b.next_delay(), Some(Duration::MAX));
    assert_eq!(b.next_delay(), None);
    assert_eq!(b.total_delay(), Duration::MAX);
    assert_eq!(b.attempts(), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_with_stats_reports_a_saturated_total_delay_instead_of_panicking() {
    // Same overflow through the loop that reports `total_delay`: it used to panic after the
    // second sleep instead of returning the last error.
    let p = policy(3, Duration::MAX, Duration::MAX, 1.0);
    let (r, stats) = retry_with_stats(&p, || async { Err::<(), _>("down") }).await;
    assert_eq!(r, Err("down"));
    assert_eq!(stats.attempts, 3);
    assert_eq!(stats.total_delay, Duration::MAX);
}

#[test]
fn a_zero_initial_delay_stays_zero_for_every_retry() {
    // 0 × multiplier^(n−1) used to become 0 × ∞ = NaN once the power overflowed (from retry
    // 1025 on with ×2), and the NaN was read as "over the cap": `delay_for` returned
    // `max_delay` (5 s) where the formula gives 0.
    let p = policy(10, Duration::ZERO, Duration::from_secs(5), 2.0);
    for n in [
        1,
        2,
        64,
        1_025,
        1_026,
        2_000,
        1 << 20,
        u32::MAX - 1,
        u32::MAX,
    ] {
        assert_eq!(p.delay_for(n), Duration::ZERO, "retry {n}");
    }
    let p = policy(10, Duration::ZERO, Duration::MAX, f64::MAX);
    assert_eq!(p.delay_for(2), Duration::ZERO);
    assert_eq!(p.delay_for(u32::MAX), Duration::ZERO);
}

#[test]
fn delay_for_edges() {
    let secs = Duration::from_secs;
    // Retry 0 is the first attempt: no delay.
    assert_eq!(
        policy(3, secs(1), secs(5), 2.0).delay_for(0),
        Duration::ZERO
    );
    // Multiplier 1.0: a constant delay, however many retries.
    let p = policy(3, MS(100), secs(5), 1.0);
    for n in [1, 2, 1_000, u32::MAX] {
        assert_eq!(p.delay_for(n), MS(100), "retry {n}");
    }
    // A huge multiplier reaches the cap at once and stays there.
    let p = policy(3, MS(100), secs(5), f64::MAX);
    assert_eq!(p.delay_for(1), MS(100));
    assert_eq!(p.delay_for(2), secs(5));
    assert_eq!(p.delay_for(u32::MAX), secs(5));
    // A huge initial delay is capped from the first retry on.
    let p = policy(3, Duration::MAX, secs(5), 2.0);
    assert_eq!(p.delay_for(1), secs(5));
    assert_eq!(p.delay_for(u32::MAX), secs(5));
    let p = policy(3, Duration::MAX, Duration::MAX, 2.0);
    assert_eq!(p.delay_for(1), Duration::MAX);
    assert_eq!(p.delay_for(2), Duration::MAX);
    // A zero cap means no sleeping at all.
    let p = policy(3, MS(100), Duration::ZERO, 2.0);
    for n in [0, 1, 2, u32::MAX] {
        assert_eq!(p.delay_for(n), Duration::ZERO, "retry {n}");
    }
    // Huge retry numbers with an ordinary policy sit at the cap.
    let p = policy(3, MS(100), secs(5), 2.0);
    assert_eq!(p.delay_for(u32::MAX), secs(5));
    // A multiplier just above 1.0 keeps growing past retry 2^31 instead of freezing there.
    let p = policy(3, secs(1), Duration::MAX, 1.0 + 1e-9);
    assert!(p.delay_for(u32::MAX) > p.delay_for(1 << 31));
}

/// Durations over the whole range, with the edges (zero, one nanosecond, `MAX`) drawn often.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::MAX),
        (0u64..=10_000_000_000).prop_map(Duration::from_nanos),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// Multipliers a valid policy may have (finite, at least 1.0), from just above 1.0 to `f64::MAX`.
fn valid_multiplier() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(1.0),
        Just(1.0 + f64::EPSILON),
        Just(f64::MAX),
        1.0f64..4.0,
        (0u32..64).prop_map(|k| 1.0 + f64::EPSILON * f64::from(k)),
        (1.0f64..f64::MAX),
    ]
}

/// Any multiplier at all, the invalid ones included: `delay_for` must not panic on them.
fn any_multiplier() -> impl Strategy<Value = f64> {
    prop_oneof![
        valid_multiplier(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-1.0),
        any::<f64>(),
    ]
}

fn any_retry() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..100,
        Just(u32::MAX),
        Just(u32::MAX - 1),
        Just(1 << 31),
        any::<u32>(),
    ]
}

fn any_policy(multiplier: impl Strategy<Value = f64>) -> impl Strategy<Value = Policy> {
    (
        any::<u32>(),
        any_duration(),
        any_duration(),
        multiplier,
        any::<bool>(),
    )
        .prop_map(
            |(max_attempts, initial_delay, max_delay, multiplier, jitter)| Policy {
                max_attempts,
                initial_delay,
                max_delay,
                multiplier,
                jitter,
                budget: None,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn delay_for_never_exceeds_max_delay(p in any_policy(any_multiplier()), n in any_retry()) {
        prop_assert!(p.delay_for(n) <= p.max_delay);
    }

    #[test]
    fn delay_for_is_monotone_in_the_retry_number(
        p in any_policy(valid_multiplier()),
        a in any_retry(),
        b in any_retry(),
    ) {
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(p.delay_for(lo) <= p.delay_for(hi), "{lo} vs {hi}");
        let next = lo.saturating_add(1);
        prop_assert!(p.delay_for(lo) <= p.delay_for(next), "{lo} vs {next}");
    }

    #[test]
    fn delay_for_follows_the_formula_below_the_cap(
        initial_ms in 0u64..10_000,
        max_ms in 0u64..100_000,
        multiplier in 1.0f64..3.0,
        n in 1u32..40,
    ) {
        let p = policy(3, MS(initial_ms), MS(max_ms), multiplier);
        let exact = initial_ms as f64 * multiplier.powi(n as i32 - 1);
        let want = exact.min(max_ms as f64);
        let got = p.delay_for(n).as_secs_f64() * 1e3;
        // Float rounding only: well under a microsecond.
        prop_assert!((got - want).abs() <= want * 1e-9 + 1e-6, "got {got} ms, want {want} ms");
    }

    #[test]
    fn jittered_delay_lies_within_zero_and_delay_for(
        p in any_policy(any_multiplier()),
        n in any_retry(),
    ) {
        let d = p.jittered_delay_for(n);
        prop_assert!(d <= p.delay_for(n));
        if !p.jitter {
            prop_assert_eq!(d, p.delay_for(n));
        }
    }

    #[test]
    fn backoff_never_panics_and_hands_out_at_most_max_attempts(
        p in any_policy(any_multiplier()),
    ) {
        let mut b = Backoff::new(p);
        let mut handed_out = 0u32;
        let mut sum = Duration::ZERO;
        // Bounded: a policy may allow u32::MAX attempts.
        while handed_out < 64 {
            match b.next_delay() {
                Some(d) => {
                    prop_assert!(d <= p.max_delay);
                    handed_out += 1;
                    sum = sum.saturating_add(d);
                }
                None => break,
            }
        }
        prop_assert_eq!(b.attempts(), handed_out + 1);
        prop_assert!(b.attempts() <= p.max_attempts.max(1));
        prop_assert_eq!(b.total_delay(), sum);
    }
}

// ---------------------------------------------------------------------------------------------
// max_delay honoured whatever initial_delay is
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn max_delay_caps_every_sleep_even_below_initial_delay() {
    // `initial_delay` 2 s with `max_delay` 123 ms used to sleep 2 s per retry: the policy was
    // "sanitised" by raising `max_delay` to `initial_delay`. Each sleep is `delay_for(n)`,
    // which is capped at `max_delay`.
    let p = policy(3, Duration::from_secs(2), MS(123), 2.0);
    assert_eq!(p.delay_for(1), MS(123));
    let start = Instant::now();
    let r = retry::retry(&p, || async { Err::<(), _>("down") }).await;
    let slept = start.elapsed();
    println!("initial 2s / max 123ms, 3 attempts: slept {slept:?} (want 246ms)");
    assert_eq!(r, Err("down"));
    assert_eq!(slept, MS(246));

    // With jitter each sleep is drawn within [0, 123 ms].
    let p = Policy { jitter: true, ..p };
    let start = Instant::now();
    let _ = retry::retry(&p, || async { Err::<(), _>("down") }).await;
    let slept = start.elapsed();
    println!("same with jitter: slept {slept:?} (at most 246ms)");
    assert!(slept <= MS(246), "slept {slept:?}");
}

#[test]
fn a_policy_whose_initial_delay_exceeds_max_delay_is_stored_with_its_cap_kept() {
    // `set_policy` used to store it with `max_delay` raised to `initial_delay`, so every retry
    // slept 2 s. Now the cap is kept and `initial_delay` lowered to it: the same sleeps as the
    // policy as written. `try_set_policy` still refuses it as a likely mistake.
    let p = policy(3, Duration::from_secs(2), MS(123), 2.0);
    assert!(p.validate().is_err());
    assert!(registry().try_set_policy("regr-slow-start", p).is_err());
    registry().set_policy("regr-slow-start-2", p);
    let stored = registry().policy("regr-slow-start-2").unwrap();
    assert_eq!(stored.max_delay, MS(123));
    for n in 1..10 {
        assert_eq!(stored.delay_for(n), p.delay_for(n));
        assert_eq!(stored.delay_for(n), MS(123));
    }
    // The other checks stay.
    assert!(registry()
        .try_set_policy(
            "regr-bad",
            Policy {
                max_attempts: 0,
                ..p
            }
        )
        .is_err());
    assert!(registry()
        .try_set_policy(
            "regr-bad",
            Policy {
                multiplier: 0.5,
                ..p
            }
        )
        .is_err());
}

static REGISTERED_CALLS: AtomicU32 = AtomicU32::new(0);

#[cachex_runtime::retry(policy = "regr-capped")]
async fn under_a_registered_capped_policy() -> Result<(), String> {
    REGISTERED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err("down".to_owned())
}

#[tokio::test(start_paused = true)]
async fn a_registered_policy_below_its_initial_delay_sleeps_max_delay() {
    // Through the registry and `#[retry(policy = ..)]`, the same policy used to sleep 2 s and
    // then 4 s.
    registry().set_policy(
        "regr-capped",
        policy(3, Duration::from_secs(2), MS(123), 2.0),
    );
    let start = Instant::now();
    assert!(under_a_registered_capped_policy().await.is_err());
    let slept = start.elapsed();
    println!("#[retry(policy = \"regr-capped\")]: slept {slept:?} (want 246ms)");
    assert_eq!(REGISTERED_CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(slept, MS(246));
}

static CAPPED_CALLS: AtomicU32 = AtomicU32::new(0);

#[cachex_runtime::retry(max_delay = "50ms")]
async fn with_only_max_delay() -> Result<(), String> {
    CAPPED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err("down".to_owned())
}

#[tokio::test(start_paused = true)]
async fn a_max_delay_override_alone_caps_the_default_policy() {
    // `#[retry(max_delay = "50ms")]` on the default policy (3 attempts, 100 ms, ×2, jitter)
    // used to sleep as if uncapped (between 150 ms and 300 ms in all): its 50 ms cap was raised
    // to the policy's 100 ms initial delay. Now each of the two sleeps is within [0, 50 ms].
    let start = Instant::now();
    assert_eq!(with_only_max_delay().await, Err("down".to_owned()));
    let slept = start.elapsed();
    println!("#[retry(max_delay = \"50ms\")]: slept {slept:?} (at most 100ms)");
    assert_eq!(CAPPED_CALLS.load(Ordering::SeqCst), 3);
    assert!(slept <= MS(100), "slept {slept:?}");
}
