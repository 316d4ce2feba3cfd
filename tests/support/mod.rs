//! Helpers shared by the integration tests. Each test binary uses only some of them.
#![allow(dead_code, unreachable_pub)]

pub mod proxy;
pub mod redis_server;
pub mod tls;
