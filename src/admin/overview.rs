//! The overview: a grid of widgets. Each widget is a plain function over a database
//! connection listed in [`WIDGETS`]; an area adds its own with one line (e.g. Zoom
//! credentials, bots) once its tables exist. Widget functions call `crate::store` functions.

use std::collections::HashMap;

use actix_web::web;
use askama::Template;
use rusqlite::Connection;

use crate::domain::{CalendarStatus, DeliveryStatus, ZoomCredentialStatus};
use crate::state::AppState;
use crate::store::{self, StoreError};

use super::render::{render, when_or, AdminResult, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/").route(web::get().to(show)));
}

/// A headline number.
#[derive(Debug, Clone)]
pub struct Stat {
    pub label: String,
    pub value: String,
    /// `""`, `"good"`, `"warn"` or `"bad"`: colours the number.
    pub tone: &'static str,
}

impl Stat {
    pub fn new(label: impl Into<String>, value: impl ToString, tone: &'static str) -> Self {
        Stat {
            label: label.into(),
            value: value.to_string(),
            tone,
        }
    }
}

/// One tile: headline numbers and/or a small table.
#[derive(Debug, Clone, Default)]
pub struct Widget {
    pub title: &'static str,
    /// A page with the details, when one exists.
    pub link: Option<&'static str>,
    pub stats: Vec<Stat>,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    /// Shown when the table has no rows.
    pub empty: &'static str,
    /// Spans the whole width (tables).
    pub wide: bool,
    /// Per row, a page about it: the row's first cell links there.
    pub row_links: Vec<Option<String>>,
}

impl Widget {
    /// (By reference: askama passes template arguments that way.)
    pub fn row_link(&self, row: &usize) -> Option<&str> {
        self.row_links.get(*row).and_then(|l| l.as_deref())
    }
}

/// Builds a widget from the database; `now_ms` is the app clock.
pub type WidgetFn = fn(&Connection, i64) -> Result<Widget, StoreError>;

/// The overview's widgets, in order. Add yours here.
pub const WIDGETS: &[WidgetFn] = &[
    super::platform_alarms::widget,
    calendars,
    zoom,
    super::bots::widget,
    super::push::widget,
    webhook_endpoints,
    webhook_failures,
    job_health,
];

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    layout: Layout,
    widgets: Vec<Widget>,
}

async fn show(session: AdminSession, state: web::Data<AppState>) -> AdminResult {
    let now = state.now_ms();
    let widgets = state
        .store
        .read(move |c| WIDGETS.iter().map(|w| w(c, now)).collect::<Result<_, _>>())
        .await?;
    let page = OverviewPage {
        layout: session.layout("overview", "Overview"),
        widgets,
    };
    render(&page.layout, &page)
}

fn calendars(c: &Connection, _now: i64) -> Result<Widget, StoreError> {
    let counted: HashMap<CalendarStatus, i64> =
        store::calendars::count_by_status(c)?.into_iter().collect();
    // Every status, zero when none.
    let shown = [
        CalendarStatus::Connected,
        CalendarStatus::Connecting,
        CalendarStatus::Disconnected,
    ];
    let mut stats: Vec<Stat> = shown
        .into_iter()
        .map(|status| {
            let n = counted.get(&status).copied().unwrap_or(0);
            let tone = match status {
                CalendarStatus::Disconnected if n > 0 => "bad",
                CalendarStatus::Connected if n > 0 => "good",
                _ => "",
            };
            Stat::new(status.as_str(), n, tone)
        })
        .collect();
    stats.push(Stat::new(
        "calendar users",
        store::overview::count_calendar_users(c)?,
        "",
    ));
    Ok(Widget {
        title: "Calendars",
        link: Some("/admin/calendars/"),
        stats,
        ..Default::default()
    })
}

fn zoom(c: &Connection, _now: i64) -> Result<Widget, StoreError> {
    let (healthy, unhealthy, apps) = store::overview::zoom_counts(c)?;
    Ok(Widget {
        title: "Zoom credentials",
        link: Some("/admin/zoom/credentials/"),
        stats: vec![
            Stat::new(
                ZoomCredentialStatus::Healthy.as_str(),
                healthy,
                if healthy > 0 { "good" } else { "" },
            ),
            Stat::new(
                ZoomCredentialStatus::Unhealthy.as_str(),
                unhealthy,
                if unhealthy > 0 { "bad" } else { "" },
            ),
            Stat::new("OAuth apps", apps, ""),
        ],
        ..Default::default()
    })
}

