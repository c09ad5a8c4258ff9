//! One webhook endpoint: its state, the edit form, secret actions, delete, and its delivery
//! log (filters and paging, see `webhook_deliveries`).

use actix_web::{web, HttpRequest};
use askama::Template;

use crate::domain::DeliveryStatus;
use crate::state::AppState;
use crate::store::webhook_endpoints as endpoints;
use crate::store::{self, StoreError};
use crate::webhooks::EVENT_TYPES;

use super::csrf::AdminForm;
use super::render::{render, see_other, when, AdminError, AdminResult, Flash, Layout};
use super::session::AdminSession;
use super::webhook_deliveries::{self as deliveries, DeliveryLog, LogQuery};
use super::webhook_endpoints::{parse_form, EndpointView, ShownSecret};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/webhooks/{id}/")
            .route(web::get().to(show))
            .route(web::post().to(update)),
    );
    cfg.service(super::page("/webhooks/{id}/delete/").route(web::post().to(delete)));
}

#[derive(Template)]
#[template(path = "admin/webhook_endpoint.html")]
struct EndpointPage {
    layout: Layout,
    endpoint: EndpointView,
    /// Until when the rotated-out secret still signs, during a rotation.
    previous_secret_until: Option<String>,
    secret: Option<ShownSecret>,
    event_types: &'static [&'static str],
    log: DeliveryLog,
}

pub(super) fn endpoint_path(id: &str) -> String {
    format!("/admin/webhooks/{id}/")
}

/// The endpoint's id from the path; not a UUID → 404.
pub(super) fn endpoint_id(path: &str) -> Result<String, AdminError> {
    crate::api::parse_id(path).map_err(|_| AdminError::NotFound)
}

/// Renders the endpoint page; `secret` only right after a reveal or rotation.
pub(super) async fn page(
    session: &AdminSession,
    state: &AppState,
    id: String,
    q: &LogQuery,
    secret: Option<ShownSecret>,
) -> AdminResult {
    let now = state.now_ms();
    let lookup = id.clone();
    let (endpoint, previous_until) = state
        .store
        .read(move |c| {
            let Some(e) = endpoints::get(c, &lookup)? else {
                return Ok::<_, StoreError>((None, None));
            };
            let counts = store::webhooks::delivery_counts(c, Some(&lookup))?;
            let previous = endpoints::secrets(c, &lookup)?
                .filter(|s| s.previous_secret_enc.is_some())
                .and_then(|s| s.previous_secret_expires_at)
                .filter(|until| *until > now);
            Ok((Some(EndpointView::new(e, counts)), previous))
        })
        .await?;
    let endpoint = endpoint.ok_or(AdminError::NotFound)?;
    let log = deliveries::load(state, Some(id.clone()), q, endpoint_path(&id)).await?;
    let page = EndpointPage {
        layout: session.layout("webhooks", "Webhook endpoint"),
        endpoint,
        previous_secret_until: previous_until.map(when),
        secret,
        event_types: EVENT_TYPES,
        log,
    };
    render(&page.layout, &page)
}

async fn show(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> AdminResult {
    let id = endpoint_id(&path)?;
    let q = LogQuery::from_request(&req)?;
    page(&session, &state, id, &q, None).await
}

async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: AdminForm<Vec<(String, String)>>,
) -> AdminResult {
    let id = endpoint_id(&path)?;
    let back = endpoint_path(&id);
    let patch = match parse_form(&form.data, true) {
        Ok(p) => p,
        Err(msg) => {
            return Ok(see_other(
                &state,
                &back,
                Some(Flash::error(format!("Not saved. {msg}"))),
            ))
        }
    };
    let endpoint = crate::webhooks::update_endpoint(&state, &id, patch)
        .await?
        .ok_or(AdminError::NotFound)?;
    tracing::info!(endpoint_id = %endpoint.id, "webhook endpoint updated in the admin");
    Ok(see_other(
        &state,
        &back,
        Some(Flash::success("The endpoint is saved.")),
    ))
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let id = endpoint_id(&path)?;
    let target = id.clone();
    let existed = state
        .store
        .write(move |tx| endpoints::delete(tx, &target))
        .await?;
    if !existed {
        return Err(AdminError::NotFound);
    }
    tracing::info!(endpoint_id = %id, "webhook endpoint deleted in the admin");
    Ok(see_other(
        &state,
        "/admin/webhooks/",
        Some(Flash::success(
            "The endpoint is deleted, with its delivery log; nothing more is sent to it.",
        )),
    ))
}
