//! Contract audit: the wire-level statements of the spec (paths with and without the slash,
//! status codes, error and pagination shapes, exact field sets, authorize URL parameters),
//! checked against a spawned app and the simulator. Each check names the spec point it
//! guards, and a run reports every mismatch at once.

use std::collections::{BTreeSet, HashMap};

use convene_sim::Provider;
use reqwest::Method as M;
use serde_json::{json, Value};

use crate::calendar_support::*;
use crate::helpers::{spawn_app, TestApp};

/// Collects mismatches so one run shows all of them.
#[derive(Default)]
struct Audit(Vec<String>);

impl Audit {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.0.push(what.into());
        }
    }
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, got: T, want: T, what: &str) {
        if got != want {
            self.0.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }
    fn done(self) {
        assert!(
            self.0.is_empty(),
            "contract mismatches:\n  {}",
            self.0.join("\n  ")
        );
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn is_uuid_v4(v: &Value) -> bool {
    v.as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .is_some_and(|u| u.get_version_num() == 4 && u.to_string() == v.as_str().unwrap())
}

/// RFC 3339 UTC with a literal `Z`.
fn is_utc_z(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

async fn send(
    app: &TestApp,
    method: M,
    path: &str,
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("Authorization", app.auth());
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A 400 body is `{"detail": "..."}` or `{"field": ["msg", ...], ...}`.
fn is_drf_400(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    !o.is_empty()
        && o.iter().all(|(k, v)| {
            if k == "detail" {
                v.is_string()
            } else {
                v.as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string))
            }
        })
}

#[tokio::test]
async fn conventions_auth_slashes_errors_and_request_ids() {
    let app = spawn_app().await;
    let mut a = Audit::default();

    // Auth: missing, wrong scheme, wrong key → 401 {"detail"}.
    for header in [
        None,
        Some("Bearer x".to_string()),
        Some("Token nope".into()),
    ] {
        let mut req = app.client.get(app.url("/api/v2/calendars/"));
        if let Some(h) = &header {
            req = req.header("Authorization", h);
        }
        let res = req.send().await.unwrap();
        a.eq(res.status().as_u16(), 401, &format!("401 for {header:?}"));
        a.check(
            res.headers().contains_key("x-request-id"),
            "X-Request-Id on 401",
        );
        let body: Value = res.json().await.unwrap_or(Value::Null);
        a.eq(keys(&body), set(&["detail"]), "401 body keys");
    }
    // Lowercase scheme is still the Token scheme.
    let res = app
        .client
        .get(app.url("/api/v2/calendars/"))
        .header("Authorization", format!("token {}", app.api_key))
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 200, "lowercase `token` scheme");

    // Every API path answers without its trailing slash too (same answer or 308).
    for (m, path) in [
        (M::GET, "/api/v2/calendars"),
        (M::GET, "/api/v2/calendar-events"),
        (M::GET, "/api/v2/zoom-oauth-apps"),
        (M::GET, "/api/v2/zoom-oauth-credentials"),
        (M::GET, "/api/v1/webhook-endpoints"),
        (M::GET, "/api/v1/webhook-secret"),
        (M::GET, "/api/v1/calendar/users"),
    ] {
        let (s, _, _) = send(&app, m.clone(), path, None).await;
        a.check(
            s == 200 || s == 308,
            format!("{m} {path} without slash: {s}"),
        );
    }
    let (s, _, body) = send(
        &app,
        M::POST,
        "/api/v1/webhook-endpoints",
        Some(&json!({"url": "https://hooks.example.com/x"})),
    )
    .await;
    a.check(
        s == 201 || s == 308,
        format!("POST without slash: {s} {body}"),
    );
    let (s, _, _) = send(
        &app,
        M::POST,
        "/api/v1/calendar/authenticate",
        Some(&json!({"user_id": "u-slash"})),
    )
    .await;
    a.check(
        s == 200 || s == 308,
        format!("authenticate without slash: {s}"),
    );

    // 404s: unknown path, unknown id, non-UUID id.
    for path in [
        "/api/v2/nothing-here/",
        "/api/v2/calendars/00000000-0000-4000-8000-000000000000/",
        "/api/v2/calendars/not-a-uuid/",
        "/api/v2/calendar-events/not-a-uuid/",
        "/api/v2/zoom-oauth-apps/not-a-uuid/",
        "/api/v2/zoom-oauth-credentials/00000000-0000-4000-8000-000000000000/",
        "/api/v1/webhook-endpoints/00000000-0000-4000-8000-000000000000/",
    ] {
        let (s, h, body) = send(&app, M::GET, path, None).await;
        a.eq(s, 404, path);
        a.eq(parse(&body), json!({"detail": "Not found."}), path);
        a.check(
            h.contains_key("x-request-id"),
            format!("X-Request-Id on {path}"),
        );
    }

    // 405 on unknown methods, JSON with detail.
    for (m, path) in [
        (M::PUT, "/api/v2/calendars/"),
        (M::DELETE, "/api/v2/calendar-events/"),
        (M::POST, "/api/v1/webhook-secret/"),
        (M::PATCH, "/api/v2/zoom-oauth-apps/"),
        (M::GET, "/api/v1/calendar/authenticate/"),
    ] {
        let (s, h, body) = send(&app, m.clone(), path, None).await;
        a.eq(s, 405, &format!("{m} {path}"));
        a.check(h.contains_key("x-request-id"), "X-Request-Id on 405");
        a.eq(
            keys(&parse(&body)),
            set(&["detail"]),
            &format!("405 body {path}"),
        );
    }

    // 415 wrong content type, 413 too large, 400 malformed JSON.
    let res = app
        .client
        .post(app.url("/api/v2/calendars/"))
        .header("Authorization", app.auth())
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 415, "415 on text/plain");
    a.check(
        res.headers().contains_key("x-request-id"),
        "X-Request-Id on 415",
    );
    let body: Value = res.json().await.unwrap_or(Value::Null);
    a.eq(keys(&body), set(&["detail"]), "415 body");
    let res = app
        .client
        .post(app.url("/api/v2/calendars/"))
        .header("Authorization", app.auth())
        .header("Content-Type", "application/json")
        .body(format!("{{\"x\": \"{}\"}}", "a".repeat(2 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 413, "413 on 2 MiB");
    let res = app
        .client
        .post(app.url("/api/v2/calendars/"))
        .header("Authorization", app.auth())
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 400, "400 on malformed JSON");
    let body: Value = res.json().await.unwrap_or(Value::Null);
    a.check(is_drf_400(&body), format!("malformed JSON body {body}"));

    a.done();
}

#[tokio::test]
async fn pagination_and_query_parameters() {
    let app = spawn_app().await;
    let mut a = Audit::default();
    for i in 0..101 {
        let res = app
            .post_json(
                "/api/v1/webhook-endpoints/",
                &json!({"url": format!("https://hooks.example.com/{i}")}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let (s, _, body) = send(&app, M::GET, "/api/v1/webhook-endpoints/", None).await;
    let page = parse(&body);
    a.eq(s, 200, "list");
    a.eq(
        keys(&page),
        set(&["next", "previous", "results"]),
        "page keys",
    );
    a.eq(
        page["results"].as_array().map(Vec::len),
        Some(100),
        "default page_size",
    );
    a.check(page["previous"].is_null(), "first page previous is null");
    let next = page["next"].as_str().unwrap_or_default().to_string();
    a.check(
        next.starts_with(&app.url("/api/v1/webhook-endpoints/?")),
        format!("next is absolute on the public URL: {next}"),
    );
    let res = app.get_url(&next).await;
    let page2: Value = res.json().await.unwrap();
    a.eq(
        page2["results"].as_array().map(Vec::len),
        Some(1),
        "second page",
    );
    a.check(page2["next"].is_null(), "last page next is null");
    a.check(page2["previous"].is_string(), "second page has previous");
    let back: Value = app
        .client
        .get(page2["previous"].as_str().unwrap_or_default())
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(Value::Null);
    a.eq(
        &back["results"],
        &page["results"],
        "previous leads back to the first page",
    );
    // The query survives the slash-less form of a path.
    let (s, _, _) = send(&app, M::GET, "/api/v2/calendars?platform=myspace", None).await;
    a.eq(s, 400, "query kept without the slash");

    let (_, _, body) = send(
        &app,
        M::GET,
        "/api/v1/webhook-endpoints/?page_size=1000",
        None,
    )
    .await;
    a.eq(
        parse(&body)["results"].as_array().map(Vec::len),
        Some(101),
        "page_size=1000",
    );

    // Bad values of known parameters: 400 in DRF shape; tampered cursor 400 not 500.
    // Change a character inside the cursor's payload (the last character of a base64
    // signature may only carry padding bits, so changing it can decode to the same bytes).
    let mut tampered: Vec<char> = next.chars().collect();
    let at = next
        .find("cursor=")
        .map(|i| i + "cursor=".len() + 10)
        .unwrap_or(0);
    tampered[at] = if tampered[at] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let tampered_path = tampered.trim_start_matches(&app.address).to_string();
    for path in [
        "/api/v1/webhook-endpoints/?page_size=0",
        "/api/v1/webhook-endpoints/?page_size=1001",
        "/api/v1/webhook-endpoints/?page_size=ten",
        "/api/v1/webhook-endpoints/?cursor=garbage",
        tampered_path.as_str(),
        "/api/v2/calendars/?cursor=e30",
        "/api/v2/calendars/?created_at__gte=yesterday",
        "/api/v2/calendars/?platform=myspace",
        "/api/v2/calendars/?status=asleep",
        "/api/v2/calendar-events/?start_time__gte=soon",
        "/api/v2/calendar-events/?start_time__lte=2026-13-01",
        "/api/v2/calendar-events/?updated_at__gte=x",
        "/api/v2/calendar-events/?is_deleted=maybe",
        "/api/v2/calendar-events/?ordering=title",
        "/api/v2/zoom-oauth-credentials/?status=sick",
        "/api/v2/zoom-oauth-apps/?page_size=-1",
        "/api/v1/calendar/users/?page_size=0",
    ] {
        let (s, _, body) = send(&app, M::GET, path, None).await;
        a.eq(s, 400, path);
        a.check(is_drf_400(&parse(&body)), format!("{path} body {body}"));
    }
    // Unknown parameters are ignored; good values of known ones are accepted.
    for path in [
        "/api/v1/webhook-endpoints/?whatever=1",
        "/api/v2/calendars/?foo=bar&platform=google_calendar&status=connected",
        "/api/v2/calendars/?created_at__gte=2026-01-01T00:00:00Z",
        "/api/v2/calendars/?created_at__gte=2026-01-01",
        "/api/v2/calendars/?created_at__gte=2026-01-01T00:00:00+00:00",
        "/api/v2/calendar-events/?updated_at__gte=2026-01-01T00:00:00+00:00",
        "/api/v2/calendar-events/?bar=baz&is_deleted=false&ordering=updated_at",
        "/api/v2/calendar-events/?start_time__gte=2026-01-01T00:00:00Z&is_deleted=true",
        "/api/v2/zoom-oauth-credentials/?status=healthy&x=y",
        "/api/v2/zoom-oauth-credentials/?status=unhealthy",
    ] {
        let (s, _, body) = send(&app, M::GET, path, None).await;
        a.eq(s, 200, &format!("{path} {body}"));
    }
    a.done();
}

#[tokio::test]
async fn webhook_endpoint_and_secret_shapes() {
    let app = spawn_app().await;
    let mut a = Audit::default();
    let res = app
        .post_json(
            "/api/v1/webhook-endpoints/",
            &json!({"url": "https://hooks.example.com/a"}),
        )
        .await;
    a.eq(res.status().as_u16(), 201, "endpoint create");
    let ep: Value = res.json().await.unwrap();
    a.eq(
        keys(&ep),
        set(&[
            "id",
            "url",
            "event_types",
            "description",
            "enabled",
            "created_at",
            "secret",
        ]),
        "endpoint create keys",
    );
    a.eq(ep["event_types"].clone(), json!([]), "event_types default");
    a.check(is_uuid_v4(&ep["id"]), "endpoint id v4");
    a.check(is_utc_z(&ep["created_at"]), "endpoint created_at Z");
    a.check(
        ep["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")),
        "secret is whsec_",
    );
    let id = ep["id"].as_str().unwrap();
    let (_, _, body) = send(
        &app,
        M::GET,
        &format!("/api/v1/webhook-endpoints/{id}/"),
        None,
    )
    .await;
    a.eq(
        keys(&parse(&body)),
        set(&[
            "id",
            "url",
            "event_types",
            "description",
            "enabled",
            "created_at",
        ]),
        "endpoint get keys (no secret)",
    );
    let (s, _, body) = send(
        &app,
        M::PATCH,
        &format!("/api/v1/webhook-endpoints/{id}/"),
        Some(&json!({"enabled": false, "event_types": ["calendar.update"]})),
    )
    .await;
    a.eq(s, 200, "endpoint patch");
    a.check(
        !keys(&parse(&body)).contains("secret"),
        "patch hides secret",
    );
    let (_, _, body) = send(
        &app,
        M::GET,
        &format!("/api/v1/webhook-endpoints/{id}/secret/"),
        None,
    )
    .await;
    a.eq(keys(&parse(&body)), set(&["secret"]), "secret keys");
    let (s, _, body) = send(
        &app,
        M::POST,
        &format!("/api/v1/webhook-endpoints/{id}/rotate-secret/"),
        None,
    )
    .await;
    a.eq(s, 200, "rotate 200");
    a.eq(keys(&parse(&body)), set(&["secret"]), "rotate keys");
    let (_, _, body) = send(&app, M::GET, "/api/v1/webhook-secret/", None).await;
    a.eq(
        keys(&parse(&body)),
        set(&["secret"]),
        "workspace secret keys",
    );
    let (s, _, body) = send(
        &app,
        M::POST,
        "/api/v1/webhook-endpoints/",
        Some(&json!({})),
    )
    .await;
    a.eq(s, 400, "endpoint without url");
    a.check(
        parse(&body)["url"].is_array(),
        format!("url field error {body}"),
    );
    let (s, _, body) = send(
        &app,
        M::DELETE,
        &format!("/api/v1/webhook-endpoints/{id}/"),
        None,
    )
    .await;
    a.eq(s, 204, "endpoint delete");
    a.eq(body, String::new(), "delete body empty");
    a.done();
}

#[tokio::test]
async fn calendar_v1_shapes_and_authorize_urls() {
    let app = spawn_calendar_app().await;
    let mut a = Audit::default();

    let (s, _, body) = send(
        &app,
        M::POST,
        "/api/v1/calendar/authenticate/",
        Some(&json!({})),
    )
    .await;
    a.eq(s, 400, "authenticate without user_id");
    a.check(
        parse(&body)["user_id"].is_array(),
        format!("user_id error {body}"),
    );
    let (_, _, body) = send(
        &app,
        M::POST,
        "/api/v1/calendar/authenticate/",
        Some(&json!({"user_id": "contract-user"})),
    )
    .await;
    a.eq(keys(&parse(&body)), set(&["token"]), "authenticate keys");
    let (_, _, body) = send(
        &app,
        M::POST,
        "/api/v1/calendar/oauth_url/",
        Some(&json!({"platform": "google", "user_id": "contract-user"})),
    )
    .await;
    a.eq(keys(&parse(&body)), set(&["url"]), "oauth_url keys");
    let token = calendar_token(&app, "contract-user").await;
    let (s, _, body) = send(
        &app,
        M::POST,
        "/api/v1/calendar/oauth_url/",
        Some(&json!({"platform": "myspace", "user_id": "contract-user"})),
    )
    .await;
    a.eq(s, 400, "oauth_url bad platform");
    a.check(
        parse(&body)["platform"].is_array(),
        format!("platform error {body}"),
    );

    // The authorize URLs' exact parameters.
    for platform in ["microsoft", "google"] {
        let url = oauth_url(
            &app,
            platform,
            "contract-user",
            Some("https://app.example.com/ok"),
            Some("https://app.example.com/err"),
        )
        .await;
        let url = url::Url::parse(&url).unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let callback = if platform == "microsoft" {
            app.url("/api/v1/calendar/ms_oauth_callback/")
        } else {
            app.url("/api/v1/calendar/google_oauth_callback/")
        };
        a.eq(q.get("redirect_uri"), Some(&callback), "redirect_uri");
        a.eq(
            q.get("response_type").map(String::as_str),
            Some("code"),
            "response_type",
        );
        let state: Value =
            serde_json::from_str(q.get("state").map(String::as_str).unwrap_or("null")).unwrap();
        a.eq(
            state["recall_calendar_auth_token"].is_string(),
            true,
            "state token",
        );
        a.eq(
            state["success_url"].clone(),
            json!("https://app.example.com/ok"),
            "state success_url",
        );
        a.eq(
            state["error_url"].clone(),
            json!("https://app.example.com/err"),
            "state error_url",
        );
        if platform == "microsoft" {
            a.eq(
                q.get("client_id").map(String::as_str),
                Some(MS_ID),
                "ms client_id",
            );
            a.eq(
                q.get("scope").map(String::as_str),
                Some("offline_access openid email https://graph.microsoft.com/Calendars.Read"),
                "ms scope",
            );
            a.eq(
                q.get("response_mode").map(String::as_str),
                Some("query"),
                "ms response_mode",
            );
            a.check(!q.contains_key("prompt"), "ms: no prompt");
            a.eq(
                state["ms_oauth_redirect_url"].clone(),
                json!(callback),
                "state ms_oauth_redirect_url",
            );
        } else {
            a.eq(
                q.get("client_id").map(String::as_str),
                Some(GOOGLE_ID),
                "google client_id",
            );
            a.eq(
                q.get("scope").map(String::as_str),
                Some("https://www.googleapis.com/auth/calendar.events.readonly https://www.googleapis.com/auth/userinfo.email openid"),
                "google scope",
            );
            a.eq(
                q.get("access_type").map(String::as_str),
                Some("offline"),
                "access_type",
            );
            a.eq(
                q.get("prompt").map(String::as_str),
                Some("consent"),
                "prompt",
            );
            a.eq(
                q.get("include_granted_scopes").map(String::as_str),
                Some("true"),
                "include_granted_scopes",
            );
            a.eq(
                state["google_oauth_redirect_url"].clone(),
                json!(callback),
                "state google_oauth_redirect_url",
            );
        }
    }

    let user_req = |m: M, path: &str| {
        app.client
            .request(m, app.url(path))
            .header("x-recallcalendarauthtoken", &token)
    };
    let user: Value = user_req(M::GET, "/api/v1/calendar/user/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    a.eq(
        keys(&user),
        set(&["id", "external_id", "connections", "preferences"]),
        "CalendarUser keys",
    );
    a.eq(
        user["external_id"].clone(),
        json!("contract-user"),
        "external_id",
    );
    a.check(is_uuid_v4(&user["id"]), "user id v4");
    a.eq(
        user["preferences"].clone(),
        json!({"record_non_host": false, "record_recurring": false, "record_external": false,
               "record_internal": false, "record_confirmed": false, "record_only_host": false,
               "bot_name": "Meeting Notetaker"}),
        "default preferences",
    );
    for m in [M::PUT, M::PATCH] {
        let res = user_req(m.clone(), "/api/v1/calendar/user/")
            .json(&json!({"preferences": {"record_external": true}}))
            .send()
            .await
            .unwrap();
        a.eq(res.status().as_u16(), 200, &format!("{m} user"));
        let u: Value = res.json().await.unwrap();
        a.eq(
            u["preferences"]["record_external"].clone(),
            json!(true),
            "partial preferences",
        );
        a.eq(
            u["preferences"]["bot_name"].clone(),
            json!("Meeting Notetaker"),
            "untouched preference",
        );
    }

    // Connect Google through the hosted flow and look at the connection and meetings.
    let acct = google_account(&app, "audit@acme.test").await;
    let start = chrono::Utc::now() + chrono::Duration::hours(3);
    app.sim
        .create_event(
            &acct,
            convene_sim::EventSpec::new("Audit", start, start + chrono::Duration::minutes(30))
                .meet("https://meet.google.com/abc-defg-hij"),
        )
        .await;
    let res = connect_v1(
        &app,
        "google",
        "contract-user",
        Some("https://app.example.com/ok"),
        None,
    )
    .await;
    a.eq(res.status().as_u16(), 302, "callback 302");
    let user: Value = user_req(M::GET, "/api/v1/calendar/user/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conn = user["connections"][0].clone();
    a.eq(
        keys(&conn),
        set(&["platform", "connected", "email", "id"]),
        "connection keys",
    );
    a.eq(
        conn["platform"].clone(),
        json!("google"),
        "connection platform",
    );
    a.eq(conn["connected"].clone(), json!(true), "connected");
    a.eq(
        conn["email"].clone(),
        json!("audit@acme.test"),
        "connection email",
    );

    let res = user_req(M::GET, "/api/v1/calendar/meetings")
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 200, "meetings without slash");
    let meetings: Value = res.json().await.unwrap();
    a.check(meetings.is_array(), "meetings is a plain array");
    let cal_id = user_req(M::GET, "/api/v1/calendar/user/")
        .send()
        .await
        .unwrap();
    drop(cal_id);
    let ids: Vec<String> = app
        .state
        .store
        .read(|c| {
            let mut s = c.prepare("SELECT id FROM calendars")?;
            let rows = s
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok::<_, convene::store::StoreError>(rows)
        })
        .await
        .unwrap();
    for id in &ids {
        convene::sync::sync_calendar(&app.state, id).await.unwrap();
    }
    let meetings: Value = user_req(M::GET, "/api/v1/calendar/meetings/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let m = meetings[0].clone();
    a.eq(
        keys(&m),
        set(&[
            "id",
            "title",
            "start_time",
            "end_time",
            "platform",
            "platform_id",
            "ical_uid",
            "meeting_platform",
            "meeting_url",
            "calendar_platform",
            "organizer_email",
            "attendees",
            "attendee_emails",
            "visibility",
            "is_external",
            "is_hosted_by_me",
            "is_recurring",
            "override_should_record",
            "will_record",
            "will_record_reason",
            "bot_id",
            "zoom_invite",
            "teams_invite",
            "meet_invite",
            "webex_invite",
        ]),
        "CalendarMeeting keys",
    );
    a.eq(m["platform"].clone(), json!("google"), "meeting platform");
    a.check(is_utc_z(&m["start_time"]), "meeting start Z");
    for att in m["attendees"].as_array().cloned().unwrap_or_default() {
        a.eq(
            keys(&att),
            set(&["name", "email", "is_organizer", "status"]),
            "attendee keys",
        );
        a.check(
            ["accepted", "declined", "tentative", "not_available"]
                .contains(&att["status"].as_str().unwrap_or("")),
            format!("attendee status {}", att["status"]),
        );
    }
    let mid = m["id"].as_str().unwrap_or_default().to_string();
    let res = user_req(M::PUT, &format!("/api/v1/calendar/meetings/{mid}/"))
        .json(&json!({"override_should_record": true}))
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 200, "meeting PUT");
    let m: Value = res.json().await.unwrap();
    a.eq(
        m["override_should_record"].clone(),
        json!(true),
        "override stored",
    );
    a.eq(m["will_record"].clone(), json!(true), "override decides");
    for p in webhooks(&app, "calendar_user.update").await {
        a.eq(
            keys(&p),
            set(&["event", "data"]),
            "calendar_user.update keys",
        );
    }

    let res = user_req(M::GET, "/api/v1/calendar/meetings/?start_time_after=soon")
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 400, "bad start_time_after");
    let res = user_req(M::POST, "/api/v1/calendar/meetings/refresh/")
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 200, "refresh");
    a.check(
        res.json::<Value>().await.unwrap().is_array(),
        "refresh returns an array",
    );

    let res = user_req(M::POST, "/api/v1/calendar/user/disconnect/")
        .json(&json!({"platform": "google"}))
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 200, "disconnect");
    let u: Value = res.json().await.unwrap();
    a.eq(
        keys(&u),
        set(&["id", "external_id", "connections", "preferences"]),
        "disconnect returns CalendarUser",
    );

    // Forged token → 401 {"detail"}.
    let res = app
        .client
        .get(app.url("/api/v1/calendar/user/"))
        .header("x-recallcalendarauthtoken", "forged")
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 401, "forged calendar token");
    a.eq(
        keys(&res.json::<Value>().await.unwrap()),
        set(&["detail"]),
        "401 detail",
    );

    let (s, _, body) = send(&app, M::GET, "/api/v1/calendar/users/", None).await;
    a.eq(s, 200, "users list");
    let page = parse(&body);
    a.eq(
        keys(&page),
        set(&["next", "previous", "results"]),
        "users page",
    );
    a.eq(
        keys(&page["results"][0]),
        set(&["id", "external_id", "connections", "preferences"]),
        "users results are CalendarUsers",
    );

    let res = user_req(M::DELETE, "/api/v1/calendar/user/")
        .send()
        .await
        .unwrap();
    a.eq(res.status().as_u16(), 204, "user delete");
    a.eq(res.text().await.unwrap(), String::new(), "user delete body");
    a.done();
}

