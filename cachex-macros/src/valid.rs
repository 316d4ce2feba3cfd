//! The checks that refuse a function for the stages on it, each reported at the user's token:
//! an `async fn` is required, a `Result` where a stage tells failures apart, concrete types where
//! a stage keeps one typed site, arguments that can be re-run where a stage repeats the body,
//! arguments that make a stable key, and a name where the default one could be shared.
//! Stages say what they need through the `Stage` trait; this module knows no argument tables.

use syn::{FnArg, GenericParam, ReturnType, Signature, Type};

use crate::args::Errors;
use crate::expand::Stage;
use crate::shape::{self, Outcome, Receiver, Shape};

/// The outcome the pipeline uses: a stage's declaration (`#[cached(result)]`), else `Result`
/// where a stage needs one (an alias such as `ApiResult<T>` then works), else what the return
/// type's name says.
pub(crate) fn outcome(
    shape: &Shape,
    sig: &Signature,
    stages: &[Box<dyn Stage>],
    errors: &mut Errors,
) -> Outcome {
    let declared = stages.iter().find_map(|s| s.declared_outcome());
    let needs_result = stages.iter().find(|s| s.needs_result()).map(|s| s.name());
    let Some((declared, span)) = declared else {
        return if needs_result.is_some() {
            Outcome::Result
        } else {
            shape.written_outcome
        };
    };
    let flag = match declared {
        Outcome::Result => "result",
        Outcome::Option => "option",
        Outcome::Plain => "",
    };
    if let (Outcome::Option, Some(which)) = (declared, needs_result) {
        errors.push(syn::Error::new(
            span,
            format!("`{flag}` conflicts with `#[{which}]`, which needs a function that returns `Result<T, E>`"),
        ));
    } else if !could_be(sig, declared) {
        let found = returned_text(sig);
        errors.push(syn::Error::new(
            span,
            format!(
                "`{flag}` says the function returns {} under another name, but it returns {found}",
                if declared == Outcome::Result {
                    "a `Result`"
                } else {
                    "an `Option`"
                }
            ),
        ));
    }
    declared
}

/// Every check of the function against its stages. `macro_name` is the attribute being expanded,
/// named where no stage is more specific.
pub(crate) fn check(
    sig: &Signature,
    shape: &Shape,
    macro_name: &str,
    stages: &[Box<dyn Stage>],
    errors: &mut Errors,
) {
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            format!("`#[{macro_name}]` works on `async fn` only: make this an `async fn`"),
        ));
    }
    result_needed(sig, shape, stages, errors);
    if stages.iter().any(|s| s.needs_concrete_types()) {
        concrete_types(sig, errors);
    }
    if shape.receiver == Receiver::Other && stages.iter().any(|s| s.repeats_inner()) {
        for input in &sig.inputs {
            if let FnArg::Receiver(r) = input {
                errors.push(syn::Error::new_spanned(
                    r,
                    "`#[retry]` runs the body once per attempt, so the method cannot take \
                     `self` by value (the first attempt would consume it); take `&self` or \
                     `&mut self`",
                ));
            }
        }
    }
    if let Some(stage) = stages.iter().find(|s| s.keys_on_arguments()) {
        stable_key_arguments(sig, stage.name(), errors);
    }
    if shape.receiver != Receiver::None {
        method_names(sig, stages, errors);
    }
}

/// `#[retry]` and `#[circuit_breaker]` tell a failure from a success by `Err`. The macro sees
/// only the written type, so it refuses what is surely not a `Result` and lets an alias through
/// (the compiler checks the rest).
fn result_needed(sig: &Signature, shape: &Shape, stages: &[Box<dyn Stage>], errors: &mut Errors) {
    // The outermost stage that imposes the requirement is the one named.
    let Some(which) = stages.iter().find(|s| s.needs_result()).map(|s| s.name()) else {
        return;
    };
    if could_be(sig, Outcome::Result) {
        return;
    }
    let found = returned_text(sig);
    let extra = if which == <crate::breaker::Breaker as crate::expand::StageArgs>::MACRO {
        " with `E: From<cachex_runtime::Error>`, so a rejection can be returned"
    } else {
        ", so it can tell a failure from a success"
    };
    let message = format!(
        "`#[{which}]` needs a function that returns `Result<T, E>`{extra}; this one returns \
         {found}"
    );
    errors.push(match &sig.output {
        ReturnType::Default => syn::Error::new(shape.ret_span, message),
        ReturnType::Type(_, ty) => syn::Error::new_spanned(ty, message),
    });
}

