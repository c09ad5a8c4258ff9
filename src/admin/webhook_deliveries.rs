//! The delivery log: newest first, filtered by status and event type, paged by delivery id.
//! Shown on each endpoint's page and, for every target (V2 calendars' own `webhook_url`
//! included), at `/admin/webhooks/deliveries/`.

use actix_web::web;
use askama::Template;

use crate::domain::DeliveryStatus;
use crate::state::AppState;
use crate::store::webhooks::{self as log, DeliveryCounts, DeliveryFilter, DeliveryRow};
use crate::webhooks::EVENT_TYPES;

use super::errors_plain::{self, PlainError};
use super::render::{render, when, AdminError, AdminResult, Layout};
use super::session::AdminSession;

/// Deliveries per page.
pub const PAGE_SIZE: usize = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/webhooks/deliveries/").route(web::get().to(show)));
}

/// The log's query string; blank values mean "any" (the filter form sends them).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(super) struct LogQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    after: String,
    /// Search: delivery number, `webhook-id`, event type or target URL.
    #[serde(default)]
    q: String,
}

impl LogQuery {
    /// From the request's query string (HTML error page when it is malformed).
    pub fn from_request(req: &actix_web::HttpRequest) -> Result<Self, AdminError> {
        serde_urlencoded::from_str(req.query_string())
            .map_err(|_| AdminError::BadRequest("The filter in the address is not valid.".into()))
    }
}

pub(super) struct LogRow {
    pub id: i64,
    pub created: String,
    pub event_type: String,
    pub message_id: String,
    pub target: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub result: Option<PlainError>,
    /// When the next attempt is due (pending deliveries).
    pub next: Option<String>,
}

/// One page of the log with what the filter form and paging links need.
pub(super) struct DeliveryLog {
    /// The page the log is on (filter form action, paging links).
    pub base: String,
    pub rows: Vec<LogRow>,
    pub status: String,
    pub event_type: String,
    pub q: String,
    /// Every delivery status (and `retrying`), for the filter.
    pub statuses: Vec<&'static str>,
    pub event_types: &'static [&'static str],
    /// Whether rows show their target (the all-targets log).
    pub show_target: bool,
    pub newer: Option<String>,
    pub older: Option<String>,
    /// Back to the first page, when not on it.
    pub newest: Option<String>,
}

/// The last attempt's outcome in plain words (None: not attempted yet).
pub(super) fn result_of(code: Option<i64>, error: Option<&str>) -> Option<PlainError> {
    errors_plain::attempt(
        code,
        error,
        crate::webhooks::deliver::ATTEMPT_TIMEOUT.as_secs(),
    )
}

/// The pseudo-status of the log filter for pending deliveries that already failed once.
pub const RETRYING: &str = "retrying";

fn row(d: DeliveryRow) -> LogRow {
    let next = (d.status == DeliveryStatus::Pending).then(|| {
        if d.in_flight {
            "sending now".to_string()
        } else {
            when(d.next_attempt_at)
        }
    });
    LogRow {
        id: d.id,
        created: when(d.created_at),
        result: result_of(d.last_status_code, d.last_error.as_deref()),
        event_type: d.event_type,
        message_id: d.message_id,
        target: d.url.unwrap_or_default(),
        status: d.status,
        attempts: d.attempts,
        next,
    }
}

fn cursor(value: &str, name: &str) -> Result<Option<i64>, AdminError> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| AdminError::BadRequest(format!("The {name} position is not valid.")))
}

/// Loads a page of the log (for one endpoint, or every target when `endpoint_id` is None).
pub(super) async fn load(
    state: &AppState,
    endpoint_id: Option<String>,
    q: &LogQuery,
    base: String,
) -> AdminResult<DeliveryLog> {
    let status = q.status.trim().to_string();
    let mut statuses: Vec<&'static str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
    statuses.insert(1, RETRYING);
    let retrying = status == RETRYING;
    let unknown = || {
        AdminError::BadRequest(format!(
            "Unknown status \"{status}\"; use one of: {}.",
            statuses.join(", ")
        ))
    };
    let status_filter = if retrying {
        Some(DeliveryStatus::Pending)
    } else {
        (!status.is_empty())
            .then(|| DeliveryStatus::parse(&status).ok_or_else(unknown))
            .transpose()?
    };
    let search = q.q.trim().to_string();
    let event_type = q.event_type.trim().to_string();
    if !event_type.is_empty() && !EVENT_TYPES.contains(&event_type.as_str()) {
        return Err(AdminError::BadRequest(format!(
            "Unknown event type \"{event_type}\"."
        )));
    }
    let show_target = endpoint_id.is_none();
    let filter = DeliveryFilter {
        endpoint_id,
        status: status_filter,
        event_type: (!event_type.is_empty()).then(|| event_type.clone()),
        before_id: cursor(&q.before, "before")?,
        // `before` wins when both are given.
        after_id: if q.before.is_empty() {
            cursor(&q.after, "after")?
        } else {
            None
        },
        retrying,
        search: (!search.is_empty()).then(|| search.clone()),
    };
    let f = filter.clone();
    let mut rows = state
        .store
        .read(move |c| log::list_deliveries(c, &f, PAGE_SIZE + 1))
        .await?;
    let more = rows.len() > PAGE_SIZE;
    if more {
        // The extra row lies beyond the page in the direction of travel.
        if filter.after_id.is_some() {
            rows.remove(0);
        } else {
            rows.truncate(PAGE_SIZE);
        }
    }
    let link = |extra: Option<(&str, i64)>| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !status.is_empty() {
            pairs.push(("status", status.clone()));
        }
        if !event_type.is_empty() {
            pairs.push(("event_type", event_type.clone()));
        }
        if !search.is_empty() {
            pairs.push(("q", search.clone()));
        }
        if let Some((k, v)) = extra {
            pairs.push((k, v.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            base.clone()
        } else {
            format!("{base}?{query}")
        }
    };
    let paged = filter.before_id.is_some() || filter.after_id.is_some();
    let (has_newer, has_older) = if filter.after_id.is_some() {
        (more, true)
    } else {
        (filter.before_id.is_some(), more)
    };
    let newer = rows
        .first()
        .filter(|_| has_newer)
        .map(|r| link(Some(("after", r.id))));
    let older = rows
        .last()
        .filter(|_| has_older)
        .map(|r| link(Some(("before", r.id))));
    let newest = paged.then(|| link(None));
    Ok(DeliveryLog {
        rows: rows.into_iter().map(row).collect(),
        status,
        event_type,
        q: search,
        statuses,
        event_types: EVENT_TYPES,
        show_target,
        newer,
        older,
        newest,
        base,
    })
}

#[derive(Template)]
#[template(path = "admin/webhook_deliveries.html")]
struct DeliveriesPage {
    layout: Layout,
    log: DeliveryLog,
    counts: DeliveryCounts,
}

async fn show(
    session: AdminSession,
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
) -> AdminResult {
    let q = LogQuery::from_request(&req)?;
    let log = load(&state, None, &q, "/admin/webhooks/deliveries/".into()).await?;
    let counts = state.store.read(|c| log::delivery_counts(c, None)).await?;
    let page = DeliveriesPage {
        layout: session.layout("webhooks", "Webhook deliveries"),
        log,
        counts,
    };
    render(&page.layout, &page)
}
