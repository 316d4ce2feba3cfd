//! The shared rewrite of an annotated `async fn`, and the pipeline of stages.
//!
//! The outermost cachex attribute on a function collects the cachex attributes below it (matched
//! on the last segment of their path), removes them and builds one pipeline of stages in written
//! order, the first outermost. Building them together is what lets `#[retry]` see
//! `CallError::Rejected` from a `#[circuit_breaker]` it wraps, before the rejection becomes the
//! function's error type.
//!
//! Each attribute is a [`Stage`]: its module (`breaker`, `retry`, `cached`) owns its arguments,
//! its statics and the code it wraps around the stages inside it. This module only knows the
//! trait. The function keeps its signature, attributes and doc comments; its body becomes the
//! statics (one site per stage) and the pipeline, and the original body runs last, inside an
//! `async` block with every argument moved in and a typed `__ret` binding, so `return` and `?`
//! keep their meaning.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, Ident, ItemFn, Meta, Path};

use crate::args::{self, Errors};
use crate::shape::{Outcome, Passing, Receiver, Shape};
use crate::{breaker, cached, retry, valid};

/// One attribute of the pipeline.
///
/// The defaults describe a stage that asks nothing of the signature; each stage overrides what
/// applies to it, and `valid` turns those answers into checks.
pub(crate) trait Stage {
    /// The attribute's name, as in `#[retry]`.
    fn name(&self) -> &'static str;

    /// `crate = ".."`, if given.
    fn krate(&self) -> Option<&Path>;

    /// The function must return a `Result` (the stage tells failures from successes).
    fn needs_result(&self) -> bool {
        false
    }

    /// What the arguments say about the return type, overriding its name (`#[cached(result)]`).
    fn declared_outcome(&self) -> Option<(Outcome, Span)> {
        None
    }

    /// The stage runs the stages inside it (and the body) more than once.
    fn repeats_inner(&self) -> bool {
        false
    }

    /// The stage keeps one typed site per function, so the function cannot be generic.
    fn needs_concrete_types(&self) -> bool {
        false
    }

    /// The stage builds a key from every argument (no `key =`).
    fn keys_on_arguments(&self) -> bool {
        false
    }

    /// The stage names a registry item after the function (no `name =`): what that item is,
    /// `"breaker"` or `"cache"`.
    fn defaulted_name(&self) -> Option<&'static str> {
        None
    }

    /// The statics of this stage, named after `site`.
    fn statics(&self, gen: &Gen<'_>, site: &Ident) -> TokenStream;

    /// This stage around `inner`, the code of the stages inside it. `wrapped` says whether
    /// `inner` still yields a breaker's `Result<T, CallError<E>>`; the returned flag says the same
    /// of the result. `in_retry` is true inside a retry loop.
    fn wrap(
        &self,
        gen: &Gen<'_>,
        site: &Ident,
        inner: Code,
        wrapped: bool,
        in_retry: bool,
    ) -> (Code, bool);
}

/// How a stage's arguments are read: the entry point of its macro.
pub(crate) trait StageArgs: Stage + Sized + 'static {
    const MACRO: &'static str;

    fn parse(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Self>;
}

type ParseFn = fn(TokenStream, &mut Errors) -> Option<Box<dyn Stage>>;

