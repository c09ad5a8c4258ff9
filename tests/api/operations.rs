//! The operator's day (issue 16): `/metrics` guarded and parsed by a real Prometheus text
//! parser, moving when syncs and deliveries happen; the first-run checklist ticked from
//! state; a failing endpoint read as "failing" everywhere with retrying counted apart;
//! plain-language errors with the raw text behind a disclosure; search on the calendar,
//! user, delivery and Zoom credential pages; the system tile and the last `convene backup`;
//! the public URL following the listen address.

use std::collections::HashMap;

use convene::config::Settings;
use convene_sim::Provider;
use serde_json::json;

use crate::admin::logged_in;
use crate::admin_webhooks::{create_endpoint, csrf, deliver, enqueue, page, post_button};
use crate::calendar_support::{
    connect_v1, google_account, save_platform_client, spawn_calendar_app,
};
use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};
use crate::receiver::{Receiver, Reply};

const METRICS_TOKEN: &str = "metrics-token-for-tests-0123456789";

/// Scrapes `url` (with the bearer token when given) and parses it as Prometheus text.
async fn scrape(url: &str, token: Option<&str>) -> (u16, Option<prometheus_parse::Scrape>) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    if status != 200 {
        return (status, None);
    }
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let body = res.text().await.unwrap();
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    (status, Some(parsed))
}

/// The sum of a metric's samples whose labels include `labels`.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

fn has(scrape: &prometheus_parse::Scrape, name: &str) -> bool {
    scrape.samples.iter().any(|s| s.metric == name) || scrape.docs.contains_key(name)
}

