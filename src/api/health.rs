//! `GET /healthz` (the process answers) and `GET /readyz` (the database file is the one the
//! server opened, and a write commits).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz/").route(web::get().to(healthz)))
        .service(super::resource("/readyz/").route(web::get().to(readyz)));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when the file at `DATA_DIR/convene.db` is still the one the server has open and a
/// write commits. The log says why when not; the body gives a short reason code.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let problem = match state.store.file_check() {
        Err(why) => Some(("database_file_changed", why)),
        Ok(()) => {
            let now = state.now_ms();
            match state
                .store
                .write(move |tx| crate::store::settings::write_probe(tx, now))
                .await
            {
                Ok(()) => None,
                Err(e) => Some(("write_failed", format!("a write cannot be committed: {e}"))),
            }
        }
    };
    match problem {
        None => HttpResponse::Ok().json(json!({ "status": "ok", "database": "ok" })),
        Some((reason, why)) => {
            tracing::error!(reason, detail = %why, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(
                json!({ "status": "unavailable", "database": "unavailable", "reason": reason }),
            )
        }
    }
}
