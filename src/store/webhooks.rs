//! The delivery log (deliveries per endpoint, one delivery with its payload and attempts)
//! and replay, for the admin pages.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;
use crate::domain::DeliveryStatus;

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: i64,
    /// The `webhook-id`.
    pub message_id: String,
    pub event_type: String,
    pub ordering_key: String,
    pub endpoint_id: Option<String>,
    /// The endpoint id, or `url:<webhook_url>` for a V2 calendar's own URL.
    pub target_key: String,
    /// The URL attempts go to (the endpoint's current URL, or a calendar's `webhook_url`).
    pub url: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// For a message waiting behind an older one of its pair (`outbox::WAITING`), its
    /// creation time: it goes as soon as the older one is settled.
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    /// An attempt is running right now.
    pub in_flight: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub id: i64,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DeliveryDetail {
    pub delivery: DeliveryRow,
    /// The exact JSON body sent.
    pub payload: String,
    /// Oldest first.
    pub attempts: Vec<AttemptRow>,
}

/// Filters for [`list_deliveries`]; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    /// Keyset pagination: only deliveries with a smaller id (the log is newest first).
    pub before_id: Option<i64>,
    /// Keyset pagination backwards: the `limit` deliveries just newer than this id (still
    /// returned newest first).
    pub after_id: Option<i64>,
    /// Only pending deliveries that already failed at least once (with `status` pending).
    pub retrying: bool,
    /// Search: the delivery's number, or text in its `webhook-id`, event type or target URL.
    pub search: Option<String>,
}

/// A delivery waiting behind an older one of its pair (`next_attempt_at` =
/// [`super::outbox::WAITING`], spelled out in SQL; a unit test keeps the two equal) shows its
/// creation time as its next attempt.
const COLUMNS: &str = "d.id, d.message_id, m.event_type, d.ordering_key, d.endpoint_id,
    d.target_key, COALESCE(e.url, d.target_url), d.status, d.attempts,
    CASE WHEN d.next_attempt_at = 9223372036854775807 THEN d.created_at ELSE d.next_attempt_at END,
    d.last_attempt_at, d.last_status_code, d.last_error, d.in_flight_since IS NOT NULL,
    d.created_at";

const FROM: &str = "FROM webhook_deliveries d
    JOIN webhook_messages m ON m.id = d.message_id
    LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id";

fn row(r: &rusqlite::Row) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        message_id: r.get(1)?,
        event_type: r.get(2)?,
        ordering_key: r.get(3)?,
        endpoint_id: r.get(4)?,
        target_key: r.get(5)?,
        url: r.get(6)?,
        status: r.get(7)?,
        attempts: r.get(8)?,
        next_attempt_at: r.get(9)?,
        last_attempt_at: r.get(10)?,
        last_status_code: r.get(11)?,
        last_error: r.get(12)?,
        in_flight: r.get(13)?,
        created_at: r.get(14)?,
    })
}

/// Deliveries newest first, at most `limit`.
pub fn list_deliveries(
    conn: &Connection,
    filter: &DeliveryFilter,
    limit: usize,
) -> Result<Vec<DeliveryRow>, StoreError> {
    // Going back (`after_id`) walks up from the position, then the page is turned around.
    let dir = if filter.after_id.is_some() {
        "ASC"
    } else {
        "DESC"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} {FROM}
         WHERE (?1 IS NULL OR d.endpoint_id = ?1)
           AND (?2 IS NULL OR d.status = ?2)
           AND (?3 IS NULL OR m.event_type = ?3)
           AND (?4 IS NULL OR d.id < ?4)
           AND (?6 IS NULL OR d.id > ?6)
           AND (?7 = 0 OR d.attempts > 0)
           AND (?8 IS NULL OR CAST(d.id AS TEXT) = ?8 OR d.message_id LIKE ?9 ESCAPE '\\'
                OR m.event_type LIKE ?9 ESCAPE '\\'
                OR COALESCE(e.url, d.target_url, '') LIKE ?9 ESCAPE '\\')
         ORDER BY d.id {dir} LIMIT ?5"
    ))?;
    let mut rows = stmt
        .query_map(
            params![
                filter.endpoint_id,
                filter.status,
                filter.event_type,
                filter.before_id,
                limit as i64,
                filter.after_id,
                filter.retrying,
                filter.search.as_deref().map(str::trim),
                filter.search.as_deref().map(super::search::like_pattern),
            ],
            row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    if filter.after_id.is_some() {
        rows.reverse();
    }
    Ok(rows)
}

