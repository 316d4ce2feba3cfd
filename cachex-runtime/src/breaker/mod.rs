//! The circuit breaker: CLOSED → OPEN after `threshold` consecutive failures, OPEN rejects at
//! once until `timeout` has passed, then HALF_OPEN lets up to `half_open_max` trial calls run.
//!
//! Layout of the hot path: one atomic [`Word`](word::Word) holds the state, the pinned ("forced")
//! flag, the consecutive-failure streak and a generation number that changes on every state
//! transition. A call in CLOSED reads the word, runs, and on success bumps a per-thread striped
//! counter: no lock, no allocation, no write to a shared cache line unless a failure streak must
//! be cleared. Transitions and HALF_OPEN permits go through a small mutex. Every outcome carries
//! the generation it started in; an outcome from an older generation is counted in the lifetime
//! totals but never moves the state machine (a slow success that started while CLOSED cannot
//! close a breaker that has opened since).
//!
//! Files: `config` (what a breaker is told), `stats` (what it reports), `word` (the packed state
//! word), `trial` (half-open permits), `decl` (how `#[circuit_breaker]` functions declare their
//! breakers), and here the [`CircuitBreaker`] itself.

#[cfg(loom)]
use loom::sync::atomic::AtomicI64;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
#[cfg(not(loom))]
use std::sync::atomic::AtomicI64;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::striped::Striped;
#[cfg(loom)]
use crate::sync::model::{Mutex, MutexGuard};
use crate::sync::RwLock;
#[cfg(not(loom))]
use crate::sync::{Mutex, MutexGuard};
use crate::{CallError, Error};

mod config;
pub(crate) mod decl;
pub(crate) mod keyed;
#[cfg(all(test, loom))]
mod loom_tests;
pub(crate) mod named;
mod permit;
mod stats;
mod trial;
mod window;
mod word;

pub use config::{BreakerConfig, RateWindow, Window};
pub use permit::Permit;
pub use stats::BreakerStats;
use trial::{Trial, TrialSlot};
use window::RateState;
use word::{AtomicWord, Word};

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

// Indices into the striped counters.
const REQUESTS: usize = 0;
const SUCCESSES: usize = 1;
const REJECTIONS: usize = 2;
const FAILURES: usize = 3;

const NO_CALL_TIMEOUT: u64 = u64::MAX;
const NO_MAX_TIMEOUT: u64 = u64::MAX;
const NO_SLOW_CALL: u64 = u64::MAX;

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
        None => i64::try_from(o.duration_since(t).as_nanos()).map_or(i64::MIN, i64::saturating_neg),
    }
}

/// An instant as unsigned nanoseconds, order kept (for the time window's buckets).
fn clock_ns(t: Instant) -> u64 {
    // Flipping the sign bit maps i64's order onto u64's.
    (instant_to_nanos(t) as u64) ^ (1 << 63)
}

fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
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
    word: AtomicWord,
    threshold: AtomicU32,
    half_open_max: AtomicU32,
    timeout_ns: AtomicU64,
    call_timeout_ns: AtomicU64,
    /// CLOSED calls need nothing but the word: no call deadline, no rate window.
    plain: AtomicBool,
    /// Whether `rate` holds a window (read before taking its lock).
    rated: AtomicBool,
    /// The rate window; written only when the configuration changes it.
    rate: RwLock<Option<RateState>>,
    /// `slow_call` of the rate window in nanoseconds, `NO_SLOW_CALL` for none: whether a call
    /// needs its duration measured, known without the window's lock.
    slow_ns: AtomicU64,
    /// `max_timeout` in nanoseconds, `NO_MAX_TIMEOUT` for constant open periods.
    max_timeout_ns: AtomicU64,
    /// The length of the next OPEN period after a failed trial (doubles up to `max_timeout`).
    open_ns: AtomicU64,
    /// End of the current OPEN period, in nanoseconds from [`origin`].
    open_until: AtomicI64,
    trial: Mutex<Trial>,
    /// Requests, successes, rejections and failures, striped per thread.
    counts: Striped<4>,
    timeouts: AtomicU64,
    /// Unix nanoseconds of the last failure, 0 for none.
    last_failure: AtomicU64,
}