#[tokio::test]
async fn calendar_v2_and_event_shapes() {
    let app = spawn_calendar_app().await;
    let mut a = Audit::default();
    let acct = google_account(&app, "v2audit@acme.test").await;
    let start = chrono::Utc::now() + chrono::Duration::hours(3);
    app.sim
        .create_event(
            &acct,
            convene_sim::EventSpec::new("Audit", start, start + chrono::Duration::minutes(30))
                .meet("https://meet.google.com/abc-defg-hij"),
        )
        .await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_ID, &acct, &[])
        .await;

    let (s, _, body) = send(
        &app,
        M::POST,
        "/api/v2/calendars/",
        Some(&json!({"platform": "google_calendar"})),
    )
    .await;
    a.eq(s, 400, "create without credentials");
    let b = parse(&body);
    a.check(
        is_drf_400(&b) && b.get("detail").is_none(),
        format!("field errors {body}"),
    );

    let (s, _, body) = send(
        &app,
        M::POST,
        "/api/v2/calendars/",
        Some(
            &json!({"platform": "google_calendar", "oauth_client_id": GOOGLE_ID,
                     "oauth_client_secret": GOOGLE_SECRET, "oauth_refresh_token": refresh}),
        ),
    )
    .await;
    a.eq(s, 201, "calendar create");
    let cal = parse(&body);
    a.eq(
        keys(&cal),
        set(&[
            "id",
            "platform",
            "oauth_client_id",
            "oauth_email",
            "platform_email",
            "status",
            "status_changes",
            "webhook_url",
            "created_at",
            "updated_at",
        ]),
        "Calendar keys",
    );
    a.check(is_uuid_v4(&cal["id"]), "calendar id v4");
    a.check(
        is_utc_z(&cal["created_at"]) && is_utc_z(&cal["updated_at"]),
        "calendar times Z",
    );
    for change in cal["status_changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let k = keys(&change);
        a.check(
            k == set(&["status", "created_at"]) || k == set(&["status", "created_at", "error"]),
            format!("status_changes entry keys {k:?}"),
        );
        a.check(is_utc_z(&change["created_at"]), "status change time Z");
        if let Some(e) = change.get("error").filter(|e| !e.is_null()) {
            a.eq(
                keys(e),
                set(&["code", "message"]),
                "status change error keys",
            );
        }
    }
    let id = cal["id"].as_str().unwrap().to_string();

    let (s, _, body) = send(&app, M::GET, "/api/v2/calendars/", None).await;
    a.eq(s, 200, "calendar list");
    a.eq(
        keys(&parse(&body)["results"][0]),
        keys(&cal),
        "list item = Calendar",
    );

    let (s, _, body) = send(
        &app,
        M::POST,
        &format!("/api/v2/calendars/{id}/access-token/"),
        None,
    )
    .await;
    a.eq(s, 200, "access-token");
    let t = parse(&body);
    a.eq(keys(&t), set(&["token", "expires_at"]), "access-token keys");
    a.check(is_utc_z(&t["expires_at"]), "expires_at Z");

    // Events of the first sync (the sync job's unit of work, called directly).
    convene::sync::sync_calendar(&app.state, &id).await.unwrap();
    let (s, _, body) = send(
        &app,
        M::GET,
        &format!("/api/v2/calendar-events/?calendar_id={id}"),
        None,
    )
    .await;
    a.eq(s, 200, "events list");
    let page = parse(&body);
    a.eq(
        keys(&page),
        set(&["next", "previous", "results"]),
        "events page",
    );
    let ev = page["results"][0].clone();
    a.eq(keys(&ev), set(CALENDAR_EVENT_KEYS), "CalendarEvent keys");
    a.eq(
        ev["meeting_platform"].clone(),
        json!("google_meet"),
        "meeting_platform",
    );
    a.check(is_utc_z(&ev["start_time"]), "event start Z");
    let ev_id = ev["id"].as_str().unwrap_or_default().to_string();
    let (s, _, body) = send(
        &app,
        M::POST,
        &format!("/api/v2/calendar-events/{ev_id}/bot/"),
        Some(&json!({"deduplication_key": "audit-key", "bot_config": {"bot_name": "B"}})),
    )
    .await;
    a.eq(s, 200, "schedule bot");
    let ev = parse(&body);
    // The spec's bot fields must be there; the delivery status fields are additive.
    a.check(
        set(&["bot_id", "start_time", "deduplication_key", "meeting_url"])
            .is_subset(&keys(&ev["bots"][0])),
        format!("event bot keys {:?}", keys(&ev["bots"][0])),
    );
    let (s, _, body) = send(
        &app,
        M::DELETE,
        &format!("/api/v2/calendar-events/{ev_id}/bot/"),
        None,
    )
    .await;
    a.eq(s, 200, "unschedule bot");
    a.eq(
        parse(&body)["bots"].clone(),
        json!([]),
        "bots after unschedule",
    );

    // A revoked token: disconnected, access-token answers bad_refresh_token.
    app.sim
        .revoke_refresh_token(Provider::Google, &refresh)
        .await;
    let (s, _, body) = send(
        &app,
        M::PATCH,
        &format!("/api/v2/calendars/{id}/"),
        Some(&json!({"oauth_refresh_token": "revoked-or-unknown"})),
    )
    .await;
    a.eq(s, 200, &format!("patch {body}"));
    let (s, _, body) = send(
        &app,
        M::POST,
        &format!("/api/v2/calendars/{id}/access-token/"),
        None,
    )
    .await;
    a.eq(s, 400, "access-token when disconnected");
    a.eq(
        keys(&parse(&body)),
        set(&["code", "message"]),
        "access-token error keys",
    );
    a.eq(
        parse(&body)["code"].clone(),
        json!("bad_refresh_token"),
        "bad_refresh_token",
    );

    // Webhook payloads: exactly the documented shapes.
    for p in webhooks(&app, "calendar.sync_events").await {
        a.eq(keys(&p), set(&["event", "data"]), "sync_events keys");
        a.eq(
            keys(&p["data"]),
            set(&["calendar_id", "last_updated_ts"]),
            "sync_events data",
        );
        a.check(is_utc_z(&p["data"]["last_updated_ts"]), "last_updated_ts Z");
    }
    let updates = webhooks(&app, "calendar.update").await;
    a.check(!updates.is_empty(), "calendar.update after a disconnect");
    for p in updates {
        a.eq(
            p,
            json!({"event": "calendar.update", "data": {"calendar_id": id}}),
            "calendar.update payload",
        );
    }

    let (s, _, body) = send(&app, M::DELETE, &format!("/api/v2/calendars/{id}"), None).await;
    a.eq(s, 204, "calendar delete without slash");
    a.eq(body, String::new(), "204 empty");
    a.done();
}

