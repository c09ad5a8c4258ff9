//! Admin pages for calendars over HTTP with a logged-in, cookie-aware client: the filtered
//! and paged list, the detail page with its status history after a revoked grant, the
//! calendar users list, "Sync now" (CSRF, runs a sync) and the "Test the OAuth setup" link
//! on the Platforms page, followed through the simulator.

use std::time::Duration;

use reqwest::Client;
use serde_json::{json, Value};
use url::Url;

use convene::store::StoreError;
use convene_sim::Provider;

use crate::admin::{input_value, logged_in, new_client, try_login, PASSWORD};
use crate::calendar_support::*;
use crate::helpers::{spawn_app, TestApp};

async fn page(client: &Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Submits a form of the logged-in session (`csrf`: the token to send, if any).
async fn post_form(
    client: &Client,
    app: &TestApp,
    path: &str,
    csrf: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![];
    if let Some(t) = csrf {
        form.push(("csrf_token", t));
    }
    client.post(app.url(path)).form(&form).send().await.unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

/// The ids in `data-{attr}="..."` attributes, in page order.
fn data_ids(html: &str, attr: &str) -> Vec<String> {
    let marker = format!("data-{attr}=\"");
    html.match_indices(&marker)
        .map(|(i, _)| {
            let start = i + marker.len();
            html[start..start + html[start..].find('"').unwrap()].to_string()
        })
        .collect()
}

/// The `href` of the `<a>` whose text contains `text` (HTML entities of URLs undone).
fn href_of_link(html: &str, text: &str) -> String {
    let at = html
        .find(text)
        .unwrap_or_else(|| panic!("no {text:?} in {html}"));
    let tag = html[..at].rfind("<a ").unwrap();
    let start = html[tag..].find("href=\"").unwrap() + tag + 6;
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&#38;", "&")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
}

fn query(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A calendar row as sync and the token code leave it (no secrets needed for the pages).
async fn insert_calendar(
    app: &TestApp,
    kind: &str,
    platform: &str,
    status: &str,
    email: &str,
    created_at: i64,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let (i, k, p, s, e) = (
        id.clone(),
        kind.to_string(),
        platform.to_string(),
        status.to_string(),
        email.to_string(),
    );
    app.state
        .store
        .write(move |tx| {
            let user: Option<String> = if k == "v1" {
                let u = convene::store::calendar_users::get_or_create(tx, &format!("ext-{e}"), 1)?;
                Some(u.id)
            } else {
                None
            };
            tx.execute(
                "INSERT INTO calendars (id, kind, calendar_user_id, platform, platform_email,
                     status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                rusqlite::params![i, k, user, p, e, s, created_at],
            )?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn the_calendar_list_filters_and_pages() {
    let app = spawn_app().await;
    let res = new_client()
        .get(app.url("/admin/calendars/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "login required");
    let client = logged_in(&app).await;

    let t = app.state.now_ms();
    let g2 = insert_calendar(
        &app,
        "v2",
        "google_calendar",
        "connected",
        "g2@acme.test",
        t,
    )
    .await;
    let m2 = insert_calendar(
        &app,
        "v2",
        "microsoft_outlook",
        "disconnected",
        "m2@contoso.test",
        t + 1,
    )
    .await;
    let g1 = insert_calendar(
        &app,
        "v1",
        "google_calendar",
        "connecting",
        "g1@acme.test",
        t + 2,
    )
    .await;
    let m1 = insert_calendar(
        &app,
        "v1",
        "microsoft_outlook",
        "connected",
        "m1@contoso.test",
        t + 3,
    )
    .await;

    let (status, html) = page(&client, &app, "/admin/calendars/").await;
    assert_eq!(status, 200);
    // Newest first, with the V1 user's id shown.
    assert_eq!(data_ids(&html, "calendar"), [m1.as_str(), &g1, &m2, &g2]);
    assert!(html.contains("4 calendars"));
    assert!(html.contains("ext-g1@acme.test"));

    for (query, expected) in [
        ("status=disconnected", vec![m2.as_str()]),
        ("status=connected", vec![m1.as_str(), &g2]),
        ("platform=google_calendar", vec![g1.as_str(), &g2]),
        ("kind=v1", vec![m1.as_str(), &g1]),
        ("kind=v2&platform=microsoft_outlook", vec![m2.as_str()]),
        (
            "status=connected&platform=microsoft_outlook&kind=v2",
            vec![],
        ),
        ("status=&platform=&kind=", vec![m1.as_str(), &g1, &m2, &g2]),
    ] {
        let (status, html) = page(&client, &app, &format!("/admin/calendars/?{query}")).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(data_ids(&html, "calendar"), expected, "{query}");
    }
    // The chosen filter stays selected in the form.
    let (_, html) = page(&client, &app, "/admin/calendars/?status=disconnected").await;
    assert!(html.contains(r#"<option value="disconnected" selected>"#));
    // An unknown value is refused, not silently ignored.
    let (status, html) = page(&client, &app, "/admin/calendars/?status=gone").await;
    assert_eq!(status, 400);
    assert!(html.contains("Unknown status"));

    // 60 more Google calendars: pages of 50, the filter kept on the "Older" link.
    for n in 0..60 {
        insert_calendar(
            &app,
            "v2",
            "google_calendar",
            "connected",
            &format!("bulk{n}@acme.test"),
            t + 10 + n,
        )
        .await;
    }
    let (_, first) = page(&client, &app, "/admin/calendars/?platform=google_calendar").await;
    let first_ids = data_ids(&first, "calendar");
    assert_eq!(first_ids.len(), 50);
    assert!(first.contains("62 calendars matching"));
    assert!(first_ids[0] != g1 && first_ids[0] != g2);
    let older = href_of_link(&first, "Older »");
    assert!(older.contains("platform=google_calendar"), "{older}");
    let (status, second) = page(&client, &app, &older).await;
    assert_eq!(status, 200);
    let second_ids = data_ids(&second, "calendar");
    assert_eq!(second_ids.len(), 12);
    assert_eq!(&second_ids[10..], [g1.as_str(), &g2]);
    assert!(second_ids.iter().all(|id| !first_ids.contains(id)));
    assert!(!second.contains("Older »"));
    assert!(second.contains("« Newest"));
    // A forged page position is a clean 400.
    let (status, _) = page(&client, &app, "/admin/calendars/?before=forged").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_detail_shows_the_status_history_after_a_revoked_grant() {
    let app = spawn_calendar_app().await;
    let client = logged_in(&app).await;
    let acct = google_account(&app, "alice@acme.test").await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_ID, &acct, &[])
        .await;
    let res = app
        .post_json(
            "/api/v2/calendars/",
            &json!({"platform": "google_calendar", "oauth_client_id": GOOGLE_ID,
                    "oauth_client_secret": GOOGLE_SECRET, "oauth_refresh_token": refresh,
                    "oauth_email": "alice.alias@acme.test"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let cal: Value = res.json().await.unwrap();
    let id = cal["id"].as_str().unwrap().to_string();
    let res = app
        .post_json(&format!("/api/v2/calendars/{id}/access-token/"), &json!({}))
        .await;
    let access_token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, html) = page(&client, &app, &format!("/admin/calendars/{id}/")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Google Calendar"));
    assert!(html.contains("alice@acme.test"), "platform email");
    assert!(html.contains("alice.alias@acme.test"), "oauth email");
    assert!(html.contains(r#"id="calendar-status">connected<"#));
    assert!(html.contains("Sync now"));

    // The grant dies; the daily liveness refresh notices.
    app.sim.revoke_all_tokens(&acct).await;
    app.state.clock.advance(Duration::from_secs(25 * 3600));
    let report = convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    assert_eq!(report.disconnected, 1);
    // A day later the admin session has expired too.
    assert_eq!(try_login(&app, &client, PASSWORD).await.status(), 303);

    let (_, html) = page(&client, &app, &format!("/admin/calendars/{id}/")).await;
    assert!(html.contains(r#"id="calendar-status">disconnected<"#));
    // History newest first: disconnected with the provider's code and message, then the
    // earlier changes.
    let history = &html[html.find(r#"id="status-history""#).unwrap()..];
    let history = &history[..history.find("</section>").unwrap()];
    let order: Vec<usize> = ["disconnected", "connected", "connecting"]
        .iter()
        .map(|s| history.find(&format!(">{s}</span>")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{history}");
    assert!(history.contains("<code>invalid_grant</code>"), "{history}");
    assert!(
        history.contains("revoked"),
        "the provider's message: {history}"
    );
    assert!(
        !html.contains("Sync now"),
        "no sync for a disconnected calendar"
    );
    // Secrets never reach the page.
    for secret in [GOOGLE_SECRET, refresh.as_str(), access_token.as_str()] {
        assert!(!html.contains(secret));
    }
    // The list filter finds it.
    let (_, html) = page(&client, &app, "/admin/calendars/?status=disconnected").await;
    assert_eq!(data_ids(&html, "calendar"), [id.as_str()]);

    // Unknown and malformed ids are 404 pages.
    let (status, _) = page(
        &client,
        &app,
        &format!("/admin/calendars/{}/", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = page(&client, &app, "/admin/calendars/not-an-id/").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn calendar_users_are_listed_with_their_connections() {
    let app = spawn_calendar_app().await;
    let client = logged_in(&app).await;
    let bob = ms_account(&app, "bob@contoso.test").await;
    let res = connect_v1(&app, "microsoft", "user-1", None, None).await;
    assert_eq!(res.status(), 200, "hosted result page");
    calendar_token(&app, "user-2").await; // a user without connections

    let (status, html) = page(&client, &app, "/admin/calendar-users/").await;
    assert_eq!(status, 200);
    assert!(html.contains("2 calendar users"));
    let rows = data_ids(&html, "user");
    assert_eq!(rows.len(), 2);
    let user1 = &html[html.find("<code>user-1</code>").unwrap()..];
    let user1 = &user1[..user1.find("</tr>").unwrap()];
    assert!(user1.contains("Microsoft Outlook"), "{user1}");
    assert!(user1.contains("bob@contoso.test"), "{user1}");
    assert!(user1.contains(">connected<"), "{user1}");
    let conn_id = data_ids(user1, "connection").pop().unwrap();
    assert!(user1.contains(&format!("/admin/calendars/{conn_id}/")));
    let user2 = &html[html.find("<code>user-2</code>").unwrap()..];
    assert!(user2[..user2.find("</tr>").unwrap()].contains("none"));

    // Revoked: the connection shows as not connected, its page has the AADSTS code.
    app.sim.revoke_all_tokens(&bob).await;
    app.state.clock.advance(Duration::from_secs(25 * 3600));
    convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    assert_eq!(try_login(&app, &client, PASSWORD).await.status(), 303);
    let (_, html) = page(&client, &app, "/admin/calendar-users/").await;
    assert!(html.contains("not connected (disconnected)"));
    let (_, detail) = page(&client, &app, &format!("/admin/calendars/{conn_id}/")).await;
    assert!(detail.contains("<code>AADSTS70008</code>"), "{detail}");
    assert!(detail.contains("<code>user-1</code>"), "its calendar user");
}

#[tokio::test]
async fn sync_now_needs_the_csrf_token_and_runs_a_sync() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let t = app.state.now_ms();
    // A calendar without credentials: a sync runs and fails, which the page reports.
    let id = insert_calendar(&app, "v2", "google_calendar", "connected", "a@acme.test", t).await;
    let path = format!("/admin/calendars/{id}/sync-now/");

    for token in [None, Some(""), Some("forged")] {
        let res = post_form(&client, &app, &path, token).await;
        assert_eq!(res.status(), 403, "{token:?}");
    }
    assert_eq!(
        calendar_column(&app, &id, "last_sync_error").await,
        None,
        "no sync ran"
    );

    let (_, html) = page(&client, &app, &format!("/admin/calendars/{id}/")).await;
    let csrf = input_value(&html, "csrf_token");
    let res = post_form(&client, &app, &path, Some(&csrf)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/admin/calendars/{id}/"));
    assert!(
        calendar_column(&app, &id, "last_sync_error")
            .await
            .is_some(),
        "the sync ran and failed"
    );
    let (_, html) = page(&client, &app, &format!("/admin/calendars/{id}/")).await;
    assert!(html.contains("Sync failed"), "{html}");

    // A disconnected calendar is not synced.
    let gone = insert_calendar(
        &app,
        "v2",
        "google_calendar",
        "disconnected",
        "b@acme.test",
        t,
    )
    .await;
    let res = post_form(
        &client,
        &app,
        &format!("/admin/calendars/{gone}/sync-now/"),
        Some(&csrf),
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(calendar_column(&app, &gone, "last_sync_error").await, None);
    let (_, html) = page(&client, &app, &format!("/admin/calendars/{gone}/")).await;
    assert!(html.contains("the calendar is disconnected"));

    let res = post_form(
        &client,
        &app,
        &format!("/admin/calendars/{}/sync-now/", uuid::Uuid::new_v4()),
        Some(&csrf),
    )
    .await;
    assert_eq!(res.status(), 404);
    // GET is not an action.
    let (status, _) = page(&client, &app, &path).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn the_oauth_test_link_is_the_hosted_flow_url_and_works() {
    let app = spawn_calendar_app().await;
    let client = logged_in(&app).await;
    let (_, html) = page(&client, &app, "/admin/platforms/").await;
    assert!(html.contains("/admin/platforms/google/test-oauth/"));
    assert!(html.contains("/admin/platforms/microsoft/test-oauth/"));
    assert!(!html.contains("/admin/platforms/zoom/test-oauth/"));
    let csrf = input_value(&html, "csrf_token");

    // Refused without the CSRF token.
    let res = post_form(&client, &app, "/admin/platforms/google/test-oauth/", None).await;
    assert_eq!(res.status(), 403);

    // Google: what POST /api/v1/calendar/oauth_url/ gives, for the test user.
    let res = post_form(
        &client,
        &app,
        "/admin/platforms/google/test-oauth/",
        Some(&csrf),
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let url = href_of_link(&html, "Open the Google Calendar sign-in");
    assert!(url.starts_with(&app.sim.google_auth_url()), "{url}");
    let q = query(&url);
    let api = query(&oauth_url(&app, "google", "someone", None, None).await);
    for name in [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "access_type",
        "prompt",
        "include_granted_scopes",
    ] {
        assert_eq!(param(&q, name), param(&api, name), "{name}");
    }
    assert_eq!(param(&q, "client_id").as_deref(), Some(GOOGLE_ID));
    assert_eq!(param(&q, "access_type").as_deref(), Some("offline"));
    assert_eq!(param(&q, "prompt").as_deref(), Some("consent"));
    assert_eq!(
        param(&q, "scope").as_deref(),
        Some("https://www.googleapis.com/auth/calendar.events.readonly https://www.googleapis.com/auth/userinfo.email openid")
    );
    let redirect = app.url("/api/v1/calendar/google_oauth_callback/");
    assert_eq!(param(&q, "redirect_uri"), Some(redirect.clone()));
    let state: Value = serde_json::from_str(&param(&q, "state").unwrap()).unwrap();
    assert_eq!(state["google_oauth_redirect_url"], redirect);
    assert!(state.get("success_url").is_none());
    let token = state["recall_calendar_auth_token"].as_str().unwrap();
    assert_eq!(
        convene::api::auth::verify_calendar_token(&app.state, token).as_deref(),
        Some("admin-test")
    );

    // The link works end to end: the provider sends the browser back and the test user's
    // connection appears.
    google_account(&app, "admin@acme.test").await;
    let callback = authorize(&app, &url).await;
    let res = app.client.get(callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (_, users) = page(&client, &app, "/admin/calendar-users/").await;
    let row = &users[users.find("<code>admin-test</code>").unwrap()..];
    assert!(row[..row.find("</tr>").unwrap()].contains("admin@acme.test"));

    // Microsoft: its own parameters, no prompt=consent.
    let res = post_form(
        &client,
        &app,
        "/admin/platforms/microsoft/test-oauth/",
        Some(&csrf),
    )
    .await;
    let html = res.text().await.unwrap();
    let url = href_of_link(&html, "Open the Microsoft Outlook sign-in");
    assert!(url.starts_with(&app.sim.microsoft_auth_url()), "{url}");
    let q = query(&url);
    assert_eq!(param(&q, "client_id").as_deref(), Some(MS_ID));
    assert_eq!(param(&q, "response_mode").as_deref(), Some("query"));
    assert_eq!(param(&q, "prompt"), None);
    assert_eq!(
        param(&q, "scope").as_deref(),
        Some("offline_access openid email https://graph.microsoft.com/Calendars.Read")
    );
    assert_eq!(
        param(&q, "redirect_uri"),
        Some(app.url("/api/v1/calendar/ms_oauth_callback/"))
    );
    let state: Value = serde_json::from_str(&param(&q, "state").unwrap()).unwrap();
    assert_eq!(
        state["ms_oauth_redirect_url"],
        app.url("/api/v1/calendar/ms_oauth_callback/")
    );
    // Only the tested platform's section shows a link.
    assert!(!html.contains("Open the Google Calendar sign-in"));

    let res = post_form(
        &client,
        &app,
        "/admin/platforms/zoom/test-oauth/",
        Some(&csrf),
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_oauth_test_says_when_no_client_is_saved() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let (_, html) = page(&client, &app, "/admin/platforms/").await;
    let csrf = input_value(&html, "csrf_token");
    let res = post_form(
        &client,
        &app,
        "/admin/platforms/microsoft/test-oauth/",
        Some(&csrf),
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("No OAuth client is saved for Microsoft yet"));
    assert!(!html.contains("sign-in</a>"));
}
