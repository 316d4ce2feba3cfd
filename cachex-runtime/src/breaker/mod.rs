//! The circuit breaker: CLOSED → OPEN after `threshold` consecutive failures, OPEN rejects at
//! once until `timeout` has passed, then HALF_OPEN lets up to `half_open_max` trial calls run.
//!
//! Layout of the hot path: one `AtomicU64` word holds the state, the pinned ("forced") flag, the
//! consecutive-failure count and a generation number that changes on every state transition. A
//! call in CLOSED reads the word, runs, and on success bumps a per-thread striped counter: no
//! lock, no allocation, no write to a shared cache line unless a failure streak must be cleared.
//! Transitions and HALF_OPEN permits go through a small mutex. Every outcome carries the
//! generation it started in; an outcome from an older generation is counted in the lifetime
//! totals but never moves the state machine (a slow success that started while CLOSED cannot
//! close a breaker that has opened since).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::observe::events::state_of_bits;
use crate::striped::Striped;
use crate::sync::{Mutex, MutexGuard};
use crate::{CallError, Error};

pub(crate) mod decl;

/// Configuration of a [`CircuitBreaker`].
///
/// Struct-update syntax works from any preset:
///
/// ```
/// use cachex_runtime::BreakerConfig;
/// use std::time::Duration;
///
/// let cfg = BreakerConfig { threshold: 2, ..BreakerConfig::default() };
/// assert_eq!(cfg.timeout, Duration::from_secs(30));
/// assert!(cfg.validate().is_ok());
/// assert!(BreakerConfig { half_open_max: 0, ..cfg }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit (at least 1).
    pub threshold: u32,
    /// How long the circuit stays OPEN before letting trial calls through.
    pub timeout: Duration,
    /// Trial calls allowed at once in HALF_OPEN, and the successes in a row that close it
    /// (at least 1).
    pub half_open_max: u32,
    /// Per-call deadline; a call that overruns it is abandoned and counts as a failure and a
    /// timeout.
    pub call_timeout: Option<Duration>,
}

impl BreakerConfig {
    /// The default configuration: threshold 5, timeout 30 s, 3 trial calls, no call deadline.
    ///
    /// ```
    /// # use cachex_runtime::BreakerConfig;
    /// assert_eq!(BreakerConfig::DEFAULT, BreakerConfig::default());
    /// ```
    pub const DEFAULT: BreakerConfig = BreakerConfig {
        threshold: 5,
        timeout: Duration::from_secs(30),
        half_open_max: 3,
        call_timeout: None,
    };

    /// Opens quickly and recovers slowly: threshold 3, timeout 60 s, 1 trial call.
    ///
    /// ```
    /// # use cachex_runtime::BreakerConfig;
    /// assert_eq!(BreakerConfig::conservative().threshold, 3);
    /// ```
    pub const fn conservative() -> Self {
        BreakerConfig {
            threshold: 3,
            timeout: Duration::from_secs(60),
            half_open_max: 1,
            call_timeout: None,
        }
    }

    /// Tolerates more failures and recovers fast: threshold 10, timeout 10 s, 5 trial calls.
    ///
    /// ```
    /// # use cachex_runtime::BreakerConfig;
    /// assert_eq!(BreakerConfig::aggressive().half_open_max, 5);
    /// ```
    pub const fn aggressive() -> Self {
        BreakerConfig {
            threshold: 10,
            timeout: Duration::from_secs(10),
            half_open_max: 5,
            call_timeout: None,
        }
    }

