//! Process metrics for `GET /metrics` (Prometheus text, via the `prometheus` crate).
//!
//! Counters live in one process-wide registry and are moved by one-line calls from the
//! code that does the work (`metrics::sync_run(..)`, `metrics::webhook_delivery(..)`, …).
//! Gauges that describe the database (queue depth, bots by state, size, sync lag) are read
//! at scrape time by `api::metrics` and passed to [`render`]. A leaf module: it uses only
//! `config` and `domain`.

use std::sync::OnceLock;
use std::time::Instant;

use prometheus::{
    Encoder, Gauge, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::config::Settings;
use crate::domain::Platform;

struct Counters {
    registry: Registry,
    http_requests: IntCounterVec,
    sync_runs: IntCounterVec,
    provider_requests: IntCounterVec,
    token_refreshes: IntCounterVec,
    webhook_deliveries: IntCounterVec,
    push_notifications: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("registered once");
    c
}

fn counters() -> &'static Counters {
    static COUNTERS: OnceLock<Counters> = OnceLock::new();
    COUNTERS.get_or_init(|| {
        let registry = Registry::new();
        Counters {
            http_requests: counter(
                &registry,
                "convene_http_requests_total",
                "HTTP requests answered, by route pattern and status code.",
                &["route", "status"],
            ),
            sync_runs: counter(
                &registry,
                "convene_sync_runs_total",
                "Calendar syncs run, by provider and outcome (ok, error).",
                &["provider", "outcome"],
            ),
            provider_requests: counter(
                &registry,
                "convene_provider_requests_total",
                "Requests to Google, Microsoft and Zoom, by endpoint and HTTP status \
                 (\"error\" when no answer arrived).",
                &["provider", "endpoint", "status"],
            ),
            token_refreshes: counter(
                &registry,
                "convene_token_refreshes_total",
                "Calendar refresh-token exchanges, by provider and outcome \
                 (ok, refused, transient).",
                &["provider", "outcome"],
            ),
            webhook_deliveries: counter(
                &registry,
                "convene_webhook_deliveries_total",
                "Webhook delivery attempts by what followed (delivered, retrying, failed).",
                &["outcome"],
            ),
            push_notifications: counter(
                &registry,
                "convene_push_notifications_total",
                "Provider push notifications received, by provider and outcome (accepted; \
                 rejected: unknown channel, wrong secret, stale or unreadable; error).",
                &["provider", "outcome"],
            ),
            registry,
        }
    })
}

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Marks the process start (the first call wins); uptime counts from here.
pub fn mark_started() {
    let _ = STARTED.get_or_init(Instant::now);
    // The known label combinations are listed at 0 before anything happened, so rates
    // and alerts work from the first scrape.
    let c = counters();
    for provider in ["google", "microsoft"] {
        for outcome in ["ok", "error"] {
            c.sync_runs.with_label_values(&[provider, outcome]);
        }
        for outcome in ["ok", "refused", "transient"] {
            c.token_refreshes.with_label_values(&[provider, outcome]);
        }
    }
    for outcome in ["delivered", "retrying", "failed"] {
        c.webhook_deliveries.with_label_values(&[outcome]);
    }
}

/// Seconds since [`mark_started`].
pub fn uptime_secs() -> u64 {
    STARTED.get_or_init(Instant::now).elapsed().as_secs()
}

/// One answered HTTP request; `route` is the matched pattern (never the raw path).
pub fn http_request(route: &str, status: u16) {
    counters()
        .http_requests
        .with_label_values(&[route, &status.to_string()])
        .inc();
}

/// One calendar sync, labelled `google` / `microsoft`.
pub fn sync_run(platform: Platform, ok: bool) {
    counters()
        .sync_runs
        .with_label_values(&[platform.v1_name(), if ok { "ok" } else { "error" }])
        .inc();
}

/// One request to a provider; `status` None = no answer (transport failure).
pub fn provider_request(provider: &str, endpoint: &str, status: Option<u16>) {
    let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
    counters()
        .provider_requests
        .with_label_values(&[provider, endpoint, &status])
        .inc();
}

