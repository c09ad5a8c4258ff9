//! Zoom OAuth: apps, credentials made from authorization codes (or customer-managed
//! callbacks), fresh access tokens, the app webhook (deauthorization, URL validation,
//! `meeting.*`), the meeting sync and its map, meeting tokens for bots, the log lists, and
//! the sweep that keeps idle credentials' refresh tokens young.

pub mod api;
pub mod apps;
pub mod client;
pub mod client_meetings;
pub mod credentials;
mod credentials_api;
pub mod customer;
pub mod deauth;
pub mod logs;
pub mod meeting_tokens;
pub mod meetings;
pub mod meetings_api;
pub mod sweep;
pub mod tokens;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    api::configure(cfg);
    deauth::configure(cfg);
    meetings_api::configure(cfg);
    logs::configure(cfg);
}
