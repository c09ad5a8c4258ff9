//! `POST /api/v1/calendar/oauth_url/`: the ready authorize URL for the hosted V1 flow.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::auth_token::{ensure_user, user_id_field};
use super::callback_url;
use crate::api::auth::{mint_calendar_token, ApiKeyAuth};
use crate::api::resource;
use crate::error::{ApiError, ApiResult};
use crate::providers::{google, microsoft, Platform};
use crate::state::AppState;
use crate::store::settings as kv;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/calendar/oauth_url/").route(web::post().to(oauth_url)));
}

/// The `state` JSON of the hosted flow (api.md).
pub fn state_json(
    platform: Platform,
    calendar_token: &str,
    redirect_uri: &str,
    success_url: Option<&str>,
    error_url: Option<&str>,
) -> String {
    let mut s = Map::new();
    s.insert("recall_calendar_auth_token".into(), json!(calendar_token));
    let key = match platform {
        Platform::Google => "google_oauth_redirect_url",
        Platform::Microsoft => "ms_oauth_redirect_url",
    };
    s.insert(key.into(), json!(redirect_uri));
    if let Some(u) = success_url {
        s.insert("success_url".into(), json!(u));
    }
    if let Some(u) = error_url {
        s.insert("error_url".into(), json!(u));
    }
    Value::Object(s).to_string()
}

/// The authorize URL for `platform` with the platform's client id.
pub fn authorize_url(
    settings: &crate::config::Settings,
    platform: Platform,
    client_id: &str,
    state: &str,
) -> String {
    let redirect_uri = callback_url(settings, platform);
    match platform {
        Platform::Google => google::authorize_url(settings, client_id, &redirect_uri, state),
        Platform::Microsoft => microsoft::authorize_url(settings, client_id, &redirect_uri, state),
    }
}

fn optional_url(
    body: &Value,
    field: &str,
    allow: &crate::redirects::AllowList,
) -> ApiResult<Option<String>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => {
            if allow.check(s).is_none() {
                return Err(ApiError::field(
                    field,
                    "Must be an absolute http(s) URL on an allowed redirect origin.",
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(ApiError::field(field, "Must be a string.")),
    }
}

async fn oauth_url(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let platform = super::v1_platform(&body)?;
    let external_id = user_id_field(&body)?;
    let allow = state.allow_list().await?;
    let success_url = optional_url(&body, "success_url", &allow)?;
    let error_url = optional_url(&body, "error_url", &allow)?;
    let client = state
        .store
        .read(move |c| kv::get_platform_client(c, platform.v1_name()))
        .await?
        .ok_or_else(|| {
            ApiError::field(
                "platform",
                format!(
                    "No OAuth client is saved for {}; add it in the admin pages.",
                    platform.v1_name()
                ),
            )
        })?;
    let user = ensure_user(&state, external_id).await?;
    let url = hosted_authorize_url(
        &state,
        platform,
        &client.client_id,
        &user.external_id,
        success_url.as_deref(),
        error_url.as_deref(),
    );
    Ok(HttpResponse::Ok().json(json!({ "url": url })))
}

/// The ready authorize URL of the hosted flow for the app's user `external_id`: a fresh
/// calendar auth token in the `state` JSON, our callback as the redirect URI. Shared by
/// this endpoint and the admin's "Test the OAuth setup" button, so both build the same URL.
pub fn hosted_authorize_url(
    state: &AppState,
    platform: Platform,
    client_id: &str,
    external_id: &str,
    success_url: Option<&str>,
    error_url: Option<&str>,
) -> String {
    let token = mint_calendar_token(state, external_id);
    let state_param = state_json(
        platform,
        &token,
        &callback_url(&state.settings, platform),
        success_url,
        error_url,
    );
    authorize_url(&state.settings, platform, client_id, &state_param)
}
