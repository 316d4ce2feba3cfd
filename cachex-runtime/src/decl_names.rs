//! Default names that collide: the names of link-time declarations (breakers, caches) that
//! defaulted to `module_path!()::fn_name`.
//!
//! Free functions of one module cannot share that name, but associated functions of two types in
//! one module can (`Users::load` and `Orders::load` are both `<module>::load`), and the macro
//! cannot see the type. So each declaration says whether its name was defaulted, and two
//! defaulted declarations of one name are kept apart here: the first keeps the name, the n-th
//! goes by `"<name>#<n>"`, and the collision is logged once, at registry start-up, with the fix.

use std::borrow::Cow;
use std::collections::HashMap;

/// A link-time declaration whose name may have been defaulted.
pub(crate) trait Declared: Sync + 'static {
    /// The name as declared.
    fn declared_name(&self) -> &'static str;
    /// Whether that name is the macro's default rather than a `name = ".."`.
    fn defaulted(&self) -> bool;
}

/// The name `this` goes by among `all`: its declared name, or `"<name>#<n>"` when it is the n-th
/// (n ≥ 2) of several declarations that defaulted to one name.
///
/// The order is that of the link-time list, which is fixed for a given build.
pub(crate) fn effective_name<D: Declared>(
    all: &'static [D],
    this: &'static D,
) -> Cow<'static, str> {
    let name = this.declared_name();
    if !this.defaulted() {
        return Cow::Borrowed(name);
    }
    let mut nth: usize = 0;
    for decl in all {
        if decl.defaulted() && decl.declared_name() == name {
            nth = nth.saturating_add(1);
            if std::ptr::eq(decl, this) {
                break;
            }
        }
    }
    if nth <= 1 {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("{name}#{nth}"))
    }
}

/// Logs every name that several declarations defaulted to: `what` is "breaker" or "cache",
/// `attribute` the macro that declares it.
pub(crate) fn report_collisions<D: Declared>(all: &'static [D], what: &str, attribute: &str) {
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    for decl in all.iter().filter(|d| d.defaulted()) {
        let count = counts.entry(decl.declared_name()).or_default();
        *count = count.saturating_add(1);
    }
    let mut collisions: Vec<_> = counts.into_iter().filter(|(_, n)| *n > 1).collect();
    collisions.sort_unstable();
    for (name, count) in collisions {
        tracing::error!(
            name,
            count,
            "cachex: {count} `#[{attribute}]` functions default to the {what} name {name:?} \
             (associated functions of different types in one module); they are kept apart as \
             {name:?}, \"{name}#2\", ...; give each its own name, e.g. \
             `#[{attribute}(name = \"Type::function\")]`"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Decl(&'static str, bool);

    impl Declared for Decl {
        fn declared_name(&self) -> &'static str {
            self.0
        }
        fn defaulted(&self) -> bool {
            self.1
        }
    }

    static ALL: [Decl; 5] = [
        Decl("m::load", true),
        Decl("m::load", false),
        Decl("m::load", true),
        Decl("m::save", true),
        Decl("m::load", true),
    ];

    #[test]
    fn the_nth_defaulted_declaration_of_a_name_gets_a_suffix() {
        let names: Vec<_> = ALL.iter().map(|d| effective_name(&ALL, d)).collect();
        assert_eq!(
            names,
            ["m::load", "m::load", "m::load#2", "m::save", "m::load#3"]
        );
    }
}