/// Admission to run one call, carrying the generation it was admitted in.
enum Ticket<'a> {
    Closed(ClosedCall<'a>),
    Trial(TrialSlot<'a>),
}

/// A call admitted while CLOSED, in the generation it was admitted in.
///
/// Its outcome is recorded through [`finish`](Self::finish), which forgets the guard (so the
/// hot path pays nothing for it). Dropped instead, the call did not finish: while the thread
/// panics the call panicked, which is a failure; otherwise it was cancelled, which counts as
/// nothing.
struct ClosedCall<'a> {
    breaker: &'a CircuitBreaker,
    generation: u32,
}

impl<'a> ClosedCall<'a> {
    #[inline]
    fn new(breaker: &'a CircuitBreaker, w: Word) -> Self {
        ClosedCall {
            breaker,
            generation: w.generation(),
        }
    }

    /// The call finished: disarms the guard and returns the generation it was admitted in.
    #[inline]
    fn finish(self) -> u32 {
        let generation = self.generation;
        std::mem::forget(self);
        generation
    }
}

impl Drop for ClosedCall<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.breaker.count_failure(false);
            self.breaker.closed_failure(self.generation);
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
            word: AtomicWord::new(Word::INITIAL),
            threshold: AtomicU32::new(0),
            half_open_max: AtomicU32::new(0),
            timeout_ns: AtomicU64::new(0),
            call_timeout_ns: AtomicU64::new(NO_CALL_TIMEOUT),
            plain: AtomicBool::new(true),
            rated: AtomicBool::new(false),
            rate: RwLock::new(None),
            slow_ns: AtomicU64::new(NO_SLOW_CALL),
            max_timeout_ns: AtomicU64::new(NO_MAX_TIMEOUT),
            open_ns: AtomicU64::new(0),
            open_until: AtomicI64::new(0),
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
        self.max_timeout_ns.store(
            c.max_timeout.map_or(NO_MAX_TIMEOUT, duration_to_nanos),
            Relaxed,
        );
        self.open_ns.store(duration_to_nanos(c.timeout), Relaxed);
        {
            let mut rate = self.rate.write();
            if rate.as_ref().map(|r| r.cfg) != c.rate {
                *rate = c.rate.map(RateState::new);
            }
        }
        self.slow_ns.store(
            c.rate
                .and_then(|r| r.slow_call)
                .map_or(NO_SLOW_CALL, duration_to_nanos),
            Relaxed,
        );
        self.rated.store(c.rate.is_some(), Relaxed);
        self.plain
            .store(c.call_timeout.is_none() && c.rate.is_none(), Relaxed);
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
            rate: self.rate.read().as_ref().map(|r| r.cfg),
            max_timeout: {
                let m = self.max_timeout_ns.load(Relaxed);
                (m != NO_MAX_TIMEOUT).then(|| Duration::from_nanos(m))
            },
        }
    }

    /// The effective state: an OPEN breaker whose timeout has passed reads
    /// [`HalfOpen`](State::HalfOpen) before any call arrives (the next call is a trial); one
    /// pinned by [`force_open`](Self::force_open) stays OPEN. Reading never changes the state
    /// and takes no lock.
    ///
    /// ```
    /// # use cachex_runtime::{BreakerConfig, CircuitBreaker, State};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// let b = CircuitBreaker::new("a", BreakerConfig { threshold: 1, ..BreakerConfig::default() });
    /// let _ = b.call(|| async { Err::<(), _>("down") }).await;
    /// assert_eq!(b.state(), State::Open);
    /// tokio::time::advance(Duration::from_secs(30)).await;
    /// assert_eq!(b.state(), State::HalfOpen);
    /// b.force_open();
    /// assert_eq!(b.state(), State::Open);
    /// # }
    /// ```
    pub fn state(&self) -> State {
        self.effective_state(self.word.load(Acquire))
    }

    /// What word `w` means now: OPEN past its timeout (and not pinned) is HALF_OPEN in effect.
    /// Only an OPEN word costs a clock read.
    fn effective_state(&self, w: Word) -> State {
        match w.state() {
            State::Open
                if !w.is_forced()
                    && instant_to_nanos(Instant::now()) >= self.open_until.load(Acquire) =>
            {
                State::HalfOpen
            }
            state => state,
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
            state: self.effective_state(w),
            total_requests: self.counts.sum(REQUESTS),
            total_successes: self.counts.sum(SUCCESSES),
            total_failures: self.counts.sum(FAILURES),
            total_timeouts: self.timeouts.load(Relaxed),
            total_rejections: self.counts.sum(REJECTIONS),
            consecutive_failures: w.streak(),
            last_failure: (lf != 0)
                .then(|| UNIX_EPOCH.checked_add(Duration::from_nanos(lf)))
                .flatten(),
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
        self.word.load(Acquire).is_forced()
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
        self.transition(Word::forced_open);
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
        self.transition(Word::forced_closed);
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
        self.transition(Word::closed);
    }

    /// Runs `f()` under the breaker.
    ///
    /// Rejected at once with [`Error::CircuitOpen`] while OPEN (the function is not called), or
    /// while HALF_OPEN with all trial slots taken. With a `call_timeout`, an overrun is abandoned
    /// and returned as [`Error::Timeout`] and counted as a failure. Dropping the returned future
    /// cancels the call; a cancelled call counts as neither success nor failure. A call that
    /// panics counts as a failure (and gives its HALF_OPEN slot back); the panic propagates.
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
        self.call_with(|_: &E| true, f).await
    }

    /// [`call`](Self::call), with `counts_as_failure` deciding which errors count as failures:
    /// an error it refuses counts as a success for the breaker (and is still returned), so a
    /// "not found" never opens a circuit.
    ///
    /// ```
    /// use cachex_runtime::{BreakerConfig, CallError, CircuitBreaker, State};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let b = CircuitBreaker::new("catalog", BreakerConfig { threshold: 1, ..Default::default() });
    /// let not_found = |status: &u16| *status >= 500;
    /// let r = b.call_with(not_found, || async { Err::<(), u16>(404) }).await;
    /// assert!(matches!(r, Err(CallError::Inner(404))));
    /// assert_eq!(b.state(), State::Closed);
    /// # }
    /// ```
    pub async fn call_with<T, E, F, Fut, C>(
        &self,
        counts_as_failure: C,
        f: F,
    ) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: FnOnce(&E) -> bool,
    {
        let w = self.admit_word();
        if self.is_plain_closed(w) {
            // The hot path, kept apart from `run` so it builds no ticket and no timeout state,
            // and awaited here rather than through another future so the result is not copied
            // once more through a nested future's state. The guard costs nothing unless the
            // call panics (it is forgotten on the way out).
            let call = ClosedCall::new(self, w);
            let r = f().await;
            return self.closed_outcome(call, r, counts_as_failure);
        }
        let ticket = match self.admit_from(w) {
            Ok(t) => t,
            // The error is built here, in place, rather than moved out through a `Result`.
            Err(retry_after) => return Err(CallError::Rejected(self.open_error(retry_after))),
        };
        self.run(ticket, f(), counts_as_failure).await
    }

    /// [`call`](Self::call) for a future that is already built; it is dropped unpolled when the
    /// call is rejected.
    pub(crate) async fn call_future<T, E, Fut, C>(
        &self,
        fut: Fut,
        counts_as_failure: C,
    ) -> Result<T, CallError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
        C: FnOnce(&E) -> bool,
    {
        // The same steps as `call`, with the future in hand (written out again rather than
        // delegating, which would nest one more future on the hot path).
        let w = self.admit_word();
        if self.is_plain_closed(w) {
            let call = ClosedCall::new(self, w);
            let r = fut.await;
            return self.closed_outcome(call, r, counts_as_failure);
        }
        let ticket = match self.admit_from(w) {
            Ok(t) => t,
            Err(retry_after) => return Err(CallError::Rejected(self.open_error(retry_after))),
        };
        self.run(ticket, fut, counts_as_failure).await
    }

    /// CLOSED with no call deadline and no rate window: the call has nothing to set up and, if cancelled, nothing
    /// to undo.
    #[inline]
    fn is_plain_closed(&self, w: Word) -> bool {
        w.is_closed() && self.plain.load(Relaxed)
    }

    /// Records the outcome of a call admitted while CLOSED.
    #[inline]
    fn closed_outcome<T, E>(
        &self,
        call: ClosedCall<'_>,
        r: Result<T, E>,
        counts_as_failure: impl FnOnce(&E) -> bool,
    ) -> Result<T, CallError<E>> {
        let generation = call.finish();
        match r {
            Ok(v) => {
                self.closed_success(generation);
                Ok(v)
            }
            Err(e) if !counts_as_failure(&e) => {
                self.closed_success(generation);
                Err(CallError::Inner(e))
            }
            Err(e) => {
                self.count_failure(false);
                self.closed_failure(generation);
                Err(CallError::Inner(e))
            }
        }
    }

    async fn run<T, E, Fut>(
        &self,
        ticket: Ticket<'_>,
        fut: Fut,
        counts_as_failure: impl FnOnce(&E) -> bool,
    ) -> Result<T, CallError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let started = self.call_started();
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
        let slow = self.is_slow(started);
        match &outcome {
            Ok(_) => self.on_success(ticket, slow),
            Err(CallError::Inner(e)) if !counts_as_failure(e) => self.on_success(ticket, slow),
            Err(CallError::Inner(_)) => self.on_failure(ticket, false, slow),
            Err(CallError::Rejected(_)) => self.on_failure(ticket, true, slow),
        }
        outcome
    }

    /// The start of a call whose duration the rate window needs (one with a `slow_call`).
    #[inline]
    fn call_started(&self) -> Option<Instant> {
        (self.slow_ns.load(Relaxed) != NO_SLOW_CALL).then(Instant::now)
    }

    /// Whether a call started at `started` was slower than `slow_call`.
    #[inline]
    fn is_slow(&self, started: Option<Instant>) -> bool {
        started.is_some_and(|t| duration_to_nanos(t.elapsed()) > self.slow_ns.load(Relaxed))
    }

    /// Two-step use of the breaker, for code that cannot hand it a future: the permit says
    /// whether a call may run now, and the caller reports its outcome with
    /// [`Permit::success`] or [`Permit::failure`]. A permit dropped unreported counts as
    /// neither (like a cancelled call) and gives its HALF_OPEN slot back. `call_timeout` is not
    /// applied (the caller runs the work); `slow_call` is measured from `try_acquire` to the
    /// report.
    ///
    /// ```
    /// use cachex_runtime::{BreakerConfig, CircuitBreaker, State};
    ///
    /// let b = CircuitBreaker::new("ftp", BreakerConfig { threshold: 1, ..Default::default() });
    /// let permit = b.try_acquire().expect("closed");
    /// permit.failure();
    /// assert_eq!(b.state(), State::Open);
    /// let err = b.try_acquire().unwrap_err();
    /// assert!(err.is_circuit_open());
    /// ```
    pub fn try_acquire(&self) -> Result<Permit<'_>, Error> {
        let w = self.admit_word();
        match self.admit_from(w) {
            Ok(ticket) => Ok(Permit::new(self, ticket, self.call_started())),
            Err(retry_after) => Err(self.open_error(retry_after)),
        }
    }

    /// Counts the call as presented and reads the state word it is admitted against.
    #[inline]
    fn admit_word(&self) -> Word {
        self.counts.incr(REQUESTS);
        self.word.load(Acquire)
    }

    /// Decides whether a call presented against word `w` may run. The CLOSED case stays inline.
    #[inline]
    fn admit_from(&self, w: Word) -> Result<Ticket<'_>, Duration> {
        if w.is_closed() {
            return Ok(Ticket::Closed(ClosedCall::new(self, w)));
        }
        self.admit_slow(w)
    }

    #[cold]
    #[inline(never)]
    /// A rejection is counted here and returned as its `retry_after`.
    fn admit_slow(&self, mut w: Word) -> Result<Ticket<'_>, Duration> {
        loop {
            match w.state() {
                State::Closed => return Ok(Ticket::Closed(ClosedCall::new(self, w))),
                State::Open => {
                    if w.is_forced() {
                        // No scheduled end: the configured timeout is the best hint.
                        return Err(
                            self.reject(Duration::from_nanos(self.timeout_ns.load(Relaxed)))
                        );
                    }
                    let now = instant_to_nanos(Instant::now());
                    let until = self.open_until.load(Acquire);
                    if now < until {
                        return Err(self.reject(Duration::from_nanos(until.abs_diff(now))));
                    }
                    // The timeout has passed: move to HALF_OPEN (once), with a fresh period.
                    let mut trial = self.lock();
                    if self.word.load(Acquire) == w {
                        let half = w.half_opened();
                        trial.begin(half.generation());
                        self.word.store(half, Release);
                        crate::observe::emit_state_change(&self.name, State::Open, State::HalfOpen);
                    }
                    drop(trial);
                    w = self.word.load(Acquire);
                }
                State::HalfOpen => {
                    let mut trial = self.lock();
                    let cur = self.word.load(Acquire);
                    if cur.state() != State::HalfOpen {
                        drop(trial);
                        w = cur;
                        continue;
                    }
                    if trial.try_admit(cur.generation(), self.half_open_max.load(Relaxed)) {
                        return Ok(Ticket::Trial(TrialSlot::new(self, cur.generation())));
                    }
                    drop(trial);
                    return Err(self.reject(Duration::ZERO));
                }
            }
        }
    }

    /// Counts a failure that its caller reports through [`call`](Self::call) as a timeout too:
    /// a deadline kept by the caller rather than by `call_timeout`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn count_timeout(&self) {
        self.timeouts.fetch_add(1, Relaxed);
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
    fn on_success(&self, ticket: Ticket<'_>, slow: bool) {
        match ticket {
            Ticket::Closed(call) if self.rated.load(Relaxed) => {
                self.counts.incr(SUCCESSES);
                self.rate_outcome(call.finish(), false, slow);
            }
            Ticket::Closed(call) => self.closed_success(call.finish()),
            Ticket::Trial(permit) => {
                self.counts.incr(SUCCESSES);
                self.trial_success(permit.settle());
            }
        }
    }

    #[cold]
    fn on_failure(&self, ticket: Ticket<'_>, timed_out: bool, slow: bool) {
        self.count_failure(timed_out);
        match ticket {
            Ticket::Closed(call) if self.rated.load(Relaxed) => {
                self.rate_outcome(call.finish(), true, slow);
            }
            Ticket::Closed(call) => self.closed_failure(call.finish()),
            Ticket::Trial(permit) => self.trial_failure(permit.settle()),
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
        while w.generation() == g && w.streak() != 0 {
            match self
                .word
                .compare_exchange_weak(w, w.with_streak(0), AcqRel, Relaxed)
            {
                Ok(_) => break,
                Err(cur) => w = cur,
            }
        }
    }

    /// Counts a failure in the lifetime totals (whatever state it moves).
    #[cold]
    fn count_failure(&self, timed_out: bool) {
        self.counts.incr(FAILURES);
        if timed_out {
            self.timeouts.fetch_add(1, Relaxed);
        }
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| duration_to_nanos(d).max(1));
        self.last_failure.store(unix, Relaxed);
    }

    /// A failure of a call admitted while CLOSED in generation `g`: one more in the streak,
    /// and OPEN when it reaches the threshold.
    #[cold]
    fn closed_failure(&self, g: u32) {
        if self.rated.load(Relaxed) {
            // A panicking call, or a call that started before a rate window was configured.
            return self.rate_outcome(g, true, false);
        }
        let mut w = self.word.load(Acquire);
        loop {
            if w.generation() != g || !w.is_closed() {
                return; // a result from an older generation
            }
            let failed = w.with_failure();
            if !w.is_forced() && failed.streak() >= self.threshold.load(Relaxed) {
                return self.trip_closed(g);
            }
            match self.word.compare_exchange_weak(w, failed, AcqRel, Acquire) {
                Ok(_) => return,
                Err(cur) => w = cur,
            }
        }
    }

    /// An outcome of a call admitted while CLOSED in generation `g` under a rate window: into
    /// the window, the streak kept for the statistics, and OPEN when a rate reaches its
    /// threshold.
    #[cold]
    #[inline(never)]
    fn rate_outcome(&self, g: u32, failed: bool, slow: bool) {
        let w = self.word.load(Acquire);
        if w.generation() != g || !w.is_closed() {
            return; // a result from an older generation
        }
        if failed {
            self.bump_streak(g);
        } else {
            self.clear_streak(g);
        }
        let trips = match self.rate.read().as_ref() {
            Some(r) => r
                .record(failed, slow, || clock_ns(Instant::now()))
                .trips(&r.cfg),
            None => false,
        };
        if trips && !w.is_forced() {
            self.trip_rate(g);
        }
    }

    /// One more consecutive failure in CLOSED generation `g` (statistics only under a rate
    /// window).
    fn bump_streak(&self, g: u32) {
        let mut w = self.word.load(Acquire);
        while w.generation() == g && w.is_closed() {
            match self
                .word
                .compare_exchange_weak(w, w.with_failure(), AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(cur) => w = cur,
            }
        }
    }

    /// Opens CLOSED generation `g` on its rates, and empties the window for the next CLOSED
    /// period.
    #[cold]
    fn trip_rate(&self, g: u32) {
        let _trial = self.lock();
        let w = self.word.load(Acquire);
        if w.generation() != g || !w.is_closed() || w.is_forced() {
            return;
        }
        self.reset_open_period();
        self.open(w, w.streak());
        if let Some(r) = self.rate.read().as_ref() {
            r.clear();
        }
    }

    /// The next OPEN period lasts `timeout` again (the breaker opens from CLOSED).
    fn reset_open_period(&self) {
        self.open_ns.store(self.timeout_ns.load(Relaxed), Relaxed);
    }

    /// A successful trial of the HALF_OPEN period `g`: CLOSED after `half_open_max` of them.
    fn trial_success(&self, g: u32) {
        let Some((mut trial, w)) = self.settle(g) else {
            return;
        };
        if trial.record_success() >= self.half_open_max.load(Relaxed) {
            self.word.store(w.closed(), Release);
            crate::observe::emit_state_change(&self.name, State::HalfOpen, State::Closed);
        } else {
            // Only lock holders write the word outside CLOSED.
            self.word.store(w.with_streak(0), Release);
        }
    }

    /// A failed trial of the HALF_OPEN period `g`: OPEN again, with a fresh timeout.
    fn trial_failure(&self, g: u32) {
        let Some((_trial, w)) = self.settle(g) else {
            return;
        };
        // Each re-open from HALF_OPEN doubles the open period, up to `max_timeout`.
        let max = self.max_timeout_ns.load(Relaxed);
        if max != NO_MAX_TIMEOUT {
            let next = self.open_ns.load(Relaxed).saturating_mul(2).min(max);
            self.open_ns.store(next, Relaxed);
        }
        self.open(w, w.streak().saturating_add(1));
    }

    /// Gives a finished trial's slot back. Returns the locked bookkeeping and the state word
    /// when the trial's HALF_OPEN period `g` is still current (its outcome then moves the
    /// state machine), `None` when the outcome is stale.
    fn settle(&self, g: u32) -> Option<(MutexGuard<'_, Trial>, Word)> {
        let mut trial = self.lock();
        trial.release(g);
        let w = self.word.load(Acquire);
        (w.generation() == g).then_some((trial, w))
    }

    /// The failure that brings the streak of CLOSED generation `g` to the threshold, counted
    /// under the transition lock so that counting it and opening are one step: a success that
    /// clears the streak lands either before it (then this failure may no longer reach the
    /// threshold and only counts) or after it (then that success is stale), never in between.
    #[cold]
    fn trip_closed(&self, g: u32) {
        let _trial = self.lock();
        let mut w = self.word.load(Acquire);
        loop {
            if w.generation() != g || !w.is_closed() {
                return; // a result from an older generation
            }
            let failed = w.with_failure();
            let next = if !w.is_forced() && failed.streak() >= self.threshold.load(Relaxed) {
                // Published before the word: whoever sees OPEN sees its deadline.
                self.reset_open_period();
                self.start_open_period();
                w.opened(failed.streak())
            } else {
                failed
            };
            match self.word.compare_exchange_weak(w, next, AcqRel, Acquire) {
                Ok(_) => {
                    if next.state() == State::Open {
                        crate::observe::emit_state_change(&self.name, State::Closed, State::Open);
                    }
                    return;
                }
                Err(cur) => w = cur,
            }
        }
    }

    /// Sets the end of an OPEN period that starts now.
    fn start_open_period(&self) {
        // A timeout beyond i64 nanoseconds (about 292 years, `Duration::MAX` included) is
        // "never" rather than a deadline wrapped into the past.
        let timeout = i64::try_from(self.open_ns.load(Relaxed)).unwrap_or(i64::MAX);
        let until = instant_to_nanos(Instant::now()).saturating_add(timeout);
        self.open_until.store(until, Release);
    }

    /// Publishes OPEN with a fresh deadline after a failed trial. Caller holds the transition
    /// lock.
    fn open(&self, w: Word, streak: u32) {
        self.start_open_period();
        // The lock keeps other transitions out, but the consecutive-failure count may still be
        // bumped lock-free; a CAS loop keeps the bump from being lost or overwriting us.
        let mut cur = w;
        while let Err(now) =
            self.word
                .compare_exchange_weak(cur, cur.opened(streak), AcqRel, Acquire)
        {
            if now.generation() != w.generation() {
                return;
            }
            cur = now;
        }
        crate::observe::emit_state_change(&self.name, cur.state(), State::Open);
    }

    /// A manual transition to the word `f` makes from the current one. The HALF_OPEN period,
    /// if any, ends with it: its trials become stale.
    fn transition(&self, f: impl Fn(Word) -> Word) {
        let _trial = self.lock();
        let mut cur = self.word.load(Acquire);
        while let Err(now) = self
            .word
            .compare_exchange_weak(cur, f(cur), AcqRel, Acquire)
        {
            cur = now;
        }
        crate::observe::emit_state_change(&self.name, cur.state(), f(cur).state());
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
        std::mem::size_of::<Self>()
            .saturating_add(self.counts.heap_bytes())
            .saturating_add(self.rate.read().as_ref().map_or(0, RateState::heap_bytes))
            .saturating_add(name)
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
