//! Sync state of calendars: what is due, sync tokens and windows, failures and backoff.
//! Also a calendar insert usable by any code that creates calendars for syncing. The rows
//! themselves are read as `store::calendars::Calendar` (`calendars::get`,
//! `calendars::v1_for_user`).

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::calendars::{self, Calendar};
use super::StoreError;
use crate::domain::{CalendarStatus, Platform};

/// `next_sync_at` of a calendar that must not be synced until something reconnects it.
/// Reconnecting schedules it again (`store::calendars::schedule_sync_now`). NULL means
/// "never synced yet": due at once.
pub const PARKED: i64 = i64::MAX;

/// Connected calendars never synced (due at once), then those due by `?1`, in due order:
/// two range reads of `calendars_sync_due` (`status, next_sync_at, id`), never a scan.
const DUE_NEVER_SYNCED_SQL: &str = "SELECT id, platform, next_sync_at FROM calendars
     WHERE status = ?2 AND next_sync_at IS NULL ORDER BY id LIMIT ?1";
const DUE_BY_SQL: &str = "SELECT id, platform, next_sync_at FROM calendars
     WHERE status = ?3 AND next_sync_at <= ?1 ORDER BY next_sync_at, id LIMIT ?2";
const NEXT_DUE_SQL: &str = "SELECT MIN(next_sync_at) FROM calendars
     WHERE status = ?3 AND next_sync_at > ?1 AND next_sync_at <= ?2";

/// Connected calendars whose sync is due (never synced first), oldest due first, with
/// their platform (the sweep limits each provider's share) and due time (None: never
/// synced).
pub fn due_calendars(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<(String, Platform, Option<i64>)>, StoreError> {
    let row = |r: &rusqlite::Row| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    let mut due: Vec<(String, Platform, Option<i64>)> = conn
        .prepare_cached(DUE_NEVER_SYNCED_SQL)?
        .query_map(params![limit as i64, CalendarStatus::Connected], row)?
        .collect::<Result<_, _>>()?;
    let rest = limit - due.len();
    if rest > 0 {
        let mut stmt = conn.prepare_cached(DUE_BY_SQL)?;
        let rows = stmt.query_map(params![now_ms, rest as i64, CalendarStatus::Connected], row)?;
        for r in rows {
            due.push(r?);
        }
    }
    Ok(due)
}

/// `EXPLAIN QUERY PLAN` of the due-list and next-due queries (tests: index ranges only).
pub fn due_plans(conn: &Connection) -> Result<Vec<Vec<String>>, StoreError> {
    let c = CalendarStatus::Connected;
    Ok(vec![
        super::query_plan(conn, DUE_NEVER_SYNCED_SQL, params![1i64, c])?,
        super::query_plan(conn, DUE_BY_SQL, params![0i64, 1i64, c])?,
        super::query_plan(conn, NEXT_DUE_SQL, params![0i64, 1i64, c])?,
    ])
}

/// At start-up: moves every overdue sync (not the never-synced ones, nor parked ones) to a
/// random time in `[now, now + spread)`, where the spread grows with their number up to
/// `max_spread_ms`. Returns how many moved.
pub fn spread_overdue(
    tx: &Transaction,
    now_ms: i64,
    max_spread_ms: i64,
) -> Result<usize, StoreError> {
    let n: i64 = tx.query_row(
        "SELECT COUNT(*) FROM calendars WHERE status = ?2 AND next_sync_at <= ?1",
        params![now_ms, CalendarStatus::Connected],
        |r| r.get(0),
    )?;
    let spread = (n * 250).clamp(1000, max_spread_ms.max(1000));
    Ok(tx.execute(
        "UPDATE calendars SET next_sync_at = ?1 + abs(random() % ?2)
         WHERE status = ?3 AND next_sync_at <= ?1",
        params![now_ms, spread, CalendarStatus::Connected],
    )?)
}

/// The sync token and the window it covers, after a successful sync.
#[derive(Debug, Clone)]
pub struct SyncCursor {
    pub token: String,
    pub window_start: i64,
    pub window_end: i64,
}

pub fn record_success(
    tx: &Transaction,
    id: &str,
    cursor: &SyncCursor,
    next_sync_at: i64,
    now_ms: i64,
    lag_ms: Option<i64>,
) -> Result<(), StoreError> {
    // SET sees the row as it was: the worst lag is replaced when it is older than a day or
    // beaten. A sync started by hand (no lag) keeps the figures of the scheduled ones.
    tx.prepare_cached(
        "UPDATE calendars SET sync_token = ?2, sync_window_start = ?3, sync_window_end = ?4,
            next_sync_at = ?5, last_sync_at = ?6, last_sync_error = NULL, sync_failures = 0,
            sync_lag_ms = COALESCE(?7, sync_lag_ms),
            sync_lag_worst_ms = CASE WHEN ?7 IS NOT NULL AND (sync_lag_worst_at IS NULL
                OR sync_lag_worst_at < ?6 - ?8 OR ?7 >= sync_lag_worst_ms)
                THEN ?7 ELSE sync_lag_worst_ms END,
            sync_lag_worst_at = CASE WHEN ?7 IS NOT NULL AND (sync_lag_worst_at IS NULL
                OR sync_lag_worst_at < ?6 - ?8 OR ?7 >= sync_lag_worst_ms)
                THEN ?6 ELSE sync_lag_worst_at END
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        cursor.token,
        cursor.window_start,
        cursor.window_end,
        next_sync_at,
        now_ms,
        lag_ms,
        LAG_WORST_KEPT_MS,
    ])?;
    Ok(())
}

