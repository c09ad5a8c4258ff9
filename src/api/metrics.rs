//! `GET /metrics`: Prometheus text (counters from `crate::metrics`, gauges read from the
//! database here). Off the public internet by default (operations.md): on the main address
//! only with `Authorization: Bearer <CONVENE_METRICS_TOKEN>` (404 while no token is set, so
//! its existence is not advertised; 401 for a wrong token), and without a token on the
//! separate `CONVENE_METRICS_LISTEN` address, which serves nothing else.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;

use crate::domain::BotStatus;
use crate::metrics::{self, Gauges};
use crate::state::AppState;
use crate::store::{ops, StoreError};

/// An operations endpoint, not part of the public API: registered without
/// `api::resource`, so it stays out of the OpenAPI document (`/api/schema/`) and its fuzzing.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics/")
            .route(web::get().to(guarded))
            .default_service(web::to(super::method_not_allowed)),
    );
}

async fn guarded(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(token) = &state.settings.metrics_token else {
        return HttpResponse::NotFound().json(serde_json::json!({ "detail": "Not found." }));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !crate::crypto::constant_time_eq(given.trim(), &token.0) {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .json(serde_json::json!({ "detail": "A valid metrics bearer token is required." }));
    }
    exposition(&state).await
}

async fn open(state: web::Data<AppState>) -> HttpResponse {
    exposition(&state).await
}

/// The current metrics as Prometheus text.
pub async fn exposition(state: &AppState) -> HttpResponse {
    match gauges(state).await {
        Ok(g) => HttpResponse::Ok()
            .content_type(metrics::content_type())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(metrics::render(&g)),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the database");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

async fn gauges(state: &AppState) -> Result<Gauges, StoreError> {
    let now = state.now_ms();
    let start_lag = state
        .sync_lag
        .percentiles()
        .map(|(p50, p95)| (p50 as f64 / 1000.0, p95 as f64 / 1000.0));
    state
        .store
        .read(move |c| {
            let (queued, retrying) = ops::webhook_queue(c)?;
            Ok(Gauges {
                webhook_queue_depth: queued + retrying,
                bots: {
                    // Every state, at 0 when no bot is in it.
                    let counted = ops::bots_by_status(c)?;
                    BotStatus::ALL
                        .iter()
                        .map(|st| {
                            let n = counted.iter().find(|(s, _)| s == st).map_or(0, |(_, n)| *n);
                            (st.as_str().to_string(), n)
                        })
                        .collect()
                },
                db_size_bytes: ops::db_size_bytes(c)?,
                sync_lag_seconds: ops::oldest_sync(c)?
                    .map_or(0.0, |at| ((now - at).max(0)) as f64 / 1000.0),
                sync_start_lag_seconds: start_lag,
            })
        })
        .await
}

/// Serves `/metrics` alone on `CONVENE_METRICS_LISTEN`, when set.
pub fn start_listener(state: &AppState) -> anyhow::Result<Option<(u16, Server)>> {
    let Some(addr) = state.settings.metrics_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .with_context(|| format!("CONVENE_METRICS_LISTEN: cannot bind {addr}"))?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(web::resource("/metrics/").route(web::get().to(open)))
            .default_service(web::to(HttpResponse::NotFound))
            .wrap(NormalizePath::new(TrailingSlash::Always))
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok(Some((port, server)))
}