/// One refresh-token exchange; `outcome` is `ok`, `refused` or `transient`.
pub fn token_refresh(platform: Platform, outcome: &str) {
    counters()
        .token_refreshes
        .with_label_values(&[platform.v1_name(), outcome])
        .inc();
}

/// One recorded webhook attempt: `delivered`, `retrying` or `failed`.
pub fn webhook_delivery(outcome: &str) {
    counters()
        .webhook_deliveries
        .with_label_values(&[outcome])
        .inc();
}

/// One push notification (a Graph collection counts each item): `accepted`, `rejected` or
/// `error`.
pub fn push_notification(provider: &str, outcome: &str) {
    counters()
        .push_notifications
        .with_label_values(&[provider, outcome])
        .inc();
}

/// Which provider a request URL goes to (by the configured base URLs).
pub fn provider_of(settings: &Settings, url: &str) -> &'static str {
    let p = &settings.providers;
    let starts = |base: &url::Url| url.starts_with(base.as_str().trim_end_matches('/'));
    if [&p.google_auth, &p.google_token, &p.google_api]
        .into_iter()
        .any(starts)
    {
        "google"
    } else if [&p.microsoft_auth, &p.microsoft_token, &p.microsoft_graph]
        .into_iter()
        .any(starts)
    {
        "microsoft"
    } else if [&p.zoom_auth, &p.zoom_token, &p.zoom_api]
        .into_iter()
        .any(starts)
    {
        "zoom"
    } else {
        "other"
    }
}

/// What the database says at scrape time.
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    /// Deliveries waiting to be sent (first attempt or a retry).
    pub webhook_queue_depth: i64,
    /// Bots by state.
    pub bots: Vec<(String, i64)>,
    pub db_size_bytes: i64,
    /// How long ago the least recently synced connected calendar last synced.
    pub sync_lag_seconds: f64,
    /// (p50, p95) seconds of how late recent syncs started after their due time.
    pub sync_start_lag_seconds: Option<(f64, f64)>,
}

/// The Prometheus text exposition of every counter and `gauges`.
pub fn render(gauges: &Gauges) -> String {
    let scrape = Registry::new();
    let int_gauge = |name: &str, help: &str, value: i64| {
        let g = IntGauge::new(name, help).expect("valid metric");
        g.set(value);
        scrape.register(Box::new(g)).expect("registered once");
    };
    int_gauge(
        "convene_webhook_queue_depth",
        "Webhook deliveries waiting to be sent (first attempts and retries).",
        gauges.webhook_queue_depth,
    );
    int_gauge(
        "convene_db_size_bytes",
        "Size of the SQLite database (pages in use and free).",
        gauges.db_size_bytes,
    );
    int_gauge(
        "convene_uptime_seconds",
        "Seconds since the server started.",
        uptime_secs() as i64,
    );
    let lag = Gauge::new(
        "convene_sync_lag_seconds",
        "Seconds since the least recently synced connected calendar last synced.",
    )
    .expect("valid metric");
    lag.set(gauges.sync_lag_seconds);
    scrape.register(Box::new(lag)).expect("registered once");
    if let Some((p50, p95)) = gauges.sync_start_lag_seconds {
        let start = prometheus::GaugeVec::new(
            Opts::new(
                "convene_sync_start_lag_seconds",
                "How late recent syncs started after their due time, by quantile.",
            ),
            &["quantile"],
        )
        .expect("valid metric");
        start.with_label_values(&["0.5"]).set(p50);
        start.with_label_values(&["0.95"]).set(p95);
        scrape.register(Box::new(start)).expect("registered once");
    }
    let bots = IntGaugeVec::new(Opts::new("convene_bots", "Bots by state."), &["state"])
        .expect("valid metric");
    for (state, n) in &gauges.bots {
        bots.with_label_values(&[state]).set(*n);
    }
    scrape.register(Box::new(bots)).expect("registered once");

    let mut families = counters().registry.gather();
    families.extend(scrape.gather());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut out)
        .expect("text encoding");
    String::from_utf8(out).expect("utf-8")
}

/// The content type of [`render`]'s output.
pub fn content_type() -> String {
    TextEncoder::new().format_type().to_string()
}
