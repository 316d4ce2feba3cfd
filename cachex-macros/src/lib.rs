//! Attribute macros of cachex: `#[cached]`, `#[circuit_breaker]` and `#[retry]`.
//!
//! Use them through `cachex-runtime`, which re-exports them; the code they generate calls the
//! runtime through its hidden `__private` module. Each entry point below is one line that hands
//! the token streams to `expand`, with the stage it expands:
//!
//! - `args`: the grammar the three share (durations, integers, paths, `crate`, set-once, and the
//!   table walk that reads a macro's arguments);
//! - `breaker`, `retry`, `cached`: one stage each, its argument table and its generated code;
//! - `shape`: what the signature says (arguments, receiver, return type); `valid`: the checks;
//! - `expand`: the shared rewrite of the function and the pipeline of stacked stages.

// The macros never panic on bad input: every mistake is a compile error at its token.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use proc_macro::TokenStream;

mod args;
mod breaker;
mod cached;
mod expand;
mod retry;
mod shape;
mod valid;

/// Caches the results of an `async fn`.
///
/// ```text
/// #[cached(name = "..", ttl = "..", capacity = N, store = "memory", key = <expr>, crate = "..")]
/// ```
///
/// Every argument is optional:
///
/// | argument   | meaning | default |
/// |------------|---------|---------|
/// | `name`     | cache name for `registry().cache_stats` / `clear_cache` | `module_path!()::fn_name` |
/// | `ttl`      | how long a value is kept: `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m30s"` | kept until evicted |
/// | `capacity` | most entries kept (memory store only) | 10 000 |
/// | `store`    | `"memory"`, or a store registered with `registry().set_store` | `"memory"` |
/// | `key`      | an expression over the arguments that yields an owned key | all arguments but the receiver |
/// | `result`   | flag: the return type is a `Result` under another name (`type ApiResult<T> = Result<T, ApiError>`) | read from the type's name |
/// | `option`   | flag: the return type is an `Option` under another name | read from the type's name |
/// | `crate`    | path to the runtime crate, if renamed | `::cachex_runtime` |
///
/// `Result<T, E>` caches only `Ok`, `Option<T>` only `Some`, any other type every value. The
/// macro reads the return type by its name: behind an alias it sees a plain value and caches
/// `Err`s too, unless `result` (or `option`) says what the alias is; stacked over `#[retry]` or
/// `#[circuit_breaker]`, which need a `Result`, an alias is taken for one without the flag.
/// The default key cannot contain a `HashMap` or `HashSet` argument (equal ones iterate in
/// different orders, so the key would never match): pass a `BTreeMap`/`BTreeSet`, or `key =`.
/// A method with a receiver needs a `name`: the default one would be shared by the methods of
/// that name of every type in the module. (Associated functions without a receiver look like
/// free functions to the macro: when two of them default to one name, the registry keeps the
/// second apart as `"<name>#2"` and logs an error that says to name them.)
/// Borrowed arguments (`&str`, `&[T]`, `&T`) become owned key parts through `ToOwned`. The
/// memory store is typed per function (a hit clones the value, with no serialisation); other
/// stores need `Serialize + DeserializeOwned` values and a `Serialize` key (or a `Display` one
/// with `key =`). Concurrent misses of one key run the body once. Generic functions are refused:
/// the function has one cache, whose types must be known when the macro expands.
///
/// ```
/// use cachex_runtime::{cached, registry};
///
/// #[cached(name = "prices", ttl = "30s")]
/// async fn price(sku: &str) -> Option<u32> {
///     // A slow lookup; `None` (unknown SKU) is not cached.
///     (sku == "apple").then_some(120)
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(price("apple").await, Some(120)); // miss: runs the body
/// assert_eq!(price("apple").await, Some(120)); // hit
/// let stats = registry().cache_stats("prices").unwrap();
/// assert_eq!((stats.hits, stats.misses), (1, 1));
/// # }
/// ```
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand::<cached::Cached>(args.into(), item.into()).into()
}

