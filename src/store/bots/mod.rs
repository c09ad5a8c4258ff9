//! Managed bots: one live bot per deduplication key, the events linked to it, its state
//! history and the durable queue of bot-backend operations. Plain SQL only; the rules live
//! in `crate::scheduling`.
//!
//! One row type per table, each with one column list and one row mapper: [`Bot`] (`bots`,
//! here), [`Link`] (`bot_event_links`, `links`), [`HistoryEntry`] (`bot_history`,
//! `history`) and [`Op`] (`bot_operations`, `ops`). States are the `domain` enums, read and
//! written through their `ToSql`/`FromSql`. Everything is re-exported here, so callers use
//! `store::bots::*`.

mod history;
mod links;
mod ops;

pub use history::{add_history, history, HistoryEntry};
pub use links::{
    clear_changed_links, delete_link, drifted_links, drifted_links_plan, link_count,
    link_for_event, linked_event_ids, live_linked_events_of_calendar, update_link_snapshot,
    upsert_link, Drift, Link,
};
pub use ops::{
    backend_may_have_bot, claim_due_ops, finish_op, get_op, has_later_ops, insert_op,
    next_retry_at, ops_for_bot, retry_op_at, supersede_unsent_ops, Op,
};

use rusqlite::{params, Connection, OptionalExtension, Params, Row};
use serde_json::{json, Value};

use super::{ms_to_rfc3339, StoreError};
use crate::domain::{BotMode, BotStatus};

/// Runs `sql` and maps every row it returns.
fn query_all<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    row: impl FnMut(&Row) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------
// Events (as scheduling reads them)

/// The fields of a calendar event that scheduling needs (and the event JSON shows).
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: String,
    pub calendar_id: String,
    pub calendar_user_id: Option<String>,
    /// `google_calendar` | `microsoft_outlook`
    pub platform: String,
    pub platform_id: String,
    pub ical_uid: Option<String>,
    pub start_time: i64,
    pub end_time: i64,
    pub meeting_platform: Option<String>,
    pub meeting_url: Option<String>,
    pub is_deleted: bool,
    pub raw: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn get_event(conn: &Connection, id: &str) -> Result<Option<EventRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT e.id, e.calendar_id, c.calendar_user_id, c.platform, e.platform_id,
                    e.ical_uid, e.start_time, e.end_time, e.meeting_platform, e.meeting_url,
                    e.is_deleted, e.raw, e.created_at, e.updated_at
             FROM calendar_events e JOIN calendars c ON c.id = e.calendar_id
             WHERE e.id = ?1",
            [id],
            |r| {
                Ok(EventRow {
                    id: r.get(0)?,
                    calendar_id: r.get(1)?,
                    calendar_user_id: r.get(2)?,
                    platform: r.get(3)?,
                    platform_id: r.get(4)?,
                    ical_uid: r.get(5)?,
                    start_time: r.get(6)?,
                    end_time: r.get(7)?,
                    meeting_platform: r.get(8)?,
                    meeting_url: r.get(9)?,
                    is_deleted: r.get(10)?,
                    raw: r.get(11)?,
                    created_at: r.get(12)?,
                    updated_at: r.get(13)?,
                })
            },
        )
        .optional()?)
}

/// An event's API-visible fields changed (its `bots`): bump `updated_at` for the change feed.
pub fn touch_event(conn: &Connection, event_id: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE calendar_events SET updated_at = MAX(updated_at, ?2) WHERE id = ?1",
        params![event_id, now_ms],
    )?;
    Ok(())
}

pub fn touch_events_of_bot(conn: &Connection, bot_id: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE calendar_events SET updated_at = MAX(updated_at, ?2)
         WHERE id IN (SELECT event_id FROM bot_event_links WHERE bot_id = ?1)",
        params![bot_id, now_ms],
    )?;
    Ok(())
}

/// The stored preferences JSON of a V1 calendar user.
pub fn user_preferences(conn: &Connection, user_id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT preferences FROM calendar_users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?)
}

// ---------------------------------------------------------------------------------------
// Bots

