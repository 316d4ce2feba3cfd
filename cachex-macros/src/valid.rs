//! The checks that refuse a function for the stages on it, each reported at the user's token:
//! an `async fn` is required, a `Result` where a stage tells failures apart, concrete types where
//! a stage keeps one typed site, arguments that can be re-run where a stage repeats the body.
//! Stages say what they need through the `Stage` trait; this module knows no argument names.

use syn::{FnArg, GenericParam, ReturnType, Signature};

use crate::args::Errors;
use crate::expand::Stage;
use crate::shape::{self, Outcome, Receiver, Shape};

/// The outcome the pipeline uses: what the return type says, unless a stage needs more.
pub(crate) fn outcome(shape: &Shape, _stages: &[Box<dyn Stage>], _errors: &mut Errors) -> Outcome {
    shape.written_outcome
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
}

/// `#[retry]` and `#[circuit_breaker]` tell a failure from a success by `Err`.
fn result_needed(sig: &Signature, shape: &Shape, stages: &[Box<dyn Stage>], errors: &mut Errors) {
    // The outermost stage that imposes the requirement is the one named.
    let Some(which) = stages.iter().find(|s| s.needs_result()).map(|s| s.name()) else {
        return;
    };
    if shape.written_outcome == Outcome::Result {
        return;
    }
    let found = match &sig.output {
        ReturnType::Default => "`()`".to_owned(),
        ReturnType::Type(_, ty) => format!("`{}`", shape::type_text(ty)),
    };
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
