//! Platform alarms: the provider refused a platform's OAuth client itself (expired secret,
//! deleted client). One row per platform while it lasts; see `calendars::client_alarm`.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformAlarm {
    /// `google` | `microsoft` (as in `platform_clients`).
    pub platform: String,
    pub code: String,
    pub message: String,
    pub client_id: String,
    /// `platform_clients.updated_at` of the client that was refused: a client saved later
    /// is tried again at once.
    pub client_updated_at: i64,
    pub first_at: i64,
    pub last_at: i64,
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<PlatformAlarm> {
    Ok(PlatformAlarm {
        platform: r.get(0)?,
        code: r.get(1)?,
        message: r.get(2)?,
        client_id: r.get(3)?,
        client_updated_at: r.get(4)?,
        first_at: r.get(5)?,
        last_at: r.get(6)?,
    })
}

const SELECT: &str = "SELECT platform, code, message, client_id, client_updated_at, first_at,
    last_at FROM platform_alarms";

pub fn get(conn: &Connection, platform: &str) -> Result<Option<PlatformAlarm>, StoreError> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE platform = ?1"), [platform], row)
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<PlatformAlarm>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY platform"))?;
    let rows = stmt.query_map([], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Raises or refreshes the alarm (its `first_at` stays); true when it is new or now names
/// another client or code.
pub fn raise(conn: &Connection, alarm: &PlatformAlarm) -> Result<bool, StoreError> {
    let before = get(conn, &alarm.platform)?;
    conn.execute(
        "INSERT INTO platform_alarms (platform, code, message, client_id, client_updated_at,
            first_at, last_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (platform) DO UPDATE SET code = excluded.code, message = excluded.message,
            client_id = excluded.client_id, client_updated_at = excluded.client_updated_at,
            last_at = excluded.last_at",
        params![
            alarm.platform,
            alarm.code,
            alarm.message,
            alarm.client_id,
            alarm.client_updated_at,
            alarm.first_at,
            alarm.last_at
        ],
    )?;
    Ok(before.is_none_or(|b| {
        b.client_id != alarm.client_id
            || b.code != alarm.code
            || b.client_updated_at != alarm.client_updated_at
    }))
}

/// Ends the alarm (a refresh with the platform's client worked); true when there was one.
pub fn clear(conn: &Connection, platform: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM platform_alarms WHERE platform = ?1",
        [platform],
    )? > 0)
}
