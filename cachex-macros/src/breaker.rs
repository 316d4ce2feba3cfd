//! `#[circuit_breaker]`: what its arguments mean and the code of its pipeline stage.
//!
//! The stage runs the inner future through the named breaker and yields
//! `Result<T, CallError<E>>`, so an enclosing `#[retry]` can tell a rejection from a failure. The
//! breaker's configuration is declared statically (a `BreakerDecl` in a distributed slice), so the
//! registry knows it before the function is first called.

use crate::args::field_row;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitInt, LitStr, Path};

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
    failure_rate: Option<(u32, Span)>,
    window: Option<(WindowArg, Span)>,
    minimum_calls: Option<(u32, Span)>,
    slow_call: Option<DurationArg>,
    slow_call_rate: Option<(u32, Span)>,
    max_timeout: Option<DurationArg>,
    failure_if: Option<Path>,
    key: Option<Expr>,
    krate: Option<Path>,
}

/// `window = <calls>` or `window = "<duration>"`.
enum WindowArg {
    Calls(u32),
    Time(DurationArg),
}

/// A whole percentage in `1..=100`: `failure_rate = 50`.
fn percent(
    input: ParseStream<'_>,
    key: &args::Key,
    errors: &mut Errors,
) -> syn::Result<Option<(u32, Span)>> {
    let v = args::positive_int::<u32>(input, key, "u32", errors)?;
    match v {
        Some((n, span)) if n > 100 => {
            errors.push(syn::Error::new(
                span,
                format!("`{}` is a percentage: 1..=100", key.name()),
            ));
            Ok(None)
        }
        v => Ok(v),
    }
}

