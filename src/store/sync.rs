//! Sync state of calendars: what is due, sync tokens and windows, failures and backoff.
//! Also a calendar insert usable by any code that creates calendars for syncing.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::StoreError;

/// `next_sync_at` of a calendar that must not be synced until something reconnects it.
/// Reconnecting schedules it again (`store::calendars::schedule_sync_now`). NULL means
/// "never synced yet": due at once.
pub const PARKED: i64 = i64::MAX;

/// What the sync engine needs to know about a calendar.
#[derive(Debug, Clone)]
pub struct SyncCalendar {
    pub id: String,
    pub kind: String,
    pub platform: String,
    pub status: String,
    pub calendar_user_id: Option<String>,
    pub webhook_url: Option<String>,
    pub sync_token: Option<String>,
    pub sync_window_start: Option<i64>,
    pub sync_window_end: Option<i64>,
    pub next_sync_at: Option<i64>,
    pub last_sync_at: Option<i64>,
    pub last_sync_error: Option<String>,
    pub sync_failures: i64,
}

const COLUMNS: &str = "id, kind, platform, status, calendar_user_id, webhook_url, sync_token,
    sync_window_start, sync_window_end, next_sync_at, last_sync_at, last_sync_error,
    sync_failures";

fn row(r: &rusqlite::Row) -> rusqlite::Result<SyncCalendar> {
    Ok(SyncCalendar {
        id: r.get(0)?,
        kind: r.get(1)?,
        platform: r.get(2)?,
        status: r.get(3)?,
        calendar_user_id: r.get(4)?,
        webhook_url: r.get(5)?,
        sync_token: r.get(6)?,
        sync_window_start: r.get(7)?,
        sync_window_end: r.get(8)?,
        next_sync_at: r.get(9)?,
        last_sync_at: r.get(10)?,
        last_sync_error: r.get(11)?,
        sync_failures: r.get(12)?,
    })
}

pub fn get_calendar(conn: &Connection, id: &str) -> Result<Option<SyncCalendar>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM calendars WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

/// A V1 user's connections.
pub fn calendars_of_user(
    conn: &Connection,
    calendar_user_id: &str,
) -> Result<Vec<SyncCalendar>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM calendars WHERE calendar_user_id = ?1 AND kind = 'v1'
         ORDER BY created_at, id"
    ))?;
    let rows = stmt
        .query_map([calendar_user_id], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Connected calendars whose sync is due (never synced first), oldest due first.
pub fn due_calendars(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM calendars
         WHERE status = 'connected' AND (next_sync_at IS NULL OR next_sync_at <= ?1)
         ORDER BY next_sync_at IS NOT NULL, next_sync_at, id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now_ms, limit as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
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
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE calendars SET sync_token = ?2, sync_window_start = ?3, sync_window_end = ?4,
            next_sync_at = ?5, last_sync_at = ?6, last_sync_error = NULL, sync_failures = 0
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        cursor.token,
        cursor.window_start,
        cursor.window_end,
        next_sync_at,
        now_ms
    ])?;
    Ok(())
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

/// A calendar's sync state with what identifies it to an operator.
#[derive(Debug, Clone)]
pub struct CalendarSyncRow {
    pub sync: SyncCalendar,
    /// Platform email, else the email the app gave.
    pub email: Option<String>,
    /// Live (not deleted) events stored.
    pub events: i64,
}

fn sync_row(r: &rusqlite::Row) -> rusqlite::Result<CalendarSyncRow> {
    Ok(CalendarSyncRow {
        sync: row(r)?,
        email: r.get(13)?,
        events: r.get(14)?,
    })
}

const ADMIN_SELECT: &str = "SELECT id, kind, platform, status, calendar_user_id, webhook_url,
    sync_token, sync_window_start, sync_window_end, next_sync_at, last_sync_at,
    last_sync_error, sync_failures, COALESCE(platform_email, oauth_email),
    (SELECT COUNT(*) FROM calendar_events e WHERE e.calendar_id = calendars.id
        AND e.is_deleted = 0)
    FROM calendars";

/// Calendars for the admin pages, newest first.
pub fn list_for_admin(conn: &Connection, limit: usize) -> Result<Vec<CalendarSyncRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{ADMIN_SELECT} ORDER BY created_at DESC, id DESC LIMIT ?1"
    ))?;
    let rows = stmt
        .query_map([limit as i64], sync_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn get_for_admin(conn: &Connection, id: &str) -> Result<Option<CalendarSyncRow>, StoreError> {
    Ok(conn
        .query_row(&format!("{ADMIN_SELECT} WHERE id = ?1"), [id], sync_row)
        .optional()?)
}

/// Sync status of calendars for overviews: (status, calendars, with a sync error).
pub fn status_counts(conn: &Connection) -> Result<Vec<(String, i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*), SUM(last_sync_error IS NOT NULL) FROM calendars
         GROUP BY status ORDER BY status",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
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
    cal: &super::calendars::Calendar,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    super::calendars::insert(
        tx,
        &super::calendars::Calendar {
            id: id.clone(),
            created_at: now_ms,
            updated_at: now_ms,
            next_sync_at: None,
            ..cal.clone()
        },
    )?;
    Ok(id)
}
