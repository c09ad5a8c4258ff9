//! The `push` sweep ([`maintain_due`]): everything that talks to the providers about
//! channels and subscriptions. Every due time is a database column (`push_channels.due_at`,
//! `push_status.retry_at`), so a restart loses nothing; the sweep is woken after a first
//! sync, a lifecycle notification, a broken subscription or a calendar removal.
//!
//! 1. Retire: channels of deleted or disconnected calendars, and every channel when push is
//!    off, become `stopping`.
//! 2. Due rows: stop `stopping` ones (best effort: after [`MAX_STOP_ATTEMPTS`] or at expiry
//!    the row is dropped), renew `live` ones (Google: a new channel, then stop the old;
//!    Graph: PATCH at half-life, `404` → a new subscription; marked `recreate`: a new one,
//!    then stop the old), forget creations that never finished.
//! 3. Subscribe every connected calendar that synced once and has no channel, unless a
//!    refusal (6 h) or failure (backoff) says to wait.

use futures_util::stream::{self, StreamExt};

use super::{google, microsoft, with_token, PushError, GOOGLE_PATH};
use crate::calendars::tokens;
use crate::domain::{CalendarStatus, ChannelState, Platform};
use crate::state::AppState;
use crate::store::calendars::Calendar;
use crate::store::push::{self as db, Channel, StopWith};
use crate::store::{self, StoreError};

/// A creation that has not finished after this long is forgotten.
const PENDING_TIMEOUT_MS: i64 = 10 * 60 * 1000;
/// After a `400`/`403` refusal, push is tried again after this long.
pub const REFUSED_RETRY_MS: i64 = 6 * 3600 * 1000;
/// Google channels are replaced when less than this remains.
pub const GOOGLE_RENEW_BEFORE_MS: i64 = 24 * 3600 * 1000;
/// Stop attempts before a stopping row is dropped (the channel then simply expires).
const MAX_STOP_ATTEMPTS: i64 = 5;
const CONCURRENCY: usize = 4;
const BATCH: usize = 500;

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// New channels / subscriptions for calendars that had none.
    pub created: usize,
    /// Graph subscriptions extended in place.
    pub renewed: usize,
    /// Channels replaced by a new one (Google renewal, broken, removed, `404` on renewal).
    pub replaced: usize,
    /// Channels stopped at the provider (or dropped after giving up).
    pub stopped: usize,
    /// Creations, renewals or stops that failed (retried later).
    pub failed: usize,
}

enum Outcome {
    Created,
    Renewed,
    Replaced,
    Stopped,
    Failed,
    Nothing,
}

