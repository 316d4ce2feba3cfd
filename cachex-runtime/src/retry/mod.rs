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

use std::fmt;
use std::future::Future;
use std::time::Duration;

mod backoff;
pub(crate) mod named;
mod policy;
pub(crate) mod site;

pub use backoff::Backoff;
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
pub async fn retry_if<T, E, F, Fut, P>(policy: &Policy, should_retry: P, mut op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
{
    let mut backoff = Backoff::new(*policy);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                if !should_retry(&e) || !backoff.wait().await {
                    return Err(e);
                }
            }
        }
    }
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
pub async fn retry_with_stats<T, E, F, Fut>(
    policy: &Policy,
    mut op: F,
) -> (Result<T, E>, RetryStats)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    let mut backoff = Backoff::new(*policy);
    let mut last_error = None;
    let result = loop {
        match op().await {
            Ok(v) => break Ok(v),
            Err(e) => {
                last_error = Some(e.to_string());
                if !backoff.wait().await {
                    break Err(e);
                }
            }
        }
    };
    let stats = RetryStats {
        attempts: backoff.attempts(),
        total_delay: backoff.total_delay(),
        success: result.is_ok(),
        last_error,
    };
    (result, stats)
}
