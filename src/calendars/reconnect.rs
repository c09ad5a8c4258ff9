//! Changing a V2 calendar (`PATCH /api/v2/calendars/{id}/`): new settings are saved and
//! announced; new credentials (client, refresh token or platform) start the connection
//! over — the calendar goes `connecting` with its tokens forgotten, and the credentials are
//! tried at once (`connected`, `disconnected` with the provider's code, or still
//! `connecting` when the provider is unreachable and the token sweep completes it later).

use rusqlite::Transaction;

use super::status;
use super::tokens::{self, TokenError};
use crate::domain::{CalendarStatus, Platform};
use crate::state::AppState;
use crate::store::calendars::{self as cal_store, Calendar};
use crate::store::StoreError;

/// The fields of a V2 create or PATCH after validation (`None` = absent; `Some(None)` =
/// set to null). Secrets are in the clear until stored.
#[derive(Default)]
pub struct CalendarFields {
    pub platform: Option<Platform>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub oauth_email: Option<Option<String>>,
    pub webhook_url: Option<Option<String>>,
}

impl CalendarFields {
    /// Whether the credentials change, so the calendar connects again.
    pub fn credentials_given(&self) -> bool {
        self.platform.is_some()
            || self.client_id.is_some()
            || self.client_secret.is_some()
            || self.refresh_token.is_some()
    }
}

/// Tries the calendar's credentials now; its status records the outcome.
pub async fn try_connect(state: &AppState, id: &str) {
    match tokens::connect(state, id).await {
        Ok(_) | Err(TokenError::Disconnected { .. }) => {}
        Err(TokenError::Transient(e)) => {
            tracing::info!(calendar_id = %id, error = %e, "calendar stays connecting; the token sweep retries");
        }
        Err(e) => tracing::warn!(calendar_id = %id, error = %e, "cannot connect calendar"),
    }
}

/// Applies `fields` to the V2 calendar `id` and, when its credentials changed, tries them.
/// Returns false when there is no such calendar.
pub async fn update_v2(
    state: &AppState,
    id: &str,
    fields: CalendarFields,
) -> Result<bool, StoreError> {
    let reconnect = fields.credentials_given();
    let sealed = Sealed {
        client_secret: fields
            .client_secret
            .as_deref()
            .map(|s| state.keys.encrypt(s)),
        refresh_token: fields
            .refresh_token
            .as_deref()
            .map(|s| state.keys.encrypt(s)),
    };
    let now = state.now_ms();
    {
        // No refresh with the old credentials may commit while they are replaced.
        let _guard = tokens::lock_calendar(state, id).await;
        let id = id.to_string();
        let changed = state
            .store
            .write(move |tx| {
                let Some(mut cal) = cal_store::get_v2(tx, &id)? else {
                    return Ok(None);
                };
                apply(tx, &mut cal, fields, sealed, now).map(Some)
            })
            .await?;
        match changed {
            None => return Ok(false),
            Some(true) => state.wake.webhooks.notify_one(),
            Some(false) => {}
        }
    }
    if reconnect {
        state.wake.push.notify_one(); // stops the old credentials' push channel
        try_connect(state, id).await;
    }
    Ok(true)
}

/// The secrets of a [`CalendarFields`], sealed.
struct Sealed {
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

/// Writes the change to `cal` (saved, status history, webhook); true when anything changed.
fn apply(
    tx: &Transaction,
    cal: &mut Calendar,
    f: CalendarFields,
    sealed: Sealed,
    now: i64,
) -> Result<bool, StoreError> {
    let reconnect = f.credentials_given();
    if reconnect {
        // The old grant's push channel goes (stopped with the old credentials); the next
        // sync with the new ones subscribes again.
        crate::store::push::retire_calendar(tx, &cal.id, now)?;
    }
    let before = (cal.oauth_email.clone(), cal.webhook_url.clone());
    if let Some(p) = f.platform {
        if p != cal.platform {
            cal.platform = p;
            cal.platform_email = None;
            cal.granted_scopes = None;
            cal_store::reset_sync_state(tx, &cal.id)?;
        }
    }
    if let Some(v) = f.client_id {
        cal.oauth_client_id = Some(v);
    }
    if let Some(v) = sealed.client_secret {
        cal.oauth_client_secret_enc = Some(v);
    }
    if let Some(v) = sealed.refresh_token {
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
        if status::transition(tx, cal, CalendarStatus::Connecting, None, now)? {
            return Ok(true);
        }
    }
    let settings_changed = before != (cal.oauth_email.clone(), cal.webhook_url.clone());
    if settings_changed || reconnect {
        cal.updated_at = now;
        cal_store::save(tx, cal)?;
        status::announce(tx, cal, now)?;
        return Ok(true);
    }
    Ok(false)
}
