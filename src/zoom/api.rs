//! `/api/v2/zoom-oauth-apps/` and `/api/v2/zoom-oauth-credentials/`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::api::auth::ApiKeyAuth;
use crate::api::pagination::{build_page, PageRequest};
use crate::api::{parse_id, resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ms_to_rfc3339;
use crate::store::zoom::{self as zs, ZoomApp, ZoomCredential};

use super::client::{self, ZoomError};
use super::tokens::{self, TokenError};

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
    })
}

pub fn credential_json(c: &ZoomCredential) -> Value {
    json!({
        "id": c.id,
        "oauth_app": c.oauth_app_id,
        "user_id": c.user_id,
        "account_id": c.account_id,
        "status": c.status,
        "created_at": ms_to_rfc3339(c.created_at),
        "access_token_callback_url": null,
    })
}

// ------------------------------------------------------------------ body helpers

fn object(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.as_object().ok_or_else(|| {
        ApiError::BadRequest("Invalid data. Expected a dictionary (JSON object).".into())
    })
}

/// A required non-blank string field; DRF's messages otherwise.
fn required_str(obj: &Map<String, Value>, field: &str, errors: &mut Map<String, Value>) -> String {
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

fn optional_str(
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

fn finish(errors: Map<String, Value>) -> ApiResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(Value::Object(errors)))
    }
}

/// The keyset position of a page request (our cursors carry `created_at` ms as the key).
fn position(page: &PageRequest) -> ApiResult<Option<zs::Position>> {
    Ok(page.int_position()?.map(|(created_at, id)| zs::Position {
        created_at,
        id,
        back: page.backwards(),
    }))
}

/// A list row: its JSON plus the (created_at, id) position the cursor needs.
#[derive(serde::Serialize)]
struct Row {
    #[serde(skip)]
    created_at: i64,
    #[serde(skip)]
    id: String,
    #[serde(flatten)]
    body: Value,
}

impl Row {
    fn new(created_at: i64, id: &str, body: Value) -> Self {
        Row {
            created_at,
            id: id.to_string(),
            body,
        }
    }
    fn key(&self) -> (Value, String) {
        (json!(self.created_at), self.id.clone())
    }
}

fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_str(req.query_string()).unwrap_or_default()
}

// ------------------------------------------------------------------ apps

async fn list_apps(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_request(&state, &req)?;
    let pos = position(&page)?;
    let limit = page.page_size + 1;
    let rows = state
        .store
        .read(move |c| zs::list_apps(c, pos.as_ref(), limit))
        .await?;
    let rows = rows
        .iter()
        .map(|a| Row::new(a.created_at, &a.id, app_json(a)));
    Ok(HttpResponse::Ok().json(build_page(&state, &req, &page, rows.collect(), Row::key)))
}

async fn create_app(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let obj = object(&body)?;
    let mut errors = Map::new();
    let kind = required_str(obj, "kind", &mut errors);
    if !kind.is_empty() && kind != "user_level" && kind != "account_level" {
        errors.insert(
            "kind".into(),
            json!([format!("\"{kind}\" is not a valid choice.")]),
        );
    }
    let client_id = required_str(obj, "client_id", &mut errors)
        .trim()
        .to_string();
    let client_secret = required_str(obj, "client_secret", &mut errors);
    let webhook_secret = optional_str(obj, "webhook_secret", &mut errors);
    finish(errors)?;
    let now = state.now_ms();
    let app = ZoomApp {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        client_id,
        client_secret_enc: state.keys.encrypt(&client_secret),
        webhook_secret_enc: webhook_secret.map(|s| state.keys.encrypt(&s)),
        created_at: now,
        updated_at: now,
    };
    let stored = app.clone();
    let inserted = state
        .store
        .write(move |tx| zs::insert_app(tx, &stored))
        .await?;
    if !inserted {
        return Err(ApiError::field(
            "client_id",
            "A Zoom OAuth App with this client_id already exists.",
        ));
    }
    Ok(HttpResponse::Created().json(app_json(&app)))
}

