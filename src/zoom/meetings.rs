//! Zoom meeting sync: which credential can mint tokens for which Zoom meeting.
//!
//! For a healthy credential: `GET /users/me/meetings?type=upcoming&page_size=300` (every
//! page), or for account-level apps `GET /users?status=active` and then each user's
//! meetings. The result replaces the credential's rows of `zoom_meetings` in one
//! transaction. A sync runs at creation, hourly (`sync_due`, a sweep), at once on
//! `POST .../sync-meetings/` and on a signed `meeting.*` event at the app's webhook URL.
//! One sync per credential at a time (`LockName::ZoomMeetingSync`); a failure keeps the old
//! map, sets `failed` and is retried after [`RETRY_MS`].

use std::collections::BTreeSet;

use crate::coord::LockName;
use crate::domain::ZoomMeetingSyncStatus;
use crate::state::AppState;
use crate::store::zoom::{self as zs, ZoomApp, ZoomCredential};
use crate::store::zoom_meetings as zm;
use crate::store::StoreError;

use super::client::ZoomError;
use super::client_meetings;
use super::tokens::{self, TokenError};
use super::{apps, credentials};

/// A synced credential is synced again this much later.
pub const SYNC_EVERY_MS: i64 = 3600 * 1000;
/// A failed sync is tried again this much later.
pub const RETRY_MS: i64 = 15 * 60 * 1000;
/// Credentials synced per sweep run; the rest wait for the next one.
const BATCH: usize = 200;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored this many meetings.
    Synced(usize),
    Failed(String),
    /// Not due, unhealthy or gone.
    Skipped,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub synced: usize,
    pub failed: usize,
}

/// The sweep: every credential whose sync is due.
pub async fn sync_due(state: &AppState) -> anyhow::Result<SweepReport> {
    let now = state.now_ms();
    let ids = state.store.read(move |c| zm::due(c, now, BATCH)).await?;
    let mut report = SweepReport::default();
    for id in ids {
        match sync_if_due(state, &id, None).await? {
            Outcome::Synced(_) => report.synced += 1,
            Outcome::Failed(_) => report.failed += 1,
            Outcome::Skipped => {}
        }
    }
    Ok(report)
}

