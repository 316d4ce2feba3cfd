//! [`RedisStore`]: a [`Store`] on Redis that a failing Redis can slow down by at most a few
//! milliseconds per operation, never fail a `#[cached]` call, and never hang.
//!
//! Every operation runs as: retry with backoff (`max_retries` retries after the first attempt),
//! each attempt through the store's circuit breaker (`store.<name>` in the registry), each attempt
//! bounded by `op_timeout`. A rejection by the open breaker ends the operation at once. The
//! breaker counts attempts, not operations, so a dead Redis opens it after `threshold` failed
//! attempts however many callers there are.
//!
//! One auto-reconnecting multiplexed connection ([`ConnectionManager`]) is shared by all clones of
//! a store. Building a store never touches the network: the connection is made by the first
//! operation, so a service starts while its Redis is down and uses the cache once Redis is up.
//!
//! The URL's password is never shown: the store's `Debug`, its errors and its log lines show the
//! URL with the password replaced by `***`, and text from the client library is scrubbed of it.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError};

use super::{ttl_millis, BoxFuture, Store};
use crate::retry::{self, Policy};
use crate::{registry, BreakerConfig, CallError, CircuitBreaker, Error, State};

/// How many keys one `SCAN` step asks for (a hint to Redis) in [`Store::clear_prefix`].
const SCAN_COUNT: usize = 500;

/// What an elided credential is shown as.
const REDACTED: &str = "***";

/// A [`Store`] on Redis, every operation protected by a circuit breaker, retry with backoff and a
/// per-attempt timeout.
///
/// A cheap handle: clones share one auto-reconnecting connection and one breaker. Keys are
/// `<prefix>:<key>` (prefix `cachex` by default), so a cache named `users` stores key `42` under
/// `cachex:users:42`. TTLs are set in milliseconds, atomically with the value (`SET .. PX`).
///
/// Building is lazy: [`RedisStore::connect`] and [`RedisStoreBuilder::build`] check the URL and
/// return at once, without a connection; the first operation connects. Call
/// [`RedisStore::ping`] at startup if the service should refuse to start without Redis.
///
/// ```
/// use cachex_runtime::{registry, RedisStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
/// let store = RedisStore::connect("redis://:s3cret@127.0.0.1:6379/0").await?;
/// assert!(!format!("{store:?}").contains("s3cret"));
/// registry().set_store("redis", store.clone());
/// // #[cached(name = "users", store = "redis", ttl = "60s")] functions now use it.
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    /// `"<prefix>:"`, or empty for an empty prefix.
    key_prefix: String,
    /// The shared connection and its generation; replaced only when the client would otherwise
    /// keep a connection that can never work (see [`Inner::renew_connection`]).
    conn: RwLock<(u64, ConnectionManager)>,
    client: redis::Client,
    conn_config: ConnectionManagerConfig,
    breaker: Arc<CircuitBreaker>,
    policy: Policy,
    op_timeout: Duration,
    max_retries: u32,
    retry_delay: Duration,
    url: RedactedUrl,
}

impl RedisStore {
    /// A store on `url` with the default settings (name `redis`, prefix `cachex`, 3 retries
    /// from 100 ms, `BreakerConfig::default()`, 250 ms per attempt).
    ///
    /// Accepts `redis://[user][:password]@host[:port][/db]`, `rediss://...` (TLS; append
    /// `#insecure` to skip certificate checks) and `redis+unix:///path`. Returns at once, without
    /// connecting; an unparsable URL is an [`Error::InvalidConfig`] that does not repeat the URL.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = cachex_runtime::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.name(), "redis");
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<RedisStore, Error> {
        RedisStore::builder(url).build().await
    }

