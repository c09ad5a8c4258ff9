//! Push notifications (push.md): `push_channels` (Google channels and Graph subscriptions,
//! one row each) and `push_status` (per calendar: why it polls, when to subscribe again,
//! the last valid notification). The calendar's sync scheduling that push drives lives in
//! `store::sync` (`mark_due`, `pull_in`).
//!
//! A channel row is `pending` while the provider is asked to create it (so a notification
//! that overtakes the provider's answer is still recognised), `live` once it answered, and
//! `stopping` when it was replaced or its calendar went away; a `stopping` row of a deleted
//! or reconnected calendar carries the credentials to stop it with (`stop_with`, secrets
//! still sealed), and is deleted once the provider stopped it or gave up on it.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::calendars;
use super::StoreError;
use crate::domain::{CalendarKind, CalendarStatus, ChannelState, Platform, PushState};

/// A row of `push_channels` (the secret still sealed).
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: String,
    pub calendar_id: String,
    pub platform: Platform,
    pub state: ChannelState,
    /// Google channel id (= `id`) / Graph subscription id (None until Graph answered).
    pub external_id: Option<String>,
    /// Google `resourceId`.
    pub resource_id: Option<String>,
    /// Channel token / clientState, sealed.
    pub secret_enc: String,
    pub expires_at: Option<i64>,
    /// When the push sweep acts on this row next (renew, retry a stop, clean up).
    pub due_at: i64,
    /// Replace it instead of renewing (no notification for a day while changes happened;
    /// Graph removed it).
    pub recreate: bool,
    pub attempts: i64,
    /// JSON [`StopWith`] of a deleted or reconnected calendar.
    pub stop_with: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What is needed to stop a channel after its calendar went away: the calendar's OAuth
/// client and tokens at that moment, secrets sealed as they were stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopWith {
    pub kind: CalendarKind,
    pub platform: Platform,
    pub client_id: Option<String>,
    pub client_secret_enc: Option<String>,
    pub refresh_token_enc: Option<String>,
    pub access_token_enc: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub granted_scopes: Option<String>,
}

/// A row of `push_status`.
#[derive(Debug, Clone, Default)]
pub struct PushStatus {
    /// Why the calendar polls (refused with the provider's reason, failing).
    pub reason: Option<String>,
    /// When to try to subscribe again.
    pub retry_at: Option<i64>,
    pub failures: i64,
    pub last_notification_at: Option<i64>,
    /// The last notification that asked for a sync (a change, `missed`, ...).
    pub sync_requested_at: Option<i64>,
}

const COLUMNS: &str = "id, calendar_id, platform, state, external_id, resource_id, secret_enc, \
     expires_at, due_at, recreate, attempts, stop_with, created_at, updated_at";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: r.get(0)?,
        calendar_id: r.get(1)?,
        platform: r.get(2)?,
        state: r.get(3)?,
        external_id: r.get(4)?,
        resource_id: r.get(5)?,
        secret_enc: r.get(6)?,
        expires_at: r.get(7)?,
        due_at: r.get(8)?,
        recreate: r.get(9)?,
        attempts: r.get(10)?,
        stop_with: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

