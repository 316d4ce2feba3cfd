//! Retry with exponential backoff: the [`Policy`], the functions [`retry`], [`retry_if`] and
//! [`retry_with_stats`], and the [`Backoff`] schedule they (and `#[retry]`) share.
//!
//! Attempt 1 runs at once; before attempt `n + 1` the loop sleeps
//! [`Policy::delay_for`]`(n)` = `min(initial_delay × multiplier^(n − 1), max_delay)`, so
//! `max_delay` caps every sleep. With `jitter` each sleep is drawn at random from
//! `[delay_for(n) / 2, delay_for(n)]`: a range inside `[0, delay_for(n)]`, never above it.
//! After `max_attempts` attempts the last error is returned as it is. Sleeping uses tokio's
//! clock, so a test with a paused clock sees the exact schedule. Dropping the future cancels
//! the loop, in an attempt or in a sleep.
//!
//! Where things live: `policy.rs` holds [`Policy`] (presets, `delay_for`, validation,
//! jitter), `backoff.rs` the per-loop schedule [`Backoff`], this file the loops and
//! [`RetryStats`], and `site.rs` what a `#[retry]` function expands to.
//!
//! ```
//! use cachex_runtime::{retry, Policy};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let mut left = 2;
//! let r = retry::retry(&Policy::default(), || {
//!     left -= 1;
//!     let fail = left > 0;
//!     async move { if fail { Err("busy") } else { Ok("done") } }
//! })
//! .await;
//! assert_eq!(r, Ok("done"));
//!
//! // A schedule by hand: 100 ms, then 200 ms, then the attempts are used up.
//! let mut b = retry::Backoff::new(Policy { jitter: false, ..Policy::default() });
//! assert_eq!(b.next_delay(), Some(std::time::Duration::from_millis(100)));
//! assert_eq!(b.next_delay(), Some(std::time::Duration::from_millis(200)));
//! assert_eq!(b.next_delay(), None);
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::Error;

mod backoff;
pub(crate) mod budget;
pub(crate) mod deadline;
pub(crate) mod named;
mod policy;
pub(crate) mod site;

pub use backoff::Backoff;
pub use budget::Budget;
pub use policy::Policy;

/// What happened in a [`retry_with_stats`] loop.
///
/// ```
/// use cachex_runtime::retry::retry_with_stats;
/// use cachex_runtime::Policy;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (r, stats) = retry_with_stats(&Policy::default(), || async { Ok::<_, String>(1) }).await;
/// assert_eq!(r, Ok(1));
/// assert_eq!((stats.attempts, stats.success), (1, true));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetryStats {
    /// Attempts made, the first included.
    pub attempts: u32,
    /// Time slept between attempts.
    pub total_delay: Duration,
    /// Whether the last attempt succeeded.
    pub success: bool,
    /// Display of the last error seen, if any attempt failed.
    pub last_error: Option<String>,
    /// Whether the loop stopped because the policy's [`Budget`] was spent (a retry was due
    /// and refused). Build a `RetryStats` with `..RetryStats::default()` so that fields added
    /// later keep the code compiling.
    pub budget_exhausted: bool,
}

/// Runs `op` until it succeeds or `policy.max_attempts` attempts have failed; returns the last
/// error as it is.
///
/// ```
/// use cachex_runtime::{retry::retry, Policy};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let calls = AtomicU32::new(0);
/// let r = retry(&Policy::default(), || async {
///     if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err("flaky") } else { Ok("done") }
/// })
/// .await;
/// assert_eq!(r, Ok("done"));
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # }
/// ```
pub async fn retry<T, E, F, Fut>(policy: &Policy, op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_if(policy, |_: &E| true, op).await
}

/// Like [`retry`], but an error that `should_retry` refuses is returned at once.
///
/// ```
/// use cachex_runtime::{retry::retry_if, Policy};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut calls = 0;
/// let r: Result<(), &str> = retry_if(&Policy::default(), |e: &&str| *e != "fatal", || {
///     calls += 1;
///     async { Err("fatal") }
/// })
/// .await;
/// assert_eq!((r, calls), (Err("fatal"), 1));
/// # }
/// ```
pub async fn retry_if<T, E, F, Fut, P>(policy: &Policy, should_retry: P, op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
{
    let options = Hooks {
        should_retry,
        retry_after: |_: &E| None,
        deadline: None,
    };
    run_loop(policy, options, op, |_| {}).await.0
}

/// Like [`retry`], and reports the attempts, the time slept and the last error.
///
/// ```
/// use cachex_runtime::{retry::retry_with_stats, Policy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let p = Policy { max_attempts: 2, jitter: false, ..Policy::default() };
/// let (r, s) = retry_with_stats(&p, || async { Err::<(), _>("down") }).await;
/// assert_eq!(r, Err("down"));
/// assert_eq!((s.attempts, s.success), (2, false));
/// assert_eq!(s.last_error.as_deref(), Some("down"));
/// assert_eq!(s.total_delay, std::time::Duration::from_millis(100));
/// # }
/// ```
pub async fn retry_with_stats<T, E, F, Fut>(policy: &Policy, op: F) -> (Result<T, E>, RetryStats)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    retry_with_options_and_stats(policy, RetryOptions::new(), op).await
}

