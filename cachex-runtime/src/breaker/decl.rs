//! How `#[circuit_breaker]` functions declare their breakers: a link-time list of
//! [`BreakerDecl`]s (so the registry knows every declared breaker before its first call) and the
//! per-function [`BreakerSite`] that resolves the registry breaker once. Reached by generated code
//! through `__private`; not a stable API.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use super::keyed::KeyedGroup;
use super::{BreakerConfig, CircuitBreaker};
use crate::decl_names::{effective_name, Declared};
use crate::CallError;

/// Every `#[circuit_breaker]` function adds its declaration here at link time, so the registry
/// knows each declared breaker's configuration before the function is first called.
#[linkme::distributed_slice]
pub static BREAKERS: [BreakerDecl];

/// One `#[circuit_breaker]` declaration.
#[derive(Debug)]
pub struct BreakerDecl {
    /// Breaker name.
    pub name: &'static str,
    /// Declared configuration.
    pub config: BreakerConfig,
    /// Whether `name` is the macro's default (`module_path!()::fn_name`): two such declarations
    /// of one name (associated functions of two types) get breakers of their own.
    pub defaulted: bool,
    /// Whether the declaration has a `key = ..`: one breaker per key value,
    /// `"<name>/<value>"`, rather than one breaker.
    pub keyed: bool,
}

impl BreakerDecl {
    /// The name the registry knows this declaration by: its name, or `"<name>#<n>"` for the n-th
    /// of several declarations that defaulted to one name.
    pub(crate) fn registry_name(&'static self) -> std::borrow::Cow<'static, str> {
        effective_name(&BREAKERS, self)
    }
}

impl Declared for BreakerDecl {
    fn declared_name(&self) -> &'static str {
        self.name
    }
    fn defaulted(&self) -> bool {
        self.defaulted
    }
}

/// A `#[circuit_breaker]` function's handle on its registry breaker, resolved on first use.
#[derive(Debug)]
pub struct BreakerSite {
    name: &'static str,
    decl: Option<&'static BreakerDecl>,
    breaker: OnceLock<Arc<CircuitBreaker>>,
    group: OnceLock<Arc<KeyedGroup>>,
}

impl BreakerSite {
    /// A site for the registry breaker `name`.
    pub const fn new(name: &'static str) -> Self {
        BreakerSite {
            name,
            decl: None,
            breaker: OnceLock::new(),
            group: OnceLock::new(),
        }
    }

    /// The site of a `#[circuit_breaker]` function: its breaker is the one the registry keeps
    /// for `decl` (named after it, or `"<name>#<n>"` when several declarations defaulted to
    /// that name).
    pub const fn declared(decl: &'static BreakerDecl) -> Self {
        BreakerSite {
            name: decl.name,
            decl: Some(decl),
            breaker: OnceLock::new(),
            group: OnceLock::new(),
        }
    }

    /// The registry breaker (the same `Arc` for the life of the process: reconfiguring a breaker
    /// changes it in place).
    #[inline]
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.get_or_init(|| match self.decl {
            Some(decl) => super::named::global().get(&decl.registry_name()),
            None => super::named::global().get(self.name),
        })
    }
}

impl BreakerSite {
    /// The breaker of key `key` of a keyed declaration (`key = ..`): `"<name>/<key>"` in the
    /// registry.
    #[inline]
    pub fn keyed<K: std::fmt::Display + ?Sized>(&self, key: &K) -> Arc<CircuitBreaker> {
        self.group
            .get_or_init(|| {
                let name = match self.decl {
                    Some(decl) => decl.registry_name(),
                    None => std::borrow::Cow::Borrowed(self.name),
                };
                super::named::global().keyed_group(&name, self.decl.map(|d| d.config))
            })
            .get(key)
    }
}

/// Runs an already-built future under `breaker`, with `counts_as_failure` deciding which errors
/// count (see [`CircuitBreaker::call_with`]).
#[inline]
pub async fn breaker_run_with<T, E, Fut, C>(
    breaker: &CircuitBreaker,
    fut: Fut,
    counts_as_failure: C,
) -> Result<T, CallError<E>>
where
    Fut: Future<Output = Result<T, E>>,
    C: FnOnce(&E) -> bool,
{
    breaker.call_future(fut, counts_as_failure).await
}

/// Runs an already-built future under `breaker`; it is dropped unpolled when rejected.
#[inline]
pub async fn breaker_run<T, E, Fut>(breaker: &CircuitBreaker, fut: Fut) -> Result<T, CallError<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    breaker.call_future(fut, |_: &E| true).await
}
