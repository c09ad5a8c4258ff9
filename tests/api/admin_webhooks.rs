//! The webhook admin pages over HTTP with a logged-in, cookie-aware client: endpoints made
//! by the API are listed, create/edit/delete/reveal/rotate work and need the CSRF token,
//! secrets appear only on the pages answering create/reveal/rotate, the delivery log
//! filters and pages, one delivery shows its payload and attempts, Replay re-sends the
//! same `webhook-id`, and the overview flags failing and disabled endpoints with links.

use std::time::Duration;

use convene::store::outbox::{self, OutboxEvent};
use convene::webhooks::deliver::deliver_due;
use reqwest::{Client, Response};
use serde_json::{json, Value};

use crate::admin::{input_value, logged_in, new_client, try_login, PASSWORD};
use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};
use crate::receiver::{Receiver, Reply};

const ENDPOINTS: &str = "/api/v1/webhook-endpoints/";

/// Undoes askama's HTML escaping (named and numeric entities), so tests can look for
/// values as written.
pub fn unescape(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest.find(';').filter(|e| *e <= 8).map(|e| &rest[1..e]);
        let decoded = match entity {
            Some("quot") => Some('"'),
            Some("amp") => Some('&'),
            Some("lt") => Some('<'),
            Some("gt") => Some('>'),
            Some("apos") => Some('\''),
            Some(e) if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            Some(e) if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match (decoded, entity) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e.len() + 2..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// GET a page: (status, unescaped HTML).
pub async fn page(app: &TestApp, client: &Client, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    (status, unescape(&res.text().await.unwrap()))
}

/// The session's CSRF token, read from a page.
pub async fn csrf(app: &TestApp, client: &Client) -> String {
    let (status, html) = page(app, client, "/admin/").await;
    assert_eq!(status, 200);
    input_value(&html, "csrf_token")
}

/// POSTs a form (pairs may repeat a name, as checkboxes do).
pub async fn post_form(
    app: &TestApp,
    client: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> Response {
    client.post(app.url(path)).form(form).send().await.unwrap()
}

/// POSTs a button's form: the CSRF token and nothing else.
pub async fn post_button(app: &TestApp, client: &Client, path: &str, token: &str) -> Response {
    post_form(app, client, path, &[("csrf_token", token)]).await
}

pub fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The first `whsec_<base64>` secret in a page (not the `whsec_…` of explanations).
fn secret_in(html: &str) -> Option<String> {
    html.match_indices("whsec_").find_map(|(start, _)| {
        let len = html[start + 6..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
            .unwrap_or(html.len() - start - 6);
        (len >= 32).then(|| html[start..start + 6 + len].to_string())
    })
}

/// The `href` of the link with `rel` on a page.
fn rel_link(html: &str, rel: &str) -> Option<String> {
    let at = html.find(&format!("rel=\"{rel}\""))?;
    let start = html[..at].rfind("href=\"")? + 6;
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

pub async fn create_endpoint(app: &TestApp, body: Value) -> (String, String) {
    let res = app.post_json(ENDPOINTS, &body).await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    (
        v["id"].as_str().unwrap().to_string(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

async fn api_endpoint(app: &TestApp, id: &str) -> (u16, Value) {
    let res = app.get(&format!("{ENDPOINTS}{id}/")).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn api_secret(app: &TestApp, id: &str) -> String {
    let v: Value = app
        .get(&format!("{ENDPOINTS}{id}/secret/"))
        .await
        .json()
        .await
        .unwrap();
    v["secret"].as_str().unwrap().to_string()
}

pub async fn enqueue(
    app: &TestApp,
    event_type: &str,
    key: &str,
    extra_url: Option<String>,
) -> String {
    let event = OutboxEvent {
        event_type: event_type.into(),
        ordering_key: key.into(),
        data: json!({ "key": key }),
        extra_url,
    };
    let now = app.state.now_ms();
    app.state
        .store
        .write(move |tx| outbox::enqueue(tx, &event, now))
        .await
        .unwrap()
}

pub async fn deliver(app: &TestApp) -> usize {
    deliver_due(&app.state).await.unwrap()
}

/// The delivery id (log row) of a message, from the delivery log page's links.
fn delivery_link(html: &str, message_id: &str) -> String {
    let at = html
        .find(&format!("<code>{message_id}</code>"))
        .unwrap_or_else(|| panic!("{message_id} not in the log"));
    let start = html[..at].rfind("href=\"").unwrap() + 6;
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

#[tokio::test]
async fn endpoints_are_listed_created_edited_and_deleted_with_secrets_shown_only_on_request() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let mut rx = Receiver::start().await;

    // Made by the API: listed with its description and events, never with its secret.
    let (api_id, api_secret_value) = create_endpoint(
        &app,
        json!({ "url": rx.url("/api-made"), "description": "made by the API",
                "event_types": ["calendar.update"] }),
    )
    .await;
    let (status, list) = page(&app, &client, "/admin/webhooks/").await;
    assert_eq!(status, 200);
    assert!(list.contains(&rx.url("/api-made")));
    assert!(list.contains("made by the API"));
    assert!(list.contains("calendar.update"));
    assert!(list.contains(&format!("href=\"/admin/webhooks/{api_id}/\"")));
    assert!(!list.contains(&api_secret_value));
    assert!(secret_in(&list).is_none());
    let (_, one) = page(&app, &client, &format!("/admin/webhooks/{api_id}/")).await;
    assert!(one.contains("made by the API"));
    assert!(secret_in(&one).is_none(), "no secret until Reveal");

    // Created in the page: the answer shows the secret once; it is the endpoint's secret.
    let token = csrf(&app, &client).await;
    let res = post_form(
        &app,
        &client,
        "/admin/webhooks/",
        &[
            ("csrf_token", &token),
            ("url", &rx.url("/page-made")),
            ("description", "made in the admin"),
            ("event_types", "bot.scheduled"),
            ("event_types", "bot.cancelled"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let created = unescape(&res.text().await.unwrap());
    let secret = secret_in(&created).expect("the new secret is shown");
    let all: Value = app.get(ENDPOINTS).await.json().await.unwrap();
    let made = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"] == rx.url("/page-made"))
        .expect("created")
        .clone();
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["description"], "made in the admin");
    assert_eq!(
        made["event_types"],
        json!(["bot.scheduled", "bot.cancelled"])
    );
    assert_eq!(made["enabled"], true);
    assert_eq!(api_secret(&app, &id).await, secret);
    // ... and never again on a GET.
    for path in [
        "/admin/webhooks/".to_string(),
        format!("/admin/webhooks/{id}/"),
    ] {
        let (_, html) = page(&app, &client, &path).await;
        assert!(!html.contains(&secret), "{path}");
    }

    // Bad input creates nothing and says what to fix.
    let before = all["results"].as_array().unwrap().len();
    for (url, types) in [
        ("ftp://127.0.0.1/x", "bot.scheduled"),
        ("http://127.0.0.1:9/x", "bot.nope"),
    ] {
        let res = post_form(
            &app,
            &client,
            "/admin/webhooks/",
            &[("csrf_token", &token), ("url", url), ("event_types", types)],
        )
        .await;
        assert_eq!(res.status(), 303);
        let (_, html) = page(&app, &client, "/admin/webhooks/").await;
        assert!(html.contains("Not created."), "{url}");
    }
    let all: Value = app.get(ENDPOINTS).await.json().await.unwrap();
    assert_eq!(all["results"].as_array().unwrap().len(), before);

    // Edit: URL, description, events; an unticked "enabled" disables.
    let path = format!("/admin/webhooks/{id}/");
    let res = post_form(
        &app,
        &client,
        &path,
        &[
            ("csrf_token", &token),
            ("url", &rx.url("/edited")),
            ("description", "edited"),
            ("event_types", "calendar.update"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), path);
    let (_, ep) = api_endpoint(&app, &id).await;
    assert_eq!(ep["url"], rx.url("/edited"));
    assert_eq!(ep["description"], "edited");
    assert_eq!(ep["event_types"], json!(["calendar.update"]));
    assert_eq!(ep["enabled"], false);
    let (_, html) = page(&app, &client, &path).await;
    assert!(html.contains("The endpoint is saved."));
    assert!(html.contains("Disabled by hand."));
    // A disabled endpoint gets nothing.
    let m1 = enqueue(&app, "calendar.update", "cal-1", None).await;
    assert_eq!(deliver(&app).await, 1, "only the API-made endpoint");
    assert_eq!(
        rx.drain()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>(),
        ["/api-made"]
    );
    // Enabled again with no events ticked: all events.
    let res = post_form(
        &app,
        &client,
        &path,
        &[
            ("csrf_token", &token),
            ("url", &rx.url("/edited")),
            ("enabled", "on"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, ep) = api_endpoint(&app, &id).await;
    assert_eq!(
        (ep["enabled"].clone(), ep["event_types"].clone()),
        (json!(true), json!([]))
    );
    // A bad edit changes nothing.
    let res = post_form(
        &app,
        &client,
        &path,
        &[("csrf_token", &token), ("url", "nope")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(api_endpoint(&app, &id).await.1["url"], rx.url("/edited"));
    let (_, html) = page(&app, &client, &path).await;
    assert!(html.contains("Not saved."));

    // Reveal: a POST whose answer shows the current secret; GET is not allowed.
    let res = post_button(&app, &client, &format!("{path}secret/"), &token).await;
    assert_eq!(res.status(), 200);
    let html = unescape(&res.text().await.unwrap());
    assert_eq!(secret_in(&html).as_deref(), Some(secret.as_str()));
    let res = client
        .get(app.url(&format!("{path}secret/")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);

    // Rotate: a new secret, shown once; both old and new sign for now.
    let res = post_button(&app, &client, &format!("{path}rotate-secret/"), &token).await;
    assert_eq!(res.status(), 200);
    let html = unescape(&res.text().await.unwrap());
    let rotated = secret_in(&html).expect("the new secret is shown");
    assert_ne!(rotated, secret);
    assert_eq!(api_secret(&app, &id).await, rotated);
    assert!(html.contains("both the new and the previous"));
    let (_, html) = page(&app, &client, &path).await;
    assert!(!html.contains(&rotated) && !html.contains(&secret));
    assert!(html.contains("the previous secret also signs until"));
    let m2 = enqueue(&app, "calendar.sync_events", "cal-2", None).await;
    assert_eq!(deliver(&app).await, 1);
    let got = rx.drain();
    assert_eq!(
        (got[0].path.as_str(), got[0].id()),
        ("/edited", m2.as_str())
    );
    got[0].verify(&rotated).expect("signed with the new secret");
    got[0]
        .verify(&secret)
        .expect("and with the old one, during the overlap");
    assert_ne!(m1, m2);

    // Delete: gone from the API and the list.
    let res = post_button(&app, &client, &format!("{path}delete/"), &token).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/webhooks/");
    assert_eq!(api_endpoint(&app, &id).await.0, 404);
    let (_, list) = page(&app, &client, "/admin/webhooks/").await;
    assert!(!list.contains(&rx.url("/edited")));
    assert!(list.contains("The endpoint is deleted"));
    assert!(list.contains(&rx.url("/api-made")));
    assert_eq!(page(&app, &client, &path).await.0, 404);
    let res = post_button(&app, &client, &format!("{path}delete/"), &token).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn every_webhook_form_needs_the_session_and_its_csrf_token() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let rx = Receiver::start().await;
    let (id, secret) = create_endpoint(&app, json!({ "url": rx.url("/hook") })).await;
    enqueue(&app, "calendar.update", "cal-1", None).await;
    assert_eq!(deliver(&app).await, 1);
    let (_, log) = page(&app, &client, &format!("/admin/webhooks/{id}/")).await;
    let delivery = delivery_link(&log, &{
        let all = app
            .state
            .store
            .read(|c| convene::store::webhooks::list_deliveries(c, &Default::default(), 10))
            .await
            .unwrap();
        all[0].message_id.clone()
    });

    let posts: Vec<(String, Vec<(&str, String)>)> = vec![
        ("/admin/webhooks/".into(), vec![("url", rx.url("/sneaky"))]),
        (
            format!("/admin/webhooks/{id}/"),
            vec![("url", rx.url("/hijacked"))],
        ),
        (format!("/admin/webhooks/{id}/secret/"), vec![]),
        (format!("/admin/webhooks/{id}/rotate-secret/"), vec![]),
        (format!("{delivery}replay/"), vec![]),
        (format!("/admin/webhooks/{id}/delete/"), vec![]),
    ];
    for (path, fields) in &posts {
        for token in [None, Some(""), Some("forged")] {
            let mut form: Vec<(&str, String)> = fields.clone();
            if let Some(t) = token {
                form.push(("csrf_token", t.to_string()));
            }
            let res = client.post(app.url(path)).form(&form).send().await.unwrap();
            assert_eq!(res.status(), 403, "{path} with {token:?}");
            let body = res.text().await.unwrap();
            assert!(body.contains("did not come from this site"), "{path}");
            assert!(!body.contains("whsec_"), "{path}");
        }
        // Without a session: to the login page, nothing done.
        let res = new_client()
            .post(app.url(path))
            .form(&[("csrf_token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert!(location(&res).starts_with("/admin/login/"));
    }
    // Nothing changed: same endpoint, same URL, same secret, one endpoint, no replay.
    let (status, ep) = api_endpoint(&app, &id).await;
    assert_eq!(status, 200);
    assert_eq!(ep["url"], rx.url("/hook"));
    assert_eq!(api_secret(&app, &id).await, secret);
    let all: Value = app.get(ENDPOINTS).await.json().await.unwrap();
    assert_eq!(all["results"].as_array().unwrap().len(), 1);
    assert_eq!(deliver(&app).await, 0, "no replay was scheduled");
}

#[tokio::test]
async fn the_delivery_log_filters_pages_shows_attempts_and_replays_the_same_message() {
    let app = spawn_app_with(Options {
        env: vec![("CONVENE_WEBHOOK_RETRY_SCHEDULE".into(), "5".into())],
        ..Default::default()
    })
    .await;
    let client = logged_in(&app).await;
    // bot.scheduled fails on its first two attempts (with a body), then succeeds.
    let mut rx = Receiver::scripted(|r, n| {
        if r.json()["event"] == "bot.scheduled" && n < 2 {
            Reply::status(500).body("receiver says: boom")
        } else {
            Reply::status(200).body("ok")
        }
    })
    .await;
    let (id, secret) = create_endpoint(&app, json!({ "url": rx.url("/hook") })).await;
    let cal: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(enqueue(&app, "calendar.update", &format!("cal-{i}"), None).await);
        }
        v
    };
    let bot = enqueue(&app, "bot.scheduled", "bot-1", None).await;
    assert_eq!(deliver(&app).await, 4);
    app.state.clock.advance(Duration::from_secs(5));
    assert_eq!(deliver(&app).await, 1);
    rx.drain();
    let path = format!("/admin/webhooks/{id}/");

    // Filters.
    let (_, html) = page(&app, &client, &format!("{path}?status=failed")).await;
    assert!(html.contains(&bot));
    assert!(cal.iter().all(|m| !html.contains(m.as_str())));
    let (_, html) = page(
        &app,
        &client,
        &format!("{path}?event_type=calendar.update&status="),
    )
    .await;
    assert!(cal.iter().all(|m| html.contains(m.as_str())));
    assert!(!html.contains(&bot));
    let (_, html) = page(
        &app,
        &client,
        &format!("{path}?status=delivered&event_type=bot.scheduled"),
    )
    .await;
    assert!(html.contains("No deliveries match this filter"));
    assert!(!html.contains(&bot));
    assert_eq!(
        page(&app, &client, &format!("{path}?status=lost")).await.0,
        400
    );
    assert_eq!(
        page(&app, &client, &format!("{path}?event_type=nope"))
            .await
            .0,
        400
    );
    assert_eq!(
        page(&app, &client, &format!("{path}?before=x")).await.0,
        400
    );

    // One delivery: payload, every attempt with status, latency and response excerpt.
    let (_, html) = page(&app, &client, &format!("{path}?status=failed")).await;
    let link = delivery_link(&html, &bot);
    let (status, one) = page(&app, &client, &link).await;
    assert_eq!(status, 200);
    assert!(one.contains("failed"));
    assert!(one.contains(&bot));
    assert!(one.contains(&rx.url("/hook")));
    // Pretty-printed: one key per line, nested objects indented.
    assert!(one.contains("\n  \"event\": \"bot.scheduled\""), "{one}");
    assert!(
        one.contains("\n  \"data\": {\n    \"key\": \"bot-1\"\n  }"),
        "{one}"
    );
    assert_eq!(one.matches("receiver says: boom").count(), 2);
    assert_eq!(one.matches(">500<").count(), 2);
    assert!(one.contains(" ms"));

    // Replay: the same webhook-id arrives again, signed; the log gains an attempt.
    let token = csrf(&app, &client).await;
    let res = post_button(&app, &client, &format!("{link}replay/"), &token).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), link);
    assert_eq!(deliver(&app).await, 1);
    let again = rx.drain();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id(), bot);
    again[0].verify(&secret).unwrap();
    let (_, one) = page(&app, &client, &link).await;
    assert!(one.contains("Replay scheduled"));
    assert!(one.contains(">delivered<"));
    assert_eq!(one.matches(">500<").count(), 2);
    assert_eq!(one.matches(">200<").count(), 1);
    // A delivered message can be replayed too.
    let (_, html) = page(&app, &client, &path).await;
    let link = delivery_link(&html, &cal[0]);
    let res = post_button(&app, &client, &format!("{link}replay/"), &token).await;
    assert_eq!(res.status(), 303);
    assert_eq!(deliver(&app).await, 1);
    assert_eq!(rx.drain()[0].id(), cal[0]);
    let res = post_button(
        &app,
        &client,
        "/admin/webhooks/deliveries/999999/replay/",
        &token,
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        page(&app, &client, "/admin/webhooks/deliveries/999999/")
            .await
            .0,
        404
    );

    // Paging: 60 more; every message appears exactly once across the pages, newest first.
    let mut sent = Vec::new();
    for i in 0..60 {
        sent.push(enqueue(&app, "calendar.sync_events", &format!("sync-{i}"), None).await);
    }
    assert_eq!(deliver(&app).await, 60);
    let filter = "?event_type=calendar.sync_events";
    let (_, first) = page(&app, &client, &format!("{path}{filter}")).await;
    assert!(rel_link(&first, "prev").is_none());
    let older = rel_link(&first, "next").expect("an older page");
    assert!(older.contains("event_type=calendar.sync_events"), "{older}");
    let (_, second) = page(&app, &client, &older).await;
    assert!(rel_link(&second, "next").is_none(), "{second}");
    let seen = |html: &str| -> Vec<String> {
        let mut found: Vec<(usize, String)> = sent
            .iter()
            .filter_map(|m| {
                html.find(&format!("<code>{m}</code>"))
                    .map(|at| (at, m.clone()))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, m)| m).collect()
    };
    let (a, b) = (seen(&first), seen(&second));
    assert_eq!(a.len(), 50);
    assert_eq!(b.len(), 10);
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    assert_eq!(all, newest_first);
    all.dedup();
    assert_eq!(all.len(), 60);
    // And back again.
    let newer = rel_link(&second, "prev").expect("a newer page");
    let (_, back) = page(&app, &client, &newer).await;
    assert_eq!(seen(&back), a);
    assert!(!back.contains(&bot), "the filter holds across pages");
}

#[tokio::test]
async fn the_all_deliveries_log_includes_calendars_own_webhook_urls() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let mut rx = Receiver::start().await;
    let (id, _) = create_endpoint(&app, json!({ "url": rx.url("/endpoint") })).await;
    let msg = enqueue(
        &app,
        "calendar.update",
        "cal-1",
        Some(rx.url("/calendar-own")),
    )
    .await;
    assert_eq!(deliver(&app).await, 2);
    rx.drain();

    let (status, html) = page(&app, &client, "/admin/webhooks/deliveries/").await;
    assert_eq!(status, 200);
    assert!(html.contains(&rx.url("/calendar-own")));
    assert!(html.contains(&rx.url("/endpoint")));
    assert_eq!(html.matches(&format!("<code>{msg}</code>")).count(), 2);
    // The endpoint's own log has only its delivery.
    let (_, own) = page(&app, &client, &format!("/admin/webhooks/{id}/")).await;
    assert_eq!(own.matches(&format!("<code>{msg}</code>")).count(), 1);

    // The calendar URL delivery can be opened and replayed (signed with the workspace secret).
    let at = html.find(&rx.url("/calendar-own")).unwrap();
    let row_start = html[..at].rfind("<tr>").unwrap();
    let start = html[row_start..].find("href=\"").unwrap() + row_start + 6;
    let link = html[start..start + html[start..].find('"').unwrap()].to_string();
    let (_, one) = page(&app, &client, &link).await;
    assert!(one.contains(&rx.url("/calendar-own")));
    assert!(one.contains("All deliveries"));
    let token = csrf(&app, &client).await;
    let res = post_button(&app, &client, &format!("{link}replay/"), &token).await;
    assert_eq!(res.status(), 303);
    assert_eq!(deliver(&app).await, 1);
    let got = rx.drain();
    assert_eq!(
        (got[0].path.as_str(), got[0].id()),
        ("/calendar-own", msg.as_str())
    );
    let workspace: Value = app
        .get("/api/v1/webhook-secret/")
        .await
        .json()
        .await
        .unwrap();
    got[0]
        .verify(workspace["secret"].as_str().unwrap())
        .unwrap();
}

#[tokio::test]
async fn the_overview_flags_failing_and_disabled_endpoints_with_links() {
    let app = spawn_app_with(Options {
        env: vec![(
            "CONVENE_WEBHOOK_RETRY_SCHEDULE".into(),
            "86400,86400,86400,86400,86400,86400,86400".into(),
        )],
        ..Default::default()
    })
    .await;
    let mut client = logged_in(&app).await;
    let rx = Receiver::scripted(|r, _| match r.path.as_str() {
        "/gone" => Reply::status(410),
        "/down" => Reply::status(503),
        _ => Reply::status(200),
    })
    .await;
    let (gone, _) = create_endpoint(&app, json!({ "url": rx.url("/gone") })).await;
    let (down, _) = create_endpoint(&app, json!({ "url": rx.url("/down") })).await;
    let (fine, _) = create_endpoint(&app, json!({ "url": rx.url("/fine") })).await;
    let widget = |html: &str| -> String {
        let start = html.find("<h2>Webhook endpoints</h2>").expect("the widget");
        let end = html[start..].find("</section>").unwrap() + start;
        html[start..end].to_string()
    };
    let stat = |w: &str, label: &str| -> String {
        let at = w.find(&format!("<dt>{label}</dt>")).unwrap();
        let dd = w[..at].rfind("<dd>").unwrap() + 4;
        w[dd..dd + w[dd..].find('<').unwrap()].to_string()
    };
    let (status, html) = page(&app, &client, "/admin/").await;
    assert_eq!(status, 200, "{html}");
    let w = widget(&html);
    assert!(w.contains("Every endpoint is delivering."));
    assert_eq!(stat(&w, "delivering"), "3");

    enqueue(&app, "calendar.update", "cal-1", None).await;
    assert_eq!(deliver(&app).await, 3);
    let (_, html) = page(&app, &client, "/admin/").await;
    let w = widget(&html);
    assert!(
        w.contains(&format!("href=\"/admin/webhooks/{gone}/\"")),
        "{w}"
    );
    assert!(w.contains("<td>disabled</td>"));
    assert!(w.contains("410 Gone"));
    assert!(w.contains(&format!("href=\"/admin/webhooks/{down}/\"")));
    assert!(w.contains("<td>failing since "));
    assert!(!w.contains(&fine));
    // One state each: delivering, failing or disabled, never two at once.
    assert_eq!(stat(&w, "disabled"), "1");
    assert_eq!(stat(&w, "failing"), "1");
    assert_eq!(stat(&w, "delivering"), "1");
    assert!(w.contains("href=\"/admin/webhooks/\""));
    assert!(w.contains("stat bad"), "the disabled count is flagged red");

    // Five days of failures disable the other one: flagged the same way, with its reason.
    for _ in 0..5 {
        app.state.clock.advance(Duration::from_secs(86_400));
        assert_eq!(deliver(&app).await, 1);
    }
    // (Sessions last 12 hours: log in again.)
    client = new_client();
    let res = try_login(&app, &client, PASSWORD).await;
    assert_eq!(res.status(), 303);
    let (_, html) = page(&app, &client, "/admin/").await;
    let w = widget(&html);
    assert_eq!(stat(&w, "disabled"), "2");
    assert_eq!(stat(&w, "failing"), "0");
    assert_eq!(w.matches("<td>disabled</td>").count(), 2);
    assert!(w.contains("Every attempt failed from"));
    // The endpoint's page and the list say so too.
    let (_, one) = page(&app, &client, &format!("/admin/webhooks/{down}/")).await;
    assert!(one.contains("Disabled."));
    assert!(one.contains("Every attempt failed from"));
    let (_, list) = page(&app, &client, "/admin/webhooks/").await;
    assert_eq!(list.matches("badge bad\">disabled").count(), 2);
}