type Predicate<'a, E> = Box<dyn Fn(&E) -> bool + Send + Sync + 'a>;
type Hint<'a, E> = Box<dyn Fn(&E) -> Option<Duration> + Send + Sync + 'a>;
/// A deadline's span and how its timeout becomes `E`.
type Limit<E> = (Duration, fn(Error) -> E);

/// What a retry loop does beyond its [`Policy`]: which errors to retry, the server's
/// `Retry-After`, and a deadline for the whole call. Used by [`retry_with`] and
/// [`retry_with_options_and_stats`]; the attribute's `retry_if`, `retry_after` and `deadline`
/// mean the same.
///
/// - `retry_if(p)`: an error `p` refuses is returned at once.
/// - `retry_after(f)`: when `f` returns `Some(d)` the next attempt waits exactly `d` (no
///   jitter; zero retries at once); a `d` above the policy's `max_delay` returns the error at
///   once, so an absurd hint never sleeps.
/// - `deadline(d)` (needs `E: From<Error>`): the whole call ends within `d`. No sleep starts
///   that would not end before it (the last error is returned at once instead), and an attempt
///   still running at the deadline is dropped and `E::from(Error::Timeout { name, after: d })`
///   returned, `name` being the one given by [`name`](Self::name) (`"retry"` otherwise).
///
/// Closures that capture nothing cost no allocation.
///
/// ```
/// use cachex_runtime::{retry::{retry_with, RetryOptions}, Error, Policy};
/// use std::time::Duration;
///
/// #[derive(Debug, PartialEq)]
/// enum ApiError { Busy { retry_in_ms: u64 }, Cachex(String) }
/// impl From<Error> for ApiError {
///     fn from(e: Error) -> Self { ApiError::Cachex(e.to_string()) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let options = RetryOptions::new()
///     .retry_after(|e: &ApiError| match e {
///         ApiError::Busy { retry_in_ms } => Some(Duration::from_millis(*retry_in_ms)),
///         _ => None,
///     })
///     .deadline(Duration::from_secs(2))
///     .name("search");
/// let start = tokio::time::Instant::now();
/// let mut calls = 0;
/// let r = retry_with(&Policy::default(), options, || {
///     calls += 1;
///     let first = calls == 1;
///     async move { if first { Err(ApiError::Busy { retry_in_ms: 300 }) } else { Ok(calls) } }
/// })
/// .await;
/// assert_eq!(r, Ok(2));
/// assert_eq!(start.elapsed(), Duration::from_millis(300)); // the hint, exactly
/// # }
/// ```
pub struct RetryOptions<'a, E> {
    retry_if: Option<Predicate<'a, E>>,
    retry_after: Option<Hint<'a, E>>,
    deadline: Option<Limit<E>>,
    name: Cow<'static, str>,
}

impl<E> fmt::Debug for RetryOptions<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryOptions")
            .field("retry_if", &self.retry_if.is_some())
            .field("retry_after", &self.retry_after.is_some())
            .field("deadline", &self.deadline.map(|(d, _)| d))
            .field("name", &self.name)
            .finish()
    }
}

impl<E> Default for RetryOptions<'_, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, E> RetryOptions<'a, E> {
    /// No predicate, no hint, no deadline: the loop of [`retry`].
    ///
    /// ```
    /// # use cachex_runtime::retry::RetryOptions;
    /// let o: RetryOptions<'_, std::io::Error> = RetryOptions::new();
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn new() -> Self {
        RetryOptions {
            retry_if: None,
            retry_after: None,
            deadline: None,
            name: Cow::Borrowed("retry"),
        }
    }

    /// Retries only the errors `p` accepts; the others are returned at once.
    ///
    /// ```
    /// # use cachex_runtime::retry::RetryOptions;
    /// let o = RetryOptions::new().retry_if(|e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound);
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn retry_if(mut self, p: impl Fn(&E) -> bool + Send + Sync + 'a) -> Self {
        self.retry_if = Some(Box::new(p));
        self
    }

    /// The server's hint of when to try again (`Retry-After`): `Some(d)` makes the next
    /// attempt wait exactly `d`; a `d` above `max_delay` returns the error at once.
    ///
    /// ```
    /// # use cachex_runtime::retry::RetryOptions;
    /// # use std::time::Duration;
    /// let o = RetryOptions::new().retry_after(|_: &std::io::Error| Some(Duration::from_secs(1)));
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn retry_after(mut self, f: impl Fn(&E) -> Option<Duration> + Send + Sync + 'a) -> Self {
        self.retry_after = Some(Box::new(f));
        self
    }

    /// The name reported in the [`Error::Timeout`] of a deadline (`"retry"` by default).
    ///
    /// ```
    /// # use cachex_runtime::retry::RetryOptions;
    /// let o: RetryOptions<'_, cachex_runtime::Error> = RetryOptions::new().name("search");
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }
}

