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
use super::status::{self, CONNECTING};
use super::tokens::{self, TokenError};
use crate::api::auth::ApiKeyAuth;
use crate::api::pagination::{build_page, PageRequest};
use crate::api::{parse_id, resource};
use crate::error::{ApiError, ApiResult};
use crate::providers::Platform;
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

/// The create/PATCH fields after validation (`None` = absent; `Some(None)` = set to null).
#[derive(Default)]
struct Fields {
    platform: Option<Platform>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    oauth_email: Option<Option<String>>,
    webhook_url: Option<Option<String>>,
}

impl Fields {
    fn credentials_given(&self) -> bool {
        self.platform.is_some()
            || self.client_id.is_some()
            || self.client_secret.is_some()
            || self.refresh_token.is_some()
    }
}

/// Validates a create (`partial = false`) or PATCH body; every problem is reported at once.
fn parse_fields(body: &Value, partial: bool) -> ApiResult<Fields> {
    let Value::Object(body) = body else {
        return Err(ApiError::BadRequest(
            "Invalid data. Expected a JSON object.".into(),
        ));
    };
    let mut errors = Map::new();
    let mut err = |field: &str, msg: &str| {
        errors.insert(field.into(), json!([msg]));
    };
    let mut f = Fields::default();
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

/// Tries the credentials now; the calendar's status records the outcome.
async fn try_connect(state: &AppState, id: &str) {
    match tokens::connect(state, id).await {
        Ok(_) | Err(TokenError::Disconnected { .. }) => {}
        Err(TokenError::Transient(e)) => {
            tracing::info!(calendar_id = %id, error = %e, "calendar stays connecting; the token sweep retries");
        }
        Err(e) => tracing::warn!(calendar_id = %id, error = %e, "cannot connect calendar"),
    }
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
        id: uuid::Uuid::new_v4().to_string(),
        kind: "v2".into(),
        platform: platform.v2_name().into(),
        oauth_client_id: Some(client_id),
        oauth_client_secret_enc: Some(state.keys.encrypt(&secret)),
        oauth_refresh_token_enc: Some(state.keys.encrypt(&refresh)),
        oauth_email: f.oauth_email.flatten(),
        webhook_url: f.webhook_url.flatten(),
        status: CONNECTING.into(),
        // Due at once: if this process dies before the first refresh, the sweep does it.
        next_refresh_at: Some(now),
        created_at: now,
        updated_at: now,
        ..Default::default()
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
    let mut f = V2Filter::default();
    for (k, v) in pairs {
        match k.as_str() {
            "platform" if !v.is_empty() => {
                if Platform::from_v2(&v).is_none() {
                    return Err(ApiError::field(
                        "platform",
                        format!("Select a valid choice. {v} is not one of the available choices."),
                    ));
                }
                f.platform = Some(v);
            }
            "status" if !v.is_empty() => {
                if ![status::CONNECTING, status::CONNECTED, status::DISCONNECTED]
                    .contains(&v.as_str())
                {
                    return Err(ApiError::field(
                        "status",
                        format!("Select a valid choice. {v} is not one of the available choices."),
                    ));
                }
                f.status = Some(v);
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
    let after = page.int_position()?;
    let backwards = page.backwards();
    let limit = page.page_size + 1;
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
    let reconnect = f.credentials_given();
    let sealed_secret = f.client_secret.as_deref().map(|s| state.keys.encrypt(s));
    let sealed_refresh = f.refresh_token.as_deref().map(|s| state.keys.encrypt(s));
    let now = state.now_ms();
    {
        // No refresh with the old credentials may commit while they are replaced.
        let _guard = tokens::lock_calendar(&state, &id).await;
        let id = id.clone();
        let changed = state
            .store
            .write(move |tx| {
                let mut cal = cal_store::get_v2(tx, &id)?.ok_or(ApiError::NotFound)?;
                let before = (cal.oauth_email.clone(), cal.webhook_url.clone());
                if let Some(p) = f.platform {
                    if p.v2_name() != cal.platform {
                        cal.platform = p.v2_name().into();
                        cal.platform_email = None;
                        cal.granted_scopes = None;
                        cal_store::reset_sync_state(tx, &id)?;
                    }
                }
                if let Some(v) = f.client_id {
                    cal.oauth_client_id = Some(v);
                }
                if let Some(v) = sealed_secret {
                    cal.oauth_client_secret_enc = Some(v);
                }
                if let Some(v) = sealed_refresh {
                    cal.oauth_refresh_token_enc = Some(v);
                    // The new grant may hold other scopes.
                    cal.granted_scopes = None;
                }
                if let Some(v) = f.oauth_email {
                    cal.oauth_email = v;
                }
                if let Some(v) = f.webhook_url {
                    cal.webhook_url = v;
                }
                if reconnect {
                    cal.credentials_version += 1;
                    cal.access_token_enc = None;
                    cal.access_token_expires_at = None;
                    cal.refresh_failures = 0;
                    cal.last_refresh_error = None;
                    cal.next_refresh_at = Some(now);
                    if status::transition(tx, &mut cal, CONNECTING, None, now)? {
                        return Ok(true);
                    }
                }
                let settings_changed = before != (cal.oauth_email.clone(), cal.webhook_url.clone());
                if settings_changed || reconnect {
                    cal.updated_at = now;
                    cal_store::save(tx, &cal)?;
                    status::announce(tx, &cal, now)?;
                    return Ok(true);
                }
                Ok::<_, ApiError>(false)
            })
            .await?;
        if changed {
            state.wake.webhooks.notify_one();
        }
    }
    if reconnect {
        try_connect(&state, &id).await;
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
    match tokens::access_token(&state, &id).await {
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