    /// A builder for a store on `url`, to change the name, key prefix, retries, breaker or
    /// timeout.
    ///
    /// ```
    /// use cachex_runtime::{BreakerConfig, RedisStore};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")
    ///     .name("sessions")
    ///     .prefix("myapp")
    ///     .max_retries(2)
    ///     .retry_delay(Duration::from_millis(20))
    ///     .circuit_breaker(BreakerConfig { threshold: 3, ..BreakerConfig::default() })
    ///     .op_timeout(Duration::from_millis(100))
    ///     .build()
    ///     .await?;
    /// assert_eq!(store.breaker().name(), "store.sessions");
    /// # Ok(()) }
    /// ```
    pub fn builder(url: &str) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url)
    }

    /// The store's circuit breaker, the one registered as `store.<name>`: read its statistics,
    /// or force it open to take Redis out of the path by hand.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// use cachex_runtime::{registry, RedisStore, State};
    /// use std::sync::Arc;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").name("doc-breaker").build().await?;
    /// assert!(Arc::ptr_eq(&store.breaker(), &registry().breaker("store.doc-breaker")));
    /// assert_eq!(store.breaker().state(), State::Closed);
    /// # Ok(()) }
    /// ```
    pub fn breaker(&self) -> Arc<CircuitBreaker> {
        Arc::clone(&self.inner.breaker)
    }

    /// The store's name (`redis` unless the builder set another).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = cachex_runtime::RedisStore::builder("redis://127.0.0.1").name("a").build().await?;
    /// assert_eq!(store.name(), "a");
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The full Redis key that a store key is kept under: `<prefix>:<key>`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = cachex_runtime::RedisStore::connect("redis://127.0.0.1").await?;
    /// assert_eq!(store.redis_key("users:42"), "cachex:users:42");
    /// # Ok(()) }
    /// ```
    pub fn redis_key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.inner.key_prefix.len() + key.len());
        full.push_str(&self.inner.key_prefix);
        full.push_str(key);
        full
    }

    /// Sends `PING` through the breaker and retries: `Ok` once Redis answers. Useful at startup
    /// for a service that must not run without its cache, or in a health check.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cachex_runtime::Error> {
    /// let store = cachex_runtime::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// store.ping().await?; // fails within (1 + max_retries) × op_timeout + backoff when Redis is down
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self) -> Result<(), Error> {
        let mut cmd = redis::cmd("PING");
        cmd.arg("cachex");
        self.run::<String>("PING", &cmd, |_| None).await.map(drop)
    }

    /// Runs `cmd` as one store operation: retry with backoff around the breaker around one
    /// attempt bounded by `op_timeout`. `recover` turns an error the caller expects (such as
    /// `WRONGTYPE` on `GET`) into a value, so it counts as a success for the breaker.
    async fn run<T>(
        &self,
        op: &'static str,
        cmd: &Cmd,
        recover: fn(&RedisError) -> Option<T>,
    ) -> Result<T, Error>
    where
        T: FromRedisValue + Send,
    {
        let inner = &*self.inner;
        let attempts = AtomicU32::new(0);
        // A failed attempt that opened (or re-opened) the breaker ends the operation at once:
        // sleeping through a backoff only to be refused would cost the caller for nothing.
        let should_retry =
            |e: &AttemptError| e.is_retriable() && inner.breaker.state() != State::Open;
        let result = retry::retry_if(&inner.policy, should_retry, || async {
            attempts.fetch_add(1, Ordering::Relaxed);
            match inner.breaker.call(|| inner.attempt(cmd, recover)).await {
                Ok(value) => Ok(value),
                Err(CallError::Inner(e)) => Err(e),
                Err(CallError::Rejected(e)) => Err(AttemptError::Rejected(e)),
            }
        })
        .await;
        result.map_err(|e| inner.error(op, attempts.load(Ordering::Relaxed), e))
    }
}

