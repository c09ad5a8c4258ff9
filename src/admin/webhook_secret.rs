//! The workspace webhook secret (signs deliveries to V2 calendars' `webhook_url`), shown on
//! the API keys page only when the admin clicks "Reveal": a CSRF-protected POST, so it is
//! never in a page by default and works without JavaScript.

use actix_web::web;

use crate::state::AppState;
use crate::webhooks::secret::workspace_secret;

use super::csrf::AdminForm;
use super::render::{AdminError, AdminResult};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/api-keys/webhook-secret/").route(web::post().to(reveal)));
}

async fn reveal(state: web::Data<AppState>, form: AdminForm<serde::de::IgnoredAny>) -> AdminResult {
    let secret = workspace_secret(&state)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    tracing::info!("workspace webhook secret revealed in the admin");
    super::api_keys::page(&form.session, &state, None, Some(secret)).await
}