fn channels(
    conn: &Connection,
    where_clause: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Channel>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM push_channels WHERE {where_clause}"
    ))?;
    let rows = stmt.query_map(params, row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

// ------------------------------------------------------------------------------- channels

/// Records a channel about to be created (`pending`, acted on again at `c.due_at` if the
/// creation never finishes).
pub fn insert_pending(tx: &Transaction, c: &Channel) -> Result<(), StoreError> {
    tx.prepare_cached(&format!(
        "INSERT INTO push_channels ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
         ?11, ?12, ?13, ?14)"
    ))?
    .execute(params![
        c.id,
        c.calendar_id,
        c.platform,
        ChannelState::Pending,
        c.external_id,
        c.resource_id,
        c.secret_enc,
        c.expires_at,
        c.due_at,
        c.recreate,
        c.attempts,
        c.stop_with,
        c.created_at,
        c.updated_at,
    ])?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Channel>, StoreError> {
    Ok(channels(conn, "id = ?1", [id])?.into_iter().next())
}

/// A channel found by the provider's id, with whether its calendar exists and is connected.
pub fn find_external(
    conn: &Connection,
    platform: Platform,
    external_id: &str,
) -> Result<Option<(Channel, bool)>, StoreError> {
    Ok(find_externals(conn, platform, &[external_id])?.remove(external_id))
}

/// [`find_external`] for many provider ids in one query (a Graph notification batch),
/// keyed by provider id; unknown ids are absent.
pub fn find_externals(
    conn: &Connection,
    platform: Platform,
    external_ids: &[&str],
) -> Result<HashMap<String, (Channel, bool)>, StoreError> {
    if external_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = super::json_ids(external_ids);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, (SELECT c.status FROM calendars c
             WHERE c.id = push_channels.calendar_id)
         FROM push_channels
         WHERE platform = ?1 AND external_id IN (SELECT value FROM json_each(?2))"
    ))?;
    let rows = stmt.query_map(params![platform, ids], |r| {
        let status: Option<CalendarStatus> = r.get(14)?;
        Ok((row(r)?, status == Some(CalendarStatus::Connected)))
    })?;
    let mut found = HashMap::new();
    for r in rows {
        let (ch, connected) = r?;
        // (platform, external_id) is unique: one row per id.
        if let Some(id) = ch.external_id.clone() {
            found.insert(id, (ch, connected));
        }
    }
    Ok(found)
}

/// The provider created the channel: `live` (unless it was retired meanwhile, then it
/// stays `stopping`, due at once, now with the id to stop it by). Returns the state.
pub fn activate(
    tx: &Transaction,
    id: &str,
    external_id: &str,
    resource_id: Option<&str>,
    expires_at: i64,
    renew_at: i64,
    now_ms: i64,
) -> Result<Option<ChannelState>, StoreError> {
    Ok(tx
        .prepare_cached(
            "UPDATE push_channels SET external_id = ?2, resource_id = ?3, expires_at = ?4,
                state = CASE WHEN state = ?6 THEN ?7 ELSE state END,
                due_at = CASE WHEN state = ?6 THEN ?5 ELSE ?8 END, updated_at = ?8
             WHERE id = ?1 RETURNING state",
        )?
        .query_row(
            params![
                id,
                external_id,
                resource_id,
                expires_at,
                renew_at,
                ChannelState::Pending,
                ChannelState::Live,
                now_ms
            ],
            |r| r.get(0),
        )
        .optional()?)
}

/// A renewal (Graph PATCH) moved the expiry.
pub fn renewed(
    tx: &Transaction,
    id: &str,
    expires_at: i64,
    renew_at: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE push_channels SET expires_at = ?2, due_at = ?3, recreate = 0, updated_at = ?4
         WHERE id = ?1",
    )?
    .execute(params![id, expires_at, renew_at, now_ms])?;
    Ok(())
}

/// Acts on the row again at `due_at`; `recreate` marks it for replacement.
pub fn set_due(
    tx: &Transaction,
    id: &str,
    due_at: i64,
    recreate: bool,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE push_channels SET due_at = ?2, recreate = recreate OR ?3, updated_at = ?4
         WHERE id = ?1",
    )?
    .execute(params![id, due_at, recreate, now_ms])?;
    Ok(())
}

/// A stop attempt failed: try again at `due_at`.
pub fn stop_failed(tx: &Transaction, id: &str, due_at: i64, now_ms: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE push_channels SET attempts = attempts + 1, due_at = ?2, updated_at = ?3
         WHERE id = ?1",
    )?
    .execute(params![id, due_at, now_ms])?;
    Ok(())
}

