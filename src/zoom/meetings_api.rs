//! `POST /api/v2/zoom-oauth-credentials/{id}/sync-meetings/`,
//! `GET /api/v2/zoom-meetings-to-credentials/` and
//! `GET /api/v2/zoom-meetings/{meeting_id}/tokens/` (a Convene extension).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::api::auth::ApiKeyAuth;
use crate::api::pagination::{build_page, PageRequest};
use crate::api::params::parse_time;
use crate::api::{parse_id, resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ms_to_rfc3339;
use crate::store::zoom_meetings::{self as zm, MapFilter};

use super::api::{credential_json, query_pairs};
use super::credentials_api::unavailable;
use super::meeting_tokens::{self, MintError, TokenKind};
use super::tokens::TokenError;
use super::{credentials, meetings};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v2/zoom-oauth-credentials/{id}/sync-meetings/")
            .route(web::post().to(sync_meetings)),
    )
    .service(resource("/api/v2/zoom-meetings-to-credentials/").route(web::get().to(list_map)))
    .service(resource("/api/v2/zoom-meetings/{meeting_id}/tokens/").route(web::get().to(tokens)));
}

async fn sync_meetings(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let cred = credentials::get(&state, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !cred.is_healthy() {
        return Err(ApiError::BadRequest(
            "This Zoom OAuth Credential is unhealthy: its meetings cannot be synced. Have the \
             user authorize the Zoom app again and create a new credential."
                .into(),
        ));
    }
    // Shown `in_progress` as stored by the request; the sync itself runs after the answer.
    meetings::request_sync(&state, &id).await?;
    let cred = credentials::get(&state, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut body = credential_json(&state, &cred);
    body["meeting_sync_status"] = json!("in_progress");
    Ok(HttpResponse::Ok().json(body))
}

/// A Zoom meeting id: a positive integer.
fn meeting_id(field: &str, text: &str) -> ApiResult<i64> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::field(field, "Enter a whole number (a Zoom meeting id)."))
}

fn map_filter(req: &HttpRequest) -> ApiResult<MapFilter> {
    let mut f = MapFilter::default();
    for (k, v) in query_pairs(req) {
        match k.as_str() {
            "credential" => {
                let id = uuid::Uuid::parse_str(v.trim())
                    .map_err(|_| ApiError::field("credential", "Must be a valid UUID."))?;
                f.credential = Some(id.to_string());
            }
            "meeting_id" => f.meeting_id = Some(meeting_id("meeting_id", &v)?),
            "synced_at_after" => f.synced_after = Some(parse_time(&k, &v)?),
            "synced_at_before" => f.synced_before = Some(parse_time(&k, &v)?),
            _ => {}
        }
    }
    Ok(f)
}

async fn list_map(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_request(&state, &req)?;
    let window = page.int_window()?;
    let filter = map_filter(&req)?;
    let rows = state
        .store
        .read(move |c| zm::list(c, &filter, window.after, window.backwards, window.limit))
        .await?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "meeting_id": r.meeting_id,
                "credential": r.credential_id,
                "synced_at": ms_to_rfc3339(r.synced_at),
            })
        })
        .collect();
    let body = build_page(&state, &req, &page, rows, |r| {
        (
            r["meeting_id"].clone(),
            r["credential"].as_str().unwrap_or_default().to_string(),
        )
    });
    Ok(HttpResponse::Ok().json(body))
}

async fn tokens(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let meeting = meeting_id("meeting_id", &path).map_err(|_| ApiError::NotFound)?;
    let (mut kind, mut credential) = (None, None);
    for (k, v) in query_pairs(&req) {
        match k.as_str() {
            "kind" => {
                kind = Some(TokenKind::parse(v.trim()).ok_or_else(|| {
                    ApiError::field(
                        "kind",
                        format!("\"{v}\" is not a valid choice (zak, obf, local_recording)."),
                    )
                })?)
            }
            "credential" => {
                let id = uuid::Uuid::parse_str(v.trim())
                    .map_err(|_| ApiError::field("credential", "Must be a valid UUID."))?;
                credential = Some(id.to_string());
            }
            _ => {}
        }
    }
    let kind = kind.ok_or_else(|| ApiError::field("kind", "This field is required."))?;
    match meeting_tokens::mint(&state, meeting, kind, credential).await {
        Ok(t) => Ok(HttpResponse::Ok().json(json!({
            "kind": t.kind.as_str(),
            "token": t.token,
            "credential": t.credential,
            "meeting_id": t.meeting_id,
            "expires_at": t.expires_at.map(ms_to_rfc3339),
        }))),
        Err(MintError::UnknownMeeting(id)) => Err(ApiError::NotFoundDetail(format!(
            "No Zoom OAuth Credential knows meeting {id}. Meetings are learnt by the meeting \
             sync (hourly, on Zoom meeting events, or POST \
             /api/v2/zoom-oauth-credentials/{{id}}/sync-meetings/); or name one with \
             ?credential=<id>."
        ))),
        Err(MintError::NoSuchCredential) => Err(ApiError::field(
            "credential",
            "No Zoom OAuth Credential has this id.",
        )),
        Err(MintError::Refused { reason, scope }) => Err(ApiError::BadRequest(format!(
            "Zoom refused the {} token: {reason}. The Zoom app needs the scope {scope} (add \
             it, then have the user authorize the app again), and the credential's user must \
             be allowed to get it for this meeting (e.g. be its host).",
            kind.as_str()
        ))),
        Err(MintError::Token(TokenError::Unhealthy(why))) => Err(ApiError::BadRequest(format!(
            "The Zoom OAuth Credential is unhealthy ({why})."
        ))),
        Err(MintError::Token(TokenError::Unavailable(why))) | Err(MintError::Unavailable(why)) => {
            Ok(unavailable(format!(
                "Zoom could not be asked right now ({why}); try again shortly."
            )))
        }
        Err(MintError::Token(TokenError::Rejected(why))) => Err(ApiError::BadRequest(format!(
            "No access token for the credential: {why}."
        ))),
        Err(MintError::Token(TokenError::NotFound)) => Err(ApiError::field(
            "credential",
            "No Zoom OAuth Credential has this id.",
        )),
        Err(MintError::Token(TokenError::Internal(e))) | Err(MintError::Internal(e)) => {
            Err(ApiError::Internal(e))
        }
    }
}
