//! Attribute macros of cachex: `#[cached]`, `#[circuit_breaker]` and `#[retry]`.
//!
//! Use them through `cachex-runtime`, which re-exports them; the code they generate calls the
//! runtime through its hidden `__private` module. Each entry point below hands the token streams
//! to [`expand`]: `args` holds the grammar shared by the three, `breaker`, `retry` and `cached`
//! what each one's arguments mean, and `expand` the rewrite of the function they share (so that
//! stacked attributes become one pipeline).

use proc_macro::TokenStream;

mod args;
mod breaker;
mod cached;
mod expand;
mod retry;

use expand::Kind;

/// Caches the results of an `async fn`.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Cached, args.into(), item.into()).into()
}

/// Runs an `async fn` under a named circuit breaker.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::CircuitBreaker, args.into(), item.into()).into()
}

/// Retries an `async fn` that returns `Result` with backoff.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Retry, args.into(), item.into()).into()
}
