//! Provider access tokens for calendars: cached, refreshed under single flight, rotated
//! refresh tokens committed before use, failures sorted into disconnects and retries.
//!
//! One mechanism for V1 connections (platform client from `platform_clients`) and V2
//! calendars (the app's client stored with the calendar):
//! * [`access_token`]: a cached token when more than 5 minutes remain, else a refresh.
//! * [`access_token_after_refusal`]: a refresh after the provider refused the cached token
//!   (`401`); sync and push retry their call once with it.
//! * [`refresh_due`] (sweep): refreshes every live calendar at least once a day even when
//!   idle, which notices revocations and keeps Microsoft's 90-day inactivity clock reset,
//!   and retries after transient failures (`next_refresh_at`).
//! * [`connect`]: the first refresh after credentials were set (V2 create / PATCH), which
//!   also reads the account email and moves the calendar to `connected`.
//!
//! Every exchange runs detached from its caller (`state.detached`, the calendar's lock
//! moved along): once sent, it runs to the commit of its answer even if the API request
//! that wanted the token is cancelled or the server stops, and the commit is retried while
//! the database is busy (`Store::write_persistent`). Refreshes are spread out: overdue ones
//! at start-up ([`stagger_overdue`]), a small random pause between sweep refreshes, and a
//! jittered daily liveness time, so a crash mid-burst catches few exchanges in flight.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use rand::Rng;

use super::{client_alarm, status};
use crate::coord::LockName;
use crate::domain::{CalendarKind, CalendarStatus, Platform};
use crate::providers::{self, ClientCredentials, OAuthError, TokenResponse};
use crate::state::AppState;
use crate::store::calendars::{self as cal_store, Calendar};
use crate::store::{platform_alarms, settings as kv, StoreError};

pub struct AccessToken {
    pub token: String,
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("calendar not found")]
    NotFound,
    #[error("no OAuth credentials")]
    NoCredentials,
    /// Permanent; the calendar is (or was already) `disconnected`.
    #[error("disconnected: {code}")]
    Disconnected { code: String, message: String },
    /// Retry later. The calendar's `next_refresh_at` says when Convene itself will.
    #[error("temporarily unavailable: {0}")]
    Transient(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        TokenError::Internal(e.to_string())
    }
}

/// A cached token is used while more than this remains.
const REUSE_MARGIN_MS: i64 = 5 * 60 * 1000;
/// Idle calendars are refreshed this often (minus up to [`LIVENESS_JITTER_MS`]).
pub const LIVENESS_INTERVAL_MS: i64 = 24 * 3600 * 1000;
/// Calendars connected together drift apart by up to this each day.
pub const LIVENESS_JITTER_MS: i64 = 30 * 60 * 1000;
/// Backoff after failures: 30 s doubling, at most an hour (or the provider's Retry-After).
const BACKOFF_BASE_MS: i64 = 30_000;
const BACKOFF_MAX_MS: i64 = 3600 * 1000;
/// Retries when the platform client is missing (an operator has to act first).
const NO_CREDENTIALS_RETRY_MS: i64 = 3600 * 1000;

/// A fresh access token for `calendar_id` (see the module docs).
pub async fn access_token(state: &AppState, calendar_id: &str) -> Result<AccessToken, TokenError> {
    let cal = load(state, calendar_id).await?;
    access_token_of(state, &cal).await
}

/// [`access_token`] for a calendar row the caller has just read (one read less per sync).
pub async fn access_token_of(state: &AppState, cal: &Calendar) -> Result<AccessToken, TokenError> {
    // Fast path: no lock while a cached token is good.
    if cal.status != CalendarStatus::Disconnected {
        if let Some(t) = cached(state, cal, REUSE_MARGIN_MS)? {
            return Ok(t);
        }
    }
    locked_detached(state, &cal.id, Mode::OnDemand).await
}

/// The provider refused the access token it was given (`401`: revoked on its side, say):
/// the cached one is forgotten, so this is a refresh. Callers retry their call once with it.
pub async fn access_token_after_refusal(
    state: &AppState,
    calendar_id: &str,
) -> Result<AccessToken, TokenError> {
    let id = calendar_id.to_string();
    state
        .store
        .write(move |tx| crate::store::sync::forget_access_token(tx, &id))
        .await?;
    access_token(state, calendar_id).await
}

/// The first refresh after credentials were set: refresh, read the email, go `connected`.
pub async fn connect(state: &AppState, calendar_id: &str) -> Result<AccessToken, TokenError> {
    locked_detached(state, calendar_id, Mode::Connect).await
}

