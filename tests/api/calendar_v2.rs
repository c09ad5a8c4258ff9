//! Calendar V2 and the token lifecycle against the simulator: create / list / get / PATCH /
//! DELETE, access tokens under concurrency, rotation, and each class of provider error.

use std::time::Duration;

use convene::calendars::tokens;
use convene_sim::{AccountId, Endpoint, Fault, Provider};
use serde_json::{json, Value};

use crate::calendar_support::*;
use crate::helpers::TestApp;

const HOOK: &str = "https://app.example.com/hooks/calendar";

async fn create(app: &TestApp, body: Value) -> Value {
    let res = app.post_json("/api/v2/calendars/", &body).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// A Google grant with only the events scope: no userinfo, no calendar metadata.
const GOOGLE_EVENTS_ONLY: &[&str] = &["https://www.googleapis.com/auth/calendar.events.readonly"];

/// Creates a Google calendar from a refresh token with the right client credentials.
async fn create_google(app: &TestApp, refresh: &str) -> Value {
    create(
        app,
        json!({"platform": "google_calendar", "oauth_client_id": GOOGLE_ID,
               "oauth_client_secret": GOOGLE_SECRET, "oauth_refresh_token": refresh}),
    )
    .await
}

/// Creates a Microsoft calendar from a refresh token with the right client credentials.
async fn create_ms(app: &TestApp, refresh: &str) -> Value {
    create(
        app,
        json!({"platform": "microsoft_outlook", "oauth_client_id": MS_ID,
               "oauth_client_secret": MS_SECRET, "oauth_refresh_token": refresh}),
    )
    .await
}

async fn google_calendar(app: &TestApp, email: &str) -> (AccountId, String, Value) {
    let acct = google_account(app, email).await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_ID, &acct, &[])
        .await;
    let cal = create(
        app,
        json!({"platform": "google_calendar", "oauth_client_id": GOOGLE_ID,
               "oauth_client_secret": GOOGLE_SECRET, "oauth_refresh_token": refresh,
               "webhook_url": HOOK}),
    )
    .await;
    (acct, refresh, cal)
}

async fn ms_calendar(app: &TestApp, email: &str) -> (AccountId, String, Value) {
    let acct = ms_account(app, email).await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Microsoft, MS_ID, &acct, &[])
        .await;
    let cal = create(
        app,
        json!({"platform": "microsoft_outlook", "oauth_client_id": MS_ID,
               "oauth_client_secret": MS_SECRET, "oauth_refresh_token": refresh,
               "oauth_email": "bob.alias@contoso.test"}),
    )
    .await;
    (acct, refresh, cal)
}

