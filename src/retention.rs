//! The daily retention sweep (`CONVENE_RETENTION_DAYS`, default 30): finished webhook
//! deliveries with their attempts and messages, events that ended or were deleted, and
//! entity histories (calendar status changes, Zoom credential and app events, bot history and
//! operations, long-over bots) older than that are deleted, in small batches (each a
//! short write transaction, the lock released between batches). Then the freed pages
//! go back to the file system (`PRAGMA incremental_vacuum`, also in small steps), so the
//! file does not keep the size of its busiest month.
//!
//! What stays: everything pending (deliveries, bot operations, live bots), events that
//! have not ended and are not deleted, and the newest [`KEEP_HISTORY`] entries of each
//! history (the latest status change explains a calendar's status).

use std::collections::BTreeMap;

use rusqlite::Transaction;

use crate::state::AppState;
use crate::store::{self, retention as db, StoreError};

/// Rows deleted per transaction.
pub const BATCH: usize = 500;
/// History entries kept per calendar, credential and bot, however old.
pub const KEEP_HISTORY: usize = 10;
/// Free pages given back per step (4 KiB pages: 4 MiB).
const VACUUM_PAGES: i64 = 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// What one run deleted (rows per kind) and how many free pages it gave back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub deleted: BTreeMap<&'static str, usize>,
    pub pages_freed: i64,
}

type Prune = fn(&Transaction, i64, usize) -> Result<usize, StoreError>;

/// The prunes in order (deliveries before the messages they hold on to; bot operations
/// and history before bots).
const PRUNES: &[(&str, Prune)] = &[
    ("webhook_deliveries", db::deliveries),
    ("webhook_messages", db::messages),
    ("ended_events", db::ended_events),
    ("deleted_events", db::deleted_events),
    ("calendar_status_changes", |tx, c, l| {
        db::status_changes(tx, c, KEEP_HISTORY, l)
    }),
    ("zoom_credential_events", |tx, c, l| {
        db::zoom_credential_events(tx, c, KEEP_HISTORY, l)
    }),
    ("zoom_app_events", |tx, c, l| {
        db::zoom_app_events(tx, c, KEEP_HISTORY, l)
    }),
    ("bot_operations", db::bot_operations),
    ("bot_history", |tx, c, l| {
        db::bot_history(tx, c, KEEP_HISTORY, l)
    }),
    ("bots", db::bots),
    ("sync_item_failures", db::item_failures),
];

/// Runs every prune to the end, batch by batch, then shrinks the file.
pub async fn run(state: &AppState) -> anyhow::Result<Report> {
    let cutoff = state.now_ms() - state.settings.retention_days as i64 * DAY_MS;
    let mut report = Report::default();
    for (name, prune) in PRUNES {
        let mut total = 0;
        loop {
            let prune = *prune;
            let n = state
                .store
                .write(move |tx| prune(tx, cutoff, BATCH))
                .await?;
            total += n;
            if n < BATCH {
                break;
            }
            // Let other writers in between batches.
            tokio::task::yield_now().await;
        }
        if total > 0 {
            report.deleted.insert(name, total);
        }
    }
    report.pages_freed = shrink(state).await?;
    if !report.deleted.is_empty() {
        tracing::info!(deleted = ?report.deleted, pages_freed = report.pages_freed, "retention");
    }
    Ok(report)
}

/// Gives the free pages back, [`VACUUM_PAGES`] at a time; returns how many.
pub async fn shrink(state: &AppState) -> Result<i64, StoreError> {
    let mut freed = 0;
    loop {
        let (before, after) = state
            .store
            .maintain(|c| {
                if db::auto_vacuum_mode(c)? != 2 {
                    return Ok((0, 0));
                }
                let before = db::freelist_count(c)?;
                if before > 0 {
                    db::incremental_vacuum(c, VACUUM_PAGES)?;
                }
                Ok((before, db::freelist_count(c)?))
            })
            .await?;
        freed += before - after;
        if after == 0 || after >= before {
            return Ok(freed);
        }
        tokio::task::yield_now().await;
    }
}

/// At start: a database created before incremental vacuum existed is switched to it
/// (one `VACUUM`, which rewrites the file once; logged). Blocking.
pub fn ensure_incremental_vacuum(store: &store::Store) -> Result<(), StoreError> {
    let switched = store.blocking(|c| db::enable_incremental_vacuum(c))?;
    if switched {
        tracing::info!("database switched to auto_vacuum=INCREMENTAL (one-time VACUUM done)");
    }
    Ok(())
}
