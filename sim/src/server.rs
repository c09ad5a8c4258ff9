//! HTTP plumbing shared by the provider modules: state access, faults, routing, startup.

use crate::model::{Endpoint, Fault, Provider};
use crate::state::SimState;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) type Shared = Arc<Mutex<SimState>>;
pub(crate) type Data = web::Data<Mutex<SimState>>;

pub(crate) fn lock(m: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn json_resp(status: u16, body: Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

/// Query string as a map (first value wins).
pub(crate) fn query_map(req: &HttpRequest) -> HashMap<String, String> {
    form_map(req.query_string().as_bytes())
}

/// Form-encoded body as a map (first value wins).
pub(crate) fn form_map(body: &[u8]) -> HashMap<String, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let mut m = HashMap::new();
    for (k, v) in pairs {
        m.entry(k).or_insert(v);
    }
    m
}

pub(crate) fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Count a call to `ep` and apply its pending fault. `Some(resp)` means answer with it.
pub(crate) async fn pre(data: &Data, ep: Endpoint) -> Option<HttpResponse> {
    let fault = lock(data).begin(ep);
    if fault == Some(Fault::HoldAnswer) {
        crate::late::hold(data).await;
        return None;
    }
    apply_fault(ep, fault).await
}

/// Apply a fault taken by [`SimState::begin`] (sleeps for `Slow`, then returns `None`).
pub(crate) async fn apply_fault(ep: Endpoint, fault: Option<Fault>) -> Option<HttpResponse> {
    let token_ep = matches!(
        ep,
        Endpoint::GoogleToken | Endpoint::MicrosoftToken | Endpoint::ZoomToken
    );
    match fault? {
        Fault::Slow { millis } => {
            tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            None
        }
        Fault::MalformedJson => Some(
            HttpResponse::Ok()
                .content_type("application/json; charset=utf-8")
                .body("{\"kind\": \"calendar#events\", \"items\": [{\"id\": \"trunc"),
        ),
        Fault::Google403RateLimitExceeded => Some(json_resp(403, google_rate_limit_body(403))),
        // Read-only endpoints: after handling is the same as before it.
        Fault::AnswerLost => Some(crate::late::lost()),
        Fault::ResetMidBody => Some(crate::late::broken(
            StatusCode::OK,
            actix_web::web::Bytes::new(),
        )),
        Fault::UnreadableOk => Some(crate::late::cut(&[])),
        // Held by the caller, which has the shared state.
        Fault::HoldAnswer => None,
        Fault::Status500 => {
            let body = match (ep.provider(), token_ep) {
                (Provider::Google, true) => {
                    json!({"error": "internal_failure", "error_description": "Backend Error"})
                }
                (Provider::Google, false) => json!({"error": {
                    "errors": [{"domain": "global", "reason": "backendError", "message": "Backend Error"}],
                    "code": 500, "message": "Backend Error"}}),
                (Provider::Microsoft, true) => crate::microsoft::aad_error_body(
                    "temporarily_unavailable",
                    90033,
                    "A transient error has occurred. Please try again.",
                ),
                (Provider::Microsoft, false) => json!({"error": {
                    "code": "generalException",
                    "message": "An internal server error occurred. The operation failed."}}),
                (Provider::Zoom, _) => json!({"code": 500, "message": "Internal Error"}),
            };
            Some(json_resp(500, body))
        }
        Fault::RateLimited429 { retry_after_secs } => {
            let body = match ep.provider() {
                Provider::Google => google_rate_limit_body(429),
                Provider::Microsoft => json!({"error": {
                    "code": "TooManyRequests",
                    "message": "Application is over its MailboxConcurrency limit."}}),
                Provider::Zoom => json!({"code": 429,
                    "message": "You have reached the maximum per-second rate limit for this API. Try again later."}),
            };
            Some(
                HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
                    .insert_header(("Retry-After", retry_after_secs.to_string()))
                    .content_type("application/json; charset=utf-8")
                    .body(body.to_string()),
            )
        }
    }
}

pub(crate) fn google_rate_limit_body(code: u16) -> Value {
    json!({"error": {
        "errors": [{"domain": "usageLimits", "reason": "rateLimitExceeded", "message": "Rate Limit Exceeded"}],
        "code": code,
        "message": "Rate Limit Exceeded"}})
}

/// A plain HTML-ish error page (authorize endpoints do not redirect on client errors).
pub(crate) fn error_page(status: u16, title: &str, detail: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><title>{title}</title><h1>{title}</h1><p>{detail}</p>"
        ))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    json_resp(
        404,
        json!({"error": "not_found", "message": format!("convene-sim has no route {} {}", req.method(), req.path())}),
    )
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    crate::google::routes(cfg);
    crate::microsoft::routes(cfg);
    crate::zoom::routes(cfg);
    crate::zoom_meetings::routes(cfg);
    crate::push::routes(cfg);
    crate::control::routes(cfg);
    crate::quirks::routes(cfg);
}

/// Start the actix server for `state` on `listener` in its own thread and runtime.
pub(crate) fn spawn_server(
    listener: std::net::TcpListener,
    state: Shared,
    workers: usize,
) -> std::io::Result<(actix_web::dev::ServerHandle, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("convene-sim".into())
        .spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(async move {
                let data: Data = web::Data::from(state);
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap_fn(|req, srv| {
                            use actix_web::dev::Service;
                            let delay = if req.path().starts_with("/_sim") {
                                0
                            } else {
                                req.app_data::<Data>().map_or(0, |d| lock(d).latency_ms)
                            };
                            let answer = srv.call(req);
                            async move {
                                if delay > 0 {
                                    tokio::time::sleep(std::time::Duration::from_millis(delay))
                                        .await;
                                }
                                answer.await
                            }
                        })
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                        .app_data(web::JsonConfig::default().limit(4 * 1024 * 1024))
                        .configure(configure)
                        .default_service(web::to(not_found))
                })
                .workers(workers)
                .disable_signals()
                .shutdown_timeout(1)
                .listen(listener);
                match server {
                    Ok(s) => {
                        let s = s.run();
                        let _ = tx.send(Ok(s.handle()));
                        let _ = s.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })?;
    let handle = rx
        .recv()
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    Ok((handle, thread))
}
