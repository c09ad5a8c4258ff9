//! `GET /api/v2/zoom-oauth-app-logs/` and `GET /api/v2/zoom-oauth-credential-logs/`: the
//! history Convene keeps about apps (webhook validations, refused events) and credentials
//! (creation, refreshes, refusals, deauthorizations, meeting syncs). Never a token.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::api::auth::ApiKeyAuth;
use crate::api::pagination::{build_page, PageRequest};
use crate::api::resource;
use crate::domain::LogLevel;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ms_to_rfc3339;
use crate::store::zoom_logs::{self as zl, Log, LogQuery, LogRow};

use super::api::{created_range, ordering_of, query_pairs};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v2/zoom-oauth-app-logs/").route(web::get().to(app_logs)))
        .service(
            resource("/api/v2/zoom-oauth-credential-logs/").route(web::get().to(credential_logs)),
        );
}

/// The level of a credential history entry, by its kind.
pub fn credential_level(kind: &str) -> LogLevel {
    match kind {
        "refresh_refused" | "deauthorized" | "meeting_sync_failed" => LogLevel::Error,
        "refresh_error" | "callback_error" => LogLevel::Warning,
        _ => LogLevel::Info,
    }
}

/// A log row's id: its sequence number in the shape of a UUID (apps and credentials in
/// different ranges), stable and unique within each list.
pub fn log_id(log: Log, n: i64) -> String {
    let range = match log {
        Log::App => 1,
        Log::Credential => 2,
    };
    format!("00000000-000{range}-4000-8000-{:012x}", n.max(0))
}

fn parse_log_id(text: &str) -> Option<i64> {
    i64::from_str_radix(text.rsplit('-').next()?, 16).ok()
}

fn describe(kind: &str, message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{}: {m}", kind.replace('_', " ")),
        _ => kind.replace('_', " "),
    }
}

async fn list(
    state: &AppState,
    req: &HttpRequest,
    log: Log,
    owner_param: &'static str,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_request(state, req)?;
    let ordering = ordering_of(req)?;
    let mut q = LogQuery {
        created: created_range(req)?,
        desc: ordering == "-created_at",
        limit: page.page_size + 1,
        ..Default::default()
    };
    if let Some(c) = &page.cursor {
        let key = match &c.key {
            Value::Array(a) if a.len() == 2 && a[0] == ordering => a[1].as_i64(),
            _ => None,
        };
        let (Some(key), Some(n)) = (key, parse_log_id(&c.id)) else {
            return Err(ApiError::field("cursor", "Invalid cursor."));
        };
        q.after = Some((key, n));
        q.back = c.back;
    }
    for (k, v) in query_pairs(req) {
        if k == owner_param {
            let id = uuid::Uuid::parse_str(v.trim())
                .map_err(|_| ApiError::field(owner_param, "Must be a valid UUID."))?;
            q.owner = Some(id.to_string());
        }
    }
    let rows: Vec<LogRow> = state.store.read(move |c| zl::list(c, log, &q)).await?;
    let rows: Vec<(i64, Value)> = rows
        .into_iter()
        .map(|r| {
            let level = r.level.unwrap_or_else(|| credential_level(&r.kind));
            (
                r.created_at,
                json!({
                    "id": log_id(log, r.id),
                    owner_param: r.owner,
                    "level": level,
                    "message": describe(&r.kind, r.message.as_deref()),
                    "created_at": ms_to_rfc3339(r.created_at),
                }),
            )
        })
        .collect();
    let body = build_page(state, req, &page, rows, |(t, v)| {
        (
            json!([ordering, t]),
            v["id"].as_str().unwrap_or_default().to_string(),
        )
    });
    Ok(HttpResponse::Ok().json(crate::api::pagination::Page {
        next: body.next,
        previous: body.previous,
        results: body.results.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    }))
}

async fn app_logs(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    list(&state, &req, Log::App, "oauth_app").await
}

async fn credential_logs(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    list(&state, &req, Log::Credential, "credential").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ids_look_like_uuids_and_read_back() {
        let id = log_id(Log::Credential, 300);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        assert_eq!(parse_log_id(&id), Some(300));
        assert_ne!(log_id(Log::App, 1), log_id(Log::Credential, 1));
    }
}
