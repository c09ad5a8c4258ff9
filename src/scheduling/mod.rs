//! Managed bot scheduling: the app (or V1 auto-recording) asks for a bot on a calendar
//! event; Convene keeps exactly one live bot per deduplication key, keeps it in step with
//! the event as sync changes it, and drives the bot backend through a durable queue.
//!
//! - `dedup`: the rules (schedule, unschedule, move, cancel), run inside one transaction.
//! - `reconcile`: the sweep that follows synced changes (moves, link changes, deletions).
//! - `dispatch` + `backend`: the queue of backend calls and the HTTP client.
//! - `autorecord`: V1 `will_record` decisions through the same machinery.
//! - `will_record`: the V1 recording decision.
//! - `requests`: the V2 endpoint's schedule / unschedule of one event (locks + transaction).
//!
//! The HTTP surface (`POST`/`DELETE /api/v2/calendar-events/{id}/bot/`) is `events::bot`,
//! which parses, calls `requests` and renders.
//!
//! Deduplication keys are normalised by trimming leading and trailing whitespace; otherwise
//! they are compared exactly (case-sensitive). A key applies to future bots only: once a
//! bot's join time has come it is no longer shared with newly scheduled events.

pub mod autorecord;
pub mod backend;
pub mod dedup;
pub mod dispatch;
pub mod reconcile;
pub mod requests;
pub mod will_record;

use rusqlite::Transaction;

use crate::domain::BotMode;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{bots as db, StoreError};

/// The bot name when neither the bot_config nor the user's preferences give one.
pub const DEFAULT_BOT_NAME: &str = "Meeting Notetaker";

/// Trims a deduplication key; `None` when nothing is left.
pub fn normalize_key(key: &str) -> Option<String> {
    let k = key.trim();
    (!k.is_empty()).then(|| k.to_string())
}

/// Where new bots are made now: at the backend when one is configured, else locally
/// (webhooks only).
pub fn new_bot_mode(state: &AppState) -> BotMode {
    if state.settings.bot_api_url.is_some() {
        BotMode::Backend
    } else {
        BotMode::Local
    }
}

/// Why a schedule request cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("The event is deleted.")]
    EventDeleted,
    #[error("The event has already started; bots can only be scheduled for future events.")]
    EventStarted,
    #[error("The event has no meeting URL; give bot_config.meeting_url.")]
    NoMeetingUrl,
    #[error("bot_config.join_at is in the past.")]
    JoinAtPast,
    #[error("{0}")]
    InvalidConfig(String),
}

impl From<rusqlite::Error> for ScheduleError {
    fn from(e: rusqlite::Error) -> Self {
        ScheduleError::Store(e.into())
    }
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::Store(s) => s.into(),
            ScheduleError::InvalidConfig(m) => ApiError::field("bot_config", m),
            ScheduleError::JoinAtPast => {
                ApiError::field("bot_config", "join_at must be in the future.")
            }
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// Lets the bot sweep and the webhook deliverer act at once after a committed change.
pub fn wake(state: &AppState) {
    state.wake.bots.notify_one();
    state.wake.webhooks.notify_one();
}

/// Cancels the future bots of a calendar's events; call it in the transaction that deletes
/// the calendar, before the delete (the links cascade away with the events), then
/// [`wake`]. Shared bots still used by other calendars' events stay. Returns how many events
/// were detached. (The reconcile sweep also cancels live bots whose events vanished.)
pub fn cancel_bots_for_calendar(
    tx: &Transaction,
    calendar_id: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let events = db::live_linked_events_of_calendar(tx, calendar_id)?;
    for event_id in &events {
        if let Some(link) = db::link_for_event(tx, event_id)? {
            dedup::detach(tx, &link, "its calendar was deleted", now_ms)?;
        }
    }
    Ok(events.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_and_blank_keys_refused() {
        assert_eq!(normalize_key("  abc \n").as_deref(), Some("abc"));
        assert_eq!(normalize_key("A b").as_deref(), Some("A b"));
        assert_eq!(normalize_key(" \t "), None);
        assert_ne!(normalize_key("Key"), normalize_key("key"));
    }
}
