//! `/api/v2/zoom-oauth-apps/` and the routes of `/api/v2/zoom-oauth-credentials/` (whose
//! handlers are `zoom::credentials_api`), with the JSON shapes and list helpers both share.

use actix_web::{web, HttpRequest, HttpResponse};
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::api::auth::ApiKeyAuth;
use crate::api::pagination::{build_page, PageRequest};
use crate::api::params::parse_time;
use crate::api::{parse_id, resource};
use crate::domain::ZoomAppKind;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::zoom::{self as zs, ZoomApp, ZoomCredential};
use crate::store::{ms_to_rfc3339, StoreError};

use super::apps::{self, NewApp};

use super::credentials_api::{
    access_token, create_credential, delete_credential, get_credential, list_credentials, validate,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v2/zoom-oauth-apps/")
            .route(web::get().to(list_apps))
            .route(web::post().to(create_app)),
    )
    .service(
        resource("/api/v2/zoom-oauth-apps/{id}/")
            .route(web::get().to(get_app))
            .route(web::delete().to(delete_app)),
    )
    .service(
        resource("/api/v2/zoom-oauth-credentials/")
            .route(web::get().to(list_credentials))
            .route(web::post().to(create_credential)),
    )
    .service(
        resource("/api/v2/zoom-oauth-credentials/{id}/")
            .route(web::get().to(get_credential))
            .route(web::delete().to(delete_credential)),
    )
    .service(
        resource("/api/v2/zoom-oauth-credentials/{id}/access-token/")
            .route(web::get().to(access_token)),
    )
    .service(
        resource("/api/v2/zoom-oauth-credentials/{id}/validate/").route(web::post().to(validate)),
    );
}

// ------------------------------------------------------------------ JSON shapes

/// Secrets are write-only: never part of the output.
pub fn app_json(app: &ZoomApp) -> Value {
    json!({
        "id": app.id,
        "kind": app.kind,
        "client_id": app.client_id,
        "created_at": ms_to_rfc3339(app.created_at),
        "webhook_last_validation": app.webhook_last_validation.map(ms_to_rfc3339),
    })
}

pub fn credential_json(state: &AppState, c: &ZoomCredential) -> Value {
    let callback = c
        .access_token_callback_url_enc
        .as_deref()
        .and_then(|sealed| state.keys.decrypt(sealed).ok())
        .map(|url| redact_url(&url));
    json!({
        "id": c.id,
        "oauth_app": c.oauth_app_id,
        "user_id": c.user_id,
        "account_id": c.account_id,
        "status": c.status,
        "meeting_sync_status": c.meeting_sync_status,
        "created_at": ms_to_rfc3339(c.created_at),
        "access_token_callback_url": callback,
    })
}

/// A callback URL as shown back: no user info, and its query (which usually carries the
/// secret) replaced by `…`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let had_query = u.query().is_some();
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            let mut shown = u.to_string();
            if had_query {
                shown.push_str("?…");
            }
            shown
        }
        Err(_) => "…".into(),
    }
}

// ------------------------------------------------------------------ body helpers

pub(super) fn object(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.as_object().ok_or_else(|| {
        ApiError::BadRequest("Invalid data. Expected a dictionary (JSON object).".into())
    })
}

/// A required non-blank string field; DRF's messages otherwise.
pub(super) fn required_str(
    obj: &Map<String, Value>,
    field: &str,
    errors: &mut Map<String, Value>,
) -> String {
    match obj.get(field) {
        None | Some(Value::Null) => {
            errors.insert(field.into(), json!(["This field is required."]));
            String::new()
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.insert(field.into(), json!(["This field may not be blank."]));
            String::new()
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            errors.insert(field.into(), json!(["Not a valid string."]));
            String::new()
        }
    }
}

pub(super) fn optional_str(
    obj: &Map<String, Value>,
    field: &str,
    errors: &mut Map<String, Value>,
) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.insert(field.into(), json!(["Not a valid string."]));
            None
        }
    }
}

pub(super) fn finish(errors: Map<String, Value>) -> ApiResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(Value::Object(errors)))
    }
}

/// A list request: its page, ordering (`ordering=created_at|-created_at`, default newest
/// first), `created_at_after` / `created_at_before`, and keyset window. Cursors carry
/// `[ordering, created_at ms]`, so a cursor of the other ordering is refused. Read before
/// any other filter, so a bad cursor is the error reported first.
pub(super) struct ListRequest {
    page: PageRequest,
    pub(super) window: zs::Window,
    pub(super) created: zs::CreatedRange,
    ordering: &'static str,
}

/// `ordering` of the Zoom lists (`-created_at` unless `created_at` is asked for).
pub(super) fn ordering_of(req: &HttpRequest) -> ApiResult<&'static str> {
    match query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "ordering")
        .map(|(_, v)| v)
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("-created_at") => Ok("-created_at"),
        Some("created_at") => Ok("created_at"),
        Some(_) => Err(ApiError::field(
            "ordering",
            "Must be created_at or -created_at.",
        )),
    }
}

