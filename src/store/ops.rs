//! What the operator's pages and `/metrics` read about the whole installation: the
//! first-run checklist's facts, the system tile, the metrics gauges, the last backup.

use rusqlite::{params, Connection};

use super::settings as kv;
use super::StoreError;
use crate::domain::{BotStatus, CalendarKind, CalendarStatus, DeliveryStatus};

/// Settings key: when `convene backup` last wrote a copy (Unix ms).
pub const LAST_BACKUP_AT: &str = "last_backup_at";
/// Settings key: the operator said the redirect URIs are registered at the provider.
pub const REDIRECT_URIS_REGISTERED: &str = "redirect_uris_registered_at";

/// Facts the first-run checklist ticks from.
#[derive(Debug, Clone, Default)]
pub struct SetupFacts {
    /// Platforms with a saved OAuth client (`google`, `microsoft`).
    pub platform_clients: Vec<String>,
    pub zoom_apps: i64,
    pub redirect_uris_confirmed: bool,
    pub active_api_keys: i64,
    pub webhook_endpoints: i64,
    /// V1 connections made through the hosted OAuth flow.
    pub hosted_connections: i64,
}

pub fn setup_facts(conn: &Connection) -> Result<SetupFacts, StoreError> {
    let platform_clients = conn
        .prepare_cached("SELECT platform FROM platform_clients ORDER BY platform")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let one = |sql: &str| -> Result<i64, StoreError> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
    Ok(SetupFacts {
        platform_clients,
        zoom_apps: one("SELECT COUNT(*) FROM zoom_oauth_apps")?,
        redirect_uris_confirmed: kv::get(conn, REDIRECT_URIS_REGISTERED)?.is_some(),
        active_api_keys: one("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL")?,
        webhook_endpoints: one("SELECT COUNT(*) FROM webhook_endpoints")?,
        hosted_connections: conn.query_row(
            "SELECT COUNT(*) FROM calendars WHERE kind = ?1",
            [CalendarKind::V1],
            |r| r.get(0),
        )?,
    })
}

/// The database's size in bytes (pages in use and free pages).
pub fn db_size_bytes(conn: &Connection) -> Result<i64, StoreError> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(pages * size)
}

/// When `convene backup` last ran, if ever.
pub fn last_backup_at(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(kv::get(conn, LAST_BACKUP_AT)?.and_then(|v| v.parse().ok()))
}

/// Records a backup taken now.
pub fn record_backup(conn: &Connection, now_ms: i64) -> Result<(), StoreError> {
    kv::set(conn, LAST_BACKUP_AT, &now_ms.to_string(), now_ms)
}

/// Deliveries still to be sent: (never attempted, retrying after a failed attempt).
pub fn webhook_queue(conn: &Connection) -> Result<(i64, i64), StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(attempts = 0), 0), COALESCE(SUM(attempts > 0), 0)
         FROM webhook_deliveries WHERE status = ?1",
        [DeliveryStatus::Pending],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// Bots by status.
pub fn bots_by_status(conn: &Connection) -> Result<Vec<(BotStatus, i64)>, StoreError> {
    let rows = conn
        .prepare_cached("SELECT status, COUNT(*) FROM bots GROUP BY status ORDER BY status")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The oldest last successful sync among connected calendars (Unix ms); a connected
/// calendar that never synced counts from its creation.
pub fn oldest_sync(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn.query_row(
        "SELECT MIN(COALESCE(last_sync_at, created_at)) FROM calendars WHERE status = ?1",
        params![CalendarStatus::Connected],
        |r| r.get(0),
    )?)
}

/// A webhook target with failing deliveries (retrying or given up), for the overview.
#[derive(Debug, Clone)]
pub struct FailureGroup {
    pub target_key: String,
    pub endpoint_id: Option<String>,
    pub url: String,
    pub retrying: i64,
    pub failed: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
}

pub fn failures_by_target(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<FailureGroup>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.target_key, d.endpoint_id, COALESCE(e.url, d.target_url, d.target_key),
                COALESCE(SUM(d.status = ?1 AND d.attempts > 0), 0),
                COALESCE(SUM(d.status = ?2), 0),
                MAX(d.last_attempt_at)
         FROM webhook_deliveries d LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE (d.status = ?1 AND d.attempts > 0) OR d.status = ?2
         GROUP BY d.target_key
         ORDER BY COUNT(*) DESC LIMIT ?3",
    )?;
    let mut groups: Vec<FailureGroup> = stmt
        .query_map(
            params![
                DeliveryStatus::Pending,
                DeliveryStatus::Failed,
                limit as i64
            ],
            |r| {
                Ok(FailureGroup {
                    target_key: r.get(0)?,
                    endpoint_id: r.get(1)?,
                    url: r.get(2)?,
                    retrying: r.get(3)?,
                    failed: r.get(4)?,
                    last_attempt_at: r.get(5)?,
                    last_status_code: None,
                    last_error: None,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    let mut last = conn.prepare_cached(
        "SELECT last_status_code, last_error FROM webhook_deliveries
         WHERE target_key = ?1 AND last_attempt_at IS NOT NULL
           AND ((status = ?2 AND attempts > 0) OR status = ?3)
         ORDER BY last_attempt_at DESC LIMIT 1",
    )?;
    for g in &mut groups {
        let found = last
            .query_map(
                params![
                    g.target_key,
                    DeliveryStatus::Pending,
                    DeliveryStatus::Failed
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .next()
            .transpose()?;
        if let Some((code, error)) = found {
            g.last_status_code = code;
            g.last_error = error;
        }
    }
    Ok(groups)
}
