//! The one integration-test binary: real server on port 0, real SQLite, simulator beside it.

mod helpers;

mod foundation;

mod admin;
mod browser;
