//! Placeholder until the memory store lands.
use std::time::Duration;

use super::BoxFuture;
use crate::{Error, Store};

/// An in-process store.
#[derive(Debug)]
pub struct MemoryStore;

impl MemoryStore {
    /// A store holding at most `capacity` entries.
    pub fn new(_capacity: u64) -> Self {
        MemoryStore
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, Error>> {
        Box::pin(async { Ok(None) })
    }
    fn set<'a>(
        &'a self,
        _key: &'a str,
        _value: &'a [u8],
        _ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
    fn delete<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async { Ok(false) })
    }
    fn clear_prefix<'a>(&'a self, _prefix: &'a str) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async { Ok(0) })
    }
}
