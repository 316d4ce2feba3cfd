//! [`RedisStoreBuilder`]: the settings of a [`RedisStore`] and the checks made when it is built.

use std::sync::Arc;
use std::time::Duration;

use super::conn::Conn;
use super::url::RedactedUrl;
use super::{Inner, RedisStore};
use crate::retry::Policy;
use crate::{registry, BreakerConfig, Error};
use std::fmt;

/// Builds a [`RedisStore`]; from [`RedisStore::builder`].
///
/// Defaults: name `redis` (breaker `store.redis`), prefix `cachex`, `max_retries` 3,
/// `retry_delay` 100 ms (doubling, with jitter), breaker `BreakerConfig::default()`, `op_timeout`
/// 250 ms, `max_value_bytes` 1 MiB. One operation takes at most `(1 + max_retries) × op_timeout`
/// plus the backoff delays (a write gets `op_timeout` more per 256 KiB of value), and a few
/// microseconds while the breaker is open.
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
    max_value_bytes: usize,
}

impl RedisStoreBuilder {
    pub(super) fn new(url: &str) -> Self {
        RedisStoreBuilder {
            url: url.to_owned(),
            name: "redis".to_owned(),
            prefix: "cachex".to_owned(),
            max_retries: 3,
            retry_delay: Duration::from_millis(100),
            breaker: BreakerConfig::default(),
            op_timeout: Duration::from_millis(250),
            max_value_bytes: 1 << 20,
        }
    }

    /// The store's name, used in errors and for its breaker, `store.<name>` (default `redis`).
    /// Stores built with the same name share that breaker; the last build sets its config.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = cachex_runtime::RedisStore::builder("redis://127.0.0.1").name("eu").build().await?;
    /// assert_eq!(store.breaker().name(), "store.eu");
    /// # Ok(()) }
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
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
    pub async fn build(self) -> Result<RedisStore, Error> {
        if self.name.is_empty() {
            return Err(Error::invalid("RedisStore name must not be empty"));
        }
        if self.op_timeout.is_zero() {
            return Err(Error::invalid("RedisStore op_timeout must be above zero"));
        }
        let url = RedactedUrl::parse(&self.url)?;
        if url.tls {
            // The redis client builds its TLS config on the process-wide rustls provider; install
            // ours unless the application has already chosen one.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(self.url.as_str()).map_err(|e| {
            Error::invalid(format!(
                "RedisStore URL {} is not usable: {}",
                url,
                url.scrub(&e.to_string())
            ))
        })?;
        // One connection attempt per store attempt, bounded by op_timeout: the store's own
        // retry and breaker decide how often to try again, not a backoff hidden in the client.
        let conn = Conn::new(client, self.op_timeout);

        let breaker_name = format!("store.{}", self.name);
        registry().try_configure_breaker(&breaker_name, self.breaker)?;
        let breaker = registry().breaker(&breaker_name);

        let policy = Policy {
            max_attempts: self.max_retries.saturating_add(1),
            initial_delay: self.retry_delay,
            max_delay: self.retry_delay.max(Policy::default().max_delay),
            multiplier: 2.0,
            jitter: true,
        };
        let key_prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}:", self.prefix)
        };
        Ok(RedisStore {
            inner: Arc::new(Inner {
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
            }),
        })
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
            .field("max_value_bytes", &self.max_value_bytes)
            .finish()
    }
}