#[derive(Debug, Clone)]
pub struct Bot {
    pub id: String,
    pub dedup_key: String,
    /// Local (Convene id + webhooks) or backend (created at the bot backend).
    pub mode: BotMode,
    pub meeting_url: String,
    pub join_at: i64,
    pub bot_name: String,
    pub config: String,
    pub status: BotStatus,
    pub active: bool,
    pub version: i64,
    pub backend_id: Option<String>,
    pub backend_version: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const BOT_COLUMNS: &str = "id, dedup_key, mode, meeting_url, join_at, bot_name, config, status,
    active, version, backend_id, backend_version, last_error, created_at, updated_at";

fn bot_row(r: &Row) -> rusqlite::Result<Bot> {
    Ok(Bot {
        id: r.get(0)?,
        dedup_key: r.get(1)?,
        mode: r.get(2)?,
        meeting_url: r.get(3)?,
        join_at: r.get(4)?,
        bot_name: r.get(5)?,
        config: r.get(6)?,
        status: r.get(7)?,
        active: r.get(8)?,
        version: r.get(9)?,
        backend_id: r.get(10)?,
        backend_version: r.get(11)?,
        last_error: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

/// The bot matching `filter` (an SQL condition on `bots` with one parameter), if any.
fn one_bot(conn: &Connection, filter: &str, arg: &str) -> Result<Option<Bot>, StoreError> {
    let sql = format!("SELECT {BOT_COLUMNS} FROM bots WHERE {filter}");
    Ok(conn.query_row(&sql, [arg], bot_row).optional()?)
}

/// The bots of `SELECT … FROM bots {rest}`.
fn bots_where(conn: &Connection, rest: &str, params: impl Params) -> Result<Vec<Bot>, StoreError> {
    query_all(
        conn,
        &format!("SELECT {BOT_COLUMNS} FROM bots {rest}"),
        params,
        bot_row,
    )
}

pub fn get_bot(conn: &Connection, id: &str) -> Result<Option<Bot>, StoreError> {
    one_bot(conn, "id = ?1", id)
}

/// The live bot (dedup target) for a normalised key, if any.
pub fn live_bot_for_key(conn: &Connection, key: &str) -> Result<Option<Bot>, StoreError> {
    one_bot(conn, "dedup_key = ?1 AND active = 1", key)
}

/// Every bot ever made for a key, live or not, oldest first.
pub fn bots_for_key(conn: &Connection, key: &str) -> Result<Vec<Bot>, StoreError> {
    bots_where(conn, "WHERE dedup_key = ?1 ORDER BY created_at, id", [key])
}

/// Upcoming (live) and failed bots for the admin page: failures first, then by join time.
pub fn upcoming_bots(conn: &Connection, limit: i64) -> Result<Vec<Bot>, StoreError> {
    bots_where(
        conn,
        "WHERE active = 1 OR status = ?2 ORDER BY (status = ?2) DESC, join_at, id LIMIT ?1",
        params![limit, BotStatus::Failed],
    )
}

/// Bots whose last backend call failed (for the admin overview).
pub fn failed_bot_count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM bots WHERE status = ?1",
        [BotStatus::Failed],
        |r| r.get(0),
    )?)
}

pub struct NewBot<'a> {
    pub id: &'a str,
    pub dedup_key: &'a str,
    pub mode: BotMode,
    pub meeting_url: &'a str,
    pub join_at: i64,
    pub bot_name: &'a str,
    pub config: &'a str,
    pub status: BotStatus,
}

pub fn insert_bot(conn: &Connection, b: &NewBot, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO bots (id, dedup_key, mode, meeting_url, join_at, bot_name, config, status,
                           active, version, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, 1, ?9, ?9)",
        params![
            b.id,
            b.dedup_key,
            b.mode,
            b.meeting_url,
            b.join_at,
            b.bot_name,
            b.config,
            b.status,
            now_ms
        ],
    )?;
    Ok(())
}

/// Sets what the bot should be and bumps its version; returns the new version.
pub fn set_desired(
    conn: &Connection,
    id: &str,
    meeting_url: &str,
    join_at: i64,
    bot_name: &str,
    config: &str,
    now_ms: i64,
) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "UPDATE bots SET meeting_url = ?2, join_at = ?3, bot_name = ?4, config = ?5,
                         version = version + 1, updated_at = ?6
         WHERE id = ?1 RETURNING version",
        params![id, meeting_url, join_at, bot_name, config, now_ms],
        |r| r.get(0),
    )?)
}

/// The bot is no longer wanted: not a dedup target any more; returns the new version.
pub fn set_cancelled_desired(conn: &Connection, id: &str, now_ms: i64) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "UPDATE bots SET active = 0, version = version + 1, updated_at = ?2
         WHERE id = ?1 RETURNING version",
        params![id, now_ms],
        |r| r.get(0),
    )?)
}

