//! Logout: a CSRF-protected POST that deletes the session and its cookie.

use actix_web::web;

use crate::state::AppState;

use super::csrf::AdminForm;
use super::render::{see_other, AdminResult, Flash};
use super::session;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/logout/").route(web::post().to(submit)));
}

#[derive(serde::Deserialize)]
struct Empty {}

async fn submit(state: web::Data<AppState>, form: AdminForm<Empty>) -> AdminResult {
    form.session.destroy(&state).await?;
    let mut res = see_other(
        &state,
        "/admin/login/",
        Some(Flash::info("You are logged out.")),
    );
    res.add_cookie(&session::removal_cookie())
        .map_err(|e| super::AdminError::Internal(e.to_string()))?;
    Ok(res)
}
