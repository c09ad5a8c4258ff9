//! `bot_history`: every state a bot went through, with why, for the event JSON and the
//! admin page.

use rusqlite::{params, Connection, Row};

use super::query_all;
use crate::domain::BotStatus;
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub version: i64,
    pub status: BotStatus,
    pub note: String,
    pub event_id: Option<String>,
    pub created_at: i64,
}

const HISTORY_COLUMNS: &str = "version, status, note, event_id, created_at";

fn history_row(r: &Row) -> rusqlite::Result<HistoryEntry> {
    Ok(HistoryEntry {
        version: r.get(0)?,
        status: r.get(1)?,
        note: r.get(2)?,
        event_id: r.get(3)?,
        created_at: r.get(4)?,
    })
}

pub fn add_history(
    conn: &Connection,
    bot_id: &str,
    version: i64,
    status: BotStatus,
    note: &str,
    event_id: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO bot_history (bot_id, version, status, note, event_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![bot_id, version, status, note, event_id, now_ms],
    )?;
    Ok(())
}

/// The latest `limit` entries, oldest first.
/// The last `limit` entries of each of `bot_ids`, oldest first per bot, in one query.
pub fn history_of_bots(
    conn: &Connection,
    bot_ids: &[&str],
    limit: i64,
) -> Result<std::collections::HashMap<String, Vec<HistoryEntry>>, StoreError> {
    let ids = super::super::json_ids(bot_ids);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {HISTORY_COLUMNS}, bot_id FROM
           (SELECT *, ROW_NUMBER() OVER (PARTITION BY bot_id ORDER BY id DESC) AS rn
            FROM bot_history WHERE bot_id IN (SELECT value FROM json_each(?1)))
         WHERE rn <= ?2
         ORDER BY bot_id, id"
    ))?;
    let mut out: std::collections::HashMap<String, Vec<HistoryEntry>> = Default::default();
    let rows = stmt.query_map(params![ids, limit], |r| {
        Ok((r.get::<_, String>(5)?, history_row(r)?))
    })?;
    for row in rows {
        let (bot_id, entry) = row?;
        out.entry(bot_id).or_default().push(entry);
    }
    Ok(out)
}

pub fn history(
    conn: &Connection,
    bot_id: &str,
    limit: i64,
) -> Result<Vec<HistoryEntry>, StoreError> {
    query_all(
        conn,
        &format!(
            "SELECT {HISTORY_COLUMNS} FROM
               (SELECT * FROM bot_history WHERE bot_id = ?1 ORDER BY id DESC LIMIT ?2)
             ORDER BY id"
        ),
        params![bot_id, limit],
        history_row,
    )
}