/// The sweep `push` (see the module docs).
pub async fn maintain_due(state: &AppState) -> anyhow::Result<Report> {
    let now = state.now_ms();
    let enabled = state.settings.push_enabled();
    let poll_at = now + state.settings.sync_interval.as_millis() as i64;
    // Read first: an idle sweep must not commit (issue 15's "no writes when idle").
    let gone = state
        .store
        .read(move |c| {
            if enabled {
                db::orphaned(c, BATCH)
            } else {
                db::all_active(c, BATCH)
            }
        })
        .await?;
    if !gone.is_empty() {
        state
            .store
            .write(move |tx| {
                for ch in gone {
                    db::retire(tx, &ch.id, None, now)?;
                    store::sync::pull_in(tx, &ch.calendar_id, poll_at)?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
    }

    let mut outcomes = Vec::new();
    let due = state.store.read(move |c| db::due(c, now, BATCH)).await?;
    outcomes.extend(
        stream::iter(due)
            .map(|ch| act(state, ch))
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await,
    );
    if enabled {
        let need = state
            .store
            .read(move |c| db::calendars_needing_channel(c, now, BATCH))
            .await?;
        outcomes.extend(
            stream::iter(need)
                .map(|(id, platform)| async move { create(state, &id, platform).await })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await,
        );
    }
    let mut report = Report::default();
    for o in outcomes {
        match o? {
            Outcome::Created => report.created += 1,
            Outcome::Renewed => report.renewed += 1,
            Outcome::Replaced => report.replaced += 1,
            Outcome::Stopped => report.stopped += 1,
            Outcome::Failed => report.failed += 1,
            Outcome::Nothing => {}
        }
    }
    Ok(report)
}

async fn act(state: &AppState, ch: Channel) -> Result<Outcome, StoreError> {
    let now = state.now_ms();
    match ch.state {
        ChannelState::Stopping => stop(state, &ch).await,
        ChannelState::Pending => {
            // A creation that never finished (the process stopped mid-call): forget it; a
            // Google channel may exist, so stop it by its id (404 counts as done).
            let id = ch.id.clone();
            let google = ch.platform == Platform::Google;
            state
                .store
                .write(move |tx| {
                    if google {
                        db::retire(tx, &id, None, now)
                    } else {
                        db::delete(tx, &id)
                    }
                })
                .await?;
            Ok(Outcome::Nothing)
        }
        ChannelState::Live if ch.expires_at.is_none_or(|e| e <= now) => {
            // Expired before it could be renewed: nothing to stop; poll, subscribe anew.
            tracing::warn!(calendar_id = %ch.calendar_id, channel = %ch.id, "push subscription expired before renewal");
            let (id, cal) = (ch.id.clone(), ch.calendar_id.clone());
            let poll_at = now + state.settings.sync_interval.as_millis() as i64;
            state
                .store
                .write(move |tx| {
                    db::delete(tx, &id)?;
                    store::sync::pull_in(tx, &cal, poll_at)
                })
                .await?;
            let platform = ch.platform;
            create(state, &ch.calendar_id, platform).await
        }
        ChannelState::Live if ch.platform == Platform::Google || ch.recreate => {
            replace(state, &ch).await
        }
        ChannelState::Live => renew_graph(state, &ch).await,
    }
}

/// When to renew a subscription that expires at `expires_at`.
fn renew_at(platform: Platform, now: i64, expires_at: i64) -> i64 {
    let half_life = now + (expires_at - now) / 2;
    match platform {
        Platform::Google => (expires_at - GOOGLE_RENEW_BEFORE_MS).max(half_life),
        Platform::Microsoft => half_life,
    }
}

/// `60 s · 2^(failures-1)`, at most 6 h, at least the provider's `Retry-After`.
fn backoff_ms(failures: i64, retry_after_ms: Option<i64>) -> i64 {
    let exp = 60_000i64.saturating_mul(1i64 << (failures - 1).clamp(0, 20));
    exp.min(REFUSED_RETRY_MS).max(retry_after_ms.unwrap_or(0))
}

/// Asks the provider for a new channel / subscription of the calendar: recorded `pending`
/// first (so a notification overtaking the answer is recognised), `live` once created,
/// deleted again when the provider refused.
async fn subscribe(
    state: &AppState,
    calendar_id: &str,
    platform: Platform,
) -> Result<Result<(), PushError>, StoreError> {
    let now = state.now_ms();
    let secret = crate::crypto::random_token("", 32);
    let id = uuid::Uuid::new_v4().to_string();
    let row = Channel {
        id: id.clone(),
        calendar_id: calendar_id.to_string(),
        platform,
        state: ChannelState::Pending,
        // Google: Convene names the channel; Graph names the subscription in its answer.
        external_id: (platform == Platform::Google).then(|| id.clone()),
        resource_id: None,
        secret_enc: state.keys.encrypt(&secret),
        expires_at: None,
        due_at: now + PENDING_TIMEOUT_MS,
        recreate: false,
        attempts: 0,
        stop_with: None,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .write(move |tx| db::insert_pending(tx, &row))
        .await?;
    let (http, settings) = (&state.http, &*state.settings);
    let (id_ref, secret_ref) = (id.as_str(), secret.as_str());
    let result = match platform {
        Platform::Google => {
            let address = settings.public_link(GOOGLE_PATH);
            let address = address.as_str();
            with_token(state, calendar_id, |token| async move {
                google::watch(http, settings, &token, id_ref, secret_ref, address).await
            })
            .await
        }
        Platform::Microsoft => {
            let expires = now + microsoft::LIFETIME_MS;
            with_token(state, calendar_id, |token| async move {
                microsoft::create(http, settings, &token, secret_ref, expires).await
            })
            .await
        }
    };
    match result {
        Ok(created) => {
            let now = state.now_ms();
            let next = renew_at(platform, now, created.expires_at);
            let cal = calendar_id.to_string();
            let external = created.external_id.clone();
            let after = state
                .store
                .write(move |tx| {
                    let after = db::activate(
                        tx,
                        &id,
                        &external,
                        created.resource_id.as_deref(),
                        created.expires_at,
                        next,
                        now,
                    )?;
                    if after == Some(ChannelState::Live) {
                        db::record_success(tx, &cal, now)?;
                    }
                    Ok::<_, StoreError>(after)
                })
                .await?;
            if after == Some(ChannelState::Stopping) {
                // The calendar went away while the provider answered: stop it now.
                state.wake.push.notify_one();
            }
            tracing::info!(calendar_id, subscription = %created.external_id, "push subscription live");
            Ok(Ok(()))
        }
        Err(e) => {
            state.store.write(move |tx| db::delete(tx, &id)).await?;
            Ok(Err(e))
        }
    }
}

/// A first subscription for a calendar without one; a failure puts it on polling.
async fn create(
    state: &AppState,
    calendar_id: &str,
    platform: Platform,
) -> Result<Outcome, StoreError> {
    match subscribe(state, calendar_id, platform).await? {
        Ok(()) => Ok(Outcome::Created),
        Err(e) => {
            record_failure(state, calendar_id, &e, true).await?;
            Ok(Outcome::Failed)
        }
    }
}

/// Records why push failed for the calendar and when to try again. `polling`: no channel is
/// live any more, so the normal polling interval applies from now.
async fn record_failure(
    state: &AppState,
    calendar_id: &str,
    err: &PushError,
    polling: bool,
) -> Result<i64, StoreError> {
    let now = state.now_ms();
    let reason = match err {
        PushError::Refused(m) => format!("refused: {m}"),
        other => format!("failing: {other}"),
    };
    tracing::warn!(calendar_id, reason = %reason, "push subscription failed; polling");
    let (cal, err) = (calendar_id.to_string(), err.clone());
    let poll_at = now + state.settings.sync_interval.as_millis() as i64;
    state
        .store
        .write(move |tx| {
            let failures = db::status(tx, &cal)?.failures + 1;
            let retry_at = now
                + match err {
                    PushError::Refused(_) => REFUSED_RETRY_MS,
                    PushError::RateLimited { retry_after_ms } => {
                        backoff_ms(failures, retry_after_ms)
                    }
                    _ => backoff_ms(failures, None),
                };
            db::record_failure(tx, &cal, &reason, retry_at, now)?;
            if polling {
                store::sync::pull_in(tx, &cal, poll_at)?;
            }
            Ok(retry_at)
        })
        .await
}

/// Replaces a live channel: a new one first, then the old one is stopped (both may notify
/// meanwhile; notifications coalesce). On failure the old one stays while it lasts.
async fn replace(state: &AppState, old: &Channel) -> Result<Outcome, StoreError> {
    let now = state.now_ms();
    match subscribe(state, &old.calendar_id, old.platform).await? {
        Ok(()) => {
            let id = old.id.clone();
            state
                .store
                .write(move |tx| db::retire(tx, &id, None, now))
                .await?;
            let stopping = Channel {
                state: ChannelState::Stopping,
                ..old.clone()
            };
            stop(state, &stopping).await?;
            Ok(Outcome::Replaced)
        }
        Err(e) => {
            let retry_at = record_failure(state, &old.calendar_id, &e, false).await?;
            let (id, due) = (
                old.id.clone(),
                retry_at.min(old.expires_at.unwrap_or(retry_at)),
            );
            state
                .store
                .write(move |tx| db::set_due(tx, &id, due, false, now))
                .await?;
            Ok(Outcome::Failed)
        }
    }
}

/// Extends a Graph subscription (PATCH); gone (`404`) → a new one.
async fn renew_graph(state: &AppState, ch: &Channel) -> Result<Outcome, StoreError> {
    let now = state.now_ms();
    let Some(external) = ch.external_id.as_deref() else {
        return Ok(Outcome::Nothing);
    };
    let (http, settings) = (&state.http, &*state.settings);
    let wanted = now + microsoft::LIFETIME_MS;
    let result = with_token(state, &ch.calendar_id, |token| async move {
        microsoft::renew(http, settings, &token, external, wanted).await
    })
    .await;
    let id = ch.id.clone();
    match result {
        Ok(expires_at) => {
            let next = renew_at(Platform::Microsoft, now, expires_at);
            state
                .store
                .write(move |tx| db::renewed(tx, &id, expires_at, next, now))
                .await?;
            Ok(Outcome::Renewed)
        }
        Err(PushError::Gone) => {
            tracing::info!(calendar_id = %ch.calendar_id, subscription = %external, "Graph no longer has the subscription; creating a new one");
            state.store.write(move |tx| db::delete(tx, &id)).await?;
            match create(state, &ch.calendar_id, Platform::Microsoft).await? {
                Outcome::Created => Ok(Outcome::Replaced),
                other => Ok(other),
            }
        }
        Err(e) => {
            let retry_at = record_failure(state, &ch.calendar_id, &e, false).await?;
            let due = retry_at.min(ch.expires_at.unwrap_or(retry_at));
            state
                .store
                .write(move |tx| db::set_due(tx, &id, due, false, now))
                .await?;
            Ok(Outcome::Failed)
        }
    }
}

/// Tells the provider to stop a channel (best effort); the row goes when it is done or
/// when trying is pointless.
async fn stop(state: &AppState, ch: &Channel) -> Result<Outcome, StoreError> {
    let now = state.now_ms();
    let id = ch.id.clone();
    let target = match (ch.platform, &ch.external_id, &ch.resource_id) {
        (Platform::Google, Some(ext), Some(res)) => Some((ext.clone(), Some(res.clone()))),
        (Platform::Microsoft, Some(ext), _) => Some((ext.clone(), None)),
        _ => None,
    };
    let Some((external, resource)) = target else {
        if now - ch.created_at < PENDING_TIMEOUT_MS {
            // Retired while its creation is still in flight: wait for the provider's answer
            // (which gives the id to stop it by).
            let due = ch.created_at + PENDING_TIMEOUT_MS;
            state
                .store
                .write(move |tx| db::set_due(tx, &id, due, false, now))
                .await?;
            return Ok(Outcome::Nothing);
        }
        state.store.write(move |tx| db::delete(tx, &id)).await?;
        return Ok(Outcome::Stopped);
    };
    let (http, settings) = (&state.http, &*state.settings);
    let (ext, res) = (external.as_str(), resource.as_deref());
    let call = |token: String| async move {
        match res {
            Some(r) => google::stop(http, settings, &token, ext, r).await,
            None => microsoft::delete(http, settings, &token, ext).await,
        }
    };
    let result = match &ch.stop_with {
        Some(json) => match snapshot_token(state, json).await {
            Ok(token) => call(token).await,
            Err(e) => Err(e),
        },
        None => with_token(state, &ch.calendar_id, call).await,
    };
    match result {
        Ok(()) => {
            tracing::info!(calendar_id = %ch.calendar_id, subscription = %external, "push subscription stopped");
            state.store.write(move |tx| db::delete(tx, &id)).await?;
            Ok(Outcome::Stopped)
        }
        Err(e) => {
            let attempts = ch.attempts + 1;
            let expired = ch.expires_at.is_some_and(|x| x <= now);
            if attempts >= MAX_STOP_ATTEMPTS || expired {
                tracing::warn!(calendar_id = %ch.calendar_id, subscription = %external, error = %e, "cannot stop push subscription; leaving it to expire");
                state.store.write(move |tx| db::delete(tx, &id)).await?;
                return Ok(Outcome::Stopped);
            }
            tracing::info!(calendar_id = %ch.calendar_id, subscription = %external, error = %e, "stopping push subscription failed; will retry");
            let due = now + backoff_ms(attempts, None);
            state
                .store
                .write(move |tx| db::stop_failed(tx, &id, due, now))
                .await?;
            Ok(Outcome::Failed)
        }
    }
}

/// An access token from the credentials a deleted or reconnected calendar had: its cached
/// access token while it lasts, else one refresh with its refresh token.
async fn snapshot_token(state: &AppState, json: &str) -> Result<String, PushError> {
    let snap: StopWith = serde_json::from_str(json)
        .map_err(|e| PushError::Failed(format!("unreadable stop credentials: {e}")))?;
    let open = |sealed: &str| {
        state
            .keys
            .decrypt(sealed)
            .map_err(|e| PushError::Failed(format!("cannot open a sealed token: {e}")))
    };
    let now = state.now_ms();
    if let (Some(enc), Some(exp)) = (&snap.access_token_enc, snap.access_token_expires_at) {
        if exp > now + 60_000 {
            return open(enc);
        }
    }
    let cal = Calendar {
        oauth_client_id: snap.client_id.clone(),
        oauth_client_secret_enc: snap.client_secret_enc.clone(),
        ..Calendar::new(snap.kind, snap.platform, CalendarStatus::Connected, now)
    };
    let client = tokens::client_credentials(state, &cal).await?;
    let refresh = open(
        snap.refresh_token_enc
            .as_deref()
            .ok_or_else(|| PushError::Failed("no refresh token to stop with".into()))?,
    )?;
    let resp = crate::providers::refresh(
        &state.http,
        &state.settings,
        snap.platform,
        &client,
        &refresh,
        snap.granted_scopes.as_deref(),
    )
    .await
    .map_err(|e| PushError::Failed(format!("token refresh: {e}")))?;
    Ok(resp.access_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_times() {
        let week = 7 * 24 * 3600 * 1000;
        assert_eq!(
            renew_at(Platform::Google, 0, week),
            week - GOOGLE_RENEW_BEFORE_MS
        );
        // A short channel renews at half-life, never in a loop.
        assert_eq!(renew_at(Platform::Google, 0, 3_600_000), 1_800_000);
        assert_eq!(renew_at(Platform::Microsoft, 0, 1000), 500);
        assert_eq!(backoff_ms(1, None), 60_000);
        assert_eq!(backoff_ms(3, None), 240_000);
        assert_eq!(backoff_ms(40, None), REFUSED_RETRY_MS);
        assert_eq!(backoff_ms(1, Some(120_000)), 120_000);
    }
}
