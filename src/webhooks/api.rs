//! `/api/v1/webhook-secret/` and the webhook endpoints API.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::api::auth::ApiKeyAuth;
use crate::api::resource;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::settings as kv;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/webhook-secret/").route(web::get().to(workspace_secret)));
}

/// The workspace secret that signs deliveries to V2 calendars' `webhook_url`.
async fn workspace_secret(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let sealed = state
        .store
        .read(|c| kv::get(c, kv::WORKSPACE_WEBHOOK_SECRET))
        .await?
        .ok_or_else(|| crate::error::ApiError::internal("workspace secret missing"))?;
    let secret = state
        .keys
        .decrypt(&sealed)
        .map_err(crate::error::ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({ "secret": secret })))
}
