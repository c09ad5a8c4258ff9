//! Keeps bots in step with their events after sync changed them.
//!
//! Every link remembers the event start and meeting URL its bot was scheduled from. The
//! sweep compares them with the event as it is now: moved → the bot moves (new `join_at`),
//! link changed → the bot is made again, cancelled/deleted → the event leaves its bot (which
//! is cancelled when no event uses it). There is no "too close to join" cut-off: a bot
//! joining in a minute is moved like any other, and an event that moves from the past into
//! the future gets a new bot even though its old one already started. Live bots whose events
//! vanished (calendar or user deleted) are cancelled.

use rusqlite::Transaction;

use super::{dedup, new_bot_mode, ScheduleError};
use crate::domain::{BotMode, LinkSource};
use crate::state::AppState;
use crate::store::bots::{self as db, Drift};
use crate::store::StoreError;

const BATCH: i64 = 200;
const MAX_BATCHES: usize = 50;

/// Reconciles every drifted link; returns how many links and orphan bots it handled.
pub async fn reconcile_due(state: &AppState) -> anyhow::Result<usize> {
    let mode = new_bot_mode(state);
    let mut handled = 0;
    for _ in 0..MAX_BATCHES {
        let now = state.now_ms();
        let (drifts, orphans) = state
            .store
            .write(move |tx| reconcile_batch(tx, mode, now))
            .await?;
        handled += drifts + orphans;
        if drifts < BATCH as usize {
            break;
        }
    }
    if handled > 0 {
        super::wake(state);
    }
    Ok(handled)
}

fn reconcile_batch(
    tx: &Transaction,
    mode: BotMode,
    now: i64,
) -> Result<(usize, usize), StoreError> {
    dedup::retire_started(tx, now)?;
    let orphans = db::orphan_live_bots(tx)?;
    for id in &orphans {
        if let Some(bot) = db::get_bot(tx, id)? {
            dedup::cancel_bot(tx, &bot, "its events no longer exist", now)?;
        }
    }
    let drifts = db::drifted_links(tx, now, BATCH)?;
    for d in &drifts {
        reconcile_link(tx, d, mode, now)?;
    }
    if drifts.len() < BATCH as usize {
        // Every drifted link is handled: the change flags have served.
        db::clear_changed_links(tx)?;
    }
    Ok((drifts.len(), orphans.len()))
}

/// Handles one drifted link; always either removes the link or records the event's current
/// state on it, so nothing is handled twice.
fn reconcile_link(tx: &Transaction, d: &Drift, mode: BotMode, now: i64) -> Result<(), StoreError> {
    let link = &d.link;
    let (Some(bot), Some(event)) = (
        db::get_bot(tx, &link.bot_id)?,
        db::get_event(tx, &link.event_id)?,
    ) else {
        db::delete_link(tx, &link.event_id)?;
        return Ok(());
    };
    if d.event_is_deleted {
        return dedup::detach(tx, link, "the event was cancelled or deleted", now);
    }
    let source = link.source;
    let config = dedup::parse_config(&link.bot_config);

    if !bot.active {
        // Its bot already started (or is gone); only a move into the future needs a bot.
        if event.start_time > now {
            let key = match source {
                LinkSource::Autorecord => autorecord_key(&event),
                LinkSource::Api => Some(bot.dedup_key.clone()),
            };
            return reschedule(tx, &event, key, &config, source, mode, now, link);
        }
        return record_snapshot(tx, &event, now);
    }

    if event.end_time <= now {
        return dedup::detach(tx, link, "the event moved into the past", now);
    }
    if source == LinkSource::Autorecord {
        // The V1 key is made of the start and the link: a change means another bot (shared
        // with colleagues whose copy of the meeting already moved).
        let key = autorecord_key(&event);
        if key.as_deref() != Some(bot.dedup_key.as_str()) {
            return reschedule(tx, &event, key, &config, source, mode, now, link);
        }
    }
    match dedup::effective_for_link(link, event.start_time, event.meeting_url.as_deref()) {
        Ok(mut eff) => {
            // A synced change moves the bot or changes its link; its config stays the one
            // of the last API call (last call wins).
            eff.bot_name = bot.bot_name.clone();
            dedup::apply_desired(
                tx,
                &bot,
                &eff,
                &bot.config,
                &format!("event {} changed", event.id),
                Some(&event.id),
                now,
            )?;
            record_snapshot(tx, &event, now)
        }
        Err(ScheduleError::Store(e)) => Err(e),
        Err(e) => dedup::detach(tx, link, &reason(&e), now),
    }
}

/// The V1 key of the event as it is now; `None` without a meeting link.
fn autorecord_key(event: &db::EventRow) -> Option<String> {
    event
        .meeting_url
        .as_deref()
        .map(|u| dedup::v1_key(event.start_time, u))
}

/// Records on the event's link what its bot now follows (the event as it is now).
fn record_snapshot(tx: &Transaction, event: &db::EventRow, now: i64) -> Result<(), StoreError> {
    db::update_link_snapshot(
        tx,
        &event.id,
        event.start_time,
        event.meeting_url.as_deref(),
        now,
    )
}

/// Puts the event on the bot for `key` (leaving its old bot); detaches it when that is
/// impossible now (no meeting link, already started).
#[allow(clippy::too_many_arguments)]
fn reschedule(
    tx: &Transaction,
    event: &db::EventRow,
    key: Option<String>,
    config: &serde_json::Map<String, serde_json::Value>,
    source: LinkSource,
    mode: BotMode,
    now: i64,
    link: &db::Link,
) -> Result<(), StoreError> {
    let Some(key) = key else {
        return dedup::detach(tx, link, "the meeting link was removed", now);
    };
    match dedup::schedule(tx, event, &key, config, source, mode, now) {
        Ok(_) => Ok(()),
        Err(ScheduleError::Store(e)) => Err(e),
        Err(e) => dedup::detach(tx, link, &reason(&e), now),
    }
}

fn reason(e: &ScheduleError) -> String {
    match e {
        ScheduleError::NoMeetingUrl => "the meeting link was removed".into(),
        ScheduleError::EventStarted | ScheduleError::JoinAtPast => {
            "the event moved into the past".into()
        }
        other => other.to_string(),
    }
}
