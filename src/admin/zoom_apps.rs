//! Zoom OAuth apps: the list (credentials per app, the event notification URL to register),
//! create (secrets are write-only) and delete, which is refused while credentials use the
//! app, as in the API. The page carries the seed's redirect URI guidance.

use actix_web::web;
use askama::Template;

use crate::domain::ZoomAppKind;
use crate::state::AppState;
use crate::store::zoom::{self as zs, DeleteApp};
use crate::zoom::apps::{self, NewApp};

use super::csrf::AdminForm;
use super::render::{render, see_other, when, AdminError, AdminResult, Flash, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/zoom/").route(web::get().to(show)));
    cfg.service(super::page("/zoom/apps/").route(web::post().to(create)));
    cfg.service(super::page("/zoom/apps/{id}/delete/").route(web::post().to(delete)));
}

const BACK: &str = "/admin/zoom/";

struct AppView {
    id: String,
    kind: ZoomAppKind,
    client_id: String,
    has_webhook_secret: bool,
    /// Where Zoom sends the app's event notifications (deauthorization).
    webhook_url: String,
    healthy: i64,
    unhealthy: i64,
    created: String,
}

#[derive(Template)]
#[template(path = "admin/zoom_apps.html")]
struct AppsPage {
    layout: Layout,
    apps: Vec<AppView>,
    /// Zoom's authorize URL (the start of the consent flow the app builds).
    authorize_url: String,
}

async fn show(session: AdminSession, state: web::Data<AppState>) -> AdminResult {
    let (apps, counts) = state
        .store
        .read(|c| {
            Ok::<_, crate::store::StoreError>((zs::list_all_apps(c)?, zs::credential_counts(c)?))
        })
        .await?;
    let apps = apps
        .into_iter()
        .map(|a| {
            let (healthy, unhealthy) = counts.get(&a.id).copied().unwrap_or_default();
            AppView {
                webhook_url: state
                    .settings
                    .public_link(&format!("/api/v2/zoom-oauth-apps/{}/webhook/", a.id)),
                has_webhook_secret: a.webhook_secret_enc.is_some(),
                created: when(a.created_at),
                id: a.id,
                kind: a.kind,
                client_id: a.client_id,
                healthy,
                unhealthy,
            }
        })
        .collect();
    let page = AppsPage {
        layout: session.layout("zoom", "Zoom"),
        apps,
        authorize_url: state.settings.providers.zoom_auth.to_string(),
    };
    render(&page.layout, &page)
}

#[derive(serde::Deserialize)]
struct CreateForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    webhook_secret: String,
}

/// A pasted credential: non-empty, bounded, no spaces or control characters.
fn valid_credential(v: &str, max: usize) -> bool {
    !v.is_empty() && v.len() <= max && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The form's app, or what to fix (checked in the order the form shows the fields).
fn new_app(f: CreateForm) -> Result<NewApp, &'static str> {
    let kind = ZoomAppKind::parse(f.kind.trim())
        .ok_or("Choose the kind: user-managed (user_level) or admin-managed (account_level).")?;
    let client_id = f.client_id.trim().to_string();
    let client_secret = f.client_secret.trim().to_string();
    let webhook_secret = f.webhook_secret.trim().to_string();
    if !valid_credential(&client_id, 512) {
        Err("Enter the client ID from the app's App Credentials (no spaces).")
    } else if !valid_credential(&client_secret, 1024) {
        Err("Enter the client secret from the app's App Credentials (no spaces).")
    } else if !webhook_secret.is_empty() && !valid_credential(&webhook_secret, 1024) {
        Err("The secret token must have no spaces (or leave it blank).")
    } else {
        Ok(NewApp {
            kind,
            client_id,
            client_secret,
            webhook_secret: (!webhook_secret.is_empty()).then_some(webhook_secret),
        })
    }
}

async fn create(state: web::Data<AppState>, form: AdminForm<CreateForm>) -> AdminResult {
    let new = match new_app(form.data) {
        Ok(new) => new,
        Err(p) => {
            return Ok(see_other(
                &state,
                BACK,
                Some(Flash::error(format!("Not created. {p}"))),
            ))
        }
    };
    let flash = match apps::create(&state, new).await? {
        Some(app) => {
            let id = app.id;
            tracing::info!(zoom_app_id = %id, "Zoom OAuth app created in the admin");
            Flash::success(format!(
                "The Zoom OAuth app is saved; send oauth_app \"{id}\" when you create credentials."
            ))
        }
        None => Flash::error("Not created: a Zoom OAuth app with this client ID already exists."),
    };
    Ok(see_other(&state, BACK, Some(flash)))
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let id = crate::api::parse_id(&path).map_err(|_| AdminError::NotFound)?;
    let target = id.clone();
    let flash = match state
        .store
        .write(move |tx| zs::delete_app(tx, &target))
        .await?
    {
        DeleteApp::NotFound => return Err(AdminError::NotFound),
        DeleteApp::Deleted => {
            tracing::info!(zoom_app_id = %id, "Zoom OAuth app deleted in the admin");
            Flash::success("The Zoom OAuth app is deleted.")
        }
        DeleteApp::InUse(n) => Flash::error(format!(
            "Not deleted: {n} Zoom credential(s) still use this app, and their tokens need its \
             secret. Delete those credentials first (Credentials, filtered by this app), then \
             the app."
        )),
    };
    Ok(see_other(&state, BACK, Some(flash)))
}