    /// Checks the configuration: `threshold` and `half_open_max` must be at least 1 and a
    /// `call_timeout` must not be zero.
    ///
    /// ```
    /// # use cachex_runtime::BreakerConfig;
    /// let err = BreakerConfig { threshold: 0, ..Default::default() }.validate().unwrap_err();
    /// assert!(err.to_string().contains("threshold"));
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if self.threshold == 0 {
            return Err(Error::invalid(
                "breaker threshold must be at least 1 (it counts the consecutive failures that open the circuit)",
            ));
        }
        if self.half_open_max == 0 {
            return Err(Error::invalid(
                "breaker half_open_max must be at least 1 (a half-open breaker with no trial calls could never close)",
            ));
        }
        if self.call_timeout == Some(Duration::ZERO) {
            return Err(Error::invalid(
                "breaker call_timeout must be longer than zero (use None for no deadline)",
            ));
        }
        Ok(())
    }

    /// The nearest valid configuration (zero counts become 1, a zero call deadline becomes none).
    fn sanitized(mut self) -> Self {
        self.threshold = self.threshold.max(1);
        self.half_open_max = self.half_open_max.max(1);
        if self.call_timeout == Some(Duration::ZERO) {
            self.call_timeout = None;
        }
        self
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The state of a circuit breaker.
///
/// ```
/// use cachex_runtime::State;
/// assert_eq!(State::HalfOpen.to_string(), "HALF_OPEN");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum State {
    /// Calls run; failures are counted.
    Closed,
    /// Calls are rejected at once.
    Open,
    /// A limited number of trial calls run; the others are rejected.
    HalfOpen,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::Open => "OPEN",
            State::HalfOpen => "HALF_OPEN",
        })
    }
}

/// A snapshot of a breaker's state and lifetime totals.
///
/// ```
/// use cachex_runtime::{BreakerConfig, CircuitBreaker};
///
/// let b = CircuitBreaker::new("doc", BreakerConfig::default());
/// let s = b.stats();
/// assert!(s.is_healthy());
/// assert_eq!(s.failure_rate(), 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerStats {
    /// State at the time of the snapshot.
    pub state: State,
    /// Every call presented, rejected ones included.
    pub total_requests: u64,
    /// Calls that returned `Ok`.
    pub total_successes: u64,
    /// Calls that returned `Err` or overran `call_timeout`.
    pub total_failures: u64,
    /// Calls that overran `call_timeout` (also counted in `total_failures`).
    pub total_timeouts: u64,
    /// Calls rejected without running.
    pub total_rejections: u64,
    /// Failures in a row since the last success or reset.
    pub consecutive_failures: u32,
    /// Wall-clock time of the last failure.
    pub last_failure: Option<SystemTime>,
}

impl BreakerStats {
    fn completed(&self) -> u64 {
        self.total_successes + self.total_failures
    }

    /// Percent (0.0..=100.0) of completed calls that failed; 0.0 when none completed.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerStats, State};
    /// let s = BreakerStats { state: State::Closed, total_requests: 4, total_successes: 3,
    ///     total_failures: 1, total_timeouts: 0, total_rejections: 0, consecutive_failures: 1,
    ///     last_failure: None };
    /// assert_eq!(s.failure_rate(), 25.0);
    /// ```
    pub fn failure_rate(&self) -> f64 {
        percent(self.total_failures, self.completed())
    }

    /// Percent (0.0..=100.0) of completed calls that succeeded; 0.0 when none completed.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerStats, State};
    /// let s = BreakerStats { state: State::Closed, total_requests: 4, total_successes: 3,
    ///     total_failures: 1, total_timeouts: 0, total_rejections: 0, consecutive_failures: 1,
    ///     last_failure: None };
    /// assert_eq!(s.success_rate(), 75.0);
    /// ```
    pub fn success_rate(&self) -> f64 {
        percent(self.total_successes, self.completed())
    }