fn returned_text(sig: &Signature) -> String {
    match &sig.output {
        ReturnType::Default => "`()`".to_owned(),
        ReturnType::Type(_, ty) => format!("`{}`", shape::type_text(ty)),
    }
}

/// Whether the return type may be a `Result` (or an `Option`): it says so by name, or it is a
/// path that could be an alias. `()`, tuples, references and the standard types that are
/// neither are not.
fn could_be(sig: &Signature, outcome: Outcome) -> bool {
    const NEITHER: &[&str] = &[
        "bool", "char", "str", "String", "Vec", "Box", "u8", "u16", "u32", "u64", "u128", "usize",
        "i8", "i16", "i32", "i64", "i128", "isize", "f32", "f64",
    ];
    let ReturnType::Type(_, ty) = &sig.output else {
        return false;
    };
    let Some(last) = shape::last_segment(ty) else {
        return false;
    };
    let (this, other) = match outcome {
        Outcome::Result => ("Result", "Option"),
        Outcome::Option => ("Option", "Result"),
        Outcome::Plain => return true,
    };
    last == this || (last != other && !NEITHER.contains(&last.as_str()))
}

/// One typed site per function: no type or const parameters, no `impl Trait` arguments.
fn concrete_types(sig: &Signature, errors: &mut Errors) {
    let why = "`#[cached]` cannot be used on a generic function: the function has one cache, \
               whose key and value types must be known when the macro expands; write a \
               non-generic function with concrete types and cache that";
    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(_) => {}
            other => errors.push(syn::Error::new_spanned(other, why)),
        }
    }
    for input in &sig.inputs {
        if let FnArg::Typed(pt) = input {
            if shape::contains_impl(quote::ToTokens::to_token_stream(&pt.ty)) {
                errors.push(syn::Error::new_spanned(
                    &pt.ty,
                    format!("{why} (`impl Trait` in argument position is generic)"),
                ));
            }
        }
    }
}

/// A default key is built from every argument: one whose order differs between equal values
/// (a `HashMap` or `HashSet` iterates in a per-map random order) would make a new key on every
/// call, so the cache would never hit.
fn stable_key_arguments(sig: &Signature, which: &str, errors: &mut Errors) {
    for input in &sig.inputs {
        let FnArg::Typed(pt) = input else { continue };
        let referent: &Type = shape::referent(&pt.ty);
        let Some(last) = shape::last_segment(referent) else {
            continue;
        };
        let ordered = match last.as_str() {
            "HashMap" => "BTreeMap",
            "HashSet" => "BTreeSet",
            _ => continue,
        };
        errors.push(syn::Error::new_spanned(
            &pt.ty,
            format!(
                "`#[{which}]` builds its default key from every argument, and two equal \
                 `{last}`s iterate in different orders, so the key would never match: pass a \
                 `{ordered}` instead, or compute the key with `key = <expr>`"
            ),
        ));
    }
}

/// A method's default name, `<module>::<method>`, is the same for the methods of that name of
/// every type in the module, so two types would share a breaker or a cache: it must be named.
fn method_names(sig: &Signature, stages: &[Box<dyn Stage>], errors: &mut Errors) {
    let method = syn::ext::IdentExt::unraw(&sig.ident).to_string();
    for stage in stages {
        let Some(item) = stage.defaulted_name() else {
            continue;
        };
        errors.push(syn::Error::new(
            sig.ident.span(),
            format!(
                "`#[{which}]` on a method needs a name: the default one, \
                 `<module path>::{method}`, is the same for the `{method}` method of every type \
                 in this module, so they would share one {item}; add \
                 `name = \"Type::{method}\"` to `#[{which}]`",
                which = stage.name()
            ),
        ));
    }
}
