//! Event sync: one incremental engine per provider behind [`Engine`], the per-calendar
//! [`sync_calendar`] and the [`sync_due`] sweep.
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
//! makes the calendar due; within a burst, one sync per [`PUSH_MIN_GAP_MS`]), [`wake_at`] (the
//! sweep runs when something is due instead of at its next tick) and [`poll_interval`]
//! (a calendar with a live subscription is polled every `CONVENE_PUSH_POLL_SECS` only).
//! A notification that arrives while a sync of its calendar runs makes exactly one more
//! sync follow it.

pub mod google;
pub mod microsoft;
pub mod normalize;
pub mod stagger;
pub mod timezones;

use std::collections::HashSet;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::calendars::tokens::{self, TokenError};
use crate::config::Settings;
use crate::coord::LockName;
use crate::domain::{CalendarKind, CalendarStatus, Platform};
use crate::state::AppState;
use crate::store::{self, outbox::OutboxEvent, sync::SyncCursor, StoreError};
use normalize::Item;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Longest wait between attempts after failures.
const MAX_BACKOFF_MS: i64 = 3600 * 1000;
/// Within a burst of notifications (each less than this after the previous one), syncs of
/// the calendar start at least this far apart: a burst costs at most two syncs.
pub const PUSH_MIN_GAP_MS: i64 = 1000;
/// A live subscription without a notification for this long while syncs still find
/// changes is broken and gets replaced (push.md).
pub const PUSH_QUIET_MS: i64 = 24 * 3600 * 1000;
/// Sync work due within this long is woken by a timer rather than left to the sweep's
/// tick (`jobs`: every 10 s).
const WAKE_HORIZON_MS: i64 = 10_000;

/// The time range kept in sync, Unix ms, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Window {
    /// `[now - past days, now + future days]` from the settings.
    pub fn around(now_ms: i64, settings: &Settings) -> Self {
        Window {
            start_ms: now_ms - settings.sync_window_past_days as i64 * DAY_MS,
            end_ms: now_ms + settings.sync_window_future_days as i64 * DAY_MS,
        }
    }

    fn overlaps(&self, start_ms: i64, end_ms: i64) -> bool {
        start_ms < self.end_ms && end_ms > self.start_ms
    }
}

/// What a provider listing returned.
#[derive(Debug)]
pub struct Fetched {
    pub items: Vec<Item>,
    /// True when `items` is a complete listing of `window` (anything stored and not
    /// listed is gone); false for a list of changes since a token.
    pub full: bool,
    /// The token for the next incremental sync and the window it covers.
    pub cursor: SyncCursor,
    /// The calendar's time zone when the provider says it (Google `timeZone`): all-day
    /// events are listed by their extent in it.
    pub time_zone: Option<String>,
}

impl Fetched {
    /// A listing that reached its last page: `token` is what it started from (`None` = a
    /// full listing of `window`), `next_token` what the next incremental sync sends.
    fn finished(items: Vec<Item>, token: Option<&str>, next_token: String, window: Window) -> Self {
        Fetched {
            items,
            full: token.is_none(),
            cursor: SyncCursor {
                token: next_token,
                window_start: window.start_ms,
                window_end: window.end_ms,
            },
            time_zone: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the sync token is no longer valid; a full sync is required")]
    TokenExpired,
    #[error("rate limited by the provider")]
    RateLimited { retry_after_ms: Option<i64> },
    #[error("the provider refused the access token")]
    Unauthorized,
    #[error("{0}")]
    Provider(String),
}

/// Per-sync request context for engines.
pub struct FetchContext<'a> {
    pub http: &'a reqwest::Client,
    pub settings: &'a Settings,
    pub access_token: String,
    /// Provider requests made (for tests, logs and the benchmark).
    pub requests: &'a AtomicU32,
}

impl FetchContext<'_> {
    /// GET with the bearer token; `Err` carries a non-2xx answer or a transport error.
    async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
        headers: &[(&str, &str)],
    ) -> Result<Vec<u8>, HttpFailure> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .http
            .get(url)
            .bearer_auth(&self.access_token)
            .query(query);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let sent = req.send().await;
        crate::metrics::provider_request(
            crate::metrics::provider_of(self.settings, url),
            "calendar_events",
            sent.as_ref().ok().map(|r| r.status().as_u16()),
        );
        let res = sent.map_err(|e| HttpFailure::Transport(e.without_url().to_string()))?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .bytes()
            .await
            .map_err(|e| HttpFailure::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(HttpFailure::Status {
                status,
                headers,
                body: body.to_vec(),
            })
        }
    }
}