pub fn delete(tx: &Transaction, id: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM push_channels WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// The channel must be stopped at the provider (replaced, push turned off, calendar gone):
/// `stopping`, due now. `stop_with` is set for calendars that are gone or reconnected.
pub fn retire(
    tx: &Transaction,
    id: &str,
    stop_with: Option<&StopWith>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let json = stop_with.map(|s| serde_json::to_string(s).unwrap_or_default());
    tx.prepare_cached(
        "UPDATE push_channels SET state = ?2, stop_with = COALESCE(?3, stop_with), due_at = ?4,
            updated_at = ?4
         WHERE id = ?1",
    )?
    .execute(params![id, ChannelState::Stopping, json, now_ms])?;
    Ok(())
}

/// Retires every pending or live channel of a calendar that is being deleted or whose
/// credentials are replaced, keeping what is needed to stop them. Call it in the
/// transaction of the change, before the row goes. Returns how many were retired.
pub fn retire_calendar(
    tx: &Transaction,
    calendar_id: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let active = active_of(tx, calendar_id)?;
    if active.is_empty() {
        return Ok(0);
    }
    let stop_with = calendars::get(tx, calendar_id)?.map(|c| StopWith {
        kind: c.kind,
        platform: c.platform,
        client_id: c.oauth_client_id,
        client_secret_enc: c.oauth_client_secret_enc,
        refresh_token_enc: c.oauth_refresh_token_enc,
        access_token_enc: c.access_token_enc,
        access_token_expires_at: c.access_token_expires_at,
        granted_scopes: c.granted_scopes,
    });
    for ch in &active {
        retire(tx, &ch.id, stop_with.as_ref(), now_ms)?;
    }
    Ok(active.len())
}

/// Pending and live channels of a calendar, newest first.
pub fn active_of(conn: &Connection, calendar_id: &str) -> Result<Vec<Channel>, StoreError> {
    channels(
        conn,
        "calendar_id = ?1 AND state IN (?2, ?3) ORDER BY created_at DESC, id",
        params![calendar_id, ChannelState::Pending, ChannelState::Live],
    )
}

/// Rows the push sweep must act on now (renewals, stops, stale creations), oldest first.
pub fn due(conn: &Connection, now_ms: i64, limit: usize) -> Result<Vec<Channel>, StoreError> {
    channels(
        conn,
        "due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
        params![now_ms, limit as i64],
    )
}

/// Pending and live channels whose calendar is gone or disconnected (to retire).
pub fn orphaned(conn: &Connection, limit: usize) -> Result<Vec<Channel>, StoreError> {
    channels(
        conn,
        "state IN (?1, ?2) AND NOT EXISTS (SELECT 1 FROM calendars c
             WHERE c.id = push_channels.calendar_id AND c.status != ?3)
         LIMIT ?4",
        params![
            ChannelState::Pending,
            ChannelState::Live,
            CalendarStatus::Disconnected,
            limit as i64
        ],
    )
}

/// Every pending or live channel (to retire when push is turned off).
pub fn all_active(conn: &Connection, limit: usize) -> Result<Vec<Channel>, StoreError> {
    channels(
        conn,
        "state IN (?1, ?2) LIMIT ?3",
        params![ChannelState::Pending, ChannelState::Live, limit as i64],
    )
}