#[tokio::test]
async fn zoom_app_shapes() {
    let app = spawn_app().await;
    let mut a = Audit::default();
    let (s, _, body) = send(
        &app,
        M::POST,
        "/api/v2/zoom-oauth-apps/",
        Some(&json!({"kind": "user_level", "client_id": "zc", "client_secret": "zs"})),
    )
    .await;
    a.eq(s, 201, "zoom app create");
    let zapp = parse(&body);
    a.eq(
        keys(&zapp),
        set(&[
            "id",
            "kind",
            "client_id",
            "created_at",
            "webhook_last_validation",
        ]),
        "zoom app keys",
    );
    a.check(is_utc_z(&zapp["created_at"]), "zoom app created_at Z");
    let (s, _, body) = send(
        &app,
        M::POST,
        "/api/v2/zoom-oauth-apps/",
        Some(&json!({"kind": "galaxy_level", "client_id": "zc", "client_secret": "zs"})),
    )
    .await;
    a.eq(s, 400, "bad kind");
    a.check(
        parse(&body)["kind"].is_array(),
        format!("kind field error {body}"),
    );
    let (s, _, body) = send(&app, M::GET, "/api/v2/zoom-oauth-apps/", None).await;
    a.eq(s, 200, "zoom app list");
    a.eq(
        keys(&parse(&body)),
        set(&["next", "previous", "results"]),
        "zoom apps page",
    );
    let (s, _, body) = send(
        &app,
        M::POST,
        "/api/v2/zoom-oauth-credentials/",
        Some(&json!({"oauth_app": zapp["id"], "authorization_code": {"code": "nope", "redirect_uri": "https://x.test/cb/"}})),
    )
    .await;
    a.eq(s, 400, "rejected code");
    a.check(
        parse(&body)["detail"].is_string(),
        format!("rejected code detail {body}"),
    );
    let id = zapp["id"].as_str().unwrap();
    let (s, _, body) = send(
        &app,
        M::DELETE,
        &format!("/api/v2/zoom-oauth-apps/{id}/"),
        None,
    )
    .await;
    a.eq(s, 204, "zoom app delete");
    a.eq(body, String::new(), "zoom app delete body");
    a.done();
}

