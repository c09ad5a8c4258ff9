//! Calendars: V1 connections (kind `v1`) and V2 calendars (kind `v2`) in one table, their
//! status history and token state. Sync columns belong to the sync engine (store::sync);
//! this module only schedules the first sync (`next_sync_at`) and resets sync state when
//! the account behind a calendar changes.
//!
//! Every read of a calendar row goes through [`COLUMNS`] and [`row`], every write of one
//! through [`values`]: one list of the table's columns, in one order.

use std::ops::Range;
use std::sync::LazyLock;

use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};

use super::StoreError;
use crate::domain::{CalendarKind, CalendarStatus, Platform};

/// A row of `calendars` (secrets still sealed).
#[derive(Debug, Clone)]
pub struct Calendar {
    pub id: String,
    pub kind: CalendarKind,
    pub calendar_user_id: Option<String>,
    pub platform: Platform,
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret_enc: Option<String>,
    pub oauth_refresh_token_enc: Option<String>,
    pub oauth_email: Option<String>,
    pub platform_email: Option<String>,
    pub granted_scopes: Option<String>,
    pub webhook_url: Option<String>,
    pub status: CalendarStatus,
    pub access_token_enc: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub last_refresh_at: Option<i64>,
    pub next_refresh_at: Option<i64>,
    pub refresh_failures: i64,
    pub last_refresh_error: Option<String>,
    pub credentials_version: i64,
    /// Google `nextSyncToken` / Graph `deltaLink` of the last sync.
    pub sync_token: Option<String>,
    /// The window the stored sync token covers.
    pub sync_window_start: Option<i64>,
    pub sync_window_end: Option<i64>,
    /// NULL: never synced, due at once; `store::sync::PARKED`: waits for a reconnect.
    pub next_sync_at: Option<i64>,
    pub last_sync_at: Option<i64>,
    pub last_sync_error: Option<String>,
    pub sync_failures: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Calendar {
    /// A calendar under a new id, created now, with no credentials, tokens or sync state.
    pub fn new(
        kind: CalendarKind,
        platform: Platform,
        status: CalendarStatus,
        now_ms: i64,
    ) -> Self {
        Calendar {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            calendar_user_id: None,
            platform,
            oauth_client_id: None,
            oauth_client_secret_enc: None,
            oauth_refresh_token_enc: None,
            oauth_email: None,
            platform_email: None,
            granted_scopes: None,
            webhook_url: None,
            status,
            access_token_enc: None,
            access_token_expires_at: None,
            last_refresh_at: None,
            next_refresh_at: None,
            refresh_failures: 0,
            last_refresh_error: None,
            credentials_version: 0,
            sync_token: None,
            sync_window_start: None,
            sync_window_end: None,
            next_sync_at: None,
            last_sync_at: None,
            last_sync_error: None,
            sync_failures: 0,
            created_at: now_ms,
            updated_at: now_ms,
        }
    }
}

/// Every column of `calendars`, in the order [`row`] reads and [`values`] lists them: those
/// written once (by [`insert`]), the settings and tokens ([`SAVED`]), the sync state.
pub(super) const COLUMNS: [&str; 28] = [
    "id",
    "kind",
    "calendar_user_id",
    "created_at",
    "platform",
    "oauth_client_id",
    "oauth_client_secret_enc",
    "oauth_refresh_token_enc",
    "oauth_email",
    "platform_email",
    "granted_scopes",
    "webhook_url",
    "status",
    "access_token_enc",
    "access_token_expires_at",
    "last_refresh_at",
    "next_refresh_at",
    "refresh_failures",
    "last_refresh_error",
    "credentials_version",
    "updated_at",
    "sync_token",
    "sync_window_start",
    "sync_window_end",
    "next_sync_at",
    "last_sync_at",
    "last_sync_error",
    "sync_failures",
];

/// The columns [`save`] writes: settings and tokens, not the identity or the sync state.
const SAVED: Range<usize> = 4..21;

/// The sealed secrets: read models for pages select NULL in their place.
const SECRETS: [&str; 3] = [
    "oauth_client_secret_enc",
    "oauth_refresh_token_enc",
    "access_token_enc",
];

/// The values of `cal` in [`COLUMNS`] order.
fn values(c: &Calendar) -> [&dyn ToSql; 28] {
    [
        &c.id,
        &c.kind,
        &c.calendar_user_id,
        &c.created_at,
        &c.platform,
        &c.oauth_client_id,
        &c.oauth_client_secret_enc,
        &c.oauth_refresh_token_enc,
        &c.oauth_email,
        &c.platform_email,
        &c.granted_scopes,
        &c.webhook_url,
        &c.status,
        &c.access_token_enc,
        &c.access_token_expires_at,
        &c.last_refresh_at,
        &c.next_refresh_at,
        &c.refresh_failures,
        &c.last_refresh_error,
        &c.credentials_version,
        &c.updated_at,
        &c.sync_token,
        &c.sync_window_start,
        &c.sync_window_end,
        &c.next_sync_at,
        &c.last_sync_at,
        &c.last_sync_error,
        &c.sync_failures,
    ]
}

/// A calendar from the first [`COLUMNS`].len() columns of a result row (selected with
/// [`select_list`]); further columns are the caller's.
pub(super) fn row(r: &rusqlite::Row) -> rusqlite::Result<Calendar> {
    Ok(Calendar {
        id: r.get(0)?,
        kind: r.get(1)?,
        calendar_user_id: r.get(2)?,
        created_at: r.get(3)?,
        platform: r.get(4)?,
        oauth_client_id: r.get(5)?,
        oauth_client_secret_enc: r.get(6)?,
        oauth_refresh_token_enc: r.get(7)?,
        oauth_email: r.get(8)?,
        platform_email: r.get(9)?,
        granted_scopes: r.get(10)?,
        webhook_url: r.get(11)?,
        status: r.get(12)?,
        access_token_enc: r.get(13)?,
        access_token_expires_at: r.get(14)?,
        last_refresh_at: r.get(15)?,
        next_refresh_at: r.get(16)?,
        refresh_failures: r.get(17)?,
        last_refresh_error: r.get(18)?,
        credentials_version: r.get(19)?,
        updated_at: r.get(20)?,
        sync_token: r.get(21)?,
        sync_window_start: r.get(22)?,
        sync_window_end: r.get(23)?,
        next_sync_at: r.get(24)?,
        last_sync_at: r.get(25)?,
        last_sync_error: r.get(26)?,
        sync_failures: r.get(27)?,
    })
}

/// The select list of a calendar row for [`row`], columns prefixed with `alias.` when one
/// is given; `with_secrets: false` reads NULL for every sealed secret.
pub(super) fn select_list(alias: &str, with_secrets: bool) -> String {
    COLUMNS
        .iter()
        .map(|c| match alias {
            _ if !with_secrets && SECRETS.contains(c) => "NULL".to_string(),
            "" => c.to_string(),
            a => format!("{a}.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SELECT <every column> FROM calendars`, to be followed by a WHERE clause.
static SELECT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM calendars", select_list("", true)));

static INSERT: LazyLock<String> = LazyLock::new(|| {
    let marks: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO calendars ({}) VALUES ({})",
        COLUMNS.join(", "),
        marks.join(", ")
    )
});

static SAVE: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = COLUMNS[SAVED]
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 2))
        .collect();
    format!("UPDATE calendars SET {} WHERE id = ?1", sets.join(", "))
});