fn parse_stage<S: StageArgs>(tokens: TokenStream, errors: &mut Errors) -> Option<Box<dyn Stage>> {
    let parser = |input: ParseStream<'_>| S::parse(input, errors);
    match parser.parse2(tokens) {
        Ok(stage) => Some(Box::new(stage)),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// Every cachex attribute, by name.
const STAGES: &[(&str, ParseFn)] = &[
    (cached::Cached::MACRO, parse_stage::<cached::Cached>),
    (retry::Retry::MACRO, parse_stage::<retry::Retry>),
    (breaker::Breaker::MACRO, parse_stage::<breaker::Breaker>),
];

/// A cachex attribute further down the same function, recognised by the last segment of its
/// path so that `#[cachex_runtime::retry]` and a renamed import both count.
fn stage_of(attr: &Attribute) -> Option<(&'static str, ParseFn)> {
    if !matches!(attr.style, AttrStyle::Outer) {
        return None;
    }
    let last = attr.path().segments.last()?;
    STAGES.iter().find(|(name, _)| last.ident == name).copied()
}

/// Entry point of all three macros: `S` is the attribute being expanded.
pub(crate) fn expand<S: StageArgs>(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                format!(
                    "`#[{}]` applies to `async fn` items: free functions and methods with a body",
                    S::MACRO
                ),
            );
            let error = error.into_compile_error();
            return quote!(#item #error);
        }
    };

    let mut errors = Errors::default();
    let mut stages: Vec<Box<dyn Stage>> = Vec::new();
    stages.extend(parse_stage::<S>(args, &mut errors));
    let mut outer_attrs = Vec::new();
    let mut inner_attrs = Vec::new();
    let mut consumed = Vec::new();
    for attr in std::mem::take(&mut func.attrs) {
        if let Some((name, parse)) = stage_of(&attr) {
            consumed.push(attr.path().clone());
            let tokens = match &attr.meta {
                Meta::Path(_) => TokenStream::new(),
                Meta::List(list) => list.tokens.clone(),
                Meta::NameValue(nv) => {
                    errors.push(syn::Error::new_spanned(
                        nv,
                        format!("expected `#[{name}(...)]`"),
                    ));
                    continue;
                }
            };
            stages.extend(parse(tokens, &mut errors));
        } else if matches!(attr.style, AttrStyle::Outer) {
            outer_attrs.push(attr);
        } else {
            inner_attrs.push(attr);
        }
    }

    let mut shape = Shape::of(&func.sig);
    shape.outcome = valid::outcome(&shape, &func.sig, &stages, &mut errors);
    valid::check(&func.sig, &shape, S::MACRO, &stages, &mut errors);

    // The function as written, less the cachex attributes already reported on: the rest of the
    // crate keeps compiling and each mistake is reported once.
    func.attrs = outer_attrs.iter().chain(&inner_attrs).cloned().collect();
    if !errors.is_empty() || stages.is_empty() {
        // Still name the folded attributes, or their imports would be reported unused on top.
        for path in consumed.iter().rev() {
            func.block.stmts.insert(
                0,
                syn::parse_quote! {
                    #[allow(unused_imports)]
                    use #path as _;
                },
            );
        }
        let errors = errors.into_compile_error();
        return quote!(#func #errors);
    }

    let krate = stages.iter().find_map(|s| s.krate());
    let runtime = args::runtime_path(krate);
    let private = quote!(#runtime::__private);
    let fn_name =
        proc_macro2::Literal::string(&syn::ext::IdentExt::unraw(&func.sig.ident).to_string());
    let default_name = quote!(::core::concat!(::core::module_path!(), "::", #fn_name));

    let sites: Vec<Ident> = (0..stages.len())
        .map(|i| format_ident!("__CACHEX_SITE_{}", i))
        .collect();
    let gen = Gen {
        shape: &shape,
        private: &private,
        default_name: &default_name,
        block: &func.block,
    };
    let statics = stages
        .iter()
        .zip(&sites)
        .map(|(stage, site)| stage.statics(&gen, site));
    let (code, wrapped) = gen.pipeline(&stages, &sites, false);
    let mut body = code.in_place();
    if wrapped {
        body = gen.unwrap_call_error(body);
    }

    // The signature with plain parameter names (patterns move into the body).
    let mut sig = func.sig.clone();
    shape.rewrite_inputs(&mut sig);
    let vis = &func.vis;
    let defaultness = &func.modifiers.defaultness;
    quote! {
        #(#outer_attrs)*
        #vis #defaultness #sig {
            #(#inner_attrs)*
            // The attributes folded into this pipeline never expand themselves; naming them here
            // keeps their imports from being reported as unused.
            #(
                #[allow(unused_imports)]
                use #consumed as _;
            )*
            #(#statics)*
            #body
        }
    }
}

/// Code of one stage: either a future (not yet awaited) or an expression to use inside an async
/// context, which awaits what it needs itself.
pub(crate) enum Code {
    Future(TokenStream),
    InPlace(TokenStream),
}

impl Code {
    pub(crate) fn in_place(self) -> TokenStream {
        match self {
            Code::Future(fut) => quote!(#fut.await),
            Code::InPlace(expr) => expr,
        }
    }

    pub(crate) fn future(self, capture: &TokenStream) -> TokenStream {
        match self {
            Code::Future(fut) => fut,
            Code::InPlace(expr) => quote!(async #capture { #expr }),
        }
    }
}

/// An identifier of the scaffolding, invisible to the user's code.
pub(crate) fn hyg(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// What every stage's code generation shares: the function's shape, the path to the runtime's
/// `__private`, the default registry name and the original body.
pub(crate) struct Gen<'a> {
    pub(crate) shape: &'a Shape,
    pub(crate) private: &'a TokenStream,
    /// `module_path!()::fn_name`.
    pub(crate) default_name: &'a TokenStream,
    block: &'a syn::Block,
}

impl Gen<'_> {
    /// The stages from the first of `stages` inward, the body last.
    fn pipeline(&self, stages: &[Box<dyn Stage>], sites: &[Ident], in_retry: bool) -> (Code, bool) {
        let (Some((stage, rest)), Some((site, rest_sites))) =
            (stages.split_first(), sites.split_first())
        else {
            return (Code::Future(self.leaf(in_retry)), false);
        };
        let inner_in_retry = in_retry || stage.repeats_inner();
        let (inner, wrapped) = self.pipeline(rest, rest_sites, inner_in_retry);
        stage.wrap(self, site, inner, wrapped, in_retry)
    }

    /// `async move`, except inside a retry loop of a `&mut self` method: there each attempt must
    /// reborrow `self` (which cannot be renamed or copied) rather than move it.
    pub(crate) fn capture(&self, in_retry: bool) -> TokenStream {
        if in_retry && self.shape.receiver == Receiver::MutRef {
            TokenStream::new()
        } else {
            quote!(move)
        }
    }

    /// All arguments but the receiver, as a tuple of owned values.
    pub(crate) fn default_key(&self) -> TokenStream {
        let parts = self.shape.args.iter().map(|arg| {
            let name = &arg.name;
            match arg.passing {
                Passing::Owned => {
                    quote_spanned!(arg.ty.span()=> ::core::clone::Clone::clone(&#name))
                }
                Passing::Ref | Passing::MutRef => {
                    quote_spanned!(arg.ty.span()=> ::std::borrow::ToOwned::to_owned(&*#name))
                }
            }
        });
        quote!((#(#parts,)*))
    }

    /// The original body: arguments moved in (so they drop as in a plain `async fn`), patterns
    /// destructured, and a typed binding so `?` and `return` infer as they did.
    fn leaf(&self, in_retry: bool) -> TokenStream {
        let capture = self.capture(in_retry);
        let moves = self.shape.args.iter().map(|arg| {
            let name = &arg.name;
            match &arg.pat {
                None => {
                    let mutability = &arg.mutability;
                    quote! {
                        #[allow(clippy::redundant_locals)]
                        let #mutability #name = #name;
                    }
                }
                Some(pat) => quote!(let #pat = #name;),
            }
        });
        let ret = hyg("__cachex_ret");
        let annotation = &self.shape.ret_annotation;
        let block = self.block;
        quote! {
            async #capture {
                #(#moves)*
                let #ret #annotation = #block;
                // Unreachable when the body always returns early.
                #[allow(unreachable_code)]
                #ret
            }
        }
    }

    /// `E::from(error)` for a `cachex_runtime::Error` held in the hygienic `__cachex_e`, spanned
    /// at `E` so that a missing `From<Error>` is reported at the user's error type.
    pub(crate) fn error_into_e(&self) -> (Ident, TokenStream) {
        let e_at_type = Ident::new(
            "__cachex_e",
            Span::mixed_site().located_at(self.shape.ret_span),
        );
        // With `E = cachex_runtime::Error` itself the conversion is the identity, which clippy
        // would report in the user's code.
        let converted = hyg("__cachex_converted");
        let from = quote_spanned! {self.shape.ret_span=>
            {
                #[allow(clippy::useless_conversion)]
                let #converted = ::core::convert::From::from(#e_at_type);
                #converted
            }
        };
        (e_at_type, from)
    }

    /// `Result<T, CallError<E>>` to `Result<T, E>`; a rejection becomes `E::from(Error)`.
    pub(crate) fn unwrap_call_error(&self, expr: TokenStream) -> TokenStream {
        let p = self.private;
        let (v, e) = (hyg("__cachex_v"), hyg("__cachex_e"));
        let (e_at_type, from) = self.error_into_e();
        quote! {
            match #expr {
                ::core::result::Result::Ok(#v) => ::core::result::Result::Ok(#v),
                ::core::result::Result::Err(#p::CallError::Rejected(#e_at_type)) => {
                    ::core::result::Result::Err(#from)
                }
                ::core::result::Result::Err(#p::CallError::Inner(#e)) => {
                    ::core::result::Result::Err(#e)
                }
            }
        }
    }
}
