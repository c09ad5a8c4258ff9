//! Event sync: one incremental engine per provider behind [`Engine`], the per-calendar
//! [`sync_calendar`], and which calendars sync when ([`pipeline`]: the server's continuous
//! loop, and its one-shot form [`sync_due`]).
//!
//! A sync lists the provider's changes since the stored token (Google `nextSyncToken`,
//! Graph `deltaLink`), or everything in the window `[now - past, now + future]` when there
//! is no usable token (first sync, expired token, or a window that slid by more than a day).
//! All items of one sync are applied in ONE transaction together with the new token and,
//! when anything changed, one `calendar.sync_events` webhook. A failed sync changes nothing
//! but the calendar's error, failure count and next attempt (exponential backoff, at least
//! the provider's `Retry-After`).
//!
//! Push (push.md) reaches sync through three small hooks: [`mark_due_now`] (a notification
//! makes the calendar due; within a burst, one sync per [`PUSH_MIN_GAP_MS`]), [`wake`] (the
//! sync loop reads the due list at once) and [`poll_interval`]
//! (a calendar with a live subscription is polled every `CONVENE_PUSH_POLL_SECS` only).
//! A notification that arrives while a sync of its calendar runs makes exactly one more
//! sync follow it.

mod apply;
mod engine;
pub mod google;
pub mod microsoft;
pub mod normalize;
pub mod pipeline;
pub mod stagger;
pub mod timezones;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rand::Rng;

use crate::calendars::tokens::{self, TokenError};
use crate::config::Settings;
use crate::coord::LockName;
use crate::domain::{CalendarKind, CalendarStatus};
use crate::state::AppState;
use crate::store::{self, sync::SyncCursor, StoreError};
use normalize::Item;

use apply::{apply, Applied, Run};
use engine::query_time;
pub(crate) use engine::retry_after_ms;
pub use engine::{engine_for, Engine, FetchContext, FetchError, Fetched, HttpFailure, Window};

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Longest wait between attempts after failures.
const MAX_BACKOFF_MS: i64 = 3600 * 1000;
/// Within a burst of notifications (each less than this after the previous one), syncs of
/// the calendar start at least this far apart: a burst costs at most two syncs.
pub const PUSH_MIN_GAP_MS: i64 = 1000;
/// A live subscription without a notification for this long while syncs still find
/// changes is broken and gets replaced (push.md).
pub const PUSH_QUIET_MS: i64 = 24 * 3600 * 1000;

/// Result of one successful sync.
#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    /// True when this was a full listing of the window.
    pub full: bool,
    /// Events created, changed or deleted.
    pub changed: usize,
    /// Provider items received.
    pub items: usize,
    /// Provider API requests made (token refreshes not included).
    pub requests: u32,
    /// When the calendar syncs next.
    pub next_sync_at: i64,
    /// Items that could not be read (kept as stored, recorded for the admin page).
    pub unreadable: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("calendar not found")]
    NotFound,
    #[error("the calendar is disconnected")]
    NotConnected,
    #[error("the provider refused the credentials: {code}: {message}")]
    Disconnected { code: String, message: String },
    #[error("the calendar has no OAuth credentials")]
    NoCredentials,
    #[error("rate limited by the provider")]
    RateLimited { retry_after_ms: Option<i64> },
    #[error("provider error: {0}")]
    Provider(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The calendar's credentials (account, platform) were replaced while this sync ran:
    /// its result belongs to the old ones and was dropped. The reconnect syncs again.
    #[error("the calendar's credentials changed during the sync; its result was dropped")]
    CredentialsChanged,
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Internal(e.to_string())
    }
}

impl From<TokenError> for SyncError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotFound => SyncError::NotFound,
            TokenError::NoCredentials => SyncError::NoCredentials,
            TokenError::Disconnected { code, message } => SyncError::Disconnected { code, message },
            TokenError::Transient(m) => SyncError::Provider(format!("token refresh: {m}")),
            TokenError::Internal(m) => SyncError::Internal(m),
        }
    }
}

impl From<FetchError> for SyncError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::RateLimited { retry_after_ms } => SyncError::RateLimited { retry_after_ms },
            other => SyncError::Provider(other.to_string()),
        }
    }
}

/// Syncs one calendar now, waiting for a sync of it already running to finish first.
pub async fn sync_calendar(state: &AppState, calendar_id: &str) -> Result<SyncOutcome, SyncError> {
    let result = {
        let _guard = state.locks.lock(LockName::CalendarSync(calendar_id)).await;
        run_locked(state, calendar_id, None).await
    };
    // After the lock is released, so the loop woken now can take the calendar.
    wake(state);
    result
}

/// What one sweep did.
#[derive(Debug, Default, Clone)]
pub struct SweepReport {
    pub synced: usize,
    pub failed: usize,
    /// Due but already being synced by someone else.
    pub busy: usize,
}

