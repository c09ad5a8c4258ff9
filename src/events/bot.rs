//! `POST` / `DELETE /api/v2/calendar-events/{id}/bot/`: schedule and unschedule a bot.
//!
//! Concurrency: each call takes the single-flight locks of its event and of its
//! deduplication key with `try_lock`; when another call holds one, it answers `409` at once
//! (one wins, the other is told to retry). That gives the API its "one wins" answer; the
//! guarantee of never two bots does not rest on it but on the serialised write
//! transactions and the UNIQUE index of live keys.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use tokio::sync::OwnedMutexGuard;

use crate::api::auth::ApiKeyAuth;
use crate::api::{parse_id, resource};
use crate::coord::LockName;
use crate::error::{ApiError, ApiResult};
use crate::scheduling::dedup::{self, Source};
use crate::scheduling::{normalize_key, wake, Mode};
use crate::state::AppState;
use crate::store::{self, bots as db};

/// Longest deduplication key accepted.
const MAX_KEY_LEN: usize = 2000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v2/calendar-events/{id}/bot/")
            .route(web::post().to(schedule))
            .route(web::delete().to(unschedule)),
    );
}

fn busy() -> ApiError {
    ApiError::Conflict(
        "Another bot change for this event or deduplication key is in progress; retry.".into(),
    )
}

fn try_lock(state: &AppState, name: LockName) -> ApiResult<OwnedMutexGuard<()>> {
    state.locks.try_lock(name).ok_or_else(busy)
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
    let _event_guard = try_lock(&state, LockName::BotEvent(&event_id))?;
    let _key_guard = try_lock(&state, LockName::BotKey(&key))?;
    // The key the event is on now is changed too (it may lose its last event).
    let eid = event_id.clone();
    let old_key = state
        .store
        .read(move |c| current_key(c, &eid))
        .await?
        .filter(|k| *k != key);
    let _old_key_guard = match &old_key {
        Some(k) => Some(try_lock(&state, LockName::BotKey(k))?),
        None => None,
    };
    let mode = Mode::of(&state);
    let now = state.now_ms();
    let eid = event_id.clone();
    state
        .store
        .write(move |tx| {
            let event = db::get_event(tx, &eid)?.ok_or(ApiError::NotFound)?;
            if current_key(tx, &eid)?.filter(|k| *k != key) != old_key {
                return Err(busy());
            }
            dedup::schedule(tx, &event, &key, &config, Source::Api, mode, now)?;
            Ok(())
        })
        .await?;
    wake(&state);
    respond(&state, &event_id).await
}

async fn unschedule(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let event_id = parse_id(&path)?;
    let _event_guard = try_lock(&state, LockName::BotEvent(&event_id))?;
    let eid = event_id.clone();
    let key = state.store.read(move |c| current_key(c, &eid)).await?;
    let _key_guard = match &key {
        Some(k) => Some(try_lock(&state, LockName::BotKey(k))?),
        None => None,
    };
    let now = state.now_ms();
    let eid = event_id.clone();
    state
        .store
        .write(move |tx| {
            db::get_event(tx, &eid)?.ok_or(ApiError::NotFound)?;
            if current_key(tx, &eid)? != key {
                return Err(busy());
            }
            dedup::unschedule(tx, &eid, None, "unscheduled through the API", now)?;
            Ok(())
        })
        .await?;
    wake(&state);
    respond(&state, &event_id).await
}

/// The deduplication key of the event's live bot, if it has one.
fn current_key(conn: &rusqlite::Connection, event_id: &str) -> ApiResult<Option<String>> {
    let Some(link) = db::link_for_event(conn, event_id)? else {
        return Ok(None);
    };
    Ok(db::get_bot(conn, &link.bot_id)?
        .filter(|b| b.active)
        .map(|b| b.dedup_key))
}

/// The CalendarEvent JSON (contract fields + `bots`), or `None` when there is no such event.
pub async fn event_json(
    state: &AppState,
    event_id: &str,
) -> Result<Option<super::api::CalendarEvent>, ApiError> {
    let id = event_id.to_string();
    state
        .store
        .read(move |c| {
            let Some(e) = store::events::get(c, &id)? else {
                return Ok(None);
            };
            let bots = db::bots_json_for_event(c, &id)?;
            // The events API's own serializer, so `raw` stays byte for byte.
            Ok(Some(super::api::to_api(&e, bots)))
        })
        .await
}
