//! `POST /api/v2/zoom-oauth-apps/{id}/webhook/`: the Zoom app's event notification endpoint
//! (`endpoint.url_validation`, `app_deauthorized`, and `meeting.*`, which starts a meeting
//! sync of the account's credentials).
//!
//! Every request must carry `x-zm-signature: v0=hex(HMAC-SHA256(webhook_secret,
//! "v0:{x-zm-request-timestamp}:{raw body}"))` with a timestamp within 5 minutes. That holds
//! for Zoom's `endpoint.url_validation` challenge too: answering an unsigned challenge would
//! hand anyone an HMAC of a string of their choice, i.e. a valid signature for a forged event.

use actix_web::{web, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::api::{parse_id, resource};
use crate::crypto::{constant_time_eq, hex};
use crate::domain::LogLevel;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::zoom as zs;
use crate::store::zoom_logs;

use super::{apps, tokens};

/// Requests whose timestamp is further than this from now are refused (replays).
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v2/zoom-oauth-apps/{id}/webhook/").route(web::post().to(receive)));
}

/// hex(HMAC-SHA256(secret, message))
pub fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("hmac key");
    for p in parts {
        mac.update(p);
    }
    hex(&mac.finalize().into_bytes())
}

/// The `x-zm-signature` value Zoom sends for `body` at `timestamp`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hmac_hex(secret, &[b"v0:", timestamp.as_bytes(), b":", body])
    )
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Checks timestamp freshness and signature; the error says which failed.
fn verify(state: &AppState, req: &HttpRequest, secret: &str, body: &[u8]) -> ApiResult<()> {
    let stale = || ApiError::Unauthorized("Missing or stale x-zm-request-timestamp.".into());
    let ts = header(req, "x-zm-request-timestamp").ok_or_else(stale)?;
    let n: i64 = ts.trim().parse().map_err(|_| stale())?;
    // Zoom sends seconds; accept milliseconds too.
    let ts_ms = if n > 100_000_000_000 {
        n
    } else {
        n.saturating_mul(1000)
    };
    if (state.now_ms() - ts_ms).abs() > MAX_SKEW_MS {
        return Err(stale());
    }
    let given = header(req, "x-zm-signature").unwrap_or_default();
    if !constant_time_eq(given.trim(), &signature(secret, ts, body)) {
        return Err(ApiError::Unauthorized("Invalid x-zm-signature.".into()));
    }
    Ok(())
}

async fn receive(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let app = apps::get(&state, &parse_id(&path)?)
        .await?
        .ok_or(ApiError::NotFound)?;
    let Some(sealed) = &app.webhook_secret_enc else {
        return Err(ApiError::BadRequest(
            "This Zoom OAuth App has no webhook_secret, so its events cannot be verified. \
             Create the app with the Secret Token of the Zoom app's event subscriptions."
                .into(),
        ));
    };
    let secret = state.keys.decrypt(sealed).map_err(ApiError::internal)?;
    verify(&state, &req, &secret, &body)?;

    let event: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))?;
    let name = event
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let payload = event.get("payload").cloned().unwrap_or_default();
    let text = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_string);
    match name {
        "endpoint.url_validation" => {
            let plain = text("plainToken")
                .ok_or_else(|| ApiError::field("plainToken", "This field is required."))?;
            let (app_id, now) = (app.id.clone(), state.now_ms());
            state
                .store
                .write(move |tx| {
                    zs::set_webhook_validated(tx, &app_id, now)?;
                    zoom_logs::add_app_event(
                        tx,
                        &app_id,
                        LogLevel::Info,
                        "webhook_validated",
                        "Zoom validated the app's event notification endpoint URL",
                        now,
                    )
                })
                .await?;
            Ok(HttpResponse::Ok().json(json!({
                "plainToken": plain,
                "encryptedToken": hmac_hex(&secret, &[plain.as_bytes()]),
            })))
        }
        "app_deauthorized" => {
            let (user_id, account_id) = (text("user_id"), text("account_id"));
            let found = {
                let app = app.clone();
                state
                    .store
                    .read(move |c| {
                        zs::find_deauthorized(c, &app, user_id.as_deref(), account_id.as_deref())
                    })
                    .await?
            };
            for cred in found {
                tokens::mark_unhealthy(
                    &state,
                    &cred,
                    "deauthorized",
                    "The Zoom user removed the app (app_deauthorized)",
                )
                .await?;
            }
            Ok(HttpResponse::Ok().json(json!({})))
        }
        "meeting.created" | "meeting.updated" | "meeting.deleted" => {
            // The meeting map of the account's credentials is re-read from Zoom at once.
            let n = super::meetings::on_meeting_event(&state, &app, text("account_id")).await?;
            let (app_id, now) = (app.id.clone(), state.now_ms());
            let message = format!("{name} received; meeting sync started for {n} credential(s)");
            state
                .store
                .write(move |tx| {
                    zoom_logs::add_app_event(
                        tx,
                        &app_id,
                        LogLevel::Info,
                        "meeting_event",
                        &message,
                        now,
                    )
                })
                .await?;
            Ok(HttpResponse::Ok().json(json!({})))
        }
        // Other subscribed events are acknowledged and ignored.
        _ => Ok(HttpResponse::Ok().json(json!({}))),
    }
}
