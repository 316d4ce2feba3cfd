//! Circuit breaker behaviour through the public API.