pub fn get(conn: &Connection, id: &str) -> Result<Option<Calendar>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{} WHERE id = ?1", *SELECT))?
        .query_row([id], row)
        .optional()?)
}

/// A V2 calendar by id (V1 connections are not visible through the V2 API).
pub fn get_v2(conn: &Connection, id: &str) -> Result<Option<Calendar>, StoreError> {
    Ok(get(conn, id)?.filter(|c| c.kind == CalendarKind::V2))
}

/// Inserts `cal` as given (id, timestamps and all) and records its first status.
pub fn insert(tx: &Transaction, cal: &Calendar) -> Result<(), StoreError> {
    tx.prepare_cached(&INSERT)?
        .execute(params_from_iter(values(cal)))?;
    add_status_change(tx, &cal.id, cal.status, None, cal.created_at)?;
    Ok(())
}

/// Writes the settings and token columns of `cal` (not the sync columns).
pub fn save(tx: &Transaction, cal: &Calendar) -> Result<(), StoreError> {
    let values = values(cal);
    tx.prepare_cached(&SAVE)?.execute(params_from_iter(
        std::iter::once(&cal.id as &dyn ToSql).chain(values[SAVED].iter().copied()),
    ))?;
    Ok(())
}

/// Asks the sync engine to sync this calendar now.
pub fn schedule_sync_now(tx: &Transaction, id: &str, now_ms: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE calendars SET next_sync_at = ?2 WHERE id = ?1",
        params![id, now_ms],
    )?;
    Ok(())
}

