//! [`RedisStoreBuilder`]: the settings of a [`RedisStore`] and the checks made when it is built.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::{ClientTlsConfig, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::conn::Conn;
use super::url::RedactedUrl;
use super::{Inner, RedisStore};
use crate::retry::Policy;
use crate::sync::Mutex;
use crate::{BreakerConfig, Error};

/// The name of a store built without [`RedisStoreBuilder::name`].
const DEFAULT_NAME: &str = "redis";

/// The endpoint of the live store named `redis` (the first built), and that store: an unnamed
/// store on another endpoint is refused while it lives, since both would share `store.redis`.
static DEFAULT_STORE: Mutex<Option<(String, Weak<Inner>)>> = Mutex::new(None);

/// Builds a [`RedisStore`]; from [`RedisStore::builder`].
///
/// Defaults: name `redis` (breaker `store.redis`), prefix `cachex`, `max_retries` 3,
/// `retry_delay` 100 ms (doubling, with jitter), breaker `BreakerConfig::default()`, `op_timeout`
/// 250 ms, `max_value_bytes` 1 MiB. One operation takes at most `(1 + max_retries) × op_timeout`
/// plus the backoff delays (a write gets `op_timeout` more per 256 KiB of value), and a few
/// microseconds while the breaker is open.
///
/// **Names and breakers.** Each store name has one breaker, `store.<name>`, shared by every
/// store of that name. A store built without [`name`](Self::name) is named `redis`, so
/// `registry().breaker("store.redis")` is its breaker. While such a store lives, building
/// another unnamed store on a *different* server is refused with [`Error::InvalidConfig`]: the
/// two would share one breaker, and one dead server would make the other's store refuse calls.
/// Give each server its own name; an unnamed store on the *same* server (host and port, or
/// socket path) is allowed and shares the breaker. An explicit `.name("redis")` is taken as
/// meant and never refused. Once the first `redis` store and all its clones are dropped (a
/// registered store is held by the registry until replaced), the name is free for another
/// server; its breaker keeps its state and statistics. (Deriving a name from the URL instead would move the default
/// store's breaker away from `store.redis`, where operators and tests look for it.)
///
/// **TLS.** A `rediss://` URL verifies the server against the system's roots, or against a
/// private CA given with [`tls_ca`](Self::tls_ca); [`tls_client_cert`](Self::tls_client_cert)
/// presents a client certificate to a server that asks for one (`tls-auth-clients yes`).
/// `rediss://host:port/#insecure` skips the check (for tests; anyone on the path can then read
/// the traffic).
///
/// ```
/// use cachex_runtime::RedisStore;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
/// let builder = RedisStore::builder("rediss://app:pa55word@cache.internal:6380")
///     .op_timeout(Duration::from_millis(50));
/// assert!(!format!("{builder:?}").contains("pa55word"));
/// let store = builder.build().await?;
/// # let _ = store; Ok(()) }
/// ```
#[must_use = "a builder does nothing until `.build().await`"]
#[derive(Clone)]
pub struct RedisStoreBuilder {
    url: String,
    name: String,
    prefix: String,
    max_retries: u32,
    retry_delay: Duration,
    breaker: BreakerConfig,
    op_timeout: Duration,
    /// Whether [`RedisStoreBuilder::name`] was called.
    named: bool,
    tls_ca: Option<Vec<u8>>,
    /// Client certificate chain and private key, PEM.
    tls_client: Option<(Vec<u8>, Vec<u8>)>,
    max_value_bytes: usize,
}

impl RedisStoreBuilder {
    pub(super) fn new(url: &str) -> Self {
        RedisStoreBuilder {
            url: url.to_owned(),
            name: DEFAULT_NAME.to_owned(),
            prefix: "cachex".to_owned(),
            max_retries: 3,
            retry_delay: Duration::from_millis(100),
            breaker: BreakerConfig::default(),
            op_timeout: Duration::from_millis(250),
            named: false,
            tls_ca: None,
            tls_client: None,
            max_value_bytes: 1 << 20,
        }
    }

