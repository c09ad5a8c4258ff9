//! `/api/v2/zoom-oauth-credentials/` handlers (routes registered in `zoom::api`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::api::auth::ApiKeyAuth;
use crate::api::parse_id;
use crate::domain::{ZoomCredentialStatus, ZoomMeetingSyncStatus};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ms_to_rfc3339;
use crate::store::zoom::{self as zs, ZoomApp, ZoomCredential};

use super::api::*;
use super::client::ZoomError;
use super::credentials::{self, AuthorizationCode, CreateError};
use super::tokens::{self, TokenError};

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
    let (holder, id) = if app.is_account_level() {
        ("account", &existing.account_id)
    } else {
        ("user", &existing.user_id)
    };
    let mut body = Map::new();
    body.insert(
        "detail".into(),
        json!(format!(
            "A Zoom OAuth Credential already exists for this OAuth App and Zoom \
             {holder}({holder}_id: {id}). A Zoom OAuth App can have at most one Zoom OAuth \
             Credential registered per authorized Zoom {holder}. Please delete the existing \
             Zoom OAuth Credential for Zoom {holder}({holder}_id: {id}) and try again."
        )),
    );
    body.insert(format!("conflicting_zoom_{holder}_id"), json!(id));
    ApiError::Validation(Value::Object(body))
}

pub(super) fn unavailable(detail: String) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "30"))
        .json(json!({ "detail": detail }))
}

/// Makes a credential from an authorization code (see [`credentials::create`]).
pub(super) async fn create_credential(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let (app_ref, source) = parse_credential_body(&body)?;
    let missing_app = || {
        ApiError::field(
            "oauth_app",
            format!("Invalid pk \"{app_ref}\" - object does not exist."),
        )
    };
    let app_id = uuid::Uuid::parse_str(&app_ref)
        .map_err(|_| missing_app())?
        .to_string();
    let made = match &source {
        TokenSource::Code(code) => credentials::create(&state, &app_id, code).await,
        TokenSource::Callback(url) => super::customer::create(&state, &app_id, url).await,
    };
    match made {
        Ok(cred) => Ok(HttpResponse::Created().json(credential_json(&state, &cred))),
        Err(e) => create_error(e, missing_app),
    }
}

/// Where a new credential's tokens come from.
enum TokenSource {
    Code(AuthorizationCode),
    /// Customer-managed: the app's URL that answers an access token.
    Callback(String),
}