async fn get_app(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let app = state
        .store
        .read(move |c| zs::get_app(c, &id))
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

// ------------------------------------------------------------------ credentials

/// Why Zoom refused a code, and what to fix (the seed's troubleshooting advice).
fn exchange_error_detail(e: &ZoomError) -> String {
    let ZoomError::Rejected {
        status,
        error,
        reason,
    } = e
    else {
        return e.to_string();
    };
    let fix = match (error.as_str(), reason.as_str()) {
        (_, r) if r.to_ascii_lowercase().contains("redirect") => {
            "The redirect_uri must match EXACTLY the Redirect URL for OAuth registered on the \
             Zoom app and the one used in the authorize URL, including any trailing slash."
        }
        ("invalid_grant", _) => {
            "Authorization codes can be used once and expire after 5 minutes: send the code \
             of a new authorization. Also check that redirect_uri matches EXACTLY the Redirect \
             URL for OAuth registered on the Zoom app, including any trailing slash."
        }
        (_, r) if r.to_ascii_lowercase().contains("code_verifier") => {
            "Send the code_verifier that matches the code_challenge of the authorize URL."
        }
        ("invalid_client", _) => {
            "Zoom does not accept this Zoom OAuth App's client_id and client_secret: check them \
             against the app's App Credentials."
        }
        _ => "Start a new authorization and send its code.",
    };
    format!("Zoom rejected the authorization code: {reason} ({error}, HTTP {status}). {fix}")
}

fn conflict_error(app: &ZoomApp, existing: &ZoomCredential) -> ApiError {
    if app.is_account_level() {
        let a = &existing.account_id;
        ApiError::Validation(json!({
            "detail": format!(
                "A Zoom OAuth Credential already exists for this OAuth App and Zoom \
                 account(account_id: {a}). A Zoom OAuth App can have at most one Zoom OAuth \
                 Credential registered per authorized Zoom account. Please delete the existing \
                 Zoom OAuth Credential for Zoom account(account_id: {a}) and try again."
            ),
            "conflicting_zoom_account_id": a,
        }))
    } else {
        let u = &existing.user_id;
        ApiError::Validation(json!({
            "detail": format!(
                "A Zoom OAuth Credential already exists for this OAuth App and Zoom \
                 user(user_id: {u}). A Zoom OAuth App can have at most one Zoom OAuth \
                 Credential registered per authorized Zoom user. Please delete the existing \
                 Zoom OAuth Credential for Zoom user(user_id: {u}) and try again."
            ),
            "conflicting_zoom_user_id": u,
        }))
    }
}

fn unavailable(detail: String) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "30"))
        .json(json!({ "detail": detail }))
}

