//! Calendars: V1 connections (kind `v1`) and V2 calendars (kind `v2`) in one table, their
//! status history and token state. Sync columns belong to the sync engine (store::sync);
//! this module only schedules the first sync (`next_sync_at`) and resets sync state when
//! the account behind a calendar changes.

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::StoreError;

/// A row of `calendars` (secrets still sealed).
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    pub id: String,
    pub kind: String,
    pub calendar_user_id: Option<String>,
    /// `google_calendar` | `microsoft_outlook`
    pub platform: String,
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret_enc: Option<String>,
    pub oauth_refresh_token_enc: Option<String>,
    pub oauth_email: Option<String>,
    pub platform_email: Option<String>,
    pub granted_scopes: Option<String>,
    pub webhook_url: Option<String>,
    /// `connecting` | `connected` | `disconnected`
    pub status: String,
    pub access_token_enc: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub last_refresh_at: Option<i64>,
    pub next_refresh_at: Option<i64>,
    pub refresh_failures: i64,
    pub last_refresh_error: Option<String>,
    pub credentials_version: i64,
    pub next_sync_at: Option<i64>,
    pub last_sync_at: Option<i64>,
    pub last_sync_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, kind, calendar_user_id, platform, oauth_client_id,
    oauth_client_secret_enc, oauth_refresh_token_enc, oauth_email, platform_email,
    granted_scopes, webhook_url, status, access_token_enc, access_token_expires_at,
    last_refresh_at, next_refresh_at, refresh_failures, last_refresh_error,
    credentials_version, next_sync_at, last_sync_at, last_sync_error, created_at, updated_at";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Calendar> {
    Ok(Calendar {
        id: r.get(0)?,
        kind: r.get(1)?,
        calendar_user_id: r.get(2)?,
        platform: r.get(3)?,
        oauth_client_id: r.get(4)?,
        oauth_client_secret_enc: r.get(5)?,
        oauth_refresh_token_enc: r.get(6)?,
        oauth_email: r.get(7)?,
        platform_email: r.get(8)?,
        granted_scopes: r.get(9)?,
        webhook_url: r.get(10)?,
        status: r.get(11)?,
        access_token_enc: r.get(12)?,
        access_token_expires_at: r.get(13)?,
        last_refresh_at: r.get(14)?,
        next_refresh_at: r.get(15)?,
        refresh_failures: r.get(16)?,
        last_refresh_error: r.get(17)?,
        credentials_version: r.get(18)?,
        next_sync_at: r.get(19)?,
        last_sync_at: r.get(20)?,
        last_sync_error: r.get(21)?,
        created_at: r.get(22)?,
        updated_at: r.get(23)?,
    })
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Calendar>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM calendars WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

/// A V2 calendar by id (V1 connections are not visible through the V2 API).
pub fn get_v2(conn: &Connection, id: &str) -> Result<Option<Calendar>, StoreError> {
    Ok(get(conn, id)?.filter(|c| c.kind == "v2"))
}

/// Inserts `cal` as given (id, timestamps and all) and records its first status.
pub fn insert(tx: &Transaction, cal: &Calendar) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO calendars ({COLUMNS}) VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
              ?19, ?20, ?21, ?22, ?23, ?24)"
        ),
        params![
            cal.id,
            cal.kind,
            cal.calendar_user_id,
            cal.platform,
            cal.oauth_client_id,
            cal.oauth_client_secret_enc,
            cal.oauth_refresh_token_enc,
            cal.oauth_email,
            cal.platform_email,
            cal.granted_scopes,
            cal.webhook_url,
            cal.status,
            cal.access_token_enc,
            cal.access_token_expires_at,
            cal.last_refresh_at,
            cal.next_refresh_at,
            cal.refresh_failures,
            cal.last_refresh_error,
            cal.credentials_version,
            cal.next_sync_at,
            cal.last_sync_at,
            cal.last_sync_error,
            cal.created_at,
            cal.updated_at,
        ],
    )?;
    add_status_change(tx, &cal.id, &cal.status, None, cal.created_at)?;
    Ok(())
}

/// Writes the settings and token columns of `cal` (not the sync columns).
pub fn save(tx: &Transaction, cal: &Calendar) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE calendars SET platform = ?2, oauth_client_id = ?3, oauth_client_secret_enc = ?4,
            oauth_refresh_token_enc = ?5, oauth_email = ?6, platform_email = ?7,
            granted_scopes = ?8, webhook_url = ?9, status = ?10, access_token_enc = ?11,
            access_token_expires_at = ?12, last_refresh_at = ?13, next_refresh_at = ?14,
            refresh_failures = ?15, last_refresh_error = ?16, credentials_version = ?17,
            updated_at = ?18
         WHERE id = ?1",
        params![
            cal.id,
            cal.platform,
            cal.oauth_client_id,
            cal.oauth_client_secret_enc,
            cal.oauth_refresh_token_enc,
            cal.oauth_email,
            cal.platform_email,
            cal.granted_scopes,
            cal.webhook_url,
            cal.status,
            cal.access_token_enc,
            cal.access_token_expires_at,
            cal.last_refresh_at,
            cal.next_refresh_at,
            cal.refresh_failures,
            cal.last_refresh_error,
            cal.credentials_version,
            cal.updated_at,
        ],
    )?;
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
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: i64,
}

pub fn add_status_change(
    tx: &Transaction,
    id: &str,
    status: &str,
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
             WHERE calendar_id = ?1 AND status = 'disconnected' ORDER BY id DESC LIMIT 1",
            [id],
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
    pub platform: Option<String>,
    pub status: Option<String>,
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
    let mut sql = format!("SELECT {COLUMNS} FROM calendars WHERE kind = 'v2'");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(p) = &filter.platform {
        args.push(Box::new(p.clone()));
        sql.push_str(&format!(" AND platform = ?{}", args.len()));
    }
    if let Some(s) = &filter.status {
        args.push(Box::new(s.clone()));
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

/// A V1 user's connections, oldest first.
pub fn v1_for_user(conn: &Connection, user_id: &str) -> Result<Vec<Calendar>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM calendars WHERE kind = 'v1' AND calendar_user_id = ?1
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([user_id], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A V1 user's connection for `platform` (`google_calendar` | `microsoft_outlook`).
pub fn v1_find(
    conn: &Connection,
    user_id: &str,
    platform: &str,
) -> Result<Option<Calendar>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM calendars
                 WHERE kind = 'v1' AND calendar_user_id = ?1 AND platform = ?2"
            ),
            params![user_id, platform],
            row,
        )
        .optional()?)
}

/// Calendars whose token is due for its periodic refresh (liveness check or a retry after
/// a transient failure). Disconnected ones wait for new credentials.
pub fn due_for_refresh(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM calendars
         WHERE next_refresh_at IS NOT NULL AND next_refresh_at <= ?1
           AND status IN ('connecting', 'connected')
         ORDER BY next_refresh_at, id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now_ms, limit as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Counts by status, for the admin overview.
pub fn count_by_status(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT status, COUNT(*) FROM calendars GROUP BY status ORDER BY 1")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
