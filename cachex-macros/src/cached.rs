//! `#[cached]`: what its arguments mean and the code of its pipeline stage.
//!
//! The stage computes the key from the arguments, then hands the inner future to a `CacheSite`
//! static, which drops it unpolled on a hit. The memory store is typed per function; any other
//! store is looked up by name at call time and needs serialisable values.

use crate::args::field_row;
use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::ParseStream;
use syn::{Expr, Ident, LitStr, Path};

use crate::args::{self, DurationArg, Errors, Spec};
use crate::expand::{hyg, Code, Gen, Stage, StageArgs};
use crate::shape::Outcome;

#[derive(Default)]
pub(crate) struct Cached {
    name: Option<LitStr>,
    ttl: Option<DurationArg>,
    capacity: Option<(u64, Span)>,
    store: Option<LitStr>,
    key: Option<Expr>,
    stale_if_error: Option<DurationArg>,
    stale_while_revalidate: Option<DurationArg>,
    refresh_ahead: Option<DurationArg>,
    soft_timeout: Option<DurationArg>,
    /// `result`: the return type is a `Result` under another name.
    result: Option<Span>,
    /// `option`: the return type is an `Option` under another name.
    option: Option<Span>,
    krate: Option<Path>,
}

/// The arguments of `#[cached]`, in the order the docs list them.
const ARGS: &[Spec<Cached>] = &[
    field_row!("name", name, |input, key, errors| args::name_str(
        input, key, "users", errors
    )),
    field_row!("ttl", ttl, |input, key, errors| args::duration(
        input, key, false, errors
    )),
    field_row!("capacity", capacity, |input, key, errors| {
        args::positive_int(input, key, "u64", errors)
    }),
    Spec::value("store", |a, key, input, errors| {
        let v = args::name_str(input, key, "memory", errors)?;
        if let Some(lit) = &v {
            if lit.value().chars().any(char::is_whitespace) {
                errors.push(syn::Error::new(
                    lit.span(),
                    "`store` names a store registered with `registry().set_store`, \
                     such as \"memory\"; store names contain no whitespace",
                ));
            }
        }
        args::set_once(&mut a.store, key, v, errors);
        Ok(())
    }),
    Spec::value("key", |a, key, input, errors| {
        let v: Expr = input.parse()?;
        args::set_once(&mut a.key, key, Some(v), errors);
        Ok(())
    }),
    field_row!("stale_if_error", stale_if_error, |input, key, errors| {
        args::duration(input, key, false, errors)
    }),
    field_row!(
        "stale_while_revalidate",
        stale_while_revalidate,
        |input, key, errors| args::duration(input, key, false, errors)
    ),
    field_row!("refresh_ahead", refresh_ahead, |input, key, errors| {
        args::duration(input, key, false, errors)
    }),
    field_row!("soft_timeout", soft_timeout, |input, key, errors| {
        args::duration(input, key, false, errors)
    }),
    Spec::flag("result", |a, key, errors| {
        args::set_flag(&mut a.result, key, errors);
    }),
    Spec::flag("option", |a, key, errors| {
        args::set_flag(&mut a.option, key, errors);
    }),
    args::crate_arg(),
];

impl args::CrateArg for Cached {
    fn crate_slot(&mut self) -> &mut Option<Path> {
        &mut self.krate
    }
}

impl StageArgs for Cached {
    const MACRO: &'static str = "cached";

    fn parse(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Self> {
        let mut args = Cached::default();
        args::parse_list(input, Self::MACRO, ARGS, &mut args, errors)?;
        if let (Some((_, span)), false) = (&args.capacity, args.is_memory()) {
            errors.push(syn::Error::new(
                *span,
                "`capacity` applies to the memory store only; the size of another store is set \
                 where the store is built",
            ));
        }
        for (arg, which) in args.fail_safe() {
            if args.ttl.is_none() {
                errors.push(syn::Error::new(
                    arg.span,
                    format!(
                        "`{which}` needs `ttl`: an entry turns stale when its ttl has passed \
                         (add `ttl = \"60s\"`)"
                    ),
                ));
            }
            if !args.is_memory() {
                errors.push(syn::Error::new(
                    arg.span,
                    format!(
                        "`{which}` works with the memory store only in this release; \
                         remove `store` or `{which}`"
                    ),
                ));
            }
        }
        if let (Some(_), Some(option)) = (args.result, args.option) {
            errors.push(syn::Error::new(
                option,
                "`result` and `option` exclude each other: the function returns one or the other",
            ));
        }
        Ok(args)
    }
}

impl Stage for Cached {
    fn name(&self) -> &'static str {
        Self::MACRO
    }

    fn krate(&self) -> Option<&Path> {
        self.krate.as_ref()
    }