    /// The store's name, used in errors and for its breaker, `store.<name>` (default `redis`).
    /// Stores built with the same name share that breaker; the last build sets its config. Name
    /// every store of a process that talks to more than one server (see above).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = cachex_runtime::RedisStore::builder("redis://127.0.0.1").name("eu").build().await?;
    /// assert_eq!(store.breaker().name(), "store.eu");
    /// # Ok(()) }
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self.named = true;
        self
    }

    /// The prefix of every key this store writes, followed by `:` (default `cachex`). An empty
    /// prefix writes keys as they are given.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = cachex_runtime::RedisStore::builder("redis://127.0.0.1").prefix("app1").build().await?;
    /// assert_eq!(store.redis_key("users:1"), "app1:users:1");
    /// # Ok(()) }
    /// ```
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// Retries after the first attempt of an operation (default 3). Zero: one attempt only.
    ///
    /// ```
    /// let builder = cachex_runtime::RedisStore::builder("redis://127.0.0.1").max_retries(0);
    /// # let _ = builder;
    /// ```
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The delay before the first retry (default 100 ms); each further retry waits twice as long
    /// as the one before, drawn with jitter below that bound.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = cachex_runtime::RedisStore::builder("redis://127.0.0.1")
    ///     .retry_delay(Duration::from_millis(10));
    /// # let _ = builder;
    /// ```
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// The config of the store's breaker, `store.<name>` (default `BreakerConfig::default()`).
    /// It counts attempts: `threshold` failed attempts in a row open it.
    ///
    /// ```
    /// use cachex_runtime::BreakerConfig;
    /// let builder = cachex_runtime::RedisStore::builder("redis://127.0.0.1")
    ///     .circuit_breaker(BreakerConfig::aggressive());
    /// # let _ = builder;
    /// ```
    pub fn circuit_breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = config;
        self
    }

    /// The deadline of one attempt, connecting included (default 250 ms). Must not be zero.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = cachex_runtime::RedisStore::builder("redis://127.0.0.1")
    ///     .op_timeout(Duration::from_millis(50));
    /// # let _ = builder;
    /// ```
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// Trusts `pem` (one or more PEM certificates) instead of the system's roots to verify the
    /// server of a `rediss://` URL: for a Redis whose certificate a private CA signed. The
    /// server's name in the URL (host name or IP address) must be in its certificate. A
    /// non-TLS URL, or text without a PEM certificate, is refused by
    /// [`build`](Self::build).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = cachex_runtime::RedisStore::builder("rediss://cache.internal:6380")
    ///     .tls_ca("not a certificate")
    ///     .build()
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("tls_ca"));
    /// # }
    /// ```
    pub fn tls_ca(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.tls_ca = Some(pem.as_ref().to_vec());
        self
    }

    /// Presents `cert_pem` (the certificate chain, PEM) with its private key `key_pem` (PKCS#8,
    /// PKCS#1 or SEC1, PEM) to a server that asks clients for a certificate (mutual TLS). Needs
    /// a `rediss://` URL. The key is never shown (not in `Debug` either).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = cachex_runtime::RedisStore::builder("rediss://cache.internal:6380")
    ///     .tls_ca(std::fs::read("ca.crt").unwrap())
    ///     .tls_client_cert(std::fs::read("client.crt").unwrap(), std::fs::read("client.key").unwrap())
    ///     .build()
    ///     .await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub fn tls_client_cert(
        mut self,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Self {
        self.tls_client = Some((cert_pem.as_ref().to_vec(), key_pem.as_ref().to_vec()));
        self
    }

    /// Checks the settings and the URL, registers the breaker and returns the store. Does not
    /// connect (see [`RedisStore`]): the first operation does. Must be called within a tokio
    /// runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// let err = cachex_runtime::RedisStore::builder("redis://127.0.0.1")
    ///     .op_timeout(Duration::ZERO)
    ///     .build()
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("op_timeout"));
    /// # }
    /// ```
    // `async` while it awaits nothing: so that a later version can connect eagerly (or resolve
    // a cluster's topology) without an API break.
    pub async fn build(self) -> Result<RedisStore, Error> {
        if self.name.is_empty() {
            return Err(Error::invalid("RedisStore name must not be empty"));
        }
        if self.op_timeout.is_zero() {
            return Err(Error::invalid("RedisStore op_timeout must be above zero"));
        }
        let url = RedactedUrl::parse(&self.url)?;
        let info = url.connection_info(&self.url)?;
        if url.tls {
            // The redis client builds its TLS config on the process-wide rustls provider; install
            // ours unless the application has already chosen one.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = match self.tls_certificates(&url)? {
            Some(certificates) => redis::Client::build_with_tls(info, certificates),
            None => redis::Client::open(info),
        }
        .map_err(|e| {
            Error::invalid(format!(
                "RedisStore URL {} is not usable: {}",
                url,
                url.scrub(&e.to_string())
            ))
        })?;
        // One connection attempt per store attempt, bounded by op_timeout: the store's own
        // retry and breaker decide how often to try again, not a backoff hidden in the client.
        let conn = Conn::new(client, self.op_timeout);

        // Held until the store exists, so that two unnamed builds cannot both pass the check.
        let mut default_store = DEFAULT_STORE.lock();
        let is_default = self.name == DEFAULT_NAME;
        if is_default && !self.named {
            if let Some((endpoint, live)) = default_store.as_ref() {
                if let Some(live) = live.upgrade() {
                    if *endpoint != url.endpoint {
                        return Err(Error::invalid(format!(
                            "a RedisStore without a name is already open on {} (breaker \
                             `store.{DEFAULT_NAME}`); this one, on {}, would share that \
                             breaker, so one server down would shut out the other: give each \
                             store its own name with .name(..) on its RedisStoreBuilder",
                            live.url, url
                        )));
                    }
                }
            }
        }

        let breaker_name = format!("store.{}", self.name);
        self.breaker.validate()?;
        let breakers = crate::breaker::named::global();
        breakers.configure(&breaker_name, self.breaker);
        let breaker = breakers.get(&breaker_name);

        let policy = Policy {
            max_attempts: self.max_retries.saturating_add(1),
            initial_delay: self.retry_delay,
            max_delay: self.retry_delay.max(Policy::default().max_delay),
            multiplier: 2.0,
            jitter: true,
            budget: None,
        };
        let key_prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}:", self.prefix)
        };
        let endpoint = url.endpoint.clone();
        let inner = Arc::new(Inner {
            name: self.name,
            key_prefix,
            conn,
            breaker,
            policy,
            op_timeout: self.op_timeout,
            max_retries: self.max_retries,
            retry_delay: self.retry_delay,
            url,
            max_value_bytes: self.max_value_bytes,
            health: Default::default(),
            probing: Default::default(),
        });
        if is_default
            && default_store
                .as_ref()
                .is_none_or(|(_, live)| live.strong_count() == 0)
        {
            *default_store = Some((endpoint, Arc::downgrade(&inner)));
        }
        Ok(RedisStore { inner })
    }

    /// The certificates for the client when [`tls_ca`](Self::tls_ca) or
    /// [`tls_client_cert`](Self::tls_client_cert) was set, checked here so that a wrong file is
    /// an error at build and not a failed handshake on every operation.
    fn tls_certificates(&self, url: &RedactedUrl) -> Result<Option<TlsCertificates>, Error> {
        if self.tls_ca.is_none() && self.tls_client.is_none() {
            return Ok(None);
        }
        if !url.tls {
            return Err(Error::invalid(format!(
                "RedisStore tls_ca and tls_client_cert need a TLS URL (rediss:// or valkeys://), \
                 not {url}"
            )));
        }
        if let Some(pem) = &self.tls_ca {
            let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>();
            match certs {
                Ok(certs) if !certs.is_empty() => {}
                Ok(_) => {
                    return Err(Error::invalid(
                        "RedisStore tls_ca: no certificate found (expected PEM text with \
                         -----BEGIN CERTIFICATE-----)",
                    ))
                }
                Err(e) => {
                    return Err(Error::invalid(format!(
                        "RedisStore tls_ca: not a valid PEM certificate ({e})"
                    )))
                }
            }
        }
        if let Some((cert, key)) = &self.tls_client {
            let certs = CertificateDer::pem_slice_iter(cert).collect::<Result<Vec<_>, _>>();
            if !certs.is_ok_and(|certs| !certs.is_empty()) {
                return Err(Error::invalid(
                    "RedisStore tls_client_cert: no client certificate found (expected PEM text \
                     with -----BEGIN CERTIFICATE-----)",
                ));
            }
            // The key's own parse error is not shown: it could quote the key.
            if PrivateKeyDer::from_pem_slice(key).is_err() {
                return Err(Error::invalid(
                    "RedisStore tls_client_cert: no private key found (expected PEM text with \
                     -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)",
                ));
            }
        }
        Ok(Some(TlsCertificates {
            client_tls: self
                .tls_client
                .as_ref()
                .map(|(client_cert, client_key)| ClientTlsConfig {
                    client_cert: client_cert.clone(),
                    client_key: client_key.clone(),
                }),
            root_cert: self.tls_ca.clone(),
        }))
    }
}

