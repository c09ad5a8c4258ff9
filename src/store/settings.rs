//! Workspace settings: key/value pairs, platform OAuth clients, allowed redirect origins.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;
use crate::domain::{CalendarKind, CalendarStatus, Platform};

pub const MASTER_KEY_CHECK: &str = "master_key_check";
pub const WORKSPACE_WEBHOOK_SECRET: &str = "workspace_webhook_secret";
pub const ADMIN_PASSWORD_HASH: &str = "admin_password_hash";
pub const ADMIN_SETUP_TOKEN_HASH: &str = "admin_setup_token_hash";

pub fn get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

pub fn set(conn: &Connection, key: &str, value: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, value, now_ms],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM settings WHERE key = ?1", [key])?;
    Ok(())
}

/// `/readyz`: a real write, committed (a full disk or a read-only file fails here).
pub fn write_probe(conn: &Connection, now_ms: i64) -> Result<(), StoreError> {
    set(conn, READYZ_PROBE, &now_ms.to_string(), now_ms)
}

const READYZ_PROBE: &str = "readyz_probe";

/// A platform's OAuth client as stored (secret still sealed).
#[derive(Debug, Clone)]
pub struct PlatformClient {
    pub platform: String,
    pub client_id: String,
    pub client_secret_enc: String,
    pub updated_at: i64,
}

pub fn get_platform_client(
    conn: &Connection,
    platform: &str,
) -> Result<Option<PlatformClient>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT platform, client_id, client_secret_enc, updated_at
             FROM platform_clients WHERE platform = ?1",
            [platform],
            |r| {
                Ok(PlatformClient {
                    platform: r.get(0)?,
                    client_id: r.get(1)?,
                    client_secret_enc: r.get(2)?,
                    updated_at: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Saves a platform's OAuth client. V1 calendars of that platform whose refreshes (or
/// syncs) were failing are tried again at once: the failures may have been the old
/// client's (an expired secret), and a refused client is retried only once a new one is
/// saved (`calendars::client_alarm`).
pub fn set_platform_client(
    conn: &Connection,
    platform: &str,
    client_id: &str,
    client_secret_enc: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO platform_clients (platform, client_id, client_secret_enc, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (platform) DO UPDATE SET client_id = excluded.client_id,
            client_secret_enc = excluded.client_secret_enc, updated_at = excluded.updated_at",
        params![platform, client_id, client_secret_enc, now_ms],
    )?;
    if let Some(p) = Platform::from_v1(platform) {
        conn.execute(
            "UPDATE calendars SET
                next_refresh_at = CASE WHEN refresh_failures > 0 THEN ?3 ELSE next_refresh_at END,
                next_sync_at = CASE WHEN sync_failures > 0 AND next_sync_at < ?4 THEN ?3
                    ELSE next_sync_at END
             WHERE kind = ?1 AND platform = ?2 AND status <> ?5
               AND (refresh_failures > 0 OR sync_failures > 0)",
            params![
                CalendarKind::V1,
                p,
                now_ms,
                super::sync::PARKED,
                CalendarStatus::Disconnected
            ],
        )?;
    }
    Ok(())
}

pub fn list_redirect_origins(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT origin FROM redirect_origins ORDER BY origin")?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn add_redirect_origin(conn: &Connection, origin: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO redirect_origins (origin, created_at) VALUES (?1, ?2)",
        params![origin, now_ms],
    )?;
    Ok(())
}

pub fn remove_redirect_origin(conn: &Connection, origin: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM redirect_origins WHERE origin = ?1", [origin])? > 0)
}
