//! `bot_event_links`: which event uses which bot (at most one bot per event), with the
//! event's own config and the snapshot of the event its bot was scheduled from.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::query_all;
use crate::domain::LinkSource;
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct Link {
    pub event_id: String,
    pub bot_id: String,
    /// The V2 endpoint or V1 auto-recording (`will_record`).
    pub source: LinkSource,
    pub bot_config: String,
    pub explicit_url: bool,
    pub join_offset_ms: Option<i64>,
    pub event_start_time: i64,
    pub event_meeting_url: Option<String>,
}

/// The columns of [`Link`], read by [`link_row`] (from column 0; 8 columns).
const LINK_COLUMNS: &str = "l.event_id, l.bot_id, l.source, l.bot_config, l.explicit_url,
    l.join_offset_ms, l.event_start_time, l.event_meeting_url";

fn link_row(r: &Row) -> rusqlite::Result<Link> {
    Ok(Link {
        event_id: r.get(0)?,
        bot_id: r.get(1)?,
        source: r.get(2)?,
        bot_config: r.get(3)?,
        explicit_url: r.get(4)?,
        join_offset_ms: r.get(5)?,
        event_start_time: r.get(6)?,
        event_meeting_url: r.get(7)?,
    })
}

pub fn link_for_event(conn: &Connection, event_id: &str) -> Result<Option<Link>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {LINK_COLUMNS} FROM bot_event_links l WHERE l.event_id = ?1"),
            [event_id],
            link_row,
        )
        .optional()?)
}

/// Links the event to a bot, replacing any previous link of that event.
pub fn upsert_link(conn: &Connection, link: &Link, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO bot_event_links (event_id, bot_id, source, bot_config, explicit_url,
             join_offset_ms, event_start_time, event_meeting_url, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
         ON CONFLICT (event_id) DO UPDATE SET bot_id = excluded.bot_id,
             source = excluded.source, bot_config = excluded.bot_config,
             explicit_url = excluded.explicit_url, join_offset_ms = excluded.join_offset_ms,
             event_start_time = excluded.event_start_time,
             event_meeting_url = excluded.event_meeting_url, updated_at = excluded.updated_at",
        params![
            link.event_id,
            link.bot_id,
            link.source,
            link.bot_config,
            link.explicit_url,
            link.join_offset_ms,
            link.event_start_time,
            link.event_meeting_url,
            now_ms
        ],
    )?;
    Ok(())
}

pub fn delete_link(conn: &Connection, event_id: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM bot_event_links WHERE event_id = ?1",
        [event_id],
    )?;
    Ok(())
}

pub fn update_link_snapshot(
    conn: &Connection,
    event_id: &str,
    start_time: i64,
    meeting_url: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bot_event_links SET event_start_time = ?2, event_meeting_url = ?3,
             updated_at = ?4 WHERE event_id = ?1",
        params![event_id, start_time, meeting_url, now_ms],
    )?;
    Ok(())
}

pub fn link_count(conn: &Connection, bot_id: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM bot_event_links WHERE bot_id = ?1",
        [bot_id],
        |r| r.get(0),
    )?)
}

pub fn linked_event_ids(conn: &Connection, bot_id: &str) -> Result<Vec<String>, StoreError> {
    query_all(
        conn,
        "SELECT event_id FROM bot_event_links WHERE bot_id = ?1 ORDER BY event_id",
        [bot_id],
        |r| r.get(0),
    )
}

/// Events of a calendar linked to a live bot.
pub fn live_linked_events_of_calendar(
    conn: &Connection,
    calendar_id: &str,
) -> Result<Vec<String>, StoreError> {
    query_all(
        conn,
        "SELECT l.event_id FROM bot_event_links l
         JOIN calendar_events e ON e.id = l.event_id
         JOIN bots b ON b.id = l.bot_id
         WHERE e.calendar_id = ?1 AND b.active = 1 ORDER BY l.event_id",
        [calendar_id],
        |r| r.get(0),
    )
}

/// A link whose event no longer matches what its bot was scheduled from.
#[derive(Debug, Clone)]
pub struct Drift {
    pub link: Link,
    pub event_start_time: i64,
    pub event_end_time: i64,
    pub event_meeting_url: Option<String>,
    pub event_is_deleted: bool,
}

/// The drift query, in two indexed halves so that it never reads every link ever made: the
/// links of live bots (`bots_active_join`, then `bot_event_links_bot`), and the links whose
/// event changed since the reconcile last looked (`event_changed`, set by the trigger
/// `calendar_events_flag_links`, cleared by [`clear_changed_links`]) and now starts in the
/// future. Parameters: now, limit.
fn drifted_links_sql() -> String {
    // The event's columns follow the link's.
    let drift = "(e.is_deleted = 1 OR e.start_time != l.event_start_time
                  OR IFNULL(e.meeting_url, '') != IFNULL(l.event_meeting_url, ''))";
    format!(
        "SELECT {LINK_COLUMNS}, e.start_time, e.end_time, e.meeting_url, e.is_deleted
         FROM bots b
         JOIN bot_event_links l ON l.bot_id = b.id
         JOIN calendar_events e ON e.id = l.event_id
         WHERE b.active = 1 AND {drift}
         UNION
         SELECT {LINK_COLUMNS}, e.start_time, e.end_time, e.meeting_url, e.is_deleted
         FROM bot_event_links l INDEXED BY bot_event_links_changed
         CROSS JOIN calendar_events e ON e.id = l.event_id
         WHERE l.event_changed = 1 AND e.start_time > ?1 AND {drift}
         ORDER BY 9, 1
         LIMIT ?2"
    )
}

/// Forgets which links' events changed: called by the reconcile once it has handled every
/// drifted link (in the same transaction, so no change slips between).
pub fn clear_changed_links(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE bot_event_links SET event_changed = 0 WHERE event_changed = 1",
        [],
    )?)
}

/// `EXPLAIN QUERY PLAN` of the reconcile's drift query (tests: indexed, no history scan).
pub fn drifted_links_plan(conn: &Connection) -> Result<Vec<String>, StoreError> {
    crate::store::query_plan(conn, &drifted_links_sql(), params![0i64, 1i64])
}

/// Links whose event moved, changed link or was deleted, for live bots and for events that
/// moved into the future (even if their old bot already started).
pub fn drifted_links(conn: &Connection, now_ms: i64, limit: i64) -> Result<Vec<Drift>, StoreError> {
    let sql = drifted_links_sql();
    query_all(conn, &sql, params![now_ms, limit], |r| {
        Ok(Drift {
            link: link_row(r)?,
            event_start_time: r.get(8)?,
            event_end_time: r.get(9)?,
            event_meeting_url: r.get(10)?,
            event_is_deleted: r.get(11)?,
        })
    })
}
