//! Calendar connections: the provider token layer.

pub mod tokens;
