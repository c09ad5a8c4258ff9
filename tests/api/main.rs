//! The one integration-test binary: real server on port 0, real SQLite, simulator beside it.

mod helpers;

mod accounts;
mod architecture;
mod bots;
mod calendar_support;
mod calendar_v1;
mod calendar_v2;
mod contract;
mod cors;
mod events;
mod foundation;
mod meetings;
mod push;
mod receiver;
mod scale;
mod schema;
mod sync;
mod sync_fixtures;
mod webhooks;
mod year_clients;
mod year_keys;
mod year_ops;
mod year_sync;
mod year_tokens;
mod zoom;
mod zoom_parity;

mod admin;
mod admin_bots;
mod admin_calendars;
mod admin_webhooks;
mod admin_zoom;
mod browser;
mod operations;
