//! Read models for the admin's bot page and overview tile: the events each bot serves and
//! counts of backend trouble. The bot rows themselves come from `store::bots`.

use rusqlite::Connection;

use super::StoreError;
use crate::domain::{BotOpStatus, LinkSource};

/// An event linked to a bot, with its calendar.
#[derive(Debug, Clone)]
pub struct BotEvent {
    pub bot_id: String,
    pub event_id: String,
    pub title: Option<String>,
    pub start_time: i64,
    pub is_deleted: bool,
    pub calendar_id: String,
    pub platform: String,
    /// The calendar's account address (platform email, else the app-given one).
    pub calendar_email: Option<String>,
    pub source: LinkSource,
}

/// The events linked to each of `bot_ids`, by bot then start time.
pub fn events_of_bots(conn: &Connection, bot_ids: &[String]) -> Result<Vec<BotEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.bot_id, e.id, e.title, e.start_time, e.is_deleted, c.id, c.platform,
                COALESCE(c.platform_email, c.oauth_email), l.source
         FROM bot_event_links l
         JOIN calendar_events e ON e.id = l.event_id
         JOIN calendars c ON c.id = e.calendar_id
         WHERE l.bot_id = ?1
         ORDER BY e.start_time, e.id",
    )?;
    let mut out = Vec::new();
    for bot_id in bot_ids {
        let rows = stmt.query_map([bot_id], |r| {
            Ok(BotEvent {
                bot_id: r.get(0)?,
                event_id: r.get(1)?,
                title: r.get(2)?,
                start_time: r.get(3)?,
                is_deleted: r.get(4)?,
                calendar_id: r.get(5)?,
                platform: r.get(6)?,
                calendar_email: r.get(7)?,
                source: r.get(8)?,
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

/// Numbers for the overview's bot tile (failed bots: `store::bots::failed_bot_count`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BotCounts {
    /// Live bots (not cancelled, join time still ahead).
    pub upcoming: i64,
    /// Backend calls that failed and wait for another attempt.
    pub retrying: i64,
    /// Backend calls given up after their last attempt.
    pub given_up: i64,
}

pub fn counts(conn: &Connection) -> Result<BotCounts, StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM bots WHERE active = 1),
                (SELECT COUNT(*) FROM bot_operations WHERE status = ?1 AND attempts > 0),
                (SELECT COUNT(*) FROM bot_operations WHERE status = ?2)",
        [BotOpStatus::Pending, BotOpStatus::Failed],
        |r| {
            Ok(BotCounts {
                upcoming: r.get(0)?,
                retrying: r.get(1)?,
                given_up: r.get(2)?,
            })
        },
    )?)
}
