//! The overview: a grid of widgets. Each widget is a plain function over a database
//! connection listed in [`WIDGETS`]; an area adds its own with one line (e.g. Zoom
//! credentials, bots) once its tables exist. Widget functions call `crate::store` functions.

use std::collections::HashMap;

use actix_web::web;
use askama::Template;
use rusqlite::Connection;

use crate::config::Settings;
use crate::domain::{CalendarStatus, ZoomCredentialStatus};
use crate::state::AppState;
use crate::store::{self, StoreError};

use super::checklist::Step;
use super::errors_plain;
use super::render::{render, seconds, sync_lag_behind, when_or, AdminResult, Layout};
use super::session::AdminSession;
use super::system::SystemInfo;

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
    /// Per row, the raw text behind the last cell (shown in a disclosure).
    pub raw: Vec<Option<String>>,
}

impl Widget {
    /// (By reference: askama passes template arguments that way.)
    pub fn row_link(&self, row: &usize) -> Option<&str> {
        self.row_links.get(*row).and_then(|l| l.as_deref())
    }

    /// The raw text behind a row's last cell, if any.
    pub fn row_raw(&self, row: &usize) -> Option<&str> {
        self.raw.get(*row).and_then(|l| l.as_deref())
    }
}

/// Builds a widget from the database and the settings; `now_ms` is the app clock.
pub type WidgetFn = fn(&Connection, &Settings, i64) -> Result<Widget, StoreError>;

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
    /// The first-run checklist, until every step is done.
    checklist: Option<Vec<Step>>,
    system: SystemInfo,
    widgets: Vec<Widget>,
}

async fn show(session: AdminSession, state: web::Data<AppState>) -> AdminResult {
    let now = state.now_ms();
    let settings = state.settings.clone();
    let (widgets, checklist, system) = state
        .store
        .read(move |c| {
            let widgets = WIDGETS
                .iter()
                .map(|w| w(c, &settings, now))
                .collect::<Result<_, _>>()?;
            let facts = store::ops::setup_facts(c)?;
            let checklist = super::checklist::steps(&facts);
            let system = super::system::load(c, &facts, &settings, now)?;
            Ok::<_, StoreError>((widgets, checklist, system))
        })
        .await?;
    let mut widgets: Vec<Widget> = widgets;
    if let (Some((p50, p95)), Some(w)) = (
        state.sync_lag.percentiles(),
        widgets.iter_mut().find(|w| w.title == "Calendars"),
    ) {
        let behind = sync_lag_behind(p95, state.settings.sync_interval);
        w.stats.push(Stat::new("sync lag p50", seconds(p50), ""));
        w.stats.push(Stat::new(
            if behind {
                "sync lag p95: falling behind"
            } else {
                "sync lag p95"
            },
            seconds(p95),
            if behind { "bad" } else { "good" },
        ));
    }
    let page = OverviewPage {
        layout: session.layout("overview", "Overview"),
        checklist,
        system,
        widgets,
    };
    render(&page.layout, &page)
}

fn calendars(c: &Connection, _: &Settings, _now: i64) -> Result<Widget, StoreError> {
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

fn zoom(c: &Connection, _: &Settings, _now: i64) -> Result<Widget, StoreError> {
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

/// Every endpoint is in one of three states: delivering, failing since …, or disabled (and
/// why); never counted twice. Failing and disabled ones are listed (disabled first), each
/// linking to its page; the headline numbers turn red when any is disabled.
fn webhook_endpoints(c: &Connection, _: &Settings, _now: i64) -> Result<Widget, StoreError> {
    let all = store::webhook_endpoints::list_all(c)?;
    let disabled = all.iter().filter(|e| !e.enabled).count();
    let failing = all
        .iter()
        .filter(|e| e.enabled && e.failing_since.is_some())
        .count();
    let total = all.len();
    let delivering = total - disabled - failing;
    let mut troubled: Vec<_> = all.into_iter().filter(|e| e.troubled()).collect();
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
                    format!("failing since {}", when_or(e.failing_since, "?")),
                    "every attempt has failed since then; disabled after 5 days".to_string(),
                )
            } else {
                (
                    "disabled".to_string(),
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
            Stat::new(
                "delivering",
                delivering,
                if delivering > 0 { "good" } else { "" },
            ),
            Stat::new("failing", failing, if failing > 0 { "bad" } else { "" }),
            Stat::new("disabled", disabled, if disabled > 0 { "bad" } else { "" }),
        ],
        columns: vec!["Endpoint", "State", "Why"],
        // A full-width table only when there is something to flag.
        wide: !rows.is_empty(),
        rows,
        row_links,
        empty: if total == 0 {
            "No webhook endpoints yet: add one on the Webhooks page."
        } else {
            "Every endpoint is delivering."
        },
        ..Default::default()
    })
}