/// The most recent failing deliveries (still retrying or given up), newest first.
pub fn recent_failures(conn: &Connection, limit: usize) -> Result<Vec<DeliveryRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} {FROM}
         WHERE d.status = ?2 OR (d.status = ?3 AND d.attempts > 0)
         ORDER BY COALESCE(d.last_attempt_at, d.updated_at) DESC, d.id DESC
         LIMIT ?1"
    ))?;
    let rows = stmt
        .query_map(
            params![
                limit as i64,
                DeliveryStatus::Failed,
                DeliveryStatus::Pending
            ],
            row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Deliveries of one endpoint (or all) by where they stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Pending, not attempted yet.
    pub pending: i64,
    /// Pending after at least one failed attempt (still retrying).
    pub retrying: i64,
    pub delivered: i64,
    /// Given up (retries exhausted or `410 Gone`).
    pub failed: i64,
}

/// Counts of deliveries by status for one endpoint (or all).
pub fn delivery_counts(
    conn: &Connection,
    endpoint_id: Option<&str>,
) -> Result<DeliveryCounts, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(status = ?2 AND attempts = 0), 0),
                COALESCE(SUM(status = ?2 AND attempts > 0), 0),
                COALESCE(SUM(status = ?3), 0), COALESCE(SUM(status = ?4), 0)
         FROM webhook_deliveries WHERE ?1 IS NULL OR endpoint_id = ?1",
        params![
            endpoint_id,
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed
        ],
        |r| {
            Ok(DeliveryCounts {
                pending: r.get(0)?,
                retrying: r.get(1)?,
                delivered: r.get(2)?,
                failed: r.get(3)?,
            })
        },
    )?)
}

/// One delivery with its payload and every attempt.
pub fn get_delivery(conn: &Connection, id: i64) -> Result<Option<DeliveryDetail>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {COLUMNS}, m.payload {FROM} WHERE d.id = ?1"),
            [id],
            |r| Ok((row(r)?, r.get::<_, String>(15)?)),
        )
        .optional()?;
    let Some((delivery, payload)) = found else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, attempted_at, status_code, latency_ms, response_body, error
         FROM webhook_attempts WHERE delivery_id = ?1 ORDER BY id",
    )?;
    let attempts = stmt
        .query_map([id], |r| {
            Ok(AttemptRow {
                id: r.get(0)?,
                attempted_at: r.get(1)?,
                status_code: r.get(2)?,
                latency_ms: r.get(3)?,
                response_body: r.get(4)?,
                error: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(DeliveryDetail {
        delivery,
        payload,
        attempts,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// A new attempt is due now (same message, same `webhook-id`).
    Scheduled,
    /// An attempt is running (its lease has not run out); its result is recorded first.
    InFlight,
    NotFound,
}

/// Schedules a new attempt of a delivery's message now, with a fresh retry schedule.
///
/// The delivery keeps its id and attempt history (the log shows the replay's attempts after
/// the earlier ones). Once pending again it is the oldest of its (target, key) pair, so
/// newer messages for the same pair wait for it, as ordering requires.
pub fn replay(conn: &Connection, id: i64, now_ms: i64) -> Result<ReplayOutcome, StoreError> {
    let in_flight: Option<bool> = conn
        .query_row(
            "SELECT in_flight_since IS NOT NULL AND next_attempt_at > ?2
             FROM webhook_deliveries WHERE id = ?1",
            params![id, now_ms],
            |r| r.get(0),
        )
        .optional()?;
    match in_flight {
        None => Ok(ReplayOutcome::NotFound),
        Some(true) => Ok(ReplayOutcome::InFlight),
        Some(false) => {
            conn.execute(
                "UPDATE webhook_deliveries SET status = ?3, attempts = 0,
                    next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1",
                params![id, now_ms, DeliveryStatus::Pending],
            )?;
            Ok(ReplayOutcome::Scheduled)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_waiting_time_in_sql_is_outbox_waiting() {
        assert!(super::COLUMNS.contains(&format!("= {} THEN", super::super::outbox::WAITING)));
    }
}
