//! The argument grammar shared by the three macros.
//!
//! Every macro takes a comma-separated list of `key = value` pairs. This module knows the keys
//! (as `custom_keyword!`s), reads the kinds of value they take (string literals, durations written
//! as strings, positive integers, floats, booleans, paths, expressions, the `crate` path) and
//! reports mistakes at the offending token. What the values *mean* lives in the macro modules.

use std::fmt::Display;
use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitBool, LitFloat, LitInt, LitStr, Path, Token};

/// One argument name as written, with where it was written.
pub(crate) struct Key {
    /// The name without `r#`.
    pub(crate) name: String,
    pub(crate) span: Span,
}

impl Key {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn span(&self) -> Span {
        self.span
    }
}

impl Parse for Key {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `parse_any` also takes keywords, so `crate = ".."` and a mistaken `type = ..` are
        // both read as names.
        if input.peek(Ident::peek_any) {
            let ident = Ident::parse_any(input)?;
            return Ok(Key {
                name: ident.unraw().to_string(),
                span: ident.span(),
            });
        }
        Err(input.error("expected an argument written as `<argument> = <value>`"))
    }
}

/// Reads the value of one argument into a macro's arguments `A`: the `=` is already consumed.
pub(crate) type ReadValue<A> = fn(&mut A, &Key, ParseStream<'_>, &mut Errors) -> syn::Result<()>;

/// Records a bare flag (an argument written without `= value`).
pub(crate) type ReadFlag<A> = fn(&mut A, &Key, &mut Errors);

/// How one argument is written.
pub(crate) enum Read<A> {
    /// `name = value`.
    Value(ReadValue<A>),
    /// `name` alone.
    Flag(ReadFlag<A>),
}

/// A table row for an argument that reads one value and sets a field of the arguments once
/// (the common case): `field_row!("ttl", ttl, |input, key, errors| args::duration(input, key, false, errors))`.
macro_rules! field_row {
    ($name:literal, $field:ident, |$input:ident, $key:ident, $errors:ident| $read:expr) => {
        $crate::args::Spec::value($name, |a, $key, $input, $errors| {
            let v = $read?;
            $crate::args::set_once(&mut a.$field, $key, v, $errors);
            Ok(())
        })
    };
}
pub(crate) use field_row;

/// One row of a macro's argument table: the name, written once, and how its value is read.
/// Parsing and the "valid arguments are" list of an unknown-argument error both come from it.
pub(crate) struct Spec<A: 'static> {
    pub(crate) name: &'static str,
    pub(crate) read: Read<A>,
}

impl<A> Spec<A> {
    pub(crate) const fn value(name: &'static str, read: ReadValue<A>) -> Self {
        Spec {
            name,
            read: Read::Value(read),
        }
    }

    pub(crate) const fn flag(name: &'static str, read: ReadFlag<A>) -> Self {
        Spec {
            name,
            read: Read::Flag(read),
        }
    }
}

/// Collects the errors that do not stop parsing (a value out of range, a repeated argument), so
/// one compilation reports all of them.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn into_compile_error(self) -> TokenStream {
        self.0
            .map(syn::Error::into_compile_error)
            .unwrap_or_default()
    }
}

/// Walks `key = value, ...` (and bare flags) for the macro `macro_name`, whose arguments are
/// the rows of `table`.
pub(crate) fn parse_list<A>(
    input: ParseStream<'_>,
    macro_name: &str,
    table: &[Spec<A>],
    args: &mut A,
    errors: &mut Errors,
) -> syn::Result<()> {
    while !input.is_empty() {
        let key: Key = input.parse()?;
        let Some(spec) = table.iter().find(|spec| spec.name == key.name) else {
            let list = table
                .iter()
                .map(|spec| format!("`{}`", spec.name))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(syn::Error::new(
                key.span,
                format!(
                    "unknown argument `{}` for `#[{macro_name}]`; valid arguments are: {list}",
                    key.name
                ),
            ));
        };
        match spec.read {
            Read::Value(read) => {
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new(
                        key.span,
                        format!(
                            "expected `{} = ...`: every argument takes a value",
                            key.name
                        ),
                    ));
                }
                input.parse::<Token![=]>()?;
                read(args, &key, input, errors)?;
            }
            Read::Flag(read) => {
                if input.peek(Token![=]) {
                    return Err(syn::Error::new(
                        key.span,
                        format!(
                            "`{0}` is a flag and takes no value: write `#[{macro_name}({0})]`",
                            key.name
                        ),
                    ));
                }
                read(args, &key, errors);
            }
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

/// Marks a flag as given, once.
pub(crate) fn set_flag(slot: &mut Option<Span>, key: &Key, errors: &mut Errors) {
    set_once(slot, key, Some(key.span), errors);
}

/// Stores `value` in `slot` unless the argument was already given.
pub(crate) fn set_once<T>(slot: &mut Option<T>, key: &Key, value: Option<T>, errors: &mut Errors) {
    let Some(value) = value else { return };
    if slot.is_some() {
        errors.push(syn::Error::new(
            key.span(),
            format!("`{}` set more than once", key.name()),
        ));
    } else {
        *slot = Some(value);
    }
}

fn expected(input: ParseStream<'_>, key: &Key, what: &str, example: &str) -> syn::Error {
    let name = key.name();
    input.error(format!(
        "`{name}` expects {what}, e.g. `{name} = {example}`"
    ))
}

/// A string literal: `name = "users"`.
pub(crate) fn lit_str(input: ParseStream<'_>, key: &Key, example: &str) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        input.parse()
    } else {
        Err(expected(
            input,
            key,
            "a string literal",
            &format!("\"{example}\""),
        ))
    }
}

