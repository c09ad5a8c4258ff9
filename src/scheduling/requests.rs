//! The V2 endpoint's requests for one event: put it on the bot of a deduplication key
//! ([`schedule`]) or take it off its bot ([`unschedule`]).
//!
//! Concurrency: each request takes the single-flight locks of its event and of the
//! deduplication keys it changes with `try_lock`; when another request holds one, it fails
//! at once with [`RequestError::Busy`] (one wins, the other is told to retry). That gives the
//! API its "one wins" answer; the guarantee of never two bots does not rest on it but on the
//! serialised write transactions and the UNIQUE index of live keys.

use rusqlite::Connection;
use serde_json::{Map, Value};
use tokio::sync::OwnedMutexGuard;

use super::{dedup, new_bot_mode, wake, ScheduleError};
use crate::coord::LockName;
use crate::domain::LinkSource;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{bots as db, StoreError};

/// Why a request for one event was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("no such event")]
    NotFound,
    /// Another bot change for the event or one of its keys is in progress.
    #[error("Another bot change for this event or deduplication key is in progress; retry.")]
    Busy,
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

impl From<StoreError> for RequestError {
    fn from(e: StoreError) -> Self {
        RequestError::Schedule(ScheduleError::Store(e))
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::NotFound => ApiError::NotFound,
            RequestError::Busy => ApiError::Conflict(RequestError::Busy.to_string()),
            RequestError::Schedule(e) => e.into(),
        }
    }
}

/// The locks a request took; hold them until its answer is read, so the answer shows this
/// request's outcome.
#[must_use = "the locks are released when this is dropped"]
pub struct Held {
    _guards: Vec<OwnedMutexGuard<()>>,
}

fn try_lock(state: &AppState, name: LockName) -> Result<OwnedMutexGuard<()>, RequestError> {
    state.locks.try_lock(name).ok_or(RequestError::Busy)
}

/// The deduplication key of the event's live bot, if it has one.
fn current_key(conn: &Connection, event_id: &str) -> Result<Option<String>, StoreError> {
    let Some(link) = db::link_for_event(conn, event_id)? else {
        return Ok(None);
    };
    Ok(db::get_bot(conn, &link.bot_id)?
        .filter(|b| b.active)
        .map(|b| b.dedup_key))
}

/// Puts the event on the bot for `key` (a normalised key) with `config`, then wakes the
/// bot sweep.
pub async fn schedule(
    state: &AppState,
    event_id: &str,
    key: String,
    config: Map<String, Value>,
) -> Result<Held, RequestError> {
    let mut held = vec![
        try_lock(state, LockName::BotEvent(event_id))?,
        try_lock(state, LockName::BotKey(&key))?,
    ];
    // The key the event is on now is changed too (it may lose its last event).
    let eid = event_id.to_string();
    let old_key = state
        .store
        .read(move |c| current_key(c, &eid))
        .await?
        .filter(|k| *k != key);
    if let Some(k) = &old_key {
        held.push(try_lock(state, LockName::BotKey(k))?);
    }
    let mode = new_bot_mode(state);
    let now = state.now_ms();
    let eid = event_id.to_string();
    state
        .store
        .write(move |tx| {
            let event = db::get_event(tx, &eid)?.ok_or(RequestError::NotFound)?;
            if current_key(tx, &eid)?.filter(|k| *k != key) != old_key {
                return Err(RequestError::Busy);
            }
            dedup::schedule(tx, &event, &key, &config, LinkSource::Api, mode, now)?;
            Ok(())
        })
        .await?;
    wake(state);
    Ok(Held { _guards: held })
}

/// Takes the event off its bot (cancelled when no event uses it any more), then wakes the
/// bot sweep.
pub async fn unschedule(state: &AppState, event_id: &str) -> Result<Held, RequestError> {
    let mut held = vec![try_lock(state, LockName::BotEvent(event_id))?];
    let eid = event_id.to_string();
    let key = state.store.read(move |c| current_key(c, &eid)).await?;
    if let Some(k) = &key {
        held.push(try_lock(state, LockName::BotKey(k))?);
    }
    let now = state.now_ms();
    let eid = event_id.to_string();
    state
        .store
        .write(move |tx| {
            db::get_event(tx, &eid)?.ok_or(RequestError::NotFound)?;
            if current_key(tx, &eid)? != key {
                return Err(RequestError::Busy);
            }
            dedup::unschedule(tx, &eid, None, "unscheduled through the API", now)?;
            Ok(())
        })
        .await?;
    wake(state);
    Ok(Held { _guards: held })
}
