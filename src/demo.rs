//! `convene demo`: the whole product on one machine, in one command, with no accounts.
//!
//! Starts the provider simulator (`convene-sim`) in-process on a loopback port, points
//! Convene at it, and serves on `CONVENE_LISTEN` (default `127.0.0.1:8080`) with its data in
//! `./demo-data` (recreated at every start). Then, through the public API like a real
//! client: saves the Google and Microsoft clients, sets an admin password and creates an
//! API key (both printed), registers a built-in webhook receiver (its deliveries are on
//! `/admin/webhooks/deliveries/`, and each one is printed), connects a Google calendar
//! through the hosted V1 flow and a Microsoft calendar through V2, schedules a bot on a
//! meeting, and keeps moving that meeting every few seconds, so sync → webhook → bot
//! happen live.
//!
//! Built with the `demo` cargo feature (on by default; `--no-default-features` leaves the
//! simulator out of a production binary).

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::{bail, Context};
use chrono::{Duration as ChronoDuration, Utc};
use convene_sim::{AccountId, EventSpec, Provider};
use serde_json::{json, Value};

use crate::config::Settings;
use crate::startup::Application;
use crate::store::{self, settings as kv};

/// Where the demo keeps its data unless `CONVENE_DATA_DIR` says otherwise.
pub const DEMO_DATA_DIR: &str = "./demo-data";

const GOOGLE_CLIENT: (&str, &str) = ("demo-google-client-id", "demo-google-client-secret");
const MICROSOFT_CLIENT: (&str, &str) = ("demo-microsoft-client-id", "demo-ms-client-secret");

/// Options of `convene demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seconds between moves of the demo meeting (0: never move it).
    pub move_every: u64,
    /// Stop after this many moves (None: until Ctrl-C). Tests use a small number.
    pub moves: Option<u32>,
}

/// Everything the demo set up, for printing and for tests.
#[derive(Debug, Clone)]
pub struct DemoInfo {
    pub base_url: String,
    pub admin_password: String,
    pub api_key: String,
    pub receiver_url: String,
    pub google_calendar_id: String,
    pub microsoft_calendar_id: String,
    pub bot_event_id: String,
    /// The simulator's side of the meeting the demo moves.
    pub review: MovingMeeting,
}

/// The meeting the demo keeps moving, as the simulator knows it.
#[derive(Debug, Clone)]
pub struct MovingMeeting {
    pub account: AccountId,
    pub event_id: String,
    pub start: chrono::DateTime<Utc>,
    pub end: chrono::DateTime<Utc>,
}

/// Runs the demo until Ctrl-C (or `options.moves` moves).
pub fn run(config_file: Option<PathBuf>, options: DemoOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let started = std::time::Instant::now();
        let sim = convene_sim::start().await;
        let mut env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("CONVENE_"))
            .collect();
        let data_dir = match env.get("CONVENE_DATA_DIR") {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                if dir.join("convene.db").exists() {
                    bail!(
                        "CONVENE_DATA_DIR {} already holds a database; the demo needs an \
                         empty directory (or leave CONVENE_DATA_DIR unset to use {DEMO_DATA_DIR})",
                        dir.display()
                    );
                }
                dir
            }
            None => {
                let dir = PathBuf::from(DEMO_DATA_DIR);
                // The demo's own directory starts fresh: the simulator forgets everything.
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)
                        .with_context(|| format!("cannot reset {}", dir.display()))?;
                }
                dir
            }
        };
        env.insert(
            "CONVENE_DATA_DIR".into(),
            data_dir.to_string_lossy().into_owned(),
        );
        env.entry("CONVENE_SYNC_INTERVAL_SECS".into())
            .or_insert_with(|| "5".into());
        // The simulator pushes changes at once (real providers need an https public URL).
        env.entry("CONVENE_PUSH".into())
            .or_insert_with(|| "on".into());
        for (k, v) in sim.env_vars() {
            env.insert(k, v);
        }
        let settings = Settings::from_sources(env, config_file)?;
        // Create the database, the clients and a password before serving, so no setup link
        // is announced (the demo prints its own password).
        {
            let s = settings.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let (store, keys) = crate::startup::open_data(&s)?;
                prepare(&store, &keys, &crate::crypto::random_token("", 12))
            })
            .await??;
        }
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("CONVENE_LISTEN: cannot bind {}", settings.listen))?;
        let app = Application::build_with_listener(settings, listener).await?;
        let state = app.state();
        let jobs = crate::jobs::start(state.clone()).await?;
        let server = tokio::spawn(app.run_until_stopped());

        let info = set_up(&state, &sim).await?;
        print_banner(&info, &data_dir, started.elapsed());

        let result = keep_moving(&state, &sim, &info, &options).await;
        jobs.stop().await;
        server.abort();
        result
    })
}