/// `created_at_after` / `created_at_before` (RFC 3339, inclusive).
pub(super) fn created_range(req: &HttpRequest) -> ApiResult<zs::CreatedRange> {
    let mut range = zs::CreatedRange::default();
    for (k, v) in query_pairs(req) {
        match k.as_str() {
            "created_at_after" => range.after = Some(parse_time(&k, &v)?),
            "created_at_before" => range.before = Some(parse_time(&k, &v)?),
            _ => {}
        }
    }
    Ok(range)
}

impl ListRequest {
    pub(super) fn from_request(state: &AppState, req: &HttpRequest) -> ApiResult<Self> {
        let page = PageRequest::from_request(state, req)?;
        let ordering = ordering_of(req)?;
        let position = match &page.cursor {
            None => None,
            Some(c) => {
                let key = match &c.key {
                    Value::Array(a) if a.len() == 2 && a[0] == ordering => a[1].as_i64(),
                    _ => None,
                }
                .ok_or_else(|| ApiError::field("cursor", "Invalid cursor."))?;
                Some(zs::Position {
                    created_at: key,
                    id: c.id.clone(),
                    back: c.back,
                })
            }
        };
        let window = zs::Window {
            position,
            desc: ordering == "-created_at",
            limit: page.page_size + 1,
        };
        Ok(ListRequest {
            page,
            window,
            created: created_range(req)?,
            ordering,
        })
    }

    /// Reads the page's rows (one more than its size, to see whether more follow) with
    /// `read` and answers the page, each row shown by `show`.
    pub(super) async fn respond<T: Send + 'static>(
        self,
        state: &AppState,
        req: &HttpRequest,
        read: impl FnOnce(&Connection, &zs::Window) -> Result<Vec<T>, StoreError> + Send + 'static,
        show: impl Fn(&T) -> Row,
    ) -> ApiResult<HttpResponse> {
        let window = self.window.clone();
        let rows = state.store.read(move |c| read(c, &window)).await?;
        let rows = rows.iter().map(show).collect();
        let ordering = self.ordering;
        Ok(
            HttpResponse::Ok().json(build_page(state, req, &self.page, rows, |r: &Row| {
                (json!([ordering, r.created_at]), r.id.clone())
            })),
        )
    }
}

/// A list row: its JSON plus the (created_at, id) position the cursor needs.
#[derive(serde::Serialize)]
pub(super) struct Row {
    #[serde(skip)]
    created_at: i64,
    #[serde(skip)]
    id: String,
    #[serde(flatten)]
    body: Value,
}

impl Row {
    fn app(a: &ZoomApp) -> Self {
        Row {
            created_at: a.created_at,
            id: a.id.clone(),
            body: app_json(a),
        }
    }
    pub(super) fn credential(state: &AppState, c: &ZoomCredential) -> Self {
        Row {
            created_at: c.created_at,
            id: c.id.clone(),
            body: credential_json(state, c),
        }
    }
}

pub(super) fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_str(req.query_string()).unwrap_or_default()
}

// ------------------------------------------------------------------ apps

async fn list_apps(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let list = ListRequest::from_request(&state, &req)?;
    let created = list.created;
    list.respond(
        &state,
        &req,
        move |c, window| zs::list_apps(c, &created, window),
        Row::app,
    )
    .await
}

async fn create_app(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let obj = object(&body)?;
    let mut errors = Map::new();
    let kind_text = required_str(obj, "kind", &mut errors);
    let kind = ZoomAppKind::parse(&kind_text);
    if !kind_text.is_empty() && kind.is_none() {
        errors.insert(
            "kind".into(),
            json!([format!("\"{kind_text}\" is not a valid choice.")]),
        );
    }
    let client_id = required_str(obj, "client_id", &mut errors)
        .trim()
        .to_string();
    let client_secret = required_str(obj, "client_secret", &mut errors);
    let webhook_secret = optional_str(obj, "webhook_secret", &mut errors);
    finish(errors)?;
    let Some(kind) = kind else {
        return Err(ApiError::internal("validated kind missing"));
    };
    let new = NewApp {
        kind,
        client_id,
        client_secret,
        webhook_secret,
    };
    let Some(app) = apps::create(&state, new).await? else {
        return Err(ApiError::field(
            "client_id",
            "A Zoom OAuth App with this client_id already exists.",
        ));
    };
    Ok(HttpResponse::Created().json(app_json(&app)))
}

async fn get_app(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let app = apps::get(&state, &parse_id(&path)?)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(app_json(&app)))
}

/// Refused with `400` while credentials use the app (their tokens need its secret).
async fn delete_app(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    match state.store.write(move |tx| zs::delete_app(tx, &id)).await? {
        zs::DeleteApp::Deleted => Ok(HttpResponse::NoContent().finish()),
        zs::DeleteApp::NotFound => Err(ApiError::NotFound),
        zs::DeleteApp::InUse(n) => Err(ApiError::BadRequest(format!(
            "This Zoom OAuth App still has {n} Zoom OAuth Credential(s). Delete them first \
             (GET /api/v2/zoom-oauth-credentials/?oauth_app=<id> lists them), then delete the app."
        ))),
    }
}