/// How long the worst start lag of a calendar is remembered.
pub const LAG_WORST_KEPT_MS: i64 = 24 * 3600 * 1000;

/// How late a calendar's scheduled syncs started after their due time (milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CalendarSyncLag {
    /// The last scheduled sync's.
    pub last_ms: Option<i64>,
    /// The longest within the last day, and when that sync ran.
    pub worst_ms: Option<i64>,
    pub worst_at: Option<i64>,
}

pub fn calendar_sync_lag(conn: &Connection, id: &str) -> Result<CalendarSyncLag, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT sync_lag_ms, sync_lag_worst_ms, sync_lag_worst_at FROM calendars WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(CalendarSyncLag {
                last_ms: r.get(0)?,
                worst_ms: r.get(1)?,
                worst_at: r.get(2)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// Records a failed attempt and when to try again (`PARKED` to stop).
pub fn record_failure(
    tx: &Transaction,
    id: &str,
    error: &str,
    next_sync_at: i64,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "UPDATE calendars SET last_sync_error = ?2, next_sync_at = ?3,
            sync_failures = sync_failures + 1
         WHERE id = ?1",
    )?
    .execute(params![id, error, next_sync_at])?;
    Ok(tx
        .query_row(
            "SELECT sync_failures FROM calendars WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Drops the stored sync token (e.g. the provider said it expired).
pub fn clear_sync_token(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE calendars SET sync_token = NULL, sync_window_start = NULL, sync_window_end = NULL
         WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// Sync status of calendars for overviews: (status, calendars, with a sync error).
pub fn status_counts(conn: &Connection) -> Result<Vec<(CalendarStatus, i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*), SUM(last_sync_error IS NOT NULL) FROM calendars
         GROUP BY status ORDER BY status",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// ------------------------------------------------------------------- push-driven scheduling

/// A push notification: the connected calendar is due at `max(now, last sync + gap_ms)`
/// unless it is due sooner already. A calendar backing off after failures or parked is left
/// alone. Returns the due time when the calendar is due (now or soon), None when left alone.
pub fn mark_due(
    tx: &Transaction,
    id: &str,
    now_ms: i64,
    gap_ms: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .prepare_cached(
            "UPDATE calendars SET next_sync_at = CASE
                 WHEN next_sync_at IS NULL THEN NULL
                 ELSE MIN(next_sync_at, MAX(?2, COALESCE(last_sync_at, 0) + ?3)) END
             WHERE id = ?1 AND status = ?4 AND sync_failures = 0
               AND (next_sync_at IS NULL OR next_sync_at != ?5)
             RETURNING COALESCE(next_sync_at, ?2)",
        )?
        .query_row(
            params![id, now_ms, gap_ms, CalendarStatus::Connected, PARKED],
            |r| r.get(0),
        )
        .optional()?)
}

/// Brings a scheduled sync forward to `at` at the latest (push stopped being live: the
/// normal polling interval applies again). Parked calendars stay parked.
pub fn pull_in(tx: &Transaction, id: &str, at: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE calendars SET next_sync_at = MIN(next_sync_at, ?2)
         WHERE id = ?1 AND next_sync_at IS NOT NULL AND next_sync_at != ?3",
    )?
    .execute(params![id, at, PARKED])?;
    Ok(())
}

/// The earliest sync of a connected calendar due after `now_ms` and by `until_ms`.
pub fn next_due_between(
    conn: &Connection,
    now_ms: i64,
    until_ms: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(NEXT_DUE_SQL)?
        .query_row(params![now_ms, until_ms, CalendarStatus::Connected], |r| {
            r.get(0)
        })?)
}

// ------------------------------------------------------------------- tokens, calendar rows

/// Forgets the cached access token (the provider refused it), so the next use refreshes.
pub fn forget_access_token(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE calendars SET access_token_enc = NULL, access_token_expires_at = NULL
         WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// Inserts `cal` under a new id with both timestamps `now_ms` and returns the id; it is due
/// for its first sync at once (`next_sync_at` NULL: the sync sweep takes such calendars first).
pub fn insert_calendar_for_sync(
    tx: &Transaction,
    cal: &Calendar,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    calendars::insert(
        tx,
        &Calendar {
            id: id.clone(),
            created_at: now_ms,
            updated_at: now_ms,
            next_sync_at: None,
            ..cal.clone()
        },
    )?;
    Ok(id)
}