/// Connected calendars that synced at least once, have no pending or live channel, and
/// may try to subscribe (never tried, or the retry time came): (id, platform).
pub fn calendars_needing_channel(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<(String, Platform)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.platform FROM calendars c
         LEFT JOIN push_status s ON s.calendar_id = c.id
         WHERE c.status = ?1 AND c.last_sync_at IS NOT NULL
           AND (s.retry_at IS NULL OR s.retry_at <= ?2)
           AND NOT EXISTS (SELECT 1 FROM push_channels p
                           WHERE p.calendar_id = c.id AND p.state IN (?3, ?4))
         ORDER BY c.created_at, c.id LIMIT ?5",
    )?;
    let rows = stmt
        .query_map(
            params![
                CalendarStatus::Connected,
                now_ms,
                ChannelState::Pending,
                ChannelState::Live,
                limit as i64
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// --------------------------------------------------------------------------------- status

pub fn status(conn: &Connection, calendar_id: &str) -> Result<PushStatus, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT reason, retry_at, failures, last_notification_at, sync_requested_at
             FROM push_status WHERE calendar_id = ?1",
        )?
        .query_row([calendar_id], |r| {
            Ok(PushStatus {
                reason: r.get(0)?,
                retry_at: r.get(1)?,
                failures: r.get(2)?,
                last_notification_at: r.get(3)?,
                sync_requested_at: r.get(4)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

fn ensure_status(tx: &Transaction, calendar_id: &str, now_ms: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO push_status (calendar_id, updated_at)
         SELECT id, ?2 FROM calendars WHERE id = ?1
         ON CONFLICT (calendar_id) DO NOTHING",
    )?
    .execute(params![calendar_id, now_ms])?;
    Ok(())
}

/// Subscribing failed or was refused: poll, with `reason`, and try again at `retry_at`.
/// Returns the failures in a row.
pub fn record_failure(
    tx: &Transaction,
    calendar_id: &str,
    reason: &str,
    retry_at: i64,
    now_ms: i64,
) -> Result<i64, StoreError> {
    ensure_status(tx, calendar_id, now_ms)?;
    Ok(tx
        .prepare_cached(
            "UPDATE push_status SET reason = ?2, retry_at = ?3, failures = failures + 1,
                updated_at = ?4
             WHERE calendar_id = ?1 RETURNING failures",
        )?
        .query_row(params![calendar_id, reason, retry_at, now_ms], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// A channel is live: no reason to poll, no failures.
pub fn record_success(tx: &Transaction, calendar_id: &str, now_ms: i64) -> Result<(), StoreError> {
    ensure_status(tx, calendar_id, now_ms)?;
    tx.prepare_cached(
        "UPDATE push_status SET reason = NULL, retry_at = NULL, failures = 0, updated_at = ?2
         WHERE calendar_id = ?1",
    )?
    .execute(params![calendar_id, now_ms])?;
    Ok(())
}

/// A valid notification arrived for the calendar.
pub fn record_notification(
    tx: &Transaction,
    calendar_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    ensure_status(tx, calendar_id, now_ms)?;
    tx.prepare_cached("UPDATE push_status SET last_notification_at = ?2 WHERE calendar_id = ?1")?
        .execute(params![calendar_id, now_ms])?;
    Ok(())
}

/// A valid notification asked the calendar to sync. Returns when the one before did.
pub fn request_sync(
    tx: &Transaction,
    calendar_id: &str,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let previous = status(tx, calendar_id)?.sync_requested_at;
    ensure_status(tx, calendar_id, now_ms)?;
    tx.prepare_cached("UPDATE push_status SET sync_requested_at = ?2 WHERE calendar_id = ?1")?
        .execute(params![calendar_id, now_ms])?;
    Ok(previous)
}

// ------------------------------------------------------------------------ sync's questions

/// What a sync needs to know about the calendar's push.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncView {
    /// A live channel that has not expired: the safety-poll interval applies.
    pub live: bool,
    /// The last notification that asked for a sync.
    pub sync_requested_at: Option<i64>,
    /// The last valid notification (for [`flag_if_broken`]).
    pub last_notification_at: Option<i64>,
    /// No pending or live channel and allowed to try: the push sweep should subscribe.
    pub needs_channel: bool,
}

pub fn sync_view(
    conn: &Connection,
    calendar_id: &str,
    now_ms: i64,
) -> Result<SyncView, StoreError> {
    let active = active_of(conn, calendar_id)?;
    let status = status(conn, calendar_id)?;
    Ok(SyncView {
        live: active
            .iter()
            .any(|c| c.state == ChannelState::Live && c.expires_at.is_some_and(|e| e > now_ms)),
        sync_requested_at: status.sync_requested_at,
        last_notification_at: status.last_notification_at,
        needs_channel: active.is_empty() && status.retry_at.is_none_or(|t| t <= now_ms),
    })
}

/// A sync found changes: when the calendar's live channel has had no notification for
/// `quiet_ms` (and is older than that), it is treated as broken and marked for
/// replacement, due now. Returns true when it did so. `view`: read earlier in the same
/// transaction (its `last_notification_at`, not read again).
pub fn flag_if_broken(
    tx: &Transaction,
    calendar_id: &str,
    view: &SyncView,
    now_ms: i64,
    quiet_ms: i64,
) -> Result<bool, StoreError> {
    let last = view.last_notification_at.unwrap_or(0);
    let n = tx
        .prepare_cached(
            "UPDATE push_channels SET recreate = 1, due_at = ?2, updated_at = ?2
             WHERE calendar_id = ?1 AND state = ?3 AND recreate = 0
               AND created_at < ?4 AND ?5 < ?4",
        )?
        .execute(params![
            calendar_id,
            now_ms,
            ChannelState::Live,
            now_ms - quiet_ms,
            last
        ])?;
    Ok(n > 0)
}

// --------------------------------------------------------------------------------- admin

/// A calendar's push state for the admin: state, its live or pending channel, status.
#[derive(Debug, Clone)]
pub struct CalendarPush {
    pub state: PushState,
    pub channel: Option<Channel>,
    pub status: PushStatus,
}

/// The push state of one calendar (`enabled`: push is on in the settings).
pub fn calendar_push(
    conn: &Connection,
    calendar_id: &str,
    enabled: bool,
    now_ms: i64,
) -> Result<CalendarPush, StoreError> {
    let active = active_of(conn, calendar_id)?;
    let status = status(conn, calendar_id)?;
    let live = active
        .iter()
        .find(|c| c.state == ChannelState::Live && c.expires_at.is_some_and(|e| e > now_ms));
    let pending = active.iter().find(|c| c.state == ChannelState::Pending);
    let state = if !enabled {
        PushState::Polling
    } else if live.is_some() {
        PushState::Live
    } else if pending.is_some() || status.reason.is_none() {
        // Being created, or not tried yet (it will be after the calendar's first sync).
        PushState::Pending
    } else {
        PushState::Polling
    };
    Ok(CalendarPush {
        state,
        channel: live.or(pending).cloned(),
        status,
    })
}

/// Connected calendars by push state (`enabled`: push is on in the settings).
pub fn count_by_state(
    conn: &Connection,
    enabled: bool,
    now_ms: i64,
) -> Result<Vec<(PushState, i64)>, StoreError> {
    let (total, live, pending): (i64, i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*),
                COALESCE(SUM(EXISTS (SELECT 1 FROM push_channels p WHERE p.calendar_id = c.id
                    AND p.state = ?2 AND p.expires_at > ?3)), 0),
                COALESCE(SUM(NOT EXISTS (SELECT 1 FROM push_channels p
                    WHERE p.calendar_id = c.id AND p.state = ?2 AND p.expires_at > ?3)
                  AND (EXISTS (SELECT 1 FROM push_channels p WHERE p.calendar_id = c.id
                        AND p.state = ?4)
                    OR NOT EXISTS (SELECT 1 FROM push_status s WHERE s.calendar_id = c.id
                        AND s.reason IS NOT NULL))), 0)
             FROM calendars c WHERE c.status = ?1",
        )?
        .query_row(
            params![
                CalendarStatus::Connected,
                ChannelState::Live,
                now_ms,
                ChannelState::Pending
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
    if !enabled {
        return Ok(vec![
            (PushState::Live, 0),
            (PushState::Pending, 0),
            (PushState::Polling, total),
        ]);
    }
    Ok(vec![
        (PushState::Live, live),
        (PushState::Pending, pending),
        (PushState::Polling, total - live - pending),
    ])
}
