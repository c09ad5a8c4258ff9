//! The events APIs: V2 calendar events (and their `bot/` sub-resource) and V1 calendar
//! meetings.

pub mod admin;
pub mod api;
pub mod bot;
pub mod meetings;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    bot::configure(cfg);
    api::configure(cfg);
    meetings::configure(cfg);
}
