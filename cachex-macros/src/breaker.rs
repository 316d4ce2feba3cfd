//! `#[circuit_breaker]`: what its arguments mean and the code of its pipeline stage.
//!
//! The stage runs the inner future through the named breaker and yields
//! `Result<T, CallError<E>>`, so an enclosing `#[retry]` can tell a rejection from a failure. The
//! breaker's configuration is declared statically (a `BreakerDecl` in a distributed slice), so the
//! registry knows it before the function is first called.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::ParseStream;
use syn::{Ident, LitStr, Path};

use crate::args::{self, DurationArg, Errors, Spec};
use crate::expand::{hyg, Code, Gen, Stage, StageArgs};

const PRESETS: &[&str] = &["default", "conservative", "aggressive"];

#[derive(Default)]
pub(crate) struct Breaker {
    name: Option<LitStr>,
    threshold: Option<(u32, Span)>,
    timeout: Option<DurationArg>,
    half_open_max: Option<(u32, Span)>,
    call_timeout: Option<DurationArg>,
    preset: Option<(String, Span)>,
    krate: Option<Path>,
}

/// The arguments of `#[circuit_breaker]`, in the order the docs list them.
const ARGS: &[Spec<Breaker>] = &[
    Spec::value("name", |a, key, input, errors| {
        let v = args::name_str(input, key, "user-service", errors)?;
        args::set_once(&mut a.name, key, v, errors);
        Ok(())
    }),
    Spec::value("threshold", |a, key, input, errors| {
        let v = args::positive_int(input, key, "u32", errors)?;
        args::set_once(&mut a.threshold, key, v, errors);
        Ok(())
    }),
    Spec::value("timeout", |a, key, input, errors| {
        let v = args::duration(input, key, false, errors)?;
        args::set_once(&mut a.timeout, key, v, errors);
        Ok(())
    }),
    Spec::value("half_open_max", |a, key, input, errors| {
        let v = args::positive_int(input, key, "u32", errors)?;
        args::set_once(&mut a.half_open_max, key, v, errors);
        Ok(())
    }),
    Spec::value("call_timeout", |a, key, input, errors| {
        let v = args::duration(input, key, false, errors)?;
        args::set_once(&mut a.call_timeout, key, v, errors);
        Ok(())
    }),
    Spec::value("preset", |a, key, input, errors| {
        let v = args::one_of(input, key, PRESETS, errors)?;
        args::set_once(&mut a.preset, key, v, errors);
        Ok(())
    }),
    args::crate_arg(),
];

impl args::CrateArg for Breaker {
    fn crate_slot(&mut self) -> &mut Option<Path> {
        &mut self.krate
    }
}

impl StageArgs for Breaker {
    const MACRO: &'static str = "circuit_breaker";

    fn parse(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Self> {
        let mut args = Breaker::default();
        args::parse_list(input, Self::MACRO, ARGS, &mut args, errors)?;
        Ok(args)
    }
}

impl Stage for Breaker {
    fn name(&self) -> &'static str {
        Self::MACRO
    }

    fn krate(&self) -> Option<&Path> {
        self.krate.as_ref()
    }

    fn needs_result(&self) -> bool {
        true
    }

    fn defaulted_name(&self) -> Option<&'static str> {
        self.name.is_none().then_some("breaker")
    }

    /// The declaration for the registry and the call site. A defaulted name says so, so that the
    /// registry keeps apart two declarations that defaulted to one name.
    fn statics(&self, gen: &Gen<'_>, site: &Ident) -> TokenStream {
        let private = gen.private;
        let (name, defaulted) = match &self.name {
            Some(lit) => (quote!(#lit), false),
            None => (gen.default_name.clone(), true),
        };
        let config = self.config(private);
        let decl = quote::format_ident!("{}_DECL", site);
        quote! {
            #[#private::linkme::distributed_slice(#private::BREAKERS)]
            #[linkme(crate = #private::linkme)]
            static #decl: #private::BreakerDecl = #private::BreakerDecl {
                name: #name,
                config: #config,
                defaulted: #defaulted,
            };
            static #site: #private::BreakerSite = #private::BreakerSite::declared(&#decl);
        }
    }

    /// Runs the inner future through the breaker, yielding `Result<T, CallError<E>>` so that an
    /// enclosing `#[retry]` can tell a rejection from a failure.
    fn wrap(
        &self,
        gen: &Gen<'_>,
        site: &Ident,
        inner: Code,
        wrapped: bool,
        in_retry: bool,
    ) -> (Code, bool) {
        let p = gen.private;
        let fut = inner.future(&gen.capture(in_retry));
        let call = quote!(#p::breaker_run(#site.breaker(), #fut).await);
        let call = if wrapped { flatten(p, call) } else { call };
        (Code::InPlace(call), true)
    }
}

/// A breaker around a breaker: a rejection by either stays a rejection.
fn flatten(p: &TokenStream, expr: TokenStream) -> TokenStream {
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

impl Breaker {
    /// The `BreakerConfig` constant: the preset, with the explicit fields over it.
    fn config(&self, private: &TokenStream) -> TokenStream {
        let base = match self.preset.as_ref().map(|(p, _)| p.as_str()) {
            Some("conservative") => quote!(#private::BreakerConfig::conservative()),
            Some("aggressive") => quote!(#private::BreakerConfig::aggressive()),
            _ => quote!(#private::BreakerConfig::DEFAULT),
        };
        let mut fields = Vec::new();
        if let Some((n, _)) = self.threshold {
            let n = proc_macro2::Literal::u32_suffixed(n);
            fields.push(quote!(threshold: #n));
        }
        if let Some(d) = &self.timeout {
            let d = d.tokens(private);
            fields.push(quote!(timeout: #d));
        }
        if let Some((n, _)) = self.half_open_max {
            let n = proc_macro2::Literal::u32_suffixed(n);
            fields.push(quote!(half_open_max: #n));
        }
        if let Some(d) = &self.call_timeout {
            let d = d.tokens(private);
            fields.push(quote!(call_timeout: ::core::option::Option::Some(#d)));
        }
        if fields.is_empty() {
            base
        } else {
            quote!(#private::BreakerConfig { #(#fields,)* ..#base })
        }
    }
}
