//! `#[retry]`: what its arguments mean and the code of its pipeline stage.
//!
//! The stage is an inline loop over a `RetrySite` static: attempt 1 costs the call and one
//! per-thread counter store (the first attempts a retry budget is measured against);
//! the policy is looked up (at call time, so tests can swap it) only after a failure. Each attempt
//! runs the inner stages afresh with clones of the arguments. `retry_after` hands the error's own
//! hint to the site's wait; `deadline` runs each attempt within what is left of the call's span
//! and turns an attempt cut short into `E::from(Error::Timeout)`, at the user's error type.

use crate::args::field_row;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Ident, LitBool, LitStr, Path};

use crate::args::{self, DurationArg, Errors, Spec};
use crate::expand::{hyg, Code, Gen, Stage, StageArgs};
use crate::shape::Passing;

#[derive(Default)]
pub(crate) struct Retry {
    policy: Option<LitStr>,
    max_attempts: Option<(u32, Span)>,
    initial_delay: Option<DurationArg>,
    max_delay: Option<DurationArg>,
    multiplier: Option<(f64, Span)>,
    jitter: Option<LitBool>,
    retry_if: Option<Path>,
    retry_after: Option<Path>,
    deadline: Option<DurationArg>,
    krate: Option<Path>,
}

/// The arguments of `#[retry]`, in the order the docs list them.
const ARGS: &[Spec<Retry>] = &[
    field_row!("policy", policy, |input, key, errors| args::name_str(
        input, key, "default", errors
    )),
    field_row!("max_attempts", max_attempts, |input, key, errors| {
        args::positive_int(input, key, "u32", errors)
    }),
    field_row!("initial_delay", initial_delay, |input, key, errors| {
        args::duration(input, key, true, errors)
    }),
    field_row!("max_delay", max_delay, |input, key, errors| args::duration(
        input, key, true, errors
    )),
    field_row!("multiplier", multiplier, |input, key, errors| {
        args::float_at_least(input, key, 1.0, errors)
    }),
    Spec::value("jitter", |a, key, input, errors| {
        let v = args::boolean(input, key)?;
        args::set_once(&mut a.jitter, key, Some(v), errors);
        Ok(())
    }),
    Spec::value("retry_if", |a, key, input, errors| {
        let v = args::path(input, key, "is_transient")?;
        args::set_once(&mut a.retry_if, key, Some(v), errors);
        Ok(())
    }),
    Spec::value("retry_after", |a, key, input, errors| {
        let v = args::path(input, key, "retry_hint")?;
        args::set_once(&mut a.retry_after, key, Some(v), errors);
        Ok(())
    }),
    field_row!("deadline", deadline, |input, key, errors| args::duration(
        input, key, false, errors
    )),
    args::crate_arg(),
];

impl args::CrateArg for Retry {
    fn crate_slot(&mut self) -> &mut Option<Path> {
        &mut self.krate
    }
}

impl StageArgs for Retry {
    const MACRO: &'static str = "retry";

    fn parse(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Self> {
        let mut args = Retry::default();
        args::parse_list(input, Self::MACRO, ARGS, &mut args, errors)?;
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
}

impl Stage for Retry {
    fn name(&self) -> &'static str {
        Self::MACRO
    }

    fn krate(&self) -> Option<&Path> {
        self.krate.as_ref()
    }

    fn needs_result(&self) -> bool {
        true
    }

    fn repeats_inner(&self) -> bool {
        true
    }

    /// The `RetrySite` static: the policy name, with the explicit fields as const overrides.
    fn statics(&self, gen: &Gen<'_>, site: &Ident) -> TokenStream {
        self.site(gen.private, site, gen.default_name)
    }

    /// An inline loop: each attempt copies the arguments and runs the inner stages afresh.
    fn wrap(
        &self,
        gen: &Gen<'_>,
        site: &Ident,
        inner: Code,
        wrapped: bool,
        _in_retry: bool,
    ) -> (Code, bool) {
        let p = gen.private;
        let attempt = inner.in_place();
        let copies = gen.shape.args.iter().map(|arg| {
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
        let pred = self
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
        // Only an open breaker's rejection is never retried. A breaker's call timeout is a
        // failure like any other: it becomes the function's `E` here, so `retry_if` decides
        // about it as about any error.
        let attempt = if wrapped {
            let (e_at_type, from) = gen.error_into_e();
            quote! {
                match #attempt {
                    ::core::result::Result::Err(#p::CallError::Rejected(#e_at_type))
                        if !#p::Error::is_circuit_open(&#e_at_type) =>
                    {
                        ::core::result::Result::Err(#p::CallError::Inner(#from))
                    }
                    #r => #r,
                }
            }
        } else {
            attempt
        };
        // `retry_after`: the error's own hint of when to try again.
        let wait = match &self.retry_after {
            None => quote!(#st.retry().await),
            Some(path) => {
                // Spanned at the path, so a hint of the wrong type is reported there.
                let hint = if wrapped {
                    let inner = hyg("__cachex_inner");
                    let call = quote_spanned!(path.span()=> (#path)(#inner));
                    quote! {
                        match &#e {
                            #p::CallError::Inner(#inner) => #call,
                            #p::CallError::Rejected(_) => ::core::option::Option::None,
                        }
                    }
                } else {
                    quote_spanned!(path.span()=> (#path)(&#e))
                };
                quote!(#st.retry_hinted(#hint).await)
            }
        };
        // `deadline`: each attempt runs within what is left of it; one cut short ends the call
        // with a timeout, converted to `E` at the user's error type.
        let attempt = if self.deadline.is_some() {
            let timed_out = if wrapped {
                quote!(::core::result::Result::Err(#p::CallError::Rejected(#st.timeout())))
            } else {
                let (e_at_type, from) = gen.error_into_e();
                quote! {{
                    let #e_at_type = #st.timeout();
                    ::core::result::Result::Err(#from)
                }}
            };
            quote! {
                match #st.attempt(async { #attempt }).await {
                    ::core::option::Option::Some(#r) => #r,
                    ::core::option::Option::None => break #timed_out,
                }
            }
        } else {
            attempt
        };
        let code = quote! {{
            let mut #st = #site.begin();
            loop {
                #(#copies)*
                let #r = #attempt;
                match #r {
                    ::core::result::Result::Ok(#v) => break ::core::result::Result::Ok(#v),
                    ::core::result::Result::Err(#e) => {
                        if #should_retry && #wait {
                            continue;
                        }
                        break ::core::result::Result::Err(#e);
                    }
                }
            }
        }};
        (Code::InPlace(code), wrapped)
    }
}

impl Retry {
    fn site(&self, private: &TokenStream, site: &Ident, name: &TokenStream) -> TokenStream {
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
        if let Some(d) = &self.deadline {
            let d = d.tokens(private);
            overrides.push(quote!(.deadline(#d, #name)));
        }
        quote! {
            static #site: #private::RetrySite = #private::RetrySite::new(#policy) #(#overrides)*;
        }
    }
}
