//! The commit of a sync: one transaction that upserts what was fetched, marks what a full
//! listing no longer has, stores the new token, and enqueues `calendar.sync_events` when
//! anything changed; it refuses a result whose calendar or credentials changed meanwhile.

use std::collections::HashSet;

use super::engine::{Fetched, Window};
use super::normalize::Item;
use super::timezones;
use crate::domain::{CalendarKind, Platform};
use crate::store::{self, outbox::OutboxEvent, sync::SyncCursor, StoreError};

/// What a sync knew when it started, for its commit.
pub(super) struct Run {
    pub(super) window: Window,
    pub(super) next_sync_at: i64,
    /// The calendar's `credentials_version` when the sync started: a sync that outlived a
    /// credentials reset must not commit the old account's events and token.
    pub(super) credentials_version: i64,
    /// The token the incremental listing started from (kept when an item was unreadable).
    pub(super) stored_cursor: Option<SyncCursor>,
    /// How late after its due time a scheduled sync started (None: by hand, or the first).
    pub(super) lag_ms: Option<i64>,
}

/// What [`apply`] did.
pub(super) enum Applied {
    /// Committed; this many events changed.
    Changed(usize),
    /// The calendar was deleted meanwhile.
    Gone,
    /// Its credentials were replaced meanwhile: nothing written.
    Superseded,
}

/// Applies a listing in one transaction (see [`Applied`]).
pub(super) fn apply(
    tx: &rusqlite::Transaction,
    clock: &crate::state::Clock,
    calendar_id: &str,
    fetched: Fetched,
    run: &Run,
) -> Result<Applied, StoreError> {
    let Some(cal) = store::calendars::get(tx, calendar_id)? else {
        return Ok(Applied::Gone);
    };
    if cal.credentials_version != run.credentials_version {
        return Ok(Applied::Superseded);
    }
    let now = clock.now_ms();
    let window = run.window;
    let token_window = Window {
        start_ms: fetched.cursor.window_start,
        end_ms: fetched.cursor.window_end,
    };
    let mut changed = 0usize;
    let mut listed: HashSet<String> = HashSet::new();
    // An item that could not be read at all (no id): absence proves nothing this time.
    let mut blind = false;
    let mut unreadable = false;
    // Items whose failure record goes (read fine or removed), cleared in one statement; an
    // id later unreadable in the same listing keeps its record, as in listing order.
    let mut readable: HashSet<&str> = HashSet::new();
    for item in &fetched.items {
        match item {
            Item::Upsert(ev) => {
                if fetched.full {
                    listed.insert(ev.platform_id.clone());
                } else if !token_window.overlaps(ev.start_time, ev.end_time)
                    && !store::events::exists(tx, calendar_id, &ev.platform_id)?
                {
                    // Google reports changes anywhere in time; outside the window they
                    // are not ours until the window reaches them.
                    continue;
                }
                if store::events::upsert(tx, calendar_id, ev, now)? {
                    changed += 1;
                }
                readable.insert(&ev.platform_id);
            }
            Item::Remove { platform_id } => {
                if store::events::mark_deleted(tx, calendar_id, platform_id, now)? {
                    changed += 1;
                }
                if cal.platform == Platform::Google {
                    // A series cancelled as a whole: one cancelled master id, stored
                    // instances `<master>_<start>`.
                    changed +=
                        store::events::mark_instances_deleted(tx, calendar_id, platform_id, now)?;
                }
                readable.insert(platform_id);
            }
            Item::Unreadable { platform_id, error } => {
                // The stored copy stays as it is (not deleted, not changed).
                unreadable = true;
                match platform_id {
                    Some(id) => {
                        listed.insert(id.clone());
                    }
                    None => blind = true,
                }
                let id = platform_id.as_deref().unwrap_or("");
                readable.remove(id);
                store::sync_failures::record(tx, calendar_id, id, error, now)?;
            }
            Item::Skip => {}
        }
    }
    let readable: Vec<&str> = readable.into_iter().collect();
    store::sync_failures::clear(tx, calendar_id, &readable)?;
    if fetched.full && !blind {
        changed += mark_unlisted(
            tx,
            calendar_id,
            window,
            &listed,
            fetched.time_zone.as_deref(),
            now,
        )?;
    }
    // An incremental sync does not move past an item it could not read: the same changes
    // are asked for again next time (re-applying the readable ones changes nothing).
    let cursor = match (&run.stored_cursor, unreadable && !fetched.full) {
        (Some(old), true) => old,
        _ => &fetched.cursor,
    };
    store::sync::record_success(tx, calendar_id, cursor, run.next_sync_at, now, run.lag_ms)?;
    if changed > 0 {
        store::outbox::enqueue(
            tx,
            &OutboxEvent {
                event_type: "calendar.sync_events".into(),
                ordering_key: calendar_id.to_string(),
                data: serde_json::json!({
                    "calendar_id": calendar_id,
                    // Every change of this sync carries updated_at = now.
                    "last_updated_ts": store::ms_to_rfc3339(now),
                }),
                extra_url: if cal.kind == CalendarKind::V2 {
                    cal.webhook_url.clone()
                } else {
                    None
                },
            },
            now,
        )?;
    }
    Ok(Applied::Changed(changed))
}

/// After a full listing of `window`: the live stored events it should have listed but did
/// not are gone. All-day events are listed by their extent in the calendar's own zone
/// (Google filters `timeMin`/`timeMax` that way), so one at the window's edge may be left
/// out while its stored (UTC-midnight) row still overlaps the window: it counts as absent
/// only when the provider certainly had to list it.
fn mark_unlisted(
    tx: &rusqlite::Transaction,
    calendar_id: &str,
    window: Window,
    listed: &HashSet<String>,
    time_zone: Option<&str>,
    now: i64,
) -> Result<usize, StoreError> {
    const HOUR: i64 = 3600 * 1000;
    let tz = time_zone.and_then(timezones::resolve);
    let mut n = 0;
    for ev in store::events::live_in_window(tx, calendar_id, (window.start_ms, window.end_ms))? {
        if listed.contains(&ev.platform_id) {
            continue;
        }
        if ev.is_all_day {
            let expected = match tz {
                Some(tz) => {
                    let day = |ms: i64| {
                        chrono::DateTime::from_timestamp_millis(ms)
                            .unwrap_or_default()
                            .date_naive()
                    };
                    let start =
                        timezones::local_midnight(tz, day(ev.start_time)).timestamp_millis();
                    let end = timezones::local_midnight(tz, day(ev.end_time)).timestamp_millis();
                    window.overlaps(start, end)
                }
                // Zone unknown: listed for sure only if it overlaps the window in every
                // zone from UTC+14 to UTC-12.
                None => {
                    ev.end_time - 14 * HOUR > window.start_ms
                        && ev.start_time + 12 * HOUR < window.end_ms
                }
            };
            if !expected {
                continue;
            }
        }
        if store::events::mark_deleted(tx, calendar_id, &ev.platform_id, now)? {
            n += 1;
        }
    }
    Ok(n)
}
