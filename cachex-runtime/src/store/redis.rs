//! Placeholder until the Redis store lands.

/// A Redis-backed store.
#[derive(Debug, Clone)]
pub struct RedisStore;

/// Builder of a [`RedisStore`].
#[derive(Debug)]
pub struct RedisStoreBuilder;
