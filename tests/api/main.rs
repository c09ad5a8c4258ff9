//! The one integration-test binary: real server on port 0, real SQLite, simulator beside it.

mod helpers;

mod bots;
mod calendar_support;
mod calendar_v1;
mod calendar_v2;
mod foundation;
mod receiver;
mod webhooks;
mod zoom;

mod admin;
mod admin_webhooks;
mod admin_zoom;
mod browser;