/// Takes the calendar's lock, then refreshes in a detached task that holds it: dropping
/// the caller cannot stop the exchange between the provider's answer and its commit.
async fn locked_detached(
    state: &AppState,
    calendar_id: &str,
    mode: Mode,
) -> Result<AccessToken, TokenError> {
    let guard = state.locks.lock(LockName::CalendarToken(calendar_id)).await;
    let (st, id) = (state.clone(), calendar_id.to_string());
    let ran = state
        .detached
        .run(async move {
            let _guard = guard;
            let result = refresh_locked(&st, &id, mode).await;
            if let (Mode::Scheduled, Err(TokenError::Internal(e))) = (mode, &result) {
                put_off(&st, &id, e).await;
            }
            result
        })
        .await;
    match ran {
        Ok(result) => result,
        Err(e) => {
            // The task panicked and dropped its guard: put off under the lock again.
            if mode == Mode::Scheduled {
                let _guard = lock_calendar(state, calendar_id).await;
                put_off(state, calendar_id, &e).await;
            }
            Err(TokenError::Internal(e))
        }
    }
}

/// A sweep refresh that failed for a reason of Convene's own (a secret that cannot be
/// opened, a database error) is recorded and put off like any failure, so this calendar
/// does not stay first in the queue. The caller holds the calendar's lock.
async fn put_off(state: &AppState, id: &str, error: &str) {
    tracing::error!(calendar_id = %id, error = %error, "token refresh failed");
    if let Ok(cal) = load(state, id).await {
        let _ = record_failure(state, &cal, format!("internal error: {error}"), None).await;
    }
}

/// A short random pause between refreshes of a sweep, so they do not leave in a burst.
pub async fn stagger_pause() {
    let ms = rand::thread_rng().gen_range(20..=200);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// At start-up: spreads the refreshes that came due while the server was down over a
/// window that grows with their number (a minute at least, half an hour at most) instead
/// of running them all at once. Returns how many were moved.
pub async fn stagger_overdue(state: &AppState) -> Result<usize, StoreError> {
    let now = state.now_ms();
    state
        .store
        .write(move |tx| {
            let n = cal_store::count_overdue_refreshes(tx, now)?;
            let spread = (n as i64 * 3000).clamp(60_000, 30 * 60_000);
            cal_store::spread_overdue_refreshes(tx, now, spread)
        })
        .await
}

/// Holds the single-flight lock of a calendar while its credentials are replaced or it is
/// deleted, so no refresh with the old credentials commits in between.
pub async fn lock_calendar(
    state: &AppState,
    calendar_id: &str,
) -> tokio::sync::OwnedMutexGuard<()> {
    state.locks.lock(LockName::CalendarToken(calendar_id)).await
}

/// What the sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub refreshed: usize,
    pub retry_later: usize,
    pub disconnected: usize,
    /// Failed for a reason of Convene's own (rescheduled like the others).
    pub failed: usize,
}