    /// True when the breaker is CLOSED.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// let b = CircuitBreaker::new("doc", BreakerConfig::default());
    /// b.force_open();
    /// assert!(!b.stats().is_healthy());
    /// ```
    pub fn is_healthy(&self) -> bool {
        self.state == State::Closed
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

// ---- the state word -------------------------------------------------------------------------

const ST_CLOSED: u64 = 0;
const ST_OPEN: u64 = 1;
const ST_HALF_OPEN: u64 = 2;
const STATE_MASK: u64 = 0b11;
const FORCED: u64 = 0b100;
const CONSEC_SHIFT: u32 = 3;
/// The consecutive-failure count saturates here (29 bits).
const CONSEC_MAX: u64 = (1 << 29) - 1;
const CONSEC_MASK: u64 = CONSEC_MAX << CONSEC_SHIFT;
const GEN_SHIFT: u32 = 32;

#[inline]
fn st(w: u64) -> u64 {
    w & STATE_MASK
}
#[inline]
fn gen(w: u64) -> u32 {
    (w >> GEN_SHIFT) as u32
}
#[inline]
fn consec(w: u64) -> u32 {
    ((w & CONSEC_MASK) >> CONSEC_SHIFT) as u32
}
fn with_consec(w: u64, c: u64) -> u64 {
    (w & !CONSEC_MASK) | (c.min(CONSEC_MAX) << CONSEC_SHIFT)
}
/// A new word for a transition: the next generation, the given state and flags.
fn next(w: u64, state: u64, forced: bool, consec: u64) -> u64 {
    let g = u64::from(gen(w).wrapping_add(1));
    (g << GEN_SHIFT)
        | (consec.min(CONSEC_MAX) << CONSEC_SHIFT)
        | if forced { FORCED } else { 0 }
        | state
}

// Indices into the striped counters.
const REQUESTS: usize = 0;
const SUCCESSES: usize = 1;
const REJECTIONS: usize = 2;
const FAILURES: usize = 3;

const NO_CALL_TIMEOUT: u64 = u64::MAX;

/// A process-wide origin for storing instants as signed nanoseconds in an atomic. Signed, because
/// a runtime with a paused clock may have been started (and its clock frozen) before this origin
/// was taken.
fn origin() -> Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    Instant::from_std(*ORIGIN.get_or_init(std::time::Instant::now))
}

fn instant_to_nanos(t: Instant) -> i64 {
    let o = origin();
    match t.checked_duration_since(o) {
        Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        None => i64::try_from(o.duration_since(t).as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
}

/// HALF_OPEN bookkeeping, guarded by the transition mutex.
///
/// `in_flight` counts every trial permit not yet settled, whatever HALF_OPEN period issued it,
/// so trial calls running at once never exceed `half_open_max` even when the breaker re-opens
/// and half-opens again while older trials still run. `successes` belongs to the current
/// HALF_OPEN period only.
#[derive(Debug, Default)]
struct Trial {
    in_flight: u32,
    successes: u32,
}

/// A named circuit breaker.
///
/// Breakers that `#[circuit_breaker]` functions use live in the [`registry`](crate::registry);
/// [`CircuitBreaker::new`] makes a standalone one.
///
/// ```
/// use cachex_runtime::{BreakerConfig, CallError, CircuitBreaker, State};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let breaker = CircuitBreaker::new("payments", BreakerConfig { threshold: 2, ..Default::default() });
/// for _ in 0..2 {
///     let r: Result<(), _> = breaker.call(|| async { Err::<(), _>("boom") }).await;
///     assert!(matches!(r, Err(CallError::Inner("boom"))));
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let r = breaker.call(|| async { Ok::<_, &str>(1) }).await;
/// assert!(matches!(r, Err(CallError::Rejected(e)) if e.is_circuit_open()));
/// # }
/// ```
pub struct CircuitBreaker {
    name: Cow<'static, str>,
    word: AtomicU64,
    threshold: AtomicU32,
    half_open_max: AtomicU32,
    timeout_ns: AtomicU64,
    call_timeout_ns: AtomicU64,
    /// End of the current OPEN period, in nanoseconds from [`origin`].
    open_until: AtomicU64,
    trial: Mutex<Trial>,
    /// Requests, successes, rejections and failures, striped per thread.
    counts: Striped<4>,
    timeouts: AtomicU64,
    /// Unix nanoseconds of the last failure, 0 for none.
    last_failure: AtomicU64,
}

/// Admission to run one call, carrying the generation it was admitted in.
enum Ticket<'a> {
    Closed(u32),
    Trial(Permit<'a>),
}

/// A HALF_OPEN slot. Dropped without an outcome (the call was cancelled), it gives the slot
/// back and counts as neither success nor failure.
struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    gen: u32,
    settled: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.lock().in_flight -= 1;
        }
    }
}

