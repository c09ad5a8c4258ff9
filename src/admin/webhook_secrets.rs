//! An endpoint's signing secret: revealed, or rotated (the old one keeps signing for 24 h),
//! only by CSRF-protected POSTs whose answer is the page showing it once.

use actix_web::web;

use crate::state::AppState;
use crate::webhooks;

use super::csrf::AdminForm;
use super::render::{when, AdminError, AdminResult};
use super::webhook_deliveries::LogQuery;
use super::webhook_endpoint::{endpoint_id, page};
use super::webhook_endpoints::ShownSecret;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/webhooks/{id}/secret/").route(web::post().to(reveal)));
    cfg.service(super::page("/webhooks/{id}/rotate-secret/").route(web::post().to(rotate)));
}

async fn reveal(
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let id = endpoint_id(&path)?;
    let secret = webhooks::endpoint_secret(&state, &id)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?
        .ok_or(AdminError::NotFound)?;
    tracing::info!(endpoint_id = %id, "webhook endpoint secret revealed in the admin");
    let shown = ShownSecret {
        secret,
        note: "Verify deliveries with this secret (Standard Webhooks).".into(),
    };
    page(&form.session, &state, id, &LogQuery::default(), Some(shown)).await
}

async fn rotate(
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let id = endpoint_id(&path)?;
    let rotated = webhooks::rotate_secret(&state, &id)
        .await?
        .ok_or(AdminError::NotFound)?;
    tracing::info!(endpoint_id = %id, "webhook endpoint secret rotated in the admin");
    let shown = ShownSecret {
        secret: rotated.secret,
        note: format!(
            "The new secret. Deliveries carry signatures with both the new and the previous \
             secret until {}: update your receiver before then.",
            when(rotated.previous_until)
        ),
    };
    page(&form.session, &state, id, &LogQuery::default(), Some(shown)).await
}
