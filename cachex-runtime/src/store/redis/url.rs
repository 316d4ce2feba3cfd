//! Redis URLs as they may be shown: every credential (the password of `user:pass@`, a `?pass=` or
//! `?password=` query value, and anything that an unencoded `/`, `?` or `#` in a password pushed
//! into the path, query or fragment) replaced by `***` wherever a URL or a message about it is
//! displayed; the client's connection settings made from the URL; advice on errors that do not
//! explain themselves; and the glob escaping `SCAN MATCH` needs.

use std::fmt;
use std::sync::Arc;

use redis::{ConnectionInfo, ErrorKind, IntoConnectionInfo, RedisError};

use crate::Error;

/// What an elided credential is shown as.
const REDACTED: &str = "***";

/// The URL schemes the client accepts.
const SCHEMES: [&str; 7] = [
    "redis",
    "rediss",
    "valkey",
    "valkeys",
    "redis+unix",
    "valkey+unix",
    "unix",
];

/// The accepted URL forms, for error messages.
const EXPECTED: &str = "expected redis://[user[:password]@]host[:port][/db], rediss://... (TLS), \
     valkey://..., valkeys://..., or a unix socket as redis+unix:///path?pass=...&db=N \
     (also valkey+unix:// or unix://)";

/// What to do about a password with a character that ends its part of the URL.
const ENCODE_HINT: &str = "if the password contains `/`, `?` or `#`, percent-encode them \
     (`/` as `%2F`, `?` as `%3F`, `#` as `%23`; likewise `@` as `%40`, `:` as `%3A` and `%` as `%25`)";

/// Query parameters that carry a password (the client reads `pass` on unix sockets; cachex
/// also reads `password`, on every scheme).
const CREDENTIAL_KEYS: [&str; 2] = ["pass", "password"];
/// Query parameters shown as written; any other is shown as `***` whole, since it may be the
/// tail of a password that an unencoded `?` cut off.
const SHOWN_KEYS: [&str; 3] = ["db", "protocol", "user"];

/// A Redis URL as it may be shown, and the secrets to scrub from any text about it.
pub(super) struct RedactedUrl {
    /// The URL with every credential replaced by `***`.
    pub(super) shown: String,
    /// Every credential as written in the URL and decoded; empty strings are dropped, the
    /// longest first.
    secrets: Vec<String>,
    pub(super) tls: bool,
    /// Where the store connects, as the client will see it: `tcp://host:port`,
    /// `tls://host:port` or `unix:/path`. Two URLs with one endpoint reach one server.
    pub(super) endpoint: String,
}

impl RedactedUrl {
    /// Parses `raw`, refusing what the client cannot use with a message that says how to fix
    /// it and never repeats the URL.
    pub(super) fn parse(raw: &str) -> Result<Self, Error> {
        let mut url = url::Url::parse(raw).map_err(|e| Error::invalid(parse_error(e)))?;
        let scheme = url.scheme().to_owned();
        if !SCHEMES.contains(&scheme.as_str()) {
            return Err(Error::invalid(format!(
                "RedisStore URL scheme `{scheme}` is not supported: use one of redis://, \
                 rediss://, valkey://, valkeys://, redis+unix://, valkey+unix:// or unix:// ({EXPECTED})"
            )));
        }
        if url.fragment().is_some_and(|f| f != "insecure") {
            // The client reads only `#insecure` (and only on TLS URLs); anything else after a
            // `#` is most likely the tail of a password, and is not shown.
            return Err(Error::invalid(format!(
                "invalid Redis URL: the only fragment it may end with is `#insecure` (on \
                 rediss://, to skip the certificate check); a `#` in the password must be \
                 percent-encoded as `%23` ({ENCODE_HINT}); {EXPECTED}"
            )));
        }
        let unix = scheme.ends_with("unix");
        let tls = scheme == "rediss" || scheme == "valkeys";

        let mut secrets = Vec::new();
        let hide = |raw: &str, secrets: &mut Vec<String>| {
            secrets.push(raw.to_owned());
            secrets.push(percent_decode(raw));
        };
        if let Some(password) = url.password() {
            hide(password, &mut secrets);
        }
        let query = url.query().map(|query| redact_query(query, &mut secrets));
        if let Some(fragment) = url.fragment().filter(|f| *f != "insecure") {
            hide(fragment, &mut secrets);
        }
        let path = url.path().trim_matches('/');
        let odd_path = !unix && !path.is_empty() && path.parse::<i64>().is_err();
        if odd_path {
            hide(path, &mut secrets);
        }
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();

        let endpoint = if unix {
            match url.to_file_path() {
                Ok(path) => format!("unix:{}", path.display()),
                Err(()) => format!("unix:{}", percent_decode(url.path())),
            }
        } else {
            format!(
                "{}://{}:{}",
                if tls { "tls" } else { "tcp" },
                url.host_str().unwrap_or_default(),
                url.port().unwrap_or(DEFAULT_PORT)
            )
        };

        let redacted =
            (url.password().is_none() || url.set_password(Some(REDACTED)).is_ok()).then(|| {
                if let Some(query) = &query {
                    url.set_query(Some(query));
                }
                if url.fragment().is_some_and(|f| f != "insecure") {
                    url.set_fragment(Some(REDACTED));
                }
                if odd_path {
                    url.set_path(REDACTED);
                }
                url.to_string()
            });
        Ok(RedactedUrl {
            // A password that cannot be replaced in place: show nothing but the scheme.
            shown: redacted.unwrap_or_else(|| format!("{scheme}://{REDACTED}")),
            secrets,
            tls,
            endpoint,
        })
    }

