//! `#[retry]`: what its arguments mean and the code of its pipeline stage.
//!
//! The stage is an inline loop over a `RetrySite` static: attempt 1 costs nothing but the call,
//! the policy is looked up (at call time, so tests can swap it) only after a failure. Each attempt
//! runs the inner stages afresh with clones of the arguments.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::ParseStream;
use syn::{LitBool, LitStr, Path};

use crate::args::{self, ArgName, DurationArg, Errors};

pub(crate) const MACRO: &str = "retry";

const VALID: &[&str] = &[
    "policy",
    "max_attempts",
    "initial_delay",
    "max_delay",
    "multiplier",
    "jitter",
    "retry_if",
    "crate",
];

#[derive(Default)]
pub(crate) struct Args {
    policy: Option<LitStr>,
    max_attempts: Option<(u32, Span)>,
    initial_delay: Option<DurationArg>,
    max_delay: Option<DurationArg>,
    multiplier: Option<(f64, Span)>,
    jitter: Option<LitBool>,
    pub(crate) retry_if: Option<Path>,
    pub(crate) krate: Option<Path>,
}

impl Args {
    pub(crate) fn parse(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Self> {
        let mut args = Args::default();
        args::parse_list(input, MACRO, VALID, errors, |key, input, errors| {
            match &key {
                ArgName::Policy(_) => {
                    let v = args::name_str(input, &key, "default", errors)?;
                    args::set_once(&mut args.policy, &key, v, errors);
                }
                ArgName::MaxAttempts(_) => {
                    let v = args::positive_int(input, &key, "u32", errors)?;
                    args::set_once(&mut args.max_attempts, &key, v, errors);
                }
                ArgName::InitialDelay(_) => {
                    let v = args::duration(input, &key, true, errors)?;
                    args::set_once(&mut args.initial_delay, &key, v, errors);
                }
                ArgName::MaxDelay(_) => {
                    let v = args::duration(input, &key, true, errors)?;
                    args::set_once(&mut args.max_delay, &key, v, errors);
                }
                ArgName::Multiplier(_) => {
                    let v = args::float_at_least(input, &key, 1.0, errors)?;
                    args::set_once(&mut args.multiplier, &key, v, errors);
                }
                ArgName::Jitter(_) => {
                    let v = args::boolean(input, &key)?;
                    args::set_once(&mut args.jitter, &key, Some(v), errors);
                }
                ArgName::RetryIf(_) => {
                    let v = args::path(input, &key, "is_transient")?;
                    args::set_once(&mut args.retry_if, &key, Some(v), errors);
                }
                ArgName::Crate(_) => {
                    let v = args::crate_path(input, &key)?;
                    args::set_once(&mut args.krate, &key, Some(v), errors);
                }
                _ => return Err(args::unexpected(&key)),
            }
            Ok(())
        })?;
        if let (Some(initial), Some(max)) = (&args.initial_delay, &args.max_delay) {
            if initial.value > max.value {
                errors.push(syn::Error::new(
                    initial.span,
                    "`initial_delay` is longer than `max_delay`",
                ));
            }
        }
        Ok(args)
    }

    /// The `RetrySite` static: the policy name, with the explicit fields as const overrides.
    pub(crate) fn statics(&self, private: &TokenStream, site: &syn::Ident) -> TokenStream {
        let policy = match &self.policy {
            Some(lit) => quote!(#lit),
            None => quote!("default"),
        };
        let mut overrides = Vec::new();
        if let Some((n, _)) = self.max_attempts {
            let n = proc_macro2::Literal::u32_suffixed(n);
            overrides.push(quote!(.max_attempts(#n)));
        }
        if let Some(d) = &self.initial_delay {
            let d = d.tokens(private);
            overrides.push(quote!(.initial_delay(#d)));
        }
        if let Some(d) = &self.max_delay {
            let d = d.tokens(private);
            overrides.push(quote!(.max_delay(#d)));
        }
        if let Some((m, _)) = self.multiplier {
            let m = proc_macro2::Literal::f64_suffixed(m);
            overrides.push(quote!(.multiplier(#m)));
        }
        if let Some(j) = &self.jitter {
            overrides.push(quote!(.jitter(#j)));
        }
        quote! {
            static #site: #private::RetrySite = #private::RetrySite::new(#policy) #(#overrides)*;
        }
    }
}