/// Forgets the sync position (another account or platform now backs the calendar).
pub fn reset_sync_state(tx: &Transaction, id: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE calendars SET sync_token = NULL, sync_window_start = NULL,
            sync_window_end = NULL, sync_failures = 0, last_sync_error = NULL
         WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// One entry of a calendar's status history.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub status: CalendarStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: i64,
}

pub fn add_status_change(
    tx: &Transaction,
    id: &str,
    status: CalendarStatus,
    error: Option<(&str, &str)>,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO calendar_status_changes
            (calendar_id, status, error_code, error_message, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, status, error.map(|e| e.0), error.map(|e| e.1), now_ms],
    )?;
    Ok(())
}

/// Oldest first.
pub fn status_changes(conn: &Connection, id: &str) -> Result<Vec<StatusChange>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, error_code, error_message, created_at FROM calendar_status_changes
         WHERE calendar_id = ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([id], |r| {
            Ok(StatusChange {
                status: r.get(0)?,
                error_code: r.get(1)?,
                error_message: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The error of the latest `disconnected` status change.
pub fn disconnect_reason(
    conn: &Connection,
    id: &str,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT error_code, error_message FROM calendar_status_changes
             WHERE calendar_id = ?1 AND status = ?2 ORDER BY id DESC LIMIT 1",
            params![id, CalendarStatus::Disconnected],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            },
        )
        .optional()?)
}

/// Filters of `GET /api/v2/calendars/`.
#[derive(Debug, Default, Clone)]
pub struct V2Filter {
    pub platform: Option<Platform>,
    pub status: Option<CalendarStatus>,
    pub email: Option<String>,
    pub created_at_gte: Option<i64>,
}

/// One page of V2 calendars in (created_at, id) order. `after`: continue after this key;
/// `backwards`: rows before it, descending.
pub fn list_v2(
    conn: &Connection,
    filter: &V2Filter,
    after: Option<(i64, String)>,
    backwards: bool,
    limit: usize,
) -> Result<Vec<Calendar>, StoreError> {
    let mut sql = format!("{} WHERE kind = 'v2'", *SELECT);
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(p) = filter.platform {
        args.push(Box::new(p));
        sql.push_str(&format!(" AND platform = ?{}", args.len()));
    }
    if let Some(s) = filter.status {
        args.push(Box::new(s));
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some(e) = &filter.email {
        args.push(Box::new(e.clone()));
        let n = args.len();
        sql.push_str(&format!(
            " AND (platform_email = ?{n} COLLATE NOCASE OR oauth_email = ?{n} COLLATE NOCASE)"
        ));
    }
    if let Some(t) = filter.created_at_gte {
        args.push(Box::new(t));
        sql.push_str(&format!(" AND created_at >= ?{}", args.len()));
    }
    if let Some((key, id)) = after {
        args.push(Box::new(key));
        args.push(Box::new(id));
        let (k, i) = (args.len() - 1, args.len());
        let op = if backwards { "<" } else { ">" };
        sql.push_str(&format!(" AND (created_at, id) {op} (?{k}, ?{i})"));
    }
    let dir = if backwards { "DESC" } else { "ASC" };
    sql.push_str(&format!(
        " ORDER BY created_at {dir}, id {dir} LIMIT {}",
        limit
    ));
    let mut stmt = conn.prepare(&sql)?;
    let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let rows = stmt
        .query_map(refs.as_slice(), row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn delete(tx: &Transaction, id: &str) -> Result<bool, StoreError> {
    Ok(tx.execute("DELETE FROM calendars WHERE id = ?1", [id])? > 0)
}

// `kind = 'v1'` stays a literal in the V1 queries: it lets SQLite use the partial index
// `calendars_v1_user_platform`, which a bound parameter would not.

/// A V1 user's connections, oldest first.
pub fn v1_for_user(conn: &Connection, user_id: &str) -> Result<Vec<Calendar>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{} WHERE kind = 'v1' AND calendar_user_id = ?1 ORDER BY created_at, id",
        *SELECT
    ))?;
    let rows = stmt.query_map([user_id], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A V1 user's connection for `platform`.
pub fn v1_find(
    conn: &Connection,
    user_id: &str,
    platform: Platform,
) -> Result<Option<Calendar>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{} WHERE kind = 'v1' AND calendar_user_id = ?1 AND platform = ?2",
            *SELECT
        ))?
        .query_row(params![user_id, platform], row)
        .optional()?)
}