async fn calendar_id(app: &TestApp) -> String {
    app.state
        .store
        .read(|c| {
            Ok::<_, convene::store::StoreError>(c.query_row(
                "SELECT id FROM calendars ORDER BY created_at LIMIT 1",
                [],
                |r| r.get::<_, String>(0),
            )?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn metrics_are_off_without_a_token_and_need_the_bearer_token() {
    let plain = spawn_app().await;
    let (status, _) = scrape(&plain.url("/metrics"), Some("anything")).await;
    assert_eq!(status, 404, "not served without CONVENE_METRICS_TOKEN");

    let app = spawn_app_with(Options {
        env: vec![("CONVENE_METRICS_TOKEN".into(), METRICS_TOKEN.into())],
        ..Default::default()
    })
    .await;
    assert_eq!(scrape(&app.url("/metrics"), None).await.0, 401);
    assert_eq!(scrape(&app.url("/metrics"), Some("wrong")).await.0, 401);
    // An API key is not a metrics token.
    let res = reqwest::Client::new()
        .get(app.url("/metrics"))
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (status, parsed) = scrape(&app.url("/metrics"), Some(METRICS_TOKEN)).await;
    assert_eq!(status, 200);
    let parsed = parsed.unwrap();
    // (Provider request counters appear with the first request: their status is real.)
    for name in [
        "convene_http_requests_total",
        "convene_sync_runs_total",
        "convene_token_refreshes_total",
        "convene_webhook_deliveries_total",
        "convene_webhook_queue_depth",
        "convene_bots",
        "convene_db_size_bytes",
        "convene_sync_lag_seconds",
    ] {
        assert!(has(&parsed, name), "{name} is exposed");
    }
    assert!(value(&parsed, "convene_db_size_bytes", &[]) > 0.0);
    // Routes are patterns, never raw paths (bounded label values).
    assert!(parsed
        .samples
        .iter()
        .all(|s| s.metric != "convene_http_requests_total"
            || !s.labels.get("route").unwrap_or_default().contains("cvn_")));
}

#[tokio::test]
async fn metrics_on_a_separate_listener_need_no_token() {
    let app = spawn_app_with(Options {
        env: vec![("CONVENE_METRICS_LISTEN".into(), "127.0.0.1:0".into())],
        ..Default::default()
    })
    .await;
    let port = app.metrics_port.expect("metrics listener");
    let (status, parsed) = scrape(&format!("http://127.0.0.1:{port}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(has(&parsed.unwrap(), "convene_webhook_queue_depth"));
    // It serves nothing else, and the main address still needs a token.
    let res = reqwest::get(format!("http://127.0.0.1:{port}/admin/"))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(scrape(&app.url("/metrics"), None).await.0, 404);
}

#[tokio::test]
async fn metrics_move_when_syncs_and_deliveries_happen() {
    // Counters are process-wide (tests run side by side): compare before and after.
    let app = spawn_calendar_app().await;
    let rx = Receiver::scripted(|_, _| Reply::status(200)).await;
    create_endpoint(&app, json!({ "url": rx.url("/hook") })).await;
    let render = || convene::metrics::render(&convene::metrics::Gauges::default());
    let parse = |text: String| {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
    };
    let before = parse(render());

    google_account(&app, "ops@acme.test").await;
    let res = connect_v1(&app, "google", "ops-user", None, None).await;
    assert_eq!(res.status(), 200);
    let id = calendar_id(&app).await;
    convene::sync::sync_calendar(&app.state, &id).await.unwrap();
    assert!(deliver(&app).await >= 1);

    let after = parse(render());
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert!(
        moved(
            "convene_sync_runs_total",
            &[("provider", "google"), ("outcome", "ok")]
        ) >= 1.0
    );
    assert!(
        moved(
            "convene_webhook_deliveries_total",
            &[("outcome", "delivered")]
        ) >= 1.0
    );
    assert!(
        moved(
            "convene_provider_requests_total",
            &[
                ("provider", "google"),
                ("endpoint", "token"),
                ("status", "200")
            ]
        ) >= 1.0
    );
    assert!(
        moved(
            "convene_provider_requests_total",
            &[("provider", "google"), ("endpoint", "calendar_events")]
        ) >= 1.0
    );
    assert!(
        moved(
            "convene_http_requests_total",
            &[("route", "/api/v1/calendar/oauth_url/"), ("status", "200")]
        ) >= 1.0
    );

    // A failing receiver: the attempt counts as retrying, and the queue gauge shows it.
    let down = Receiver::scripted(|_, _| Reply::status(503)).await;
    create_endpoint(&app, json!({ "url": down.url("/down") })).await;
    let before = parse(render());
    enqueue(&app, "calendar.update", "cal-x", None).await;
    deliver(&app).await;
    let after = parse(render());
    assert!(
        value(
            &after,
            "convene_webhook_deliveries_total",
            &[("outcome", "retrying")]
        ) - value(
            &before,
            "convene_webhook_deliveries_total",
            &[("outcome", "retrying")]
        ) >= 1.0
    );
    let app2 = spawn_app_with(Options {
        env: vec![("CONVENE_METRICS_TOKEN".into(), METRICS_TOKEN.into())],
        ..Default::default()
    })
    .await;
    enqueue(&app2, "calendar.update", "cal-y", None).await;
    let down2 = Receiver::scripted(|_, _| Reply::status(500)).await;
    create_endpoint(&app2, json!({ "url": down2.url("/x") })).await;
    enqueue(&app2, "calendar.update", "cal-z", None).await;
    deliver(&app2).await;
    let (_, scraped) = scrape(&app2.url("/metrics/"), Some(METRICS_TOKEN)).await;
    assert_eq!(
        value(&scraped.unwrap(), "convene_webhook_queue_depth", &[]),
        1.0
    );
}

/// The `data-step` items of the checklist: step number → done.
fn checklist(html: &str) -> Option<HashMap<u32, bool>> {
    let start = html.find("id=\"checklist\"")?;
    let end = html[start..].find("</section>").unwrap() + start;
    let mut steps = HashMap::new();
    for part in html[start..end].split("<li class=\"").skip(1) {
        let done = part.starts_with("done");
        let n = part.split("data-step=\"").nth(1).unwrap();
        let n: u32 = n[..n.find('"').unwrap()].parse().unwrap();
        steps.insert(n, done);
    }
    Some(steps)
}

#[tokio::test]
async fn the_first_run_checklist_is_ticked_from_state_and_goes_away() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let (_, html) = page(&app, &client, "/admin/").await;
    let steps = checklist(&html).expect("a fresh install shows the checklist");
    // The test harness made an API key; nothing else exists yet.
    assert_eq!(
        steps,
        HashMap::from([(1, false), (2, false), (3, true), (4, false), (5, false)])
    );
    assert!(html.contains("href=\"/admin/platforms/\""));
    assert!(
        !html.contains("Every endpoint is delivering."),
        "no endpoints is not 'delivering'"
    );
    assert!(html.contains("No webhook endpoints yet"));

    // Step 1: a platform client; step 2 is then offered as "I registered it".
    app.sim
        .create_oauth_client(
            Provider::Google,
            "ops-google",
            "ops-google-secret",
            vec![app.url("/api/v1/calendar/google_oauth_callback/")],
        )
        .await;
    save_platform_client(&app, "google", "ops-google", "ops-google-secret").await;
    let (_, html) = page(&app, &client, "/admin/").await;
    let steps = checklist(&html).unwrap();
    assert!(steps[&1] && !steps[&2]);
    assert!(html.contains("action=\"/admin/checklist/redirect-registered/\""));
    let token = csrf(&app, &client).await;
    let res = post_button(
        &app,
        &client,
        "/admin/checklist/redirect-registered/",
        &token,
    )
    .await;
    assert_eq!(res.status(), 303);
    // Step 4: an endpoint.
    create_endpoint(&app, json!({ "url": "http://127.0.0.1:9/hook" })).await;
    let (_, html) = page(&app, &client, "/admin/").await;
    let steps = checklist(&html).unwrap();
    assert_eq!(
        steps,
        HashMap::from([(1, true), (2, true), (3, true), (4, true), (5, false)])
    );
    // Step 5: a hosted OAuth connection; then the list is gone.
    google_account(&app, "first@acme.test").await;
    let res = connect_v1(&app, "google", "first-user", None, None).await;
    assert_eq!(res.status(), 200);
    let (_, html) = page(&app, &client, "/admin/").await;
    assert!(checklist(&html).is_none(), "every step done: no checklist");
}

#[tokio::test]
async fn a_failing_endpoint_reads_failing_everywhere_with_retrying_counted_apart() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let rx = Receiver::scripted(|_, _| Reply::status(503)).await;
    let (id, _) = create_endpoint(&app, json!({ "url": rx.url("/down") })).await;
    // Nothing listens on this one: connection refused.
    let (refused, _) = create_endpoint(&app, json!({ "url": "http://127.0.0.1:9/refused" })).await;
    enqueue(&app, "calendar.update", "cal-1", None).await;
    assert_eq!(deliver(&app).await, 2);

    let (_, list) = page(&app, &client, "/admin/webhooks/").await;
    assert_eq!(
        list.matches("badge bad\">failing since").count(),
        2,
        "{list}"
    );
    assert!(!list.contains(">enabled<") && !list.contains(">delivering<"));
    assert!(list.contains("1 retrying"));

    let (_, one) = page(&app, &client, &format!("/admin/webhooks/{id}/")).await;
    assert!(one.contains("Failing since"));
    assert!(one.contains("badge bad\">failing since"));
    assert!(!one.contains(">enabled<") && !one.contains(">delivering<"));
    assert!(one.contains("HTTP 503 from the receiver"));

    let (_, overview) = page(&app, &client, "/admin/").await;
    let stat = |label: &str| {
        let at = overview.find(&format!("<dt>{label}</dt>")).unwrap();
        let dd = overview[..at].rfind("<dd>").unwrap() + 4;
        overview[dd..dd + overview[dd..].find('<').unwrap()].to_string()
    };
    assert_eq!(stat("failing"), "2");
    assert_eq!(stat("delivering"), "0");
    assert!(overview.contains(&format!(
        "href=\"/admin/webhooks/{id}/?status=retrying#deliveries\""
    )));
    assert!(overview.contains("HTTP 503 from the receiver"));
    // The refused one: plain words first, the client's text behind a disclosure.
    assert!(
        overview.contains("<summary>Connection refused"),
        "{overview}"
    );
    assert!(overview.contains("<details class=\"error-detail\">"));

    let (_, all) = page(&app, &client, "/admin/webhooks/deliveries/").await;
    let count = |label: &str| {
        let at = all.find(&format!("<dt>{label}</dt>")).unwrap();
        let dd = all[..at].rfind("<dd>").unwrap() + 4;
        let text = &all[dd..];
        let text = text.strip_prefix("<a href=\"").map_or(text, |t| {
            let close = t.find('>').unwrap() + 1;
            &t[close..]
        });
        text[..text.find('<').unwrap()].to_string()
    };
    assert_eq!(count("retrying"), "2");
    assert_eq!(count("failed"), "0");
    assert_eq!(count("delivered"), "0");
    let (status, filtered) = page(
        &app,
        &client,
        &format!("/admin/webhooks/{refused}/?status=retrying"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(filtered.contains("badge bad\">retrying"));
}

#[tokio::test]
async fn search_finds_calendars_users_deliveries_and_zoom_credentials() {
    let app = spawn_calendar_app().await;
    let client = logged_in(&app).await;
    google_account(&app, "needle@acme.test").await;
    assert_eq!(
        connect_v1(&app, "google", "user-needle-7", None, None)
            .await
            .status(),
        200
    );
    google_account(&app, "other@acme.test").await;
    assert_eq!(
        connect_v1(&app, "google", "user-other", None, None)
            .await
            .status(),
        200
    );
    let id = calendar_id(&app).await;

    for q in ["needle@acme", "NEEDLE", "user-needle-7", id.as_str()] {
        let (status, html) = page(
            &app,
            &client,
            &format!("/admin/calendars/?q={}", urlencode(q)),
        )
        .await;
        assert_eq!(status, 200);
        assert!(html.contains("needle@acme.test"), "{q}");
        assert!(!html.contains("other@acme.test"), "{q}");
    }
    let (_, html) = page(&app, &client, "/admin/calendar-users/?q=needle%40acme").await;
    assert!(html.contains("user-needle-7") && !html.contains("user-other"));
    // LIKE wildcards are literal.
    let (_, html) = page(&app, &client, "/admin/calendars/?q=%25").await;
    assert!(!html.contains("needle@acme.test"));

    // Deliveries by webhook-id and by event type.
    create_endpoint(&app, json!({ "url": "http://127.0.0.1:9/x" })).await;
    let msg = enqueue(&app, "calendar.update", "cal-search", None).await;
    let (_, html) = page(
        &app,
        &client,
        &format!("/admin/webhooks/deliveries/?q={msg}"),
    )
    .await;
    assert_eq!(html.matches(&format!("<code>{msg}</code>")).count(), 1);
    let (_, html) = page(&app, &client, "/admin/webhooks/deliveries/?q=no-such-thing").await;
    assert!(html.contains("No deliveries match this filter"));
    let (_, html) = page(&app, &client, "/admin/webhooks/deliveries/?q=calendar.upd").await;
    assert!(html.contains(&msg));

    // Zoom credentials by the email read from /users/me, the user id and the account id.
    let zapp = crate::zoom::create_app(&app, "user_level").await;
    let (user, account) = app.sim.create_zoom_user(None, "zoomer@acme.test").await;
    let cred = crate::zoom::connect_id(&app, &zapp, &user).await;
    let (other, _) = app.sim.create_zoom_user(None, "someone@acme.test").await;
    let other_cred = crate::zoom::connect_id(&app, &zapp, &other).await;
    for q in ["zoomer@acme", user.as_str(), account.as_str()] {
        let (status, html) = page(
            &app,
            &client,
            &format!("/admin/zoom/credentials/?q={}", urlencode(q)),
        )
        .await;
        assert_eq!(status, 200);
        assert!(html.contains(&cred), "{q}");
        assert!(!html.contains(&other_cred), "{q}");
    }
    let (_, html) = page(&app, &client, "/admin/zoom/credentials/").await;
    assert!(
        html.contains("zoomer@acme.test") && html.contains("someone@acme.test"),
        "every row's email is shown"
    );
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap()[1..].to_string()
}

#[tokio::test]
async fn the_system_tile_shows_the_installation_and_the_last_backup() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let (_, html) = page(&app, &client, "/admin/").await;
    assert!(html.contains(&format!("<dd>{}</dd>", env!("CARGO_PKG_VERSION"))));
    assert!(html.contains(&format!("<code>{}</code>", app.address)));
    assert!(html.contains("<dt>Last backup</dt><dd>never</dd>"));
    assert!(html.contains("No backup was ever taken"));

    // `convene backup` (the real binary, beside the running server) records its time.
    let dest = app.data_dir.path().join("copy.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .arg("backup")
        .arg(&dest)
        .env("CONVENE_DATA_DIR", app.data_dir.path())
        .env("CONVENE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dest.exists());
    let (_, html) = page(&app, &client, "/admin/").await;
    assert!(!html.contains("<dt>Last backup</dt><dd>never</dd>"));
    assert!(!html.contains("No backup was ever taken"));
}

#[test]
fn the_public_url_follows_the_listen_address_unless_set() {
    let settings = |vars: &[(&str, &str)]| {
        Settings::from_sources(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            None,
        )
        .unwrap()
    };
    assert_eq!(settings(&[]).public_url.as_str(), "http://127.0.0.1:8080/");
    let moved = settings(&[("CONVENE_LISTEN", "127.0.0.1:9191")]);
    assert_eq!(moved.public_base(), "http://127.0.0.1:9191");
    assert_eq!(
        settings(&[("CONVENE_LISTEN", "0.0.0.0:8181")]).public_base(),
        "http://127.0.0.1:8181"
    );
    assert_eq!(
        settings(&[("CONVENE_LISTEN", "[::]:8181")]).public_base(),
        "http://[::1]:8181"
    );
    assert_eq!(
        settings(&[
            ("CONVENE_LISTEN", "0.0.0.0:8181"),
            ("CONVENE_PUBLIC_URL", "https://cal.example.com")
        ])
        .public_base(),
        "https://cal.example.com"
    );
}

#[tokio::test]
async fn the_demo_connects_both_calendars_and_webhooks_and_a_bot_follow_a_moved_meeting() {
    let app = spawn_app().await;
    let info = convene::demo::set_up(&app.state, &app.sim).await.unwrap();
    assert!(info.api_key.starts_with("cvn_"));
    assert!(info.admin_password.len() >= 10);
    for id in [&info.google_calendar_id, &info.microsoft_calendar_id] {
        let cal: serde_json::Value = app
            .get(&format!("/api/v2/calendars/{id}/"))
            .await
            .json()
            .await
            .unwrap_or_default();
        let status = app
            .state
            .store
            .read({
                let id = id.to_string();
                move |c| convene::store::calendar_admin::status_of(c, &id)
            })
            .await
            .unwrap();
        assert_eq!(
            status,
            Some(convene::domain::CalendarStatus::Connected),
            "{id}: {cal}"
        );
    }
    // Every delivery reaches the built-in receiver, and the admin log shows them delivered.
    deliver(&app).await;
    let counts = app
        .state
        .store
        .read(|c| convene::store::webhooks::delivery_counts(c, None))
        .await
        .unwrap();
    assert!(counts.delivered >= 2, "{counts:?}");
    assert_eq!(
        counts.retrying + counts.failed + counts.pending,
        0,
        "{counts:?}"
    );
    // The printed admin password signs in.
    let client = crate::admin::new_client();
    let res = crate::admin::try_login(&app, &client, &info.admin_password).await;
    assert_eq!(res.status(), 303);
    let (_, log) = page(&app, &client, "/admin/webhooks/deliveries/").await;
    assert!(log.contains(&info.receiver_url));
    assert!(log.contains("calendar.sync_events"));

    // The meeting moves at the provider: sync → webhook → the bot moves with it.
    let bot_before: serde_json::Value = app
        .get(&format!("/api/v2/calendar-events/{}/", info.bot_event_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        bot_before["bots"].as_array().map(Vec::len),
        Some(1),
        "{bot_before}"
    );
    let m = &info.review;
    let later = chrono::Duration::minutes(30);
    app.sim
        .move_event(&m.account, &m.event_id, m.start + later, m.end + later)
        .await;
    let outcome = convene::sync::sync_calendar(&app.state, &info.google_calendar_id)
        .await
        .unwrap();
    assert_eq!(outcome.changed, 1);
    convene::scheduling::dispatch::bot_sweep(&app.state)
        .await
        .unwrap();
    deliver(&app).await;
    let (_, log) = page(&app, &client, "/admin/webhooks/deliveries/?q=bot.scheduled").await;
    assert!(log.contains("bot.scheduled"), "the moved bot is announced");
    let after: serde_json::Value = app
        .get(&format!("/api/v2/calendar-events/{}/", info.bot_event_id))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(after["start_time"], bot_before["start_time"]);
    assert_eq!(after["bots"].as_array().map(Vec::len), Some(1), "{after}");
}