impl CircuitBreaker {
    /// A standalone breaker (not in the registry). An invalid `config` is replaced by the nearest
    /// valid one (see [`BreakerConfig::validate`]) and reported through `tracing`; use
    /// [`CircuitBreaker::try_new`] to get the error instead.
    ///
    /// ```
    /// use cachex_runtime::{BreakerConfig, CircuitBreaker, State};
    /// let b = CircuitBreaker::new("search", BreakerConfig::aggressive());
    /// assert_eq!(b.name(), "search");
    /// assert_eq!(b.state(), State::Closed);
    /// ```
    pub fn new(name: impl Into<String>, config: BreakerConfig) -> Self {
        Self::named(Cow::Owned(name.into()), config)
    }

    /// [`new`](Self::new) with a name that may be borrowed for the life of the process (the
    /// registry's breakers), so that a rejection's [`Error::CircuitOpen`] allocates nothing.
    pub(crate) fn named(name: Cow<'static, str>, config: BreakerConfig) -> Self {
        if let Err(e) = config.validate() {
            tracing::error!(breaker = %name, error = %e, "invalid breaker configuration; using the nearest valid one");
        }
        Self::build(name, config.sanitized())
    }

    /// A standalone breaker, or the reason `config` is invalid.
    ///
    /// ```
    /// use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// assert!(CircuitBreaker::try_new("x", BreakerConfig { threshold: 0, ..Default::default() }).is_err());
    /// ```
    pub fn try_new(name: impl Into<String>, config: BreakerConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self::build(Cow::Owned(name.into()), config))
    }

    fn build(name: Cow<'static, str>, config: BreakerConfig) -> Self {
        let b = CircuitBreaker {
            name,
            word: AtomicU64::new(ST_CLOSED),
            threshold: AtomicU32::new(0),
            half_open_max: AtomicU32::new(0),
            timeout_ns: AtomicU64::new(0),
            call_timeout_ns: AtomicU64::new(NO_CALL_TIMEOUT),
            open_until: AtomicU64::new(0),
            trial: Mutex::new(Trial::default()),
            counts: Striped::new(),
            timeouts: AtomicU64::new(0),
            last_failure: AtomicU64::new(0),
        };
        b.store_config(config);
        b
    }

    fn store_config(&self, c: BreakerConfig) {
        self.threshold.store(c.threshold, Relaxed);
        self.half_open_max.store(c.half_open_max, Relaxed);
        self.timeout_ns.store(duration_to_nanos(c.timeout), Relaxed);
        self.call_timeout_ns.store(
            c.call_timeout.map_or(NO_CALL_TIMEOUT, duration_to_nanos),
            Relaxed,
        );
    }

    /// Replaces the configuration in place (the state and totals are kept).
    pub(crate) fn set_config(&self, config: BreakerConfig) {
        if let Err(e) = config.validate() {
            tracing::error!(breaker = %self.name, error = %e, "invalid breaker configuration; using the nearest valid one");
        }
        self.store_config(config.sanitized());
    }

    /// The breaker's name.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// assert_eq!(CircuitBreaker::new("a", BreakerConfig::default()).name(), "a");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current configuration.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerConfig::conservative());
    /// assert_eq!(b.config(), BreakerConfig::conservative());
    /// ```
    pub fn config(&self) -> BreakerConfig {
        let ct = self.call_timeout_ns.load(Relaxed);
        BreakerConfig {
            threshold: self.threshold.load(Relaxed),
            timeout: Duration::from_nanos(self.timeout_ns.load(Relaxed)),
            half_open_max: self.half_open_max.load(Relaxed),
            call_timeout: (ct != NO_CALL_TIMEOUT).then(|| Duration::from_nanos(ct)),
        }
    }

    /// The current state. An OPEN breaker whose timeout has passed reports OPEN until the next
    /// call moves it to HALF_OPEN.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker, State};
    /// let b = CircuitBreaker::new("a", BreakerConfig::default());
    /// b.force_open();
    /// assert_eq!(b.state(), State::Open);
    /// ```
    pub fn state(&self) -> State {
        match st(self.word.load(Acquire)) {
            ST_CLOSED => State::Closed,
            ST_OPEN => State::Open,
            _ => State::HalfOpen,
        }
    }

    /// A snapshot of the state and the lifetime totals.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let b = CircuitBreaker::new("a", BreakerConfig::default());
    /// let _ = b.call(|| async { Ok::<_, ()>(()) }).await;
    /// assert_eq!(b.stats().total_successes, 1);
    /// # }
    /// ```
    pub fn stats(&self) -> BreakerStats {
        let w = self.word.load(Acquire);
        let lf = self.last_failure.load(Relaxed);
        BreakerStats {
            state: self.state(),
            total_requests: self.counts.sum(REQUESTS),
            total_successes: self.counts.sum(SUCCESSES),
            total_failures: self.counts.sum(FAILURES),
            total_timeouts: self.timeouts.load(Relaxed),
            total_rejections: self.counts.sum(REJECTIONS),
            consecutive_failures: consec(w),
            last_failure: (lf != 0).then(|| UNIX_EPOCH + Duration::from_nanos(lf)),
        }
    }

    /// True while the breaker is pinned by [`force_open`](Self::force_open) or
    /// [`force_close`](Self::force_close).
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerConfig::default());
    /// b.force_close();
    /// assert!(b.is_forced());
    /// b.reset();
    /// assert!(!b.is_forced());
    /// ```
    pub fn is_forced(&self) -> bool {
        self.word.load(Acquire) & FORCED != 0
    }

    /// Pins the breaker OPEN: every call is rejected until [`force_close`](Self::force_close) or
    /// [`reset`](Self::reset).
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker, State};
    /// let b = CircuitBreaker::new("a", BreakerConfig::default());
    /// b.force_open();
    /// assert_eq!((b.state(), b.is_forced()), (State::Open, true));
    /// ```
    pub fn force_open(&self) {
        self.transition(|w| next(w, ST_OPEN, true, u64::from(consec(w))));
    }

    /// Pins the breaker CLOSED: every call runs, outcomes are still counted, failures never
    /// open it, until [`force_open`](Self::force_open) or [`reset`](Self::reset).
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker, State};
    /// let b = CircuitBreaker::new("a", BreakerConfig::default());
    /// b.force_open();
    /// b.force_close();
    /// assert_eq!((b.state(), b.is_forced()), (State::Closed, true));
    /// ```
    pub fn force_close(&self) {
        self.transition(|w| next(w, ST_CLOSED, true, 0));
    }

    /// Unpinned and CLOSED, with the consecutive-failure count and half-open progress cleared;
    /// lifetime totals are kept.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker, State};
    /// let b = CircuitBreaker::new("a", BreakerConfig::default());
    /// b.force_open();
    /// b.reset();
    /// assert_eq!((b.state(), b.is_forced()), (State::Closed, false));
    /// ```
    pub fn reset(&self) {
        self.transition(|w| next(w, ST_CLOSED, false, 0));
    }

    /// Runs `f()` under the breaker.
    ///
    /// Rejected at once with [`Error::CircuitOpen`] while OPEN (the function is not called), or
    /// while HALF_OPEN with all trial slots taken. With a `call_timeout`, an overrun is abandoned
    /// and returned as [`Error::Timeout`] and counted as a failure. Dropping the returned future
    /// cancels the call; a cancelled call counts as neither success nor failure.
    ///
    /// ```
    /// use cachex_runtime::{BreakerConfig, CallError, CircuitBreaker};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let b = CircuitBreaker::new("inventory", BreakerConfig::default());
    /// let n: Result<u32, CallError<std::io::Error>> = b.call(|| async { Ok(7) }).await;
    /// assert_eq!(n.unwrap(), 7);
    /// # }
    /// ```
    pub async fn call<T, E, F, Fut>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let w = self.admit_word();
        if self.is_plain_closed(w) {
            // The hot path, kept apart from `run` so it builds no ticket and no timeout state,
            // and awaited here rather than through another future so the result is not copied
            // once more through a nested future's state.
            return self.closed_outcome(w, f().await);
        }
        let ticket = match self.admit_from(w) {
            Ok(t) => t,
            // The error is built here, in place, rather than moved out through a `Result`.
            Err(retry_after) => return Err(CallError::Rejected(self.open_error(retry_after))),
        };
        self.run(ticket, f()).await
    }

    /// [`call`](Self::call) for a future that is already built; it is dropped unpolled when the
    /// call is rejected.
    pub(crate) async fn call_future<T, E, Fut>(&self, fut: Fut) -> Result<T, CallError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        // The same steps as `call`, with the future in hand (written out again rather than
        // delegating, which would nest one more future on the hot path).
        let w = self.admit_word();
        if self.is_plain_closed(w) {
            return self.closed_outcome(w, fut.await);
        }
        let ticket = match self.admit_from(w) {
            Ok(t) => t,
            Err(retry_after) => return Err(CallError::Rejected(self.open_error(retry_after))),
        };
        self.run(ticket, fut).await
    }

    /// CLOSED with no call deadline: the call has nothing to set up and, if cancelled, nothing
    /// to undo.
    #[inline]
    fn is_plain_closed(&self, w: u64) -> bool {
        st(w) == ST_CLOSED && self.call_timeout_ns.load(Relaxed) == NO_CALL_TIMEOUT
    }

    /// Records the outcome of a call admitted while CLOSED against word `w`.
    #[inline]
    fn closed_outcome<T, E>(&self, w: u64, r: Result<T, E>) -> Result<T, CallError<E>> {
        match r {
            Ok(v) => {
                self.closed_success(gen(w));
                Ok(v)
            }
            Err(e) => {
                self.on_failure(Ticket::Closed(gen(w)), false);
                Err(CallError::Inner(e))
            }
        }
    }

    async fn run<T, E, Fut>(&self, ticket: Ticket<'_>, fut: Fut) -> Result<T, CallError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let deadline = self.call_timeout_ns.load(Relaxed);
        let outcome = if deadline == NO_CALL_TIMEOUT {
            fut.await.map_err(CallError::Inner)
        } else {
            let after = Duration::from_nanos(deadline);
            match tokio::time::timeout(after, fut).await {
                Ok(r) => r.map_err(CallError::Inner),
                Err(_) => Err(CallError::Rejected(Error::Timeout {
                    name: self.name.clone(),
                    after,
                })),
            }
        };
        match &outcome {
            Ok(_) => self.on_success(ticket),
            Err(CallError::Inner(_)) => self.on_failure(ticket, false),
            Err(CallError::Rejected(_)) => self.on_failure(ticket, true),
        }
        outcome
    }

    /// Counts the call as presented and reads the state word it is admitted against.
    #[inline]
    fn admit_word(&self) -> u64 {
        self.counts.incr(REQUESTS);
        self.word.load(Acquire)
    }

    /// Decides whether a call presented against word `w` may run. The CLOSED case stays inline.
    #[inline]
    fn admit_from(&self, w: u64) -> Result<Ticket<'_>, Duration> {
        if st(w) == ST_CLOSED {
            return Ok(Ticket::Closed(gen(w)));
        }
        self.admit_slow(w)
    }

    #[cold]
    #[inline(never)]
    /// A rejection is counted here and returned as its `retry_after`.
    fn admit_slow(&self, mut w: u64) -> Result<Ticket<'_>, Duration> {
        loop {
            match st(w) {
                ST_CLOSED => return Ok(Ticket::Closed(gen(w))),
                ST_OPEN => {
                    if w & FORCED != 0 {
                        // No scheduled end: the configured timeout is the best hint.
                        return Err(
                            self.reject(Duration::from_nanos(self.timeout_ns.load(Relaxed)))
                        );
                    }
                    let now = instant_to_nanos(Instant::now());
                    let until = self.open_until.load(Acquire) as i64;
                    if now < until {
                        return Err(self.reject(Duration::from_nanos((until - now) as u64)));
                    }
                    // The timeout has passed: move to HALF_OPEN (once) and take a trial slot.
                    let mut trial = self.lock();
                    let cur = self.word.load(Acquire);
                    if cur == w {
                        let half = next(w, ST_HALF_OPEN, false, u64::from(consec(w)));
                        self.word.store(half, Release);
                        trial.successes = 0;
                        crate::observe::emit_state_change(&self.name, State::Open, State::HalfOpen);
                    }
                    drop(trial);
                    w = self.word.load(Acquire);
                }
                _ => {
                    let mut trial = self.lock();
                    let cur = self.word.load(Acquire);
                    if st(cur) != ST_HALF_OPEN {
                        drop(trial);
                        w = cur;
                        continue;
                    }
                    if trial.in_flight < self.half_open_max.load(Relaxed) {
                        trial.in_flight += 1;
                        return Ok(Ticket::Trial(Permit {
                            breaker: self,
                            gen: gen(cur),
                            settled: false,
                        }));
                    }
                    drop(trial);
                    return Err(self.reject(Duration::ZERO));
                }
            }
        }
    }

    fn reject(&self, retry_after: Duration) -> Duration {
        self.counts.incr(REJECTIONS);
        retry_after
    }

    /// The rejection error. The name is borrowed for registry breakers (no allocation) and
    /// cloned for a standalone breaker that owns its name.
    fn open_error(&self, retry_after: Duration) -> Error {
        Error::CircuitOpen {
            name: self.name.clone(),
            retry_after,
        }
    }

    #[inline]
    fn on_success(&self, ticket: Ticket<'_>) {
        self.counts.incr(SUCCESSES);
        match ticket {
            Ticket::Closed(g) => self.clear_streak(g),
            Ticket::Trial(permit) => {
                let Some((mut trial, w)) = self.settle(permit) else {
                    return;
                };
                trial.successes += 1;
                if trial.successes >= self.half_open_max.load(Relaxed) {
                    trial.successes = 0;
                    self.word.store(next(w, ST_CLOSED, false, 0), Release);
                    crate::observe::emit_state_change(&self.name, State::HalfOpen, State::Closed);
                } else {
                    // Only lock holders write the word outside CLOSED.
                    self.word.store(with_consec(w, 0), Release);
                }
            }
        }
    }

    /// A success of a call admitted while CLOSED in generation `g`.
    #[inline]
    fn closed_success(&self, g: u32) {
        self.counts.incr(SUCCESSES);
        self.clear_streak(g);
    }

    #[inline]
    fn clear_streak(&self, g: u32) {
        // Only a failure streak in the same generation needs clearing; the common case
        // (no streak) writes nothing shared.
        let mut w = self.word.load(Relaxed);
        while gen(w) == g && consec(w) != 0 {
            match self
                .word
                .compare_exchange_weak(w, with_consec(w, 0), AcqRel, Relaxed)
            {
                Ok(_) => break,
                Err(cur) => w = cur,
            }
        }
    }

    #[cold]
    fn on_failure(&self, ticket: Ticket<'_>, timed_out: bool) {
        self.counts.incr(FAILURES);
        if timed_out {
            self.timeouts.fetch_add(1, Relaxed);
        }
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| duration_to_nanos(d).max(1));
        self.last_failure.store(unix, Relaxed);

        match ticket {
            Ticket::Closed(g) => {
                let mut w = self.word.load(Acquire);
                loop {
                    if gen(w) != g || st(w) != ST_CLOSED {
                        return; // a result from an older generation
                    }
                    let c = u64::from(consec(w)) + 1;
                    match self
                        .word
                        .compare_exchange_weak(w, with_consec(w, c), AcqRel, Acquire)
                    {
                        Ok(_) => {
                            if w & FORCED == 0 && c >= u64::from(self.threshold.load(Relaxed)) {
                                self.trip_closed(g);
                            }
                            return;
                        }
                        Err(cur) => w = cur,
                    }
                }
            }
            Ticket::Trial(permit) => {
                let Some((mut trial, w)) = self.settle(permit) else {
                    return;
                };
                trial.successes = 0;
                self.open(w, u64::from(consec(w)) + 1);
            }
        }
    }

    /// Gives a finished trial's slot back. Returns the locked bookkeeping and the state word
    /// when the trial's HALF_OPEN period is still current (its outcome then moves the state
    /// machine), `None` when the outcome is stale.
    fn settle(&self, mut permit: Permit<'_>) -> Option<(MutexGuard<'_, Trial>, u64)> {
        permit.settled = true;
        let mut trial = self.lock();
        trial.in_flight -= 1;
        let w = self.word.load(Acquire);
        (gen(w) == permit.gen).then_some((trial, w))
    }

    /// CLOSED → OPEN, if generation `g` is still current and its streak still reaches the
    /// threshold (a success may have cleared it in between).
    fn trip_closed(&self, g: u32) {
        let _trial = self.lock();
        let w = self.word.load(Acquire);
        if gen(w) == g
            && st(w) == ST_CLOSED
            && w & FORCED == 0
            && consec(w) >= self.threshold.load(Relaxed)
        {
            self.open(w, u64::from(consec(w)));
        }
    }

    /// Publishes OPEN with a fresh deadline. Caller holds the transition lock.
    fn open(&self, w: u64, consec: u64) {
        let timeout = Duration::from_nanos(self.timeout_ns.load(Relaxed));
        let until =
            instant_to_nanos(Instant::now()).saturating_add(duration_to_nanos(timeout) as i64);
        self.open_until.store(until as u64, Release);
        // The lock keeps other transitions out, but the consecutive-failure count may still be
        // bumped lock-free; a CAS loop keeps the bump from being lost or overwriting us.
        let mut cur = w;
        while let Err(now) =
            self.word
                .compare_exchange_weak(cur, next(cur, ST_OPEN, false, consec), AcqRel, Acquire)
        {
            if gen(now) != gen(w) {
                return;
            }
            cur = now;
        }
        crate::observe::emit_state_change(&self.name, state_of_bits(st(cur)), State::Open);
    }

    /// A manual transition to the word `f` makes from the current one.
    fn transition(&self, f: impl Fn(u64) -> u64) {
        let mut trial = self.lock();
        trial.successes = 0;
        let mut cur = self.word.load(Acquire);
        while let Err(now) = self
            .word
            .compare_exchange_weak(cur, f(cur), AcqRel, Acquire)
        {
            cur = now;
        }
        crate::observe::emit_state_change(
            &self.name,
            state_of_bits(st(cur)),
            state_of_bits(st(f(cur))),
        );
    }

    fn lock(&self) -> MutexGuard<'_, Trial> {
        self.trial.lock()
    }

    /// Bytes this breaker occupies, inline and on the heap (its name included).
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerConfig::default());
    /// assert!(b.footprint() >= std::mem::size_of::<CircuitBreaker>());
    /// ```
    pub fn footprint(&self) -> usize {
        let name = match &self.name {
            Cow::Owned(s) => s.capacity(),
            Cow::Borrowed(s) => s.len(),
        };
        std::mem::size_of::<Self>() + self.counts.heap_bytes() + name
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .field("forced", &self.is_forced())
            .field("config", &self.config())
            .finish()
    }
}