    /// The client's connection settings for `raw` (the URL this was parsed from): what the
    /// client reads from it, plus a password given as `?password=` (or `?pass=` on TCP, which
    /// the client reads only on unix sockets).
    pub(super) fn connection_info(&self, raw: &str) -> Result<ConnectionInfo, Error> {
        let url = url::Url::parse(raw).map_err(|e| Error::invalid(parse_error(e)))?;
        let query_password = url
            .query_pairs()
            .find(|(key, _)| CREDENTIAL_KEYS.contains(&key.as_ref()))
            .map(|(_, value)| value.into_owned());
        let info = url.into_connection_info().map_err(|e| {
            let text = e.to_string();
            let hint = if text.contains("fragment") {
                "; a `#` in the password must be percent-encoded as `%23`"
            } else if text.contains("database number") {
                "; the path (or `?db=`) must be a database number such as `/0`, and a `/` in \
                 the password must be percent-encoded as `%2F`"
            } else {
                ""
            };
            Error::invalid(format!(
                "RedisStore URL {self} is not usable: {}{hint}",
                self.scrub(&e.to_string())
            ))
        })?;
        Ok(match query_password {
            Some(password) if info.redis_settings().password().is_none() => {
                let redis = info.redis_settings().clone().set_password(password);
                info.set_redis_settings(redis)
            }
            _ => info,
        })
    }

    /// `text` with every credential replaced by `***`: a last line of defence for messages that
    /// come from the client library.
    pub(super) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }

    /// Whether `text` carries none of the credentials.
    pub(super) fn is_clean(&self, text: &str) -> bool {
        !self
            .secrets
            .iter()
            .any(|secret| text.contains(secret.as_str()))
    }

    /// `e` as the source of a store error: itself when neither its text nor its Debug carries a
    /// credential (the client's errors never repeat the URL), else only its scrubbed text.
    pub(super) fn cause(&self, e: RedisError) -> Arc<dyn std::error::Error + Send + Sync> {
        if self.is_clean(&e.to_string()) && self.is_clean(&format!("{e:?}")) {
            Arc::new(e)
        } else {
            Arc::new(Scrubbed(self.scrub(&e.to_string())))
        }
    }

    /// How to show client error `e`: its own text, followed by what to do when that text does
    /// not say it (a refused certificate or password, nothing listening); for a server that is
    /// not Redis, only that advice (the client's text is raw byte codes; it stays the source).
    pub(super) fn describe(&self, e: &RedisError) -> String {
        let text = e.to_string();
        let endpoint = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.trim_start_matches("unix:"), |(_, address)| {
                address
            });
        let advice = if e.kind() == ErrorKind::Parse {
            let tls = if self.tls {
                ""
            } else {
                " (a server that wants TLS needs a rediss:// URL)"
            };
            return format!(
                "the server at {endpoint} does not speak RESP: is it Redis, and is the port \
                 right?{tls}"
            );
        } else if text.to_ascii_lowercase().contains("certificate") {
            "the server's certificate was refused: give its CA with \
             RedisStoreBuilder::tls_ca(pem) (and a client certificate with tls_client_cert if \
             the server asks for one), or append #insecure to the URL to skip the check"
                .to_owned()
        } else if e.kind() == ErrorKind::AuthenticationFailed || e.code() == Some("WRONGPASS") {
            format!("the server at {endpoint} refused the user or password of the URL")
        } else if e.code() == Some("NOAUTH") {
            format!(
                "the server at {endpoint} needs a password: put it in the URL \
                 (redis://:password@host, or ?pass= on a unix socket)"
            )
        } else if e.is_connection_refusal() {
            format!("nothing accepts connections at {endpoint}: is Redis running there?")
        } else {
            return text;
        };
        format!("{text} ({advice})")
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The text of a client error that carried a credential, scrubbed: what a store error chains
/// instead of that error.
#[derive(Debug)]
struct Scrubbed(String);

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Scrubbed {}

/// The port of a URL without one.
const DEFAULT_PORT: u16 = 6379;

/// The message for a URL the parser refused; the parser's own text never repeats the input.
fn parse_error(e: url::ParseError) -> String {
    use url::ParseError as P;
    match e {
        P::InvalidPort | P::EmptyHost | P::InvalidDomainCharacter | P::IdnaError => {
            format!("invalid Redis URL ({e}): {ENCODE_HINT}; {EXPECTED}")
        }
        P::RelativeUrlWithoutBase => {
            format!("invalid Redis URL ({e}): it has no scheme; {EXPECTED}")
        }
        _ => format!("invalid Redis URL ({e}); {EXPECTED}"),
    }
}