#[tokio::test]
async fn internal_errors_hide_internals_and_name_the_request() {
    let app = spawn_app().await;
    // Break the database under the server: a list then fails inside SQL.
    app.state
        .store
        .write(|tx| {
            tx.execute_batch("DROP TABLE webhook_endpoints")?;
            Ok::<_, convene::store::StoreError>(())
        })
        .await
        .ok();
    let res = app.get("/api/v1/webhook-endpoints/").await;
    assert_eq!(res.status(), 500);
    let header = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": "Internal error", "request_id": header})
    );
}

#[tokio::test]
async fn zoom_credential_shape() {
    let app = spawn_app().await;
    let redirect = "https://app.test/oauth-callback/zoom/";
    app.sim
        .create_oauth_client(Provider::Zoom, "zcid", "zsecret", vec![redirect.into()])
        .await;
    let res = app
        .post_json(
            "/api/v2/zoom-oauth-apps/",
            &json!({"kind": "user_level", "client_id": "zcid", "client_secret": "zsecret"}),
        )
        .await;
    let zapp: Value = res.json().await.unwrap();
    let (user, account) = app.sim.create_zoom_user(None, "z@acme.test").await;
    let code = app
        .sim
        .mint_code(
            Provider::Zoom,
            "zcid",
            &convene_sim::AccountId(user.clone()),
            redirect,
            &[],
            None,
        )
        .await;
    let res = app
        .post_json(
            "/api/v2/zoom-oauth-credentials/",
            &json!({"oauth_app": zapp["id"], "authorization_code": {"code": code, "redirect_uri": redirect}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let cred: Value = res.json().await.unwrap();
    assert_eq!(
        keys(&cred),
        set(&[
            "id",
            "oauth_app",
            "user_id",
            "account_id",
            "status",
            "meeting_sync_status",
            "created_at",
            "access_token_callback_url"
        ])
    );
    assert_eq!(cred["status"], "healthy");
    assert_eq!(cred["user_id"], user.as_str());
    assert_eq!(cred["account_id"], account.as_str());
    assert!(cred["access_token_callback_url"].is_null());
    assert!(is_utc_z(&cred["created_at"]));
    let id = cred["id"].as_str().unwrap();
    let res = app
        .get(&format!("/api/v2/zoom-oauth-credentials/{id}/access-token"))
        .await;
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    assert_eq!(keys(&t), set(&["token", "expires_at"]));
    assert!(is_utc_z(&t["expires_at"]));
    let page: Value = app
        .get(&format!(
            "/api/v2/zoom-oauth-credentials/?oauth_app={}&user_id={}",
            zapp["id"].as_str().unwrap(),
            user.as_str()
        ))
        .await
        .json()
        .await
        .unwrap();
    // The first meeting sync runs beside the request: its status may have moved on.
    let (mut listed, mut cred) = (page["results"][0].clone(), cred);
    listed["meeting_sync_status"] = Value::Null;
    cred["meeting_sync_status"] = Value::Null;
    assert_eq!(listed, cred);
}
