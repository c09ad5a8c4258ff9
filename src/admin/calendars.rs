//! Calendars: every V1 connection and V2 calendar, newest first, filtered by status,
//! platform and kind. Each links to its detail page (`calendar_detail`).

use actix_web::web;
use askama::Template;

use crate::domain::{CalendarKind, CalendarStatus, Platform};
use crate::state::AppState;
use crate::store::calendar_admin::{self as db, CalendarFilter, CalendarRow};

use super::paging::{self, Choice, PAGE_SIZE};
use super::render::{render, when, when_or, AdminError, AdminResult, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/calendars/").route(web::get().to(show)));
}

/// The statuses in the order the filter lists them.
const STATUS_ORDER: [CalendarStatus; 3] = [
    CalendarStatus::Connected,
    CalendarStatus::Connecting,
    CalendarStatus::Disconnected,
];

/// The filter choices (value, label), "any" first.
fn statuses() -> Vec<(&'static str, &'static str)> {
    let any = ("", "Any status");
    std::iter::once(any)
        .chain(STATUS_ORDER.iter().map(|s| (s.as_str(), s.as_str())))
        .collect()
}

fn platforms() -> Vec<(&'static str, &'static str)> {
    let any = ("", "Any platform");
    std::iter::once(any)
        .chain(
            Platform::ALL
                .iter()
                .map(|p| (p.as_str(), platform_name(*p))),
        )
        .collect()
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    let any = ("", "V1 and V2");
    std::iter::once(any)
        .chain(CalendarKind::ALL.iter().map(|k| {
            let label = match k {
                CalendarKind::V1 => "V1 (calendar users)",
                CalendarKind::V2 => "V2 (API calendars)",
            };
            (k.as_str(), label)
        }))
        .collect()
}

/// "Google Calendar", "Microsoft Outlook".
pub(super) fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Google => "Google Calendar",
        Platform::Microsoft => "Microsoft Outlook",
    }
}

/// "Google Calendar" for `google_calendar`, and so on (unknown text as it is).
pub(super) fn platform_label(platform: &str) -> &str {
    match Platform::parse(platform) {
        Some(p) => platform_name(p),
        None => platform,
    }
}

/// The badge colour of a calendar status.
pub(super) fn status_tone(status: CalendarStatus) -> &'static str {
    match status {
        CalendarStatus::Connected => "good",
        CalendarStatus::Connecting => "warn",
        CalendarStatus::Disconnected => "bad",
    }
}

/// A filter value from the query, as its type: empty means any; anything else not among
/// the `choices` is refused.
fn typed_filter<T>(
    name: &str,
    given: Option<&str>,
    choices: &[(&'static str, &'static str)],
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, AdminError> {
    Ok(paging::filter_value(name, given, choices)?
        .as_deref()
        .and_then(parse))
}

struct Row {
    id: String,
    kind: String,
    platform: &'static str,
    email: String,
    user: Option<String>,
    status: CalendarStatus,
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
    q: String,
}

#[derive(serde::Deserialize)]
struct ListQuery {
    status: Option<String>,
    platform: Option<String>,
    kind: Option<String>,
    before: Option<String>,
    /// Search: account email, platform email, calendar user id or calendar id.
    q: Option<String>,
}

async fn show(
    session: AdminSession,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> AdminResult {
    let (statuses, platforms, kinds) = (statuses(), platforms(), kinds());
    let filter = CalendarFilter {
        status: typed_filter(
            "status",
            query.status.as_deref(),
            &statuses,
            CalendarStatus::parse,
        )?,
        platform: typed_filter(
            "platform",
            query.platform.as_deref(),
            &platforms,
            Platform::parse,
        )?,
        kind: typed_filter("kind", query.kind.as_deref(), &kinds, CalendarKind::parse)?,
    };
    let before = paging::decode_before(&state, query.before.as_deref())?;
    let paged = before.is_some();
    let f = filter.clone();
    let q = query.q.as_deref().unwrap_or_default().trim().to_string();
    let search = q.clone();
    let (mut rows, total) = state
        .store
        .read(move |c| {
            if !search.is_empty() {
                // A search shows its first page of matches, across every filter.
                let found = crate::store::search::calendars(c, &search, PAGE_SIZE)?;
                let n = found.len() as i64;
                return Ok::<_, crate::store::StoreError>((found, n));
            }
            Ok((db::list(c, &f, before, PAGE_SIZE + 1)?, db::count(c, &f)?))
        })
        .await?;
    let status = filter.status.map_or("", CalendarStatus::as_str);
    let platform = filter.platform.map_or("", Platform::as_str);
    let kind = filter.kind.map_or("", CalendarKind::as_str);
    let filters = [("status", status), ("platform", platform), ("kind", kind)];
    let next_url = paging::next_page(
        &state,
        &mut rows,
        PAGE_SIZE,
        "/admin/calendars/",
        &filters,
        |r| (r.cal.created_at, &r.cal.id),
    );
    let first_url = paged.then(|| paging::link("/admin/calendars/", &filters));
    let rows = rows
        .into_iter()
        .map(|CalendarRow { cal, external_id }| Row {
            tone: status_tone(cal.status),
            platform: platform_name(cal.platform),
            email: cal.platform_email.or(cal.oauth_email).unwrap_or_default(),
            user: external_id,
            kind: cal.kind.as_str().to_uppercase(),
            last_sync: when_or(cal.last_sync_at, "never"),
            sync_error: cal.last_sync_error,
            created: when(cal.created_at),
            status: cal.status,
            id: cal.id,
        })
        .collect();
    let page = CalendarsPage {
        layout: session.layout("calendars", "Calendars"),
        rows,
        total,
        filtered: filter.status.is_some()
            || filter.platform.is_some()
            || filter.kind.is_some()
            || !q.is_empty(),
        q,
        statuses: paging::choices(&statuses, status),
        platforms: paging::choices(&platforms, platform),
        kinds: paging::choices(&kinds, kind),
        next_url,
        first_url,
    };
    render(&page.layout, &page)
}
