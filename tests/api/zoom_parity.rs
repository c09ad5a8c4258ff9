//! The rest of the hosted Zoom surface against the simulator: meeting sync (paging,
//! account-level apps, hourly, on `meeting.*` events), the meeting map, `validate`,
//! `sync-meetings`, the log lists, customer-managed credentials, list filters and ordering,
//! and meeting tokens for bot backends.

use std::time::Duration;

use convene::zoom::meetings::sync_due;
use convene_sim::{AccountId, Endpoint, Provider};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::zoom::{
    access_token, create_app, json_of, now_secs, post_credential, zoom_event, ZoomApp, REDIRECT,
    WEBHOOK_SECRET,
};

const MEETING_SCOPES: &[&str] = &[
    "user:read:user",
    "meeting:read:list_meetings",
    "user:read:zak",
    "user:read:token",
    "meeting:read:local_recording_token",
];
const ADMIN_SCOPES: &[&str] = &[
    "user:read:user",
    "user:read:list_users:admin",
    "meeting:read:list_meetings:admin",
];

/// A credential for `user` with `scopes`; returns its id.
async fn connect_scoped(app: &TestApp, zapp: &ZoomApp, user: &str, scopes: &[&str]) -> String {
    let code = app
        .sim
        .mint_code(
            Provider::Zoom,
            &zapp.client_id,
            &AccountId(user.to_string()),
            REDIRECT,
            scopes,
            None,
        )
        .await;
    let (status, body) = json_of(post_credential(app, zapp, &code, REDIRECT).await).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Waits for the meeting sync to settle: runs the sweep, which also waits for a sync that
/// is already running (same lock), then reads the credential.
async fn settle(app: &TestApp, cred: &str) -> Value {
    sync_due(&app.state).await.unwrap();
    let (status, body) = json_of(
        app.get(&format!("/api/v2/zoom-oauth-credentials/{cred}/"))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    body
}

async fn mapped(app: &TestApp, query: &str) -> Vec<(i64, String)> {
    let (status, body) = json_of(
        app.get(&format!("/api/v2/zoom-meetings-to-credentials/{query}"))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["synced_at"].as_str().unwrap().ends_with('Z'));
            (
                r["meeting_id"].as_i64().unwrap(),
                r["credential"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn in_hours(h: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::hours(h)
}

#[tokio::test]
async fn meeting_sync_follows_every_page_and_maps_meetings_to_the_credential() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "mia@acme.test").await;
    let mut ids = Vec::new();
    for i in 0..305 {
        let m = app
            .sim
            .create_zoom_meeting(&user, &format!("Standup {i}"), in_hours(2 + i), 30)
            .await;
        ids.push(m.id);
    }
    // A meeting that is over is not upcoming.
    let past = app
        .sim
        .create_zoom_meeting(&user, "Done", in_hours(-5), 30)
        .await;
    let cred = connect_scoped(&app, &zapp, &user, MEETING_SCOPES).await;
    let body = settle(&app, &cred).await;
    assert_eq!(body["meeting_sync_status"], "completed", "{body}");
    assert_eq!(app.sim.call_count(Endpoint::ZoomMeetings).await, 2);

    let rows = mapped(&app, &format!("?credential={cred}&page_size=1000")).await;
    let mut got: Vec<u64> = rows.iter().map(|r| r.0 as u64).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    assert!(!got.contains(&past.id));
    assert!(rows.iter().all(|r| r.1 == cred));

    // The map list pages with cursors and filters by meeting.
    let (_, first) = json_of(
        app.get("/api/v2/zoom-meetings-to-credentials/?page_size=200")
            .await,
    )
    .await;
    assert_eq!(first["results"].as_array().unwrap().len(), 200);
    let (_, second) = json_of(
        app.client
            .get(first["next"].as_str().unwrap())
            .header("Authorization", app.auth())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(second["results"].as_array().unwrap().len(), 105);
    assert!(second["next"].is_null());
    let one = mapped(&app, &format!("?meeting_id={}", ids[7])).await;
    assert_eq!(one, vec![(ids[7] as i64, cred.clone())]);
    for bad in [
        "?meeting_id=abc",
        "?credential=nope",
        "?synced_at_after=yesterday",
    ] {
        let (status, _) = json_of(
            app.get(&format!("/api/v2/zoom-meetings-to-credentials/{bad}"))
                .await,
        )
        .await;
        assert_eq!(status, 400, "{bad}");
    }
    assert!(mapped(&app, "?synced_at_before=2001-01-01T00:00:00Z")
        .await
        .is_empty());
    assert_eq!(
        mapped(&app, "?synced_at_after=2001-01-01T00:00:00Z")
            .await
            .len(),
        100
    );
}

#[tokio::test]
async fn sync_meetings_now_and_every_hour_and_a_failure_says_which_scope() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "ned@acme.test").await;
    let first = app
        .sim
        .create_zoom_meeting(&user, "Planning", in_hours(3), 60)
        .await;
    let cred = connect_scoped(&app, &zapp, &user, MEETING_SCOPES).await;
    settle(&app, &cred).await;
    assert_eq!(
        mapped(&app, "").await,
        vec![(first.id as i64, cred.clone())]
    );

    // Changes reach the map at the next hourly sync, not before.
    let second = app
        .sim
        .create_zoom_meeting(&user, "Retro", in_hours(4), 30)
        .await;
    app.sim.delete_zoom_meeting(first.id).await;
    sync_due(&app.state).await.unwrap();
    assert_eq!(mapped(&app, "").await.len(), 1);
    assert_eq!(mapped(&app, "").await[0].0, first.id as i64);
    app.state.clock.advance(Duration::from_secs(3601));
    let report = sync_due(&app.state).await.unwrap();
    assert_eq!(report.synced, 1);
    assert_eq!(
        mapped(&app, "").await,
        vec![(second.id as i64, cred.clone())]
    );

    // sync-meetings: at once, answered in_progress.
    let third = app
        .sim
        .create_zoom_meeting(&user, "Demo", in_hours(5), 30)
        .await;
    let (status, body) = json_of(
        app.post_json(
            &format!("/api/v2/zoom-oauth-credentials/{cred}/sync-meetings/"),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["meeting_sync_status"], "in_progress");
    assert_eq!(body["id"], cred.as_str());
    let body = settle(&app, &cred).await;
    assert_eq!(body["meeting_sync_status"], "completed");
    assert_eq!(mapped(&app, "").await.len(), 2);
    assert!(mapped(&app, "")
        .await
        .contains(&(third.id as i64, cred.clone())));
    let (status, _) = json_of(
        app.post_json(
            &format!(
                "/api/v2/zoom-oauth-credentials/{}/sync-meetings/",
                uuid::Uuid::new_v4()
            ),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);

    // Without the meeting scope the sync fails, keeps nothing, and the log says what to add.
    let (other, _) = app.sim.create_zoom_user(None, "oli@acme.test").await;
    let bare = connect_scoped(&app, &zapp, &other, &["user:read:user"]).await;
    let body = settle(&app, &bare).await;
    assert_eq!(body["meeting_sync_status"], "failed");
    assert!(mapped(&app, &format!("?credential={bare}"))
        .await
        .is_empty());
    let (_, logs) = json_of(
        app.get(&format!(
            "/api/v2/zoom-oauth-credential-logs/?credential={bare}"
        ))
        .await,
    )
    .await;
    let failure = logs["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == "error")
        .expect("an error log row");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("meeting:read:list_meetings"),
        "{failure}"
    );
    let (_, filtered) = json_of(
        app.get("/api/v2/zoom-oauth-credentials/?meeting_sync_status=failed")
            .await,
    )
    .await;
    let ids: Vec<&str> = filtered["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bare.as_str()]);
    let (status, _) = json_of(
        app.get("/api/v2/zoom-oauth-credentials/?meeting_sync_status=done")
            .await,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn meeting_events_at_the_app_webhook_sync_at_once_when_signed() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let hook = app.url(&format!("/api/v2/zoom-oauth-apps/{}/webhook/", zapp.id));
    let (user, _) = app.sim.create_zoom_user(None, "pia@acme.test").await;
    let cred = connect_scoped(&app, &zapp, &user, MEETING_SCOPES).await;
    settle(&app, &cred).await;
    assert!(mapped(&app, "").await.is_empty());

    app.sim.add_zoom_webhook(&hook, WEBHOOK_SECRET).await;
    app.sim.add_zoom_webhook(&hook, "a-forger-s-secret").await;
    let m = app
        .sim
        .create_zoom_meeting(&user, "Kickoff", in_hours(6), 45)
        .await;
    // Without moving the clock: the event made the sync due now.
    sync_due(&app.state).await.unwrap();
    assert_eq!(mapped(&app, "").await, vec![(m.id as i64, cred.clone())]);
    let statuses = app.sim.delete_zoom_meeting(m.id).await;
    assert_eq!(statuses, [200, 401], "the forged copy is refused");
    sync_due(&app.state).await.unwrap();
    assert!(mapped(&app, "").await.is_empty());

    // The app log shows the events; a signed validation challenge sets
    // webhook_last_validation.
    let (_, logs) = json_of(
        app.get(&format!(
            "/api/v2/zoom-oauth-app-logs/?oauth_app={}",
            zapp.id
        ))
        .await,
    )
    .await;
    let rows = logs["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{logs}");
    assert!(rows.iter().all(|r| r["oauth_app"] == zapp.id.as_str()));
    assert!(rows[0]["message"]
        .as_str()
        .unwrap()
        .contains("meeting.deleted"));
    let (_, before) = json_of(
        app.get(&format!("/api/v2/zoom-oauth-apps/{}/", zapp.id))
            .await,
    )
    .await;
    assert!(before["webhook_last_validation"].is_null());
    let challenge = json!({"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}});
    let (status, _) = zoom_event(&app, &zapp.id, &challenge, "wrong", now_secs(&app)).await;
    assert_eq!(status, 401);
    let (status, _) = zoom_event(&app, &zapp.id, &challenge, WEBHOOK_SECRET, now_secs(&app)).await;
    assert_eq!(status, 200);
    let (_, after) = json_of(
        app.get(&format!("/api/v2/zoom-oauth-apps/{}/", zapp.id))
            .await,
    )
    .await;
    assert!(after["webhook_last_validation"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
}

#[tokio::test]
async fn account_level_apps_list_the_users_then_their_meetings() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "account_level").await;
    let (admin, acme) = app.sim.create_zoom_user(None, "admin@acme.test").await;
    let (member, _) = app
        .sim
        .create_zoom_user(Some(&acme), "member@acme.test")
        .await;
    let (outsider, _) = app.sim.create_zoom_user(None, "x@globex.test").await;
    let a = app
        .sim
        .create_zoom_meeting(&admin, "Board", in_hours(2), 30)
        .await;
    let b = app
        .sim
        .create_zoom_meeting(&member, "1:1", in_hours(3), 30)
        .await;
    app.sim
        .create_zoom_meeting(&outsider, "Elsewhere", in_hours(3), 30)
        .await;
    let cred = connect_scoped(&app, &zapp, &admin, ADMIN_SCOPES).await;
    let body = settle(&app, &cred).await;
    assert_eq!(body["meeting_sync_status"], "completed", "{body}");
    let mut got: Vec<i64> = mapped(&app, "").await.into_iter().map(|r| r.0).collect();
    got.sort();
    let mut want = vec![a.id as i64, b.id as i64];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(app.sim.call_count(Endpoint::ZoomUsers).await, 1);
}

#[tokio::test]
async fn meeting_tokens_for_bot_backends() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (host, _) = app.sim.create_zoom_user(None, "host@acme.test").await;
    let (guest, _) = app.sim.create_zoom_user(None, "guest@globex.test").await;
    let m = app
        .sim
        .create_zoom_meeting(&host, "Customer call", in_hours(1), 30)
        .await;
    let other = app
        .sim
        .create_zoom_meeting(&guest, "Not ours", in_hours(1), 30)
        .await;
    let cred = connect_scoped(&app, &zapp, &host, MEETING_SCOPES).await;
    let limited = connect_scoped(
        &app,
        &zapp,
        &guest,
        &["user:read:user", "meeting:read:list_meetings"],
    )
    .await;
    settle(&app, &cred).await;
    settle(&app, &limited).await;

    let path = |id: u64, q: &str| format!("/api/v2/zoom-meetings/{id}/tokens/{q}");
    let mut tokens = Vec::new();
    for kind in ["zak", "obf", "local_recording"] {
        let (status, body) = json_of(app.get(&path(m.id, &format!("?kind={kind}"))).await).await;
        assert_eq!(status, 200, "{kind}: {body}");
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["credential", "expires_at", "kind", "meeting_id", "token"]
        );
        assert_eq!(body["kind"], kind);
        assert_eq!(body["credential"], cred.as_str());
        assert_eq!(body["meeting_id"], m.id);
        let token = body["token"].as_str().unwrap().to_string();
        assert!(!token.is_empty());
        if kind == "local_recording" {
            assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
        } else {
            assert!(body["expires_at"].is_null());
        }
        tokens.push(token);
    }
    assert!(
        tokens[1].contains(&m.id.to_string()),
        "OBF names the meeting"
    );

    // The caller may name the credential; Zoom's refusal comes back with the scope to add.
    let (status, body) = json_of(
        app.get(&path(other.id, &format!("?kind=zak&credential={limited}")))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("does not contain scopes"), "{detail}");
    assert!(detail.contains("user:read:zak"), "{detail}");
    let (status, body) = json_of(
        app.get(&path(
            other.id,
            &format!("?kind=local_recording&credential={cred}"),
        ))
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("host"), "{body}");

    // Unknown meetings, bad parameters.
    let (status, body) = json_of(app.get(&path(999, "?kind=zak")).await).await;
    assert_eq!(status, 404);
    assert!(body["detail"].as_str().unwrap().contains("999"));
    let res = app
        .get("/api/v2/zoom-meetings/not-a-number/tokens/?kind=zak")
        .await;
    assert_eq!(res.status(), 404);
    let (status, body) = json_of(app.get(&path(m.id, "")).await).await;
    assert_eq!((status, body["kind"][0].is_string()), (400, true));
    let (status, _) = json_of(app.get(&path(m.id, "?kind=password")).await).await;
    assert_eq!(status, 400);
    let (status, _) = json_of(app.get(&path(m.id, "?kind=zak&credential=x")).await).await;
    assert_eq!(status, 400);
    let (status, _) = json_of(
        app.get(&path(
            m.id,
            &format!("?kind=zak&credential={}", uuid::Uuid::new_v4()),
        ))
        .await,
    )
    .await;
    assert_eq!(status, 400);
    let res = app
        .client
        .get(app.url(&path(m.id, "?kind=zak")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // No token is kept anywhere the API shows.
    for list in [
        "/api/v2/zoom-oauth-credential-logs/?page_size=1000",
        "/api/v2/zoom-oauth-app-logs/?page_size=1000",
    ] {
        let text = app.get(list).await.text().await.unwrap();
        for t in &tokens {
            assert!(!text.contains(t.as_str()));
        }
    }
}

#[tokio::test]
async fn validate_refreshes_now_and_reports_a_refusal_as_unhealthy() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "val@acme.test").await;
    let cred = connect_scoped(&app, &zapp, &user, MEETING_SCOPES).await;
    settle(&app, &cred).await;
    let before = app.sim.token_refresh_count(Provider::Zoom).await;
    let (status, body) = json_of(
        app.post_json(
            &format!("/api/v2/zoom-oauth-credentials/{cred}/validate/"),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
    assert_eq!(
        app.sim.token_refresh_count(Provider::Zoom).await,
        before + 1
    );
    app.sim.deauthorize(&AccountId(user.clone())).await;
    let (status, body) = json_of(
        app.post_json(
            &format!("/api/v2/zoom-oauth-credentials/{cred}/validate/"),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "unhealthy");
    let (_, logs) = json_of(
        app.get(&format!(
            "/api/v2/zoom-oauth-credential-logs/?credential={cred}&ordering=created_at"
        ))
        .await,
    )
    .await;
    let rows = logs["results"].as_array().unwrap();
    assert_eq!(rows[0]["level"], "info");
    assert!(rows[0]["message"].as_str().unwrap().starts_with("created"));
    assert_eq!(rows.last().unwrap()["level"], "error");
    for r in rows {
        assert!(uuid::Uuid::parse_str(r["id"].as_str().unwrap()).is_ok());
        assert_eq!(r["credential"], cred.as_str());
    }
    let (status, _) = json_of(
        app.post_json(
            &format!(
                "/api/v2/zoom-oauth-credentials/{}/validate/",
                uuid::Uuid::new_v4()
            ),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
}

/// A callback server: answers `GET /token...` with `(status, body)` and counts its calls.
async fn callback_server(
    answer: std::sync::Arc<std::sync::Mutex<(u16, String)>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (answer, hits) = (answer.clone(), hits.clone());
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (status, body) = answer.lock().unwrap().clone();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// A Zoom access token for `user`, as the app's own OAuth would hold it.
async fn zoom_access_token(app: &TestApp, client_id: &str, user: &str) -> String {
    let refresh = app
        .sim
        .mint_refresh_token(
            Provider::Zoom,
            client_id,
            &AccountId(user.to_string()),
            MEETING_SCOPES,
        )
        .await;
    let res = reqwest::Client::new()
        .post(app.sim.zoom_token_url())
        .basic_auth(client_id, Some(crate::zoom::CLIENT_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn customer_managed_credentials_fetch_tokens_from_the_callback() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, account) = app.sim.create_zoom_user(None, "cm@acme.test").await;
    let token = zoom_access_token(&app, &zapp.client_id, &user).await;
    let answer = Arc::new(Mutex::new((200u16, format!("{token}\n"))));
    let hits = Arc::new(AtomicUsize::new(0));
    let base = callback_server(answer.clone(), hits.clone()).await;
    let url = format!("{base}/token?secret=callback-secret-do-not-show");

    let res = app
        .post_json(
            "/api/v2/zoom-oauth-credentials/",
            &json!({"oauth_app": zapp.id, "access_token_callback_url": url}),
        )
        .await;
    let (status, cred) = json_of(res).await;
    assert_eq!(status, 201, "{cred}");
    assert_eq!(cred["user_id"], user.as_str());
    assert_eq!(cred["account_id"], account.as_str());
    assert_eq!(cred["status"], "healthy");
    assert_eq!(cred["access_token_callback_url"], format!("{base}/token?…"));
    let id = cred["id"].as_str().unwrap().to_string();
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Cached for at most 5 minutes, then fetched again; never refreshed at Zoom.
    let refreshes = app.sim.token_refresh_count(Provider::Zoom).await;
    let (status, body) = access_token(&app, &id).await;
    assert_eq!(status, 200);
    assert_eq!(body["token"], token.as_str());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    app.state.clock.advance(Duration::from_secs(301));
    let (_, body) = access_token(&app, &id).await;
    assert_eq!(body["token"], token.as_str());
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    app.state.clock.advance(Duration::from_secs(8 * 24 * 3600));
    let report = convene::zoom::sweep::refresh_stale(&app.state)
        .await
        .unwrap();
    assert_eq!(report.refreshed, 0);
    assert_eq!(app.sim.token_refresh_count(Provider::Zoom).await, refreshes);

    // The callback failing: 400 with why (nothing secret), or 503 when it may recover.
    *answer.lock().unwrap() = (403, "no".into());
    let (status, body) = access_token(&app, &id).await;
    assert_eq!(status, 400, "{body}");
    assert!(!body.to_string().contains("callback-secret"));
    let (status, body) = json_of(
        app.post_json(
            "/api/v2/zoom-oauth-credentials/",
            &json!({"oauth_app": zapp.id, "access_token_callback_url": url}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["access_token_callback_url"][0]
        .as_str()
        .unwrap()
        .contains("403"));
    *answer.lock().unwrap() = (500, "down".into());
    app.state.clock.advance(Duration::from_secs(301));
    let (status, _) = access_token(&app, &id).await;
    assert_eq!(status, 503);

    // Validation of the body.
    for body in [
        json!({"oauth_app": zapp.id, "access_token_callback_url": "ftp://x"}),
        json!({"oauth_app": zapp.id, "access_token_callback_url": 5}),
        json!({"oauth_app": zapp.id, "access_token_callback_url": url,
               "authorization_code": {"code": "c", "redirect_uri": REDIRECT}}),
    ] {
        let (status, _) = json_of(
            app.post_json("/api/v2/zoom-oauth-credentials/", &body)
                .await,
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
}

#[tokio::test]
async fn zoom_lists_filter_by_creation_time_and_order_newest_first() {
    let app = spawn_app().await;
    let a1 = create_app(&app, "user_level").await;
    app.state.clock.advance(Duration::from_secs(60));
    let cut = chrono::DateTime::from_timestamp_millis(app.state.now_ms())
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.state.clock.advance(Duration::from_secs(1));
    let a2 = create_app(&app, "user_level").await;
    app.state.clock.advance(Duration::from_secs(60));
    let a3 = create_app(&app, "account_level").await;
    let ids = |body: &Value| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |q: String| {
        let app = &app;
        async move { json_of(app.get(&format!("/api/v2/zoom-oauth-apps/{q}")).await).await }
    };
    let (_, body) = list(String::new()).await;
    assert_eq!(ids(&body), [a3.id.as_str(), a2.id.as_str(), a1.id.as_str()]);
    let (_, body) = list("?ordering=created_at".into()).await;
    assert_eq!(ids(&body), [a1.id.as_str(), a2.id.as_str(), a3.id.as_str()]);
    let (_, body) = list(format!("?created_at_after={}", cut.replace('+', "%2B"))).await;
    assert_eq!(ids(&body), [a3.id.as_str(), a2.id.as_str()]);
    let (_, body) = list(format!("?created_at_before={cut}&ordering=-created_at")).await;
    assert_eq!(ids(&body), [a1.id.as_str()]);

    // Paging newest first, forward and back.
    let (_, page1) = list("?page_size=2".into()).await;
    assert_eq!(ids(&page1), [a3.id.as_str(), a2.id.as_str()]);
    let next = page1["next"].as_str().unwrap();
    let (_, page2) = json_of(
        app.client
            .get(next)
            .header("Authorization", app.auth())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ids(&page2), [a1.id.as_str()]);
    let (_, back) = json_of(
        app.client
            .get(page2["previous"].as_str().unwrap())
            .header("Authorization", app.auth())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ids(&back), [a3.id.as_str(), a2.id.as_str()]);
    // A cursor of one ordering is refused by the other.
    let cursor = url::Url::parse(next)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "cursor")
        .unwrap()
        .1
        .to_string();
    let (status, _) = list(format!("?ordering=created_at&cursor={cursor}")).await;
    assert_eq!(status, 400);
    for bad in ["?ordering=kind", "?created_at_after=soon"] {
        let (status, _) = list(bad.into()).await;
        assert_eq!(status, 400, "{bad}");
        let (status, _) = json_of(
            app.get(&format!("/api/v2/zoom-oauth-credentials/{bad}"))
                .await,
        )
        .await;
        assert_eq!(status, 400, "{bad}");
    }
    for bad in ["?ordering=kind", "?oauth_app=x", "?created_at_before=x"] {
        let (status, _) =
            json_of(app.get(&format!("/api/v2/zoom-oauth-app-logs/{bad}")).await).await;
        assert_eq!(status, 400, "{bad}");
    }
}