impl Inner {
    /// One attempt, bounded by `op_timeout`. When the connection turns out to be gone, the
    /// connection manager starts a fresh one; the command is sent once more on it within the same
    /// deadline, so the first call after Redis comes back (a half-open trial, typically) does not
    /// fail on the connection that died with the old server.
    async fn attempt<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        recover: fn(&RedisError) -> Option<T>,
    ) -> Result<T, AttemptError> {
        let send = async {
            let (generation, mut conn) = self.connection();
            let first = cmd.query_async::<T>(&mut conn).await;
            let result = match first {
                Err(e) if is_connection_error(&e) => cmd.query_async::<T>(&mut conn).await,
                other => other,
            };
            match result {
                Ok(value) => Ok(value),
                Err(e) => {
                    if e.kind() == ErrorKind::AuthenticationFailed {
                        self.renew_connection(generation);
                    }
                    recover(&e).ok_or(AttemptError::Redis(e))
                }
            }
        };
        match tokio::time::timeout(self.op_timeout, send).await {
            Ok(result) => result,
            Err(_elapsed) => Err(AttemptError::Timeout(self.op_timeout)),
        }
    }

    fn connection(&self) -> (u64, ConnectionManager) {
        let guard = self.conn.read().unwrap_or_else(PoisonError::into_inner);
        (guard.0, guard.1.clone())
    }

    /// Replaces connection `generation` with a fresh, lazily connecting one. The client keeps
    /// a connection whose setup was refused (a wrong password) and never tries it again, which
    /// would leave the store broken after the server was fixed; I/O failures it retries itself.
    /// Only the first caller to see a generation fail replaces it.
    fn renew_connection(&self, generation: u64) {
        let mut guard = self.conn.write().unwrap_or_else(PoisonError::into_inner);
        if guard.0 != generation {
            return;
        }
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.conn_config.clone())
        {
            Ok(fresh) => *guard = (generation + 1, fresh),
            Err(e) => tracing::debug!(
                store = %self.name,
                error = %self.url.scrub(&e.to_string()),
                "redis store: cannot renew the connection"
            ),
        }
    }

    /// The caller's error for a failed operation: a rejection stays [`Error::CircuitOpen`] (so
    /// `is_circuit_open()` works on it); anything else is an [`Error::Store`] whose message has
    /// every trace of the password scrubbed.
    fn error(&self, op: &str, attempts: u32, e: AttemptError) -> Error {
        let message = match e {
            AttemptError::Rejected(rejection) if rejection.is_circuit_open() => return rejection,
            AttemptError::Rejected(other) => format!("{op}: {other}"),
            AttemptError::Timeout(after) => format!(
                "{op} timed out: no answer within {after:?} (operation timeout), {attempts} attempt(s)"
            ),
            AttemptError::Redis(e) => {
                format!("{op} failed after {attempts} attempt(s): {e}")
            }
        };
        let message = self.url.scrub(&message);
        tracing::debug!(store = %self.name, url = %self.url, error = %message, "redis store operation failed");
        Error::Store {
            store: self.name.clone(),
            message,
        }
    }
}

/// Why one attempt failed.
enum AttemptError {
    Redis(RedisError),
    Timeout(Duration),
    /// The breaker refused the attempt, or (with a `call_timeout` in its config) abandoned it.
    Rejected(Error),
}

impl AttemptError {
    /// Retry what may pass on its own: I/O, timeouts, a server that is loading or busy. Not a
    /// rejection by the open breaker (that is the point of the breaker), not a refused password
    /// or a misconfigured client (retrying cannot fix those).
    fn is_retriable(&self) -> bool {
        match self {
            AttemptError::Timeout(_) => true,
            AttemptError::Rejected(e) => !e.is_circuit_open(),
            AttemptError::Redis(e) => !matches!(
                e.kind(),
                ErrorKind::AuthenticationFailed
                    | ErrorKind::InvalidClientConfig
                    | ErrorKind::Client
                    | ErrorKind::UnexpectedReturnType
                    | ErrorKind::RESP3NotSupported
            ),
        }
    }
}

/// An error that means the connection is gone (the manager reconnects on these). Not a refused
/// password: sending again would only be refused again.
fn is_connection_error(e: &RedisError) -> bool {
    e.kind() != ErrorKind::AuthenticationFailed && (e.is_io_error() || e.is_unrecoverable_error())
}