/// The arguments of `#[circuit_breaker]`, in the order the docs list them.
const ARGS: &[Spec<Breaker>] = &[
    field_row!("name", name, |input, key, errors| args::name_str(
        input,
        key,
        "user-service",
        errors
    )),
    field_row!("threshold", threshold, |input, key, errors| {
        args::positive_int(input, key, "u32", errors)
    }),
    field_row!("timeout", timeout, |input, key, errors| args::duration(
        input, key, false, errors
    )),
    field_row!("half_open_max", half_open_max, |input, key, errors| {
        args::positive_int(input, key, "u32", errors)
    }),
    field_row!("call_timeout", call_timeout, |input, key, errors| {
        args::duration(input, key, false, errors)
    }),
    field_row!("preset", preset, |input, key, errors| args::one_of(
        input, key, PRESETS, errors
    )),
    Spec::value("failure_rate", |a, key, input, errors| {
        let v = percent(input, key, errors)?;
        args::set_once(&mut a.failure_rate, key, v, errors);
        Ok(())
    }),
    Spec::value("window", |a, key, input, errors| {
        let v = if input.peek(LitInt) {
            args::positive_int::<u32>(input, key, "u32", errors)?
                .map(|(n, span)| (WindowArg::Calls(n), span))
        } else if input.peek(LitStr) {
            args::duration(input, key, false, errors)?.map(|d| {
                let span = d.span;
                (WindowArg::Time(d), span)
            })
        } else {
            return Err(input.error(
                "`window` expects a number of calls or a duration, e.g. `window = 100` or `window = \"60s\"`",
            ));
        };
        args::set_once(&mut a.window, key, v, errors);
        Ok(())
    }),
    field_row!("minimum_calls", minimum_calls, |input, key, errors| {
        args::positive_int(input, key, "u32", errors)
    }),
    field_row!("slow_call", slow_call, |input, key, errors| args::duration(
        input, key, false, errors
    )),
    Spec::value("slow_call_rate", |a, key, input, errors| {
        let v = percent(input, key, errors)?;
        args::set_once(&mut a.slow_call_rate, key, v, errors);
        Ok(())
    }),
    field_row!("max_timeout", max_timeout, |input, key, errors| {
        args::duration(input, key, false, errors)
    }),
    Spec::value("failure_if", |a, key, input, errors| {
        let v = args::path(input, key, "counts_as_failure")?;
        args::set_once(&mut a.failure_if, key, Some(v), errors);
        Ok(())
    }),
    Spec::value("key", |a, key, input, errors| {
        let v: Expr = input.parse()?;
        args::set_once(&mut a.key, key, Some(v), errors);
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
        args.check(errors);
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
        let keyed = self.key.is_some();
        let decl = quote::format_ident!("{}_DECL", site);
        quote! {
            #[#private::linkme::distributed_slice(#private::BREAKERS)]
            #[linkme(crate = #private::linkme)]
            #[allow(clippy::needless_update)]
            static #decl: #private::BreakerDecl = #private::BreakerDecl {
                name: #name,
                config: #config,
                defaulted: #defaulted,
                keyed: #keyed,
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
        let b = hyg("__cachex_breaker");
        let run = match &self.failure_if {
            None => quote!(#p::breaker_run(#b, #fut).await),
            Some(path) => {
                let e = hyg("__cachex_e");
                // Steers a mismatched signature to the user's path.
                let classify = quote_spanned!(path.span()=> |#e: &_| -> bool { #path(#e) });
                let classify = if wrapped {
                    // The inner stage already yields `CallError<E>`: a rejection always counts.
                    quote!(|#e: &#p::CallError<_>| match #e {
                        #p::CallError::Inner(#e) => (#classify)(#e),
                        _ => true,
                    })
                } else {
                    classify
                };
                quote!(#p::breaker_run_with(#b, #fut, #classify).await)
            }
        };
        let call = match &self.key {
            None => quote!({
                let #b = #site.breaker();
                #run
            }),
            Some(key) => {
                let k = hyg("__cachex_bkey");
                let key = quote_spanned!(key.span()=> &(#key));
                quote!({
                    let #k = #site.keyed(#key);
                    let #b: &#p::CircuitBreaker = &#k;
                    #run
                })
            }
        };
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
        if let Some(rate) = self.rate_tokens(private) {
            fields.push(quote!(rate: ::core::option::Option::Some(#rate)));
        }
        if let Some(d) = &self.max_timeout {
            let d = d.tokens(private);
            fields.push(quote!(max_timeout: ::core::option::Option::Some(#d)));
        }
        if fields.is_empty() {
            base
        } else {
            quote!(#private::BreakerConfig { #(#fields,)* ..#base })
        }
    }
}

impl Breaker {
    /// Whether any rate argument was given (the breaker then opens on rates, not a streak).
    fn rated(&self) -> bool {
        self.failure_rate.is_some()
            || self.window.is_some()
            || self.minimum_calls.is_some()
            || self.slow_call.is_some()
            || self.slow_call_rate.is_some()
    }

    /// Combinations that cannot mean what they say.
    fn check(&self, errors: &mut Errors) {
        if let (Some((_, span)), true) = (self.threshold, self.rated()) {
            errors.push(syn::Error::new(
                span,
                "`threshold` counts consecutive failures and `failure_rate` (with `window`, `minimum_calls`, `slow_call`, `slow_call_rate`) replaces it: give one or the other",
            ));
        }
        if let (Some((_, span)), None) = (self.slow_call_rate, &self.slow_call) {
            errors.push(syn::Error::new(
                span,
                "`slow_call_rate` needs `slow_call = \"<duration>\"`: which calls are slow",
            ));
        }
        if let (Some((WindowArg::Calls(n), _)), Some((m, span))) =
            (&self.window, self.minimum_calls)
        {
            if m > *n {
                errors.push(syn::Error::new(
                    span,
                    format!("`minimum_calls` ({m}) is larger than the window ({n} calls): the breaker could never open"),
                ));
            }
        }
        if let (Some(max), Some(t)) = (&self.max_timeout, &self.timeout) {
            if max.value < t.value {
                errors.push(syn::Error::new(
                    max.span,
                    "`max_timeout` must not be shorter than `timeout`: open periods only grow",
                ));
            }
        }
    }

    /// The `RateWindow` of the rate arguments, over `RateWindow::DEFAULT`.
    fn rate_tokens(&self, private: &TokenStream) -> Option<TokenStream> {
        if !self.rated() {
            return None;
        }
        let mut fields = Vec::new();
        match &self.window {
            Some((WindowArg::Calls(n), _)) => {
                let n = proc_macro2::Literal::u32_suffixed(*n);
                fields.push(quote!(window: #private::Window::Calls(#n)));
            }
            Some((WindowArg::Time(d), _)) => {
                let d = d.tokens(private);
                fields.push(quote!(window: #private::Window::Time(#d)));
            }
            None => {}
        }
        // Without `minimum_calls`, a count window is judged once it is full (resilience4j);
        // a time window from the default 100 calls.
        let minimum = match (self.minimum_calls, &self.window) {
            (Some((m, _)), _) => Some(m),
            (None, Some((WindowArg::Calls(n), _))) => Some((*n).min(100)),
            _ => None,
        };
        if let Some(m) = minimum {
            let m = proc_macro2::Literal::u32_suffixed(m);
            fields.push(quote!(minimum_calls: #m));
        }
        if let Some((n, _)) = self.failure_rate {
            let n = proc_macro2::Literal::u32_suffixed(n);
            fields.push(quote!(failure_rate: #n));
        } else if self.slow_call_rate.is_some() {
            // Only slowness was asked for.
            fields.push(quote!(failure_rate: 0u32));
        }
        if let Some(d) = &self.slow_call {
            let d = d.tokens(private);
            fields.push(quote!(slow_call: ::core::option::Option::Some(#d)));
        }
        if let Some((n, _)) = self.slow_call_rate {
            let n = proc_macro2::Literal::u32_suffixed(n);
            fields.push(quote!(slow_call_rate: #n));
        }
        Some(quote!(#private::RateWindow { #(#fields,)* ..#private::RateWindow::DEFAULT }))
    }
}
