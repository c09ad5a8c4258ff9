//! The durable queue of bot-backend calls (`bot_operations`) and the sweep that works it.
//!
//! An op is claimed in one transaction (marked in flight with a lease, attempt counted),
//! sent without any transaction open, and its outcome committed in another. The backend id
//! is persisted before the op counts as done. A crash between the backend's answer and that
//! commit leaves the op in flight; once its lease runs out it is sent again with the same
//! `Idempotency-Key: <bot id>:<version>`, and the backend answers with the bot it already
//! made. Ops of one bot run strictly in order. Failures back off exponentially.

use futures_util::future::join_all;

use super::backend::{BackendError, BotBackend};
use crate::domain::{BotOpKind, BotOpStatus, BotStatus};
use crate::state::AppState;
use crate::store::bots::{self as db, Op};
use crate::store::{ms_to_rfc3339, StoreError};

/// An in-flight op whose outcome was not committed within this time is sent again.
/// Longer than two backend calls with their timeouts.
pub const LEASE_MS: i64 = 120_000;
/// Attempts before an op is given up (the bot stays `failed`; a new POST re-queues it).
pub const MAX_ATTEMPTS: i64 = 10;
/// Ops sent at once.
const BATCH: i64 = 4;
/// Upper bound of ops per sweep run, so one run cannot spin forever.
const MAX_PER_RUN: usize = 1000;

/// Delay after the `attempts`-th failed attempt: 10 s, 20 s, 40 s, … capped at 30 min.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = (attempts - 1).clamp(0, 20) as u32;
    (10_000i64 << exp).min(30 * 60 * 1000)
}

struct Claimed {
    op: Op,
    backend_id: Option<String>,
    backend_version: Option<i64>,
}

enum Outcome {
    Created(String),
    Deleted,
    Failed {
        error: BackendError,
        /// The op's first step (deleting the old backend bot) succeeded.
        removed_old: bool,
    },
}

/// The `bots` sweep: reconcile with synced changes, then send what is due.
pub async fn bot_sweep(state: &AppState) -> anyhow::Result<()> {
    super::reconcile::reconcile_due(state).await?;
    dispatch_due(state).await?;
    Ok(())
}

/// Sends every due op to the backend; returns how many were attempted. Without a
/// configured backend nothing is sent (backend bots wait for one to be configured).
pub async fn dispatch_due(state: &AppState) -> anyhow::Result<usize> {
    let Some(backend) = BotBackend::from_state(state) else {
        return Ok(0);
    };
    let mut attempted = 0;
    while attempted < MAX_PER_RUN {
        let now = state.now_ms();
        let claimed = state.store.write(move |tx| claim(tx, now)).await?;
        if claimed.is_empty() {
            break;
        }
        attempted += claimed.len();
        let results = join_all(claimed.into_iter().map(|c| run(state, &backend, c))).await;
        for r in results {
            r?;
        }
    }
    Ok(attempted)
}

fn claim(tx: &rusqlite::Transaction, now: i64) -> Result<Vec<Claimed>, StoreError> {
    let ops = db::claim_due_ops(tx, now, LEASE_MS, BATCH)?;
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let Some(bot) = db::get_bot(tx, &op.bot_id)? else {
            db::finish_op(
                tx,
                op.id,
                BotOpStatus::Failed,
                None,
                Some("bot missing"),
                now,
            )?;
            continue;
        };
        if op.op != BotOpKind::Delete && bot.version == op.bot_version {
            db::set_status(
                tx,
                &bot.id,
                BotStatus::Dispatching,
                bot.last_error.as_deref(),
                now,
            )?;
        }
        out.push(Claimed {
            op,
            backend_id: bot.backend_id,
            backend_version: bot.backend_version,
        });
    }
    Ok(out)
}

async fn run(state: &AppState, backend: &BotBackend, c: Claimed) -> Result<(), StoreError> {
    let idem = format!("{}:{}", c.op.bot_id, c.op.bot_version);
    let delete_idem = format!("{idem}:delete");
    let outcome = if c.op.op == BotOpKind::Delete {
        let res = match &c.backend_id {
            Some(id) => backend.delete(id, &delete_idem).await,
            None => Ok(()),
        };
        match res {
            Ok(()) => Outcome::Deleted,
            Err(error) => Outcome::Failed {
                error,
                removed_old: false,
            },
        }
    } else {
        create_or_move(backend, &c, &idem, &delete_idem).await
    };
    commit(state, c, outcome).await
}

