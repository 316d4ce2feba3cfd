//! [`RedisStore`]: a [`Store`] on Redis that a failing Redis can slow down by at most a few
//! milliseconds per operation, never fail a `#[cached]` call, and never hang.
//!
//! Every operation runs as: retry with backoff (`max_retries` retries after the first attempt),
//! each attempt through the store's circuit breaker (`store.<name>` in the registry), each attempt
//! bounded by `op_timeout`. A rejection by the open breaker ends the operation at once. The
//! breaker counts attempts, not operations, so a dead Redis opens it after `threshold` failed
//! attempts however many callers there are; an attempt that overran `op_timeout` counts as a
//! failure and a timeout in the breaker's stats.
//!
//! What a failed attempt means is decided by `classify`: a broken connection, a timeout, or a
//! node that cannot serve (`READONLY` after a failover, `LOADING`, `MASTERDOWN`, `BUSY`) is a
//! breaker failure, the connection is replaced and the attempt retried; a reply the server gave
//! on purpose (`OOM`, `NOPERM`, `WRONGTYPE`, `ERR ...`) costs one attempt and counts as a
//! *success* for the breaker (the server is up and answering). Writes the server keeps refusing
//! are logged at `warn` (at most once per 10 s per store) and, after three in a row, not sent
//! for the breaker's `timeout`; values over `max_value_bytes` are not sent at all.
//!
//! One multiplexed connection (`conn`) is shared by all clones of a store. It is made by the
//! first operation (building a store never touches the network, so a service starts while its
//! Redis is down) and replaced when its setup failed, when it broke, when it reaches a node that
//! cannot serve, or after two timeouts in a row (a peer that vanished without a reset). While the
//! breaker is open, a background probe (`probe`) pings Redis and closes the breaker as soon as it
//! answers.
//!
//! No credential is ever shown: the store's `Debug`, its errors (and their sources) and its log
//! lines show the URL with every password (`user:pass@`, `?pass=`, `?password=`) replaced by
//! `***`, and text from the client library is scrubbed of it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::{Cmd, ErrorKind, FromRedisValue, RedisError};

use self::classify::{classify, Class};
use self::conn::{Conn, SetupError};
use self::url::{escape_glob, RedactedUrl};
use super::{ttl_millis, BoxFuture, Store};

mod builder;
mod classify;
mod conn;
mod probe;
mod url;

use crate::error::Human;
use crate::retry::{self, Policy};
use crate::{CallError, CircuitBreaker, Error, State};
pub use builder::RedisStoreBuilder;

/// How many keys one `SCAN` step asks for (a hint to Redis) in [`Store::clear_prefix`].
const SCAN_COUNT: usize = 500;

/// The longest TTL sent to Redis: about 100 years. Redis refuses an expiry that overflows its
/// millisecond clock (`Duration::MAX`, say); a longer TTL is cut to this one.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3_600);

/// Operation timeouts in a row, on one connection, after which it is replaced: a peer that
/// vanished without a reset leaves a connection that would otherwise wait for ever.
const TIMEOUTS_BEFORE_RECONNECT: u32 = 2;

/// Refused writes in a row after which the store stops sending writes for a while (the
/// breaker's `timeout`): a full Redis or a user without `SET` refuses every one of them.
const REFUSALS_BEFORE_BACKOFF: u32 = 3;

/// At most one warning per this period and store for refused or oversized writes.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A write gets `op_timeout` more for every this many bytes of value: a large value takes longer
/// to send, and its slowness says nothing about the server's health.
const BYTES_PER_EXTRA_TIMEOUT: usize = 256 * 1024;

/// Writes above this size whose deadline passes do not count for the breaker.
const LARGE_WRITE: usize = 64 * 1024;

