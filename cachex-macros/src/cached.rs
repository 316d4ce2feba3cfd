//! `#[cached]`: what its arguments mean and the code of its pipeline stage.
//!
//! The stage computes the key from the arguments, then hands the inner future to a `CacheSite`
//! static, which drops it unpolled on a hit. The memory store is typed per function; any other
//! store is looked up by name at call time and needs serialisable values.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::ParseStream;
use syn::{Expr, LitStr, Path};

use crate::args::{self, ArgName, DurationArg, Errors};

pub(crate) const MACRO: &str = "cached";

const VALID: &[&str] = &["name", "ttl", "capacity", "store", "key", "crate"];

#[derive(Default)]
pub(crate) struct Args {
    name: Option<LitStr>,
    ttl: Option<DurationArg>,
    capacity: Option<(u64, Span)>,
    store: Option<LitStr>,
    pub(crate) key: Option<Expr>,
    pub(crate) krate: Option<Path>,
}

impl Args {
    pub(crate) fn parse(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Self> {
        let mut args = Args::default();
        args::parse_list(input, MACRO, VALID, errors, |key, input, errors| {
            match &key {
                ArgName::Name(_) => {
                    let v = args::name_str(input, &key, "users", errors)?;
                    args::set_once(&mut args.name, &key, v, errors);
                }
                ArgName::Ttl(_) => {
                    let v = args::duration(input, &key, false, errors)?;
                    args::set_once(&mut args.ttl, &key, v, errors);
                }
                ArgName::Capacity(_) => {
                    let v = args::positive_int(input, &key, "u64", errors)?;
                    args::set_once(&mut args.capacity, &key, v, errors);
                }
                ArgName::Store(_) => {
                    let v = args::name_str(input, &key, "memory", errors)?;
                    if let Some(lit) = &v {
                        if lit.value().chars().any(char::is_whitespace) {
                            errors.push(syn::Error::new(
                                lit.span(),
                                "`store` names a store registered with `registry().set_store`, \
                                 such as \"memory\"; store names contain no whitespace",
                            ));
                        }
                    }
                    args::set_once(&mut args.store, &key, v, errors);
                }
                ArgName::Key(_) => {
                    let v: Expr = input.parse()?;
                    args::set_once(&mut args.key, &key, Some(v), errors);
                }
                ArgName::Crate(_) => {
                    let v = args::crate_path(input, &key)?;
                    args::set_once(&mut args.krate, &key, Some(v), errors);
                }
                _ => return Err(args::unexpected(&key)),
            }
            Ok(())
        })?;
        if let (Some((_, span)), false) = (&args.capacity, args.is_memory()) {
            errors.push(syn::Error::new(
                *span,
                "`capacity` applies to the memory store only; the size of another store is set \
                 where the store is built",
            ));
        }
        Ok(args)
    }

    pub(crate) fn is_memory(&self) -> bool {
        self.store.as_ref().is_none_or(|s| s.value() == "memory")
    }

    /// The `CacheSite` static, and the declaration that tells the registry about the cache
    /// before its first call.
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
        let decl = quote::format_ident!("{}_DECL", site);
        quote! {
            #[#private::linkme::distributed_slice(#private::CACHES)]
            #[linkme(crate = #private::linkme)]
            static #decl: #private::CacheDecl = #private::CacheDecl {
                name: #name,
                store: #store,
            };
            static #site: #private::CacheSite = #private::CacheSite::new(#name, #store) #ttl #capacity;
        }
    }
}
