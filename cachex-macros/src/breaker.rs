//! `#[circuit_breaker]`: what its arguments mean and the code of its pipeline stage.
//!
//! The stage runs the inner future through the named breaker and yields
//! `Result<T, CallError<E>>`, so an enclosing `#[retry]` can tell a rejection from a failure. The
//! breaker's configuration is declared statically (a `BreakerDecl` in a distributed slice), so the
//! registry knows it before the function is first called.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::ParseStream;
use syn::{LitStr, Path};

use crate::args::{self, ArgName, DurationArg, Errors};

pub(crate) const MACRO: &str = "circuit_breaker";

const VALID: &[&str] = &[
    "name",
    "threshold",
    "timeout",
    "half_open_max",
    "call_timeout",
    "preset",
    "crate",
];

const PRESETS: &[&str] = &["default", "conservative", "aggressive"];

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    threshold: Option<(u32, Span)>,
    timeout: Option<DurationArg>,
    half_open_max: Option<(u32, Span)>,
    call_timeout: Option<DurationArg>,
    preset: Option<(String, Span)>,
    pub(crate) krate: Option<Path>,
}

impl Args {
    pub(crate) fn parse(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Self> {
        let mut args = Args::default();
        args::parse_list(input, MACRO, VALID, errors, |key, input, errors| {
            match &key {
                ArgName::Name(_) => {
                    let v = args::name_str(input, &key, "user-service", errors)?;
                    args::set_once(&mut args.name, &key, v, errors);
                }
                ArgName::Threshold(_) => {
                    let v = args::positive_int(input, &key, "u32", errors)?;
                    args::set_once(&mut args.threshold, &key, v, errors);
                }
                ArgName::Timeout(_) => {
                    let v = args::duration(input, &key, false, errors)?;
                    args::set_once(&mut args.timeout, &key, v, errors);
                }
                ArgName::HalfOpenMax(_) => {
                    let v = args::positive_int(input, &key, "u32", errors)?;
                    args::set_once(&mut args.half_open_max, &key, v, errors);
                }
                ArgName::CallTimeout(_) => {
                    let v = args::duration(input, &key, false, errors)?;
                    args::set_once(&mut args.call_timeout, &key, v, errors);
                }
                ArgName::Preset(_) => {
                    let v = args::one_of(input, &key, PRESETS, errors)?;
                    args::set_once(&mut args.preset, &key, v, errors);
                }
                ArgName::Crate(_) => {
                    let v = args::crate_path(input, &key)?;
                    args::set_once(&mut args.krate, &key, Some(v), errors);
                }
                _ => return Err(args::unexpected(&key)),
            }
            Ok(())
        })?;
        Ok(args)
    }

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

    /// The statics of this stage: the declaration for the registry and the call site.
    pub(crate) fn statics(
        &self,
        private: &TokenStream,
        site: &syn::Ident,
        default_name: &TokenStream,
    ) -> TokenStream {
        let name = match &self.name {
            Some(lit) => quote!(#lit),
            None => default_name.clone(),
        };
        let config = self.config(private);
        let decl = quote::format_ident!("{}_DECL", site);
        quote! {
            #[#private::linkme::distributed_slice(#private::BREAKERS)]
            #[linkme(crate = #private::linkme)]
            static #decl: #private::BreakerDecl = #private::BreakerDecl {
                name: #name,
                config: #config,
            };
            static #site: #private::BreakerSite = #private::BreakerSite::new(#name);
        }
    }
}
