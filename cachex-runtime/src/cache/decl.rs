//! How `#[cached]` functions declare their caches: a link-time list of [`CacheDecl`]s, so that
//! `registry().cache_stats(name)` and `registry().clear_cache(name)` know every declared cache
//! (and the store it lives in) before the function is first called. Reached by generated code
//! through `__private`; not a stable API.

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
}

/// The `#[cached]` declarations of cache `name`.
pub(crate) fn declarations(name: &str) -> impl Iterator<Item = &'static CacheDecl> + '_ {
    CACHES.iter().filter(move |d| d.name == name)
}
