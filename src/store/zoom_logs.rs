//! The Zoom log lists: app events (`zoom_app_events`) and credential events
//! (`zoom_credential_events`, written by `store::zoom::add_event`), newest first by default.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection};

use super::zoom::CreatedRange;
use super::StoreError;
use crate::domain::LogLevel;

/// One log row; `owner` is the app or credential id.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub id: i64,
    pub owner: String,
    /// App rows carry their level; credential rows their kind (the level follows from it).
    pub level: Option<LogLevel>,
    pub kind: String,
    pub message: Option<String>,
    pub created_at: i64,
}

pub fn add_app_event(
    conn: &Connection,
    app_id: &str,
    level: LogLevel,
    kind: &str,
    message: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO zoom_app_events (app_id, level, kind, message, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![app_id, level, kind, message, now_ms],
    )?;
    Ok(())
}

/// Which log, filtered how, and the page.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// The app (app logs) or credential (credential logs) to show.
    pub owner: Option<String>,
    pub created: CreatedRange,
    /// Newest first (`-created_at`, the default) or oldest first.
    pub desc: bool,
    /// Keyset position `(created_at, id)` and whether the page goes back.
    pub after: Option<(i64, i64)>,
    pub back: bool,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy)]
pub enum Log {
    App,
    Credential,
}

pub fn list(conn: &Connection, log: Log, q: &LogQuery) -> Result<Vec<LogRow>, StoreError> {
    let (select, owner_column) = match log {
        Log::App => (
            "SELECT id, app_id, level, kind, message, created_at FROM zoom_app_events",
            "app_id",
        ),
        Log::Credential => (
            "SELECT id, credential_id, NULL, kind, detail, created_at FROM zoom_credential_events",
            "credential_id",
        ),
    };
    let mut conds: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if let Some(o) = &q.owner {
        conds.push(format!("{owner_column} = ?"));
        values.push(Value::Text(o.clone()));
    }
    q.created.push("created_at", &mut conds, &mut values);
    let down = q.back != q.desc;
    if let Some((t, id)) = q.after {
        let op = if down { "<" } else { ">" };
        conds.push(format!("(created_at, id) {op} (?, ?)"));
        values.push(Value::Integer(t));
        values.push(Value::Integer(id));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let dir = if down { "DESC" } else { "ASC" };
    values.push(Value::Integer(q.limit as i64));
    let sql = format!("{select}{filter} ORDER BY created_at {dir}, id {dir} LIMIT ?");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(values), |r| {
            Ok(LogRow {
                id: r.get(0)?,
                owner: r.get(1)?,
                level: r.get(2)?,
                kind: r.get(3)?,
                message: r.get(4)?,
                created_at: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