/// Failing deliveries grouped by target: how many are still retrying and how many were
/// given up, the last error in plain words, and a link to the target's filtered log.
fn webhook_failures(c: &Connection, _: &Settings, _now: i64) -> Result<Widget, StoreError> {
    let groups = store::ops::failures_by_target(c, 10)?;
    let timeout = crate::webhooks::deliver::ATTEMPT_TIMEOUT.as_secs();
    let mut rows = Vec::new();
    let mut row_links = Vec::new();
    let mut raw = Vec::new();
    for g in groups {
        let link = match &g.endpoint_id {
            Some(id) => format!(
                "/admin/webhooks/{id}/?status={}#deliveries",
                if g.retrying > 0 { "retrying" } else { "failed" }
            ),
            None => super::paging::link("/admin/webhooks/deliveries/", &[("q", &g.url)]),
        };
        let error = errors_plain::attempt(g.last_status_code, g.last_error.as_deref(), timeout);
        rows.push(vec![
            truncate(&g.url, 80),
            g.retrying.to_string(),
            g.failed.to_string(),
            when_or(g.last_attempt_at, "—"),
            error.as_ref().map_or("failed".into(), |e| e.plain.clone()),
        ]);
        row_links.push(Some(link));
        raw.push(error.and_then(|e| e.raw));
    }
    Ok(Widget {
        title: "Webhook failures by target",
        columns: vec![
            "Target",
            "Retrying",
            "Gave up",
            "Last attempt",
            "Last error",
        ],
        rows,
        row_links,
        raw,
        empty: "No failing webhook deliveries.",
        wide: true,
        ..Default::default()
    })
}

fn job_health(c: &Connection, _: &Settings, now: i64) -> Result<Widget, StoreError> {
    let runs = store::jobs::list(c)?;
    let up_ms = crate::metrics::uptime_secs() as i64 * 1000;
    let mut stale = 0;
    let rows = crate::jobs::all()
        .into_iter()
        .map(|sweep| {
            let every_ms = sweep.every.as_millis() as i64;
            let run = runs.iter().find(|r| r.name == sweep.name);
            // Three missed intervals (plus slack for short ones, and the time runs may wait
            // in memory before they are written, `coord::SweepHealth`): not being run.
            let slack = 60_000 + crate::coord::SweepHealth::FLUSH_EVERY_MS;
            let late = |since: i64| now - since > 3 * every_ms + slack;
            let status = match run {
                None if up_ms > 3 * every_ms + slack => {
                    stale += 1;
                    "stale: never ran in 3 intervals".to_string()
                }
                None => "not run yet".to_string(),
                Some(r) if r.last_error.is_some() => format!(
                    "error: {}",
                    truncate(r.last_error.as_deref().unwrap_or_default(), 160)
                ),
                Some(r) if r.last_finished_at.is_some_and(late) => {
                    stale += 1;
                    "stale: no run for 3 intervals".to_string()
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
        stats: vec![Stat::new(
            "stale jobs",
            stale,
            if stale > 0 { "bad" } else { "good" },
        )],
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