pub fn set_status(
    conn: &Connection,
    id: &str,
    status: BotStatus,
    last_error: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bots SET status = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, status, last_error, now_ms],
    )?;
    Ok(())
}

pub fn set_backend(
    conn: &Connection,
    id: &str,
    backend_id: Option<&str>,
    backend_version: Option<i64>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bots SET backend_id = ?2, backend_version = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, backend_id, backend_version, now_ms],
    )?;
    Ok(())
}

/// Live bots whose join time has come: they stop being dedup targets (keys apply to future
/// bots only). Returns (id, version, status) of each.
pub fn retire_started(
    conn: &Connection,
    now_ms: i64,
) -> Result<Vec<(String, i64, BotStatus)>, StoreError> {
    query_all(
        conn,
        "UPDATE bots SET active = 0, updated_at = ?1 WHERE active = 1 AND join_at <= ?1
         RETURNING id, version, status",
        [now_ms],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Live bots no event uses any more (their events vanished with a calendar or user).
pub fn orphan_live_bots(conn: &Connection) -> Result<Vec<String>, StoreError> {
    query_all(
        conn,
        "SELECT b.id FROM bots b WHERE b.active = 1
           AND NOT EXISTS (SELECT 1 FROM bot_event_links l WHERE l.bot_id = b.id)",
        [],
        |r| r.get(0),
    )
}

// ---------------------------------------------------------------------------------------
// JSON

/// How many history entries the event JSON shows per bot.
const HISTORY_SHOWN: i64 = 20;

/// The `bots` list of a CalendarEvent: `[{bot_id, start_time, deduplication_key,
/// meeting_url}]` plus `status`, `last_error`, `next_retry_at`, `backend_bot_id`, `history`.
pub fn bots_json_for_event(conn: &Connection, event_id: &str) -> Result<Vec<Value>, StoreError> {
    Ok(bots_json_for_events(conn, &[event_id])?
        .remove(event_id)
        .unwrap_or_default())
}

/// [`bots_json_for_event`] for a page of events, in three queries whatever the page size
/// (links with their bots, the bots' recent history, the failed ones' next retry). Events
/// without a bot are absent from the map.
pub fn bots_json_for_events(
    conn: &Connection,
    event_ids: &[&str],
) -> Result<std::collections::HashMap<String, Vec<Value>>, StoreError> {
    let mut out = std::collections::HashMap::new();
    if event_ids.is_empty() {
        return Ok(out);
    }
    let ids = super::json_ids(event_ids);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {BOT_COLUMNS}, l.e_id FROM bots
         JOIN (SELECT event_id AS e_id, bot_id AS b_id FROM bot_event_links
               WHERE event_id IN (SELECT value FROM json_each(?1))) l ON l.b_id = bots.id"
    ))?;
    let linked: Vec<(String, Bot)> = stmt
        .query_map([ids], |r| Ok((r.get::<_, String>(15)?, bot_row(r)?)))?
        .collect::<Result<_, _>>()?;
    let bot_ids: Vec<&str> = linked.iter().map(|(_, b)| b.id.as_str()).collect();
    let histories = history::history_of_bots(conn, &bot_ids, HISTORY_SHOWN)?;
    let failed: Vec<&str> = linked
        .iter()
        .filter(|(_, b)| b.status == BotStatus::Failed)
        .map(|(_, b)| b.id.as_str())
        .collect();
    let retries = if failed.is_empty() {
        Default::default()
    } else {
        ops::next_retry_of_bots(conn, &failed)?
    };
    for (event_id, bot) in &linked {
        let history: Vec<Value> = histories
            .get(&bot.id)
            .map(|h| h.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|h| {
                json!({
                    "status": h.status,
                    "note": h.note,
                    "version": h.version,
                    "event_id": h.event_id,
                    "created_at": ms_to_rfc3339(h.created_at),
                })
            })
            .collect();
        let retry = retries.get(&bot.id).copied().map(ms_to_rfc3339);
        out.insert(
            event_id.clone(),
            vec![json!({
                "bot_id": bot.id,
                "start_time": ms_to_rfc3339(bot.join_at),
                "deduplication_key": bot.dedup_key,
                "meeting_url": bot.meeting_url,
                "bot_name": bot.bot_name,
                "status": bot.status,
                "last_error": bot.last_error,
                "next_retry_at": retry,
                "backend_bot_id": bot.backend_id,
                "history": history,
            })],
        );
    }
    Ok(out)
}
