//! Connecting calendars: V1 hosted OAuth (calendar users and their connections), V2
//! calendars created by the app, and the token lifecycle both share.
//!
//! V1 connections and V2 calendars are rows of one table (`store::calendars`, kind `v1` /
//! `v2`), so refresh, single flight, disconnect detection and sync are one mechanism.

pub mod accounts;
pub mod auth_token;
pub mod callbacks;
pub mod oauth_url;
pub mod reconnect;
pub mod status;
pub mod tokens;
pub mod users;
pub mod v1_connect;
pub mod v2;

use actix_web::web;
use serde_json::{json, Value};

use crate::domain::{CalendarStatus, Platform};
use crate::error::ApiError;
use crate::store::calendar_users::CalendarUser;
use crate::store::calendars::{self as cal_store, Calendar};
use crate::store::{ms_to_rfc3339, StoreError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    auth_token::configure(cfg);
    oauth_url::configure(cfg);
    callbacks::configure(cfg);
    users::configure(cfg);
    v2::configure(cfg);
    accounts::configure(cfg);
}

/// Deletes a calendar with its events, cancelling the future bots only its events used.
/// Every path that removes a calendar goes through here (the caller wakes the bot sweep).
pub fn remove_calendar(
    tx: &rusqlite::Transaction,
    id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    crate::scheduling::cancel_bots_for_calendar(tx, id, now_ms)?;
    cal_store::delete(tx, id)
}

/// Deletes a V1 calendar user with its connections, events and their future bots.
pub fn remove_calendar_user(
    tx: &rusqlite::Transaction,
    user_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    for cal in cal_store::v1_for_user(tx, user_id)? {
        remove_calendar(tx, &cal.id, now_ms)?;
    }
    crate::store::calendar_users::delete(tx, user_id)?;
    Ok(())
}

/// The V1 `platform` field of a request body (`google` | `microsoft`).
pub fn v1_platform(body: &Value) -> Result<Platform, ApiError> {
    match body.get("platform").and_then(Value::as_str) {
        Some(p) => Platform::from_v1(p)
            .ok_or_else(|| ApiError::field("platform", format!("\"{p}\" is not a valid choice."))),
        None => Err(ApiError::field("platform", "This field is required.")),
    }
}

/// The hosted callback URL for a platform, on the public URL.
pub fn callback_url(settings: &crate::config::Settings, platform: Platform) -> String {
    settings.public_link(match platform {
        Platform::Google => "/api/v1/calendar/google_oauth_callback/",
        Platform::Microsoft => "/api/v1/calendar/ms_oauth_callback/",
    })
}

/// The V2 Calendar resource. Secrets are never part of it.
pub fn calendar_json(conn: &rusqlite::Connection, cal: &Calendar) -> Result<Value, StoreError> {
    let changes: Vec<Value> = cal_store::status_changes(conn, &cal.id)?
        .into_iter()
        .map(|c| {
            let mut v = json!({ "status": c.status, "created_at": ms_to_rfc3339(c.created_at) });
            if c.error_code.is_some() || c.error_message.is_some() {
                v["error"] = json!({
                    "code": c.error_code.unwrap_or_default(),
                    "message": c.error_message.unwrap_or_default(),
                });
            }
            v
        })
        .collect();
    Ok(json!({
        "id": cal.id,
        "platform": cal.platform,
        "oauth_client_id": cal.oauth_client_id,
        "oauth_email": cal.oauth_email,
        "platform_email": cal.platform_email,
        "status": cal.status,
        "status_changes": changes,
        "webhook_url": cal.webhook_url,
        "created_at": ms_to_rfc3339(cal.created_at),
        "updated_at": ms_to_rfc3339(cal.updated_at),
    }))
}

/// Preference keys with their defaults (api.md, CalendarUser).
pub const BOOL_PREFERENCES: [&str; 6] = [
    "record_non_host",
    "record_recurring",
    "record_external",
    "record_internal",
    "record_confirmed",
    "record_only_host",
];
pub const DEFAULT_BOT_NAME: &str = "Meeting Notetaker";

/// Stored preferences with defaults filled in.
pub fn preferences_json(stored: &str) -> Value {
    let stored: Value = serde_json::from_str(stored).unwrap_or(json!({}));
    let mut out = serde_json::Map::new();
    for k in BOOL_PREFERENCES {
        out.insert(
            k.into(),
            json!(stored.get(k).and_then(Value::as_bool).unwrap_or(false)),
        );
    }
    out.insert(
        "bot_name".into(),
        json!(stored
            .get("bot_name")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_BOT_NAME)),
    );
    Value::Object(out)
}

/// The V1 CalendarUser resource with its connections.
pub fn user_json(conn: &rusqlite::Connection, user: &CalendarUser) -> Result<Value, StoreError> {
    let connections: Vec<Value> = cal_store::v1_for_user(conn, &user.id)?
        .into_iter()
        .map(|c| {
            json!({
                "platform": c.platform.v1_name(),
                "connected": c.status == CalendarStatus::Connected,
                "email": c.platform_email,
                "id": c.id,
            })
        })
        .collect();
    Ok(json!({
        "id": user.id,
        "external_id": user.external_id,
        "connections": connections,
        "preferences": preferences_json(&user.preferences),
    }))
}