/// `query` with the value of every credential parameter replaced by `***`, and every unknown
/// parameter replaced by `***` whole; what is hidden goes to `secrets`.
fn redact_query(query: &str, secrets: &mut Vec<String>) -> String {
    let mut shown = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key_decoded = form_decode(key);
        if CREDENTIAL_KEYS.contains(&key_decoded.as_str()) {
            secrets.push(value.to_owned());
            secrets.push(percent_decode(value));
            secrets.push(form_decode(value));
            shown.push(format!("{key}={REDACTED}"));
        } else if SHOWN_KEYS.contains(&key_decoded.as_str()) || pair.is_empty() {
            shown.push(pair.to_owned());
        } else {
            secrets.push(pair.to_owned());
            secrets.push(percent_decode(pair));
            shown.push(REDACTED.to_owned());
        }
    }
    shown.join("&")
}

/// `application/x-www-form-urlencoded` decoding of one query component, as the client reads
/// query values (`+` is a space).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(s.as_bytes())
        .next()
        .map(|(key, _)| key.into_owned())
        .unwrap_or_default()
}

/// Decodes `%XX` escapes (as in a URL's userinfo); anything malformed is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            if let [h, l, after @ ..] = tail {
                if let (Some(h), Some(l)) = (hex(*h), hex(*l)) {
                    out.push((h << 4) | l);
                    rest = after;
                    continue;
                }
            }
        }
        out.push(first);
        rest = tail;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one hexadecimal digit.
fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// `s` with the glob metacharacters of `SCAN MATCH` escaped, so it matches only itself.
pub(super) fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(8));
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_metacharacters_are_escaped() {
        assert_eq!(escape_glob("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
        assert_eq!(escape_glob("cachex:users:"), "cachex:users:");
    }

    #[test]
    fn percent_decoding_of_passwords() {
        assert_eq!(percent_decode("p%40ss%3Aw"), "p@ss:w");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41"), "A");
    }

    #[test]
    fn urls_are_shown_without_password() {
        let url = RedactedUrl::parse("redis://user:p%40ss@host:6379/2").unwrap();
        assert_eq!(url.shown, "redis://user:***@host:6379/2");
        assert_eq!(url.scrub("auth p@ss and p%40ss"), "auth *** and ***");
        assert!(!url.tls);
        let url = RedactedUrl::parse("rediss://:topsecret@host").unwrap();
        assert_eq!(url.shown, "rediss://:***@host");
        assert!(url.tls);
        let url = RedactedUrl::parse("redis://host").unwrap();
        assert_eq!(url.shown, "redis://host");
        assert_eq!(url.scrub("x"), "x");
    }

    #[test]
    fn query_credentials_and_unknown_parameters_are_hidden() {
        let url = RedactedUrl::parse("redis+unix:///run/r.sock?db=2&pass=a%40b&user=app").unwrap();
        assert_eq!(url.shown, "redis+unix:///run/r.sock?db=2&pass=***&user=app");
        assert_eq!(url.endpoint, "unix:/run/r.sock");
        assert_eq!(url.scrub("a@b a%40b"), "*** ***");
        let url = RedactedUrl::parse("unix:///run/r.sock?password=x+y").unwrap();
        assert_eq!(url.shown, "unix:///run/r.sock?password=***");
        assert_eq!(url.scrub("x y"), "***");
        // `redis://u:12?tail@host`: the `?` cut the password; its tail is the query.
        let url = RedactedUrl::parse("redis://u:12?tail-of-pw@host").unwrap();
        assert!(!url.shown.contains("tail-of-pw"), "{}", url.shown);
        // A path that is no database number may be the tail of a password cut by a `/`.
        let url = RedactedUrl::parse("redis://u:12/tail-of-pw@host").unwrap();
        assert!(!url.shown.contains("tail-of-pw"), "{}", url.shown);
        assert!(RedactedUrl::parse("redis://u:12#tail-of-pw@host").is_err());
    }

    #[test]
    fn endpoints_name_the_server_whatever_the_spelling() {
        let ep = |u: &str| RedactedUrl::parse(u).unwrap().endpoint;
        assert_eq!(ep("redis://127.0.0.1"), "tcp://127.0.0.1:6379");
        assert_eq!(ep("redis://:pw@127.0.0.1:6379/3"), "tcp://127.0.0.1:6379");
        assert_eq!(ep("valkey://127.0.0.1:6379"), "tcp://127.0.0.1:6379");
        assert_eq!(ep("rediss://h:6380/#insecure"), "tls://h:6380");
        assert_eq!(ep("redis://[::1]:7000"), "tcp://[::1]:7000");
    }

    #[test]
    fn an_invalid_url_error_does_not_echo_the_url() {
        let err = match RedactedUrl::parse("redis://user:hunter2@[bad") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("parsed"),
        };
        assert!(!err.contains("hunter2"), "{err}");
    }
}
