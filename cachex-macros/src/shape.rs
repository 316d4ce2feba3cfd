//! What the rewrite needs to know about the annotated function's signature: how each argument
//! is passed (which decides how it is copied for an attempt or a key), the receiver, and what the
//! return type says about which results count as failures. Pure analysis: the checks that refuse
//! a signature live in `valid`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, ReceiverKind, ReturnType, Signature, Token, Type};

/// How an argument is passed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Passing {
    Owned,
    Ref,
    MutRef,
}

pub(crate) struct Arg {
    /// The name in the rewritten signature.
    pub(crate) name: Ident,
    /// `mut` of a plain `mut name: T` parameter, restored inside the body.
    pub(crate) mutability: Option<Token![mut]>,
    /// A pattern parameter such as `(a, b): (u32, u32)`, destructured inside the body.
    pub(crate) pat: Option<Box<Pat>>,
    pub(crate) passing: Passing,
    pub(crate) ty: Box<Type>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiver {
    None,
    Ref,
    MutRef,
    /// `self`, `mut self`, `self: Box<Self>`, ...
    Other,
}

/// Which results are a success: `Ok` of a `Result`, `Some` of an `Option`, any value otherwise.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Result,
    Option,
    Plain,
}

pub(crate) struct Shape {
    pub(crate) args: Vec<Arg>,
    pub(crate) receiver: Receiver,
    /// What the return type says by its name (`Result`, `Option`); an alias reads as `Plain`.
    pub(crate) written_outcome: Outcome,
    /// The outcome the pipeline uses: the written one unless a stage says otherwise.
    pub(crate) outcome: Outcome,
    /// `: R` for the typed `__ret` binding; none when `R` has an `impl Trait` in it, which a
    /// `let` cannot name.
    pub(crate) ret_annotation: Option<TokenStream>,
    /// Where type errors about the function's error type are reported: `E` of `Result<T, E>`.
    pub(crate) ret_span: Span,
}

impl Shape {
    pub(crate) fn of(sig: &Signature) -> Shape {
        let (written_outcome, ret_span, ret_annotation) = match &sig.output {
            ReturnType::Default => (
                Outcome::Plain,
                sig.paren_token.span.close(),
                Some(quote!(: ())),
            ),
            ReturnType::Type(_, ty) => {
                let outcome = match last_segment(ty).as_deref() {
                    Some("Result") => Outcome::Result,
                    Some("Option") => Outcome::Option,
                    _ => Outcome::Plain,
                };
                let annotation = if contains_impl(ty.to_token_stream()) {
                    None
                } else {
                    Some(quote!(: #ty))
                };
                (outcome, error_type_span(ty), annotation)
            }
        };

        let mut receiver = Receiver::None;
        let mut args = Vec::new();
        for (i, input) in sig.inputs.iter().enumerate() {
            match input {
                FnArg::Receiver(r) => {
                    receiver = match &r.kind {
                        ReceiverKind::Reference(_, _, None) => Receiver::Ref,
                        ReceiverKind::Reference(_, _, Some(_)) => Receiver::MutRef,
                        _ => Receiver::Other,
                    };
                }
                FnArg::Typed(pt) => {
                    let passing = match peel(&pt.ty) {
                        Type::Reference(r) if r.mutability.is_some() => Passing::MutRef,
                        Type::Reference(_) => Passing::Ref,
                        _ => Passing::Owned,
                    };
                    let (name, mutability, pat) = match &*pt.pat {
                        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                            (pi.ident.clone(), pi.mutability, None)
                        }
                        other => (
                            Ident::new(&format!("__cachex_arg{i}"), Span::mixed_site()),
                            None,
                            Some(Box::new(other.clone())),
                        ),
                    };
                    args.push(Arg {
                        name,
                        mutability,
                        pat,
                        passing,
                        ty: pt.ty.clone(),
                    });
                }
            }
        }

        Shape {
            args,
            receiver,
            written_outcome,
            outcome: written_outcome,
            ret_annotation,
            ret_span,
        }
    }

    /// Plain names in the signature; `mut` and patterns are applied inside the body instead.
    pub(crate) fn rewrite_inputs(&self, sig: &mut Signature) {
        let mut args = self.args.iter();
        for input in sig.inputs.iter_mut() {
            if let FnArg::Typed(pt) = input {
                let Some(arg) = args.next() else { return };
                let name = &arg.name;
                let mut pat: Pat = syn::parse_quote!(#name);
                if let (Pat::Ident(new), Pat::Ident(old)) = (&mut pat, &*pt.pat) {
                    new.attrs = old.attrs.clone();
                }
                *pt.pat = pat;
            }
        }
    }
}

/// A type as the user would write it, for messages.
pub(crate) fn type_text(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" :: ", "::"),
        (" ,", ","),
        ("& ", "&"),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// The span of `E` in `Result<T, E>`, or of the whole type when `E` is not written out.
fn error_type_span(ty: &Type) -> Span {
    if let Type::Path(tp) = peel(ty) {
        if let Some(syn::PathArguments::AngleBracketed(args)) =
            tp.path.segments.last().map(|s| &s.arguments)
        {
            let mut types = args.args.iter().filter_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            });
            if let (Some(_), Some(e)) = (types.next(), types.next()) {
                return e.span();
            }
        }
    }
    ty.span()
}

/// The last path segment of a type as written (`Result` in `std::io::Result<T>`).
pub(crate) fn last_segment(ty: &Type) -> Option<String> {
    match peel(ty) {
        Type::Path(tp) if tp.qself.is_none() => {
            tp.path.segments.last().map(|s| s.ident.to_string())
        }
        _ => None,
    }
}

/// The type behind groups, parentheses and references: `HashMap` in `&(HashMap<K, V>)`.
pub(crate) fn referent(ty: &Type) -> &Type {
    match peel(ty) {
        Type::Reference(r) => referent(&r.elem),
        other => other,
    }
}

pub(crate) fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => peel(&g.elem),
        Type::Paren(p) => peel(&p.elem),
        other => other,
    }
}

pub(crate) fn contains_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => contains_impl(group.stream()),
        _ => false,
    })
}
