//! The Zoom admin pages over HTTP with a logged-in client, against the simulator: apps made
//! by the API or the page are listed without their secrets, an app made in the page works
//! for the seed's flow, delete is refused while credentials use the app, credentials list
//! with filters and paging, a credential's history, and CSRF on every form.

use std::time::Duration;

use convene::domain::ZoomCredentialStatus;
use convene::store::zoom::{self as zs, InsertCredential, ZoomCredential};
use convene_sim::{AccountId, Provider};
use serde_json::{json, Value};

use crate::admin::logged_in;
use crate::admin_webhooks::{csrf, location, page, post_button, post_form};
use crate::helpers::{spawn_app, TestApp};

const REDIRECT: &str = "https://app.test/oauth-callback/zoom/";
const CLIENT_SECRET: &str = "zoom-client-secret-never-shown";
const WEBHOOK_SECRET: &str = "zoom-webhook-secret-never-shown";

fn new_client_id() -> String {
    format!("zoom-{}", uuid::Uuid::new_v4().simple())
}

/// Registers the OAuth client at the simulator (as on Zoom's marketplace).
async fn register_at_zoom(app: &TestApp, client_id: &str) {
    app.sim
        .create_oauth_client(
            Provider::Zoom,
            client_id,
            CLIENT_SECRET,
            vec![REDIRECT.into()],
        )
        .await;
}