/// Syncs every connected calendar that is due now: at most `CONVENE_SYNC_CONCURRENCY` at
/// a time, and at most `CONVENE_SYNC_CONCURRENCY_PER_PROVIDER` of them on one provider, so
/// a slow provider holds only its share and the other provider's calendars keep going. The
/// server itself runs [`pipeline::run_continuously`]; this is its one-shot form.
pub async fn sync_due(state: &AppState) -> anyhow::Result<SweepReport> {
    Ok(pipeline::drain(state).await?)
}

/// A push notification for `calendar_id`, inside the caller's transaction: the calendar
/// is due now. Within a burst (the previous notification that asked for a sync,
/// `previous_notification_ms`, less than [`PUSH_MIN_GAP_MS`] ago) it is due no sooner
/// than that gap after its last sync, so a burst costs at most two syncs; an isolated
/// notification syncs at once. A calendar backing off after failures keeps its backoff.
/// Returns the due time (then [`wake`] the loop); None when the calendar does not sync
/// (disconnected, parked, backing off).
pub fn mark_due_now(
    tx: &rusqlite::Transaction,
    calendar_id: &str,
    now_ms: i64,
    previous_notification_ms: Option<i64>,
) -> Result<Option<i64>, StoreError> {
    let in_burst = previous_notification_ms.is_some_and(|t| now_ms - t < PUSH_MIN_GAP_MS);
    let gap = if in_burst { PUSH_MIN_GAP_MS } else { 0 };
    store::sync::mark_due(tx, calendar_id, now_ms, gap)
}

/// Wakes the sync loop: it reads the due list at once and then sleeps until the earliest
/// `next_sync_at` (`pipeline::run_continuously`), so a due time set outside the loop (a push
/// notification, a sync by hand) is honoured without a timer of its own.
pub fn wake(state: &AppState) {
    state.wake.sync.notify_one();
}

/// How often a calendar is polled: every `CONVENE_PUSH_POLL_SECS` while its push
/// subscription is live (a safety net), else every `CONVENE_SYNC_INTERVAL_SECS`.
pub fn poll_interval(settings: &Settings, push_live: bool) -> Duration {
    if push_live && settings.push_enabled() {
        settings.push_poll_interval
    } else {
        settings.sync_interval
    }
}

/// When the calendar syncs next after a sync that started at `started_ms`: one more sync
/// right away (a gap after this one started) when a notification arrived meanwhile, else
/// the polling interval that fits its push state.
fn next_sync_after(
    now_ms: i64,
    started_ms: i64,
    push: &store::push::SyncView,
    settings: &Settings,
) -> i64 {
    if push.sync_requested_at.is_some_and(|t| t > started_ms) {
        return now_ms.max(started_ms + PUSH_MIN_GAP_MS);
    }
    next_regular_sync(now_ms, poll_interval(settings, push.live))
}

/// Runs a sync with the calendar's lock held and records a failure's backoff. `lag_ms`:
/// how late after its due time a scheduled sync starts.
async fn run_locked(
    state: &AppState,
    calendar_id: &str,
    lag_ms: Option<i64>,
) -> Result<SyncOutcome, SyncError> {
    let mut platform = None;
    let result = attempt(state, calendar_id, lag_ms, &mut platform).await;
    if let Some(p) = platform {
        crate::metrics::sync_run(p, result.is_ok());
    }
    if let Err(e) = &result {
        record_failure(state, calendar_id, e).await;
    }
    result
}

async fn record_failure(state: &AppState, calendar_id: &str, err: &SyncError) {
    let now = state.now_ms();
    // parked: stop until reconnected; floor: the provider's own Retry-After.
    let (parked, floor_ms) = match err {
        SyncError::NotFound | SyncError::NotConnected | SyncError::CredentialsChanged => return,
        SyncError::Disconnected { .. } | SyncError::NoCredentials => (true, 0),
        SyncError::RateLimited { retry_after_ms } => (false, retry_after_ms.unwrap_or(0)),
        _ => (false, 0),
    };
    tracing::warn!(calendar_id, error = %err, "calendar sync failed");
    let id = calendar_id.to_string();
    let message = err.to_string();
    let interval = state.settings.sync_interval.as_millis() as i64;
    let res: Result<(), StoreError> = state
        .store
        .write(move |tx| {
            let failures = store::calendars::get(tx, &id)?
                .map(|c| c.sync_failures + 1)
                .unwrap_or(1);
            let next_at = if parked {
                store::sync::PARKED
            } else {
                now + backoff_ms(interval, failures).max(floor_ms)
            };
            store::sync::record_failure(tx, &id, &message, next_at)?;
            Ok(())
        })
        .await;
    if let Err(e) = res {
        tracing::warn!(calendar_id, error = %e, "cannot record sync failure");
    }
}

/// `interval · 2^failures`, capped at an hour, plus up to 10 % jitter.
pub fn backoff_ms(interval_ms: i64, failures: i64) -> i64 {
    let base = interval_ms
        .max(1000)
        .saturating_mul(1i64 << failures.clamp(0, 20))
        .min(MAX_BACKOFF_MS);
    base + rand::thread_rng().gen_range(0..=base / 10)
}

