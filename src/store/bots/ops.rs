//! `bot_operations`: the durable queue of calls to the bot backend. Ops of one bot run
//! strictly in id order; `scheduling::dispatch` works the queue.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::query_all;
use crate::domain::{BotOpKind, BotOpStatus};
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct Op {
    pub id: i64,
    pub bot_id: String,
    pub bot_version: i64,
    pub op: BotOpKind,
    pub payload: Option<String>,
    pub status: BotOpStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

const OP_COLUMNS: &str =
    "o.id, o.bot_id, o.bot_version, o.op, o.payload, o.status, o.attempts, o.next_attempt_at, o.last_error";

fn op_row(r: &Row) -> rusqlite::Result<Op> {
    Ok(Op {
        id: r.get(0)?,
        bot_id: r.get(1)?,
        bot_version: r.get(2)?,
        op: r.get(3)?,
        payload: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        last_error: r.get(8)?,
    })
}

/// Whether the backend may hold a bot for this Convene bot: it has a backend id, or an op was
/// sent (or is being sent) whose outcome is not known to have made nothing.
pub fn backend_may_have_bot(conn: &Connection, bot_id: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM bots WHERE id = ?1 AND backend_id IS NOT NULL)
             OR EXISTS (SELECT 1 FROM bot_operations WHERE bot_id = ?1 AND op != ?2
                        AND (status = ?3 OR (status = ?4 AND attempts > 0)))",
        params![
            bot_id,
            BotOpKind::Delete,
            BotOpStatus::InFlight,
            BotOpStatus::Pending
        ],
        |r| r.get(0),
    )?)
}

/// Ops never sent are replaced by a newer one (sent ones must finish: they may have made a
/// backend bot whose id we need to delete it).
pub fn supersede_unsent_ops(
    conn: &Connection,
    bot_id: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE bot_operations SET status = ?3, updated_at = ?2
         WHERE bot_id = ?1 AND status = ?4 AND attempts = 0",
        params![
            bot_id,
            now_ms,
            BotOpStatus::Superseded,
            BotOpStatus::Pending
        ],
    )?)
}

pub fn insert_op(
    conn: &Connection,
    bot_id: &str,
    bot_version: i64,
    op: BotOpKind,
    payload: Option<&str>,
    now_ms: i64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO bot_operations (bot_id, bot_version, op, payload, status, attempts,
                                     next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?6, 0, ?5, ?5, ?5)",
        params![
            bot_id,
            bot_version,
            op,
            payload,
            now_ms,
            BotOpStatus::Pending
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Claims up to `limit` due ops (the first unfinished op of each bot only, so a bot's ops
/// run in order): marks them in flight with a lease and counts the attempt.
pub fn claim_due_ops(
    conn: &Connection,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Op>, StoreError> {
    let (pending, in_flight) = (BotOpStatus::Pending, BotOpStatus::InFlight);
    let ops = query_all(
        conn,
        &format!(
            "SELECT {OP_COLUMNS} FROM bot_operations o
             WHERE ((o.status = ?3 AND o.next_attempt_at <= ?1)
                    OR (o.status = ?4 AND o.lease_until <= ?1))
               AND NOT EXISTS (SELECT 1 FROM bot_operations p WHERE p.bot_id = o.bot_id
                               AND p.id < o.id AND p.status IN (?3, ?4))
             ORDER BY o.next_attempt_at, o.id LIMIT ?2"
        ),
        params![now_ms, limit, pending, in_flight],
        op_row,
    )?;
    let mut claimed = Vec::with_capacity(ops.len());
    for mut op in ops {
        conn.execute(
            "UPDATE bot_operations SET status = ?4, attempts = attempts + 1,
                 lease_until = ?2, updated_at = ?3 WHERE id = ?1",
            params![op.id, now_ms + lease_ms, now_ms, in_flight],
        )?;
        op.status = in_flight;
        op.attempts += 1;
        claimed.push(op);
    }
    Ok(claimed)
}

pub fn get_op(conn: &Connection, id: i64) -> Result<Option<Op>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {OP_COLUMNS} FROM bot_operations o WHERE o.id = ?1"),
            [id],
            op_row,
        )
        .optional()?)
}

pub fn ops_for_bot(conn: &Connection, bot_id: &str) -> Result<Vec<Op>, StoreError> {
    query_all(
        conn,
        &format!("SELECT {OP_COLUMNS} FROM bot_operations o WHERE o.bot_id = ?1 ORDER BY o.id"),
        [bot_id],
        op_row,
    )
}

/// Ends an op: `Done` (with the backend id it made, if any) or `Failed`.
pub fn finish_op(
    conn: &Connection,
    id: i64,
    status: BotOpStatus,
    result_backend_id: Option<&str>,
    last_error: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bot_operations SET status = ?2, result_backend_id = ?3, last_error = ?4,
             lease_until = NULL, updated_at = ?5 WHERE id = ?1",
        params![id, status, result_backend_id, last_error, now_ms],
    )?;
    Ok(())
}

pub fn retry_op_at(
    conn: &Connection,
    id: i64,
    next_attempt_at: i64,
    last_error: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE bot_operations SET status = ?5, next_attempt_at = ?2, last_error = ?3,
             lease_until = NULL, updated_at = ?4 WHERE id = ?1",
        params![
            id,
            next_attempt_at,
            last_error,
            now_ms,
            BotOpStatus::Pending
        ],
    )?;
    Ok(())
}

/// Unfinished ops after `op_id` for the same bot (a newer desired state is queued).
pub fn has_later_ops(conn: &Connection, bot_id: &str, op_id: i64) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM bot_operations WHERE bot_id = ?1 AND id > ?2
                        AND status IN (?3, ?4))",
        params![bot_id, op_id, BotOpStatus::Pending, BotOpStatus::InFlight],
        |r| r.get(0),
    )?)
}

/// When the next attempt of the bot's pending op is due, if one is waiting after a failure.
/// [`next_retry_at`] of each of `bot_ids` that has one, in one query.
pub fn next_retry_of_bots(
    conn: &Connection,
    bot_ids: &[&str],
) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    let ids = super::super::json_ids(bot_ids);
    let mut stmt = conn.prepare_cached(
        "SELECT bot_id, MIN(next_attempt_at) FROM bot_operations
         WHERE bot_id IN (SELECT value FROM json_each(?1)) AND status = ?2 AND attempts > 0
         GROUP BY bot_id",
    )?;
    let rows = stmt
        .query_map(params![ids, BotOpStatus::Pending], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })?
        .filter_map(|r| match r {
            Ok((id, Some(at))) => Some(Ok((id, at))),
            Ok((_, None)) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn next_retry_at(conn: &Connection, bot_id: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT MIN(next_attempt_at) FROM bot_operations
             WHERE bot_id = ?1 AND status = ?2 AND attempts > 0",
            params![bot_id, BotOpStatus::Pending],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}