/// An app made through the API; returns its id.
async fn api_app(app: &TestApp, kind: &str, client_id: &str) -> String {
    register_at_zoom(app, client_id).await;
    let res = app
        .post_json(
            "/api/v2/zoom-oauth-apps/",
            &json!({ "kind": kind, "client_id": client_id, "client_secret": CLIENT_SECRET,
                     "webhook_secret": WEBHOOK_SECRET }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A credential for `user` through the seed's flow (code → POST); returns its id.
async fn connect(app: &TestApp, app_id: &str, client_id: &str, user: &str) -> String {
    let code = app
        .sim
        .mint_code(
            Provider::Zoom,
            client_id,
            &AccountId(user.to_string()),
            REDIRECT,
            &[],
            None,
        )
        .await;
    let res = app
        .post_json(
            "/api/v2/zoom-oauth-credentials/",
            &json!({ "oauth_app": app_id,
                     "authorization_code": { "code": code, "redirect_uri": REDIRECT } }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn apps(app: &TestApp) -> Vec<Value> {
    let v: Value = app
        .get("/api/v2/zoom-oauth-apps/")
        .await
        .json()
        .await
        .unwrap();
    v["results"].as_array().unwrap().clone()
}

/// Credential ids in the order a list page shows them.
fn ids_on(html: &str, candidates: &[String]) -> Vec<String> {
    let mut found: Vec<(usize, String)> = candidates
        .iter()
        .filter_map(|id| {
            html.find(&format!("/admin/zoom/credentials/{id}/"))
                .map(|at| (at, id.clone()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn apps_are_listed_and_created_without_showing_secrets_and_delete_respects_credentials() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let api_client_id = new_client_id();
    let api_id = api_app(&app, "user_level", &api_client_id).await;

    let (status, html) = page(&app, &client, "/admin/zoom/").await;
    assert_eq!(status, 200);
    assert!(html.contains(&api_client_id));
    assert!(html.contains(&api_id));
    assert!(html.contains("user_level"));
    assert!(html.contains(&format!(
        "{}/api/v2/zoom-oauth-apps/{api_id}/webhook/",
        app.address
    )));
    assert!(!html.contains(CLIENT_SECRET) && !html.contains(WEBHOOK_SECRET));
    // The seed's guidance: exact redirect URL, trailing slash included.
    assert!(html.contains("The trailing slash must match."));
    assert!(html.contains("Invalid redirect") && html.contains("Invalid Grant"));
    assert!(html.contains(&format!("{}?response_type=code", app.sim.zoom_auth_url())));

    // Created in the page: stored (secrets sealed) and usable for the seed's flow.
    let token = csrf(&app, &client).await;
    let client_id = new_client_id();
    register_at_zoom(&app, &client_id).await;
    let res = post_form(
        &app,
        &client,
        "/admin/zoom/apps/",
        &[
            ("csrf_token", &token),
            ("kind", "account_level"),
            ("client_id", &client_id),
            ("client_secret", CLIENT_SECRET),
            ("webhook_secret", WEBHOOK_SECRET),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/zoom/");
    let listed = apps(&app).await;
    let made = listed
        .iter()
        .find(|a| a["client_id"] == client_id.as_str())
        .expect("created");
    assert_eq!(made["kind"], "account_level");
    let id = made["id"].as_str().unwrap().to_string();
    let stored = {
        let id = id.clone();
        app.state
            .store
            .read(move |c| zs::get_app(c, &id))
            .await
            .unwrap()
            .unwrap()
    };
    assert!(!stored.client_secret_enc.contains(CLIENT_SECRET));
    assert_eq!(
        app.state.keys.decrypt(&stored.client_secret_enc).unwrap(),
        CLIENT_SECRET
    );
    let (_, html) = page(&app, &client, "/admin/zoom/").await;
    assert!(html.contains("The Zoom OAuth app is saved"));
    assert!(html.contains(&client_id));
    assert!(!html.contains(CLIENT_SECRET) && !html.contains(WEBHOOK_SECRET));
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let cred = connect(&app, &id, &client_id, &user).await;

    // Refused input creates nothing.
    for (kind, cid, secret, why) in [
        ("account_level", client_id.as_str(), "x", "already exists"),
        ("team_level", "zoom-other", "x", "Choose the kind"),
        ("user_level", "with space", "x", "Enter the client ID"),
        ("user_level", "zoom-other", "", "Enter the client secret"),
    ] {
        let res = post_form(
            &app,
            &client,
            "/admin/zoom/apps/",
            &[
                ("csrf_token", &token),
                ("kind", kind),
                ("client_id", cid),
                ("client_secret", secret),
            ],
        )
        .await;
        assert_eq!(res.status(), 303);
        let (_, html) = page(&app, &client, "/admin/zoom/").await;
        assert!(html.contains(why), "{why}");
    }
    assert_eq!(apps(&app).await.len(), 2);

    // Delete is refused while a credential uses the app, with what to do instead.
    let res = post_button(
        &app,
        &client,
        &format!("/admin/zoom/apps/{id}/delete/"),
        &token,
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, html) = page(&app, &client, "/admin/zoom/").await;
    assert!(html.contains("Not deleted: 1 Zoom credential(s) still use this app"));
    assert_eq!(
        app.get(&format!("/api/v2/zoom-oauth-apps/{id}/"))
            .await
            .status(),
        200
    );
    // Delete the credential in the admin, then the app goes.
    let res = post_button(
        &app,
        &client,
        &format!("/admin/zoom/credentials/{cred}/delete/"),
        &token,
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.get(&format!("/api/v2/zoom-oauth-credentials/{cred}/"))
            .await
            .status(),
        404
    );
    let res = post_button(
        &app,
        &client,
        &format!("/admin/zoom/apps/{id}/delete/"),
        &token,
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, html) = page(&app, &client, "/admin/zoom/").await;
    assert!(html.contains("The Zoom OAuth app is deleted."));
    assert!(!html.contains(&client_id));
    assert_eq!(
        app.get(&format!("/api/v2/zoom-oauth-apps/{id}/"))
            .await
            .status(),
        404
    );
    assert_eq!(apps(&app).await.len(), 1);
    let res = post_button(
        &app,
        &client,
        &format!("/admin/zoom/apps/{id}/delete/"),
        &token,
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn credentials_list_with_filters_and_show_their_history() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let (cid1, cid2) = (new_client_id(), new_client_id());
    let app1 = api_app(&app, "user_level", &cid1).await;
    let app2 = api_app(&app, "account_level", &cid2).await;
    let (carol, acme) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let (dan, _) = app.sim.create_zoom_user(Some(&acme), "dan@acme.test").await;
    let (erin, globex) = app.sim.create_zoom_user(None, "erin@globex.test").await;
    let c1 = connect(&app, &app1, &cid1, &carol).await;
    let c2 = connect(&app, &app1, &cid1, &dan).await;
    let c3 = connect(&app, &app2, &cid2, &erin).await;
    let all = [c1.clone(), c2.clone(), c3.clone()];

    // Carol revokes at Zoom: the next refresh is refused and c1 turns unhealthy; c2 refreshes.
    app.sim.deauthorize(&AccountId(carol.clone())).await;
    app.state.clock.advance(Duration::from_secs(3600));
    let res = app
        .get(&format!(
            "/api/v2/zoom-oauth-credentials/{c1}/access-token/"
        ))
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .get(&format!(
            "/api/v2/zoom-oauth-credentials/{c2}/access-token/"
        ))
        .await;
    assert_eq!(res.status(), 200);
    let fresh_token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let list = "/admin/zoom/credentials/";
    let (status, html) = page(&app, &client, list).await;
    assert_eq!(status, 200);
    assert_eq!(ids_on(&html, &all), all);
    for v in [&carol, &dan, &erin, &acme, &globex, &cid1, &cid2] {
        assert!(html.contains(v.as_str()), "{v}");
    }
    assert!(html.contains(">unhealthy<") && html.contains(">healthy<"));
    for (query, expected) in [
        ("?status=unhealthy".to_string(), vec![c1.clone()]),
        ("?status=healthy".to_string(), vec![c2.clone(), c3.clone()]),
        (format!("?oauth_app={app2}"), vec![c3.clone()]),
        (
            format!("?oauth_app={app1}&status=healthy"),
            vec![c2.clone()],
        ),
        (format!("?account_id={acme}"), vec![c1.clone(), c2.clone()]),
        (
            format!("?user_id={dan}&status=&account_id="),
            vec![c2.clone()],
        ),
        (format!("?user_id={erin}&oauth_app={app1}"), vec![]),
    ] {
        let (status, html) = page(&app, &client, &format!("{list}{query}")).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(ids_on(&html, &all), expected, "{query}");
        if expected.is_empty() {
            assert!(html.contains("No credentials match this filter"));
        }
    }
    assert_eq!(
        page(&app, &client, &format!("{list}?status=broken"))
            .await
            .0,
        400
    );
    assert_eq!(
        page(&app, &client, &format!("{list}?after=nope")).await.0,
        400
    );

    // One credential: state, ids, history; never a token.
    let (status, html) = page(&app, &client, &format!("{list}{c1}/")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Unhealthy."));
    assert!(html.contains(&carol) && html.contains(&acme));
    assert!(html.contains("<code>created</code>"));
    assert!(html.contains("<code>refresh_refused</code>"));
    let (_, html) = page(&app, &client, &format!("{list}{c2}/")).await;
    assert!(html.contains(">healthy<"));
    assert!(html.contains("<code>refreshed</code>") && html.contains("<code>created</code>"));
    assert!(
        html.find("<code>refreshed</code>") < html.find("<code>created</code>"),
        "newest first"
    );
    assert!(!html.contains(&fresh_token));
    let stored = {
        let id = c2.clone();
        app.state
            .store
            .read(move |c| zs::get_credential(c, &id))
            .await
            .unwrap()
            .unwrap()
    };
    let refresh = app.state.keys.decrypt(&stored.refresh_token_enc).unwrap();
    assert!(!html.contains(&refresh));
    assert_eq!(
        page(&app, &client, &format!("{list}{}/", uuid::Uuid::new_v4()))
            .await
            .0,
        404
    );
    assert_eq!(page(&app, &client, &format!("{list}nope/")).await.0, 404);
}

#[tokio::test]
async fn the_credentials_list_pages_forward_and_back() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let cid = new_client_id();
    let app_id = api_app(&app, "user_level", &cid).await;
    // 60 credentials written straight to the store (the flow is covered above), one per ms.
    let start = app.state.now_ms();
    let ids: Vec<String> = (0..60).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let rows = ids.clone();
    let a = app_id.clone();
    app.state
        .store
        .write(move |tx| {
            for (i, id) in rows.iter().enumerate() {
                let t = start + i as i64;
                let cred = ZoomCredential {
                    id: id.clone(),
                    oauth_app_id: a.clone(),
                    user_id: format!("user-{i}"),
                    account_id: "acct".into(),
                    conflict_key: format!("user:user-{i}"),
                    status: if i % 2 == 0 {
                        ZoomCredentialStatus::Healthy
                    } else {
                        ZoomCredentialStatus::Unhealthy
                    },
                    access_token_enc: "sealed".into(),
                    access_token_expires_at: t,
                    refresh_token_enc: "sealed".into(),
                    scope: String::new(),
                    last_refresh_at: t,
                    refresh_failures: 0,
                    last_error: None,
                    created_at: t,
                    updated_at: t,
                    meeting_sync_status: convene::domain::ZoomMeetingSyncStatus::NotStarted,
                    next_meeting_sync_at: None,
                    last_meeting_sync_at: None,
                    access_token_callback_url_enc: None,
                };
                assert!(matches!(
                    zs::insert_credential(tx, &cred)?,
                    InsertCredential::Inserted
                ));
            }
            Ok::<_, convene::store::StoreError>(())
        })
        .await
        .unwrap();

    let rel = |html: &str, rel: &str| -> Option<String> {
        let at = html.find(&format!("rel=\"{rel}\""))?;
        let s = html[..at].rfind("href=\"")? + 6;
        Some(html[s..s + html[s..].find('"')?].to_string())
    };
    let (_, first) = page(&app, &client, "/admin/zoom/credentials/").await;
    assert!(rel(&first, "prev").is_none());
    let (_, second) = page(&app, &client, &rel(&first, "next").expect("next")).await;
    assert!(rel(&second, "next").is_none());
    assert_eq!(ids_on(&first, &ids), ids[..50]);
    assert_eq!(ids_on(&second, &ids), ids[50..]);
    let (_, back) = page(&app, &client, &rel(&second, "prev").expect("previous")).await;
    assert_eq!(ids_on(&back, &ids), ids[..50]);

    // The filter holds across pages.
    let (_, first) = page(&app, &client, "/admin/zoom/credentials/?status=unhealthy").await;
    let odd: Vec<String> = ids.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(ids_on(&first, &ids), odd);
    assert!(rel(&first, "next").is_none());
}

#[tokio::test]
async fn every_zoom_form_needs_its_csrf_token() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let cid = new_client_id();
    let app_id = api_app(&app, "user_level", &cid).await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let cred = connect(&app, &app_id, &cid, &user).await;
    let unused = api_app(&app, "user_level", &new_client_id()).await;

    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/admin/zoom/apps/".into(),
            vec![
                ("kind", "user_level"),
                ("client_id", "sneaky"),
                ("client_secret", "x"),
            ],
        ),
        (format!("/admin/zoom/apps/{unused}/delete/"), vec![]),
        (format!("/admin/zoom/credentials/{cred}/delete/"), vec![]),
    ];
    for (path, fields) in &posts {
        for token in [None, Some(""), Some("forged")] {
            let mut form = fields.clone();
            if let Some(t) = token {
                form.push(("csrf_token", t));
            }
            let res = client.post(app.url(path)).form(&form).send().await.unwrap();
            assert_eq!(res.status(), 403, "{path} with {token:?}");
        }
    }
    assert_eq!(apps(&app).await.len(), 2);
    assert_eq!(
        app.get(&format!("/api/v2/zoom-oauth-credentials/{cred}/"))
            .await
            .status(),
        200
    );
    // The same forms with the token work (so the 403s were about the token).
    let token = csrf(&app, &client).await;
    let res = post_button(
        &app,
        &client,
        &format!("/admin/zoom/apps/{unused}/delete/"),
        &token,
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(apps(&app).await.len(), 1);
}
