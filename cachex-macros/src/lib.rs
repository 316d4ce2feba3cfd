//! Attribute macros of cachex. Use them through `cachex-runtime`, which re-exports them.