/// Exchanges the code, reads `/users/me` and stores the credential, unless one exists for
/// the same Zoom account (account-level app) or user (user-level app).
///
/// The exchange necessarily comes first (only the tokens say whose code it is), so a create
/// that then loses on the conflict rule has spent its code; Zoom also revokes the user's
/// earlier tokens on every new authorization, which is why the seed's answer to a conflict
/// is delete and recreate.
async fn create_credential(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let obj = object(&body)?;
    let mut errors = Map::new();
    let app_ref = required_str(obj, "oauth_app", &mut errors);
    let (mut code, mut redirect_uri, mut verifier) = (String::new(), String::new(), None);
    match obj.get("authorization_code") {
        None | Some(Value::Null) => {
            errors.insert(
                "authorization_code".into(),
                json!(["This field is required."]),
            );
        }
        Some(Value::Object(ac)) => {
            let mut inner = Map::new();
            code = required_str(ac, "code", &mut inner);
            redirect_uri = required_str(ac, "redirect_uri", &mut inner);
            verifier = optional_str(ac, "code_verifier", &mut inner);
            if !inner.is_empty() {
                errors.insert("authorization_code".into(), Value::Object(inner));
            }
        }
        Some(_) => {
            errors.insert(
                "authorization_code".into(),
                json!({"non_field_errors": ["Invalid data. Expected a dictionary."]}),
            );
        }
    }
    finish(errors)?;
    let missing_app = || {
        ApiError::field(
            "oauth_app",
            format!("Invalid pk \"{app_ref}\" - object does not exist."),
        )
    };
    let app_id = uuid::Uuid::parse_str(&app_ref)
        .map_err(|_| missing_app())?
        .to_string();
    let app = state
        .store
        .read(move |c| zs::get_app(c, &app_id))
        .await?
        .ok_or_else(missing_app)?;
    let secret = state
        .keys
        .decrypt(&app.client_secret_enc)
        .map_err(ApiError::internal)?;

    let tokens = match client::exchange_code(
        &state,
        &app.client_id,
        &secret,
        &code,
        &redirect_uri,
        verifier.as_deref(),
    )
    .await
    {
        Ok(t) => t,
        Err(e @ ZoomError::Transient { .. }) => {
            tracing::warn!(error = %e, "Zoom code exchange failed");
            return Ok(unavailable(format!(
                "Zoom could not exchange the authorization code right now ({e}); try again \
                 shortly (a code is valid for 5 minutes)."
            )));
        }
        Err(e) => return Err(ApiError::BadRequest(exchange_error_detail(&e))),
    };
    let user = match client::users_me(&state, &tokens.access_token).await {
        Ok(u) => u,
        Err(e @ ZoomError::Transient { .. }) => {
            tracing::warn!(error = %e, "Zoom /users/me failed");
            return Ok(unavailable(format!(
                "Zoom did not answer /users/me ({e}); authorize again and retry with the new code."
            )));
        }
        Err(ZoomError::Rejected { status: 401, .. }) => {
            // Zoom keeps only a user's newest authorization of an app.
            return Err(ApiError::BadRequest(
                "Zoom revoked the tokens of this code right after issuing them: the same Zoom \
                 user authorized the app again meanwhile, and Zoom keeps only the newest \
                 authorization. Use the code of the newest authorization."
                    .into(),
            ));
        }
        Err(e) => {
            return Err(ApiError::BadRequest(format!(
                "Zoom accepted the code but refused /users/me: {e}. Check that the Zoom app has \
                 the user:read scope, then authorize again."
            )))
        }
    };

    let now = state.now_ms();
    let cred = ZoomCredential {
        id: uuid::Uuid::new_v4().to_string(),
        oauth_app_id: app.id.clone(),
        conflict_key: zs::conflict_key(&app, &user.id, &user.account_id),
        user_id: user.id,
        account_id: user.account_id,
        status: "healthy".into(),
        access_token_enc: state.keys.encrypt(&tokens.access_token),
        access_token_expires_at: now + tokens.expires_in.max(0) * 1000,
        refresh_token_enc: state.keys.encrypt(&tokens.refresh_token),
        scope: tokens.scope.clone(),
        last_refresh_at: now,
        refresh_failures: 0,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    let stored = cred.clone();
    match state
        .store
        .write(move |tx| zs::insert_credential(tx, &stored))
        .await?
    {
        zs::InsertCredential::Inserted => Ok(HttpResponse::Created().json(credential_json(&cred))),
        zs::InsertCredential::Conflict(existing) => Err(conflict_error(&app, &existing)),
    }
}

async fn list_credentials(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_request(&state, &req)?;
    let pos = position(&page)?;
    let mut filter = zs::CredentialFilter::default();
    for (k, v) in query_pairs(&req) {
        match k.as_str() {
            "oauth_app" => {
                let id = uuid::Uuid::parse_str(&v)
                    .map_err(|_| ApiError::field("oauth_app", "Must be a valid UUID."))?;
                filter.oauth_app = Some(id.to_string());
            }
            "account_id" => filter.account_id = Some(v),
            "user_id" => filter.user_id = Some(v),
            "status" => {
                if v != "healthy" && v != "unhealthy" {
                    return Err(ApiError::field(
                        "status",
                        format!("Select a valid choice. {v} is not one of the available choices."),
                    ));
                }
                filter.status = Some(v);
            }
            _ => {}
        }
    }
    let limit = page.page_size + 1;
    let rows = state
        .store
        .read(move |c| zs::list_credentials(c, &filter, pos.as_ref(), limit))
        .await?;
    let rows = rows
        .iter()
        .map(|c| Row::new(c.created_at, &c.id, credential_json(c)));
    Ok(HttpResponse::Ok().json(build_page(&state, &req, &page, rows.collect(), Row::key)))
}

async fn get_credential(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let cred = state
        .store
        .read(move |c| zs::get_credential(c, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(credential_json(&cred)))
}

async fn delete_credential(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    // Under the credential's lock, so a refresh in flight finishes (and commits) first.
    let _guard = state
        .locks
        .lock(crate::coord::LockName::ZoomCredential(&id))
        .await;
    let deleted = state
        .store
        .write(move |tx| zs::delete_credential(tx, &id))
        .await?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

async fn access_token(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    match tokens::access_token(&state, &id).await {
        Ok(t) => Ok(HttpResponse::Ok().json(json!({
            "token": t.token,
            "expires_at": ms_to_rfc3339(t.expires_at),
        }))),
        Err(TokenError::NotFound) => Err(ApiError::NotFound),
        Err(TokenError::Unhealthy(why)) => Err(ApiError::BadRequest(format!(
            "This Zoom OAuth Credential is unhealthy ({why}). Have the user authorize the Zoom \
             app again, delete this credential and create a new one with the new code."
        ))),
        Err(TokenError::Rejected(why)) => Err(ApiError::BadRequest(format!(
            "Zoom refused to refresh the access token: {why}. Check the Zoom OAuth App's \
             client_id and client_secret."
        ))),
        Err(TokenError::Unavailable(why)) => Ok(unavailable(format!(
            "Zoom could not refresh the access token right now ({why}); try again shortly."
        ))),
        Err(TokenError::Internal(e)) => Err(ApiError::Internal(e)),
    }
}