/// Runs an `async fn` under a named circuit breaker of the registry.
///
/// ```text
/// #[circuit_breaker(name = "..", threshold = N, timeout = "..", half_open_max = N,
///                   call_timeout = "..", preset = "default" | "conservative" | "aggressive",
///                   crate = "..")]
/// ```
///
/// | argument        | meaning | default (`preset = "default"`) |
/// |-----------------|---------|---------|
/// | `name`          | breaker name; functions naming the same breaker share it | `module_path!()::fn_name` |
/// | `threshold`     | consecutive failures that open the circuit | 5 |
/// | `timeout`       | how long it stays open before trial calls | `"30s"` |
/// | `half_open_max` | trial calls at once when half-open, and successes that close it | 3 |
/// | `call_timeout`  | deadline of one call; an overrun is a failure | none |
/// | `preset`        | the base configuration the explicit fields override | `"default"` |
/// | `crate`         | path to the runtime crate, if renamed | `::cachex_runtime` |
///
/// The function must return `Result<T, E>` (an alias such as `ApiResult<T>` works) with
/// `E: From<cachex_runtime::Error>`: a rejection (the body is not run) or a call timeout comes
/// back as `Err(E::from(Error::...))`. A method with a receiver needs a `name` (the default one
/// would be shared by the methods of that name of every type in the module). The breaker
/// is declared statically, so `registry().breaker(name)` has its configuration before the first
/// call, and `registry().breakers()` lists it from the start.
///
/// ```
/// use cachex_runtime::{circuit_breaker, registry, Error};
///
/// #[derive(Debug)]
/// enum AppError {
///     Cachex(Error),
///     Remote(String),
/// }
///
/// impl From<Error> for AppError {
///     fn from(e: Error) -> Self {
///         AppError::Cachex(e)
///     }
/// }
///
/// #[circuit_breaker(name = "inventory", threshold = 3, timeout = "10s")]
/// async fn stock(sku: &str) -> Result<u32, AppError> {
///     if sku.is_empty() {
///         return Err(AppError::Remote("no such item".into()));
///     }
///     Ok(7)
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(registry().breaker("inventory").config().threshold, 3);
/// assert_eq!(stock("apple").await.unwrap(), 7);
///
/// registry().breaker("inventory").force_open();
/// match stock("apple").await {
///     Err(AppError::Cachex(e)) => assert!(e.is_circuit_open()),
///     other => panic!("expected a rejection, got {other:?}"),
/// }
/// # }
/// ```
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand::<breaker::Breaker>(args.into(), item.into()).into()
}

/// Retries an `async fn` that returns `Result`, with backoff between attempts.
///
/// ```text
/// #[retry(policy = "..", max_attempts = N, initial_delay = "..", max_delay = "..",
///         multiplier = F, jitter = bool, retry_if = path, crate = "..")]
/// ```
///
/// | argument        | meaning | default |
/// |-----------------|---------|---------|
/// | `policy`        | registry policy, looked up at call time (`registry().set_policy` swaps it) | `"default"` |
/// | `max_attempts`  | total attempts, the first included | from the policy |
/// | `initial_delay` | delay before the second attempt | from the policy |
/// | `max_delay`     | cap on any delay | from the policy |
/// | `multiplier`    | growth of the delay per retry (at least 1.0) | from the policy |
/// | `jitter`        | draw each delay at random below its cap | from the policy |
/// | `retry_if`      | a `fn(&E) -> bool`; errors it refuses are returned at once | every error |
/// | `crate`         | path to the runtime crate, if renamed | `::cachex_runtime` |
///
/// Each attempt runs the original body afresh with clones of the arguments (arguments must be
/// `Clone`; references are copied, `&mut` references reborrowed), so a method may take `&self`
/// or `&mut self` but not `self`. After the last attempt the last error is returned as it is.
///
/// Stacked over `#[circuit_breaker]`, a rejection by the open breaker is returned at once and
/// never retried; a call timeout of the breaker is a failure like any other, retried (and shown
/// to `retry_if` as `E::from(Error::Timeout { .. })`); attributes stack in written order, the first outermost. The recommended order
/// is `#[cached]`, then `#[retry]`, then `#[circuit_breaker]`.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use cachex_runtime::retry;
///
/// #[derive(Debug, PartialEq)]
/// enum FetchError {
///     Busy,
///     NotFound,
/// }
///
/// fn is_transient(e: &FetchError) -> bool {
///     *e == FetchError::Busy
/// }
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
///
/// #[retry(max_attempts = 4, initial_delay = "10ms", jitter = false, retry_if = is_transient)]
/// async fn fetch(id: u64) -> Result<String, FetchError> {
///     match CALLS.fetch_add(1, Ordering::SeqCst) {
///         0 | 1 => Err(FetchError::Busy),
///         _ if id == 0 => Err(FetchError::NotFound),
///         n => Ok(format!("item {id} after {} attempts", n + 1)),
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(fetch(9).await.unwrap(), "item 9 after 3 attempts");
/// assert_eq!(fetch(0).await, Err(FetchError::NotFound)); // not retried
/// # }
/// ```
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand::<retry::Retry>(args.into(), item.into()).into()
}
