//! Fresh access tokens for Zoom credentials.
//!
//! Zoom rotates the refresh token on every refresh and the old one dies at once, so two
//! concurrent refreshes of one credential would leave it broken: refreshes run under a
//! per-credential lock (single flight), and the new tokens are committed before anyone
//! gets the access token. A refresh Zoom refuses as an invalid token turns the credential
//! `unhealthy` and announces it (`zoom_oauth_credential.update`) in the same transaction.

use crate::coord::LockName;
use crate::domain::ZoomCredentialStatus;
use crate::state::AppState;
use crate::store::outbox::{self, OutboxEvent};
use crate::store::zoom::{self as zs, ZoomCredential};
use crate::store::StoreError;

use super::client::{self, ZoomError};
use super::{apps, credentials};

/// An access token is handed out only while more than this remains.
pub const MIN_REMAINING_MS: i64 = 5 * 60 * 1000;

pub const UPDATE_EVENT: &str = "zoom_oauth_credential.update";

#[derive(Debug)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no such credential")]
    NotFound,
    /// The credential is (now) unhealthy; `String` is why.
    #[error("credential is unhealthy: {0}")]
    Unhealthy(String),
    /// Zoom refused for a reason that is not the credential's (e.g. the app's secret).
    #[error("{0}")]
    Rejected(String),
    /// Zoom could not be reached or failed; a later try may work.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        TokenError::Internal(e.to_string())
    }
}

async fn load(state: &AppState, id: &str) -> Result<ZoomCredential, TokenError> {
    credentials::get(state, id)
        .await?
        .ok_or(TokenError::NotFound)
}

fn unhealthy_reason(cred: &ZoomCredential) -> String {
    cred.last_error
        .clone()
        .unwrap_or_else(|| "marked unhealthy".into())
}

fn open(state: &AppState, cred: &ZoomCredential) -> Result<AccessToken, TokenError> {
    let token = state
        .keys
        .decrypt(&cred.access_token_enc)
        .map_err(|e| TokenError::Internal(format!("cannot open access token: {e}")))?;
    Ok(AccessToken {
        token,
        expires_at: cred.access_token_expires_at,
    })
}

/// A usable access token for the credential, refreshed first when under 5 minutes remain.
pub async fn access_token(state: &AppState, id: &str) -> Result<AccessToken, TokenError> {
    let seen = load(state, id).await?;
    if !seen.is_healthy() {
        return Err(TokenError::Unhealthy(unhealthy_reason(&seen)));
    }
    if seen.is_customer_managed() {
        return super::customer::access_token(state, &seen, false).await;
    }
    if seen.access_token_expires_at - state.now_ms() > MIN_REMAINING_MS {
        return open(state, &seen);
    }
    let _guard = state.locks.lock(LockName::ZoomCredential(id)).await;
    let cred = load(state, id).await?;
    if !cred.is_healthy() {
        return Err(TokenError::Unhealthy(unhealthy_reason(&cred)));
    }
    let now = state.now_ms();
    // Someone refreshed while we waited: take theirs rather than rotate again.
    let refreshed_meanwhile =
        cred.access_token_enc != seen.access_token_enc && cred.access_token_expires_at > now;
    if cred.access_token_expires_at - now > MIN_REMAINING_MS || refreshed_meanwhile {
        return open(state, &cred);
    }
    refresh_locked(state, &cred, "access token requested").await
}

/// Refreshes now, whatever the access token's age (`validate/`); a customer-managed
/// credential fetches from its callback instead.
pub async fn refresh_now(state: &AppState, id: &str) -> Result<AccessToken, TokenError> {
    let seen = load(state, id).await?;
    if !seen.is_healthy() {
        return Err(TokenError::Unhealthy(unhealthy_reason(&seen)));
    }
    if seen.is_customer_managed() {
        return super::customer::access_token(state, &seen, true).await;
    }
    let _guard = state.locks.lock(LockName::ZoomCredential(id)).await;
    let cred = load(state, id).await?;
    if !cred.is_healthy() {
        return Err(TokenError::Unhealthy(unhealthy_reason(&cred)));
    }
    refresh_locked(state, &cred, "validation requested").await
}

/// Refreshes now, whatever the access token's age (the sweep). No-op when it was refreshed
/// after `due_before` by someone else meanwhile, or is no longer healthy.
pub async fn refresh_if_due(
    state: &AppState,
    id: &str,
    due_before: i64,
) -> Result<bool, TokenError> {
    let _guard = state.locks.lock(LockName::ZoomCredential(id)).await;
    let cred = load(state, id).await?;
    if !cred.is_healthy() || cred.last_refresh_at >= due_before {
        return Ok(false);
    }
    refresh_locked(state, &cred, "scheduled refresh").await?;
    Ok(true)
}

