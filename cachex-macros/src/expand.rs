//! The shared rewrite of an annotated `async fn`.
//!
//! The outermost cachex attribute on a function collects the cachex attributes below it (matched
//! on the last segment of their path), removes them and builds one pipeline of stages in written
//! order, the first outermost. Building them together is what lets `#[retry]` see
//! `CallError::Rejected` from a `#[circuit_breaker]` it wraps, before the rejection becomes the
//! function's error type.
//!
//! The function keeps its signature, attributes and doc comments. Its body becomes statics (one
//! site per stage) and the pipeline; the original body runs last, inside an `async` block with
//! every argument moved in and a typed `__ret` binding, so `return` and `?` keep their meaning.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{
    AttrStyle, Attribute, FnArg, GenericParam, Ident, ItemFn, Meta, Pat, Path, ReceiverKind,
    ReturnType, Token, Type,
};

use crate::args::{self, Errors};
use crate::{breaker, cached, retry};

/// Which attribute.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Cached,
    Retry,
    CircuitBreaker,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Cached => cached::MACRO,
            Kind::Retry => retry::MACRO,
            Kind::CircuitBreaker => breaker::MACRO,
        }
    }

    /// A cachex attribute further down the same function, recognised by the last segment of its
    /// path so that `#[cachex_runtime::retry]` and a renamed import both count.
    fn of(attr: &Attribute) -> Option<Kind> {
        if !matches!(attr.style, AttrStyle::Outer) {
            return None;
        }
        let last = attr.path().segments.last()?;
        [Kind::Cached, Kind::Retry, Kind::CircuitBreaker]
            .into_iter()
            .find(|kind| last.ident == kind.name())
    }
}

enum Stage {
    Cached(cached::Args),
    Retry(retry::Args),
    Breaker(breaker::Args),
}

impl Stage {
    fn kind(&self) -> Kind {
        match self {
            Stage::Cached(_) => Kind::Cached,
            Stage::Retry(_) => Kind::Retry,
            Stage::Breaker(_) => Kind::CircuitBreaker,
        }
    }

    fn krate(&self) -> Option<&Path> {
        match self {
            Stage::Cached(a) => a.krate.as_ref(),
            Stage::Retry(a) => a.krate.as_ref(),
            Stage::Breaker(a) => a.krate.as_ref(),
        }
    }
}

