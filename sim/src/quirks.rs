//! Control API for provider quirks and faults after handling (the HTTP mirror of the
//! matching [`crate::SimHandle`] methods).

use crate::model::*;
use crate::server::{json_resp, lock, Data};
use crate::state::SimResult;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/_sim/clients/{provider}/{client_id}/refuse",
        web::post().to(refuse_client),
    )
    .route("/_sim/graph/time_zone", web::post().to(graph_time_zone))
    .route(
        "/_sim/accounts/{id}/time_zone",
        web::post().to(calendar_time_zone),
    )
    .route(
        "/_sim/accounts/{id}/events/{eid}/cancel_series",
        web::post().to(cancel_series),
    )
    .route(
        "/_sim/accounts/{id}/events/{eid}/corrupt",
        web::post().to(corrupt),
    )
    .route("/_sim/held/wait", web::post().to(wait_held))
    .route("/_sim/held/release", web::post().to(release_held));
}

fn reply(r: SimResult<()>) -> HttpResponse {
    match r {
        Ok(()) => json_resp(200, json!({})),
        Err(e) => json_resp(404, json!({"error": e.0})),
    }
}

async fn refuse_client(data: Data, path: web::Path<(Provider, String)>) -> HttpResponse {
    let (provider, client_id) = path.into_inner();
    lock(&data).refused_clients.insert((provider, client_id));
    reply(Ok(()))
}

#[derive(Deserialize)]
struct ZoneReq {
    time_zone: String,
    #[serde(default)]
    ignore_prefer: bool,
}

async fn graph_time_zone(data: Data, body: web::Json<ZoneReq>) -> HttpResponse {
    let mut st = lock(&data);
    st.graph_time_zone = body.time_zone.clone();
    st.graph_ignore_prefer = body.ignore_prefer;
    reply(Ok(()))
}

async fn calendar_time_zone(
    data: Data,
    path: web::Path<String>,
    body: web::Json<ZoneReq>,
) -> HttpResponse {
    reply(lock(&data).set_time_zone(&AccountId(path.into_inner()), &body.time_zone))
}

async fn cancel_series(data: Data, path: web::Path<(String, String)>) -> HttpResponse {
    let (a, e) = path.into_inner();
    reply(lock(&data).cancel_series(&AccountId(a), &e))
}

#[derive(Deserialize)]
struct CorruptReq {
    #[serde(default = "yes")]
    corrupt: bool,
}

fn yes() -> bool {
    true
}

async fn corrupt(
    data: Data,
    path: web::Path<(String, String)>,
    body: Option<web::Json<CorruptReq>>,
) -> HttpResponse {
    let (a, e) = path.into_inner();
    let flag = body.map(|b| b.corrupt).unwrap_or(true);
    reply(lock(&data).corrupt_event(&AccountId(a), &e, flag))
}

/// Long-polls until a request is held.
async fn wait_held(data: Data) -> HttpResponse {
    let gate = lock(&data).gate.clone();
    gate.arrived.notified().await;
    reply(Ok(()))
}

async fn release_held(data: Data) -> HttpResponse {
    lock(&data).gate.release.notify_one();
    reply(Ok(()))
}