/// A [`Store`] on Redis, every operation protected by a circuit breaker, retry with backoff and a
/// per-attempt timeout.
///
/// A cheap handle: clones share one connection (replaced whenever it cannot work) and one
/// breaker. Keys are
/// `<prefix>:<key>` (prefix `cachex` by default), so a cache named `users` stores key `42` under
/// `cachex:users:42`. TTLs are set in milliseconds, atomically with the value (`SET .. PX`);
/// a TTL beyond about 100 years (`Duration::MAX`, say) is cut to that, which Redis accepts.
///
/// Building is lazy: [`RedisStore::connect`] and [`RedisStoreBuilder::build`] check the URL and
/// return at once, without a connection; the first operation connects. Call
/// [`RedisStore::ping`] at startup if the service should refuse to start without Redis.
///
/// What production Redis does, and what the store does about it:
///
/// - **A broken or silent connection, a timeout, a node that cannot serve** (`READONLY` after a
///   failover behind the same endpoint, `LOADING`, `MASTERDOWN`, `BUSY`): a failure for the
///   breaker; the connection is replaced (after two timeouts in a row for a silent one) and the
///   attempt retried, so a moved primary is reached within `op_timeout × (1 + max_retries)`.
///   A connection setup that failed for any reason is tried afresh by later operations.
/// - **A reply the server gave on purpose** (`OOM`, `NOPERM`, `WRONGTYPE`, `ERR ...`): one
///   attempt, no retry, and a *success* for the breaker: the server is up and answering, and
///   opening the breaker would take reads that work out of the path too.
/// - **Writes refused again and again** (Redis full under `noeviction`, a user without `SET`):
///   logged at `warn`, at most once per 10 s per store; after three in a row writes are not sent
///   for the breaker's `timeout`, then tried again. Reads go on as usual.
/// - **Large values**: a value over `max_value_bytes` (1 MiB by default) is not written; a write
///   gets `op_timeout` more per 256 KiB of value, and a large write (over 64 KiB) that still
///   overruns counts neither way for the breaker.
/// - **An open breaker**: a background task sends `PING` every 250 ms (one per store, on the
///   runtime of the operation that found the breaker open, ended when the store is dropped or
///   the breaker leaves OPEN) and closes the breaker as soon as Redis answers, so the cache is
///   used again well before the breaker's `timeout`. A breaker pinned by `force_open` is left
///   alone. Attempts that overran `op_timeout` show in the breaker's `total_timeouts`.
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
    /// The shared connection, replaced when it cannot work any more (see [`conn`]).
    conn: Conn,
    breaker: Arc<CircuitBreaker>,
    policy: Policy,
    op_timeout: Duration,
    max_retries: u32,
    retry_delay: Duration,
    url: RedactedUrl,
    /// Values longer than this are not written.
    max_value_bytes: usize,
    /// What the store has learnt from recent operations.
    health: Health,
    /// True while the recovery probe runs (see [`probe`]).
    probing: AtomicBool,
}

/// Counters of recent trouble, each touched only when something went wrong (a success reads
/// them and writes nothing unless there was trouble to clear).
#[derive(Default)]
struct Health {
    /// Operation timeouts in a row.
    timeouts_in_a_row: AtomicU32,
    /// Writes refused by the server in a row.
    refused_writes: AtomicU32,
    /// Writes are skipped until this point, in milliseconds since `epoch` (0: never).
    writes_paused_until: AtomicU64,
    /// The next warning may be logged from this point, in milliseconds since `epoch`.
    next_warning: AtomicU64,
    /// The origin of the times above, set by the first use.
    epoch: std::sync::OnceLock<tokio::time::Instant>,
}

