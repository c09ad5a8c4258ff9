//! Zoom OAuth: apps, credentials made from authorization codes, fresh access tokens, the
//! deauthorization endpoint and the sweep that keeps idle credentials' refresh tokens young.

pub mod api;
pub mod apps;
pub mod client;
pub mod credentials;
pub mod deauth;
pub mod sweep;
pub mod tokens;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    api::configure(cfg);
    deauth::configure(cfg);
}