impl<E: From<Error>> RetryOptions<'_, E> {
    /// The whole call, attempts and sleeps included, ends within `after`; an attempt still
    /// running then is dropped and `E::from(Error::Timeout { .. })` returned.
    ///
    /// ```
    /// # use cachex_runtime::{retry::RetryOptions, Error};
    /// # use std::time::Duration;
    /// let o: RetryOptions<'_, Error> = RetryOptions::new().deadline(Duration::from_secs(3));
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn deadline(mut self, after: Duration) -> Self {
        self.deadline = Some((after, E::from));
        self
    }
}

/// Like [`retry`], with the [`RetryOptions`]: a predicate, the server's `Retry-After` and a
/// deadline for the whole call.
///
/// ```
/// use cachex_runtime::{retry::{retry_with, RetryOptions}, Error, Policy};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let options = RetryOptions::new().deadline(Duration::from_secs(1));
/// let r: Result<(), Error> = retry_with(&Policy::default(), options, || async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok(())
/// })
/// .await;
/// assert!(r.unwrap_err().is_timeout());
/// # }
/// ```
pub async fn retry_with<T, E, F, Fut>(
    policy: &Policy,
    options: RetryOptions<'_, E>,
    op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    run_loop(policy, options.hooks(), op, |_| {}).await.0
}

/// [`retry_with`] that also reports [`RetryStats`].
///
/// ```
/// use cachex_runtime::{retry::{retry_with_options_and_stats, RetryOptions}, Policy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let options = RetryOptions::new().retry_if(|e: &&str| *e != "fatal");
/// let (r, s) = retry_with_options_and_stats(&Policy::default(), options, || async { Err::<(), _>("fatal") }).await;
/// assert_eq!((r, s.attempts), (Err("fatal"), 1));
/// # }
/// ```
pub async fn retry_with_options_and_stats<T, E, F, Fut>(
    policy: &Policy,
    options: RetryOptions<'_, E>,
    op: F,
) -> (Result<T, E>, RetryStats)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    let mut last_error = None;
    let (result, tally) = run_loop(policy, options.hooks(), op, |e: &E| {
        last_error = Some(e.to_string());
    })
    .await;
    let stats = RetryStats {
        attempts: tally.attempts,
        total_delay: tally.total_delay,
        success: result.is_ok(),
        last_error,
        budget_exhausted: tally.budget_exhausted,
    };
    (result, stats)
}

/// The options as plain callables, so the loop is generic over them.
struct Hooks<P, A, E> {
    should_retry: P,
    retry_after: A,
    deadline: Option<(Limit<E>, Cow<'static, str>)>,
}

impl<'a, E> RetryOptions<'a, E> {
    #[allow(clippy::type_complexity)]
    fn hooks(self) -> Hooks<impl Fn(&E) -> bool + 'a, impl Fn(&E) -> Option<Duration> + 'a, E>
    where
        E: 'a,
    {
        let RetryOptions {
            retry_if,
            retry_after,
            deadline,
            name,
        } = self;
        Hooks {
            should_retry: move |e: &E| retry_if.as_ref().is_none_or(|p| p(e)),
            retry_after: move |e: &E| retry_after.as_ref().and_then(|f| f(e)),
            deadline: deadline.map(|limit| (limit, name)),
        }
    }
}

struct Tally {
    attempts: u32,
    total_delay: Duration,
    budget_exhausted: bool,
}

/// The loop behind every retry function.
async fn run_loop<T, E, F, Fut, P, A>(
    policy: &Policy,
    hooks: Hooks<P, A, E>,
    mut op: F,
    mut on_error: impl FnMut(&E),
) -> (Result<T, E>, Tally)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    A: Fn(&E) -> Option<Duration>,
{
    // Only a budgeted policy looks its budget up (one shared read lock per call).
    let budget = policy.budget.map(|_| budget::for_value(policy));
    if let Some(b) = &budget {
        b.first_attempt();
    }
    let at = hooks
        .deadline
        .as_ref()
        .and_then(|((d, _), _)| deadline::deadline_in(*d));
    let mut run = deadline::Run::new(*policy, budget.as_deref(), at);
    let result = loop {
        let Some(outcome) = deadline::bounded(at, op()).await else {
            // Only reachable with a deadline, which carries its conversion.
            match &hooks.deadline {
                Some(((after, into), name)) => {
                    break Err(into(Error::Timeout {
                        name: name.clone(),
                        after: *after,
                    }))
                }
                None => continue,
            }
        };
        match outcome {
            Ok(v) => break Ok(v),
            Err(e) => {
                on_error(&e);
                if !(hooks.should_retry)(&e) || !run.wait((hooks.retry_after)(&e)).await {
                    break Err(e);
                }
            }
        }
    };
    let tally = Tally {
        attempts: run.attempts(),
        total_delay: run.total_delay(),
        budget_exhausted: run.budget_exhausted(),
    };
    (result, tally)
}
