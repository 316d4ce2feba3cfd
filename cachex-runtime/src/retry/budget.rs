//! [`Budget`]: a cap on retries relative to first attempts (tower's retry budget), and the
//! process-wide state that each budgeted policy shares.
//!
//! The state of one policy is a striped counter of first attempts, bumped on every call with a
//! plain per-thread store (no lock, no clock read), and, behind a lock taken only when a call
//! failed and wants to retry, a few snapshots of that counter and the retries of the last 10 s in
//! one-second buckets, on tokio's clock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::striped::Counter;
use crate::sync::{Mutex, RwLock};

use super::Policy;

/// How far back a budget looks.
const WINDOW: Duration = Duration::from_secs(10);
/// Granularity of the retry buckets and of the first-attempt snapshots.
const BUCKET: Duration = Duration::from_secs(1);

/// A retry budget: retries under one policy in a process are at most `ratio` × the first
/// attempts of the last 10 s, plus `min_per_sec`. With the budget spent, a failed call returns
/// its error at once instead of retrying.
///
/// Which calls share a budget: every `#[retry]` function that names the registry policy (by
/// `policy = "name"`, or `"default"`) shares that name's budget, whatever overrides the
/// attribute adds; the functions of [`retry`](mod@crate::retry) share one budget per equal `Policy`
/// value (two calls with the same fields draw from the same budget).
///
/// `ratio` is read as 0.0 when it is negative or not a number; `min_per_sec` is the floor that
/// lets a quiet service retry at all.
///
/// ```
/// use cachex_runtime::{Budget, Policy};
///
/// let p = Policy { budget: Some(Budget { ratio: 0.2, min_per_sec: 10 }), ..Policy::default() };
/// assert!(p.validate().is_ok());
/// assert_eq!(Policy::default().budget, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Retries allowed per first attempt (0.2: one retry for five calls).
    pub ratio: f64,
    /// Retries allowed on top of the ratio within the window, so a service with little
    /// traffic can still retry.
    pub min_per_sec: u32,
}

impl Budget {
    /// The ratio as used: a negative or NaN ratio is 0.0.
    pub(crate) fn effective_ratio(&self) -> f64 {
        if self.ratio.is_nan() || self.ratio < 0.0 {
            0.0
        } else {
            self.ratio
        }
    }
}

/// What the lock guards: first-attempt snapshots and retry buckets of the window.
#[derive(Debug)]
struct Window {
    /// The newest snapshot taken at or before the start of the window: `(when, first attempts
    /// counted by then)`.
    base: (Instant, u64),
    /// Later snapshots, oldest first, at least [`BUCKET`] apart.
    snaps: VecDeque<(Instant, u64)>,
    /// Retries granted, by bucket start, oldest first.
    retries: VecDeque<(Instant, u64)>,
}

/// The shared state of one budget.
#[derive(Debug)]
pub(crate) struct BudgetState {
    firsts: Counter,
    window: Mutex<Window>,
}

impl BudgetState {
    fn new() -> Self {
        BudgetState {
            firsts: Counter::default(),
            window: Mutex::new(Window {
                base: (Instant::now(), 0),
                snaps: VecDeque::new(),
                retries: VecDeque::new(),
            }),
        }
    }

    /// Counts a call's first attempt: a per-thread store, nothing else.
    #[inline]
    pub(crate) fn first_attempt(&self) {
        self.firsts.add(1);
    }