/// Refreshes every calendar whose `next_refresh_at` is due (sweep `refresh_calendar_tokens`).
pub async fn refresh_due(state: &AppState) -> anyhow::Result<SweepReport> {
    let now = state.now_ms();
    let ids = state
        .store
        .read(move |c| cal_store::due_for_refresh(c, now, 500))
        .await?;
    let results: Vec<Result<AccessToken, TokenError>> = stream::iter(ids.into_iter().enumerate())
        .map(|(n, id)| async move {
            if n > 0 {
                stagger_pause().await;
            }
            // An internal failure is put off under the lock (`locked_detached`).
            locked_detached(state, &id, Mode::Scheduled).await
        })
        // A few at a time: providers rate-limit, and the machine is small.
        .buffer_unordered(4)
        .collect()
        .await;
    let mut report = SweepReport::default();
    for r in results {
        match r {
            Ok(_) => report.refreshed += 1,
            Err(TokenError::Disconnected { .. }) => report.disconnected += 1,
            Err(TokenError::NotFound) => {}
            Err(TokenError::Internal(_)) => report.failed += 1,
            Err(_) => report.retry_later += 1,
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A caller wants a token: reuse a cached one, respect backoff.
    OnDemand,
    /// The sweep: refresh if still due (another caller may have refreshed meanwhile).
    Scheduled,
    /// New credentials: refresh now whatever the cache says.
    Connect,
}

async fn load(state: &AppState, id: &str) -> Result<Calendar, TokenError> {
    let id = id.to_string();
    state
        .store
        .read(move |c| cal_store::get(c, &id))
        .await?
        .ok_or(TokenError::NotFound)
}

/// The cached access token when more than `margin_ms` of its life remains.
fn cached(
    state: &AppState,
    cal: &Calendar,
    margin_ms: i64,
) -> Result<Option<AccessToken>, TokenError> {
    let (Some(enc), Some(exp)) = (&cal.access_token_enc, cal.access_token_expires_at) else {
        return Ok(None);
    };
    if exp - state.now_ms() <= margin_ms {
        return Ok(None);
    }
    let token = state
        .keys
        .decrypt(enc)
        .map_err(|e| TokenError::Internal(format!("cannot open access token: {e}")))?;
    Ok(Some(AccessToken {
        token,
        expires_at_ms: exp,
    }))
}

async fn disconnected_error(state: &AppState, cal: &Calendar) -> TokenError {
    let id = cal.id.clone();
    let reason = state
        .store
        .read(move |c| cal_store::disconnect_reason(c, &id))
        .await
        .ok()
        .flatten();
    let (code, message) = reason.unwrap_or_else(|| {
        (
            "disconnected".into(),
            "The calendar is disconnected; set a new refresh token.".into(),
        )
    });
    TokenError::Disconnected { code, message }
}

/// The OAuth client for a calendar: V2 its own, V1 the platform's saved client.
pub async fn client_credentials(
    state: &AppState,
    cal: &Calendar,
) -> Result<ClientCredentials, TokenError> {
    let open = |sealed: &str| {
        state
            .keys
            .decrypt(sealed)
            .map_err(|e| TokenError::Internal(format!("cannot open client secret: {e}")))
    };
    if cal.kind == CalendarKind::V2 {
        return match (&cal.oauth_client_id, &cal.oauth_client_secret_enc) {
            (Some(id), Some(secret)) if !id.is_empty() => Ok(ClientCredentials {
                client_id: id.clone(),
                client_secret: open(secret)?,
            }),
            _ => Err(TokenError::NoCredentials),
        };
    }
    let platform = cal.platform;
    let client = state
        .store
        .read(move |c| kv::get_platform_client(c, platform.v1_name()))
        .await?
        .ok_or(TokenError::NoCredentials)?;
    Ok(ClientCredentials {
        client_id: client.client_id,
        client_secret: open(&client.client_secret_enc)?,
    })
}

fn backoff_ms(failures: i64, retry_after: Option<Duration>) -> i64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1i64 << (failures - 1).clamp(0, 20));
    let backoff = exp.min(BACKOFF_MAX_MS);
    let hinted = retry_after.map(|d| d.as_millis() as i64).unwrap_or(0);
    backoff.max(hinted)
}

