//! One delivery: its payload (pretty JSON), every attempt, and Replay: a new attempt of the
//! same message, with the same `webhook-id`, so receivers that deduplicate by id still can.

use actix_web::web;
use askama::Template;

use crate::domain::DeliveryStatus;
use crate::state::AppState;
use crate::store::webhook_endpoints as endpoints;
use crate::store::webhooks::{self as log, ReplayOutcome};
use crate::webhooks::deliver;

use super::csrf::AdminForm;
use super::errors_plain::{self, PlainError};
use super::render::{render, see_other, when, AdminError, AdminResult, Flash, Layout};
use super::session::AdminSession;
use super::webhook_deliveries::result_of;
use super::webhook_endpoint::endpoint_path;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/webhooks/deliveries/{id}/").route(web::get().to(show)));
    cfg.service(super::page("/webhooks/deliveries/{id}/replay/").route(web::post().to(replay)));
}

struct AttemptView {
    at: String,
    status_code: Option<i64>,
    /// A 2xx answer.
    ok: bool,
    latency_ms: i64,
    response: Option<String>,
    error: Option<PlainError>,
}

#[derive(Template)]
#[template(path = "admin/webhook_delivery.html")]
struct DeliveryPage {
    layout: Layout,
    id: i64,
    message_id: String,
    event_type: String,
    ordering_key: String,
    target: String,
    endpoint_id: Option<String>,
    /// The endpoint is disabled: a replay waits until it is enabled.
    endpoint_disabled: bool,
    status: DeliveryStatus,
    result: Option<PlainError>,
    next_attempt: Option<String>,
    in_flight: bool,
    created: String,
    payload: String,
    attempts: Vec<AttemptView>,
    back: String,
}

/// Unix ms with seconds: attempts can be seconds apart.
fn precise(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn delivery_id(path: &str) -> Result<i64, AdminError> {
    path.parse().map_err(|_| AdminError::NotFound)
}

fn delivery_path(id: i64) -> String {
    format!("/admin/webhooks/deliveries/{id}/")
}

async fn show(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> AdminResult {
    let id = delivery_id(&path)?;
    let (detail, endpoint) = state
        .store
        .read(move |c| {
            let detail = log::get_delivery(c, id)?;
            let endpoint = match detail.as_ref().and_then(|d| d.delivery.endpoint_id.clone()) {
                Some(e) => endpoints::get(c, &e)?,
                None => None,
            };
            Ok::<_, crate::store::StoreError>((detail, endpoint))
        })
        .await?;
    let detail = detail.ok_or(AdminError::NotFound)?;
    let d = detail.delivery;
    let pending = d.status == DeliveryStatus::Pending;
    // Shown pretty; the exact bytes sent are the compact form of the same JSON.
    let payload = serde_json::from_str::<serde_json::Value>(&detail.payload)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or(detail.payload);
    let page = DeliveryPage {
        layout: session.layout("webhooks", "Webhook delivery"),
        id: d.id,
        result: result_of(d.last_status_code, d.last_error.as_deref()),
        next_attempt: (pending && !d.in_flight).then(|| when(d.next_attempt_at)),
        in_flight: d.in_flight && pending,
        back: d
            .endpoint_id
            .as_deref()
            .map(endpoint_path)
            .unwrap_or_else(|| "/admin/webhooks/deliveries/".into()),
        endpoint_disabled: endpoint.as_ref().is_some_and(|e| !e.enabled),
        message_id: d.message_id,
        event_type: d.event_type,
        ordering_key: d.ordering_key,
        target: d.url.unwrap_or_default(),
        endpoint_id: d.endpoint_id,
        status: d.status,
        created: precise(d.created_at),
        payload,
        attempts: detail
            .attempts
            .into_iter()
            .map(|a| AttemptView {
                at: precise(a.attempted_at),
                status_code: a.status_code,
                ok: a.status_code.is_some_and(|c| (200..300).contains(&c)) && a.error.is_none(),
                latency_ms: a.latency_ms,
                response: a.response_body.filter(|b| !b.is_empty()),
                // The error's words only (a status code alone is shown in its own column).
                error: a.error.as_deref().and_then(|e| {
                    errors_plain::attempt(
                        None,
                        Some(e),
                        crate::webhooks::deliver::ATTEMPT_TIMEOUT.as_secs(),
                    )
                }),
            })
            .collect(),
    };
    render(&page.layout, &page)
}

async fn replay(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let id = delivery_id(&path)?;
    let outcome = deliver::replay(&state, id)
        .await
        .map_err(|e| AdminError::Internal(format!("{e:#}")))?;
    let flash = match outcome {
        ReplayOutcome::NotFound => return Err(AdminError::NotFound),
        ReplayOutcome::InFlight => Flash::info(
            "An attempt of this delivery is running right now; replay it once its result is in.",
        ),
        ReplayOutcome::Scheduled => {
            tracing::info!(delivery = id, "webhook delivery replayed in the admin");
            let disabled = state
                .store
                .read(move |c| {
                    let endpoint = log::get_delivery(c, id)?
                        .and_then(|d| d.delivery.endpoint_id)
                        .map(|e| endpoints::get(c, &e))
                        .transpose()?
                        .flatten();
                    Ok::<_, crate::store::StoreError>(endpoint.is_some_and(|e| !e.enabled))
                })
                .await?;
            if disabled {
                Flash::info(
                    "Replay scheduled, but the endpoint is disabled: the attempt is held until \
                     you enable it.",
                )
            } else {
                Flash::success(
                    "Replay scheduled: the message is being sent again with the same webhook-id.",
                )
            }
        }
    };
    Ok(see_other(&state, &delivery_path(id), Some(flash)))
}