    /// Takes one retry from the budget if there is one left: `true` when the retry may go.
    pub(crate) fn try_withdraw(&self, budget: &Budget) -> bool {
        let now = Instant::now();
        let cum = self.firsts.sum();
        let mut w = self.window.lock();
        let start = now.checked_sub(WINDOW).unwrap_or(w.base.0);
        // Snapshots that fell out of the window become the base.
        while let Some(&(t, c)) = w.snaps.front() {
            if t > start {
                break;
            }
            w.base = (t, c);
            w.snaps.pop_front();
        }
        while w
            .retries
            .front()
            .is_some_and(|&(t, _)| t.checked_add(BUCKET).is_some_and(|end| end <= start))
        {
            w.retries.pop_front();
        }
        if w.snaps
            .back()
            .is_none_or(|&(t, _)| now.saturating_duration_since(t) >= BUCKET)
        {
            w.snaps.push_back((now, cum));
        }
        let firsts = firsts_since(
            w.base,
            w.snaps.front().copied().unwrap_or((now, cum)),
            start,
            cum,
        );
        let retried: u64 = w
            .retries
            .iter()
            .fold(0u64, |a, &(_, n)| a.saturating_add(n));
        let allowed = budget.effective_ratio() * firsts as f64 + f64::from(budget.min_per_sec);
        // `retried + 1 <= allowed`, in floats so a huge ratio cannot overflow.
        if (retried as f64) + 1.0 > allowed.floor() {
            return false;
        }
        match w.retries.back_mut() {
            Some((t, n)) if now.saturating_duration_since(*t) < BUCKET => *n = n.saturating_add(1),
            _ => w.retries.push_back((now, 1)),
        }
        true
    }
}

/// First attempts since `start`, `cum` counted by now: the count at `start` is read between
/// the snapshot before it (`base`) and the one after (`next`), as if calls were spread evenly
/// between them. A window that starts before the budget existed counts every first attempt.
fn firsts_since(base: (Instant, u64), next: (Instant, u64), start: Instant, cum: u64) -> u64 {
    if start <= base.0 {
        return cum.saturating_sub(base.1);
    }
    let span = next.0.saturating_duration_since(base.0).as_secs_f64();
    let grown = next.1.saturating_sub(base.1) as f64;
    let into = start.saturating_duration_since(base.0).as_secs_f64();
    let at_start = if span > 0.0 {
        base.1 as f64 + grown * (into / span).min(1.0)
    } else {
        next.1 as f64
    };
    (cum as f64 - at_start).max(0.0) as u64
}

/// Which calls share one budget.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Key {
    /// A registry policy, by name (what `#[retry]` uses).
    Name(String),
    /// A policy value given to the retry functions, by the bits of its fields.
    Value([u64; 8]),
}

fn states() -> &'static RwLock<HashMap<Key, Arc<BudgetState>>> {
    static STATES: OnceLock<RwLock<HashMap<Key, Arc<BudgetState>>>> = OnceLock::new();
    STATES.get_or_init(|| RwLock::new(HashMap::new()))
}

fn state_of(key: Key) -> Arc<BudgetState> {
    if let Some(s) = states().read().get(&key) {
        return Arc::clone(s);
    }
    Arc::clone(
        states()
            .write()
            .entry(key)
            .or_insert_with(|| Arc::new(BudgetState::new())),
    )
}

/// The budget state of the registry policy `name`.
pub(crate) fn for_name(name: &str) -> Arc<BudgetState> {
    state_of(Key::Name(name.to_owned()))
}

/// The budget state shared by every retry loop run with a policy equal to `policy`.
pub(crate) fn for_value(policy: &Policy) -> Arc<BudgetState> {
    let (ratio, floor) = policy
        .budget
        .map_or((0, 0), |b| (b.ratio.to_bits(), u64::from(b.min_per_sec)));
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    state_of(Key::Value([
        u64::from(policy.max_attempts),
        nanos(policy.initial_delay),
        nanos(policy.max_delay),
        policy.multiplier.to_bits(),
        u64::from(policy.jitter),
        ratio,
        floor,
        u64::from(policy.budget.is_some()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_counts_only_first_attempts_of_the_last_ten_seconds() {
        let s = BudgetState::new();
        let b = Budget {
            ratio: 0.5,
            min_per_sec: 0,
        };
        for _ in 0..10 {
            s.first_attempt();
        }
        let granted = (0..20).filter(|_| s.try_withdraw(&b)).count();
        assert_eq!(granted, 5);
        // Eleven seconds later the old first attempts and retries are forgotten.
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!s.try_withdraw(&b));
        for _ in 0..4 {
            s.first_attempt();
        }
        let granted = (0..20).filter(|_| s.try_withdraw(&b)).count();
        assert_eq!(granted, 2);
    }
}
