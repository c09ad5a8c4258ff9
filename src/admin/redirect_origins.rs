//! Allowed redirect origins: where `success_url` / `error_url` may send a browser. The
//! public URL's origin and `CONVENE_REDIRECT_ALLOWLIST` are always allowed (shown, read
//! only); the admin adds and removes the rest.

use actix_web::web;
use askama::Template;

use crate::redirects::parse_origin;
use crate::state::AppState;
use crate::store::{self, settings as kv};

use super::csrf::AdminForm;
use super::render::{render, see_other, AdminResult, Flash, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/redirect-origins/")
            .route(web::get().to(show))
            .route(web::post().to(add)),
    );
    cfg.service(super::page("/redirect-origins/remove/").route(web::post().to(remove)));
}

#[derive(Template)]
#[template(path = "admin/redirect_origins.html")]
struct OriginsPage {
    layout: Layout,
    public_origin: String,
    configured: Vec<String>,
    saved: Vec<String>,
}

async fn show(session: AdminSession, state: web::Data<AppState>) -> AdminResult {
    let saved = state.store.read(kv::list_redirect_origins).await?;
    let public_origin = state.settings.public_url.origin().ascii_serialization();
    let page = OriginsPage {
        layout: session.layout("redirect_origins", "Redirect origins"),
        public_origin,
        configured: state.settings.redirect_allowlist.clone(),
        saved,
    };
    render(&page.layout, &page)
}

#[derive(serde::Deserialize)]
struct OriginForm {
    #[serde(default)]
    origin: String,
}

const BACK: &str = "/admin/redirect-origins/";

async fn add(state: web::Data<AppState>, form: AdminForm<OriginForm>) -> AdminResult {
    let text = form.data.origin.trim().to_string();
    let Some(origin) = parse_origin(&text) else {
        return Ok(see_other(
            &state,
            BACK,
            Some(Flash::error(format!(
                "Not added: {text:?} is not an origin. Enter the scheme and host, with a port \
                 only when it is not the default, and no path: e.g. https://app.example.com"
            ))),
        ));
    };
    let now = state.now_ms();
    let o = origin.clone();
    state
        .store
        .write(move |tx| kv::add_redirect_origin(tx, &o, now))
        .await?;
    Ok(see_other(
        &state,
        BACK,
        Some(Flash::success(format!("{origin} is allowed now."))),
    ))
}

async fn remove(state: web::Data<AppState>, form: AdminForm<OriginForm>) -> AdminResult {
    let origin = form.data.origin;
    let o = origin.clone();
    let removed = state
        .store
        .write(move |tx| kv::remove_redirect_origin(tx, &o))
        .await
        .map_err(|e: store::StoreError| super::AdminError::from(e))?;
    let flash = if removed {
        Flash::success(format!("{origin} is no longer allowed."))
    } else {
        Flash::error(format!("{origin} was not in the saved list."))
    };
    Ok(see_other(&state, BACK, Some(flash)))
}