/// A webhook receiver on a loopback port that prints each delivery it gets.
async fn start_receiver() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(|| {
        App::new().route(
            "/webhook",
            web::post().to(|req: HttpRequest, body: web::Bytes| async move {
                let id = req
                    .headers()
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("?")
                    .to_string();
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                println!(
                    "  webhook ← {:<24} {} {}",
                    v["event"].as_str().unwrap_or("?"),
                    id,
                    v["data"]
                );
                HttpResponse::Ok().json(json!({ "received": true }))
            }),
        )
    })
    .workers(1)
    .listen(listener)?
    .run();
    tokio::spawn(server);
    Ok(format!("http://127.0.0.1:{port}/webhook"))
}

/// Seeds the simulator, configures Convene and connects both calendars.
pub async fn set_up(
    state: &crate::state::AppState,
    sim: &convene_sim::SimHandle,
) -> anyhow::Result<DemoInfo> {
    let settings = state.settings.clone();
    let base = settings.public_base();
    // The listener may differ from the public URL (a proxy); talk to the listener.
    let local = format!("http://127.0.0.1:{}", settings.listen.port());
    let local = if settings.listen.port() == 0 {
        base.clone()
    } else if settings.listen.ip().is_loopback() || settings.listen.ip().is_unspecified() {
        local
    } else {
        format!("http://{}", settings.listen)
    };

    // Provider side: the OAuth clients, two accounts, a few meetings.
    sim.create_oauth_client(
        Provider::Google,
        GOOGLE_CLIENT.0,
        GOOGLE_CLIENT.1,
        vec![settings.public_link("/api/v1/calendar/google_oauth_callback/")],
    )
    .await;
    sim.create_oauth_client(
        Provider::Microsoft,
        MICROSOFT_CLIENT.0,
        MICROSOFT_CLIENT.1,
        vec![settings.public_link("/api/v1/calendar/ms_oauth_callback/")],
    )
    .await;
    let alice = sim
        .create_account(Provider::Google, "alice@acme.test")
        .await;
    let bob = sim
        .create_account(Provider::Microsoft, "bob@contoso.test")
        .await;
    let now = Utc::now();
    let hour = |h: i64| now + ChronoDuration::hours(h);
    let (review_start, review_end) = (hour(2), hour(2) + ChronoDuration::minutes(45));
    let review_event = sim
        .create_event(
            &alice,
            EventSpec::new("Design review", review_start, review_end)
                .zoom("https://acme.zoom.us/j/81234567890?pwd=demo"),
        )
        .await;
    sim.create_event(
        &alice,
        EventSpec::new(
            "Team standup",
            hour(20),
            hour(20) + ChronoDuration::minutes(15),
        )
        .meet("https://meet.google.com/abc-defg-hij")
        .daily(5),
    )
    .await;
    sim.create_event(
        &bob,
        EventSpec::new("Quarterly planning", hour(26), hour(27))
            .teams("https://teams.microsoft.com/l/meetup-join/19%3ameeting_demo%40thread.v2/0"),
    )
    .await;

    // Convene side: platform clients, admin password, API key (as `convene` commands do).
    let admin_password = crate::crypto::random_token("", 12);
    {
        let (store, keys, password) = (
            state.store.clone(),
            state.keys.clone(),
            admin_password.clone(),
        );
        tokio::task::spawn_blocking(move || prepare(&store, &keys, &password)).await??;
    }
    let st = state.store.clone();
    let (_, api_key) =
        tokio::task::spawn_blocking(move || crate::api::keys::create_api_key(&st, "demo"))
            .await??;

    // From here on, only the public API, as the application would.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let auth = format!("Token {api_key}");
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{local}{path}"))
            .header("Authorization", &auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await?;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            anyhow::ensure!(status.is_success(), "{status}: {body}");
            Ok::<Value, anyhow::Error>(body)
        }
    };

    let receiver_url = start_receiver().await?;
    call(
        reqwest::Method::POST,
        "/api/v1/webhook-endpoints/",
        Some(json!({ "url": receiver_url, "description": "convene demo receiver" })),
    )
    .await
    .context("registering the demo webhook receiver")?;

    // Google through the hosted V1 flow: oauth_url → the provider's consent → callback.
    let url = call(
        reqwest::Method::POST,
        "/api/v1/calendar/oauth_url/",
        Some(json!({ "platform": "google", "user_id": "demo-user" })),
    )
    .await?["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let consent = http.get(&url).send().await?;
    let callback = consent
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("the simulator did not redirect to the callback")?
        .replacen(&base, &local, 1);
    let done = http.get(&callback).send().await?;
    anyhow::ensure!(
        done.status().is_success(),
        "the Google callback answered {}",
        done.status()
    );

    // Microsoft as a V2 calendar with a refresh token (as your backend would).
    let refresh = sim
        .mint_refresh_token(Provider::Microsoft, MICROSOFT_CLIENT.0, &bob, &[])
        .await;
    let ms = call(
        reqwest::Method::POST,
        "/api/v2/calendars/",
        Some(json!({
            "platform": "microsoft_outlook",
            "oauth_client_id": MICROSOFT_CLIENT.0,
            "oauth_client_secret": MICROSOFT_CLIENT.1,
            "oauth_refresh_token": refresh,
        })),
    )
    .await?;
    let microsoft_calendar_id = ms["id"].as_str().unwrap_or_default().to_string();

    // The first syncs, at once rather than on the next tick.
    let google_calendar_id = google_calendar(state).await?;
    for id in [&google_calendar_id, &microsoft_calendar_id] {
        crate::sync::sync_calendar(state, id)
            .await
            .map_err(|e| anyhow::anyhow!("first sync of {id}: {e}"))?;
    }
    state.wake.webhooks.notify_one();

    // A bot on the design review: it follows the meeting when it moves.
    let events = call(
        reqwest::Method::GET,
        &format!("/api/v2/calendar-events/?calendar_id={google_calendar_id}"),
        None,
    )
    .await?;
    let review = events["results"]
        .as_array()
        .and_then(|rs| rs.iter().find(|e| e["raw"]["summary"] == "Design review"))
        .context("the design review did not sync")?;
    let bot_event_id = review["id"].as_str().unwrap_or_default().to_string();
    call(
        reqwest::Method::POST,
        &format!("/api/v2/calendar-events/{bot_event_id}/bot/"),
        Some(json!({
            "deduplication_key": "demo-design-review",
            "bot_config": { "bot_name": "Demo notetaker" },
        })),
    )
    .await
    .context("scheduling the demo bot")?;

    Ok(DemoInfo {
        base_url: base,
        admin_password,
        api_key,
        receiver_url,
        google_calendar_id,
        microsoft_calendar_id,
        bot_event_id,
        review: MovingMeeting {
            account: alice,
            event_id: review_event,
            start: review_start,
            end: review_end,
        },
    })
}

