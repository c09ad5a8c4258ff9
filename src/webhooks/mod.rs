//! Webhooks (Standard Webhooks): the workspace secret, endpoints, signing and delivery.
//! Messages are written by `store::outbox::enqueue` in the transaction of the change;
//! `deliver::deliver_due` sends them.

pub mod api;
pub mod deliver;
pub mod sign;

use actix_web::web;

/// Sent with every delivery.
pub const USER_AGENT: &str = concat!("Convene/", env!("CARGO_PKG_VERSION"));

/// Every event type Convene emits; endpoints may subscribe to these only.
pub const EVENT_TYPES: &[&str] = &[
    "calendar.update",
    "calendar.sync_events",
    "calendar_user.update",
    "zoom_oauth_credential.update",
    "bot.scheduled",
    "bot.cancelled",
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    api::configure(cfg);
}