fn parse_stage(kind: Kind, tokens: TokenStream, errors: &mut Errors) -> Option<Stage> {
    let parser = |input: ParseStream<'_>| match kind {
        Kind::Cached => cached::Args::parse(input, errors).map(Stage::Cached),
        Kind::Retry => retry::Args::parse(input, errors).map(Stage::Retry),
        Kind::CircuitBreaker => breaker::Args::parse(input, errors).map(Stage::Breaker),
    };
    match parser.parse2(tokens) {
        Ok(stage) => Some(stage),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// Entry point of all three macros.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                format!(
                    "`#[{}]` applies to `async fn` items: free functions and methods with a body",
                    kind.name()
                ),
            );
            let error = error.into_compile_error();
            return quote!(#item #error);
        }
    };

    let mut errors = Errors::default();
    let mut stages = Vec::new();
    stages.extend(parse_stage(kind, args, &mut errors));
    let mut outer_attrs = Vec::new();
    let mut inner_attrs = Vec::new();
    let mut consumed = Vec::new();
    for attr in std::mem::take(&mut func.attrs) {
        if let Some(kind) = Kind::of(&attr) {
            consumed.push(attr.path().clone());
            let tokens = match &attr.meta {
                Meta::Path(_) => TokenStream::new(),
                Meta::List(list) => list.tokens.clone(),
                Meta::NameValue(nv) => {
                    errors.push(syn::Error::new_spanned(
                        nv,
                        format!("expected `#[{}(...)]`", kind.name()),
                    ));
                    continue;
                }
            };
            stages.extend(parse_stage(kind, tokens, &mut errors));
        } else if matches!(attr.style, AttrStyle::Outer) {
            outer_attrs.push(attr);
        } else {
            inner_attrs.push(attr);
        }
    }

    let shape = Shape::of(&func, kind, &stages, &mut errors);

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

    let krate = stages.iter().find_map(Stage::krate);
    let runtime = args::runtime_path(krate);
    let private = quote!(#runtime::__private);
    let fn_name =
        proc_macro2::Literal::string(&syn::ext::IdentExt::unraw(&func.sig.ident).to_string());
    let default_name = quote!(::core::concat!(::core::module_path!(), "::", #fn_name));

    let sites: Vec<Ident> = (0..stages.len())
        .map(|i| format_ident!("__CACHEX_SITE_{}", i))
        .collect();
    let statics = stages.iter().zip(&sites).map(|(stage, site)| match stage {
        Stage::Cached(a) => a.statics(&private, site, &default_name),
        Stage::Retry(a) => a.statics(&private, site),
        Stage::Breaker(a) => a.statics(&private, site, &default_name),
    });

    let gen = Gen {
        shape: &shape,
        private: &private,
        stages: &stages,
        sites: &sites,
        block: &func.block,
    };
    let (code, wrapped) = gen.stage(0, false);
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

/// How an argument is passed, which decides how it is copied for an attempt or a key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Passing {
    Owned,
    Ref,
    MutRef,
}

struct Arg {
    /// The name in the rewritten signature.
    name: Ident,
    /// `mut` of a plain `mut name: T` parameter, restored inside the body.
    mutability: Option<Token![mut]>,
    /// A pattern parameter such as `(a, b): (u32, u32)`, destructured inside the body.
    pat: Option<Box<Pat>>,
    passing: Passing,
    ty: Box<Type>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Receiver {
    None,
    Ref,
    MutRef,
    /// `self`, `mut self`, `self: Box<Self>`, ...
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Result,
    Option,
    Plain,
}

/// What the rewrite needs to know about the function.
struct Shape {
    args: Vec<Arg>,
    receiver: Receiver,
    outcome: Outcome,
    /// `: R` for the typed `__ret` binding; none when `R` has an `impl Trait` in it, which a
    /// `let` cannot name.
    ret_annotation: Option<TokenStream>,
    /// Where type errors about the function's error type are reported: `E` of `Result<T, E>`.
    ret_span: Span,
}

impl Shape {
    fn of(func: &ItemFn, kind: Kind, stages: &[Stage], errors: &mut Errors) -> Shape {
        let sig = &func.sig;
        let has = |k: Kind| stages.iter().any(|s| s.kind() == k);
        // The attribute to name in a message: the outermost one that imposes the requirement.
        let first = |pred: &dyn Fn(Kind) -> bool| {
            stages
                .iter()
                .map(Stage::kind)
                .find(|k| pred(*k))
                .unwrap_or(kind)
                .name()
        };

        if sig.asyncness.is_none() {
            errors.push(syn::Error::new(
                sig.fn_token.span,
                format!(
                    "`#[{}]` works on `async fn` only: make this an `async fn`",
                    kind.name()
                ),
            ));
        }

        let (outcome, ret_span, ret_annotation) = match &sig.output {
            ReturnType::Default => (Outcome::Plain, sig.paren_token.span.close(), None),
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
        let ret_annotation = match &sig.output {
            ReturnType::Default => Some(quote!(: ())),
            ReturnType::Type(..) => ret_annotation,
        };

        if outcome != Outcome::Result && (has(Kind::Retry) || has(Kind::CircuitBreaker)) {
            let which = first(&|k| k != Kind::Cached);
            let found = match &sig.output {
                ReturnType::Default => "`()`".to_owned(),
                ReturnType::Type(_, ty) => format!("`{}`", type_text(ty)),
            };
            let extra = if which == breaker::MACRO {
                " with `E: From<cachex_runtime::Error>`, so a rejection can be returned"
            } else {
                ", so it can tell a failure from a success"
            };
            let message = format!(
                "`#[{which}]` needs a function that returns `Result<T, E>`{extra}; this one \
                 returns {found}"
            );
            errors.push(match &sig.output {
                ReturnType::Default => syn::Error::new(ret_span, message),
                ReturnType::Type(_, ty) => syn::Error::new_spanned(ty, message),
            });
        }

        if has(Kind::Cached) {
            let why = "`#[cached]` cannot be used on a generic function: the function has one \
                       cache, whose key and value types must be known when the macro expands; \
                       write a non-generic function with concrete types and cache that";
            for param in &sig.generics.params {
                match param {
                    GenericParam::Lifetime(_) => {}
                    other => errors.push(syn::Error::new_spanned(other, why)),
                }
            }
            for input in &sig.inputs {
                if let FnArg::Typed(pt) = input {
                    if contains_impl(pt.ty.to_token_stream()) {
                        errors.push(syn::Error::new_spanned(
                            &pt.ty,
                            format!("{why} (`impl Trait` in argument position is generic)"),
                        ));
                    }
                }
            }
        }

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
                    if receiver == Receiver::Other && has(Kind::Retry) {
                        errors.push(syn::Error::new_spanned(
                            r,
                            "`#[retry]` runs the body once per attempt, so the method cannot \
                             take `self` by value (the first attempt would consume it); take \
                             `&self` or `&mut self`",
                        ));
                    }
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
            outcome,
            ret_annotation,
            ret_span,
        }
    }

    /// Plain names in the signature; `mut` and patterns are applied inside the body instead.
    fn rewrite_inputs(&self, sig: &mut syn::Signature) {
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
fn type_text(ty: &Type) -> String {
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
fn last_segment(ty: &Type) -> Option<String> {
    match peel(ty) {
        Type::Path(tp) if tp.qself.is_none() => {
            tp.path.segments.last().map(|s| s.ident.to_string())
        }
        _ => None,
    }
}

fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => peel(&g.elem),
        Type::Paren(p) => peel(&p.elem),
        other => other,
    }
}

fn contains_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => contains_impl(group.stream()),
        _ => false,
    })
}

/// Code of one stage: either a future (not yet awaited) or an expression to use inside an async
/// context, which awaits what it needs itself.
enum Code {
    Future(TokenStream),
    InPlace(TokenStream),
}

impl Code {
    fn in_place(self) -> TokenStream {
        match self {
            Code::Future(fut) => quote!(#fut.await),
            Code::InPlace(expr) => expr,
        }
    }

    fn future(self, capture: &TokenStream) -> TokenStream {
        match self {
            Code::Future(fut) => fut,
            Code::InPlace(expr) => quote!(async #capture { #expr }),
        }
    }
}

/// An identifier of the scaffolding, invisible to the user's code.
fn hyg(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

struct Gen<'a> {
    shape: &'a Shape,
    private: &'a TokenStream,
    stages: &'a [Stage],
    sites: &'a [Ident],
    block: &'a syn::Block,
}

impl Gen<'_> {
    /// `async move`, except inside a retry loop of a `&mut self` method: there each attempt must
    /// reborrow `self` (which cannot be renamed or copied) rather than move it.
    fn capture(&self, in_retry: bool) -> TokenStream {
        if in_retry && self.shape.receiver == Receiver::MutRef {
            TokenStream::new()
        } else {
            quote!(move)
        }
    }

    /// Stage `i` and everything inside it. The flag says whether the value is still a
    /// `Result<T, CallError<E>>` from a breaker, not yet converted to the function's `E`.
    fn stage(&self, i: usize, in_retry: bool) -> (Code, bool) {
        let Some(stage) = self.stages.get(i) else {
            return (Code::Future(self.leaf(in_retry)), false);
        };
        let site = &self.sites[i];
        let p = self.private;
        match stage {
            Stage::Breaker(_) => {
                let (inner, wrapped) = self.stage(i + 1, in_retry);
                let fut = inner.future(&self.capture(in_retry));
                let call = quote!(#p::breaker_run(#site.breaker(), #fut).await);
                let call = if wrapped { self.flatten(call) } else { call };
                (Code::InPlace(call), true)
            }
            Stage::Retry(args) => {
                let (inner, wrapped) = self.stage(i + 1, true);
                let attempt = inner.in_place();
                let copies = self.shape.args.iter().map(|arg| {
                    let name = &arg.name;
                    let copy = match arg.passing {
                        Passing::Owned => {
                            quote_spanned!(arg.ty.span()=> ::core::clone::Clone::clone(&#name))
                        }
                        Passing::Ref => quote!(#name),
                        Passing::MutRef => quote!(&mut *#name),
                    };
                    quote! {
                        #[allow(clippy::redundant_locals, clippy::clone_on_copy)]
                        let #name = #copy;
                    }
                });
                let (r, e, v, st) = (
                    hyg("__cachex_r"),
                    hyg("__cachex_e"),
                    hyg("__cachex_v"),
                    hyg("__cachex_st"),
                );
                let pred = args
                    .retry_if
                    .as_ref()
                    .map(|path| quote_spanned!(path.span()=> (#path)));
                let should_retry = match (wrapped, pred) {
                    (false, None) => quote!(true),
                    (false, Some(pred)) => quote!(#pred(&#e)),
                    (true, pred) => {
                        let inner = hyg("__cachex_inner");
                        let on_inner = match pred {
                            Some(pred) => quote!(#pred(#inner)),
                            None => quote!({ let _ = #inner; true }),
                        };
                        quote! {
                            match &#e {
                                #p::CallError::Rejected(_) => false,
                                #p::CallError::Inner(#inner) => #on_inner,
                            }
                        }
                    }
                };
                let code = quote! {{
                    let mut #st = #site.begin();
                    loop {
                        #(#copies)*
                        let #r = #attempt;
                        match #r {
                            ::core::result::Result::Ok(#v) => break ::core::result::Result::Ok(#v),
                            ::core::result::Result::Err(#e) => {
                                if #should_retry && #st.retry().await {
                                    continue;
                                }
                                break ::core::result::Result::Err(#e);
                            }
                        }
                    }
                }};
                (Code::InPlace(code), wrapped)
            }
            Stage::Cached(args) => {
                let (inner, wrapped) = self.stage(i + 1, in_retry);
                let capture = self.capture(in_retry);
                let inner = if wrapped {
                    Code::InPlace(self.unwrap_call_error(inner.in_place()))
                } else {
                    inner
                };
                let fut = match self.shape.outcome {
                    Outcome::Plain => {
                        let value = inner.in_place();
                        quote!(async #capture { #p::Plain(#value) })
                    }
                    Outcome::Result | Outcome::Option => inner.future(&capture),
                };
                let key = hyg("__cachex_key");
                let key_expr = match &args.key {
                    Some(expr) => expr.to_token_stream(),
                    None => self.default_key(),
                };
                let call = if args.is_memory() {
                    quote!(#site.memory(#key, #fut).await)
                } else if args.key.is_some() {
                    quote!(#site.remote_display(&#key, #fut).await)
                } else {
                    quote!(#site.remote(&#key, #fut).await)
                };
                let call = match self.shape.outcome {
                    Outcome::Plain => quote!(#call.0),
                    _ => call,
                };
                let code = quote! {{
                    let #key = #key_expr;
                    #call
                }};
                (Code::InPlace(code), false)
            }
        }
    }

    /// All arguments but the receiver, as a tuple of owned values.
    fn default_key(&self) -> TokenStream {
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

    /// `Result<T, CallError<E>>` to `Result<T, E>`; a rejection becomes `E::from(Error)`.
    fn unwrap_call_error(&self, expr: TokenStream) -> TokenStream {
        let p = self.private;
        let (v, e) = (hyg("__cachex_v"), hyg("__cachex_e"));
        // Spanned at `E`, so a missing `From<Error>` is reported at the user's error type.
        let e_at_type = Ident::new(
            "__cachex_e",
            Span::mixed_site().located_at(self.shape.ret_span),
        );
        // With `E = cachex_runtime::Error` itself the conversion is the identity, which clippy
        // would report in the user's code.
        let converted = hyg("__cachex_converted");
        let from = quote_spanned! {self.shape.ret_span=>
            #[allow(clippy::useless_conversion)]
            let #converted = ::core::result::Result::Err(::core::convert::From::from(#e_at_type));
            #converted
        };
        quote! {
            match #expr {
                ::core::result::Result::Ok(#v) => ::core::result::Result::Ok(#v),
                ::core::result::Result::Err(#p::CallError::Rejected(#e_at_type)) => {
                    #from
                }
                ::core::result::Result::Err(#p::CallError::Inner(#e)) => {
                    ::core::result::Result::Err(#e)
                }
            }
        }
    }

    /// A breaker around a breaker: a rejection by either stays a rejection.
    fn flatten(&self, expr: TokenStream) -> TokenStream {
        let p = self.private;
        let (v, e) = (hyg("__cachex_v"), hyg("__cachex_e"));
        quote! {
            match #expr {
                ::core::result::Result::Ok(#v) => ::core::result::Result::Ok(#v),
                ::core::result::Result::Err(#p::CallError::Rejected(#e)) => {
                    ::core::result::Result::Err(#p::CallError::Rejected(#e))
                }
                ::core::result::Result::Err(#p::CallError::Inner(#p::CallError::Rejected(#e))) => {
                    ::core::result::Result::Err(#p::CallError::Rejected(#e))
                }
                ::core::result::Result::Err(#p::CallError::Inner(#p::CallError::Inner(#e))) => {
                    ::core::result::Result::Err(#p::CallError::Inner(#e))
                }
            }
        }
    }
}
