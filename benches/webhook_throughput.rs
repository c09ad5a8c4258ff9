//! Webhook delivery throughput against a local receiver that answers 200 at once, as a
//! ratio to the rate at which the same receiver accepts POSTs from a plain reqwest loop in
//! the same run.
//!
//! `cargo bench --bench webhook_throughput` (release profile). `BENCH_MESSAGES` sets the
//! number of messages (default 5000), `BENCH_KEYS` the number of distinct ordering keys
//! (default 1000; one key means strictly one message at a time).

#[path = "common/mod.rs"]
mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use convene::config::Settings;
use convene::startup::Application;
use convene::state::AppState;
use convene::store::outbox::{self, OutboxEvent};
use convene::store::webhook_endpoints::EndpointPatch;
use futures_util::StreamExt;

/// Requests the plain loop keeps in flight: as many as Convene sends to one endpoint at once.
const BASELINE_IN_FLIGHT: usize = convene::webhooks::deliver::PER_TARGET;

/// A receiver that answers 200 with an empty body and counts requests.
fn start_receiver() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let server = HttpServer::new(move || {
        let c = c.clone();
        App::new().default_service(web::to(move |_body: web::Bytes| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                HttpResponse::Ok().finish()
            }
        }))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (url, count)
}

async fn build_app(dir: &std::path::Path) -> AppState {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = [
        ("CONVENE_LISTEN", format!("127.0.0.1:{port}")),
        ("CONVENE_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
        ("CONVENE_DATA_DIR", dir.to_string_lossy().into_owned()),
        ("CONVENE_LOG", "error".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let settings = Settings::from_sources(env, None).unwrap();
    let app = Application::build_with_listener(settings, listener)
        .await
        .unwrap();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    state
}

fn payload(i: usize, key: &str) -> serde_json::Value {
    serde_json::json!({ "calendar_id": key, "last_updated_ts": "2026-11-23T15:00:00Z", "n": i })
}

/// Enqueues `n` messages over `keys` ordering keys in one transaction (not timed).
async fn enqueue(state: &AppState, n: usize, keys: usize) {
    let now = state.now_ms();
    state
        .store
        .write(move |tx| {
            for i in 0..n {
                let key = format!("cal-{}", i % keys);
                let event = OutboxEvent {
                    event_type: "calendar.sync_events".into(),
                    ordering_key: key.clone(),
                    data: payload(i, &key),
                    extra_url: None,
                };
                outbox::enqueue(tx, &event, now)?;
            }
            Ok::<_, convene::store::StoreError>(())
        })
        .await
        .unwrap();
}

/// Convene: enqueue, then time `deliver_due` until everything is delivered.
async fn convene_rate(state: &AppState, count: &AtomicUsize, n: usize, keys: usize) -> f64 {
    enqueue(state, n, keys).await;
    let before = count.load(Ordering::SeqCst);
    let started = Instant::now();
    let mut attempts = 0;
    while attempts < n {
        attempts += convene::webhooks::deliver::deliver_due(state)
            .await
            .unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(
        count.load(Ordering::SeqCst) - before,
        n,
        "every message arrived once"
    );
    n as f64 / secs
}

/// A plain reqwest loop posting the same kind of body, `concurrency` at a time.
async fn raw_rate(url: &str, n: usize, concurrency: usize) -> f64 {
    let client = reqwest::Client::new();
    let body = serde_json::json!({ "event": "calendar.sync_events", "data": payload(0, "cal-0") })
        .to_string();
    let started = Instant::now();
    futures_util::stream::iter(0..n)
        .map(|_| {
            let req = client
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone());
            async move {
                let res = req.send().await.unwrap();
                assert!(res.status().is_success());
                let _ = res.bytes().await;
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = common::env_usize("BENCH_MESSAGES", 5000);
    let keys = common::env_usize("BENCH_KEYS", 1000).max(1);
    let dir = tempfile::tempdir().unwrap();
    let state = build_app(dir.path()).await;
    let (url, count) = start_receiver();
    let endpoint = EndpointPatch {
        url: Some(url.clone()),
        description: Some("bench".into()),
        ..Default::default()
    };
    convene::webhooks::create_endpoint(&state, endpoint)
        .await
        .unwrap();

    // Warm up connections and caches on both sides.
    raw_rate(&url, 200, 1).await;
    convene_rate(&state, &count, 200, 200).await;

    let raw_seq = raw_rate(&url, n, 1).await;
    let raw_conc = raw_rate(&url, n, BASELINE_IN_FLIGHT).await;
    let convene_many = convene_rate(&state, &count, n, keys).await;
    let single_n = (n / 5).max(1);
    let convene_one = convene_rate(&state, &count, single_n, 1).await;
    tokio::time::sleep(Duration::from_millis(10)).await;

    println!("webhook throughput, {n} messages, local receiver answering 200 at once");
    println!("  plain reqwest loop, sequential:         {raw_seq:>9.0} req/s");
    println!("  plain reqwest loop, {BASELINE_IN_FLIGHT} in flight:       {raw_conc:>9.0} req/s");
    println!("  Convene deliver_due, {keys} keys:       {convene_many:>9.0} webhooks/s");
    println!("  Convene deliver_due, 1 key ({single_n} msgs): {convene_one:>9.0} webhooks/s");
    println!(
        "  ratio Convene ({keys} keys) / sequential reqwest loop: {:.2}",
        convene_many / raw_seq
    );
    println!(
        "  ratio Convene ({keys} keys) / concurrent reqwest loop: {:.2}",
        convene_many / raw_conc
    );
    println!(
        "  ratio Convene (1 key) / sequential reqwest loop:     {:.2}",
        convene_one / raw_seq
    );
    println!(
        "  ratio Convene (1 key) / concurrent reqwest loop:     {:.2}",
        convene_one / raw_conc
    );
}