/// A non-empty string literal without surrounding whitespace, such as a breaker or cache name.
pub(crate) fn name_str(
    input: ParseStream<'_>,
    key: &Key,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<LitStr>> {
    let lit = lit_str(input, key, example)?;
    let value = lit.value();
    if value.trim().is_empty() {
        errors.push(syn::Error::new(
            lit.span(),
            format!("`{}` must not be empty", key.name()),
        ));
        return Ok(None);
    }
    if value.trim() != value {
        errors.push(syn::Error::new(
            lit.span(),
            format!("`{}` must not start or end with whitespace", key.name()),
        ));
        return Ok(None);
    }
    Ok(Some(lit))
}

/// A duration written as a string literal: `ttl = "60s"`.
pub(crate) struct DurationArg {
    pub(crate) value: Duration,
    pub(crate) span: Span,
}

impl DurationArg {
    /// `Duration::new(secs, nanos)` under the runtime's re-export of `Duration`.
    pub(crate) fn tokens(&self, private: &TokenStream) -> TokenStream {
        let secs = proc_macro2::Literal::u64_suffixed(self.value.as_secs());
        let nanos = proc_macro2::Literal::u32_suffixed(self.value.subsec_nanos());
        quote!(#private::Duration::new(#secs, #nanos))
    }
}

/// Reads a duration literal. `allow_zero` is false where a zero duration makes no sense.
pub(crate) fn duration(
    input: ParseStream<'_>,
    key: &Key,
    allow_zero: bool,
    errors: &mut Errors,
) -> syn::Result<Option<DurationArg>> {
    if !input.peek(LitStr) {
        return Err(expected(
            input,
            key,
            "a duration as a string literal",
            "\"30s\"",
        ));
    }
    let lit: LitStr = input.parse()?;
    match parse_duration(&lit.value()) {
        Ok(value) if value.is_zero() && !allow_zero => {
            errors.push(syn::Error::new(
                lit.span(),
                format!("`{}` must be greater than zero", key.name()),
            ));
            Ok(None)
        }
        Ok(value) => Ok(Some(DurationArg {
            value,
            span: lit.span(),
        })),
        Err(reason) => {
            errors.push(syn::Error::new(
                lit.span(),
                format!(
                    "invalid duration {:?} for `{}`: {reason}; write whole numbers with units \
                     (ns, us, ms, s, m, h, d), e.g. \"250ms\", \"30s\", \"1m30s\"",
                    lit.value(),
                    key.name()
                ),
            ));
            Ok(None)
        }
    }
}

/// Parses "250ms", "30s", "5m", "1h", "1m30s", "1h 30m". Units: ns, us (or µs), ms, s, m, h, d.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("the string is empty".to_owned());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '_')
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number at {rest:?}"));
        }
        // `find` returned a char boundary, so the split cannot fail.
        let (number_text, after) = rest.split_at(digits);
        let number: u128 = number_text
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{number_text:?} is not a number"))?;
        rest = after.trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(rest.len());
        let (unit, after) = rest.split_at(unit_len);
        let per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            "d" => 86_400 * NANOS_PER_SEC,
            "" if rest.starts_with('.') => {
                return Err(
                    "fractions are not supported (write \"1500ms\" for \"1.5s\")".to_owned(),
                )
            }
            "" => return Err(format!("the number {number} has no unit")),
            other => return Err(format!("unknown unit {other:?}")),
        };
        total = number
            .checked_mul(per_unit)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| "the duration is too long".to_owned())?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| "the duration is too long")?;
    // The remainder is below one second, so it fits.
    let nanos = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, nanos))
}

/// A negative number, read so the error can point at all of it.
fn reject_negative(input: ParseStream<'_>, key: &Key) -> syn::Result<()> {
    if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        let rest: Option<proc_macro2::TokenTree> = input.parse().ok();
        return Err(syn::Error::new_spanned(
            quote!(#minus #rest),
            format!("`{}` must be greater than zero", key.name()),
        ));
    }
    Ok(())
}