#[derive(Debug)]
pub enum HttpFailure {
    Transport(String),
    Status {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
}

impl HttpFailure {
    /// The non-2xx answer's status, headers and body; a transport failure becomes the
    /// engine's error at once (`provider` prefixes its message).
    fn into_status(self, provider: &str) -> Result<(StatusCode, HeaderMap, Vec<u8>), FetchError> {
        match self {
            HttpFailure::Transport(e) => Err(FetchError::Provider(format!("{provider}: {e}"))),
            HttpFailure::Status {
                status,
                headers,
                body,
            } => Ok((status, headers, body)),
        }
    }
}

/// A window bound as the providers' query parameters take it (UTC, whole seconds).
fn query_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `Retry-After` in seconds or as an HTTP date, in ms from now.
fn retry_after_ms(headers: &HeaderMap) -> Option<i64> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<i64>() {
        return Some(secs.max(0) * 1000);
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some((at.timestamp_millis() - crate::store::now_ms()).max(0))
}

/// One provider's way of listing events.
pub trait Engine: Send + Sync {
    /// Lists everything in `window` (`token` None) or the changes since `token`.
    fn fetch<'a>(
        &'a self,
        cx: &'a FetchContext<'a>,
        token: Option<&'a str>,
        window: Window,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>>;
}

pub fn engine_for(platform: Platform) -> &'static dyn Engine {
    match platform {
        Platform::Google => &google::Google,
        Platform::Microsoft => &microsoft::Microsoft,
    }
}

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
        run_locked(state, calendar_id).await
    };
    // After the lock is released, so a sweep woken now can take the calendar.
    if let Ok(o) = &result {
        wake_soon(state, o.next_sync_at);
    }
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

/// Syncs every connected calendar that is due: at most `CONVENE_SYNC_CONCURRENCY` at a
/// time, and at most `CONVENE_SYNC_CONCURRENCY_PER_PROVIDER` of them on one provider, so
/// a slow provider holds only its share and the other provider's calendars keep going.
pub async fn sync_due(state: &AppState) -> anyhow::Result<SweepReport> {
    let now = state.now_ms();
    let due = state
        .store
        .read(move |c| store::sync::due_calendars(c, now, 100_000))
        .await?;
    // (calendar id, due time) per provider.
    type Lane = Vec<(String, Option<i64>)>;
    let mut by_platform: Vec<(Platform, Lane)> = Vec::new();
    for (id, platform, due_at) in due {
        match by_platform.iter_mut().find(|(p, _)| *p == platform) {
            Some((_, ids)) => ids.push((id, due_at)),
            None => by_platform.push((platform, vec![(id, due_at)])),
        }
    }
    let total = std::sync::Arc::new(tokio::sync::Semaphore::new(state.settings.sync_concurrency));
    let per_provider = state.settings.sync_concurrency_per_provider;
    let lanes = by_platform.into_iter().map(|(_, ids)| {
        let total = total.clone();
        futures_util::stream::iter(ids)
            .map(move |(id, due_at)| {
                let total = total.clone();
                async move {
                    let _permit = total.acquire_owned().await.ok()?;
                    let guard = state.locks.try_lock(LockName::CalendarSync(&id))?;
                    // How late it starts (first syncs have no due time to be late for).
                    if let Some(due) = due_at {
                        state.sync_lag.record(due, state.now_ms());
                    }
                    let result = run_locked(state, &id).await;
                    drop(guard);
                    if let Ok(o) = &result {
                        wake_soon(state, o.next_sync_at);
                    }
                    Some(result.is_ok())
                }
            })
            .buffer_unordered(per_provider)
            .collect::<Vec<Option<bool>>>()
    });
    let results: Vec<Option<bool>> = futures_util::future::join_all(lanes)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut report = SweepReport::default();
    for r in results {
        match r {
            Some(true) => report.synced += 1,
            Some(false) => report.failed += 1,
            None => report.busy += 1,
        }
    }
    // Run again when the next calendar comes due, if that is before the next tick.
    let now = state.now_ms();
    let next = state
        .store
        .read(move |c| store::sync::next_due_between(c, now, now + WAKE_HORIZON_MS))
        .await?;
    if let Some(at) = next {
        wake_at(state, at);
    }
    Ok(report)
}

