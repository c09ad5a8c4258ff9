//! Retention (`CONVENE_RETENTION_DAYS`): one batch of each prune per call, so the sweep
//! (`crate::retention`) commits small transactions and never holds the write lock long;
//! and the file-size upkeep (`auto_vacuum = INCREMENTAL`, `incremental_vacuum`).

use rusqlite::{params, Connection, Transaction};

use super::StoreError;
use crate::domain::{BotOpStatus, DeliveryStatus};

/// Finished deliveries (delivered or failed for good) last touched before `cutoff`, with
/// their attempts (cascade). Pending ones are never pruned.
pub fn deliveries(tx: &Transaction, cutoff: i64, limit: usize) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "DELETE FROM webhook_deliveries WHERE id IN (
            SELECT id FROM webhook_deliveries
            WHERE status IN (?1, ?2) AND updated_at < ?3 LIMIT ?4)",
        params![
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            cutoff,
            limit as i64
        ],
    )?)
}

/// Messages older than `cutoff` that no delivery needs any more.
pub fn messages(tx: &Transaction, cutoff: i64, limit: usize) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "DELETE FROM webhook_messages WHERE rowid IN (
            SELECT m.rowid FROM webhook_messages m
            WHERE m.created_at < ?1
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id)
            LIMIT ?2)",
        params![cutoff, limit as i64],
    )?)
}

/// Events that ended before `cutoff`, with their bot links (cascade).
pub fn ended_events(tx: &Transaction, cutoff: i64, limit: usize) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "DELETE FROM calendar_events WHERE rowid IN (
            SELECT rowid FROM calendar_events WHERE end_time < ?1 LIMIT ?2)",
        params![cutoff, limit as i64],
    )?)
}

/// Events deleted (soft) before `cutoff`: the change feed (`updated_at__gte`) showed
/// their deletion for the whole retention period.
pub fn deleted_events(tx: &Transaction, cutoff: i64, limit: usize) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "DELETE FROM calendar_events WHERE rowid IN (
            SELECT rowid FROM calendar_events
            WHERE is_deleted = 1 AND updated_at < ?1 LIMIT ?2)",
        params![cutoff, limit as i64],
    )?)
}

/// History rows of `table` (ordered by `id` per `owner`) older than `cutoff`, keeping the
/// newest `keep` of each owner (the latest explains the current state).
fn history(
    tx: &Transaction,
    table: &str,
    owner: &str,
    cutoff: i64,
    keep: usize,
    limit: usize,
) -> Result<usize, StoreError> {
    Ok(tx.execute(
        &format!(
            "DELETE FROM {table} WHERE id IN (
                SELECT h.id FROM {table} h
                WHERE h.created_at < ?1
                  AND h.id <= (SELECT k.id FROM {table} k WHERE k.{owner} = h.{owner}
                               ORDER BY k.id DESC LIMIT 1 OFFSET ?2)
                LIMIT ?3)"
        ),
        params![cutoff, keep as i64, limit as i64],
    )?)
}

/// Calendar status changes older than `cutoff`, the newest `keep` per calendar kept.
pub fn status_changes(
    tx: &Transaction,
    cutoff: i64,
    keep: usize,
    limit: usize,
) -> Result<usize, StoreError> {
    history(
        tx,
        "calendar_status_changes",
        "calendar_id",
        cutoff,
        keep,
        limit,
    )
}

/// Zoom credential events (one per refresh) older than `cutoff`, the newest `keep` kept.
pub fn zoom_credential_events(
    tx: &Transaction,
    cutoff: i64,
    keep: usize,
    limit: usize,
) -> Result<usize, StoreError> {
    history(
        tx,
        "zoom_credential_events",
        "credential_id",
        cutoff,
        keep,
        limit,
    )
}

/// Zoom app events (webhook validations, refused events) older than `cutoff`, the newest
/// `keep` per app kept (`webhook_last_validation` lives on the app row).
pub fn zoom_app_events(
    tx: &Transaction,
    cutoff: i64,
    keep: usize,
    limit: usize,
) -> Result<usize, StoreError> {
    history(tx, "zoom_app_events", "app_id", cutoff, keep, limit)
}

/// Bot history older than `cutoff`, the newest `keep` per bot kept.
pub fn bot_history(
    tx: &Transaction,
    cutoff: i64,
    keep: usize,
    limit: usize,
) -> Result<usize, StoreError> {
    history(tx, "bot_history", "bot_id", cutoff, keep, limit)
}

/// Finished bot operations (done, failed, superseded) last touched before `cutoff`.
pub fn bot_operations(tx: &Transaction, cutoff: i64, limit: usize) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "DELETE FROM bot_operations WHERE id IN (
            SELECT id FROM bot_operations
            WHERE status IN (?1, ?2, ?3) AND updated_at < ?4 LIMIT ?5)",
        params![
            BotOpStatus::Done,
            BotOpStatus::Failed,
            BotOpStatus::Superseded,
            cutoff,
            limit as i64
        ],
    )?)
}

/// Bots long over: not live, joined (or were to join) before `cutoff`, untouched since,
/// no event linked and nothing queued for the backend; with their history and operations.
pub fn bots(tx: &Transaction, cutoff: i64, limit: usize) -> Result<usize, StoreError> {
    let ids: Vec<String> = tx
        .prepare(
            "SELECT b.id FROM bots b
             WHERE b.active = 0 AND b.join_at < ?1 AND b.updated_at < ?1
               AND NOT EXISTS (SELECT 1 FROM bot_event_links l WHERE l.bot_id = b.id)
               AND NOT EXISTS (SELECT 1 FROM bot_operations o
                               WHERE o.bot_id = b.id AND o.status IN (?3, ?4))
             LIMIT ?2",
        )?
        .query_map(
            params![
                cutoff,
                limit as i64,
                BotOpStatus::Pending,
                BotOpStatus::InFlight
            ],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    for id in &ids {
        tx.execute("DELETE FROM bot_history WHERE bot_id = ?1", [id])?;
        tx.execute("DELETE FROM bot_operations WHERE bot_id = ?1", [id])?;
        tx.execute("DELETE FROM bots WHERE id = ?1", [id])?;
    }
    Ok(ids.len())
}

/// Unreadable-item records not seen since `cutoff` (the item stopped coming).
pub fn item_failures(tx: &Transaction, cutoff: i64, limit: usize) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "DELETE FROM sync_item_failures WHERE rowid IN (
            SELECT rowid FROM sync_item_failures WHERE last_at < ?1 LIMIT ?2)",
        params![cutoff, limit as i64],
    )?)
}

// ------------------------------------------------------------------ file size

/// `PRAGMA auto_vacuum`: 0 none, 1 full, 2 incremental.
pub fn auto_vacuum_mode(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?)
}

/// Switches a database made without it to `auto_vacuum = INCREMENTAL`, which takes one
/// `VACUUM` (a rewrite of the file, once). True when it did.
pub fn enable_incremental_vacuum(conn: &Connection) -> Result<bool, StoreError> {
    if auto_vacuum_mode(conn)? == 2 {
        return Ok(false);
    }
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    Ok(auto_vacuum_mode(conn)? == 2)
}

/// Free pages in the file.
pub fn freelist_count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?)
}

/// Gives up to `pages` free pages back to the file system (one short write).
pub fn incremental_vacuum(conn: &Connection, pages: i64) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({})", pages.max(1)))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}