/// `{"oauth_app", "authorization_code": {"code", "redirect_uri", "code_verifier"?}}` or
/// `{"oauth_app", "access_token_callback_url"}`.
fn parse_credential_body(body: &Value) -> ApiResult<(String, TokenSource)> {
    let obj = object(body)?;
    let mut errors = Map::new();
    let app_ref = required_str(obj, "oauth_app", &mut errors);
    let has_code = !matches!(obj.get("authorization_code"), None | Some(Value::Null));
    let callback = match obj.get("access_token_callback_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if super::customer::valid_callback_url(u.trim()) => {
            Some(u.trim().to_string())
        }
        Some(_) => {
            errors.insert(
                "access_token_callback_url".into(),
                json!(["Enter a valid http(s) URL."]),
            );
            Some(String::new())
        }
    };
    if let Some(url) = callback {
        if has_code {
            errors.insert(
                "non_field_errors".into(),
                json!(["Send either authorization_code or access_token_callback_url, not both."]),
            );
        }
        finish(errors)?;
        return Ok((app_ref, TokenSource::Callback(url)));
    }
    let mut code = AuthorizationCode {
        code: String::new(),
        redirect_uri: String::new(),
        code_verifier: None,
    };
    match obj.get("authorization_code") {
        None | Some(Value::Null) => {
            errors.insert(
                "authorization_code".into(),
                json!(["This field is required."]),
            );
        }
        Some(Value::Object(ac)) => {
            let mut inner = Map::new();
            code.code = required_str(ac, "code", &mut inner);
            code.redirect_uri = required_str(ac, "redirect_uri", &mut inner);
            code.code_verifier = optional_str(ac, "code_verifier", &mut inner);
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
    Ok((app_ref, TokenSource::Code(code)))
}

/// Why no credential was made, as the answer: `503` when Zoom may work on a retry,
/// otherwise `400` with what to fix.
fn create_error(e: CreateError, missing_app: impl FnOnce() -> ApiError) -> ApiResult<HttpResponse> {
    match e {
        CreateError::AppNotFound => Err(missing_app()),
        CreateError::Exchange(e @ ZoomError::Transient { .. }) => Ok(unavailable(format!(
            "Zoom could not exchange the authorization code right now ({e}); try again \
             shortly (a code is valid for 5 minutes)."
        ))),
        CreateError::Exchange(e) => Err(ApiError::BadRequest(exchange_error_detail(&e))),
        CreateError::UsersMe(e @ ZoomError::Transient { .. }) => Ok(unavailable(format!(
            "Zoom did not answer /users/me ({e}); authorize again and retry with the new code."
        ))),
        // Zoom keeps only a user's newest authorization of an app.
        CreateError::UsersMe(ZoomError::Rejected { status: 401, .. }) => Err(ApiError::BadRequest(
            "Zoom revoked the tokens of this code right after issuing them: the same Zoom \
             user authorized the app again meanwhile, and Zoom keeps only the newest \
             authorization. Use the code of the newest authorization."
                .into(),
        )),
        CreateError::UsersMe(e) => Err(ApiError::BadRequest(format!(
            "Zoom accepted the code but refused /users/me: {e}. Check that the Zoom app has \
             the user:read scope, then authorize again."
        ))),
        CreateError::Callback(e @ ZoomError::Transient { .. }) => Ok(unavailable(format!(
            "No access token could be fetched: {e}; try again shortly."
        ))),
        CreateError::Callback(e) => Err(ApiError::field(
            "access_token_callback_url",
            format!("No access token could be fetched: {}.", callback_reason(&e)),
        )),
        CreateError::Conflict { app, existing } => Err(conflict_error(&app, &existing)),
        CreateError::Store(e) => Err(e.into()),
        CreateError::Internal(e) => Err(ApiError::Internal(e)),
    }
}

fn callback_reason(e: &ZoomError) -> String {
    match e {
        ZoomError::Rejected { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

pub(super) async fn list_credentials(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let list = ListRequest::from_request(&state, &req)?;
    let mut filter = credential_filter(&req)?;
    filter.created = list.created;
    let st = state.clone();
    list.respond(
        &state,
        &req,
        move |c, window| zs::list_credentials(c, &filter, window),
        move |cred| Row::credential(&st, cred),
    )
    .await
}

fn credential_filter(req: &HttpRequest) -> ApiResult<zs::CredentialFilter> {
    let mut filter = zs::CredentialFilter::default();
    for (k, v) in query_pairs(req) {
        match k.as_str() {
            "oauth_app" => {
                let id = uuid::Uuid::parse_str(&v)
                    .map_err(|_| ApiError::field("oauth_app", "Must be a valid UUID."))?;
                filter.oauth_app = Some(id.to_string());
            }
            "account_id" => filter.account_id = Some(v),
            "user_id" => filter.user_id = Some(v),
            "status" => {
                let Some(status) = ZoomCredentialStatus::parse(&v) else {
                    return Err(ApiError::field(
                        "status",
                        format!("Select a valid choice. {v} is not one of the available choices."),
                    ));
                };
                filter.status = Some(status);
            }
            "meeting_sync_status" => {
                let Some(status) = ZoomMeetingSyncStatus::parse(&v) else {
                    return Err(ApiError::field(
                        "meeting_sync_status",
                        format!("Select a valid choice. {v} is not one of the available choices."),
                    ));
                };
                filter.meeting_sync_status = Some(status);
            }
            _ => {}
        }
    }
    Ok(filter)
}

pub(super) async fn get_credential(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let cred = credentials::get(&state, &parse_id(&path)?)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(credential_json(&state, &cred)))
}

pub(super) async fn delete_credential(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    if credentials::delete(&state, &parse_id(&path)?).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

pub(super) async fn access_token(
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

/// Refreshes now: `200` with the credential, `healthy` when Zoom accepted the refresh and
/// `unhealthy` when it refused it.
pub(super) async fn validate(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    match tokens::refresh_now(&state, &id).await {
        Ok(_) | Err(TokenError::Unhealthy(_)) => {}
        Err(TokenError::NotFound) => return Err(ApiError::NotFound),
        Err(TokenError::Rejected(why)) => {
            return Err(ApiError::BadRequest(format!(
                "The credential could not be validated: {why}."
            )))
        }
        Err(TokenError::Unavailable(why)) => {
            return Ok(unavailable(format!(
                "Zoom could not be asked right now ({why}); try again shortly."
            )))
        }
        Err(TokenError::Internal(e)) => return Err(ApiError::Internal(e)),
    }
    let cred = credentials::get(&state, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(credential_json(&state, &cred)))
}