/// A push notification for `calendar_id`, inside the caller's transaction: the calendar
/// is due now. Within a burst (the previous notification that asked for a sync,
/// `previous_notification_ms`, less than [`PUSH_MIN_GAP_MS`] ago) it is due no sooner
/// than that gap after its last sync, so a burst costs at most two syncs; an isolated
/// notification syncs at once. A calendar backing off after failures keeps its backoff.
/// Returns the due time for [`wake_at`]; None when the calendar does not sync
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

/// Runs the sync sweep at `at_ms` (app clock): at once when due, else after a timer. One
/// timer is pending at a time; the sweep it runs arms the next one.
pub fn wake_at(state: &AppState, at_ms: i64) {
    let now = state.now_ms();
    if at_ms <= now {
        state.wake.sync.notify_one();
        return;
    }
    let timer = state.wake.sync_timer.clone();
    let pending = timer.load(SeqCst);
    if pending > now && pending <= at_ms {
        return;
    }
    timer.store(at_ms, SeqCst);
    let notify = state.wake.sync.clone();
    let delay = Duration::from_millis((at_ms - now) as u64);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = timer.compare_exchange(at_ms, 0, SeqCst, SeqCst);
        notify.notify_one();
    });
}

/// [`wake_at`] for sync work due before the sweep's next tick.
fn wake_soon(state: &AppState, at_ms: i64) {
    if at_ms <= state.now_ms() + WAKE_HORIZON_MS {
        wake_at(state, at_ms);
    }
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

/// Runs a sync with the calendar's lock held and records a failure's backoff.
async fn run_locked(state: &AppState, calendar_id: &str) -> Result<SyncOutcome, SyncError> {
    let mut platform = None;
    let result = attempt(state, calendar_id, &mut platform).await;
    if let Some(p) = platform {
        crate::metrics::sync_run(p.as_str(), result.is_ok());
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
    let mut access = tokens::access_token(state, calendar_id).await?.token;
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
                let id = calendar_id.to_string();
                state
                    .store
                    .write(move |tx| store::sync::forget_access_token(tx, &id))
                    .await?;
                access = tokens::access_token(state, calendar_id).await?.token;
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
                && store::push::flag_if_broken(tx, &id, now, PUSH_QUIET_MS)?;
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

/// What a sync knew when it started, for its commit.
struct Run {
    window: Window,
    next_sync_at: i64,
    /// The calendar's `credentials_version` when the sync started: a sync that outlived a
    /// credentials reset must not commit the old account's events and token.
    credentials_version: i64,
    /// The token the incremental listing started from (kept when an item was unreadable).
    stored_cursor: Option<SyncCursor>,
}

/// What [`apply`] did.
enum Applied {
    /// Committed; this many events changed.
    Changed(usize),
    /// The calendar was deleted meanwhile.
    Gone,
    /// Its credentials were replaced meanwhile: nothing written.
    Superseded,
}

/// Applies a listing in one transaction (see [`Applied`]).
fn apply(
    tx: &rusqlite::Transaction,
    clock: &crate::state::Clock,
    calendar_id: &str,
    fetched: Fetched,
    run: &Run,
) -> Result<Applied, StoreError> {
    let Some(cal) = store::calendars::get(tx, calendar_id)? else {
        return Ok(Applied::Gone);
    };
    if cal.credentials_version != run.credentials_version {
        return Ok(Applied::Superseded);
    }
    let now = clock.now_ms();
    let window = run.window;
    let token_window = Window {
        start_ms: fetched.cursor.window_start,
        end_ms: fetched.cursor.window_end,
    };
    let mut changed = 0usize;
    let mut listed: HashSet<String> = HashSet::new();
    // An item that could not be read at all (no id): absence proves nothing this time.
    let mut blind = false;
    let mut unreadable = false;
    for item in &fetched.items {
        match item {
            Item::Upsert(ev) => {
                if fetched.full {
                    listed.insert(ev.platform_id.clone());
                } else if !token_window.overlaps(ev.start_time, ev.end_time)
                    && !store::events::exists(tx, calendar_id, &ev.platform_id)?
                {
                    // Google reports changes anywhere in time; outside the window they
                    // are not ours until the window reaches them.
                    continue;
                }
                if store::events::upsert(tx, calendar_id, ev, now)? {
                    changed += 1;
                }
                store::sync_failures::clear(tx, calendar_id, &ev.platform_id)?;
            }
            Item::Remove { platform_id } => {
                if store::events::mark_deleted(tx, calendar_id, platform_id, now)? {
                    changed += 1;
                }
                if cal.platform == Platform::Google {
                    // A series cancelled as a whole: one cancelled master id, stored
                    // instances `<master>_<start>`.
                    changed +=
                        store::events::mark_instances_deleted(tx, calendar_id, platform_id, now)?;
                }
                store::sync_failures::clear(tx, calendar_id, platform_id)?;
            }
            Item::Unreadable { platform_id, error } => {
                // The stored copy stays as it is (not deleted, not changed).
                unreadable = true;
                match platform_id {
                    Some(id) => {
                        listed.insert(id.clone());
                    }
                    None => blind = true,
                }
                let id = platform_id.as_deref().unwrap_or("");
                store::sync_failures::record(tx, calendar_id, id, error, now)?;
            }
            Item::Skip => {}
        }
    }
    if fetched.full && !blind {
        changed += mark_unlisted(
            tx,
            calendar_id,
            window,
            &listed,
            fetched.time_zone.as_deref(),
            now,
        )?;
    }
    // An incremental sync does not move past an item it could not read: the same changes
    // are asked for again next time (re-applying the readable ones changes nothing).
    let cursor = match (&run.stored_cursor, unreadable && !fetched.full) {
        (Some(old), true) => old,
        _ => &fetched.cursor,
    };
    store::sync::record_success(tx, calendar_id, cursor, run.next_sync_at, now)?;
    if changed > 0 {
        store::outbox::enqueue(
            tx,
            &OutboxEvent {
                event_type: "calendar.sync_events".into(),
                ordering_key: calendar_id.to_string(),
                data: serde_json::json!({
                    "calendar_id": calendar_id,
                    // Every change of this sync carries updated_at = now.
                    "last_updated_ts": store::ms_to_rfc3339(now),
                }),
                extra_url: if cal.kind == CalendarKind::V2 {
                    cal.webhook_url.clone()
                } else {
                    None
                },
            },
            now,
        )?;
    }
    Ok(Applied::Changed(changed))
}

/// After a full listing of `window`: the live stored events it should have listed but did
/// not are gone. All-day events are listed by their extent in the calendar's own zone
/// (Google filters `timeMin`/`timeMax` that way), so one at the window's edge may be left
/// out while its stored (UTC-midnight) row still overlaps the window: it counts as absent
/// only when the provider certainly had to list it.
fn mark_unlisted(
    tx: &rusqlite::Transaction,
    calendar_id: &str,
    window: Window,
    listed: &HashSet<String>,
    time_zone: Option<&str>,
    now: i64,
) -> Result<usize, StoreError> {
    const HOUR: i64 = 3600 * 1000;
    let tz = time_zone.and_then(timezones::resolve);
    let mut n = 0;
    for ev in store::events::live_in_window(tx, calendar_id, (window.start_ms, window.end_ms))? {
        if listed.contains(&ev.platform_id) {
            continue;
        }
        if ev.is_all_day {
            let expected = match tz {
                Some(tz) => {
                    let day = |ms: i64| {
                        chrono::DateTime::from_timestamp_millis(ms)
                            .unwrap_or_default()
                            .date_naive()
                    };
                    let start =
                        timezones::local_midnight(tz, day(ev.start_time)).timestamp_millis();
                    let end = timezones::local_midnight(tz, day(ev.end_time)).timestamp_millis();
                    window.overlaps(start, end)
                }
                // Zone unknown: listed for sure only if it overlaps the window in every
                // zone from UTC+14 to UTC-12.
                None => {
                    ev.end_time - 14 * HOUR > window.start_ms
                        && ev.start_time + 12 * HOUR < window.end_ms
                }
            };
            if !expected {
                continue;
            }
        }
        if store::events::mark_deleted(tx, calendar_id, &ev.platform_id, now)? {
            n += 1;
        }
    }
    Ok(n)
}

/// The error body's text for messages (bounded, never a token).
fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}
