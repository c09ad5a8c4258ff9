//! Webhooks (Standard Webhooks): the workspace secret, endpoints, signing and delivery.
//! Messages are written by `store::outbox::enqueue` in the transaction of the change.

pub mod api;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    api::configure(cfg);
}
