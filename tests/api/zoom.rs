//! Zoom OAuth against the simulator: apps, credentials from codes (the seed's flow and its
//! troubleshooting cases), conflicts, rotating refreshes under single flight, unhealthy
//! credentials, deauthorization and the refresh sweep.

use std::time::Duration;

use base64::Engine;
use convene_sim::{AccountId, Endpoint, Fault, Provider};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{spawn_app, TestApp};

pub(crate) const REDIRECT: &str = "https://app.test/oauth-callback/zoom/";
pub(crate) const CLIENT_SECRET: &str = "zoom-client-secret-do-not-show";
pub(crate) const WEBHOOK_SECRET: &str = "zoom-webhook-secret-do-not-show";

pub(crate) struct ZoomApp {
    pub id: String,
    pub client_id: String,
}

/// Registers a Zoom OAuth client at the simulator and the matching app in Convene.
pub(crate) async fn create_app(app: &TestApp, kind: &str) -> ZoomApp {
    let client_id = format!("zoom-{kind}-{}", uuid::Uuid::new_v4().simple());
    app.sim
        .create_oauth_client(
            Provider::Zoom,
            &client_id,
            CLIENT_SECRET,
            vec![REDIRECT.into()],
        )
        .await;
    let res = app
        .post_json(
            "/api/v2/zoom-oauth-apps/",
            &json!({
                "kind": kind,
                "client_id": client_id,
                "client_secret": CLIENT_SECRET,
                "webhook_secret": WEBHOOK_SECRET,
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    ZoomApp {
        id: body["id"].as_str().unwrap().to_string(),
        client_id,
    }
}

async fn mint_code(app: &TestApp, zapp: &ZoomApp, user: &str) -> String {
    app.sim
        .mint_code(
            Provider::Zoom,
            &zapp.client_id,
            &AccountId(user.to_string()),
            REDIRECT,
            &[],
            None,
        )
        .await
}

pub(crate) async fn post_credential(
    app: &TestApp,
    zapp: &ZoomApp,
    code: &str,
    redirect: &str,
) -> reqwest::Response {
    app.post_json(
        "/api/v2/zoom-oauth-credentials/",
        &json!({
            "oauth_app": zapp.id,
            "authorization_code": {"code": code, "redirect_uri": redirect},
        }),
    )
    .await
}

/// A credential for `user` made through the API; returns its JSON.
async fn connect(app: &TestApp, zapp: &ZoomApp, user: &str) -> Value {
    let code = mint_code(app, zapp, user).await;
    let res = post_credential(app, zapp, &code, REDIRECT).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// Connects `user` and returns the new credential's id.
pub async fn connect_id(app: &TestApp, zapp: &ZoomApp, user: &str) -> String {
    connect(app, zapp, user).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn access_token(app: &TestApp, cred_id: &str) -> (u16, Value) {
    json_of(
        app.get(&format!(
            "/api/v2/zoom-oauth-credentials/{cred_id}/access-token/"
        ))
        .await,
    )
    .await
}

/// Whether the simulator accepts `token` on `/users/me`, and for which user.
async fn zoom_user_of(app: &TestApp, token: &str) -> Option<String> {
    let res = reqwest::Client::new()
        .get(format!("{}/users/me", app.sim.zoom_api_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if res.status() != 200 {
        return None;
    }
    let body: Value = res.json().await.unwrap();
    body["id"].as_str().map(str::to_string)
}

/// Credential ids of a list, oldest first (`ordering=created_at` is added).
async fn list_ids(app: &TestApp, query: &str) -> Vec<String> {
    let sep = if query.is_empty() { "?" } else { "&" };
    let (status, body) = json_of(
        app.get(&format!(
            "/api/v2/zoom-oauth-credentials/{query}{sep}ordering=created_at"
        ))
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// Payloads of `zoom_oauth_credential.update` messages in the outbox.
async fn update_webhooks(app: &TestApp) -> Vec<Value> {
    app.state
        .store
        .read(|c| {
            let mut s = c.prepare(
                "SELECT payload FROM webhook_messages
                 WHERE event_type = 'zoom_oauth_credential.update' ORDER BY created_at, id",
            )?;
            let rows = s
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, convene::store::StoreError>(rows)
        })
        .await
        .unwrap()
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect()
}

/// The credential's token history, newest first (meeting-sync entries left out: the first
/// meeting sync runs beside the request that made the credential).
async fn history(app: &TestApp, cred_id: &str) -> Vec<String> {
    let id = cred_id.to_string();
    app.state
        .store
        .read(move |c| convene::store::zoom::events(c, &id, 1000))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| !k.starts_with("meeting_sync"))
        .collect()
}

// ------------------------------------------------------------------ apps

#[tokio::test]
async fn apps_are_created_listed_and_never_show_their_secrets() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for kind in ["user_level", "account_level", "user_level"] {
        ids.push(create_app(&app, kind).await.id);
    }

    let (status, body) = json_of(
        app.get(&format!("/api/v2/zoom-oauth-apps/{}/", ids[1]))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["kind"], "account_level");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "client_id",
            "created_at",
            "id",
            "kind",
            "webhook_last_validation"
        ]
    );

    // Cursor pagination over the three, forward then back.
    let (_, first) = json_of(app.get("/api/v2/zoom-oauth-apps/?page_size=2").await).await;
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert!(first["previous"].is_null());
    let next = first["next"].as_str().unwrap();
    assert!(next.starts_with(&app.address));
    let (_, second) = json_of(
        app.client
            .get(next)
            .header("Authorization", app.auth())
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut seen: Vec<String> = first["results"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["results"].as_array().unwrap())
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert!(second["next"].is_null());
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);
    let (_, back) = json_of(
        app.client
            .get(second["previous"].as_str().unwrap())
            .header("Authorization", app.auth())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(back["results"], first["results"]);
    let res = app.get("/api/v2/zoom-oauth-apps/?cursor=forged").await;
    assert_eq!(res.status(), 400);

    // No response ever carries a secret, and the database holds them sealed.
    for path in [
        "/api/v2/zoom-oauth-apps/".to_string(),
        format!("/api/v2/zoom-oauth-apps/{}/", ids[0]),
    ] {
        let text = app.get(&path).await.text().await.unwrap();
        assert!(
            !text.contains(CLIENT_SECRET) && !text.contains(WEBHOOK_SECRET),
            "{text}"
        );
    }
    let id = ids[0].clone();
    let stored = app
        .state
        .store
        .read(move |c| convene::store::zoom::get_app(c, &id))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.client_secret_enc, CLIENT_SECRET);
    assert_eq!(
        app.state.keys.decrypt(&stored.client_secret_enc).unwrap(),
        CLIENT_SECRET
    );
    assert_eq!(
        app.state
            .keys
            .decrypt(stored.webhook_secret_enc.as_ref().unwrap())
            .unwrap(),
        WEBHOOK_SECRET
    );
}

#[tokio::test]
async fn app_validation_and_not_found() {
    let app = spawn_app().await;
    let (status, body) = json_of(
        app.post_json(
            "/api/v2/zoom-oauth-apps/",
            &json!({"kind": "team_level", "client_id": "", }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["kind"][0], "\"team_level\" is not a valid choice.");
    assert_eq!(body["client_id"][0], "This field may not be blank.");
    assert_eq!(body["client_secret"][0], "This field is required.");

    let zapp = create_app(&app, "user_level").await;
    let (status, body) = json_of(
        app.post_json(
            "/api/v2/zoom-oauth-apps/",
            &json!({"kind": "user_level", "client_id": zapp.client_id, "client_secret": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["client_id"][0]
        .as_str()
        .unwrap()
        .contains("already exists"));

    assert_eq!(
        app.get(&format!(
            "/api/v2/zoom-oauth-apps/{}/",
            uuid::Uuid::new_v4()
        ))
        .await
        .status(),
        404
    );
    assert_eq!(
        app.get("/api/v2/zoom-oauth-apps/not-a-uuid/")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.delete(&format!(
            "/api/v2/zoom-oauth-apps/{}/",
            uuid::Uuid::new_v4()
        ))
        .await
        .status(),
        404
    );
    let res = app
        .client
        .get(app.url("/api/v2/zoom-oauth-apps/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn an_app_cannot_be_deleted_while_credentials_use_it() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let cred = connect(&app, &zapp, &user).await;

    let (status, body) = json_of(
        app.delete(&format!("/api/v2/zoom-oauth-apps/{}/", zapp.id))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("1 Zoom OAuth Credential"));
    assert_eq!(
        app.get(&format!("/api/v2/zoom-oauth-apps/{}/", zapp.id))
            .await
            .status(),
        200
    );
    assert_eq!(list_ids(&app, "").await, [cred["id"].as_str().unwrap()]);

    let res = app
        .delete(&format!(
            "/api/v2/zoom-oauth-credentials/{}/",
            cred["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.delete(&format!("/api/v2/zoom-oauth-apps/{}/", zapp.id))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.get(&format!("/api/v2/zoom-oauth-apps/{}/", zapp.id))
            .await
            .status(),
        404
    );
}

// ------------------------------------------------------------------ credentials

#[tokio::test]
async fn a_code_becomes_a_healthy_credential_with_a_working_access_token() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, account) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let code = mint_code(&app, &zapp, &user).await;

    let res = post_credential(&app, &zapp, &code, REDIRECT).await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    let cred: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&String> = cred.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "access_token_callback_url",
            "account_id",
            "created_at",
            "id",
            "meeting_sync_status",
            "oauth_app",
            "status",
            "user_id"
        ]
    );
    assert_eq!(cred["oauth_app"], zapp.id.as_str());
    assert_eq!(cred["user_id"], user.as_str());
    assert_eq!(cred["account_id"], account.as_str());
    assert_eq!(cred["status"], "healthy");
    assert!(cred["access_token_callback_url"].is_null());
    assert_eq!(app.sim.code_exchange_count(Provider::Zoom).await, 1);
    let id = cred["id"].as_str().unwrap();

    // The token from the exchange is still fresh: handed out without a refresh, and it works.
    let (status, body) = access_token(&app, id).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap();
    assert_eq!(
        zoom_user_of(&app, token).await.as_deref(),
        Some(user.as_str())
    );
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires.timestamp_millis() > app.state.now_ms() + 50 * 60 * 1000);
    assert_eq!(app.sim.token_refresh_count(Provider::Zoom).await, 0);
    assert!(
        !text.contains(token),
        "the create response must not carry tokens"
    );

    // Stored sealed.
    let cid = id.to_string();
    let stored = app
        .state
        .store
        .read(move |c| convene::store::zoom::get_credential(c, &cid))
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.access_token_enc.contains(token));
    assert_eq!(
        app.state.keys.decrypt(&stored.access_token_enc).unwrap(),
        token
    );

    let (status, mut got) = json_of(
        app.get(&format!("/api/v2/zoom-oauth-credentials/{id}/"))
            .await,
    )
    .await;
    // The first meeting sync runs beside the request: its status may have moved on.
    let mut cred = cred;
    cred["meeting_sync_status"] = Value::Null;
    got["meeting_sync_status"] = Value::Null;
    assert_eq!((status, &got), (200, &cred));
}

#[tokio::test]
async fn credentials_list_with_filters() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let other = create_app(&app, "account_level").await;
    let (carol, acme) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let (dan, _) = app.sim.create_zoom_user(Some(&acme), "dan@acme.test").await;
    let (erin, globex) = app.sim.create_zoom_user(None, "erin@globex.test").await;
    let c1 = connect_id(&app, &zapp, &carol).await;
    let c2 = connect_id(&app, &zapp, &dan).await;
    let c3 = connect_id(&app, &other, &erin).await;

    assert_eq!(
        list_ids(&app, "").await,
        [c1.as_str(), c2.as_str(), c3.as_str()]
    );
    assert_eq!(
        list_ids(&app, &format!("?oauth_app={}", zapp.id)).await,
        [c1.as_str(), c2.as_str()]
    );
    assert_eq!(
        list_ids(&app, &format!("?account_id={acme}")).await,
        [c1.as_str(), c2.as_str()]
    );
    assert_eq!(
        list_ids(&app, &format!("?account_id={globex}")).await,
        [c3.as_str()]
    );
    assert_eq!(
        list_ids(&app, &format!("?user_id={dan}")).await,
        [c2.as_str()]
    );
    assert_eq!(
        list_ids(
            &app,
            &format!("?oauth_app={}&user_id={carol}&status=healthy", zapp.id)
        )
        .await,
        [c1.as_str()]
    );
    assert!(list_ids(&app, "?status=unhealthy").await.is_empty());
    assert!(
        list_ids(&app, &format!("?oauth_app={}", uuid::Uuid::new_v4()))
            .await
            .is_empty()
    );
    assert_eq!(
        list_ids(&app, "?page_size=2&unknown=1").await,
        [c1.as_str(), c2.as_str()]
    );

    let (status, body) = json_of(
        app.get("/api/v2/zoom-oauth-credentials/?status=broken")
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["status"][0].is_string());
    let res = app
        .get("/api/v2/zoom-oauth-credentials/?oauth_app=nope")
        .await;
    assert_eq!(res.status(), 400);
    let res = app.get("/api/v2/zoom-oauth-credentials/?page_size=0").await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        app.get(&format!(
            "/api/v2/zoom-oauth-credentials/{}/",
            uuid::Uuid::new_v4()
        ))
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn a_redirect_uri_without_the_trailing_slash_is_refused_with_advice() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let code = mint_code(&app, &zapp, &user).await;

    let (status, body) =
        json_of(post_credential(&app, &zapp, &code, REDIRECT.trim_end_matches('/')).await).await;
    assert_eq!(status, 400);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("Invalid redirect uri"), "{detail}");
    assert!(detail.contains("trailing slash"), "{detail}");
    assert!(list_ids(&app, "").await.is_empty());

    // Zoom does not burn the code on a redirect mismatch: the exact URI then works.
    let res = post_credential(&app, &zapp, &code, REDIRECT).await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn a_used_code_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let code = mint_code(&app, &zapp, &user).await;
    let cred = {
        let res = post_credential(&app, &zapp, &code, REDIRECT).await;
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.unwrap()
    };
    let res = app
        .delete(&format!(
            "/api/v2/zoom-oauth-credentials/{}/",
            cred["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(res.status(), 204);

    let (status, body) = json_of(post_credential(&app, &zapp, &code, REDIRECT).await).await;
    assert_eq!(status, 400);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("Invalid authorization code"), "{detail}");
    assert!(
        detail.contains("5 minutes") && detail.contains("trailing slash"),
        "{detail}"
    );
    let (status, body) =
        json_of(post_credential(&app, &zapp, "never-issued", REDIRECT).await).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("invalid_grant"));
    assert!(list_ids(&app, "").await.is_empty());
}

#[tokio::test]
async fn create_credential_validation() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let res = app
        .post_json("/api/v2/zoom-oauth-credentials/", &json!({}))
        .await;
    let (status, body) = json_of(res).await;
    assert_eq!(status, 400);
    assert_eq!(body["oauth_app"][0], "This field is required.");
    assert_eq!(body["authorization_code"][0], "This field is required.");

    let res = app
        .post_json(
            "/api/v2/zoom-oauth-credentials/",
            &json!({"oauth_app": zapp.id, "authorization_code": {"code": "abc"}}),
        )
        .await;
    let (status, body) = json_of(res).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["authorization_code"]["redirect_uri"][0],
        "This field is required."
    );

    let missing = uuid::Uuid::new_v4().to_string();
    let res = app
        .post_json(
            "/api/v2/zoom-oauth-credentials/",
            &json!({"oauth_app": missing, "authorization_code": {"code": "a", "redirect_uri": REDIRECT}}),
        )
        .await;
    let (status, body) = json_of(res).await;
    assert_eq!(status, 400);
    assert!(body["oauth_app"][0]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert_eq!(app.sim.code_exchange_count(Provider::Zoom).await, 0);
}

#[tokio::test]
async fn pkce_code_verifier_is_passed_to_zoom() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let verifier = "a-long-enough-code-verifier-0123456789-abcdefghijklmnop";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let code = app
        .sim
        .mint_code(
            Provider::Zoom,
            &zapp.client_id,
            &AccountId(user.clone()),
            REDIRECT,
            &[],
            Some(&challenge),
        )
        .await;
    let (status, body) = json_of(post_credential(&app, &zapp, &code, REDIRECT).await).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("code_verifier"));
    let res = app
        .post_json(
            "/api/v2/zoom-oauth-credentials/",
            &json!({"oauth_app": zapp.id, "authorization_code": {
                "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

// ------------------------------------------------------------------ conflicts

fn account_conflict_detail(account: &str) -> String {
    format!(
        "A Zoom OAuth Credential already exists for this OAuth App and Zoom account(account_id: {account}). \
         A Zoom OAuth App can have at most one Zoom OAuth Credential registered per authorized Zoom account. \
         Please delete the existing Zoom OAuth Credential for Zoom account(account_id: {account}) and try again."
    )
}

#[tokio::test]
async fn account_level_conflict_then_delete_and_recreate() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "account_level").await;
    let (carol, acme) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let (dan, _) = app.sim.create_zoom_user(Some(&acme), "dan@acme.test").await;
    let first = connect(&app, &zapp, &carol).await;

    // Another user of the same Zoom account: one credential per account.
    let code = mint_code(&app, &zapp, &dan).await;
    let (status, body) = json_of(post_credential(&app, &zapp, &code, REDIRECT).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], account_conflict_detail(&acme).as_str());
    assert_eq!(body["conflicting_zoom_account_id"], acme.as_str());
    assert!(body.get("conflicting_zoom_user_id").is_none());
    assert_eq!(list_ids(&app, "").await, [first["id"].as_str().unwrap()]);

    // The seed's way out: find by the conflicting account, delete, create again.
    let ids = list_ids(&app, &format!("?oauth_app={}&account_id={acme}", zapp.id)).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(
        app.delete(&format!("/api/v2/zoom-oauth-credentials/{}/", ids[0]))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.get(&format!("/api/v2/zoom-oauth-credentials/{}/", ids[0]))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.delete(&format!("/api/v2/zoom-oauth-credentials/{}/", ids[0]))
            .await
            .status(),
        404
    );
    let again = connect(&app, &zapp, &dan).await;
    assert_eq!(again["user_id"], dan.as_str());
    assert_eq!(again["account_id"], acme.as_str());
    let (status, body) = access_token(&app, again["id"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        zoom_user_of(&app, body["token"].as_str().unwrap())
            .await
            .as_deref(),
        Some(dan.as_str())
    );
}

#[tokio::test]
async fn user_level_conflict_is_per_zoom_user() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (carol, acme) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let (dan, _) = app.sim.create_zoom_user(Some(&acme), "dan@acme.test").await;
    connect(&app, &zapp, &carol).await;
    connect(&app, &zapp, &dan).await; // same account, other user: fine

    let code = mint_code(&app, &zapp, &carol).await;
    let (status, body) = json_of(post_credential(&app, &zapp, &code, REDIRECT).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["detail"],
        format!(
            "A Zoom OAuth Credential already exists for this OAuth App and Zoom user(user_id: {carol}). \
             A Zoom OAuth App can have at most one Zoom OAuth Credential registered per authorized Zoom user. \
             Please delete the existing Zoom OAuth Credential for Zoom user(user_id: {carol}) and try again."
        )
        .as_str()
    );
    assert_eq!(body["conflicting_zoom_user_id"], carol.as_str());
    assert_eq!(list_ids(&app, "").await.len(), 2);

    // Another app may hold its own credential for the same user.
    let other = create_app(&app, "user_level").await;
    connect(&app, &other, &carol).await;
    assert_eq!(list_ids(&app, &format!("?user_id={carol}")).await.len(), 2);
}

/// Mints a code for each user and posts both at once: exactly one may win (201); the
/// loser's 400 body is returned.
async fn race_two_codes(app: &TestApp, zapp: &ZoomApp, user_a: &str, user_b: &str) -> Value {
    let (ca, cb) = (
        mint_code(app, zapp, user_a).await,
        mint_code(app, zapp, user_b).await,
    );
    let (r1, r2) = tokio::join!(
        post_credential(app, zapp, &ca, REDIRECT),
        post_credential(app, zapp, &cb, REDIRECT)
    );
    let (s1, b1) = json_of(r1).await;
    let (s2, b2) = json_of(r2).await;
    let mut statuses = [s1, s2];
    statuses.sort();
    assert_eq!(statuses, [201, 400], "{b1} {b2}");
    if s1 == 400 {
        b1
    } else {
        b2
    }
}

#[tokio::test]
async fn concurrent_creates_for_one_account_or_user_yield_one_credential() {
    let app = spawn_app().await;
    let account_level = create_app(&app, "account_level").await;
    let user_level = create_app(&app, "user_level").await;
    for round in 0..4 {
        // Account-level: two users of one Zoom account.
        let (a, acct) = app
            .sim
            .create_zoom_user(None, &format!("a{round}@acme.test"))
            .await;
        let (b, _) = app
            .sim
            .create_zoom_user(Some(&acct), &format!("b{round}@acme.test"))
            .await;
        let loser = race_two_codes(&app, &account_level, &a, &b).await;
        assert_eq!(loser["conflicting_zoom_account_id"], acct.as_str());
        assert_eq!(
            list_ids(&app, &format!("?account_id={acct}")).await.len(),
            1
        );

        // User-level: two codes of one user.
        let (u, _) = app
            .sim
            .create_zoom_user(None, &format!("u{round}@globex.test"))
            .await;
        // Zoom keeps only the newest authorization of a user, so the loser either meets the
        // conflict rule or finds its tokens already revoked by the other exchange.
        let loser = race_two_codes(&app, &user_level, &u, &u).await;
        assert!(
            loser["conflicting_zoom_user_id"] == u.as_str()
                || loser["detail"]
                    .as_str()
                    .unwrap()
                    .contains("authorized the app again"),
            "{loser}"
        );
        assert_eq!(list_ids(&app, &format!("?user_id={u}")).await.len(), 1);
    }
    // No half-made rows: every stored credential has its `created` history and nothing else.
    let ids = list_ids(&app, "").await;
    assert_eq!(ids.len(), 8);
    for id in ids {
        assert_eq!(history(&app, &id).await, ["created"]);
    }
}

// ------------------------------------------------------------------ access tokens

#[tokio::test]
async fn every_refresh_rotates_and_the_newest_refresh_token_is_kept() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let id = connect_id(&app, &zapp, &user).await;

    let mut tokens = std::collections::HashSet::new();
    let rounds = 25;
    for i in 0..rounds {
        // An hour later the stored token has expired: each call must refresh, and the
        // simulator accepts only the newest refresh token.
        app.state.clock.advance(Duration::from_secs(3600));
        let (status, body) = access_token(&app, &id).await;
        assert_eq!(status, 200, "round {i}: {body}");
        let token = body["token"].as_str().unwrap().to_string();
        assert!(tokens.insert(token.clone()), "round {i}: token reused");
        let expires =
            chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
        assert!(expires.timestamp_millis() > app.state.now_ms() + 50 * 60 * 1000);
    }
    assert_eq!(app.sim.token_refresh_count(Provider::Zoom).await, rounds);
    let (_, body) = access_token(&app, &id).await;
    assert_eq!(
        zoom_user_of(&app, body["token"].as_str().unwrap())
            .await
            .as_deref(),
        Some(user.as_str())
    );
    assert_eq!(
        app.sim.token_refresh_count(Provider::Zoom).await,
        rounds,
        "fresh token reused"
    );
    let (_, cred) = json_of(
        app.get(&format!("/api/v2/zoom-oauth-credentials/{id}/"))
            .await,
    )
    .await;
    assert_eq!(cred["status"], "healthy");
    let kinds = history(&app, &id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "refreshed").count(),
        rounds as usize
    );
    assert!(update_webhooks(&app).await.is_empty());
}

async fn burst(app: &TestApp, id: &str, n: usize) -> Vec<(u16, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let client = app.client.clone();
        let url = app.url(&format!(
            "/api/v2/zoom-oauth-credentials/{id}/access-token/"
        ));
        let auth = app.auth();
        set.spawn(async move {
            let res = client
                .get(url)
                .header("Authorization", auth)
                .send()
                .await
                .unwrap();
            json_of(res).await
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[tokio::test]
async fn fifty_concurrent_calls_make_one_refresh() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let id = connect_id(&app, &zapp, &user).await;

    // 56 minutes on, under 5 minutes of the 3599 s token remain.
    app.state.clock.advance(Duration::from_secs(56 * 60));
    let results = burst(&app, &id, 50).await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    let first = &results[0].1["token"];
    assert!(results.iter().all(|(_, b)| &b["token"] == first));
    assert_eq!(app.sim.token_refresh_count(Provider::Zoom).await, 1);
    assert_eq!(
        zoom_user_of(&app, first.as_str().unwrap()).await.as_deref(),
        Some(user.as_str())
    );
}

#[tokio::test]
async fn a_refused_refresh_token_makes_the_credential_unhealthy_once() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let (other, _) = app.sim.create_zoom_user(None, "dan@acme.test").await;
    let id = connect_id(&app, &zapp, &user).await;
    let other_id = connect_id(&app, &zapp, &other).await;

    app.sim.deauthorize(&AccountId(user.clone())).await;
    app.state.clock.advance(Duration::from_secs(3600));
    let (status, body) = access_token(&app, &id).await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("unhealthy"),
        "{body}"
    );
    let (_, cred) = json_of(
        app.get(&format!("/api/v2/zoom-oauth-credentials/{id}/"))
            .await,
    )
    .await;
    assert_eq!(cred["status"], "unhealthy");
    assert_eq!(list_ids(&app, "?status=unhealthy").await, [id.as_str()]);
    assert_eq!(list_ids(&app, "?status=healthy").await, [other_id.as_str()]);

    let hooks = update_webhooks(&app).await;
    assert_eq!(
        hooks,
        [json!({"event": "zoom_oauth_credential.update",
                "data": {"zoom_oauth_credential_id": id, "status": "unhealthy"}})]
    );
    assert!(history(&app, &id)
        .await
        .contains(&"refresh_refused".to_string()));

    // Asking again neither calls Zoom nor announces the change a second time.
    let (status, _) = access_token(&app, &id).await;
    assert_eq!(status, 400);
    assert_eq!(app.sim.token_refresh_count(Provider::Zoom).await, 1);
    assert_eq!(update_webhooks(&app).await.len(), 1);
    // The other user's credential is untouched.
    assert_eq!(access_token(&app, &other_id).await.0, 200);
}

#[tokio::test]
async fn transient_zoom_errors_are_retried_and_do_not_break_the_credential() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let id = connect_id(&app, &zapp, &user).await;

    app.state.clock.advance(Duration::from_secs(3600));
    app.sim
        .inject_fault(Endpoint::ZoomToken, Fault::Status500, 1)
        .await;
    app.sim
        .inject_fault(
            Endpoint::ZoomToken,
            Fault::RateLimited429 {
                retry_after_secs: 1,
            },
            1,
        )
        .await;
    app.sim.reset_counts().await;
    let (status, body) = access_token(&app, &id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.sim.call_count(Endpoint::ZoomToken).await, 3);

    // Zoom down for longer than the retries: 503, still healthy, and it recovers.
    app.state.clock.advance(Duration::from_secs(3600));
    app.sim
        .inject_fault(Endpoint::ZoomToken, Fault::Status500, 10)
        .await;
    let res = app
        .get(&format!(
            "/api/v2/zoom-oauth-credentials/{id}/access-token/"
        ))
        .await;
    assert_eq!(res.status(), 503);
    app.sim.clear_faults().await;
    let (_, cred) = json_of(
        app.get(&format!("/api/v2/zoom-oauth-credentials/{id}/"))
            .await,
    )
    .await;
    assert_eq!(cred["status"], "healthy");
    assert!(history(&app, &id)
        .await
        .contains(&"refresh_error".to_string()));
    let (status, body) = access_token(&app, &id).await;
    assert_eq!(status, 200, "{body}");
    assert!(update_webhooks(&app).await.is_empty());
}

#[tokio::test]
async fn transient_errors_during_the_code_exchange_are_retried() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (user, _) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let code = mint_code(&app, &zapp, &user).await;
    app.sim
        .inject_fault(Endpoint::ZoomToken, Fault::Status500, 1)
        .await;
    app.sim
        .inject_fault(Endpoint::ZoomUsersMe, Fault::MalformedJson, 1)
        .await;
    let res = post_credential(&app, &zapp, &code, REDIRECT).await;
    assert_eq!(res.status(), 201);
}

// ------------------------------------------------------------------ sweep

#[tokio::test]
async fn the_sweep_refreshes_credentials_idle_for_a_week() {
    let app = spawn_app().await;
    assert!(convene::jobs::all()
        .iter()
        .any(|s| s.name == "zoom_token_refresh"));
    let zapp = create_app(&app, "user_level").await;
    let (old_user, _) = app.sim.create_zoom_user(None, "old@acme.test").await;
    let (new_user, _) = app.sim.create_zoom_user(None, "new@acme.test").await;
    let (gone_user, _) = app.sim.create_zoom_user(None, "gone@acme.test").await;
    let old = connect_id(&app, &zapp, &old_user).await;
    let gone = connect_id(&app, &zapp, &gone_user).await;
    app.state.clock.advance(Duration::from_secs(4 * 24 * 3600));
    let new = connect_id(&app, &zapp, &new_user).await;
    app.state.clock.advance(Duration::from_secs(4 * 24 * 3600));
    app.sim.deauthorize(&AccountId(gone_user)).await;

    // Eight days for `old` and `gone`, four for `new`.
    let report = convene::zoom::sweep::refresh_stale(&app.state)
        .await
        .unwrap();
    assert_eq!(
        (report.refreshed, report.unhealthy, report.failed),
        (1, 1, 0)
    );
    assert_eq!(app.sim.token_refresh_count(Provider::Zoom).await, 2);
    assert!(history(&app, &old).await.contains(&"refreshed".to_string()));
    assert!(!history(&app, &new).await.contains(&"refreshed".to_string()));
    assert_eq!(list_ids(&app, "?status=unhealthy").await, [gone.as_str()]);
    assert_eq!(update_webhooks(&app).await.len(), 1);

    // Nothing is due right after.
    let report = convene::zoom::sweep::refresh_stale(&app.state)
        .await
        .unwrap();
    assert_eq!(report, Default::default());
    // The refreshed credential still works with what the sweep stored.
    app.state.clock.advance(Duration::from_secs(3600));
    let (status, body) = access_token(&app, &old).await;
    assert_eq!(status, 200);
    assert_eq!(
        zoom_user_of(&app, body["token"].as_str().unwrap())
            .await
            .as_deref(),
        Some(old_user.as_str())
    );
    let _ = new;
}

// ------------------------------------------------------------------ deauthorization

fn hmac_hex(secret: &str, msg: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(msg);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// POSTs `body` to the app's webhook endpoint as Zoom would, signed with `secret` at `ts`.
pub(crate) async fn zoom_event(
    app: &TestApp,
    app_id: &str,
    body: &Value,
    secret: &str,
    ts: i64,
) -> (u16, Value) {
    let raw = body.to_string();
    let sig = format!(
        "v0={}",
        hmac_hex(secret, format!("v0:{ts}:{raw}").as_bytes())
    );
    let res = app
        .client
        .post(app.url(&format!("/api/v2/zoom-oauth-apps/{app_id}/webhook/")))
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", ts.to_string())
        .header("x-zm-signature", sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    json_of(res).await
}

pub(crate) fn now_secs(app: &TestApp) -> i64 {
    app.state.now_ms() / 1000
}

fn deauthorized(user: &str, account: &str, client_id: &str) -> Value {
    json!({
        "event": "app_deauthorized",
        "event_ts": 1_700_000_000_000i64,
        "payload": {
            "user_id": user,
            "account_id": account,
            "client_id": client_id,
            "signature": "irrelevant",
            "deauthorization_time": "2026-01-01T00:00:00Z",
        }
    })
}

#[tokio::test]
async fn zoom_url_validation_is_answered_only_when_signed() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let challenge = json!({"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}, "event_ts": 1});
    let (status, body) =
        zoom_event(&app, &zapp.id, &challenge, WEBHOOK_SECRET, now_secs(&app)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"plainToken": "qgg8vlvZRS6UYooatFL8Aw",
               "encryptedToken": hmac_hex(WEBHOOK_SECRET, b"qgg8vlvZRS6UYooatFL8Aw")})
    );
    let (status, _) = zoom_event(&app, &zapp.id, &challenge, "wrong secret", now_secs(&app)).await;
    assert_eq!(status, 401);
    let res = app
        .client
        .post(app.url(&format!("/api/v2/zoom-oauth-apps/{}/webhook/", zapp.id)))
        .json(&challenge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // An app without a webhook secret cannot verify anything; unknown apps are not found.
    let bare_client = format!("zoom-bare-{}", uuid::Uuid::new_v4().simple());
    let (_, bare) = json_of(
        app.post_json(
            "/api/v2/zoom-oauth-apps/",
            &json!({"kind": "user_level", "client_id": bare_client, "client_secret": "s"}),
        )
        .await,
    )
    .await;
    let (status, _) = zoom_event(
        &app,
        bare["id"].as_str().unwrap(),
        &challenge,
        WEBHOOK_SECRET,
        now_secs(&app),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = zoom_event(
        &app,
        &uuid::Uuid::new_v4().to_string(),
        &challenge,
        WEBHOOK_SECRET,
        now_secs(&app),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn app_deauthorized_marks_only_the_matching_credential_when_signed_and_fresh() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "user_level").await;
    let (carol, acme) = app.sim.create_zoom_user(None, "carol@acme.test").await;
    let (dan, _) = app.sim.create_zoom_user(Some(&acme), "dan@acme.test").await;
    let c_carol = connect_id(&app, &zapp, &carol).await;
    let c_dan = connect_id(&app, &zapp, &dan).await;
    let event = deauthorized(&carol, &acme, &zapp.client_id);

    // Bad signature, stale and future timestamps: refused, nothing changes.
    let (status, _) = zoom_event(&app, &zapp.id, &event, "not the secret", now_secs(&app)).await;
    assert_eq!(status, 401);
    let (status, _) = zoom_event(
        &app,
        &zapp.id,
        &event,
        WEBHOOK_SECRET,
        now_secs(&app) - 6 * 60,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = zoom_event(
        &app,
        &zapp.id,
        &event,
        WEBHOOK_SECRET,
        now_secs(&app) + 6 * 60,
    )
    .await;
    assert_eq!(status, 401);
    assert!(list_ids(&app, "?status=unhealthy").await.is_empty());
    assert!(update_webhooks(&app).await.is_empty());

    // Signed and fresh (4 minutes old is still fine).
    let (status, _) = zoom_event(
        &app,
        &zapp.id,
        &event,
        WEBHOOK_SECRET,
        now_secs(&app) - 4 * 60,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        list_ids(&app, "?status=unhealthy").await,
        [c_carol.as_str()]
    );
    assert_eq!(list_ids(&app, "?status=healthy").await, [c_dan.as_str()]);
    assert_eq!(
        update_webhooks(&app).await,
        [json!({"event": "zoom_oauth_credential.update",
                "data": {"zoom_oauth_credential_id": c_carol, "status": "unhealthy"}})]
    );
    assert!(history(&app, &c_carol)
        .await
        .contains(&"deauthorized".to_string()));
    let (status, body) = access_token(&app, &c_carol).await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("removed the app"),
        "{body}"
    );
    assert_eq!(app.sim.token_refresh_count(Provider::Zoom).await, 0);

    // Zoom retries deliveries: a repeat is acknowledged without a second announcement.
    let (status, _) = zoom_event(&app, &zapp.id, &event, WEBHOOK_SECRET, now_secs(&app)).await;
    assert_eq!(status, 200);
    assert_eq!(update_webhooks(&app).await.len(), 1);
    // Other events are acknowledged and ignored.
    let (status, _) = zoom_event(
        &app,
        &zapp.id,
        &json!({"event": "meeting.started", "payload": {}}),
        WEBHOOK_SECRET,
        now_secs(&app),
    )
    .await;
    assert_eq!(status, 200);

    // Delete and recreate after the user authorizes again.
    assert_eq!(
        app.delete(&format!("/api/v2/zoom-oauth-credentials/{c_carol}/"))
            .await
            .status(),
        204
    );
    let again = connect(&app, &zapp, &carol).await;
    assert_eq!(again["status"], "healthy");
}

#[tokio::test]
async fn app_deauthorized_on_an_account_level_app_matches_the_account() {
    let app = spawn_app().await;
    let zapp = create_app(&app, "account_level").await;
    let (admin, acme) = app.sim.create_zoom_user(None, "admin@acme.test").await;
    let (other, globex) = app.sim.create_zoom_user(None, "admin@globex.test").await;
    let c_acme = connect_id(&app, &zapp, &admin).await;
    let c_globex = connect_id(&app, &zapp, &other).await;
    // Another admin of the account removes the app: matched by account.
    let event = deauthorized("some-other-admin", &acme, &zapp.client_id);
    let (status, _) = zoom_event(&app, &zapp.id, &event, WEBHOOK_SECRET, now_secs(&app)).await;
    assert_eq!(status, 200);
    assert_eq!(list_ids(&app, "?status=unhealthy").await, [c_acme.as_str()]);
    assert_eq!(
        list_ids(&app, &format!("?status=healthy&account_id={globex}")).await,
        [c_globex.as_str()]
    );
}
