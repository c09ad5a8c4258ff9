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

/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// Creates an endpoint from validated fields (absent ones empty) with a new signing secret;
/// returns it with the secret in clear, which its creator sees once.
pub async fn create_endpoint(
    state: &AppState,
    patch: EndpointPatch,
) -> Result<(Endpoint, String), StoreError> {
    let secret = secret::new_webhook_secret();
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

/// Applies a validated patch; `None` when there is no such endpoint. An enabled endpoint
/// wakes the deliverer: deliveries held while it was disabled may be due now.
pub async fn update_endpoint(
    state: &AppState,
    id: &str,
    patch: EndpointPatch,
) -> Result<Option<Endpoint>, StoreError> {
    let now = state.now_ms();
    let id = id.to_string();
    let endpoint = state
        .store
        .write(move |tx| endpoints::update(tx, &id, &patch, now))
        .await?;
    if endpoint.as_ref().is_some_and(|e| e.enabled) {
        state.wake.webhooks.notify_one();
    }
    Ok(endpoint)
}

/// An endpoint's current signing secret in clear; `None` when there is no such endpoint.
pub async fn endpoint_secret(state: &AppState, id: &str) -> anyhow::Result<Option<String>> {
    let id = id.to_string();
    let sealed = state
        .store
        .read(move |c| endpoints::secrets(c, &id))
        .await?;
    Ok(match sealed {
        Some(s) => Some(state.keys.decrypt(&s.secret_enc)?),
        None => None,
    })
}

/// A new signing secret, in clear, and until when the rotated-out one keeps signing.
pub struct RotatedSecret {
    pub secret: String,
    pub previous_until: i64,
}

/// Installs a new signing secret; the current one keeps signing for
/// [`ROTATION_OVERLAP_MS`]. `None` when there is no such endpoint.
pub async fn rotate_secret(
    state: &AppState,
    id: &str,
) -> Result<Option<RotatedSecret>, StoreError> {
    let secret = secret::new_webhook_secret();
    let sealed = state.keys.encrypt(&secret);
    let now = state.now_ms();
    let previous_until = now + ROTATION_OVERLAP_MS;
    let id = id.to_string();
    let found = state
        .store
        .write(move |tx| endpoints::rotate_secret(tx, &id, &sealed, previous_until, now))
        .await?;
    Ok(found.then_some(RotatedSecret {
        secret,
        previous_until,
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    api::configure(cfg);
}