/// The refresh itself; the caller holds the credential's lock.
async fn refresh_locked(
    state: &AppState,
    cred: &ZoomCredential,
    why: &'static str,
) -> Result<AccessToken, TokenError> {
    let app = apps::get(state, &cred.oauth_app_id)
        .await?
        .ok_or_else(|| TokenError::Internal("credential without its app".into()))?;
    let secret = state
        .keys
        .decrypt(&app.client_secret_enc)
        .map_err(|e| TokenError::Internal(format!("cannot open client secret: {e}")))?;
    let refresh_token = state
        .keys
        .decrypt(&cred.refresh_token_enc)
        .map_err(|e| TokenError::Internal(format!("cannot open refresh token: {e}")))?;
    let id = cred.id.clone();
    match client::refresh(state, &app.client_id, &secret, &refresh_token).await {
        Ok(tokens) => {
            let now = state.now_ms();
            let expires_at = now + tokens.expires_in.max(0) * 1000;
            let access_enc = state.keys.encrypt(&tokens.access_token);
            let refresh_enc = state.keys.encrypt(&tokens.refresh_token);
            let scope = tokens.scope.clone();
            let saved = state
                .store
                .write(move |tx| {
                    let ok = zs::save_refresh(
                        tx,
                        &id,
                        &access_enc,
                        expires_at,
                        &refresh_enc,
                        &scope,
                        now,
                    )?;
                    if ok {
                        zs::add_event(tx, &id, "refreshed", Some(why), now)?;
                    }
                    Ok::<_, StoreError>(ok)
                })
                .await?;
            if !saved {
                // Deleted or deauthorized while Zoom answered.
                return match load(state, &cred.id).await {
                    Ok(c) => Err(TokenError::Unhealthy(unhealthy_reason(&c))),
                    Err(e) => Err(e),
                };
            }
            Ok(AccessToken {
                token: tokens.access_token,
                expires_at,
            })
        }
        Err(e) if e.is_invalid_grant() => {
            let reason = format!("Zoom refused the refresh token: {e}");
            mark_unhealthy(state, &cred.id, "refresh_refused", &reason).await?;
            Err(TokenError::Unhealthy(reason))
        }
        Err(e) => {
            let message = e.to_string();
            let now = state.now_ms();
            let msg = message.clone();
            state
                .store
                .write(move |tx| {
                    zs::record_refresh_failure(tx, &id, &msg, now)?;
                    zs::add_event(tx, &id, "refresh_error", Some(&msg), now)
                })
                .await?;
            tracing::warn!(credential = %cred.id, error = %message, "Zoom refresh failed");
            Err(match e {
                ZoomError::Transient { .. } => TokenError::Unavailable(message),
                ZoomError::Rejected { .. } => TokenError::Rejected(message),
            })
        }
    }
}

/// Marks the credential unhealthy and, if that changed it, records why and enqueues
/// `zoom_oauth_credential.update`, all in one transaction; then wakes the deliverer.
pub async fn mark_unhealthy(
    state: &AppState,
    id: &str,
    event_kind: &'static str,
    reason: &str,
) -> Result<bool, StoreError> {
    let now = state.now_ms();
    let (id, reason) = (id.to_string(), reason.to_string());
    let changed = state
        .store
        .write(move |tx| {
            if !zs::mark_unhealthy(tx, &id, &reason, now)? {
                return Ok(false);
            }
            zs::add_event(tx, &id, event_kind, Some(&reason), now)?;
            let event = update_event(&id, ZoomCredentialStatus::Unhealthy);
            outbox::enqueue(tx, &event, now)?;
            Ok::<_, StoreError>(true)
        })
        .await?;
    if changed {
        state.wake.webhooks.notify_one();
    }
    Ok(changed)
}

/// `{"event": "zoom_oauth_credential.update", "data": {"zoom_oauth_credential_id", "status"}}`
pub fn update_event(id: &str, status: ZoomCredentialStatus) -> OutboxEvent {
    OutboxEvent {
        event_type: UPDATE_EVENT.into(),
        ordering_key: id.to_string(),
        data: serde_json::json!({ "zoom_oauth_credential_id": id, "status": status }),
        extra_url: None,
    }
}
