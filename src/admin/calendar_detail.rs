//! One calendar: platform, account addresses, status with its history (error codes and
//! messages), token refreshes, sync state with the "Sync now" button (`calendar_sync_now`)
//! and the upcoming events (`events::admin`). Tokens and the client secret are never read for this page.

use actix_web::web;
use askama::Template;

use crate::domain::{CalendarKind, CalendarStatus, PushState};
use crate::state::AppState;
use crate::store::calendar_admin::{self as db, CalendarRow};
use crate::store::calendars::{self as cal_store, Calendar};
use crate::store::StoreError;

use super::calendars::{platform_name, status_tone};
use super::render::{
    render, seconds, sync_lag_behind, when, when_or, AdminError, AdminResult, Layout,
};
use super::session::AdminSession;
use std::time::Duration;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/calendars/{id}/").route(web::get().to(show)));
}

struct Change {
    status: CalendarStatus,
    tone: &'static str,
    error_code: Option<String>,
    error_message: Option<String>,
    at: String,
}

#[derive(Template)]
#[template(path = "admin/calendar.html")]
struct CalendarPage {
    layout: Layout,
    /// Read without its secrets.
    cal: Calendar,
    /// V1: the app's user id of the calendar user.
    external_id: Option<String>,
    platform: &'static str,
    tone: &'static str,
    changes: Vec<Change>,
    created: String,
    updated: String,
    token_expires: String,
    last_refresh: String,
    next_refresh: String,
    last_sync: String,
    next_sync: String,
    /// A sync is asked for and due (next_sync_at reached).
    sync_due: bool,
    can_sync: bool,
    events: Vec<crate::events::admin::EventView>,
    window: String,
    incremental: bool,
    push: super::push::PushView,
    /// Provider items the sync could not read (`templates/admin/_unreadable_items.html`).
    unreadable: Vec<Unreadable>,
    /// How late its scheduled syncs started; None before the first one.
    lag: Option<LagView>,
}

/// How late the calendar's scheduled syncs started after their due time.
struct LagView {
    last: String,
    /// The longest within the last day.
    worst: String,
    /// The longest is over a tenth of the sync interval: the instance is not keeping up.
    behind: bool,
}

impl LagView {
    fn new(lag: crate::store::sync::CalendarSyncLag, interval: Duration) -> Option<Self> {
        let last = lag.last_ms?;
        let worst = lag.worst_ms.unwrap_or(last);
        Some(LagView {
            last: seconds(last),
            worst: seconds(worst),
            behind: sync_lag_behind(worst, interval),
        })
    }
}

/// One provider item the sync could not read.
struct Unreadable {
    platform_id: String,
    error: String,
    first: String,
    last: String,
}

impl CalendarPage {
    /// A recorded refresh or sync error in plain words, the raw text kept for a disclosure.
    fn explain(&self, raw: &str) -> super::errors_plain::PlainError {
        super::errors_plain::explain(raw)
    }
}

async fn show(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> AdminResult {
    let id = crate::api::parse_id(&path).map_err(|_| AdminError::NotFound)?;
    let now = state.now_ms();
    let push_on = state.settings.push_enabled();
    let (cal, changes, events, push, unreadable, lag) = state
        .store
        .read(move |c| {
            let Some(cal) = db::detail(c, &id)? else {
                return Ok::<_, StoreError>(None);
            };
            let changes = cal_store::status_changes(c, &id)?;
            let events = crate::events::admin::load(c, &cal.cal, now)?;
            let push = super::push::view(c, &cal.cal, push_on, now)?;
            let unreadable = crate::store::sync_failures::list(c, &id)?;
            let lag = crate::store::sync::calendar_sync_lag(c, &id)?;
            Ok(Some((cal, changes, events, push, unreadable, lag)))
        })
        .await?
        .ok_or(AdminError::NotFound)?;
    let unreadable = unreadable
        .into_iter()
        .map(|f| Unreadable {
            platform_id: if f.platform_id.is_empty() {
                "(no id)".into()
            } else {
                f.platform_id
            },
            error: f.error,
            first: when(f.first_at),
            last: when(f.last_at),
        })
        .collect();
    // Newest first: the latest change is what the admin looks for.
    let changes = changes
        .into_iter()
        .rev()
        .map(|c| Change {
            tone: status_tone(c.status),
            status: c.status,
            error_code: c.error_code,
            error_message: c.error_message,
            at: when(c.created_at),
        })
        .collect();
    let CalendarRow { cal, external_id } = cal;
    let title = cal
        .platform_email
        .clone()
        .or_else(|| cal.oauth_email.clone())
        .unwrap_or_else(|| "Calendar".into());
    let page = CalendarPage {
        layout: session.layout("calendars", title),
        platform: platform_name(cal.platform),
        tone: status_tone(cal.status),
        changes,
        created: when(cal.created_at),
        updated: when(cal.updated_at),
        token_expires: when_or(cal.access_token_expires_at, "no access token held"),
        last_refresh: when_or(cal.last_refresh_at, "never"),
        next_refresh: when_or(cal.next_refresh_at, "not scheduled"),
        last_sync: when_or(cal.last_sync_at, "never"),
        next_sync: match cal.next_sync_at {
            // The sync engine parks a calendar whose grant was refused.
            Some(crate::store::sync::PARKED) => "stopped (reconnect needed)".into(),
            other => when_or(other, "not scheduled"),
        },
        sync_due: cal.next_sync_at.is_some_and(|t| t <= now),
        can_sync: cal.status != CalendarStatus::Disconnected,
        events: events.events,
        window: events.window,
        incremental: events.incremental,
        push,
        unreadable,
        lag: LagView::new(lag, state.settings.sync_interval),
        external_id,
        cal,
    };
    render(&page.layout, &page)
}
