//! Webhooks (Standard Webhooks): the workspace secret, endpoints, signing and delivery.
//! Messages are written by `store::outbox::enqueue` in the transaction of the change;
//! `deliver::deliver_due` sends them.

pub mod api;
pub mod deliver;
pub mod secret;
pub mod sign;

use actix_web::web;

use crate::state::AppState;
use crate::store::webhook_endpoints::{self as endpoints, Endpoint, EndpointPatch, NewEndpoint};
use crate::store::StoreError;

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

/// Creates an endpoint from validated fields (absent ones empty) with a new signing secret;
/// returns it with the secret in clear, which its creator sees once.
pub async fn create_endpoint(
    state: &AppState,
    patch: EndpointPatch,
) -> Result<(Endpoint, String), StoreError> {
    let secret = crate::webhooks::secret::new_webhook_secret();
    let sealed = state.keys.encrypt(&secret);
    let now = state.now_ms();
    let endpoint = state
        .store
        .write(move |tx| {
            endpoints::insert(
                tx,
                &NewEndpoint {
                    url: patch.url.as_deref().unwrap_or_default(),
                    description: patch.description.as_deref().unwrap_or_default(),
                    event_types: patch.event_types.as_deref().unwrap_or_default(),
                    secret_enc: &sealed,
                },
                now,
            )
        })
        .await?;
    Ok((endpoint, secret))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    api::configure(cfg);
}
