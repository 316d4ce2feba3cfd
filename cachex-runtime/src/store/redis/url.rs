//! Redis URLs as they may be shown: the password replaced by `***` wherever a URL or a message
//! about it is displayed, and the glob escaping `SCAN MATCH` needs.

use std::fmt;

use crate::Error;

/// What an elided credential is shown as.
const REDACTED: &str = "***";

/// A Redis URL as it may be shown, and the secrets to scrub from any text about it.
pub(super) struct RedactedUrl {
    /// The URL with its password (if any) replaced by `***`.
    pub(super) shown: String,
    /// The password as written in the URL and percent-decoded; empty strings are dropped.
    secrets: Vec<String>,
    pub(super) tls: bool,
}

impl RedactedUrl {
    pub(super) fn parse(raw: &str) -> Result<Self, Error> {
        let mut url = url::Url::parse(raw).map_err(|e| {
            // The parser's message does not repeat the input, so it cannot leak the password.
            Error::invalid(format!(
                "invalid Redis URL ({e}); expected redis://[user[:password]@]host[:port][/db], \
                 rediss://... or redis+unix:///path"
            ))
        })?;
        let mut secrets = Vec::new();
        if let Some(password) = url.password() {
            secrets.push(password.to_owned());
            secrets.push(percent_decode(password));
            secrets.retain(|s| !s.is_empty());
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
            secrets.dedup();
            // Cannot fail: a URL that carries a password can carry another one.
            let _ = url.set_password(Some(REDACTED));
        }
        let tls = url.scheme() == "rediss" || url.scheme() == "valkeys";
        Ok(RedactedUrl {
            shown: url.to_string(),
            secrets,
            tls,
        })
    }

    /// `text` with every occurrence of the password replaced by `***`: a last line of defence for
    /// messages that come from the client library.
    pub(super) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Decodes `%XX` escapes (as in a URL's userinfo); anything malformed is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `s` with the glob metacharacters of `SCAN MATCH` escaped, so it matches only itself.
pub(super) fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
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
    fn an_invalid_url_error_does_not_echo_the_url() {
        let err = match RedactedUrl::parse("redis://user:hunter2@[bad") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("parsed"),
        };
        assert!(!err.contains("hunter2"), "{err}");
    }
}
