//! Bots: upcoming bots and failed ones, failures first, each with the events it serves
//! (title, start, calendar), its deduplication key, state, backend id, last error and
//! recent history. Also the overview tile counting bot and backend failures.

use std::collections::HashMap;

use actix_web::web;
use askama::Template;
use rusqlite::Connection;

use crate::config::Settings;
use crate::domain::{BotMode, BotStatus, LinkSource};
use crate::state::AppState;
use crate::store::bots::{self as bot_store, Bot};
use crate::store::{bot_admin, StoreError};

use super::calendars::platform_label;
use super::overview::{Stat, Widget};
use super::render::{render, when, AdminResult, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/bots/").route(web::get().to(show)));
}

/// Bots listed at most (failures first, then the soonest).
const SHOWN: i64 = 200;
/// History entries per bot.
const HISTORY: i64 = 10;

struct EventView {
    event_id: String,
    title: String,
    start: String,
    deleted: bool,
    calendar_id: String,
    calendar: String,
    source: LinkSource,
}

struct HistoryView {
    at: String,
    status: BotStatus,
    version: i64,
    note: String,
}

struct BotView {
    id: String,
    dedup_key: String,
    mode: BotMode,
    meeting_url: String,
    join_at: String,
    started: bool,
    bot_name: String,
    status: BotStatus,
    tone: &'static str,
    backend_id: Option<String>,
    last_error: Option<String>,
    next_retry: Option<String>,
    events: Vec<EventView>,
    history: Vec<HistoryView>,
}

#[derive(Template)]
#[template(path = "admin/bots.html")]
struct BotsPage {
    layout: Layout,
    bots: Vec<BotView>,
    failed: i64,
    backend_configured: bool,
    truncated: bool,
}

fn bot_tone(status: BotStatus) -> &'static str {
    match status {
        BotStatus::Failed => "bad",
        BotStatus::Dispatched => "good",
        BotStatus::Dispatching | BotStatus::Moving | BotStatus::Cancelling => "warn",
        BotStatus::Scheduled | BotStatus::Cancelled => "",
    }
}

/// Everything the page needs, read in one go.
struct Loaded {
    bots: Vec<Bot>,
    events: Vec<bot_admin::BotEvent>,
    history: Vec<(String, Vec<bot_store::HistoryEntry>)>,
    retries: Vec<(String, Option<i64>)>,
    failed: i64,
}

fn load(c: &Connection) -> Result<Loaded, StoreError> {
    let bots = bot_store::upcoming_bots(c, SHOWN)?;
    let ids: Vec<String> = bots.iter().map(|b| b.id.clone()).collect();
    let events = bot_admin::events_of_bots(c, &ids)?;
    let mut history = Vec::with_capacity(bots.len());
    let mut retries = Vec::new();
    for b in &bots {
        history.push((b.id.clone(), bot_store::history(c, &b.id, HISTORY)?));
        if b.status == BotStatus::Failed {
            retries.push((b.id.clone(), bot_store::next_retry_at(c, &b.id)?));
        }
    }
    Ok(Loaded {
        bots,
        events,
        history,
        retries,
        failed: bot_store::failed_bot_count(c)?,
    })
}

async fn show(session: AdminSession, state: web::Data<AppState>) -> AdminResult {
    let Loaded {
        bots,
        events,
        history,
        retries,
        failed,
    } = state.store.read(load).await?;
    let mut events_of: HashMap<String, Vec<EventView>> = HashMap::new();
    for e in events {
        events_of
            .entry(e.bot_id.clone())
            .or_default()
            .push(EventView {
                title: e.title.unwrap_or_else(|| "(no title)".into()),
                start: when(e.start_time),
                deleted: e.is_deleted,
                calendar: e
                    .calendar_email
                    .unwrap_or_else(|| platform_label(&e.platform).to_string()),
                calendar_id: e.calendar_id,
                event_id: e.event_id,
                source: e.source,
            });
    }
    let mut history: HashMap<String, Vec<bot_store::HistoryEntry>> = history.into_iter().collect();
    let retries: HashMap<String, Option<i64>> = retries.into_iter().collect();
    let now = state.now_ms();
    let truncated = bots.len() as i64 >= SHOWN;
    let bots = bots
        .into_iter()
        .map(|b| {
            let hist = history
                .remove(&b.id)
                .unwrap_or_default()
                .into_iter()
                .rev()
                .map(|h| HistoryView {
                    at: when(h.created_at),
                    status: h.status,
                    version: h.version,
                    note: h.note,
                })
                .collect();
            BotView {
                tone: bot_tone(b.status),
                join_at: when(b.join_at),
                started: b.join_at <= now,
                next_retry: retries.get(&b.id).copied().flatten().map(when),
                events: events_of.remove(&b.id).unwrap_or_default(),
                history: hist,
                id: b.id,
                dedup_key: b.dedup_key,
                mode: b.mode,
                meeting_url: b.meeting_url,
                bot_name: b.bot_name,
                status: b.status,
                backend_id: b.backend_id,
                last_error: b.last_error,
            }
        })
        .collect();
    let page = BotsPage {
        layout: session.layout("bots", "Bots"),
        bots,
        failed,
        backend_configured: state.settings.bot_api_url.is_some(),
        truncated,
    };
    render(&page.layout, &page)
}

/// The overview tile: upcoming bots, failed bots and backend calls in trouble.
pub(super) fn widget(c: &Connection, _: &Settings, _now: i64) -> Result<Widget, StoreError> {
    let counts = bot_admin::counts(c)?;
    let failed = bot_store::failed_bot_count(c)?;
    let bad = |n: i64| if n > 0 { "bad" } else { "" };
    Ok(Widget {
        title: "Bots",
        link: Some("/admin/bots/"),
        stats: vec![
            Stat::new("upcoming", counts.upcoming, ""),
            Stat::new("failed bots", failed, bad(failed)),
            Stat::new(
                "calls retrying",
                counts.retrying,
                if counts.retrying > 0 { "warn" } else { "" },
            ),
            Stat::new("calls given up", counts.given_up, bad(counts.given_up)),
        ],
        ..Default::default()
    })
}