/// Saves the demo's platform clients and sets the admin password (signing out sessions).
fn prepare(
    store: &store::Store,
    keys: &crate::crypto::Keyring,
    password: &str,
) -> anyhow::Result<()> {
    let google_sealed = keys.encrypt(GOOGLE_CLIENT.1);
    let ms_sealed = keys.encrypt(MICROSOFT_CLIENT.1);
    let hash = crate::crypto::hash_password(password);
    let at = store::now_ms();
    store.blocking_write(move |tx| {
        kv::set_platform_client(tx, "google", GOOGLE_CLIENT.0, &google_sealed, at)?;
        kv::set_platform_client(tx, "microsoft", MICROSOFT_CLIENT.0, &ms_sealed, at)?;
        kv::set(tx, kv::ADMIN_PASSWORD_HASH, &hash, at)?;
        kv::delete(tx, kv::ADMIN_SETUP_TOKEN_HASH)?;
        kv::set(
            tx,
            store::ops::REDIRECT_URIS_REGISTERED,
            &at.to_string(),
            at,
        )
    })?;
    Ok(())
}

/// The calendar the hosted flow created for `alice`.
async fn google_calendar(state: &crate::state::AppState) -> anyhow::Result<String> {
    let rows = state
        .store
        .read(|c| {
            store::search::calendars(c, "alice@acme.test", 1)
                .map(|r| r.into_iter().map(|r| r.cal.id).collect::<Vec<_>>())
        })
        .await?;
    rows.into_iter()
        .next()
        .context("the Google calendar was not connected")
}