/// Syncs the credential if it is (still) due, under its lock. `token`: an access token in
/// hand (a credential just created), else one is obtained the usual way.
pub async fn sync_if_due(
    state: &AppState,
    id: &str,
    token: Option<String>,
) -> Result<Outcome, StoreError> {
    let _guard = state.locks.lock(LockName::ZoomMeetingSync(id)).await;
    let (cid, now) = (id.to_string(), state.now_ms());
    if !state.store.read(move |c| zm::is_due(c, &cid, now)).await? {
        return Ok(Outcome::Skipped);
    }
    let Some(cred) = credentials::get(state, id).await? else {
        return Ok(Outcome::Skipped);
    };
    let Some(app) = apps::get(state, &cred.oauth_app_id).await? else {
        return Ok(Outcome::Skipped);
    };
    set_status(state, id, ZoomMeetingSyncStatus::InProgress).await?;
    match list_meetings(state, &app, &cred, token).await {
        Ok(meetings) => {
            let n = meetings.len();
            let now = state.now_ms();
            let id = id.to_string();
            state
                .store
                .write(move |tx| {
                    if zm::save_sync(tx, &id, &meetings, now, now + SYNC_EVERY_MS)? {
                        let msg = format!("meeting sync completed: {n} upcoming meeting(s)");
                        zs::add_event(tx, &id, "meeting_sync_completed", Some(&msg), now)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await?;
            Ok(Outcome::Synced(n))
        }
        Err(why) => {
            tracing::warn!(credential = %id, error = %why, "Zoom meeting sync failed");
            let now = state.now_ms();
            let (id, msg) = (id.to_string(), why.clone());
            state
                .store
                .write(move |tx| {
                    zm::fail_sync(tx, &id, now + RETRY_MS)?;
                    zs::add_event(tx, &id, "meeting_sync_failed", Some(&msg), now)
                })
                .await?;
            Ok(Outcome::Failed(why))
        }
    }
}

async fn set_status(
    state: &AppState,
    id: &str,
    status: ZoomMeetingSyncStatus,
) -> Result<(), StoreError> {
    let id = id.to_string();
    state
        .store
        .write(move |tx| zm::set_status(tx, &id, status))
        .await
}

/// The credential's upcoming meeting ids; the error says why in words (no token in it).
async fn list_meetings(
    state: &AppState,
    app: &ZoomApp,
    cred: &ZoomCredential,
    token: Option<String>,
) -> Result<BTreeSet<i64>, String> {
    let token = match token {
        Some(t) => t,
        None => match tokens::access_token(state, &cred.id).await {
            Ok(t) => t.token,
            Err(TokenError::Unhealthy(why)) => return Err(format!("unhealthy: {why}")),
            Err(e) => return Err(format!("no access token: {e}")),
        },
    };
    let explain = |e: ZoomError, scope: &str| match &e {
        ZoomError::Rejected {
            status: 400, error, ..
        } if error == "4711" => {
            format!("{e}. Add the scope {scope} to the Zoom app, then have the user authorize it again.")
        }
        _ => e.to_string(),
    };
    let mut ids = BTreeSet::new();
    if app.is_account_level() {
        let users = client_meetings::active_users(state, &token)
            .await
            .map_err(|e| explain(e, "user:read:list_users:admin"))?;
        for user in users {
            let list = client_meetings::upcoming_meetings(state, &token, &user)
                .await
                .map_err(|e| explain(e, "meeting:read:list_meetings:admin"))?;
            ids.extend(list);
        }
    } else {
        let list = client_meetings::upcoming_meetings(state, &token, "me")
            .await
            .map_err(|e| explain(e, "meeting:read:list_meetings"))?;
        ids.extend(list);
    }
    Ok(ids)
}

/// Right after a credential was created: sync with the token just issued (no refresh).
pub fn start_first_sync(state: &AppState, cred: &ZoomCredential, token: String) {
    let (state, id) = (state.clone(), cred.id.clone());
    tokio::spawn(async move {
        if let Err(e) = sync_if_due(&state, &id, Some(token)).await {
            tracing::warn!(credential = %id, error = %e, "first Zoom meeting sync failed");
        }
    });
}

/// Makes the credential's sync due now (`in_progress`) and starts it; false when there
/// is no such credential.
pub async fn request_sync(state: &AppState, id: &str) -> Result<bool, StoreError> {
    let (cid, now) = (id.to_string(), state.now_ms());
    let found = state
        .store
        .write(move |tx| zm::schedule(tx, &cid, now, Some(ZoomMeetingSyncStatus::InProgress)))
        .await?;
    if found {
        spawn_sync(state, id);
    }
    Ok(found)
}

fn spawn_sync(state: &AppState, id: &str) {
    let (state, id) = (state.clone(), id.to_string());
    tokio::spawn(async move {
        if let Err(e) = sync_if_due(&state, &id, None).await {
            tracing::warn!(credential = %id, error = %e, "Zoom meeting sync failed");
        }
    });
}

/// A `meeting.*` event for the app: the credentials of the Zoom account it names (all of
/// the app's when none matches) sync now. Returns how many were asked to.
pub async fn on_meeting_event(
    state: &AppState,
    app: &ZoomApp,
    account_id: Option<String>,
) -> Result<usize, StoreError> {
    let (app_id, now) = (app.id.clone(), state.now_ms());
    let ids = state
        .store
        .write(move |tx| {
            let mut ids = zm::app_credentials(tx, &app_id, account_id.as_deref())?;
            if ids.is_empty() {
                ids = zm::app_credentials(tx, &app_id, None)?;
            }
            for id in &ids {
                zm::schedule(tx, id, now, None)?;
            }
            Ok::<_, StoreError>(ids)
        })
        .await?;
    for id in &ids {
        spawn_sync(state, id);
    }
    Ok(ids.len())
}
