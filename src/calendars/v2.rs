//! Calendar V2: `/api/v2/calendars/` (create, list), `/api/v2/calendars/{id}/` (get, PATCH,
//! DELETE) and `/api/v2/calendars/{id}/access-token/`.
//!
//! Create and PATCH with new credentials try the refresh token at once: the answer is the
//! calendar `connected`, or `disconnected` with the provider's code when the token is
//! rejected (still `201` on create), or `connecting` when the provider is unreachable (the
//! token sweep completes it later).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::calendar_json;
use super::reconnect::{self, try_connect, CalendarFields};
use super::tokens::{self, TokenError};
use crate::api::auth::ApiKeyAuth;
use crate::api::pagination::{build_page, IntWindow, PageRequest};
use crate::api::{parse_id, resource};
use crate::domain::{CalendarKind, CalendarStatus, Platform};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::calendars::{self as cal_store, Calendar, V2Filter};
use crate::store::ms_to_rfc3339;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v2/calendars/")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        resource("/api/v2/calendars/{id}/")
            .route(web::get().to(get_one))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(resource("/api/v2/calendars/{id}/access-token/").route(web::post().to(access_token)));
}

/// Validates a create (`partial = false`) or PATCH body; every problem is reported at once.
fn parse_fields(body: &Value, partial: bool) -> ApiResult<CalendarFields> {
    let Value::Object(body) = body else {
        return Err(ApiError::BadRequest(
            "Invalid data. Expected a JSON object.".into(),
        ));
    };
    let mut errors = Map::new();
    let mut err = |field: &str, msg: &str| {
        errors.insert(field.into(), json!([msg]));
    };
    let mut f = CalendarFields::default();
    let required = |field: &str, err: &mut dyn FnMut(&str, &str)| -> Option<String> {
        match body.get(field) {
            None if partial => None,
            None => {
                err(field, "This field is required.");
                None
            }
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::String(_)) => {
                err(field, "This field may not be blank.");
                None
            }
            Some(Value::Null) => {
                err(field, "This field may not be null.");
                None
            }
            Some(_) => {
                err(field, "Not a valid string.");
                None
            }
        }
    };
    if let Some(p) = required("platform", &mut err) {
        match Platform::from_v2(&p) {
            Some(p) => f.platform = Some(p),
            None => err("platform", &format!("\"{p}\" is not a valid choice.")),
        }
    }
    f.client_id = required("oauth_client_id", &mut err);
    f.client_secret = required("oauth_client_secret", &mut err);
    f.refresh_token = required("oauth_refresh_token", &mut err);
    for field in ["oauth_email", "webhook_url"] {
        let value = match body.get(field) {
            None => continue,
            Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(_) => {
                err(field, "Not a valid string.");
                continue;
            }
        };
        if field == "webhook_url" {
            if let Some(u) = &value {
                if crate::redirects::parse_strict(u).is_none() {
                    err(field, "Enter a valid http(s) URL.");
                    continue;
                }
            }
            f.webhook_url = Some(value);
        } else {
            if value
                .as_ref()
                .is_some_and(|e| !e.contains('@') || e.len() > 320)
            {
                err(field, "Enter a valid email address.");
                continue;
            }
            f.oauth_email = Some(value);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(Value::Object(errors)));
    }
    Ok(f)
}

async fn render(state: &AppState, id: String) -> ApiResult<Value> {
    state
        .store
        .read(move |c| {
            let cal = cal_store::get_v2(c, &id)?.ok_or(ApiError::NotFound)?;
            Ok(calendar_json(c, &cal)?)
        })
        .await
}

async fn create(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let f = parse_fields(&body, false)?;
    let now = state.now_ms();
    let (Some(platform), Some(client_id), Some(secret), Some(refresh)) =
        (f.platform, f.client_id, f.client_secret, f.refresh_token)
    else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let cal = Calendar {
        oauth_client_id: Some(client_id),
        oauth_client_secret_enc: Some(state.keys.encrypt(&secret)),
        oauth_refresh_token_enc: Some(state.keys.encrypt(&refresh)),
        oauth_email: f.oauth_email.flatten(),
        webhook_url: f.webhook_url.flatten(),
        // Due at once: if this process dies before the first refresh, the sweep does it.
        next_refresh_at: Some(now),
        ..Calendar::new(CalendarKind::V2, platform, CalendarStatus::Connecting, now)
    };
    let id = cal.id.clone();
    state
        .store
        .write(move |tx| cal_store::insert(tx, &cal))
        .await
        .map_err(ApiError::from)?;
    try_connect(&state, &id).await;
    Ok(HttpResponse::Created().json(render(&state, id).await?))
}

