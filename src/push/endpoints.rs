//! The public notification URLs (push.md, "Public endpoints"). No API key: each
//! notification is verified by its channel's or subscription's secret (constant time).
//! A valid one records itself and marks its calendar due (one write), then wakes the sync
//! sweep; nothing calls a provider inside the request. Bodies are limited to 1 MB.
//!
//! * `POST /api/v1/push/google/`: `X-Goog-Channel-ID` + `X-Goog-Channel-Token` +
//!   `X-Goog-Resource-ID` must match a channel (`404` otherwise, nothing else happens);
//!   `exists` / `not_exists` sync, `sync` does not.
//! * `POST /api/v1/push/microsoft/` and `…/lifecycle/`: `?validationToken=` is echoed as
//!   `text/plain` (the handshake Graph performs during the create call); otherwise a JSON
//!   `{"value": [...]}` (`400` if not), each item acted on when its subscription is known
//!   and its `clientState` matches, `202` in any case.

use std::collections::{BTreeSet, HashMap};

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{GOOGLE_PATH, MICROSOFT_LIFECYCLE_PATH, MICROSOFT_PATH};
use crate::crypto::constant_time_eq;
use crate::domain::{ChannelState, Platform};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::push::{self as db, Channel};
use crate::store::StoreError;

/// Largest notification body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Longest validation token echoed.
const MAX_VALIDATION_TOKEN: usize = 4096;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, handler) in [
        (GOOGLE_PATH, Kind::Google),
        (MICROSOFT_PATH, Kind::Change),
        (MICROSOFT_LIFECYCLE_PATH, Kind::Lifecycle),
    ] {
        cfg.service(
            crate::api::resource(path)
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .route(web::post().to(
                    move |state: web::Data<AppState>, req: HttpRequest, body: web::Bytes| {
                        handle(handler, state, req, body)
                    },
                )),
        );
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Google,
    Change,
    Lifecycle,
}

async fn handle(
    kind: Kind,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    match kind {
        Kind::Google => {
            let answer = google(&state, &req).await;
            let outcome = match &answer {
                Ok(_) => "accepted",
                Err(ApiError::NotFound) => "rejected",
                Err(_) => "error",
            };
            crate::metrics::push_notification("google", outcome);
            answer
        }
        Kind::Change | Kind::Lifecycle => {
            if let Some(token) = validation_token(&req) {
                return validation_answer(token);
            }
            microsoft(&state, &body, matches!(kind, Kind::Lifecycle)).await
        }
    }
}

// ---------------------------------------------------------------------------------- Google

/// `X-Goog-Resource-State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResourceState {
    /// Right after the channel was created: no change to fetch.
    Sync,
    /// Something changed (`exists`, `not_exists`).
    Changed,
}

impl ResourceState {
    fn parse(header: &str) -> Option<Self> {
        match header {
            "sync" => Some(ResourceState::Sync),
            "exists" | "not_exists" => Some(ResourceState::Changed),
            _ => None,
        }
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn google(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let (Some(channel_id), Some(token), Some(resource_id), Some(resource_state)) = (
        header(req, "x-goog-channel-id"),
        header(req, "x-goog-channel-token"),
        header(req, "x-goog-resource-id"),
        header(req, "x-goog-resource-state").and_then(ResourceState::parse),
    ) else {
        return Err(ApiError::NotFound);
    };
    let id = channel_id.to_string();
    let found = state
        .store
        .read(move |c| db::find_external(c, Platform::Google, &id))
        .await?;
    let Some((ch, connected)) = found else {
        tracing::debug!(channel = %channel_id, "push: unknown Google channel");
        return Err(ApiError::NotFound);
    };
    // A channel whose resource id is not known yet is one whose watch call is still in
    // flight: its token alone identifies it.
    let resource_ok = ch.resource_id.as_deref().is_none_or(|r| r == resource_id);
    if !secret_matches(state, &ch, token) || !resource_ok {
        tracing::debug!(channel = %channel_id, "push: Google notification with a wrong token or resource");
        return Err(ApiError::NotFound);
    }
    if !connected || ch.stop_with.is_some() {
        // A stale channel of a deleted, reconnected or disconnected calendar: stop it.
        stop_soon(state, &ch).await?;
        return Err(ApiError::NotFound);
    }
    accept(
        state,
        BTreeSet::from([ch.calendar_id.clone()]),
        resource_state == ResourceState::Changed,
    )
    .await?;
    tracing::debug!(channel = %channel_id, calendar_id = %ch.calendar_id, "push: Google notification accepted");
    Ok(HttpResponse::Ok().finish())
}

// ------------------------------------------------------------------------------- Microsoft

fn validation_token(req: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned())
}

/// The handshake: the token, URL-decoded, as `text/plain`.
fn validation_answer(token: String) -> Result<HttpResponse, ApiError> {
    if token.len() > MAX_VALIDATION_TOKEN {
        return Err(ApiError::BadRequest("validationToken is too long.".into()));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(token))
}

#[derive(Deserialize)]
struct Envelope {
    value: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    subscription_id: String,
    #[serde(default)]
    client_state: Option<String>,
    #[serde(default)]
    lifecycle_event: Option<String>,
}

/// What a valid Graph item asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// `reauthorizationRequired`: renew now.
    Reauthorize,
    /// `subscriptionRemoved`: a new subscription, and sync.
    Removed,
    /// `missed`: sync now.
    Missed,
}

