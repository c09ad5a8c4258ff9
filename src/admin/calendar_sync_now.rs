//! "Sync now" on a calendar's page: runs a sync at once (waiting for one already running,
//! never two at a time) and says how it went; the outcome is also recorded on the calendar
//! like any sync's. A disconnected calendar is not synced: without a grant it can only fail.

use actix_web::web;

use crate::domain::CalendarStatus;
use crate::state::AppState;
use crate::store::calendar_admin as db;

use super::csrf::AdminForm;
use super::render::{see_other, AdminError, AdminResult, Flash};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/calendars/{id}/sync-now/").route(web::post().to(sync_now)));
}

async fn sync_now(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let id = crate::api::parse_id(&path).map_err(|_| AdminError::NotFound)?;
    let cal_id = id.clone();
    let status = state
        .store
        .read(move |c| db::status_of(c, &cal_id))
        .await?
        .ok_or(AdminError::NotFound)?;
    let back = format!("/admin/calendars/{id}/");
    if status == CalendarStatus::Disconnected {
        let flash = Flash::error(
            "Not synced: the calendar is disconnected. It syncs again once it is reconnected.",
        );
        return Ok(see_other(&state, &back, Some(flash)));
    }
    tracing::info!(calendar_id = %id, "sync requested in the admin");
    let flash = match crate::sync::sync_calendar(&state, &id).await {
        Ok(o) => Flash::success(format!(
            "Synced ({}): {} event{} changed, {} provider request{}.",
            if o.full { "full" } else { "incremental" },
            o.changed,
            if o.changed == 1 { "" } else { "s" },
            o.requests,
            if o.requests == 1 { "" } else { "s" },
        )),
        Err(crate::sync::SyncError::NotFound) => return Err(AdminError::NotFound),
        Err(e) => Flash::error(format!("Sync failed: {e}")),
    };
    Ok(see_other(&state, &back, Some(flash)))
}