impl RedisStoreBuilder {
    /// The largest value the store writes, in bytes (default 1 MiB). A larger value is not
    /// sent (a warning is logged, at most once per 10 s), so one huge value can neither slow
    /// Redis down nor open the store's breaker; the `#[cached]` call still returns it.
    ///
    /// ```
    /// let builder = cachex_runtime::RedisStore::builder("redis://127.0.0.1")
    ///     .max_value_bytes(8 << 20);
    /// # let _ = builder;
    /// ```
    pub fn max_value_bytes(mut self, max: usize) -> Self {
        self.max_value_bytes = max;
        self
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = match RedactedUrl::parse(&self.url) {
            Ok(url) => url.shown,
            Err(_) => "<invalid URL>".to_owned(),
        };
        f.debug_struct("RedisStoreBuilder")
            .field("url", &url)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("max_retries", &self.max_retries)
            .field("retry_delay", &self.retry_delay)
            .field("circuit_breaker", &self.breaker)
            .field("op_timeout", &self.op_timeout)
            .field("tls_ca", &self.tls_ca.as_ref().map(|_| "<set>"))
            .field(
                "tls_client_cert",
                &self.tls_client.as_ref().map(|_| "<set>"),
            )
            .field("max_value_bytes", &self.max_value_bytes)
            .finish()
    }
}