impl Lifecycle {
    fn parse(event: &str) -> Option<Self> {
        match event {
            "reauthorizationRequired" => Some(Lifecycle::Reauthorize),
            "subscriptionRemoved" => Some(Lifecycle::Removed),
            "missed" => Some(Lifecycle::Missed),
            _ => None,
        }
    }
}

async fn microsoft(
    state: &AppState,
    body: &[u8],
    lifecycle_url: bool,
) -> Result<HttpResponse, ApiError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|_| {
        crate::metrics::push_notification("microsoft", "rejected");
        ApiError::BadRequest("Expected a JSON notification collection {\"value\": [...]}.".into())
    })?;
    let mut sync = BTreeSet::new();
    let mut record = BTreeSet::new();
    let mut renew: Vec<(String, bool)> = Vec::new();
    let mut stale = Vec::new();
    // Every item's subscription in one read (none for an empty batch).
    let known = if envelope.value.is_empty() {
        HashMap::new()
    } else {
        let subs: Vec<String> = envelope
            .value
            .iter()
            .map(|i| i.subscription_id.clone())
            .collect();
        state
            .store
            .read(move |c| {
                let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
                db::find_externals(c, Platform::Microsoft, &subs)
            })
            .await?
    };
    for item in envelope.value {
        let found = known.get(&item.subscription_id).cloned();
        let Some((ch, connected)) = found else {
            tracing::debug!(subscription = %item.subscription_id, "push: unknown Graph subscription");
            crate::metrics::push_notification("microsoft", "rejected");
            continue;
        };
        let given = item.client_state.as_deref().unwrap_or_default();
        if !secret_matches(state, &ch, given) {
            tracing::debug!(subscription = %item.subscription_id, "push: Graph notification with a wrong clientState");
            crate::metrics::push_notification("microsoft", "rejected");
            continue;
        }
        if !connected || ch.stop_with.is_some() {
            crate::metrics::push_notification("microsoft", "rejected");
            stale.push(ch);
            continue;
        }
        crate::metrics::push_notification("microsoft", "accepted");
        let lifecycle = item.lifecycle_event.as_deref();
        match (lifecycle_url, lifecycle.map(Lifecycle::parse)) {
            (_, Some(Some(Lifecycle::Reauthorize))) => renew.push((ch.id.clone(), false)),
            (_, Some(Some(Lifecycle::Removed))) => {
                renew.push((ch.id.clone(), true));
                sync.insert(ch.calendar_id.clone());
            }
            (_, Some(Some(Lifecycle::Missed))) => {
                sync.insert(ch.calendar_id.clone());
            }
            (_, Some(None)) => {
                tracing::debug!(subscription = %item.subscription_id, "push: unknown Graph lifecycle event");
            }
            (false, None) => {
                sync.insert(ch.calendar_id.clone());
            }
            // A change notification sent to the lifecycle URL: nothing to do.
            (true, None) => {}
        }
        record.insert(ch.calendar_id.clone());
    }
    for ch in &stale {
        stop_soon(state, ch).await?;
    }
    if !renew.is_empty() {
        let now = state.now_ms();
        state
            .store
            .write(move |tx| {
                for (id, recreate) in &renew {
                    db::set_due(tx, id, now, *recreate, now)?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        state.wake.push.notify_one();
    }
    if !record.is_empty() {
        accept_some(state, record, &sync).await?;
    }
    Ok(HttpResponse::Accepted().finish())
}

// ---------------------------------------------------------------------------------- shared

/// The notification's secret against the channel's, in constant time.
fn secret_matches(state: &AppState, ch: &Channel, given: &str) -> bool {
    match state.keys.decrypt(&ch.secret_enc) {
        Ok(secret) => constant_time_eq(&secret, given),
        Err(e) => {
            tracing::warn!(subscription = %ch.id, error = %e, "push: cannot open a channel secret");
            false
        }
    }
}

/// A valid notification for a channel that should not exist any more: stop it now.
async fn stop_soon(state: &AppState, ch: &Channel) -> Result<(), StoreError> {
    let (id, state_now, now) = (ch.id.clone(), ch.state, state.now_ms());
    state
        .store
        .write(move |tx| {
            if state_now == ChannelState::Stopping {
                db::set_due(tx, &id, now, false, now)
            } else {
                db::retire(tx, &id, None, now)
            }
        })
        .await?;
    state.wake.push.notify_one();
    Ok(())
}

/// Records a notification for each calendar; with `sync`, each is due now.
async fn accept(
    state: &AppState,
    calendars: BTreeSet<String>,
    sync: bool,
) -> Result<(), StoreError> {
    let to_sync = if sync {
        calendars.clone()
    } else {
        BTreeSet::new()
    };
    accept_some(state, calendars, &to_sync).await
}

async fn accept_some(
    state: &AppState,
    calendars: BTreeSet<String>,
    sync: &BTreeSet<String>,
) -> Result<(), StoreError> {
    let now = state.now_ms();
    let sync = sync.clone();
    let due: Vec<i64> = state
        .store
        .write(move |tx| {
            let mut due = Vec::new();
            for id in &calendars {
                db::record_notification(tx, id, now)?;
                if sync.contains(id) {
                    let previous = db::request_sync(tx, id, now)?;
                    due.extend(crate::sync::mark_due_now(tx, id, now, previous)?);
                }
            }
            Ok::<_, StoreError>(due)
        })
        .await?;
    if !due.is_empty() {
        crate::sync::wake(state);
    }
    Ok(())
}