/// An integer greater than zero: `threshold = 5`.
pub(crate) fn positive_int<T>(
    input: ParseStream<'_>,
    key: &Key,
    ty: &str,
    errors: &mut Errors,
) -> syn::Result<Option<(T, Span)>>
where
    T: std::str::FromStr,
    T::Err: Display,
{
    reject_negative(input, key)?;
    if !input.peek(LitInt) {
        return Err(expected(input, key, "a positive integer", "5"));
    }
    let lit: LitInt = input.parse()?;
    let value = match lit.base10_parse::<T>() {
        Ok(value) => value,
        Err(_) => {
            errors.push(syn::Error::new(
                lit.span(),
                format!("`{}` is out of range for `{ty}`", key.name()),
            ));
            return Ok(None);
        }
    };
    if lit.base10_digits().trim_start_matches('0').is_empty() {
        errors.push(syn::Error::new(
            lit.span(),
            format!("`{}` must be greater than zero", key.name()),
        ));
        return Ok(None);
    }
    Ok(Some((value, lit.span())))
}

/// A float of at least `min`: `multiplier = 1.5` (an integer such as `2` is accepted too).
pub(crate) fn float_at_least(
    input: ParseStream<'_>,
    key: &Key,
    min: f64,
    errors: &mut Errors,
) -> syn::Result<Option<(f64, Span)>> {
    let negative = input.peek(Token![-]);
    let (is_float, is_int) = if negative {
        (input.peek2(LitFloat), input.peek2(LitInt))
    } else {
        (input.peek(LitFloat), input.peek(LitInt))
    };
    if !is_float && !is_int {
        return Err(expected(input, key, "a number", "2.0"));
    }
    let minus: Option<Token![-]> = input.parse()?;
    let (magnitude, tokens) = if is_float {
        let lit: LitFloat = input.parse()?;
        (lit.base10_parse::<f64>()?, quote!(#minus #lit))
    } else {
        let lit: LitInt = input.parse()?;
        (lit.base10_parse::<f64>()?, quote!(#minus #lit))
    };
    let value = if negative { -magnitude } else { magnitude };
    let span = tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span());
    if !value.is_finite() || value < min {
        errors.push(syn::Error::new_spanned(
            tokens,
            format!("`{}` must be a number of at least {min:?}", key.name()),
        ));
        return Ok(None);
    }
    Ok(Some((value, span)))
}

/// `true` or `false`.
pub(crate) fn boolean(input: ParseStream<'_>, key: &Key) -> syn::Result<LitBool> {
    if input.peek(LitBool) {
        input.parse()
    } else {
        Err(expected(input, key, "`true` or `false`", "true"))
    }
}

/// A path to a function: `retry_if = is_transient`.
pub(crate) fn path(input: ParseStream<'_>, key: &Key, example: &str) -> syn::Result<Path> {
    if input.peek(Ident::peek_any) || input.peek(Token![::]) {
        input.parse()
    } else {
        Err(expected(input, key, "a path to a function", example))
    }
}

/// The arguments of a macro that takes `crate = "path"` (all three do).
pub(crate) trait CrateArg {
    fn crate_slot(&mut self) -> &mut Option<Path>;
}

/// The `crate = "path"` row of a macro's argument table, shared by the three macros.
pub(crate) const fn crate_arg<A: CrateArg>() -> Spec<A> {
    Spec::value("crate", read_crate::<A>)
}

fn read_crate<A: CrateArg>(
    args: &mut A,
    key: &Key,
    input: ParseStream<'_>,
    errors: &mut Errors,
) -> syn::Result<()> {
    let path = crate_path(input, key)?;
    set_once(args.crate_slot(), key, Some(path), errors);
    Ok(())
}

/// `crate = "path"`: where the runtime is, for users who renamed or re-export it.
pub(crate) fn crate_path(input: ParseStream<'_>, key: &Key) -> syn::Result<Path> {
    let lit = lit_str(input, key, "my_runtime")?;
    lit.parse::<Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "{:?} is not a path to the cachex runtime crate",
                lit.value()
            ),
        )
    })
}

/// One of a fixed set of words in a string literal: `preset = "conservative"`.
pub(crate) fn one_of(
    input: ParseStream<'_>,
    key: &Key,
    choices: &[&str],
    errors: &mut Errors,
) -> syn::Result<Option<(String, Span)>> {
    let lit = lit_str(input, key, choices.first().copied().unwrap_or_default())?;
    let value = lit.value();
    if choices.contains(&value.as_str()) {
        Ok(Some((value, lit.span())))
    } else {
        let list = choices
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        errors.push(syn::Error::new(
            lit.span(),
            format!("unknown `{}` {value:?}; expected one of {list}", key.name()),
        ));
        Ok(None)
    }
}

/// The default runtime path, or the one given with `crate = "..."`.
pub(crate) fn runtime_path(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::cachex_runtime),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999999999999999999999d").is_err());
    }
}
