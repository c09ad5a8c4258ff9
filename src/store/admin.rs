//! Admin sessions (the cookie value is stored only as a hash).

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

#[derive(Debug, Clone)]
pub struct AdminSession {
    pub csrf_token: String,
    pub expires_at: i64,
}

pub fn create_session(
    conn: &Connection,
    id_hash: &str,
    csrf_token: &str,
    now_ms: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO admin_sessions (id_hash, csrf_token, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![id_hash, csrf_token, now_ms, expires_at],
    )?;
    Ok(())
}

pub fn find_session(
    conn: &Connection,
    id_hash: &str,
    now_ms: i64,
) -> Result<Option<AdminSession>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT csrf_token, expires_at FROM admin_sessions WHERE id_hash = ?1 AND expires_at > ?2",
            params![id_hash, now_ms],
            |r| Ok(AdminSession { csrf_token: r.get(0)?, expires_at: r.get(1)? }),
        )
        .optional()?)
}

pub fn delete_session(conn: &Connection, id_hash: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM admin_sessions WHERE id_hash = ?1", [id_hash])?;
    Ok(())
}

pub fn delete_all_sessions(conn: &Connection) -> Result<(), StoreError> {
    conn.execute("DELETE FROM admin_sessions", [])?;
    Ok(())
}

/// Removes expired sessions; returns how many.
pub fn prune_sessions(conn: &Connection, now_ms: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM admin_sessions WHERE expires_at <= ?1",
        [now_ms],
    )?)
}
