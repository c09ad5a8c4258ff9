//! Calendar users (V1): `GET/PUT/PATCH/DELETE /api/v1/calendar/user/`,
//! `POST /api/v1/calendar/user/disconnect/` (calendar auth token) and
//! `GET /api/v1/calendar/users/` (API key).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::status::announce_user;
use super::{user_json, BOOL_PREFERENCES};
use crate::api::auth::{ApiKeyAuth, CalendarUserAuth};
use crate::api::pagination::{build_page, IntWindow, PageRequest};
use crate::api::{resource, token_resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::calendar_users::{self, CalendarUser};
use crate::store::calendars as cal_store;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        token_resource("/api/v1/calendar/user/")
            .route(web::get().to(get_user))
            .route(web::put().to(update_user))
            .route(web::patch().to(update_user))
            .route(web::delete().to(delete_user)),
    )
    .service(token_resource("/api/v1/calendar/user/disconnect/").route(web::post().to(disconnect)))
    .service(resource("/api/v1/calendar/users/").route(web::get().to(list_users)));
}

async fn render(state: &AppState, user: CalendarUser) -> ApiResult<Value> {
    Ok(state.store.read(move |c| user_json(c, &user)).await?)
}

async fn get_user(auth: CalendarUserAuth, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(render(&state, auth.user).await?))
}

/// Merges a partial `preferences` object into the stored one, checking types.
fn merge_preferences(stored: &str, patch: &Value) -> ApiResult<String> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::field("preferences", "Must be an object."));
    };
    let mut current: Map<String, Value> = serde_json::from_str(stored).unwrap_or_default();
    for (k, v) in patch {
        if BOOL_PREFERENCES.contains(&k.as_str()) {
            if !v.is_boolean() {
                return Err(ApiError::field(
                    "preferences",
                    format!("{k} must be a boolean."),
                ));
            }
        } else if k == "bot_name" {
            match v.as_str() {
                Some(s) if !s.trim().is_empty() && s.len() <= 100 => {}
                _ => {
                    return Err(ApiError::field(
                        "preferences",
                        "bot_name must be a non-empty string of at most 100 characters.",
                    ))
                }
            }
        } else {
            // Unknown keys are ignored, not stored.
            continue;
        }
        current.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(current).to_string())
}

async fn update_user(
    auth: CalendarUserAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let Some(patch) = body.get("preferences") else {
        return Ok(HttpResponse::Ok().json(render(&state, auth.user).await?));
    };
    let patch = patch.clone();
    let now = state.now_ms();
    let id = auth.user.id.clone();
    let user = state
        .store
        .write(move |tx| {
            // Deleted since the token was checked: the token no longer names a user.
            let user = calendar_users::get(tx, &id)?.ok_or_else(|| {
                ApiError::Unauthorized("Invalid or expired calendar auth token.".into())
            })?;
            let merged = merge_preferences(&user.preferences, &patch)?;
            calendar_users::set_preferences(tx, &id, &merged, now)?;
            Ok::<_, ApiError>(CalendarUser {
                preferences: merged,
                updated_at: now,
                ..user
            })
        })
        .await?;
    // Preferences decide which meetings record: re-decide now rather than at the next sync.
    crate::scheduling::will_record::apply_will_record(&state, &user.id).await?;
    Ok(HttpResponse::Ok().json(render(&state, user).await?))
}

/// Deletes the user with its connections and their events (cascade).
async fn delete_user(
    auth: CalendarUserAuth,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let id = auth.user.id.clone();
    let now = state.now_ms();
    state
        .store
        .write(move |tx| super::remove_calendar_user(tx, &id, now))
        .await?;
    crate::scheduling::wake(&state);
    Ok(HttpResponse::NoContent().finish())
}

async fn disconnect(
    auth: CalendarUserAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let platform = super::v1_platform(&body)?;
    let user_id = auth.user.id.clone();
    let existing = {
        let uid = user_id.clone();
        state
            .store
            .read(move |c| cal_store::v1_find(c, &uid, platform))
            .await?
    };
    if let Some(cal) = existing {
        let _guard = super::tokens::lock_calendar(&state, &cal.id).await;
        let now = state.now_ms();
        let removed = state
            .store
            .write(move |tx| {
                let removed = super::remove_calendar(tx, &cal.id, now)?;
                if removed {
                    announce_user(tx, &user_id, platform, None, false, now)?;
                }
                Ok::<_, ApiError>(removed)
            })
            .await?;
        if removed {
            crate::scheduling::wake(&state);
        }
    }
    Ok(HttpResponse::Ok().json(render(&state, auth.user).await?))
}

async fn list_users(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_request(&state, &req)?;
    let IntWindow {
        after,
        backwards,
        limit,
    } = page.int_window()?;
    let rows = state
        .store
        .read(move |c| {
            let users = calendar_users::list(c, after, backwards, limit)?;
            users
                .into_iter()
                .map(|u| {
                    let key = (u.created_at, u.id.clone());
                    user_json(c, &u).map(|v| (key, v))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(ApiError::from)?;
    let body = build_page(&state, &req, &page, rows, |(k, _)| {
        (serde_json::json!(k.0), k.1.clone())
    });
    let body = crate::api::pagination::Page {
        next: body.next,
        previous: body.previous,
        results: body.results.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    };
    Ok(HttpResponse::Ok().json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_merge_partially_and_check_types() {
        let merged = merge_preferences(
            r#"{"record_external":true}"#,
            &serde_json::json!({"record_internal": true, "unknown": 1}),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&merged).unwrap();
        assert_eq!(v["record_external"], true);
        assert_eq!(v["record_internal"], true);
        assert!(v.get("unknown").is_none());
        assert!(merge_preferences("{}", &serde_json::json!({"record_external": "yes"})).is_err());
        assert!(merge_preferences("{}", &serde_json::json!({"bot_name": ""})).is_err());
        assert!(merge_preferences("{}", &serde_json::json!([])).is_err());
    }
}