/// create / move / recreate: the backend has no update, so a changed bot is deleted and
/// made again. Already made for this version (a replay): nothing to send.
async fn create_or_move(
    backend: &BotBackend,
    c: &Claimed,
    idem: &str,
    delete_idem: &str,
) -> Outcome {
    let mut removed_old = false;
    if let Some(old) = &c.backend_id {
        if c.backend_version == Some(c.op.bot_version) {
            return Outcome::Created(old.clone());
        }
        if let Err(error) = backend.delete(old, delete_idem).await {
            return Outcome::Failed {
                error,
                removed_old: false,
            };
        }
        removed_old = true;
    }
    let payload = c.op.payload.as_deref().unwrap_or("{}");
    match backend.create(payload, idem).await {
        Ok(id) => Outcome::Created(id),
        Err(error) => Outcome::Failed { error, removed_old },
    }
}

async fn commit(state: &AppState, c: Claimed, outcome: Outcome) -> Result<(), StoreError> {
    let now = state.now_ms();
    state
        .store
        .write(move |tx| {
            // Someone took the op over after its lease ran out: their outcome counts.
            let Some(op) = db::get_op(tx, c.op.id)? else {
                return Ok(());
            };
            if op.status != BotOpStatus::InFlight {
                return Ok(());
            }
            let Some(bot) = db::get_bot(tx, &op.bot_id)? else {
                return Ok(());
            };
            let v = op.bot_version;
            let latest = bot.version == v && !db::has_later_ops(tx, &bot.id, op.id)?;
            match outcome {
                Outcome::Created(id) => {
                    db::set_backend(tx, &bot.id, Some(&id), Some(v), now)?;
                    db::finish_op(tx, op.id, BotOpStatus::Done, Some(&id), None, now)?;
                    if latest {
                        db::set_status(tx, &bot.id, BotStatus::Dispatched, None, now)?;
                        db::add_history(
                            tx,
                            &bot.id,
                            v,
                            BotStatus::Dispatched,
                            &format!("{} at the backend as {id}", op.op),
                            None,
                            now,
                        )?;
                    } else {
                        db::add_history(
                            tx,
                            &bot.id,
                            v,
                            bot.status,
                            &format!("backend bot {id} made for version {v}; a newer change follows"),
                            None,
                            now,
                        )?;
                    }
                }
                Outcome::Deleted => {
                    db::set_backend(tx, &bot.id, None, None, now)?;
                    db::finish_op(tx, op.id, BotOpStatus::Done, None, None, now)?;
                    if latest {
                        db::set_status(tx, &bot.id, BotStatus::Cancelled, None, now)?;
                        db::add_history(
                            tx,
                            &bot.id,
                            v,
                            BotStatus::Cancelled,
                            "deleted at the backend",
                            None,
                            now,
                        )?;
                    }
                }
                Outcome::Failed { error, removed_old } => {
                    if removed_old {
                        db::set_backend(tx, &bot.id, None, None, now)?;
                    }
                    let give_up = !error.retryable || op.attempts >= MAX_ATTEMPTS;
                    let note = if give_up {
                        db::finish_op(
                            tx,
                            op.id,
                            BotOpStatus::Failed,
                            None,
                            Some(&error.message),
                            now,
                        )?;
                        format!(
                            "{} attempt {} failed, giving up: {}",
                            op.op, op.attempts, error.message
                        )
                    } else {
                        let next = now + backoff_ms(op.attempts);
                        db::retry_op_at(tx, op.id, next, &error.message, now)?;
                        format!(
                            "{} attempt {} failed: {}; next attempt at {}",
                            op.op,
                            op.attempts,
                            error.message,
                            ms_to_rfc3339(next)
                        )
                    };
                    tracing::warn!(bot_id = %bot.id, op = %op.op, attempts = op.attempts, error = %error.message, "bot backend call failed");
                    db::set_status(tx, &bot.id, BotStatus::Failed, Some(&error.message), now)?;
                    db::add_history(tx, &bot.id, v, BotStatus::Failed, &note, None, now)?;
                }
            }
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 10_000);
        assert_eq!(backoff_ms(2), 20_000);
        assert_eq!(backoff_ms(3), 40_000);
        assert_eq!(backoff_ms(9), 30 * 60 * 1000);
        assert_eq!(backoff_ms(100), 30 * 60 * 1000);
    }
}
