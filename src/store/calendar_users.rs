//! V1 calendar users: one per `external_id` (the app's user id).

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

#[derive(Debug, Clone)]
pub struct CalendarUser {
    pub id: String,
    pub external_id: String,
    /// JSON object of preferences as stored (defaults applied by the API layer).
    pub preferences: String,
    pub created_at: i64,
    pub updated_at: i64,
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<CalendarUser> {
    Ok(CalendarUser {
        id: r.get(0)?,
        external_id: r.get(1)?,
        preferences: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

const COLUMNS: &str = "id, external_id, preferences, created_at, updated_at";

pub fn find_by_external_id(
    conn: &Connection,
    external_id: &str,
) -> Result<Option<CalendarUser>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM calendar_users WHERE external_id = ?1"),
            [external_id],
            row,
        )
        .optional()?)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<CalendarUser>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM calendar_users WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

/// The user for `external_id`, created on first sight (never twice: UNIQUE + IMMEDIATE tx).
pub fn get_or_create(
    conn: &Connection,
    external_id: &str,
    now_ms: i64,
) -> Result<CalendarUser, StoreError> {
    if let Some(u) = find_by_external_id(conn, external_id)? {
        return Ok(u);
    }
    let id = uuid::Uuid::new_v4().to_string();
    conn.execute(
        "INSERT INTO calendar_users (id, external_id, preferences, created_at, updated_at)
         VALUES (?1, ?2, '{}', ?3, ?3)",
        params![id, external_id, now_ms],
    )?;
    Ok(CalendarUser {
        id,
        external_id: external_id.to_string(),
        preferences: "{}".into(),
        created_at: now_ms,
        updated_at: now_ms,
    })
}

/// One page of users in (created_at, id) order; see `store::calendars::list_v2` for the
/// cursor arguments.
pub fn list(
    conn: &Connection,
    after: Option<(i64, String)>,
    backwards: bool,
    limit: usize,
) -> Result<Vec<CalendarUser>, StoreError> {
    let (op, dir) = if backwards {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let rows = match after {
        Some((key, id)) => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM calendar_users WHERE (created_at, id) {op} (?1, ?2)
                 ORDER BY created_at {dir}, id {dir} LIMIT ?3"
            ))?;
            let rows = stmt
                .query_map(params![key, id, limit as i64], row)?
                .collect::<Result<_, _>>()?;
            rows
        }
        None => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM calendar_users ORDER BY created_at {dir}, id {dir} LIMIT ?1"
            ))?;
            let rows = stmt
                .query_map(params![limit as i64], row)?
                .collect::<Result<_, _>>()?;
            rows
        }
    };
    Ok(rows)
}

pub fn set_preferences(
    conn: &Connection,
    id: &str,
    preferences: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE calendar_users SET preferences = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, preferences, now_ms],
    )?;
    Ok(())
}

/// Deletes the user; its connections and their events go with it (ON DELETE CASCADE).
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM calendar_users WHERE id = ?1", [id])? > 0)
}

pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM calendar_users", [], |r| r.get(0))?)
}
