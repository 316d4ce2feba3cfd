//! Keyed breakers: `#[circuit_breaker(name = "search", key = region)]` keeps one breaker per
//! value of the key, registered as `"search/<value>"` with the declaration's configuration.
//!
//! A group keeps at most [`MAX_KEYED`] breakers. When a new key comes and the group is full, the
//! CLOSED breaker used longest ago is dropped (a later call of that key starts a fresh one); an
//! OPEN or HALF_OPEN one is never dropped. When every one of them is open, the new key's call
//! runs under a breaker of its own that is not kept.
//!
//! A key's text is bounded: beyond [`MAX_KEY_BYTES`] bytes it is cut on a character boundary and
//! a hash of the whole text is appended, so a huge `Display` never makes a huge name (and is
//! never held in memory whole).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::{self, Display, Write as _};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use super::{BreakerConfig, CircuitBreaker, State};
use crate::sync::RwLock;

/// Keyed breakers kept per declared name.
pub(crate) const MAX_KEYED: usize = 1_000;

/// Bytes of a key's text kept in a breaker's name before it is cut and hashed.
pub(crate) const MAX_KEY_BYTES: usize = 128;

struct Member {
    breaker: Arc<CircuitBreaker>,
    /// The group's tick at this key's last use: the smallest is the idlest.
    used: AtomicU64,
}

/// The keyed breakers of one declared name.
pub(crate) struct KeyedGroup {
    name: String,
    config: BreakerConfig,
    members: RwLock<HashMap<String, Member>>,
    tick: AtomicU64,
    warned_full: AtomicBool,
}

impl fmt::Debug for KeyedGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedGroup")
            .field("name", &self.name)
            .field("breakers", &self.members.read().len())
            .finish_non_exhaustive()
    }
}

impl KeyedGroup {
    pub(crate) fn new(name: &str, config: BreakerConfig) -> Self {
        KeyedGroup {
            name: name.to_owned(),
            config,
            members: RwLock::new(HashMap::new()),
            tick: AtomicU64::new(0),
            warned_full: AtomicBool::new(false),
        }
    }

    /// The breaker of the key whose `Display` is `key`.
    pub(crate) fn get<K: Display + ?Sized>(&self, key: &K) -> Arc<CircuitBreaker> {
        thread_local! {
            static BUF: RefCell<String> = const { RefCell::new(String::new()) };
        }
        BUF.with(|buf| match buf.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                bounded_key(key, &mut buf);
                self.get_bounded(&buf)
            }
            // A key whose `Display` itself calls a keyed breaker.
            Err(_) => {
                let mut own = String::new();
                bounded_key(key, &mut own);
                self.get_bounded(&own)
            }
        })
    }

    /// The breaker of an already bounded key text.
    pub(crate) fn get_bounded(&self, key: &str) -> Arc<CircuitBreaker> {
        let now = self.tick.fetch_add(1, Relaxed);
        if let Some(m) = self.members.read().get(key) {
            m.used.store(now, Relaxed);
            return Arc::clone(&m.breaker);
        }
        self.insert(key, now)
    }

    #[cold]
    fn insert(&self, key: &str, now: u64) -> Arc<CircuitBreaker> {
        let mut members = self.members.write();
        if let Some(m) = members.get(key) {
            return Arc::clone(&m.breaker);
        }
        let full_name = format!("{}/{}", self.name, key);
        if members.len() >= MAX_KEYED && !evict_idlest_closed(&mut members) {
            if !self.warned_full.swap(true, Relaxed) {
                tracing::warn!(
                    breaker = %self.name,
                    "every keyed breaker of this name is open; calls of new keys run under breakers that are not kept"
                );
            }
            return Arc::new(CircuitBreaker::named(Cow::Owned(full_name), self.config));
        }
        let breaker = Arc::new(CircuitBreaker::named(Cow::Owned(full_name), self.config));
        members.insert(
            key.to_owned(),
            Member {
                breaker: Arc::clone(&breaker),
                used: AtomicU64::new(now),
            },
        );
        breaker
    }

    /// Every kept breaker.
    pub(crate) fn breakers(&self) -> Vec<Arc<CircuitBreaker>> {
        self.members
            .read()
            .values()
            .map(|m| Arc::clone(&m.breaker))
            .collect()
    }
}

/// Drops the CLOSED breaker used longest ago; false when none is CLOSED.
fn evict_idlest_closed(members: &mut HashMap<String, Member>) -> bool {
    let idlest = members
        .iter()
        .filter(|(_, m)| m.breaker.state() == State::Closed)
        .min_by_key(|(_, m)| m.used.load(Relaxed))
        .map(|(k, _)| k.clone());
    match idlest {
        Some(k) => members.remove(&k).is_some(),
        None => false,
    }
}

/// Writes the bounded text of `key` into `out`: the text itself when it is at most
/// [`MAX_KEY_BYTES`] bytes, else its first bytes up to a character boundary, `~` and a hash of
/// the whole text.
///
/// ```text
/// "eu"            -> "eu"
/// "x" × 10_000    -> "xxx…x~3f9c0d1e2a4b5c6d" (128 bytes of text, then the hash)
/// ```
pub(crate) fn bounded_key<K: Display + ?Sized>(key: &K, out: &mut String) {
    let mut w = Bounded {
        out,
        len: 0,
        cut: false,
        hash: foldhash::fast::FixedState::with_seed(0x6361_6368_6578).build_hasher(),
    };
    // A `Display` that fails leaves what it wrote: still a valid, bounded name.
    let _ = write!(w, "{key}");
    if w.cut {
        let h = w.hash.finish();
        let _ = write!(w.out, "~{h:016x}");
    }
}

struct Bounded<'a> {
    out: &'a mut String,
    len: usize,
    cut: bool,
    hash: foldhash::fast::FoldHasher<'static>,
}

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.hash.write(s.as_bytes());
        self.len = self.len.saturating_add(s.len());
        if self.cut {
            return Ok(());
        }
        let room = MAX_KEY_BYTES.saturating_sub(self.out.len());
        if s.len() <= room {
            self.out.push_str(s);
            return Ok(());
        }
        let mut end = room;
        while end > 0 && !s.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        self.out.push_str(s.get(..end).unwrap_or(""));
        self.cut = true;
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn text<K: Display + ?Sized>(k: &K) -> String {
        let mut s = String::new();
        bounded_key(k, &mut s);
        s
    }

    #[test]
    fn short_keys_are_kept_as_written_and_long_ones_are_cut_and_hashed() {
        assert_eq!(text("eu"), "eu");
        assert_eq!(text(""), "");
        let long = "é".repeat(1_000);
        let t = text(&long);
        assert!(t.len() <= MAX_KEY_BYTES + 17, "{}", t.len());
        assert!(t.contains('~'));
        let other = format!("{}x", "é".repeat(999));
        assert_ne!(t, text(&other), "different long keys keep different names");
        assert_eq!(t, text(&long), "the same key, the same name");
    }
}
