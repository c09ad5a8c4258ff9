//! The one integration-test binary: real server on port 0, real SQLite, simulator beside it.

mod helpers;

mod bots;
mod foundation;
mod receiver;
mod webhooks;
mod zoom;