/// The refresh itself; the caller holds the calendar's lock.
async fn refresh_locked(state: &AppState, id: &str, mode: Mode) -> Result<AccessToken, TokenError> {
    let cal = load(state, id).await?;
    let now = state.now_ms();
    if cal.status == CalendarStatus::Disconnected {
        return Err(disconnected_error(state, &cal).await);
    }
    match mode {
        Mode::OnDemand => {
            if let Some(t) = cached(state, &cal, REUSE_MARGIN_MS)? {
                return Ok(t);
            }
        }
        Mode::Scheduled => {
            if cal.next_refresh_at.is_none_or(|t| t > now) {
                // Someone refreshed while we waited for the lock.
                return cached(state, &cal, 0)?
                    .ok_or_else(|| TokenError::Transient("not due".into()));
            }
        }
        Mode::Connect => {}
    }
    let client = match client_credentials(state, &cal).await {
        Ok(c) => c,
        Err(TokenError::NoCredentials) => {
            if mode == Mode::Scheduled {
                let msg = "no OAuth client saved for this platform".to_string();
                record_failure(state, &cal, msg, Some(NO_CREDENTIALS_RETRY_MS)).await?;
            }
            return Err(TokenError::NoCredentials);
        }
        Err(e) => return Err(e),
    };
    if mode == Mode::OnDemand
        && cal.refresh_failures > 0
        && cal.next_refresh_at.is_some_and(|t| t > now)
    {
        // Backing off after a failure (honours Retry-After): a still valid token will do.
        if let Some(t) = cached(state, &cal, 30_000)? {
            return Ok(t);
        }
        return Err(TokenError::Transient(format!(
            "{}; retrying in {} s",
            cal.last_refresh_error
                .as_deref()
                .unwrap_or("the last refresh failed"),
            (cal.next_refresh_at.unwrap_or(now) - now) / 1000
        )));
    }
    if cal.kind == CalendarKind::V1 {
        // The platform's client was refused: no call until it is replaced (or a probe is due).
        if let Some(why) = client_alarm::paused(state, cal.platform, &client.client_id, now).await?
        {
            return soft_failure(state, &cal, why.clone(), None, why).await;
        }
    }
    let refresh_token = cal
        .oauth_refresh_token_enc
        .as_deref()
        .ok_or(TokenError::NoCredentials)
        .and_then(|enc| {
            state
                .keys
                .decrypt(enc)
                .map_err(|e| TokenError::Internal(format!("cannot open refresh token: {e}")))
        })?;
    let platform = cal.platform;
    let result = providers::refresh(
        &state.http,
        &state.settings,
        platform,
        &client,
        &refresh_token,
        cal.granted_scopes.as_deref(),
    )
    .await;
    match result {
        Ok(resp) => on_refreshed(state, cal, platform, resp).await,
        Err(OAuthError::ClientRefused { code, message }) if cal.kind == CalendarKind::V1 => {
            // The operator's client, not the user's grant: no disconnect (client_alarm).
            client_alarm::raise(state, platform, &client.client_id, &code, &message).await?;
            let text = format!("{code}: {message}");
            tracing::warn!(calendar_id = %id, error = %text, "platform OAuth client refused; will retry");
            let error = format!(
                "the {} OAuth client was refused: {text}",
                platform.display()
            );
            soft_failure(state, &cal, text, None, error).await
        }
        Err(OAuthError::Permanent { code, message })
        | Err(OAuthError::ClientRefused { code, message }) => {
            tracing::info!(calendar_id = %id, code = %code, "refresh token rejected; calendar disconnected");
            disconnect(state, &cal, &code, &message).await?;
            Err(TokenError::Disconnected { code, message })
        }
        Err(OAuthError::Transient {
            message,
            retry_after,
        }) => {
            tracing::warn!(calendar_id = %id, error = %message, "token refresh failed; will retry");
            let retry_after_ms = retry_after.map(|d| d.as_millis() as i64);
            soft_failure(state, &cal, message.clone(), retry_after_ms, message).await
        }
        Err(OAuthError::Other { code, message }) => {
            let text = format!("{code}: {message}");
            tracing::warn!(calendar_id = %id, error = %text, "token refresh refused; will retry");
            soft_failure(state, &cal, text.clone(), None, text).await
        }
    }
}

/// Commits the new tokens (a rotated refresh token before anyone uses the access token),
/// then finishes a pending connect.
async fn on_refreshed(
    state: &AppState,
    cal: Calendar,
    platform: Platform,
    resp: TokenResponse,
) -> Result<AccessToken, TokenError> {
    let now = state.now_ms();
    let expires_at = now + resp.lifetime_secs() * 1000;
    let access_enc = state.keys.encrypt(&resp.access_token);
    let refresh_enc = resp.refresh_token.as_deref().map(|r| state.keys.encrypt(r));
    let scopes = resp.scope.clone().filter(|s| !s.trim().is_empty());
    let (id, version) = (cal.id.clone(), cal.credentials_version);
    // A V1 refresh that works ends an alarm about the platform's client.
    let alarm = (cal.kind == CalendarKind::V1).then(|| platform.v1_name());
    let next_refresh_at =
        now + LIVENESS_INTERVAL_MS - rand::thread_rng().gen_range(0..=LIVENESS_JITTER_MS);
    // A rotated refresh token is the only valid one now: the commit is retried, never dropped.
    let cleared = state
        .store
        .write_persistent(move |tx| {
            let mut row = cal_store::get(tx, &id)?.ok_or(TokenError::NotFound)?;
            if row.credentials_version != version {
                return Err(TokenError::Transient(
                    "credentials were replaced during the refresh".into(),
                ));
            }
            row.access_token_enc = Some(access_enc.clone());
            row.access_token_expires_at = Some(expires_at);
            if let Some(r) = &refresh_enc {
                row.oauth_refresh_token_enc = Some(r.clone());
            }
            if scopes.is_some() {
                row.granted_scopes = scopes.clone();
            }
            row.last_refresh_at = Some(now);
            row.next_refresh_at = Some(next_refresh_at);
            row.refresh_failures = 0;
            row.last_refresh_error = None;
            // Token bookkeeping is not an API-visible change: updated_at stays.
            cal_store::save(tx, &row)?;
            match alarm {
                Some(p) => Ok(platform_alarms::clear(tx, p)?),
                None => Ok(false),
            }
        })
        .await?;
    if cleared {
        tracing::info!(
            platform = platform.v1_name(),
            "the platform's OAuth client works again; alarm cleared"
        );
    }
    if cal.status != CalendarStatus::Connected {
        finish_connect(state, &cal, platform, &resp).await?;
    }
    Ok(AccessToken {
        token: resp.access_token,
        expires_at_ms: expires_at,
    })
}