    fn declared_outcome(&self) -> Option<(Outcome, Span)> {
        match (self.result, self.option) {
            (Some(span), _) => Some((Outcome::Result, span)),
            (None, Some(span)) => Some((Outcome::Option, span)),
            (None, None) => None,
        }
    }

    fn keys_on_arguments(&self) -> bool {
        self.key.is_none()
    }

    fn defaulted_name(&self) -> Option<&'static str> {
        self.name.is_none().then_some("cache")
    }

    fn needs_concrete_types(&self) -> bool {
        true
    }

    /// The `CacheSite` static, and the declaration that tells the registry about the cache
    /// before its first call (and whether its name was defaulted, so that two declarations that
    /// defaulted to one name are kept apart).
    fn statics(&self, gen: &Gen<'_>, site: &Ident) -> TokenStream {
        let private = gen.private;
        let (name, defaulted) = match &self.name {
            Some(lit) => (quote!(#lit), false),
            None => (gen.default_name.clone(), true),
        };
        let store = match &self.store {
            Some(lit) => quote!(#lit),
            None => quote!("memory"),
        };
        let ttl = self.ttl.as_ref().map(|d| {
            let d = d.tokens(private);
            quote!(.ttl(#d))
        });
        let capacity = self.capacity.map(|(n, _)| {
            let n = proc_macro2::Literal::u64_suffixed(n);
            quote!(.capacity(#n))
        });
        let fail_safe = self.fail_safe().map(|(d, which)| {
            let method = Ident::new(which, Span::call_site());
            let d = d.tokens(private);
            quote!(.#method(#d))
        });
        let decl = quote::format_ident!("{}_DECL", site);
        quote! {
            #[#private::linkme::distributed_slice(#private::CACHES)]
            #[linkme(crate = #private::linkme)]
            static #decl: #private::CacheDecl = #private::CacheDecl {
                name: #name,
                store: #store,
                defaulted: #defaulted,
            };
            static #site: #private::CacheSite =
                #private::CacheSite::new(#name, #store).declared(&#decl) #ttl #capacity #(#fail_safe)*;
        }
    }

    /// Computes the key from the arguments, then hands the inner future to the site, which
    /// drops it unpolled on a hit.
    fn wrap(
        &self,
        gen: &Gen<'_>,
        site: &Ident,
        inner: Code,
        wrapped: bool,
        in_retry: bool,
    ) -> (Code, bool) {
        let p = gen.private;
        let capture = gen.capture(in_retry);
        let inner = if wrapped {
            Code::InPlace(gen.unwrap_call_error(inner.in_place()))
        } else {
            inner
        };
        let fut = match gen.shape.outcome {
            Outcome::Plain => {
                let value = inner.in_place();
                quote!(async #capture { #p::Plain(#value) })
            }
            Outcome::Result | Outcome::Option => inner.future(&capture),
        };
        let key = hyg("__cachex_key");
        let key_expr = match &self.key {
            Some(expr) => expr.to_token_stream(),
            None => gen.default_key(),
        };
        if let (Some(arg), Outcome::Plain) = (&self.stale_if_error, gen.shape.outcome) {
            let error = syn::Error::new(
                arg.span,
                "`stale_if_error` needs a function that returns `Result` or `Option` (or the \
                 `result`/`option` flag): a stale value stands in for an `Err` or a `None`",
            )
            .into_compile_error();
            return (Code::InPlace(quote!({ #error })), false);
        }
        let background = self.stale_while_revalidate.is_some()
            || self.refresh_ahead.is_some()
            || self.soft_timeout.is_some();
        let call = if self.is_memory() && background {
            quote!(#site.failsafe(#key, #fut).await)
        } else if self.is_memory() {
            quote!(#site.memory(#key, #fut).await)
        } else if self.key.is_some() {
            quote!(#site.remote_display(&#key, #fut).await)
        } else {
            quote!(#site.remote(&#key, #fut).await)
        };
        let call = match gen.shape.outcome {
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

impl Cached {
    /// The fail-safe arguments that are set, with their names (also the site's builder methods).
    fn fail_safe(&self) -> impl Iterator<Item = (&DurationArg, &'static str)> {
        [
            (&self.stale_if_error, "stale_if_error"),
            (&self.stale_while_revalidate, "stale_while_revalidate"),
            (&self.refresh_ahead, "refresh_ahead"),
            (&self.soft_timeout, "soft_timeout"),
        ]
        .into_iter()
        .filter_map(|(arg, which)| arg.as_ref().map(|a| (a, which)))
    }

    fn is_memory(&self) -> bool {
        self.store.as_ref().is_none_or(|s| s.value() == "memory")
    }
}
