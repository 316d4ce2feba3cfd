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
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError};

use self::url::{escape_glob, RedactedUrl};
use super::{ttl_millis, BoxFuture, Store};

mod builder;
mod url;

use crate::retry::{self, Policy};
use crate::sync::RwLock;
use crate::{CallError, CircuitBreaker, Error, State};
pub use builder::RedisStoreBuilder;

/// How many keys one `SCAN` step asks for (a hint to Redis) in [`Store::clear_prefix`].
const SCAN_COUNT: usize = 500;

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
        let guard = self.conn.read();
        (guard.0, guard.1.clone())
    }

    /// Replaces connection `generation` with a fresh, lazily connecting one. The client keeps
    /// a connection whose setup was refused (a wrong password) and never tries it again, which
    /// would leave the store broken after the server was fixed; I/O failures it retries itself.
    /// Only the first caller to see a generation fail replaces it.
    fn renew_connection(&self, generation: u64) {
        let mut guard = self.conn.write();
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
            // A cache's prefix (`N:`) matches `N:` itself and `N:` plus a first character that
            // is not `:`, so the keys of `N::child` are not its keys.
            let exact = self.redis_key(prefix);
            let mut pattern = escape_glob(&exact);
            let mut removed = 0u64;
            if prefix.ends_with(':') {
                pattern.push_str("[^:]*");
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&exact);
                removed = self.run::<u64>("UNLINK", &unlink, |_| None).await?;
            } else {
                pattern.push('*');
            }
            let mut cursor: u64 = 0;
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

    /// Clones share one connection, prefix and breaker.
    fn store_id(&self) -> usize {
        Arc::as_ptr(&self.inner).cast::<()>() as usize
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