fn filter_from(req: &HttpRequest) -> ApiResult<V2Filter> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let invalid = |field: &str, v: &str| {
        ApiError::field(
            field,
            format!("Select a valid choice. {v} is not one of the available choices."),
        )
    };
    let mut f = V2Filter::default();
    for (k, v) in pairs {
        match k.as_str() {
            "platform" if !v.is_empty() => {
                f.platform = Some(Platform::from_v2(&v).ok_or_else(|| invalid("platform", &v))?);
            }
            "status" if !v.is_empty() => {
                f.status = Some(CalendarStatus::parse(&v).ok_or_else(|| invalid("status", &v))?);
            }
            "email" if !v.is_empty() => f.email = Some(v),
            // Same forms as the events' time filters (a date, or a `+` offset that form
            // decoding turned into a space).
            "created_at__gte" if !v.is_empty() => {
                f.created_at_gte = Some(crate::api::params::parse_time("created_at__gte", &v)?);
            }
            _ => {}
        }
    }
    Ok(f)
}

async fn list(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let filter = filter_from(&req)?;
    let page = PageRequest::from_request(&state, &req)?;
    let IntWindow {
        after,
        backwards,
        limit,
    } = page.int_window()?;
    let rows = state
        .store
        .read(move |c| {
            cal_store::list_v2(c, &filter, after, backwards, limit)?
                .into_iter()
                .map(|cal| calendar_json(c, &cal).map(|v| ((cal.created_at, cal.id), v)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(ApiError::from)?;
    let page = build_page(&state, &req, &page, rows, |(k, _)| {
        (json!(k.0), k.1.clone())
    });
    Ok(HttpResponse::Ok().json(json!({
        "next": page.next,
        "previous": page.previous,
        "results": page.results.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })))
}

async fn get_one(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    Ok(HttpResponse::Ok().json(render(&state, id).await?))
}

async fn update(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let f = parse_fields(&body, true)?;
    if !reconnect::update_v2(&state, &id, f).await? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::Ok().json(render(&state, id).await?))
}

/// Deletes the calendar and (cascade) its events. The app did it: no webhook.
async fn delete(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let _guard = tokens::lock_calendar(&state, &id).await;
    let now = state.now_ms();
    let removed = state
        .store
        .write(move |tx| {
            if cal_store::get_v2(tx, &id)?.is_none() {
                return Ok(false);
            }
            super::remove_calendar(tx, &id, now)
        })
        .await
        .map_err(ApiError::from)?;
    if !removed {
        return Err(ApiError::NotFound);
    }
    crate::scheduling::wake(&state);
    Ok(HttpResponse::NoContent().finish())
}

fn token_error(code: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "code": code, "message": message.into() }))
}

async fn access_token(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    {
        let id = id.clone();
        state
            .store
            .read(move |c| cal_store::get_v2(c, &id))
            .await?
            .ok_or(ApiError::NotFound)?;
    }
    token_answer(tokens::access_token(&state, &id).await)
}

/// The answer of an access-token request (V2 calendars and V1 calendar accounts):
/// `{"token", "expires_at"}`, or `400 {"code", "message"}` when none can be had.
pub fn token_answer(result: Result<tokens::AccessToken, TokenError>) -> ApiResult<HttpResponse> {
    match result {
        Ok(t) => Ok(HttpResponse::Ok().json(json!({
            "token": t.token,
            "expires_at": ms_to_rfc3339(t.expires_at_ms),
        }))),
        Err(TokenError::NotFound) => Err(ApiError::NotFound),
        Err(TokenError::Disconnected { code, message }) => Ok(token_error(
            "bad_refresh_token",
            format!("The calendar is disconnected ({code}): {message}"),
        )),
        Err(TokenError::NoCredentials) => Ok(token_error(
            "no_oauth_credentials",
            "The calendar has no OAuth client credentials.",
        )),
        Err(TokenError::Transient(e)) => Ok(token_error(
            "error",
            format!("No access token could be obtained right now: {e}"),
        )),
        Err(TokenError::Internal(e)) => Err(ApiError::Internal(e)),
    }
}
