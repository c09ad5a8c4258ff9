//! The admin's bot page and overview tile over HTTP: bots scheduled through the API on
//! hand-inserted events, dispatched to a small fake bot backend on loopback that can be
//! told to fail; failures come first and are counted on the overview.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::Client;
use serde_json::{json, Value};

use convene::scheduling::dispatch;
use convene::store::StoreError;

use crate::admin::{logged_in, new_client};
use crate::helpers::{spawn_app_with, Options, TestApp};

const HOUR: i64 = 3_600_000;
const BACKEND_KEY: &str = "bk-admin-test-key-0123456789";

/// A bot service answering creates with a new id, or with `fail` as its status when set.
struct Backend {
    url: String,
    fail: Arc<AtomicU16>,
}

async fn create(fail: web::Data<AtomicU16>) -> HttpResponse {
    match fail.load(Ordering::SeqCst) {
        0 => HttpResponse::Created()
            .json(json!({ "id": format!("backend-{}", uuid::Uuid::new_v4()) })),
        status => HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .json(json!({"detail": "backend trouble"})),
    }
}

impl Backend {
    fn start() -> Backend {
        let fail = Arc::new(AtomicU16::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let data = web::Data::from(fail.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/api/v1/bot/", web::post().to(create))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Backend { url, fail }
    }
    fn fail_with(&self, status: u16) {
        self.fail.store(status, Ordering::SeqCst);
    }
}

async fn sql(app: &TestApp, statement: &str, params: Vec<rusqlite::types::Value>) {
    let statement = statement.to_string();
    app.state
        .store
        .write(move |tx| {
            tx.execute(&statement, rusqlite::params_from_iter(params))?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

fn text(s: &str) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(s.to_string())
}

fn int(n: i64) -> rusqlite::types::Value {
    rusqlite::types::Value::Integer(n)
}

/// A connected V2 calendar of `email`.
async fn insert_calendar(app: &TestApp, email: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = app.state.now_ms();
    sql(
        app,
        "INSERT INTO calendars (id, kind, platform, platform_email, status, created_at, updated_at)
         VALUES (?1, 'v2', 'google_calendar', ?2, 'connected', ?3, ?3)",
        vec![text(&id), text(email), int(now)],
    )
    .await;
    id
}

/// An event titled `title` starting `start_in` ms from now, as sync leaves it.
async fn insert_event(
    app: &TestApp,
    calendar_id: &str,
    title: &str,
    start_in: i64,
    url: &str,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = app.state.now_ms();
    let start = now + start_in;
    sql(
        app,
        "INSERT INTO calendar_events (id, calendar_id, platform_id, start_time, end_time, title,
             meeting_platform, meeting_url, raw, content_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'zoom', ?7, '{}', 'h', ?8, ?8)",
        vec![
            text(&id),
            text(calendar_id),
            text(&format!("p-{id}")),
            int(start),
            int(start + HOUR),
            text(title),
            text(url),
            int(now),
        ],
    )
    .await;
    id
}

/// Schedules a bot on the event through the API; returns the bot's id.
async fn schedule(app: &TestApp, event_id: &str, key: &str) -> String {
    let res = app
        .post_json(
            &format!("/api/v2/calendar-events/{event_id}/bot/"),
            &json!({"deduplication_key": key, "bot_config": {}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let event: Value = res.json().await.unwrap();
    event["bots"][0]["bot_id"].as_str().unwrap().to_string()
}

async fn page(client: &Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The `<tr>` of a bot on the bots page.
fn bot_row<'a>(html: &'a str, bot_id: &str) -> &'a str {
    let start = html
        .find(&format!("data-bot=\"{bot_id}\""))
        .unwrap_or_else(|| panic!("bot {bot_id} not on the page"));
    &html[start..start + html[start..].find("</tr>").unwrap()]
}

fn position(html: &str, bot_id: &str) -> usize {
    html.find(&format!("data-bot=\"{bot_id}\"")).unwrap()
}

/// The overview's stat `label` as rendered: tone and number.
fn stat(html: &str, label: &str) -> String {
    let at = html
        .find(&format!("<dt>{label}</dt>"))
        .unwrap_or_else(|| panic!("no stat {label}"));
    let div = html[..at].rfind("<div class=\"stat").unwrap();
    html[div..at].to_string()
}

#[tokio::test]
async fn failed_bots_come_first_and_the_overview_counts_them() {
    let backend = Backend::start();
    let app = spawn_app_with(Options {
        env: vec![
            ("CONVENE_BOT_API_URL".into(), backend.url.clone()),
            ("CONVENE_BOT_API_KEY".into(), BACKEND_KEY.into()),
        ],
        ..Default::default()
    })
    .await;
    let res = new_client()
        .get(app.url("/admin/bots/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "login required");
    let client = logged_in(&app).await;

    let (_, overview) = page(&client, &app, "/admin/").await;
    assert!(stat(&overview, "failed bots").ends_with("<dd>0</dd>"));
    let (_, html) = page(&client, &app, "/admin/bots/").await;
    assert!(html.contains("No upcoming or failed bots."));

    let ops = insert_calendar(&app, "ops@acme.test").await;
    let sales = insert_calendar(&app, "sales@acme.test").await;

    // Dispatched fine: the standup, soonest.
    let standup = insert_event(&app, &ops, "Daily standup", HOUR, "https://zoom.us/j/1").await;
    let standup_bot = schedule(&app, &standup, "key-standup").await;
    assert_eq!(dispatch::dispatch_due(&app.state).await.unwrap(), 1);

    // The backend fails (retryable): the board meeting's bot, shared by two calendars.
    backend.fail_with(503);
    let board = insert_event(&app, &ops, "Board meeting", 3 * HOUR, "https://zoom.us/j/2").await;
    let board_too = insert_event(
        &app,
        &sales,
        "Board meeting",
        3 * HOUR,
        "https://zoom.us/j/2",
    )
    .await;
    let board_bot = schedule(&app, &board, "key-board").await;
    assert_eq!(schedule(&app, &board_too, "key-board").await, board_bot);
    assert_eq!(dispatch::dispatch_due(&app.state).await.unwrap(), 1);

    // The backend refuses for good (4xx): the retro's bot is given up.
    backend.fail_with(400);
    let retro = insert_event(&app, &sales, "Retro", 5 * HOUR, "https://zoom.us/j/3").await;
    let retro_bot = schedule(&app, &retro, "key-retro").await;
    assert_eq!(dispatch::dispatch_due(&app.state).await.unwrap(), 1);

    // Scheduled, not sent yet.
    let planning = insert_event(&app, &ops, "Planning", 2 * HOUR, "https://zoom.us/j/4").await;
    let planning_bot = schedule(&app, &planning, "key-planning").await;

    let (status, html) = page(&client, &app, "/admin/bots/").await;
    assert_eq!(status, 200);
    // Failures first (by join time), then the upcoming bots by join time.
    let order: Vec<usize> = [&board_bot, &retro_bot, &standup_bot, &planning_bot]
        .iter()
        .map(|id| position(&html, id))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(html.contains("2 bots failed at the bot backend."));

    let row = bot_row(&html, &board_bot);
    assert!(row.contains(">failed<"), "{row}");
    assert!(row.contains("<code>key-board</code>"), "{row}");
    assert!(row.contains("answered 503"), "the last error: {row}");
    assert!(row.contains("next attempt"), "a retry is planned: {row}");
    // Both events the shared bot serves, with their calendars.
    assert_eq!(row.matches("<strong>Board meeting</strong>").count(), 2);
    assert!(row.contains("ops@acme.test") && row.contains("sales@acme.test"));
    assert!(row.contains(&format!("/admin/calendars/{sales}/")));

    let row = bot_row(&html, &retro_bot);
    assert!(row.contains("answered 400"), "{row}");
    assert!(!row.contains("next attempt"), "given up: {row}");

    let row = bot_row(&html, &standup_bot);
    assert!(row.contains(">dispatched<"), "{row}");
    assert!(row.contains("<strong>Daily standup</strong>"));
    let backend_id = {
        let id = standup_bot.clone();
        app.state
            .store
            .read(move |c| convene::store::bots::get_bot(c, &id))
            .await
            .unwrap()
            .unwrap()
            .backend_id
            .unwrap()
    };
    assert!(row.contains(&format!("<code>{backend_id}</code>")), "{row}");
    assert!(!row.contains("error-text"));

    let row = bot_row(&html, &planning_bot);
    assert!(row.contains(">scheduled<"), "{row}");
    assert!(!html.contains(BACKEND_KEY), "the backend key is a secret");

    // The overview tile: failed bots, one call retrying, one given up.
    let (_, overview) = page(&client, &app, "/admin/").await;
    assert!(overview.contains("/admin/bots/"));
    assert_eq!(
        stat(&overview, "failed bots"),
        r#"<div class="stat bad"><dd>2</dd>"#
    );
    assert_eq!(
        stat(&overview, "calls retrying"),
        r#"<div class="stat warn"><dd>1</dd>"#
    );
    assert_eq!(
        stat(&overview, "calls given up"),
        r#"<div class="stat bad"><dd>1</dd>"#
    );
    assert!(stat(&overview, "upcoming").ends_with("<dd>4</dd>"));

    // The backend recovers: the retry succeeds and the failure leaves the tile.
    backend.fail_with(0);
    app.state.clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(dispatch::dispatch_due(&app.state).await.unwrap(), 2);
    let (_, overview) = page(&client, &app, "/admin/").await;
    assert_eq!(
        stat(&overview, "failed bots"),
        r#"<div class="stat bad"><dd>1</dd>"#
    );
    assert!(stat(&overview, "calls retrying").ends_with("<dd>0</dd>"));
    let (_, html) = page(&client, &app, "/admin/bots/").await;
    assert!(bot_row(&html, &board_bot).contains(">dispatched<"));
    // Only the given-up bot is still ahead of the others.
    assert!(position(&html, &retro_bot) < position(&html, &standup_bot));
    assert!(position(&html, &standup_bot) < position(&html, &board_bot));
}