/// Endpoints that are failing or disabled (410 Gone, 5 days of failures, by hand), each
/// linking to its page; the headline numbers turn red when any is disabled.
fn webhook_endpoints(c: &Connection, _now: i64) -> Result<Widget, StoreError> {
    let all = store::webhook_endpoints::list_all(c)?;
    let disabled = all.iter().filter(|e| !e.enabled).count();
    let failing = all
        .iter()
        .filter(|e| e.enabled && e.failing_since.is_some())
        .count();
    let mut troubled = store::webhook_endpoints::list_troubled(c)?;
    // Disabled ones first: they receive nothing until someone acts.
    troubled.sort_by_key(|e| e.enabled);
    let row_links = troubled
        .iter()
        .map(|e| Some(format!("/admin/webhooks/{}/", e.id)))
        .collect();
    let rows: Vec<Vec<String>> = troubled
        .into_iter()
        .map(|e| {
            let (state, detail) = if e.enabled {
                (
                    "FAILING".to_string(),
                    format!(
                        "every attempt failed since {}",
                        when_or(e.failing_since, "?")
                    ),
                )
            } else {
                (
                    "DISABLED".to_string(),
                    e.disabled_reason.unwrap_or_else(|| "disabled".into()),
                )
            };
            vec![truncate(&e.url, 80), state, detail]
        })
        .collect();
    Ok(Widget {
        title: "Webhook endpoints",
        link: Some("/admin/webhooks/"),
        stats: vec![
            Stat::new("enabled", all.len() - disabled, ""),
            Stat::new("failing", failing, if failing > 0 { "warn" } else { "" }),
            Stat::new("disabled", disabled, if disabled > 0 { "bad" } else { "" }),
        ],
        columns: vec!["Endpoint", "State", "Why"],
        // A full-width table only when there is something to flag.
        wide: !rows.is_empty(),
        rows,
        row_links,
        empty: "Every endpoint is delivering.",
    })
}

fn webhook_failures(c: &Connection, _now: i64) -> Result<Widget, StoreError> {
    let rows = store::webhooks::recent_failures(c, 10)?
        .into_iter()
        .map(|f| {
            let result = match (f.last_status_code, f.last_error) {
                (Some(code), _) => format!("HTTP {code}"),
                (None, Some(e)) => truncate(&e, 120),
                (None, None) => "failed".into(),
            };
            vec![
                when_or(f.last_attempt_at, "—"),
                f.event_type,
                truncate(f.url.as_deref().unwrap_or(&f.target_key), 80),
                f.attempts.to_string(),
                result,
                if f.status == DeliveryStatus::Failed {
                    "gave up".into()
                } else {
                    "retrying".into()
                },
            ]
        })
        .collect();
    Ok(Widget {
        title: "Recent webhook failures",
        columns: vec![
            "Last attempt",
            "Event",
            "Target",
            "Attempts",
            "Result",
            "State",
        ],
        rows,
        empty: "No failing webhook deliveries.",
        wide: true,
        ..Default::default()
    })
}

fn job_health(c: &Connection, now: i64) -> Result<Widget, StoreError> {
    let runs = store::jobs::list(c)?;
    let rows = crate::jobs::all()
        .into_iter()
        .map(|sweep| {
            let every_ms = sweep.every.as_millis() as i64;
            let run = runs.iter().find(|r| r.name == sweep.name);
            let status = match run {
                None => "not run yet".to_string(),
                Some(r) if r.last_error.is_some() => format!(
                    "error: {}",
                    truncate(r.last_error.as_deref().unwrap_or_default(), 160)
                ),
                // Three missed intervals (plus slack for short ones): not being run.
                Some(r)
                    if r.last_finished_at
                        .is_some_and(|t| now - t > 3 * every_ms + 60_000) =>
                {
                    "late".to_string()
                }
                Some(_) => "ok".to_string(),
            };
            vec![
                sweep.name.to_string(),
                every(sweep.every),
                when_or(run.and_then(|r| r.last_finished_at), "never"),
                run.map_or(0, |r| r.runs).to_string(),
                status,
            ]
        })
        .collect();
    Ok(Widget {
        title: "Background jobs",
        columns: vec!["Sweep", "Every", "Last finished", "Runs", "Status"],
        rows,
        empty: "No background jobs.",
        wide: true,
        ..Default::default()
    })
}

fn every(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}
