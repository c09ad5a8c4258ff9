//! Counts and recent failures for the admin overview page.

use rusqlite::{params, Connection};

use super::StoreError;

/// Calendars per status, every status listed (zero when none).
pub fn calendars_by_status(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM calendars GROUP BY status")?;
    let counted: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(["connected", "connecting", "disconnected"]
        .iter()
        .map(|s| {
            let n = counted.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
            (s.to_string(), n)
        })
        .collect())
}

/// Zoom OAuth credentials per status (`healthy`, `unhealthy`) and the number of apps.
pub fn zoom_counts(conn: &Connection) -> Result<(i64, i64, i64), StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM zoom_oauth_credentials WHERE status = 'healthy'),
                (SELECT COUNT(*) FROM zoom_oauth_credentials WHERE status = 'unhealthy'),
                (SELECT COUNT(*) FROM zoom_oauth_apps)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

pub fn count_calendar_users(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM calendar_users", [], |r| r.get(0))?)
}

/// A webhook delivery whose last attempt failed.
#[derive(Debug, Clone)]
pub struct WebhookFailure {
    pub event_type: String,
    pub target: String,
    /// `pending` (will retry) or `failed` (gave up).
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<i64>,
}

/// The most recent failing deliveries (still retrying or given up), newest first.
pub fn recent_webhook_failures(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<WebhookFailure>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.event_type, COALESCE(e.url, d.target_url, d.target_key), d.status, d.attempts,
                d.last_status_code, d.last_error, d.last_attempt_at
         FROM webhook_deliveries d
         JOIN webhook_messages m ON m.id = d.message_id
         LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'failed' OR (d.status = 'pending' AND d.attempts > 0)
         ORDER BY COALESCE(d.last_attempt_at, d.updated_at) DESC, d.id DESC
         LIMIT ?1",
    )?;
    let rows = stmt
        .query_map(params![limit as i64], |r| {
            Ok(WebhookFailure {
                event_type: r.get(0)?,
                target: r.get(1)?,
                status: r.get(2)?,
                attempts: r.get(3)?,
                last_status_code: r.get(4)?,
                last_error: r.get(5)?,
                last_attempt_at: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
