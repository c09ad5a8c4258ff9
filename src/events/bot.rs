//! `POST` / `DELETE /api/v2/calendar-events/{id}/bot/`: schedule and unschedule a bot.
//!
//! Each handler parses, makes one call to `scheduling::requests` and renders the event.
//! A request for an event or deduplication key another request is changing answers `409`
//! at once (one wins, the other is told to retry; see `scheduling::requests`).

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::api::auth::ApiKeyAuth;
use crate::api::{parse_id, resource};
use crate::error::{ApiError, ApiResult};
use crate::scheduling::{normalize_key, requests};
use crate::state::AppState;

/// Longest deduplication key accepted.
const MAX_KEY_LEN: usize = 2000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v2/calendar-events/{id}/bot/")
            .route(web::post().to(schedule))
            .route(web::delete().to(unschedule)),
    );
}

/// Validates the body; collects every field error like Django REST does.
fn parse_body(body: Value) -> ApiResult<(String, Map<String, Value>)> {
    let Value::Object(mut body) = body else {
        return Err(ApiError::BadRequest(
            "Invalid data. Expected a JSON object.".into(),
        ));
    };
    let mut errors = Map::new();
    let key = match body.remove("deduplication_key") {
        None | Some(Value::Null) => {
            errors.insert(
                "deduplication_key".into(),
                json!(["This field is required."]),
            );
            None
        }
        Some(Value::String(s)) => match normalize_key(&s) {
            None => {
                errors.insert(
                    "deduplication_key".into(),
                    json!(["This field may not be blank."]),
                );
                None
            }
            Some(k) if k.chars().count() > MAX_KEY_LEN => {
                errors.insert(
                    "deduplication_key".into(),
                    json!([format!(
                        "Ensure this field has no more than {MAX_KEY_LEN} characters."
                    )]),
                );
                None
            }
            Some(k) => Some(k),
        },
        Some(_) => {
            errors.insert("deduplication_key".into(), json!(["Not a valid string."]));
            None
        }
    };
    let config = match body.remove("bot_config") {
        None | Some(Value::Null) => {
            errors.insert("bot_config".into(), json!(["This field is required."]));
            None
        }
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            errors.insert("bot_config".into(), json!(["Must be a JSON object."]));
            None
        }
    };
    match (key, config) {
        (Some(k), Some(c)) if errors.is_empty() => Ok((k, c)),
        _ => Err(ApiError::Validation(Value::Object(errors))),
    }
}

async fn respond(state: &AppState, event_id: &str) -> ApiResult<HttpResponse> {
    let event = event_json(state, event_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(event))
}

async fn schedule(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let event_id = parse_id(&path)?;
    let (key, config) = parse_body(body.into_inner())?;
    let _held = requests::schedule(&state, &event_id, key, config).await?;
    respond(&state, &event_id).await
}

async fn unschedule(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let event_id = parse_id(&path)?;
    let _held = requests::unschedule(&state, &event_id).await?;
    respond(&state, &event_id).await
}

/// The bot endpoints answer with the event as `GET /api/v2/calendar-events/{id}/` shows it.
pub use super::api::event_json;
