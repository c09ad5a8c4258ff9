//! Calendars: every V1 connection and V2 calendar, newest first, filtered by status,
//! platform and kind. Each links to its detail page (`calendar_detail`).

use actix_web::web;
use askama::Template;

use crate::state::AppState;
use crate::store::calendar_admin::{self as db, CalendarFilter};

use super::paging::{self, Choice, PAGE_SIZE};
use super::render::{render, when, when_or, AdminResult, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/calendars/").route(web::get().to(show)));
}

pub(super) const STATUSES: &[(&str, &str)] = &[
    ("", "Any status"),
    ("connected", "connected"),
    ("connecting", "connecting"),
    ("disconnected", "disconnected"),
];
pub(super) const PLATFORMS: &[(&str, &str)] = &[
    ("", "Any platform"),
    ("google_calendar", "Google Calendar"),
    ("microsoft_outlook", "Microsoft Outlook"),
];
pub(super) const KINDS: &[(&str, &str)] = &[
    ("", "V1 and V2"),
    ("v1", "V1 (calendar users)"),
    ("v2", "V2 (API calendars)"),
];

/// "Google Calendar" for `google_calendar`, and so on.
pub(super) fn platform_label(platform: &str) -> &str {
    PLATFORMS
        .iter()
        .find(|(v, _)| *v == platform)
        .map_or(platform, |(_, l)| l)
}

/// The badge colour of a calendar status.
pub(super) fn status_tone(status: &str) -> &'static str {
    match status {
        "connected" => "good",
        "connecting" => "warn",
        "disconnected" => "bad",
        _ => "",
    }
}

struct Row {
    id: String,
    kind: String,
    platform: String,
    email: String,
    user: Option<String>,
    status: String,
    tone: &'static str,
    last_sync: String,
    sync_error: Option<String>,
    created: String,
}

#[derive(Template)]
#[template(path = "admin/calendars.html")]
struct CalendarsPage {
    layout: Layout,
    rows: Vec<Row>,
    total: i64,
    filtered: bool,
    statuses: Vec<Choice>,
    platforms: Vec<Choice>,
    kinds: Vec<Choice>,
    next_url: Option<String>,
    first_url: Option<String>,
}

#[derive(serde::Deserialize)]
struct ListQuery {
    status: Option<String>,
    platform: Option<String>,
    kind: Option<String>,
    before: Option<String>,
}

async fn show(
    session: AdminSession,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> AdminResult {
    let filter = CalendarFilter {
        status: paging::filter_value("status", query.status.as_deref(), STATUSES)?,
        platform: paging::filter_value("platform", query.platform.as_deref(), PLATFORMS)?,
        kind: paging::filter_value("kind", query.kind.as_deref(), KINDS)?,
    };
    let before = paging::decode_before(&state, query.before.as_deref())?;
    let paged = before.is_some();
    let f = filter.clone();
    let (mut rows, total) = state
        .store
        .read(move |c| {
            Ok::<_, crate::store::StoreError>((
                db::list(c, &f, before, PAGE_SIZE + 1)?,
                db::count(c, &f)?,
            ))
        })
        .await?;
    let status = filter.status.clone().unwrap_or_default();
    let platform = filter.platform.clone().unwrap_or_default();
    let kind = filter.kind.clone().unwrap_or_default();
    let filters = [
        ("status", status.as_str()),
        ("platform", platform.as_str()),
        ("kind", kind.as_str()),
    ];
    let next_url = paging::next_page(
        &state,
        &mut rows,
        PAGE_SIZE,
        "/admin/calendars/",
        &filters,
        |r| (r.created_at, &r.id),
    );
    let first_url = paged.then(|| paging::link("/admin/calendars/", &filters));
    let rows = rows
        .into_iter()
        .map(|r| Row {
            tone: status_tone(&r.status),
            platform: platform_label(&r.platform).to_string(),
            email: r.platform_email.or(r.oauth_email).unwrap_or_default(),
            user: r.external_id,
            kind: r.kind.to_uppercase(),
            last_sync: when_or(r.last_sync_at, "never"),
            sync_error: r.last_sync_error,
            created: when(r.created_at),
            status: r.status,
            id: r.id,
        })
        .collect();
    let page = CalendarsPage {
        layout: session.layout("calendars", "Calendars"),
        rows,
        total,
        filtered: filter.status.is_some() || filter.platform.is_some() || filter.kind.is_some(),
        statuses: paging::choices(STATUSES, &status),
        platforms: paging::choices(PLATFORMS, &platform),
        kinds: paging::choices(KINDS, &kind),
        next_url,
        first_url,
    };
    render(&page.layout, &page)
}
