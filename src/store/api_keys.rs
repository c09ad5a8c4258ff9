//! API keys, stored only as SHA-256 hashes.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub last4: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        last4: r.get(2)?,
        created_at: r.get(3)?,
        last_used_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

const COLUMNS: &str = "id, name, last4, created_at, last_used_at, revoked_at";

pub fn insert(
    conn: &Connection,
    id: &str,
    name: &str,
    key_hash: &str,
    last4: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO api_keys (id, name, key_hash, last4, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, name, key_hash, last4, now_ms],
    )?;
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<ApiKey>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id"
    ))?;
    let rows = stmt.query_map([], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Finds a live (not revoked) key by hash.
pub fn find_live(conn: &Connection, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL"),
            [key_hash],
            row,
        )
        .optional()?)
}

/// Use is recorded at most once a minute, so most requests need no write at all.
pub fn needs_touch_at(last_used_at: Option<i64>, now_ms: i64) -> bool {
    last_used_at.is_none_or(|t| now_ms - t > 60_000)
}

pub fn touch(conn: &Connection, id: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        params![id, now_ms],
    )?;
    Ok(())
}

/// Revokes a key; false when no live key has that id.
pub fn revoke(conn: &Connection, id: &str, now_ms: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now_ms],
    )? > 0)
}
