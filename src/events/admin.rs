//! What the admin calendar page shows of a calendar's events: its upcoming events with their
//! meeting platform and link (deleted ones greyed) and the sync window.

use rusqlite::Connection;

use crate::meeting_links::MeetingPlatform;
use crate::store::calendars::Calendar;
use crate::store::{self, StoreError};

/// Upcoming events shown for a calendar.
const EVENTS_LIMIT: usize = 200;

/// An upcoming event, formatted for display.
pub struct EventView {
    pub start: String,
    pub end: String,
    pub title: String,
    pub platform: Option<&'static str>,
    pub url: Option<String>,
    pub deleted: bool,
    pub recurring: bool,
}

/// The events part of a calendar's admin page.
pub struct CalendarEvents {
    pub events: Vec<EventView>,
    /// The window the stored sync state covers, in words.
    pub window: String,
    /// An incremental sync token is held.
    pub incremental: bool,
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub fn load(conn: &Connection, cal: &Calendar, now_ms: i64) -> Result<CalendarEvents, StoreError> {
    let rows = store::events::upcoming(conn, &cal.id, now_ms, EVENTS_LIMIT)?;
    let fmt = |ms: i64, all_day: bool| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| {
                if all_day {
                    t.format("%Y-%m-%d (all day)").to_string()
                } else {
                    t.format("%Y-%m-%d %H:%M UTC").to_string()
                }
            })
            .unwrap_or_default()
    };
    let events = rows
        .iter()
        .map(|e| EventView {
            start: fmt(e.start_time, e.is_all_day),
            end: if e.is_all_day {
                String::new()
            } else {
                fmt(e.end_time, false)
            },
            title: e.title.clone().unwrap_or_else(|| "(no title)".into()),
            platform: e
                .meeting_platform
                .as_deref()
                .and_then(MeetingPlatform::parse)
                .map(MeetingPlatform::label),
            url: e.meeting_url.clone(),
            deleted: e.is_deleted,
            recurring: e.is_recurring,
        })
        .collect();
    let window = match (cal.sync_window_start, cal.sync_window_end) {
        (Some(a), Some(b)) => format!("{} → {}", when(a), when(b)),
        _ => "none yet (the next sync is a full one)".into(),
    };
    Ok(CalendarEvents {
        events,
        window,
        incremental: cal.sync_token.is_some(),
    })
}
