//! Provider items a sync could not read (`sync_item_failures`): kept per calendar and
//! provider id until the item reads again, for the admin calendar page.

use rusqlite::{params, Connection};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailure {
    /// The provider's event id; empty when not even the id could be read.
    pub platform_id: String,
    pub error: String,
    pub first_at: i64,
    pub last_at: i64,
}

/// Records (or refreshes) an unreadable item.
pub fn record(
    conn: &Connection,
    calendar_id: &str,
    platform_id: &str,
    error: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sync_item_failures (calendar_id, platform_id, error, first_at, last_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (calendar_id, platform_id) DO UPDATE SET error = excluded.error,
            last_at = excluded.last_at",
    )?
    .execute(params![calendar_id, platform_id, error, now_ms])?;
    Ok(())
}

/// These items read fine (or are gone): forget their failures, in one statement.
pub fn clear(
    conn: &Connection,
    calendar_id: &str,
    platform_ids: &[&str],
) -> Result<(), StoreError> {
    if platform_ids.is_empty() {
        return Ok(());
    }
    let ids = super::json_ids(platform_ids);
    conn.prepare_cached(
        "DELETE FROM sync_item_failures
         WHERE calendar_id = ?1 AND platform_id IN (SELECT value FROM json_each(?2))",
    )?
    .execute(params![calendar_id, ids])?;
    Ok(())
}

/// A calendar's unreadable items, most recent first.
pub fn list(conn: &Connection, calendar_id: &str) -> Result<Vec<ItemFailure>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT platform_id, error, first_at, last_at FROM sync_item_failures
         WHERE calendar_id = ?1 ORDER BY last_at DESC, platform_id LIMIT 100",
    )?;
    let rows = stmt
        .query_map([calendar_id], |r| {
            Ok(ItemFailure {
                platform_id: r.get(0)?,
                error: r.get(1)?,
                first_at: r.get(2)?,
                last_at: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