impl Health {
    /// Milliseconds since the first use of the store (tokio's clock, so paused-clock tests
    /// drive it).
    fn now_ms(&self) -> u64 {
        let epoch = *self.epoch.get_or_init(tokio::time::Instant::now);
        u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// True when a warning may be logged now; then none for [`WARN_EVERY`].
    fn may_warn(&self) -> bool {
        let now = self.now_ms();
        let next = self.next_warning.load(Ordering::Relaxed);
        let after = now.saturating_add(duration_ms(WARN_EVERY));
        now >= next
            && self
                .next_warning
                .compare_exchange(next, after, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// True while writes are paused after a run of refusals.
    fn writes_paused(&self) -> bool {
        let until = self.writes_paused_until.load(Ordering::Relaxed);
        until != 0 && self.now_ms() < until
    }

    /// Records a refused write; true when it starts (or renews) a pause of `pause`.
    fn write_refused(&self, pause: Duration) -> bool {
        let refused = self
            .refused_writes
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if refused < REFUSALS_BEFORE_BACKOFF {
            return false;
        }
        let until = self.now_ms().saturating_add(duration_ms(pause)).max(1);
        self.writes_paused_until.store(until, Ordering::Relaxed);
        true
    }

    /// Records a write the server took.
    fn write_taken(&self) {
        if self.refused_writes.load(Ordering::Relaxed) != 0 {
            self.refused_writes.store(0, Ordering::Relaxed);
            self.writes_paused_until.store(0, Ordering::Relaxed);
        }
    }

    /// Records an answer from the server (any reply): the connection is alive.
    fn answered(&self) {
        if self.timeouts_in_a_row.load(Ordering::Relaxed) != 0 {
            self.timeouts_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// Records a timeout; true when the run is long enough to replace the connection (the run
    /// starts over then).
    fn timed_out(&self) -> bool {
        let run = self
            .timeouts_in_a_row
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if run >= TIMEOUTS_BEFORE_RECONNECT {
            self.timeouts_in_a_row.store(0, Ordering::Relaxed);
            return true;
        }
        false
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisStore {
    /// Does not connect: checks `url` and returns a lazy store that connects on its first
    /// operation (call [`ping`](Self::ping) to wait for Redis).
    ///
    /// Default settings: name `redis`, prefix `cachex`, 3 retries from 100 ms,
    /// `BreakerConfig::default()`, 250 ms per attempt. Accepts
    /// `redis://[user][:password]@host[:port][/db]` (percent-encode `/`, `?`, `#`, `@`, `:` and
    /// `%` in the password), `rediss://...` (TLS; append `#insecure` to skip certificate
    /// checks, or see [`RedisStoreBuilder::tls_ca`] for a private CA), `valkey://` and
    /// `valkeys://`, and unix sockets as `redis+unix:///path?pass=...&db=N` (`?password=` works
    /// too; also `valkey+unix://` and `unix://`). A URL it cannot use is an
    /// [`Error::InvalidConfig`] that says why without repeating the password; so is a second
    /// unnamed store on another server (see [`RedisStoreBuilder`]).
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
        let mut full = String::with_capacity(self.inner.key_prefix.len().saturating_add(key.len()));
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
        let limits = Limits {
            deadline: self.inner.op_timeout,
            counted: true,
            write: false,
        };
        self.run_within(op, cmd, recover, limits).await
    }

    /// [`run`](Self::run) with each attempt bounded and accounted as `limits` says.
    async fn run_within<T>(
        &self,
        op: &'static str,
        cmd: &Cmd,
        recover: fn(&RedisError) -> Option<T>,
        limits: Limits,
    ) -> Result<T, Error>
    where
        T: FromRedisValue + Send,
    {
        let inner = &*self.inner;
        let Limits {
            deadline,
            counted,
            write,
        } = limits;
        let attempts = AtomicU32::new(0);
        // A failed attempt that opened (or re-opened) the breaker ends the operation at once:
        // sleeping through a backoff only to be refused would cost the caller for nothing.
        let should_retry =
            |e: &AttemptError| e.is_retriable() && inner.breaker.state() != State::Open;
        let result = retry::retry_if(&inner.policy, should_retry, || async {
            attempts.fetch_add(1, Ordering::Relaxed);
            let call = inner
                .breaker
                .call(|| inner.attempt(cmd, recover, counted.then_some(deadline)));
            let outcome = if counted {
                call.await
            } else {
                match tokio::time::timeout(deadline, call).await {
                    Ok(outcome) => outcome,
                    // Dropping the call leaves the breaker's counts as they were.
                    Err(_elapsed) => return Err(AttemptError::SlowWrite(deadline)),
                }
            };
            match outcome {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(refused)) => Err(AttemptError::Refused(refused)),
                Err(CallError::Inner(e)) => Err(e),
                Err(CallError::Rejected(e)) => Err(AttemptError::Rejected(e)),
            }
        })
        .await;
        match result {
            Ok(value) => {
                if write {
                    inner.health.write_taken();
                }
                Ok(value)
            }
            Err(e) => {
                match &e {
                    AttemptError::Refused(refusal) if write => inner.write_refused(op, refusal),
                    AttemptError::Refused(_) | AttemptError::SlowWrite(_) => {}
                    _ => probe::ensure(&self.inner),
                }
                Err(inner.error(op, attempts.load(Ordering::Relaxed), e))
            }
        }
    }
}

/// How the attempts of one operation are bounded and accounted.
#[derive(Clone, Copy)]
struct Limits {
    /// The deadline of each attempt.
    deadline: Duration,
    /// False: an attempt that overruns `deadline` is abandoned without counting for the breaker
    /// either way (a large write that is merely slow), and not retried.
    counted: bool,
    /// A write: refusals pause writes (see [`Health::write_refused`]).
    write: bool,
}

impl Inner {
    /// One attempt, bounded by `deadline` when given (the caller bounds it otherwise). The
    /// outer `Err` is a failure for the breaker; the inner one a refusal by a server that
    /// answered, which is not.
    ///
    /// When the connection turns out to be broken or to reach a node that cannot serve (a
    /// replica after a failover), it is replaced and the command sent once more on the new one
    /// within the same deadline: the first call after a failover or a restart (a half-open
    /// trial, typically) does not fail on the connection that belonged to the old server.
    async fn attempt<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        recover: fn(&RedisError) -> Option<T>,
        deadline: Option<Duration>,
    ) -> Result<Result<T, RedisError>, AttemptError> {
        let send = async {
            let (generation, result) = match self.send(cmd).await? {
                (generation, Err(e)) if classify(&e) == (Class::Reconnect { retry: true }) => {
                    self.replace_connection(generation);
                    self.send(cmd).await?
                }
                first => first,
            };
            self.outcome(generation, result, recover)
        };
        let Some(deadline) = deadline else {
            return send.await;
        };
        match tokio::time::timeout(deadline, send).await {
            Ok(result) => result,
            Err(_elapsed) => {
                self.breaker.count_timeout();
                if self.health.timed_out() {
                    self.replace_connection(self.conn.generation());
                }
                Err(AttemptError::Timeout(deadline))
            }
        }
    }

    /// Sends `cmd` on the current connection (connecting first if needed): the connection's
    /// generation and the command's result, or why no connection could be made.
    async fn send<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
    ) -> Result<(u64, Result<T, RedisError>), AttemptError> {
        let (generation, conn) = self.conn.get().await;
        match conn {
            Ok(mut conn) => Ok((generation, cmd.query_async::<T>(&mut conn).await)),
            // Nothing to replace: a failed setup leaves the slot empty, and the next attempt
            // (this operation's retry, or a later operation) connects afresh.
            Err(SetupError(e)) => Err(AttemptError::Setup(e)),
        }
    }

    /// Sorts the result of a command on a live connection into the attempt's outcome.
    fn outcome<T>(
        &self,
        generation: u64,
        result: Result<T, RedisError>,
        recover: fn(&RedisError) -> Option<T>,
    ) -> Result<Result<T, RedisError>, AttemptError> {
        match result {
            Ok(value) => {
                self.health.answered();
                Ok(Ok(value))
            }
            Err(e) => {
                if let Some(value) = recover(&e) {
                    self.health.answered();
                    return Ok(Ok(value));
                }
                match classify(&e) {
                    Class::GiveUp => {
                        self.health.answered();
                        Ok(Err(e))
                    }
                    Class::Reconnect { retry } => {
                        self.replace_connection(generation);
                        Err(if retry {
                            AttemptError::Redis(e)
                        } else {
                            AttemptError::Fatal(e)
                        })
                    }
                }
            }
        }
    }

    /// A write the server refused: warned about (at most once per [`WARN_EVERY`]), and after a
    /// few in a row, writes pause for the breaker's timeout.
    fn write_refused(&self, op: &str, refusal: &RedisError) {
        let pause = self.breaker.config().timeout;
        let paused = self.health.write_refused(pause);
        if self.health.may_warn() {
            let error = self.url.scrub(&refusal.to_string());
            if paused {
                tracing::warn!(store = %self.name, op, error = %error, pause = ?pause,
                    "redis store: Redis refuses writes; writes skipped for a while");
            } else {
                tracing::warn!(store = %self.name, op, error = %error, "redis store: Redis refused a write");
            }
        }
    }

    /// Replaces connection `generation`, logging the first replacement of it.
    fn replace_connection(&self, generation: u64) {
        if self.conn.replace(generation) {
            tracing::debug!(store = %self.name, "redis store: connection replaced");
        }
    }

    /// One `PING` straight on the connection, outside the breaker, within `op_timeout`: true
    /// when Redis answered `PONG`.
    async fn ping_direct(&self) -> bool {
        let mut cmd = redis::cmd("PING");
        cmd.arg("cachex");
        match tokio::time::timeout(
            self.op_timeout,
            self.attempt::<String>(&cmd, |_| None, None),
        )
        .await
        {
            Ok(outcome) => matches!(outcome, Ok(Ok(_))),
            Err(_elapsed) => {
                // Silent: the next ping tries a new connection.
                self.replace_connection(self.conn.generation());
                false
            }
        }
    }

    /// The error of an operation the store chose not to send.
    fn skipped(&self, message: String) -> Error {
        Error::store(self.name.clone(), message)
    }

    /// The caller's error for a failed operation: a rejection stays [`Error::CircuitOpen`] (so
    /// `is_circuit_open()` works on it); anything else is an [`Error::Store`] whose message has
    /// every trace of the password scrubbed.
    fn error(&self, op: &str, attempts: u32, e: AttemptError) -> Error {
        let (message, source) = match e {
            AttemptError::Rejected(rejection) if rejection.is_circuit_open() => return rejection,
            AttemptError::Rejected(other) => (format!("{op}: {other}"), None),
            AttemptError::Timeout(after) => (
                format!(
                    "{op} timed out: no answer within {} (operation timeout), {attempts} attempt(s)",
                    Human(after)
                ),
                None,
            ),
            AttemptError::Redis(e) | AttemptError::Fatal(e) => {
                let what = self.url.describe(&e);
                let message = format!("{op} failed after {attempts} attempt(s): {what}");
                (message, Some(self.url.cause(e)))
            }
            AttemptError::Setup(e) => {
                let what = self.url.describe(&e);
                let message = format!("{op}: no connection after {attempts} attempt(s): {what}");
                (message, Some(self.url.cause(e)))
            }
            AttemptError::Refused(e) => {
                let what = self.url.describe(&e);
                (format!("{op} refused by Redis: {what}"), Some(self.url.cause(e)))
            }
            AttemptError::SlowWrite(after) => (
                format!(
                    "{op} abandoned: no answer within {} (a large value)",
                    Human(after)
                ),
                None,
            ),
        };
        let message = self.url.scrub(&message);
        tracing::debug!(store = %self.name, url = %self.url, error = %message, "redis store operation failed");
        Error::Store {
            store: self.name.clone(),
            message,
            source,
        }
    }
}

/// Why one attempt failed.
enum AttemptError {
    /// A broken connection or a node that cannot serve (see [`classify`]): a breaker failure,
    /// retried on a new connection.
    Redis(RedisError),
    /// A breaker failure that retrying now cannot fix (a password refused on a live connection).
    Fatal(RedisError),
    /// No connection could be made: a breaker failure, retried (a refused password is not
    /// retried within the operation, but later operations connect afresh).
    Setup(RedisError),
    /// The server answered and refused (`OOM`, `NOPERM`, `ERR ...`): not a breaker failure, not
    /// retried.
    Refused(RedisError),
    /// No answer within the attempt's deadline: a breaker failure and a timeout, retried.
    Timeout(Duration),
    /// A large write overran its deadline: abandoned without counting for the breaker.
    SlowWrite(Duration),
    /// The breaker refused the attempt, or (with a `call_timeout` in its config) abandoned it.
    Rejected(Error),
}

impl AttemptError {
    /// Retry what may pass on its own: a broken connection, a timeout, a node that is loading,
    /// busy or no longer primary, a connection setup that failed. Not a rejection by the open
    /// breaker (that is the point of the breaker), not an answer the server gave on purpose,
    /// not a refused password or a misconfigured client (retrying cannot fix those).
    fn is_retriable(&self) -> bool {
        match self {
            AttemptError::Timeout(_) | AttemptError::Redis(_) => true,
            AttemptError::Rejected(e) => !e.is_circuit_open(),
            AttemptError::Setup(e) => !matches!(
                e.kind(),
                ErrorKind::AuthenticationFailed
                    | ErrorKind::InvalidClientConfig
                    | ErrorKind::Client
                    | ErrorKind::RESP3NotSupported
            ),
            AttemptError::Fatal(_) | AttemptError::Refused(_) | AttemptError::SlowWrite(_) => false,
        }
    }
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
            let inner = &*self.inner;
            if value.len() > inner.max_value_bytes {
                if inner.health.may_warn() {
                    tracing::warn!(store = %inner.name, key, bytes = value.len(),
                        max_value_bytes = inner.max_value_bytes,
                        "redis store: value over max_value_bytes not written");
                }
                return Err(inner.skipped(format!(
                    "SET skipped: a value of {} bytes is over max_value_bytes ({})",
                    value.len(),
                    inner.max_value_bytes
                )));
            }
            if inner.health.writes_paused() {
                return Err(inner.skipped(
                    "SET skipped: Redis refused the last writes; writes pause for a while".into(),
                ));
            }
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.redis_key(key)).arg(value);
            if let Some(ttl) = ttl {
                cmd.arg("PX").arg(ttl_millis(ttl.min(MAX_TTL)));
            }
            // A large value gets more time, and overrunning it says nothing about the server.
            let extra = u32::try_from(value.len() / BYTES_PER_EXTRA_TIMEOUT).unwrap_or(u32::MAX);
            let limits = Limits {
                deadline: inner.op_timeout.saturating_mul(extra.saturating_add(1)),
                counted: value.len() <= LARGE_WRITE,
                write: true,
            };
            self.run_within("SET", &cmd, |_| None, limits).await
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
                    removed =
                        removed.saturating_add(self.run::<u64>("UNLINK", &unlink, |_| None).await?);
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
            .field("max_value_bytes", &inner.max_value_bytes)
            .field("breaker_state", &inner.breaker.state())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn warnings_are_rate_limited_per_store() {
        let health = Health::default();
        assert!(health.may_warn());
        assert!(!health.may_warn());
        tokio::time::advance(WARN_EVERY - Duration::from_millis(1)).await;
        assert!(!health.may_warn(), "still within the period");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(health.may_warn(), "a new period");
        assert!(!health.may_warn());
    }

    #[tokio::test(start_paused = true)]
    async fn refused_writes_pause_writes_for_a_while() {
        let health = Health::default();
        let pause = Duration::from_secs(30);
        for _ in 1..REFUSALS_BEFORE_BACKOFF {
            assert!(!health.write_refused(pause));
            assert!(!health.writes_paused(), "a few refusals are not a pattern");
        }
        assert!(health.write_refused(pause));
        assert!(health.writes_paused());
        tokio::time::advance(pause - Duration::from_millis(1)).await;
        assert!(health.writes_paused());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!health.writes_paused(), "a write is tried again");
        // Refused again: paused again at once.
        assert!(health.write_refused(pause));
        assert!(health.writes_paused());
        // A write taken clears it all.
        health.write_taken();
        assert!(!health.writes_paused());
        assert!(!health.write_refused(pause));
    }

    #[test]
    fn two_timeouts_in_a_row_replace_the_connection_and_an_answer_clears_the_run() {
        let health = Health::default();
        assert!(!health.timed_out());
        health.answered();
        assert!(!health.timed_out());
        assert!(health.timed_out(), "the second in a row");
        assert!(!health.timed_out(), "the run starts over");
    }
}