/// `WRONGTYPE` on a read: something else (a list, a hash) sits under the key. To a cache that is
/// a miss, and the next `SET` replaces it; it says nothing about Redis' health.
fn wrong_type_is_miss(e: &RedisError) -> Option<Option<Vec<u8>>> {
    (e.code() == Some("WRONGTYPE")).then_some(None)
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, Error>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("GET");
            cmd.arg(self.redis_key(key));
            self.run("GET", &cmd, wrong_type_is_miss).await
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.redis_key(key)).arg(value);
            if let Some(ttl) = ttl {
                cmd.arg("PX").arg(ttl_millis(ttl));
            }
            self.run::<()>("SET", &cmd, |_| None).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("UNLINK");
            cmd.arg(self.redis_key(key));
            let removed: u64 = self.run("UNLINK", &cmd, |_| None).await?;
            Ok(removed > 0)
        })
    }

    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async move {
            // SCAN walks the keyspace in steps without blocking the server (unlike KEYS); each
            // step and each UNLINK is one protected operation. The prefix is matched literally.
            let mut pattern = escape_glob(&self.redis_key(prefix));
            pattern.push('*');
            let mut cursor: u64 = 0;
            let mut removed = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT);
                let (next, keys): (u64, Vec<Vec<u8>>) = self.run("SCAN", &scan, |_| None).await?;
                if !keys.is_empty() {
                    let mut unlink = redis::cmd("UNLINK");
                    unlink.arg(keys);
                    removed += self.run::<u64>("UNLINK", &unlink, |_| None).await?;
                }
                if next == 0 {
                    return Ok(removed);
                }
                cursor = next;
            }
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("RedisStore")
            .field("name", &inner.name)
            .field("url", &inner.url.shown)
            .field("prefix", &inner.key_prefix.trim_end_matches(':'))
            .field("max_retries", &inner.max_retries)
            .field("retry_delay", &inner.retry_delay)
            .field("op_timeout", &inner.op_timeout)
            .field("breaker_state", &inner.breaker.state())
            .finish()
    }
}

/// Builds a [`RedisStore`]; from [`RedisStore::builder`].
///
/// Defaults: name `redis` (breaker `store.redis`), prefix `cachex`, `max_retries` 3,
/// `retry_delay` 100 ms (doubling, with jitter), breaker `BreakerConfig::default()`, `op_timeout`
/// 250 ms. One operation takes at most `(1 + max_retries) × op_timeout` plus the backoff delays,
/// and a few microseconds while the breaker is open.
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
}

impl RedisStoreBuilder {
    fn new(url: &str) -> Self {
        RedisStoreBuilder {
            url: url.to_owned(),
            name: "redis".to_owned(),
            prefix: "cachex".to_owned(),
            max_retries: 3,
            retry_delay: Duration::from_millis(100),
            breaker: BreakerConfig::default(),
            op_timeout: Duration::from_millis(250),
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
        // The manager makes one connection attempt per reconnect, bounded by op_timeout: the
        // store's own retry and breaker decide how often to try again, not a backoff hidden in
        // the client. No response timeout here: each attempt is bounded by the store instead.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.op_timeout))
            .set_response_timeout(None);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(|e| {
                Error::invalid(format!(
                    "RedisStore {url}: cannot set up the connection: {}",
                    url.scrub(&e.to_string())
                ))
            })?;

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
                conn: RwLock::new((0, conn)),
                client,
                conn_config: config,
                breaker,
                policy,
                op_timeout: self.op_timeout,
                max_retries: self.max_retries,
                retry_delay: self.retry_delay,
                url,
            }),
        })
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
            .finish()
    }
}

/// A Redis URL as it may be shown, and the secrets to scrub from any text about it.
struct RedactedUrl {
    /// The URL with its password (if any) replaced by `***`.
    shown: String,
    /// The password as written in the URL and percent-decoded; empty strings are dropped.
    secrets: Vec<String>,
    tls: bool,
}

impl RedactedUrl {
    fn parse(raw: &str) -> Result<Self, Error> {
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
    fn scrub(&self, text: &str) -> String {
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
fn escape_glob(s: &str) -> String {
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
