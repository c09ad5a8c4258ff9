//! The events APIs: V2 calendar events and V1 calendar meetings.

pub mod admin;
pub mod api;
pub mod meetings;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    api::configure(cfg);
    meetings::configure(cfg);
}
