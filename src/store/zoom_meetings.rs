//! Zoom meeting sync: each credential's sync state and the map of which credential can mint
//! tokens for which Zoom meeting (`zoom_meetings`).

use std::collections::BTreeSet;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::StoreError;
use crate::domain::{ZoomCredentialStatus, ZoomMeetingSyncStatus};

/// A row of the meeting map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingLink {
    pub meeting_id: i64,
    pub credential_id: String,
    pub synced_at: i64,
}

/// Healthy credentials whose meeting sync is due at `now_ms` (oldest due first).
pub fn due(conn: &Connection, now_ms: i64, limit: usize) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM zoom_oauth_credentials
         WHERE status = ?1 AND next_meeting_sync_at IS NOT NULL AND next_meeting_sync_at <= ?2
         ORDER BY next_meeting_sync_at, id LIMIT ?3",
    )?;
    let ids = stmt
        .query_map(
            params![ZoomCredentialStatus::Healthy, now_ms, limit as i64],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Whether the credential's meeting sync is due (it exists, is healthy, and is due).
pub fn is_due(conn: &Connection, id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let next: Option<Option<i64>> = conn
        .query_row(
            "SELECT next_meeting_sync_at FROM zoom_oauth_credentials
             WHERE id = ?1 AND status = ?2",
            params![id, ZoomCredentialStatus::Healthy],
            |r| r.get(0),
        )
        .optional()?;
    Ok(matches!(next, Some(Some(t)) if t <= now_ms))
}

/// Asks for a meeting sync at `at_ms` (now: "sync now"); `status` too when given.
pub fn schedule(
    conn: &Connection,
    id: &str,
    at_ms: i64,
    status: Option<ZoomMeetingSyncStatus>,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE zoom_oauth_credentials
         SET next_meeting_sync_at = ?2, meeting_sync_status = COALESCE(?3, meeting_sync_status)
         WHERE id = ?1",
        params![id, at_ms, status],
    )?;
    Ok(n > 0)
}

/// Sets the sync status only.
pub fn set_status(
    conn: &Connection,
    id: &str,
    status: ZoomMeetingSyncStatus,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE zoom_oauth_credentials SET meeting_sync_status = ?2 WHERE id = ?1",
        params![id, status],
    )?;
    Ok(())
}

/// Healthy credentials of an app, optionally only those of a Zoom account.
pub fn app_credentials(
    conn: &Connection,
    app_id: &str,
    account_id: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM zoom_oauth_credentials
         WHERE oauth_app_id = ?1 AND status = ?2 AND (?3 IS NULL OR account_id = ?3)
         ORDER BY created_at, id",
    )?;
    let ids = stmt
        .query_map(
            params![app_id, ZoomCredentialStatus::Healthy, account_id],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Stores a finished sync: the credential's meetings become exactly `meetings`, the status
/// `completed` and the next sync `next_ms`. False (nothing written) when the credential
/// is gone.
pub fn save_sync(
    conn: &Connection,
    id: &str,
    meetings: &BTreeSet<i64>,
    now_ms: i64,
    next_ms: i64,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE zoom_oauth_credentials
         SET meeting_sync_status = ?2, last_meeting_sync_at = ?3, next_meeting_sync_at = ?4
         WHERE id = ?1",
        params![id, ZoomMeetingSyncStatus::Completed, now_ms, next_ms],
    )?;
    if n == 0 {
        return Ok(false);
    }
    let existing: BTreeSet<i64> = conn
        .prepare_cached("SELECT meeting_id FROM zoom_meetings WHERE credential_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut delete = conn
        .prepare_cached("DELETE FROM zoom_meetings WHERE credential_id = ?1 AND meeting_id = ?2")?;
    for gone in existing.difference(meetings) {
        delete.execute(params![id, gone])?;
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO zoom_meetings (meeting_id, credential_id, synced_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (meeting_id, credential_id) DO UPDATE SET synced_at = excluded.synced_at",
    )?;
    for m in meetings {
        upsert.execute(params![m, id, now_ms])?;
    }
    Ok(true)
}

/// Records a failed sync (the map is kept as it was) and when to try again.
pub fn fail_sync(conn: &Connection, id: &str, next_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE zoom_oauth_credentials
         SET meeting_sync_status = ?2, next_meeting_sync_at = ?3 WHERE id = ?1",
        params![id, ZoomMeetingSyncStatus::Failed, next_ms],
    )?;
    Ok(())
}

/// Filters of `GET /api/v2/zoom-meetings-to-credentials/`.
#[derive(Debug, Clone, Default)]
pub struct MapFilter {
    pub credential: Option<String>,
    pub meeting_id: Option<i64>,
    pub synced_after: Option<i64>,
    pub synced_before: Option<i64>,
}

/// Rows ordered by (meeting_id, credential_id), `limit` from `after` in its direction.
pub fn list(
    conn: &Connection,
    filter: &MapFilter,
    after: Option<(i64, String)>,
    backwards: bool,
    limit: usize,
) -> Result<Vec<MeetingLink>, StoreError> {
    let mut conds: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if let Some(c) = &filter.credential {
        conds.push("credential_id = ?".into());
        values.push(Value::Text(c.clone()));
    }
    if let Some(m) = filter.meeting_id {
        conds.push("meeting_id = ?".into());
        values.push(Value::Integer(m));
    }
    if let Some(t) = filter.synced_after {
        conds.push("synced_at >= ?".into());
        values.push(Value::Integer(t));
    }
    if let Some(t) = filter.synced_before {
        conds.push("synced_at <= ?".into());
        values.push(Value::Integer(t));
    }
    if let Some((m, c)) = after {
        let op = if backwards { "<" } else { ">" };
        conds.push(format!("(meeting_id, credential_id) {op} (?, ?)"));
        values.push(Value::Integer(m));
        values.push(Value::Text(c));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let dir = if backwards { "DESC" } else { "ASC" };
    values.push(Value::Integer(limit as i64));
    let sql = format!(
        "SELECT meeting_id, credential_id, synced_at FROM zoom_meetings{filter}
         ORDER BY meeting_id {dir}, credential_id {dir} LIMIT ?"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(values), |r| {
            Ok(MeetingLink {
                meeting_id: r.get(0)?,
                credential_id: r.get(1)?,
                synced_at: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The healthy credentials whose sync found the meeting, most recently synced first.
pub fn credentials_for_meeting(
    conn: &Connection,
    meeting_id: i64,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.credential_id FROM zoom_meetings m
         JOIN zoom_oauth_credentials c ON c.id = m.credential_id
         WHERE m.meeting_id = ?1 AND c.status = ?2
         ORDER BY m.synced_at DESC, m.credential_id",
    )?;
    let ids = stmt
        .query_map(params![meeting_id, ZoomCredentialStatus::Healthy], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}
