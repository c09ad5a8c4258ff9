//! "Sync now" on a calendar's page: makes the calendar due (`next_sync_at` = now) and wakes
//! the sync sweep, which picks due calendars from the database like any other.

use actix_web::web;

use crate::state::AppState;
use crate::store::calendar_admin as db;
use crate::store::calendars as cal_store;
use crate::store::StoreError;

use super::csrf::AdminForm;
use super::render::{see_other, AdminError, AdminResult, Flash};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/calendars/{id}/sync-now/").route(web::post().to(sync_now)));
}

enum Outcome {
    Scheduled,
    Disconnected,
}

async fn sync_now(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let id = crate::api::parse_id(&path).map_err(|_| AdminError::NotFound)?;
    let now = state.now_ms();
    let cal_id = id.clone();
    let outcome = state
        .store
        .write(move |tx| {
            let Some(status) = db::status_of(tx, &cal_id)? else {
                return Ok::<_, StoreError>(None);
            };
            // Without a live grant a sync can only fail; the page says to reconnect instead.
            if status == "disconnected" {
                return Ok(Some(Outcome::Disconnected));
            }
            cal_store::schedule_sync_now(tx, &cal_id, now)?;
            Ok(Some(Outcome::Scheduled))
        })
        .await?
        .ok_or(AdminError::NotFound)?;
    let back = format!("/admin/calendars/{id}/");
    let flash = match outcome {
        Outcome::Scheduled => {
            state.wake.sync.notify_one();
            tracing::info!(calendar_id = %id, "sync requested in the admin");
            Flash::success("Sync requested: the calendar is due now and the sync sweep was woken.")
        }
        Outcome::Disconnected => Flash::error(
            "Not synced: the calendar is disconnected. It syncs again once it is reconnected.",
        ),
    };
    Ok(see_other(&state, &back, Some(flash)))
}
