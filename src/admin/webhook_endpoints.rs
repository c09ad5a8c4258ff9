//! Webhook endpoints: the list (state, failures, delivery counts) and the create form. A new
//! endpoint's signing secret is shown once, on the page answering the create; later only a
//! CSRF-protected "Reveal" shows it (see `webhook_secrets`).

use actix_web::web;
use askama::Template;
use serde_json::json;

use crate::state::AppState;
use crate::store::webhook_endpoints::{self as endpoints, Endpoint, EndpointPatch};
use crate::store::webhooks::DeliveryCounts;
use crate::store::{self, StoreError};
use crate::webhooks::api::{validate_event_types, validate_url};
use crate::webhooks::EVENT_TYPES;

use super::csrf::AdminForm;
use super::render::{render, see_other, when, AdminResult, Flash, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/webhooks/")
            .route(web::get().to(show))
            .route(web::post().to(create)),
    );
}

/// An endpoint as the pages show it (never with its secret): the stored row, read through
/// `Deref` (`endpoint.url` in a template), with its times formatted and its delivery counts.
pub(super) struct EndpointView {
    endpoint: Endpoint,
    /// Start of the current run of failures, formatted (in place of the row's ms).
    pub failing_since: Option<String>,
    pub created: String,
    pub pending: i64,
    /// Pending after a failed attempt.
    pub retrying: i64,
    pub delivered: i64,
    pub failed: i64,
}

impl std::ops::Deref for EndpointView {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl EndpointView {
    pub fn new(e: Endpoint, counts: DeliveryCounts) -> Self {
        EndpointView {
            // A disabled endpoint is "disabled", never "failing" as well.
            failing_since: e.failing_since.filter(|_| e.enabled).map(when),
            created: when(e.created_at),
            endpoint: e,
            pending: counts.pending,
            retrying: counts.retrying,
            delivered: counts.delivered,
            failed: counts.failed,
        }
    }

    pub fn types_label(&self) -> String {
        if self.event_types.is_empty() {
            "all events".into()
        } else {
            self.event_types.join(", ")
        }
    }

    /// For the event type checkboxes of the edit form.
    pub fn subscribes(&self, t: &&str) -> bool {
        self.event_types.iter().any(|s| s == t)
    }
}

/// A secret shown once (after create, reveal or rotate).
pub(super) struct ShownSecret {
    pub secret: String,
    pub note: String,
}

/// The endpoint just created, with its secret.
struct Created {
    id: String,
    url: String,
    secret: ShownSecret,
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
struct EndpointsPage {
    layout: Layout,
    endpoints: Vec<EndpointView>,
    created: Option<Created>,
    event_types: &'static [&'static str],
}

async fn page(session: &AdminSession, state: &AppState, created: Option<Created>) -> AdminResult {
    let endpoints = state
        .store
        .read(|c| {
            endpoints::list_all(c)?
                .into_iter()
                .map(|e| {
                    let counts = store::webhooks::delivery_counts(c, Some(&e.id))?;
                    Ok::<_, StoreError>(EndpointView::new(e, counts))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let page = EndpointsPage {
        layout: session.layout("webhooks", "Webhooks"),
        endpoints,
        created,
        event_types: EVENT_TYPES,
    };
    render(&page.layout, &page)
}

async fn show(session: AdminSession, state: web::Data<AppState>) -> AdminResult {
    page(&session, &state, None).await
}

/// Reads the endpoint form (url, description, event_types checkboxes and, when editing,
/// enabled) with the API's own validation; the error names what to fix.
pub(super) fn parse_form(
    pairs: &[(String, String)],
    editing: bool,
) -> Result<EndpointPatch, String> {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let url = field("url");
    validate_url(&url).map_err(|m| format!("URL: {m}"))?;
    let types: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "event_types")
        .map(|(_, v)| v.as_str())
        .collect();
    let event_types = validate_event_types(&json!(types)).map_err(|m| format!("Events: {m}"))?;
    let description = field("description");
    if description.chars().count() > 1000 {
        return Err("Description: 1000 characters at most.".into());
    }
    Ok(EndpointPatch {
        url: Some(url),
        description: Some(description),
        event_types: Some(event_types),
        // An unticked checkbox is simply absent from the form.
        enabled: editing.then(|| !field("enabled").is_empty()),
    })
}

async fn create(state: web::Data<AppState>, form: AdminForm<Vec<(String, String)>>) -> AdminResult {
    let patch = match parse_form(&form.data, false) {
        Ok(p) => p,
        Err(msg) => {
            return Ok(see_other(
                &state,
                "/admin/webhooks/",
                Some(Flash::error(format!("Not created. {msg}"))),
            ))
        }
    };
    let (endpoint, secret) = crate::webhooks::create_endpoint(&state, patch).await?;
    tracing::info!(endpoint_id = %endpoint.id, "webhook endpoint created in the admin");
    // Rendered directly, not redirected: the secret must not travel in a cookie or URL.
    let created = Created {
        id: endpoint.id,
        url: endpoint.url,
        secret: ShownSecret {
            secret,
            note: "Copy it now: it is shown again only when you click Reveal on the endpoint's \
                   page."
                .into(),
        },
    };
    page(&form.session, &state, Some(created)).await
}