async fn get(app: &TestApp, id: &str) -> Value {
    let res = app.get(&format!("/api/v2/calendars/{id}/")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn access_token(app: &TestApp, id: &str) -> (u16, Value) {
    let res = app
        .post_json(&format!("/api/v2/calendars/{id}/access-token/"), &json!({}))
        .await;
    (res.status().as_u16(), res.json().await.unwrap())
}

fn statuses(cal: &Value) -> Vec<String> {
    cal["status_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn create_connects_reads_the_email_and_hides_secrets() {
    let app = spawn_calendar_app().await;
    let acct = google_account(&app, "alice@acme.test").await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_ID, &acct, &[])
        .await;
    app.sim.reset_counts().await;
    let res = app
        .post_json(
            "/api/v2/calendars/",
            &json!({"platform": "google_calendar", "oauth_client_id": GOOGLE_ID,
                    "oauth_client_secret": GOOGLE_SECRET, "oauth_refresh_token": refresh,
                    "webhook_url": HOOK}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(GOOGLE_SECRET) && !text.contains(&refresh),
        "write-only"
    );
    let cal: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(cal["status"], "connected");
    assert_eq!(cal["platform"], "google_calendar");
    assert_eq!(cal["platform_email"], "alice@acme.test");
    assert_eq!(cal["oauth_client_id"], GOOGLE_ID);
    assert_eq!(cal["webhook_url"], HOOK);
    assert_eq!(cal["oauth_email"], Value::Null);
    assert_eq!(statuses(&cal), ["connecting", "connected"]);
    assert!(cal["status_changes"][1].get("error").is_none());
    assert!(cal["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(cal.get("oauth_client_secret").is_none());
    assert!(cal.get("oauth_refresh_token").is_none());
    // Provider calls of one V2 connect: one refresh; the email came in the id_token.
    assert_eq!(app.sim.token_refresh_count(Provider::Google).await, 1);
    assert_eq!(app.sim.call_count(Endpoint::GoogleUserinfo).await, 0);
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, 0);

    let id = cal["id"].as_str().unwrap();
    let hooks = webhooks(&app, "calendar.update").await;
    assert_eq!(
        hooks,
        vec![json!({"event": "calendar.update", "data": {"calendar_id": id}})]
    );
    assert_eq!(
        url_deliveries(&app, HOOK).await,
        1,
        "sent to the calendar's webhook_url"
    );
    assert!(calendar_column(&app, id, "next_sync_at").await.is_some());

    // Secrets are sealed at rest.
    for col in [
        "oauth_client_secret_enc",
        "oauth_refresh_token_enc",
        "access_token_enc",
    ] {
        let v = calendar_column(&app, id, col).await.unwrap();
        assert!(v.starts_with("v1.") && !v.contains(&refresh), "{col}");
    }
    assert_eq!(get(&app, id).await, cal);

    // The access token is the cached one: no second refresh.
    let (status, body) = access_token(&app, id).await;
    assert_eq!(status, 200);
    assert!(body["token"].is_string());
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.sim.token_refresh_count(Provider::Google).await, 1);
}

#[tokio::test]
async fn create_validates_its_body() {
    let app = spawn_calendar_app().await;
    let res = app
        .post_json("/api/v2/calendars/", &json!({"platform": "outlook"}))
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    for f in [
        "platform",
        "oauth_client_id",
        "oauth_client_secret",
        "oauth_refresh_token",
    ] {
        assert!(body[f].is_array(), "{f}: {body}");
    }
    let res = app
        .post_json(
            "/api/v2/calendars/",
            &json!({"platform": "google_calendar", "oauth_client_id": "a",
                    "oauth_client_secret": "b", "oauth_refresh_token": "c",
                    "webhook_url": "javascript:alert(1)"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.unwrap()["webhook_url"].is_array());
    assert_eq!(app.get("/api/v2/calendars/not-a-uuid/").await.status(), 404);
    assert_eq!(
        app.get(&format!("/api/v2/calendars/{}/", uuid::Uuid::new_v4()))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn a_rejected_refresh_token_still_creates_a_disconnected_calendar() {
    let app = spawn_calendar_app().await;
    let cal = create(
        &app,
        json!({"platform": "microsoft_outlook", "oauth_client_id": MS_ID,
               "oauth_client_secret": MS_SECRET, "oauth_refresh_token": "not-a-token",
               "webhook_url": HOOK}),
    )
    .await;
    assert_eq!(cal["status"], "disconnected");
    assert_eq!(statuses(&cal), ["connecting", "disconnected"]);
    assert_eq!(cal["status_changes"][1]["error"]["code"], "AADSTS70008");
    let message = cal["status_changes"][1]["error"]["message"]
        .as_str()
        .unwrap();
    assert!(message.starts_with("AADSTS70008"), "{message}");
    assert!(
        !message.contains("Trace ID"),
        "trace ids trimmed: {message}"
    );
    assert_eq!(webhooks(&app, "calendar.update").await.len(), 1);
    assert_eq!(url_deliveries(&app, HOOK).await, 1);

    // Never a stale token, and no provider call for a disconnected calendar.
    let id = cal["id"].as_str().unwrap();
    let before = app.sim.call_count(Endpoint::MicrosoftToken).await;
    let (status, body) = access_token(&app, id).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "bad_refresh_token");
    assert!(body["message"].as_str().unwrap().contains("AADSTS70008"));
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftToken).await, before);

    // A wrong client secret is permanent too.
    let acct = google_account(&app, "alice@acme.test").await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_ID, &acct, &[])
        .await;
    let cal = create(
        &app,
        json!({"platform": "google_calendar", "oauth_client_id": GOOGLE_ID,
               "oauth_client_secret": "wrong", "oauth_refresh_token": refresh}),
    )
    .await;
    assert_eq!(cal["status"], "disconnected");
    assert_eq!(cal["status_changes"][1]["error"]["code"], "invalid_client");
}

#[tokio::test]
async fn patch_with_a_new_token_reconnects() {
    let app = spawn_calendar_app().await;
    let (acct, _refresh, cal) = google_calendar(&app, "alice@acme.test").await;
    let id = cal["id"].as_str().unwrap().to_string();
    app.sim.revoke_all_tokens(&acct).await;
    app.state.clock.advance(Duration::from_secs(2 * 3600));
    let (status, body) = access_token(&app, &id).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_refresh_token"))
    );
    let cal = get(&app, &id).await;
    assert_eq!(cal["status"], "disconnected");
    assert_eq!(cal["status_changes"][2]["error"]["code"], "invalid_grant");
    let hooks_before = webhooks(&app, "calendar.update").await.len();

    let fresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_ID, &acct, &[])
        .await;
    let res = app
        .patch_json(
            &format!("/api/v2/calendars/{id}/"),
            &json!({"oauth_refresh_token": fresh}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cal: Value = res.json().await.unwrap();
    assert_eq!(cal["status"], "connected");
    assert_eq!(
        statuses(&cal),
        [
            "connecting",
            "connected",
            "disconnected",
            "connecting",
            "connected"
        ]
    );
    assert!(webhooks(&app, "calendar.update").await.len() > hooks_before);
    let (status, _) = access_token(&app, &id).await;
    assert_eq!(status, 200);

    // Settings only: no reconnect, one webhook, no refresh.
    let refreshes = app.sim.token_refresh_count(Provider::Google).await;
    let hooks_before = webhooks(&app, "calendar.update").await.len();
    let res = app
        .patch_json(
            &format!("/api/v2/calendars/{id}/"),
            &json!({"oauth_email": "alice.alias@acme.test", "webhook_url": null}),
        )
        .await;
    let cal: Value = res.json().await.unwrap();
    assert_eq!(cal["oauth_email"], "alice.alias@acme.test");
    assert_eq!(cal["webhook_url"], Value::Null);
    assert_eq!(cal["status"], "connected");
    assert_eq!(
        webhooks(&app, "calendar.update").await.len(),
        hooks_before + 1
    );
    assert_eq!(
        app.sim.token_refresh_count(Provider::Google).await,
        refreshes
    );
    let res = app
        .patch_json(
            &format!("/api/v2/calendars/{id}/"),
            &json!({"oauth_refresh_token": ""}),
        )
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn delete_answers_204_without_a_webhook() {
    let app = spawn_calendar_app().await;
    let (_, _, cal) = google_calendar(&app, "alice@acme.test").await;
    let id = cal["id"].as_str().unwrap();
    let hooks = webhooks(&app, "calendar.update").await.len();
    let res = app.delete(&format!("/api/v2/calendars/{id}/")).await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    assert_eq!(webhooks(&app, "calendar.update").await.len(), hooks);
    assert_eq!(
        app.get(&format!("/api/v2/calendars/{id}/")).await.status(),
        404
    );
    assert_eq!(
        app.delete(&format!("/api/v2/calendars/{id}/"))
            .await
            .status(),
        404
    );
    let (status, _) = access_token(&app, id).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn list_filters_and_paginates() {
    let app = spawn_calendar_app().await;
    let (_, _, g1) = google_calendar(&app, "alice@acme.test").await;
    let (_, _, g2) = google_calendar(&app, "gus@acme.test").await;
    let (_, _, m1) = ms_calendar(&app, "bob@contoso.test").await;
    let bad = create(
        &app,
        json!({"platform": "google_calendar", "oauth_client_id": GOOGLE_ID,
               "oauth_client_secret": GOOGLE_SECRET, "oauth_refresh_token": "dead"}),
    )
    .await;
    let ids = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |q: &'static str| {
        let app = &app;
        async move {
            let res = app.get(&format!("/api/v2/calendars/{q}")).await;
            assert_eq!(res.status(), 200, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };
    let all = list("").await;
    assert_eq!(all["results"].as_array().unwrap().len(), 4);
    assert_eq!(all["next"], Value::Null);
    assert_eq!(all["previous"], Value::Null);
    assert_eq!(
        ids(&list("?platform=microsoft_outlook").await),
        [m1["id"].as_str().unwrap()]
    );
    assert_eq!(
        ids(&list("?status=disconnected").await),
        [bad["id"].as_str().unwrap()]
    );
    assert_eq!(
        ids(&list("?email=GUS@acme.test").await),
        [g2["id"].as_str().unwrap()]
    );
    // email also matches oauth_email.
    assert_eq!(
        ids(&list("?email=bob.alias@contoso.test").await),
        [m1["id"].as_str().unwrap()]
    );
    let since = g2["created_at"].as_str().unwrap().to_string();
    let res = app
        .get(&format!(
            "/api/v2/calendars/?created_at__gte={}",
            urlencode(&since)
        ))
        .await;
    let got = ids(&res.json::<Value>().await.unwrap());
    assert!(got.contains(&g2["id"].as_str().unwrap().to_string()));
    assert!(got.len() >= 3);

    // Pages of two, forward then back.
    let p1 = list("?page_size=2").await;
    assert_eq!(
        ids(&p1),
        [g1["id"].as_str().unwrap(), g2["id"].as_str().unwrap()]
    );
    let next = p1["next"].as_str().unwrap();
    assert!(next.starts_with(&app.address));
    let p2: Value = app
        .client
        .get(next)
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ids(&p2),
        [m1["id"].as_str().unwrap(), bad["id"].as_str().unwrap()]
    );
    assert_eq!(p2["next"], Value::Null);
    let back: Value = app
        .client
        .get(p2["previous"].as_str().unwrap())
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&back), ids(&p1));

    for q in [
        "?status=gone",
        "?platform=zoom",
        "?created_at__gte=yesterday",
        "?cursor=tampered",
        "?page_size=0",
    ] {
        assert_eq!(
            app.get(&format!("/api/v2/calendars/{q}")).await.status(),
            400,
            "{q}"
        );
    }
    assert_eq!(
        list("?unknown=1").await["results"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn fifty_concurrent_access_token_calls_make_one_refresh() {
    let app = spawn_calendar_app().await;
    let (_, _, cal) = google_calendar(&app, "alice@acme.test").await;
    let id = cal["id"].as_str().unwrap().to_string();
    // 56 minutes later the cached token has under 5 minutes left: everyone needs a new one.
    app.state.clock.advance(Duration::from_secs(56 * 60));
    let before = app.sim.token_refresh_count(Provider::Google).await;
    // A slow provider, so the callers really overlap the refresh.
    app.sim
        .inject_fault(Endpoint::GoogleToken, Fault::Slow { millis: 400 }, 50)
        .await;
    let calls = (0..50).map(|_| access_token(&app, &id));
    let results = futures_util::future::join_all(calls).await;
    let tokens: std::collections::HashSet<String> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, 200, "{b}");
            b["token"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(tokens.len(), 1, "everyone got the one new token");
    assert_eq!(
        app.sim.token_refresh_count(Provider::Google).await,
        before + 1
    );
}

#[tokio::test]
async fn microsoft_rotation_survives_many_refreshes() {
    let app = spawn_calendar_app().await;
    app.sim.set_strict_rotation(true).await;
    let (_, original, cal) = ms_calendar(&app, "bob@contoso.test").await;
    assert_eq!(cal["status"], "connected");
    assert_eq!(cal["platform_email"], "bob@contoso.test");
    let id = cal["id"].as_str().unwrap().to_string();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        app.state.clock.advance(Duration::from_secs(3600));
        let (status, body) = access_token(&app, &id).await;
        assert_eq!(status, 200, "{body}");
        assert!(seen.insert(body["token"].as_str().unwrap().to_string()));
    }
    // And through the sweep's daily refresh.
    app.state.clock.advance(Duration::from_secs(25 * 3600));
    let report = tokens::refresh_due(&app.state).await.unwrap();
    assert_eq!(report.refreshed, 1);
    assert_eq!(app.sim.token_refresh_count(Provider::Microsoft).await, 22);
    assert_eq!(get(&app, &id).await["status"], "connected");
    // The token Convene holds is the newest; the original was rotated away and is dead.
    let sealed = calendar_column(&app, &id, "oauth_refresh_token_enc")
        .await
        .unwrap();
    let held = app.state.keys.decrypt(&sealed).unwrap();
    assert_ne!(held, original);
    let res = reqwest::Client::new()
        .post(app.sim.microsoft_token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", original.as_str()),
            ("client_id", MS_ID),
            ("client_secret", MS_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn transient_errors_leave_the_status_and_back_off() {
    let app = spawn_calendar_app().await;
    let (_, _, cal) = google_calendar(&app, "alice@acme.test").await;
    let id = cal["id"].as_str().unwrap().to_string();
    let hooks = webhooks(&app, "calendar.update").await.len();

    // 5xx: an error now, status unchanged, no webhook.
    app.state.clock.advance(Duration::from_secs(2 * 3600));
    app.sim
        .inject_fault(Endpoint::GoogleToken, Fault::Status500, 1)
        .await;
    let (status, body) = access_token(&app, &id).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("error")));
    let after = get(&app, &id).await;
    assert_eq!(after["status"], "connected");
    assert_eq!(after["status_changes"], cal["status_changes"]);
    assert_eq!(webhooks(&app, "calendar.update").await.len(), hooks);
    // After the backoff (30 s) it works again.
    app.state.clock.advance(Duration::from_secs(31));
    assert_eq!(access_token(&app, &id).await.0, 200);

    // 429 with Retry-After: no provider call before it has passed.
    app.state.clock.advance(Duration::from_secs(2 * 3600));
    app.sim
        .inject_fault(
            Endpoint::GoogleToken,
            Fault::RateLimited429 {
                retry_after_secs: 120,
            },
            1,
        )
        .await;
    let calls = app.sim.call_count(Endpoint::GoogleToken).await;
    assert_eq!(access_token(&app, &id).await.0, 400);
    assert_eq!(app.sim.call_count(Endpoint::GoogleToken).await, calls + 1);
    let next: i64 = calendar_column(&app, &id, "next_refresh_at")
        .await
        .unwrap()
        .parse()
        .unwrap();
    let wait = next - app.state.now_ms();
    assert!(
        (110_000..=120_000).contains(&wait),
        "honours Retry-After: {wait}"
    );
    app.state.clock.advance(Duration::from_secs(60));
    assert_eq!(access_token(&app, &id).await.0, 400);
    assert_eq!(app.sim.call_count(Endpoint::GoogleToken).await, calls + 1);
    app.state.clock.advance(Duration::from_secs(61));
    assert_eq!(access_token(&app, &id).await.0, 200);

    // A malformed answer is transient too.
    app.state.clock.advance(Duration::from_secs(2 * 3600));
    app.sim
        .inject_fault(Endpoint::GoogleToken, Fault::MalformedJson, 1)
        .await;
    assert_eq!(access_token(&app, &id).await.0, 400);
    assert_eq!(get(&app, &id).await["status"], "connected");
    assert_eq!(webhooks(&app, "calendar.update").await.len(), hooks);
}

#[tokio::test]
async fn a_create_during_an_outage_connects_later() {
    let app = spawn_calendar_app().await;
    let acct = ms_account(&app, "bob@contoso.test").await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Microsoft, MS_ID, &acct, &[])
        .await;
    app.sim
        .inject_fault(Endpoint::MicrosoftToken, Fault::Status500, 1)
        .await;
    let cal = create_ms(&app, &refresh).await;
    assert_eq!(cal["status"], "connecting");
    assert_eq!(webhooks(&app, "calendar.update").await.len(), 0);
    let id = cal["id"].as_str().unwrap();
    // Not yet due: the sweep leaves it alone.
    let report = tokens::refresh_due(&app.state).await.unwrap();
    assert_eq!(report, tokens::SweepReport::default());
    app.state.clock.advance(Duration::from_secs(31));
    let report = tokens::refresh_due(&app.state).await.unwrap();
    assert_eq!(report.refreshed, 1);
    let cal = get(&app, id).await;
    assert_eq!(cal["status"], "connected");
    assert_eq!(cal["platform_email"], "bob@contoso.test");
    assert_eq!(webhooks(&app, "calendar.update").await.len(), 1);
}

#[tokio::test]
async fn an_idle_day_costs_one_refresh_per_calendar() {
    let app = spawn_calendar_app().await;
    let (g_acct, _, g) = google_calendar(&app, "alice@acme.test").await;
    let (_, _, m) = ms_calendar(&app, "bob@contoso.test").await;
    app.sim.reset_counts().await;
    // Within the day nothing is due.
    app.state.clock.advance(Duration::from_secs(23 * 3600));
    assert_eq!(
        tokens::refresh_due(&app.state).await.unwrap(),
        tokens::SweepReport::default()
    );
    app.state.clock.advance(Duration::from_secs(3600 + 60));
    let report = tokens::refresh_due(&app.state).await.unwrap();
    assert_eq!(report.refreshed, 2);
    assert_eq!(tokens::refresh_due(&app.state).await.unwrap().refreshed, 0);
    assert_eq!(app.sim.token_refresh_count(Provider::Google).await, 1);
    assert_eq!(app.sim.token_refresh_count(Provider::Microsoft).await, 1);
    let total: u64 = {
        let mut n = 0;
        for e in Endpoint::ALL {
            n += app.sim.call_count(e).await;
        }
        n
    };
    assert_eq!(total, 2, "one token call per calendar per idle day");

    // The liveness refresh is what notices a revocation: disconnected + webhook.
    app.sim.revoke_all_tokens(&g_acct).await;
    let hooks = webhooks(&app, "calendar.update").await.len();
    app.state.clock.advance(Duration::from_secs(24 * 3600 + 60));
    let report = tokens::refresh_due(&app.state).await.unwrap();
    assert_eq!((report.refreshed, report.disconnected), (1, 1));
    let g = get(&app, g["id"].as_str().unwrap()).await;
    assert_eq!(g["status"], "disconnected");
    assert_eq!(webhooks(&app, "calendar.update").await.len(), hooks + 1);
    assert_eq!(
        get(&app, m["id"].as_str().unwrap()).await["status"],
        "connected"
    );
    // Disconnected calendars are not refreshed again.
    app.state.clock.advance(Duration::from_secs(24 * 3600 + 60));
    assert_eq!(tokens::refresh_due(&app.state).await.unwrap().refreshed, 1);

    // A transient failure in the sweep changes nothing visible.
    app.state.clock.advance(Duration::from_secs(24 * 3600 + 60));
    app.sim
        .inject_fault(
            Endpoint::MicrosoftToken,
            Fault::RateLimited429 {
                retry_after_secs: 5,
            },
            1,
        )
        .await;
    let report = tokens::refresh_due(&app.state).await.unwrap();
    assert_eq!(report.retry_later, 1);
    assert_eq!(
        get(&app, m["id"].as_str().unwrap()).await["status"],
        "connected"
    );
    assert_eq!(webhooks(&app, "calendar.update").await.len(), hooks + 1);
}

#[tokio::test]
async fn email_discovery_follows_the_documented_order() {
    let app = spawn_calendar_app().await;
    // Microsoft without openid: /me/calendar, and no /me (User.Read not granted).
    let acct = ms_account(&app, "mia@contoso.test").await;
    let refresh = app
        .sim
        .mint_refresh_token(
            Provider::Microsoft,
            MS_ID,
            &acct,
            &[
                "offline_access",
                "https://graph.microsoft.com/Calendars.Read",
            ],
        )
        .await;
    app.sim.reset_counts().await;
    let cal = create_ms(&app, &refresh).await;
    assert_eq!(cal["platform_email"], "mia@contoso.test");
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftCalendar).await, 1);
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftMe).await, 0);

    // Google with only the events scope: events.list summary.
    let acct = google_account(&app, "gia@acme.test").await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_ID, &acct, GOOGLE_EVENTS_ONLY)
        .await;
    app.sim.reset_counts().await;
    let cal = create_google(&app, &refresh).await;
    assert_eq!(cal["status"], "connected");
    assert_eq!(cal["platform_email"], "gia@acme.test");
    assert_eq!(app.sim.call_count(Endpoint::GoogleUserinfo).await, 0);
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, 1);

    // No source works: connected all the same, email null.
    let acct = google_account(&app, "hal@acme.test").await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_ID, &acct, GOOGLE_EVENTS_ONLY)
        .await;
    app.sim
        .inject_fault(Endpoint::GoogleEvents, Fault::Status500, 1)
        .await;
    let cal = create_google(&app, &refresh).await;
    assert_eq!(cal["status"], "connected");
    assert_eq!(cal["platform_email"], Value::Null);
}
