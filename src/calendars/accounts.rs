//! Calendar accounts (V1 connections seen with an API key): `GET
//! /api/v2/calendar-accounts/{id}/` and `GET /api/v2/calendar-accounts/{id}/access_token/`.
//!
//! The id is a `connections[].id` of a calendar user. The access token has the same
//! lifecycle as a V2 calendar's (`calendars::tokens`: cached, single flight, rotated refresh
//! token committed first, a disconnected account answers `bad_refresh_token`).

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::tokens;
use super::v2::token_answer;
use crate::api::auth::ApiKeyAuth;
use crate::api::{parse_id, resource};
use crate::domain::CalendarKind;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::calendars::{self as cal_store, Calendar};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v2/calendar-accounts/{id}/").route(web::get().to(get_one)))
        .service(
            resource("/api/v2/calendar-accounts/{id}/access_token/")
                .route(web::get().to(access_token)),
        );
}

/// `{"id", "platform": "google"|"microsoft", "email"}`
pub fn account_json(cal: &Calendar) -> Value {
    json!({
        "id": cal.id,
        "platform": cal.platform.v1_name(),
        "email": cal.platform_email.clone().or_else(|| cal.oauth_email.clone()),
    })
}

/// A V1 connection by id (V2 calendars are not calendar accounts).
pub async fn get(state: &AppState, id: &str) -> ApiResult<Calendar> {
    let id = parse_id(id)?;
    state
        .store
        .read(move |c| cal_store::get(c, &id))
        .await?
        .filter(|c| c.kind == CalendarKind::V1)
        .ok_or(ApiError::NotFound)
}

async fn get_one(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let cal = get(&state, &path).await?;
    Ok(HttpResponse::Ok().json(account_json(&cal)))
}

async fn access_token(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let cal = get(&state, &path).await?;
    token_answer(tokens::access_token(&state, &cal.id).await)
}