/// The next regular sync: the interval plus up to 20 % jitter, so calendars connected
/// together drift apart instead of hitting the provider in step.
fn next_regular_sync(now_ms: i64, interval: Duration) -> i64 {
    let interval = interval.as_millis() as i64;
    now_ms + interval + rand::thread_rng().gen_range(0..=interval / 5)
}

async fn attempt(
    state: &AppState,
    calendar_id: &str,
    lag_ms: Option<i64>,
    platform: &mut Option<crate::domain::Platform>,
) -> Result<SyncOutcome, SyncError> {
    // Notifications from now on may name changes this sync does not see.
    let started = state.now_ms();
    let id = calendar_id.to_string();
    let cal = state
        .store
        .read(move |c| store::calendars::get(c, &id))
        .await?
        .ok_or(SyncError::NotFound)?;
    *platform = Some(cal.platform);
    if cal.status == CalendarStatus::Disconnected {
        return Err(SyncError::NotConnected);
    }
    let engine = engine_for(cal.platform);
    let window = Window::around(state.now_ms(), &state.settings);
    // Incremental only while the token's window is less than a day behind and as wide as
    // configured; otherwise a fresh full sync brings in the events that entered the window.
    let stored = match (&cal.sync_token, cal.sync_window_start, cal.sync_window_end) {
        (Some(t), Some(ws), Some(we))
            if window.start_ms - ws < DAY_MS && we - ws == window.end_ms - window.start_ms =>
        {
            Some((
                t.clone(),
                Window {
                    start_ms: ws,
                    end_ms: we,
                },
            ))
        }
        _ => None,
    };

    let requests = AtomicU32::new(0);
    let mut access = tokens::access_token_of(state, &cal).await?.token;
    let mut retried_auth = false;
    let fetched = loop {
        let cx = FetchContext {
            http: &state.http,
            settings: &state.settings,
            access_token: access.clone(),
            requests: &requests,
        };
        let result = match &stored {
            Some((token, w)) => match engine.fetch(&cx, Some(token), *w).await {
                Err(FetchError::TokenExpired) => {
                    tracing::info!(calendar_id, "sync token expired; full sync");
                    engine.fetch(&cx, None, window).await
                }
                other => other,
            },
            None => engine.fetch(&cx, None, window).await,
        };
        match result {
            Err(FetchError::Unauthorized) if !retried_auth => {
                // A cached access token the provider no longer accepts: refresh once.
                retried_auth = true;
                access = tokens::access_token_after_refusal(state, calendar_id)
                    .await?
                    .token;
            }
            other => break other?,
        }
    };

    let outcome_items = fetched.items.len();
    let unreadable = fetched
        .items
        .iter()
        .filter(|i| matches!(i, Item::Unreadable { .. }))
        .count();
    let full = fetched.full;
    let id = calendar_id.to_string();
    let clock = state.clock.clone();
    let settings = state.settings.clone();
    let mut run = Run {
        window,
        // Set inside the commit, from the push state read there.
        next_sync_at: 0,
        credentials_version: cal.credentials_version,
        stored_cursor: stored.as_ref().map(|(t, w)| SyncCursor {
            token: t.clone(),
            window_start: w.start_ms,
            window_end: w.end_ms,
        }),
        lag_ms,
    };
    let (applied, next_sync_at, wake_push) = state
        .store
        .write(move |tx| {
            let now = clock.now_ms();
            let push = store::push::sync_view(tx, &id, now)?;
            run.next_sync_at = next_sync_after(now, started, &push, &settings);
            let applied = apply(tx, &clock, &id, fetched, &run)?;
            let Applied::Changed(changed) = applied else {
                return Ok::<_, StoreError>((applied, run.next_sync_at, false));
            };
            let broken = changed > 0
                && push.live
                && store::push::flag_if_broken(tx, &id, &push, now, PUSH_QUIET_MS)?;
            let wake_push = broken || (push.needs_channel && settings.push_enabled());
            Ok((applied, run.next_sync_at, wake_push))
        })
        .await?;
    let changed = match applied {
        Applied::Changed(n) => n,
        Applied::Gone => return Err(SyncError::NotFound),
        Applied::Superseded => {
            tracing::info!(
                calendar_id,
                "credentials changed during the sync; result dropped"
            );
            return Err(SyncError::CredentialsChanged);
        }
    };
    if wake_push {
        state.wake.push.notify_one();
    }
    if changed > 0 {
        state.wake.webhooks.notify_one();
        state.wake.bots.notify_one();
    }
    if let (Some(user_id), CalendarKind::V1) = (&cal.calendar_user_id, cal.kind) {
        // V1 auto-recording follows every sync (changed events, passing time, preferences).
        if let Err(e) = crate::scheduling::will_record::apply_will_record(state, user_id).await {
            tracing::warn!(calendar_id, error = %e, "cannot apply recording decisions");
        }
    }
    Ok(SyncOutcome {
        full,
        changed,
        items: outcome_items,
        requests: requests.load(Ordering::Relaxed),
        next_sync_at,
        unreadable,
    })
}

/// The error body's text for messages (bounded, never a token).
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}