/// Calendars whose token is due for its periodic refresh (liveness check or a retry after
/// a transient failure). Disconnected ones wait for new credentials.
pub fn due_for_refresh(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    ids(
        conn,
        "SELECT id FROM calendars
         WHERE next_refresh_at IS NOT NULL AND next_refresh_at <= ?1
           AND status IN (?3, ?4)
         ORDER BY next_refresh_at, id LIMIT ?2",
        params![
            now_ms,
            limit as i64,
            CalendarStatus::Connecting,
            CalendarStatus::Connected
        ],
    )
}

/// Live calendars whose refresh is overdue at `now_ms`.
pub fn count_overdue_refreshes(conn: &Connection, now_ms: i64) -> Result<usize, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM calendars
         WHERE next_refresh_at IS NOT NULL AND next_refresh_at <= ?1 AND status IN (?2, ?3)",
        params![
            now_ms,
            CalendarStatus::Connecting,
            CalendarStatus::Connected
        ],
        |r| r.get::<_, i64>(0),
    )? as usize)
}

/// Moves every overdue refresh to a random time in `[now, now + spread_ms)`.
pub fn spread_overdue_refreshes(
    conn: &Connection,
    now_ms: i64,
    spread_ms: i64,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE calendars SET next_refresh_at = ?1 + abs(random() % ?2)
         WHERE next_refresh_at IS NOT NULL AND next_refresh_at <= ?1 AND status IN (?3, ?4)",
        params![
            now_ms,
            spread_ms.max(1),
            CalendarStatus::Connecting,
            CalendarStatus::Connected
        ],
    )?)
}

/// The ids a `SELECT id FROM calendars …` lists.
pub(super) fn ids(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params, |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Counts by status, for the admin overview.
pub fn count_by_status(conn: &Connection) -> Result<Vec<(CalendarStatus, i64)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT status, COUNT(*) FROM calendars GROUP BY status ORDER BY 1")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut c).unwrap();
        c
    }

    #[test]
    fn a_calendar_reads_back_as_written_and_save_keeps_the_sync_state() {
        let mut c = db();
        let tx = c.transaction().unwrap();
        let mut cal = Calendar {
            oauth_client_id: Some("client".into()),
            oauth_client_secret_enc: Some("sealed".into()),
            sync_token: Some("token".into()),
            sync_window_start: Some(1),
            sync_window_end: Some(2),
            sync_failures: 3,
            ..Calendar::new(
                CalendarKind::V2,
                Platform::Microsoft,
                CalendarStatus::Connecting,
                5,
            )
        };
        insert(&tx, &cal).unwrap();
        let read = get(&tx, &cal.id).unwrap().unwrap();
        assert_eq!(format!("{read:?}"), format!("{cal:?}"));
        assert_eq!(status_changes(&tx, &cal.id).unwrap()[0].status, cal.status);

        cal.status = CalendarStatus::Connected;
        cal.platform_email = Some("a@example.com".into());
        cal.updated_at = 9;
        // `save` leaves what is not its own alone.
        cal.created_at = 100;
        cal.sync_token = None;
        cal.sync_failures = 0;
        save(&tx, &cal).unwrap();
        let read = get(&tx, &cal.id).unwrap().unwrap();
        assert_eq!(read.status, CalendarStatus::Connected);
        assert_eq!(read.platform_email.as_deref(), Some("a@example.com"));
        assert_eq!(read.updated_at, 9);
        assert_eq!(read.created_at, 5);
        assert_eq!(read.sync_token.as_deref(), Some("token"));
        assert_eq!(read.sync_failures, 3);
    }

    #[test]
    fn page_reads_leave_the_secrets_out() {
        let list = select_list("c", false);
        for secret in SECRETS {
            assert!(!list.contains(secret), "{secret}");
        }
        assert_eq!(list.split(", ").count(), COLUMNS.len());
        assert!(select_list("", true).contains("access_token_enc"));
    }
}
