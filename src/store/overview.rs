//! Counts and recent failures for the admin overview page.

use rusqlite::{params, Connection};

use super::StoreError;
use crate::domain::{DeliveryStatus, ZoomCredentialStatus};

/// Zoom OAuth credentials per status (`healthy`, `unhealthy`) and the number of apps.
pub fn zoom_counts(conn: &Connection) -> Result<(i64, i64, i64), StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM zoom_oauth_credentials WHERE status = ?1),
                (SELECT COUNT(*) FROM zoom_oauth_credentials WHERE status = ?2),
                (SELECT COUNT(*) FROM zoom_oauth_apps)",
        (
            ZoomCredentialStatus::Healthy,
            ZoomCredentialStatus::Unhealthy,
        ),
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
    /// Pending (will retry) or failed (gave up).
    pub status: DeliveryStatus,
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
         WHERE d.status = ?2 OR (d.status = ?3 AND d.attempts > 0)
         ORDER BY COALESCE(d.last_attempt_at, d.updated_at) DESC, d.id DESC
         LIMIT ?1",
    )?;
    let rows = stmt
        .query_map(
            params![
                limit as i64,
                DeliveryStatus::Failed,
                DeliveryStatus::Pending
            ],
            |r| {
                Ok(WebhookFailure {
                    event_type: r.get(0)?,
                    target: r.get(1)?,
                    status: r.get(2)?,
                    attempts: r.get(3)?,
                    last_status_code: r.get(4)?,
                    last_error: r.get(5)?,
                    last_attempt_at: r.get(6)?,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