/// `connecting → connected`: read the account email (best effort), schedule the first sync.
async fn finish_connect(
    state: &AppState,
    cal: &Calendar,
    platform: Platform,
    resp: &TokenResponse,
) -> Result<(), TokenError> {
    let granted = resp.scope.clone().or_else(|| cal.granted_scopes.clone());
    let email = providers::discover_email(
        &state.http,
        &state.settings,
        platform,
        resp,
        granted.as_deref(),
    )
    .await;
    let now = state.now_ms();
    let (id, version) = (cal.id.clone(), cal.credentials_version);
    let changed = state
        .store
        .write(move |tx| {
            let Some(mut row) = cal_store::get(tx, &id)? else {
                return Ok(false);
            };
            if row.credentials_version != version || row.status == CalendarStatus::Disconnected {
                return Ok(false);
            }
            if let Some(e) = email {
                if row
                    .platform_email
                    .as_deref()
                    .is_some_and(|old| !old.eq_ignore_ascii_case(&e))
                {
                    // Another account now backs this calendar: its sync position is void.
                    cal_store::reset_sync_state(tx, &id)?;
                }
                row.platform_email = Some(e);
            }
            let changed = status::transition(tx, &mut row, CalendarStatus::Connected, None, now)?;
            cal_store::schedule_sync_now(tx, &id, now)?;
            Ok::<_, TokenError>(changed)
        })
        .await?;
    if changed {
        state.wake.webhooks.notify_one();
    }
    state.wake.sync.notify_one();
    Ok(())
}

/// Permanent failure: `disconnected` with the provider's code, plus the webhook.
async fn disconnect(
    state: &AppState,
    cal: &Calendar,
    code: &str,
    message: &str,
) -> Result<(), TokenError> {
    let now = state.now_ms();
    let (id, version) = (cal.id.clone(), cal.credentials_version);
    let (code, message) = (code.to_string(), message.to_string());
    let changed = state
        .store
        .write(move |tx| {
            let Some(mut row) = cal_store::get(tx, &id)? else {
                return Ok(false);
            };
            if row.credentials_version != version {
                return Ok(false);
            }
            status::transition(
                tx,
                &mut row,
                CalendarStatus::Disconnected,
                Some((&code, &message)),
                now,
            )
            .map_err(TokenError::from)
        })
        .await?;
    if changed {
        state.wake.webhooks.notify_one();
    }
    Ok(())
}

/// The tail of every transient failure: record it (backoff), then hand out a token that
/// still works rather than an error.
async fn soft_failure(
    state: &AppState,
    cal: &Calendar,
    recorded: String,
    retry_after_ms: Option<i64>,
    error: String,
) -> Result<AccessToken, TokenError> {
    record_failure(state, cal, recorded, retry_after_ms).await?;
    if let Some(t) = cached(state, cal, 30_000)? {
        return Ok(t);
    }
    Err(TokenError::Transient(error))
}

/// Transient failure: status unchanged, retry after a backoff (or the provider's hint).
async fn record_failure(
    state: &AppState,
    cal: &Calendar,
    message: String,
    retry_after_ms: Option<i64>,
) -> Result<(), TokenError> {
    let now = state.now_ms();
    let (id, version) = (cal.id.clone(), cal.credentials_version);
    state
        .store
        .write(move |tx| {
            let Some(mut row) = cal_store::get(tx, &id)? else {
                return Ok(());
            };
            if row.credentials_version != version {
                return Ok(());
            }
            row.refresh_failures += 1;
            let wait = backoff_ms(
                row.refresh_failures,
                retry_after_ms.map(|ms| Duration::from_millis(ms.max(0) as u64)),
            );
            row.next_refresh_at = Some(now + wait);
            row.last_refresh_error = Some(message);
            cal_store::save(tx, &row)?;
            Ok::<_, TokenError>(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        assert_eq!(backoff_ms(1, None), 30_000);
        assert_eq!(backoff_ms(2, None), 60_000);
        assert_eq!(backoff_ms(30, None), BACKOFF_MAX_MS);
        assert_eq!(backoff_ms(1, Some(Duration::from_secs(120))), 120_000);
        assert_eq!(backoff_ms(10, Some(Duration::from_secs(1))), BACKOFF_MAX_MS);
    }
}
