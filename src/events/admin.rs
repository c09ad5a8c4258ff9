//! Admin pages for sync: every calendar with its sync status and last error
//! (`/admin/calendars/`), one calendar's upcoming events with their meeting platform and link,
//! deleted ones greyed (`/admin/calendars/{id}/`), and a "sync now" button.

use actix_web::web;
use askama::Template;

use crate::admin::{
    page, render, see_other, AdminError, AdminForm, AdminResult, AdminSession, Flash, Layout,
};
use crate::meeting_links::MeetingPlatform;
use crate::state::AppState;
use crate::store::{self, sync::CalendarSyncRow};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(page("/calendars/").route(web::get().to(list)))
        .service(page("/calendars/{id}/").route(web::get().to(show)))
        .service(page("/calendars/{id}/sync/").route(web::post().to(sync_now)));
}

/// Most calendars listed on one page.
const LIST_LIMIT: usize = 500;
/// Upcoming events shown for a calendar.
const EVENTS_LIMIT: usize = 200;

/// A calendar row, formatted for display.
struct CalendarView {
    id: String,
    email: String,
    platform: &'static str,
    kind: String,
    status: String,
    events: i64,
    last_sync: String,
    next_sync: String,
    failures: i64,
    error: Option<String>,
}

fn when(ms: Option<i64>) -> String {
    match ms {
        None => "never".into(),
        Some(store::sync::PARKED) => "stopped (reconnect needed)".into(),
        Some(ms) => chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default(),
    }
}

fn platform_label(platform: &str) -> &'static str {
    match platform {
        "google_calendar" => "Google Calendar",
        "microsoft_outlook" => "Microsoft Outlook",
        _ => "Unknown",
    }
}

impl From<&CalendarSyncRow> for CalendarView {
    fn from(r: &CalendarSyncRow) -> Self {
        let s = &r.sync;
        CalendarView {
            id: s.id.clone(),
            email: r
                .email
                .clone()
                .unwrap_or_else(|| "(unknown address)".into()),
            platform: platform_label(&s.platform),
            kind: s.kind.to_uppercase(),
            status: s.status.clone(),
            events: r.events,
            last_sync: when(s.last_sync_at),
            next_sync: if s.status == "connected" {
                match s.next_sync_at {
                    None => "now".into(),
                    other => when(other),
                }
            } else {
                "not scheduled".into()
            },
            failures: s.sync_failures,
            error: s.last_sync_error.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/calendars.html")]
struct ListPage {
    layout: Layout,
    counts: Vec<(String, i64, i64)>,
    calendars: Vec<CalendarView>,
}

async fn list(session: AdminSession, state: web::Data<AppState>) -> AdminResult {
    let (counts, rows) = state
        .store
        .read(|c| {
            Ok::<_, store::StoreError>((
                store::sync::status_counts(c)?,
                store::sync::list_for_admin(c, LIST_LIMIT)?,
            ))
        })
        .await?;
    let page = ListPage {
        layout: session.layout("calendars", "Calendars"),
        counts,
        calendars: rows.iter().map(CalendarView::from).collect(),
    };
    render(&page.layout, &page)
}

/// An upcoming event, formatted for display.
struct EventView {
    start: String,
    end: String,
    title: String,
    platform: Option<&'static str>,
    url: Option<String>,
    deleted: bool,
    recurring: bool,
}

#[derive(Template)]
#[template(path = "admin/calendar.html")]
struct CalendarPage {
    layout: Layout,
    cal: CalendarView,
    window: String,
    incremental: bool,
    events: Vec<EventView>,
}

async fn show(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> AdminResult {
    let id = uuid::Uuid::parse_str(&path)
        .map_err(|_| AdminError::NotFound)?
        .to_string();
    let now = state.now_ms();
    let (row, events) = state
        .store
        .read(move |c| {
            let row = store::sync::get_for_admin(c, &id)?;
            let events = store::events::upcoming(c, &id, now, EVENTS_LIMIT)?;
            Ok::<_, store::StoreError>((row, events))
        })
        .await?;
    let row = row.ok_or(AdminError::NotFound)?;
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
    let events = events
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
    let window = match (row.sync.sync_window_start, row.sync.sync_window_end) {
        (Some(a), Some(b)) => format!("{} → {}", when(Some(a)), when(Some(b))),
        _ => "none yet (the next sync is a full one)".into(),
    };
    let incremental = row.sync.sync_token.is_some();
    let cal = CalendarView::from(&row);
    let page = CalendarPage {
        layout: session.layout("calendars", cal.email.clone()),
        cal,
        window,
        incremental,
        events,
    };
    render(&page.layout, &page)
}

#[derive(serde::Deserialize)]
struct Empty {}

/// "Sync now": runs a sync at once (waiting for one already running) and reports it.
async fn sync_now(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: AdminForm<Empty>,
) -> AdminResult {
    let id = uuid::Uuid::parse_str(&path)
        .map_err(|_| AdminError::NotFound)?
        .to_string();
    let back = format!("/admin/calendars/{id}/");
    let flash = match crate::sync::sync_calendar(&state, &id).await {
        Ok(o) => Flash::success(format!(
            "Synced ({}): {} event{} changed, {} provider request{}.",
            if o.full { "full" } else { "incremental" },
            o.changed,
            if o.changed == 1 { "" } else { "s" },
            o.requests,
            if o.requests == 1 { "" } else { "s" },
        )),
        Err(crate::sync::SyncError::NotFound) => return Err(AdminError::NotFound),
        Err(e) => Flash::error(format!("Sync failed: {e}")),
    };
    Ok(see_other(&state, &back, Some(flash)))
}
