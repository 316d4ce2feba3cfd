//! How `#[cached]` functions declare their caches: a link-time list of [`CacheDecl`]s, so that
//! `registry().cache_stats(name)` and `registry().clear_cache(name)` know every declared cache
//! (and the store it lives in) before the function is first called. Reached by generated code
//! through `__private`; not a stable API.

use std::borrow::Cow;

use crate::decl_names::{effective_name, Declared};

/// Every `#[cached]` function adds its declaration here at link time.
#[linkme::distributed_slice]
pub static CACHES: [CacheDecl];

/// One `#[cached]` declaration.
#[derive(Debug)]
pub struct CacheDecl {
    /// Cache name.
    pub name: &'static str,
    /// Name of the store it uses.
    pub store: &'static str,
    /// Whether `name` is the macro's default (`module_path!()::fn_name`): two such declarations
    /// of one name (associated functions of two types) are kept apart as `"<name>#<n>"`.
    pub defaulted: bool,
}

impl CacheDecl {
    /// The name this declaration's cache goes by: its name, or `"<name>#<n>"` for the n-th of
    /// several declarations that defaulted to one name.
    pub(crate) fn cache_name(&'static self) -> Cow<'static, str> {
        effective_name(&CACHES, self)
    }
}

impl Declared for CacheDecl {
    fn declared_name(&self) -> &'static str {
        self.name
    }
    fn defaulted(&self) -> bool {
        self.defaulted
    }
}

/// The `#[cached]` declarations of cache `name`.
pub(crate) fn declarations(name: &str) -> impl Iterator<Item = &'static CacheDecl> + '_ {
    CACHES.iter().filter(move |d| d.cache_name() == name)
}