fn print_banner(info: &DemoInfo, data_dir: &std::path::Path, took: Duration) {
    let b = &info.base_url;
    println!();
    println!(
        "Convene demo is running ({:.1} s to set up).",
        took.as_secs_f64()
    );
    println!();
    println!("  Admin pages     {b}/admin/");
    println!("  Admin password  {}", info.admin_password);
    println!("  API key         {}", info.api_key);
    println!("  Live webhooks   {b}/admin/webhooks/deliveries/");
    println!("  Calendars       {b}/admin/calendars/   Bots  {b}/admin/bots/");
    println!("  Receiver        {}", info.receiver_url);
    println!(
        "  Data            {} (recreated at every demo start)",
        data_dir.display()
    );
    println!();
    println!(
        "  Try:  curl -s {b}/api/v2/calendar-events/ -H 'Authorization: Token {}'",
        info.api_key
    );
    println!();
    println!("Connected alice@acme.test (Google, hosted V1 flow) and bob@contoso.test");
    println!("(Microsoft, V2) and scheduled a bot on \"Design review\". Webhooks arrive below;");
    println!("the meeting moves every few seconds. Ctrl-C stops.");
    println!();
}

/// Moves the design review back and forth, printing what happens, until Ctrl-C (or
/// `options.moves` moves).
pub async fn keep_moving(
    state: &crate::state::AppState,
    sim: &convene_sim::SimHandle,
    info: &DemoInfo,
    options: &DemoOptions,
) -> anyhow::Result<()> {
    let every = Duration::from_secs(options.move_every.max(1));
    let m = &info.review;
    let mut moved = 0u32;
    loop {
        if options.moves.is_some_and(|n| moved >= n) {
            return Ok(());
        }
        if options.move_every == 0 {
            tokio::signal::ctrl_c().await?;
            return Ok(());
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                println!("stopping");
                return Ok(());
            }
            _ = tokio::time::sleep(every) => {}
        }
        moved += 1;
        // Back and forth: half an hour later, then where it was.
        let shift = ChronoDuration::minutes(if moved % 2 == 1 { 30 } else { 0 });
        let (start, end) = (m.start + shift, m.end + shift);
        sim.move_event(&m.account, &m.event_id, start, end).await;
        println!(
            "moved \"Design review\" to {} UTC; the provider pushes the change",
            start.format("%H:%M")
        );
        // Due now as well, as "Sync now" in the admin does: a move before the push
        // subscription is live need not wait for the polling interval.
        let (id, now) = (info.google_calendar_id.clone(), state.now_ms());
        state
            .store
            .write(move |tx| store::calendars::schedule_sync_now(tx, &id, now))
            .await?;
        state.wake.sync.notify_one();
    }
}
