//! API keys: list, create (the key is shown once, on the page answering the create) and
//! revoke. The page also holds the workspace webhook secret (see `webhook_secret`).

use actix_web::web;
use askama::Template;

use crate::state::AppState;
use crate::store;

use super::csrf::AdminForm;
use super::render::{render, see_other, when, when_or, AdminError, AdminResult, Flash, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/api-keys/")
            .route(web::get().to(show))
            .route(web::post().to(create)),
    );
    cfg.service(super::page("/api-keys/{id}/revoke/").route(web::post().to(revoke)));
}

struct KeyRow {
    id: String,
    name: String,
    last4: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

/// A key just created: its only appearance.
pub(super) struct NewKey {
    name: String,
    key: String,
}

#[derive(Template)]
#[template(path = "admin/api_keys.html")]
struct ApiKeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    new_key: Option<NewKey>,
    /// The workspace webhook secret, only after the admin asked to reveal it.
    webhook_secret: Option<String>,
}

/// Renders the page; `new_key` and `webhook_secret` are shown only when given.
pub(super) async fn page(
    session: &AdminSession,
    state: &AppState,
    new_key: Option<NewKey>,
    webhook_secret: Option<String>,
) -> AdminResult {
    let keys = state
        .store
        .read(store::api_keys::list)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            name: k.name,
            last4: k.last4,
            created: when(k.created_at),
            last_used: when_or(k.last_used_at, "never"),
            revoked: k.revoked_at.map(when),
        })
        .collect();
    let page = ApiKeysPage {
        layout: session.layout("api_keys", "API keys"),
        keys,
        new_key,
        webhook_secret,
    };
    render(&page.layout, &page)
}

async fn show(session: AdminSession, state: web::Data<AppState>) -> AdminResult {
    page(&session, &state, None, None).await
}

#[derive(serde::Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
}

async fn create(state: web::Data<AppState>, form: AdminForm<CreateForm>) -> AdminResult {
    let name = form.data.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Ok(see_other(
            &state,
            "/admin/api-keys/",
            Some(Flash::error(
                "Not created: give the key a name (1 to 200 characters), e.g. the app using it.",
            )),
        ));
    }
    let st = state.store.clone();
    let n = name.clone();
    let (id, key) = web::block(move || crate::api::keys::create_api_key(&st, &n))
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?
        .map_err(|e| AdminError::Internal(format!("{e:#}")))?;
    tracing::info!(key_id = %id, "API key created in the admin");
    // Rendered directly, not redirected: the key must not travel in a cookie or URL.
    page(&form.session, &state, Some(NewKey { name, key }), None).await
}

async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let id = crate::api::parse_id(&path).map_err(|_| AdminError::NotFound)?;
    let now = state.now_ms();
    let key_id = id.clone();
    let done = state
        .store
        .write(move |tx| store::api_keys::revoke(tx, &key_id, now))
        .await?;
    // Requests with the key get 401 from now on, not after the cache's confirmation window.
    state.api_keys.forget_id(&id);
    let flash = if done {
        tracing::info!(key_id = %id, "API key revoked in the admin");
        Flash::success("The key is revoked; requests using it now get 401.")
    } else {
        Flash::error("No active key with that id (already revoked?).")
    };
    Ok(see_other(&state, "/admin/api-keys/", Some(flash)))
}
