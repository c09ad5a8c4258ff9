//! One Zoom credential: its state, token timing (never the tokens), its history (created,
//! refreshed, refresh errors, refused, deauthorized) and delete, for the seed's "conflict →
//! delete → recreate" when a user connects again.

use actix_web::web;
use askama::Template;

use crate::domain::ZoomCredentialStatus;
use crate::state::AppState;
use crate::store::zoom as zs;
use crate::store::StoreError;
use crate::zoom::credentials;

use super::csrf::AdminForm;
use super::render::{render, see_other, when, AdminError, AdminResult, Flash, Layout};
use super::session::AdminSession;

/// History entries shown (newest first).
pub const HISTORY_LIMIT: usize = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/zoom/credentials/{id}/").route(web::get().to(show)));
    cfg.service(super::page("/zoom/credentials/{id}/delete/").route(web::post().to(delete)));
}

struct EventView {
    at: String,
    kind: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/zoom_credential.html")]
struct CredentialPage {
    layout: Layout,
    id: String,
    app_id: String,
    app_label: String,
    user_id: String,
    account_id: String,
    status: ZoomCredentialStatus,
    scope: String,
    created: String,
    last_refresh: String,
    access_token_expires: String,
    refresh_failures: i64,
    last_error: Option<String>,
    history: Vec<EventView>,
}

fn credential_id(path: &str) -> Result<String, AdminError> {
    crate::api::parse_id(path).map_err(|_| AdminError::NotFound)
}

async fn show(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> AdminResult {
    let id = credential_id(&path)?;
    let found = state
        .store
        .read(move |c| {
            let Some(cred) = zs::get_credential(c, &id)? else {
                return Ok::<_, StoreError>(None);
            };
            let app = zs::get_app(c, &cred.oauth_app_id)?;
            let events = zs::events(c, &id, HISTORY_LIMIT)?;
            Ok(Some((cred, app, events)))
        })
        .await?;
    let (cred, app, events) = found.ok_or(AdminError::NotFound)?;
    let page = CredentialPage {
        layout: session.layout("zoom", "Zoom credential"),
        app_label: app
            .map(|a| format!("{} ({})", a.client_id, a.kind))
            .unwrap_or_else(|| cred.oauth_app_id.clone()),
        app_id: cred.oauth_app_id,
        id: cred.id,
        user_id: cred.user_id,
        account_id: cred.account_id,
        status: cred.status,
        scope: cred.scope,
        created: when(cred.created_at),
        last_refresh: when(cred.last_refresh_at),
        access_token_expires: when(cred.access_token_expires_at),
        refresh_failures: cred.refresh_failures,
        last_error: cred.last_error,
        history: events
            .into_iter()
            .map(|e| EventView {
                at: chrono::DateTime::<chrono::Utc>::from_timestamp_millis(e.created_at)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default(),
                kind: e.kind,
                detail: e.detail.unwrap_or_default(),
            })
            .collect(),
    };
    render(&page.layout, &page)
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let id = credential_id(&path)?;
    // Under the credential's lock, as in the API, so a refresh in flight commits first.
    if !credentials::delete(&state, &id).await? {
        return Err(AdminError::NotFound);
    }
    tracing::info!(credential_id = %id, "Zoom credential deleted in the admin");
    Ok(see_other(
        &state,
        "/admin/zoom/credentials/",
        Some(Flash::success(
            "The credential is deleted; the user can connect again and your app can create a \
             new one from the new code.",
        )),
    ))
}
