//! Calendar V1: auth tokens, calendar users, the authorize URL and the hosted OAuth
//! callbacks against the simulator, including refused states and redirect tricks.

use std::time::Duration;

use convene_sim::{Endpoint, Provider};
use serde_json::{json, Value};
use url::Url;

use crate::calendar_support::*;
use crate::helpers::{spawn_app, TestApp};

async fn get_user(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/calendar/user/"))
        .header("x-recallcalendarauthtoken", token)
        .send()
        .await
        .unwrap()
}

fn query_of(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query_of(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn auth_tokens_make_one_user_per_user_id() {
    let app = spawn_app().await;
    let t1 = calendar_token(&app, "user-1").await;
    let t2 = calendar_token(&app, "user-1").await;
    calendar_token(&app, "user-2").await;
    let u1: Value = get_user(&app, &t1).await.json().await.unwrap();
    let u2: Value = get_user(&app, &t2).await.json().await.unwrap();
    assert_eq!(u1["id"], u2["id"]);
    assert_eq!(u1["external_id"], "user-1");
    assert_eq!(u1["connections"], json!([]));
    assert_eq!(
        u1["preferences"],
        json!({"record_non_host": false, "record_recurring": false, "record_external": false,
               "record_internal": false, "record_confirmed": false, "record_only_host": false,
               "bot_name": "Meeting Notetaker"})
    );
    let n = app
        .state
        .store
        .read(convene::store::calendar_users::count)
        .await
        .unwrap();
    assert_eq!(n, 2);

    // Validation and API-key auth.
    let res = app
        .post_json("/api/v1/calendar/authenticate/", &json!({}))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.unwrap()["user_id"].is_array());
    let res = app
        .client
        .post(app.url("/api/v1/calendar/authenticate/"))
        .json(&json!({"user_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn expired_and_forged_calendar_tokens_get_401() {
    let app = spawn_app().await;
    let token = calendar_token(&app, "user-1").await;
    assert_eq!(get_user(&app, &token).await.status(), 200);
    assert_eq!(get_user(&app, "nonsense").await.status(), 401);
    // Flip one character of the payload: the signature no longer matches.
    let mut forged: Vec<char> = token.chars().collect();
    forged[3] = if forged[3] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    assert_eq!(get_user(&app, &forged).await.status(), 401);
    let res = app
        .client
        .get(app.url("/api/v1/calendar/user/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // 24 h later the token is dead; a new one works.
    app.state.clock.advance(Duration::from_secs(86_400 + 1));
    assert_eq!(get_user(&app, &token).await.status(), 401);
    let fresh = calendar_token(&app, "user-1").await;
    assert_eq!(get_user(&app, &fresh).await.status(), 200);
}

#[tokio::test]
async fn preferences_update_partially_and_users_list_paginates() {
    let app = spawn_app().await;
    let token = calendar_token(&app, "user-1").await;
    let res = app
        .client
        .put(app.url("/api/v1/calendar/user/"))
        .header("x-recallcalendarauthtoken", &token)
        .json(&json!({"preferences": {"record_external": true, "bot_name": "Scribe"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .patch(app.url("/api/v1/calendar/user/"))
        .header("x-recallcalendarauthtoken", &token)
        .json(&json!({"preferences": {"record_internal": true}}))
        .send()
        .await
        .unwrap();
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["preferences"]["record_external"], true);
    assert_eq!(user["preferences"]["record_internal"], true);
    assert_eq!(user["preferences"]["bot_name"], "Scribe");
    assert_eq!(user["preferences"]["record_recurring"], false);
    let res = app
        .client
        .put(app.url("/api/v1/calendar/user/"))
        .header("x-recallcalendarauthtoken", &token)
        .json(&json!({"preferences": {"record_internal": "yes"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    for i in 2..=5 {
        calendar_token(&app, &format!("user-{i}")).await;
    }
    let page: Value = app
        .get("/api/v1/calendar/users/?page_size=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    let mut seen: Vec<String> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["external_id"].as_str().unwrap().to_string())
        .collect();
    let mut next = page["next"].as_str().map(str::to_string);
    while let Some(n) = next {
        let page: Value = app
            .client
            .get(&n)
            .header("Authorization", app.auth())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["external_id"].as_str().unwrap().to_string()),
        );
        next = page["next"].as_str().map(str::to_string);
    }
    seen.sort();
    assert_eq!(seen, ["user-1", "user-2", "user-3", "user-4", "user-5"]);
    assert_eq!(
        app.get("/api/v1/calendar/users/?cursor=bogus")
            .await
            .status(),
        400
    );

    // DELETE removes the user; its token then finds nobody.
    let res = app
        .client
        .delete(app.url("/api/v1/calendar/user/"))
        .header("x-recallcalendarauthtoken", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(get_user(&app, &token).await.status(), 401);
}

#[tokio::test]
async fn oauth_urls_carry_the_exact_parameters() {
    let app = spawn_calendar_app().await;
    let url = oauth_url(
        &app,
        "microsoft",
        "user-1",
        Some("https://app.example.com/ok"),
        None,
    )
    .await;
    assert!(url.starts_with(&app.sim.microsoft_auth_url()));
    let q = query_of(&url);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("client_id"), Some(MS_ID));
    assert_eq!(get("response_type"), Some("code"));
    assert_eq!(get("response_mode"), Some("query"));
    assert_eq!(
        get("scope"),
        Some("offline_access openid email https://graph.microsoft.com/Calendars.Read")
    );
    assert_eq!(get("prompt"), None, "no prompt=consent for Microsoft");
    let redirect = app.url("/api/v1/calendar/ms_oauth_callback/");
    assert_eq!(get("redirect_uri"), Some(redirect.as_str()));
    let state: Value = serde_json::from_str(get("state").unwrap()).unwrap();
    assert_eq!(state["ms_oauth_redirect_url"], redirect);
    assert_eq!(state["success_url"], "https://app.example.com/ok");
    assert!(state.get("error_url").is_none());
    assert!(state["recall_calendar_auth_token"].is_string());

    let url = oauth_url(&app, "google", "user-1", None, None).await;
    assert!(url.starts_with(&app.sim.google_auth_url()));
    let q = query_of(&url);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("access_type"), Some("offline"));
    assert_eq!(get("prompt"), Some("consent"));
    assert_eq!(get("include_granted_scopes"), Some("true"));
    assert_eq!(
        get("scope"),
        Some("https://www.googleapis.com/auth/calendar.events.readonly https://www.googleapis.com/auth/userinfo.email openid")
    );
    let state: Value = serde_json::from_str(get("state").unwrap()).unwrap();
    assert_eq!(
        state["google_oauth_redirect_url"],
        app.url("/api/v1/calendar/google_oauth_callback/")
    );

    // Refused: an outside success_url, an unknown platform, a platform without a client.
    let res = app
        .post_json(
            "/api/v1/calendar/oauth_url/",
            &json!({"platform": "google", "user_id": "u", "success_url": "https://evil.example/x"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.unwrap()["success_url"].is_array());
    let res = app
        .post_json(
            "/api/v1/calendar/oauth_url/",
            &json!({"platform": "zoom", "user_id": "u"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let bare = spawn_app().await;
    let res = bare
        .post_json(
            "/api/v1/calendar/oauth_url/",
            &json!({"platform": "google", "user_id": "u"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.unwrap()["platform"].is_array());
}

#[tokio::test]
async fn microsoft_hosted_flow_connects_and_costs_one_token_call() {
    let app = spawn_calendar_app().await;
    ms_account(&app, "bob@contoso.test").await;
    let url = oauth_url(
        &app,
        "microsoft",
        "user-1",
        Some("https://app.example.com/connected?from=convene"),
        Some("https://app.example.com/failed"),
    )
    .await;
    let callback = authorize(&app, &url).await;
    assert!(callback.starts_with(&app.url("/api/v1/calendar/ms_oauth_callback/")));
    app.sim.reset_counts().await;
    let res = app.client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        location(&res).as_deref(),
        Some("https://app.example.com/connected?from=convene")
    );
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    // Provider calls of one connect: the code exchange only (email from the id_token).
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftToken).await, 1);
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftCalendar).await, 0);
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftMe).await, 0);

    let token = calendar_token(&app, "user-1").await;
    let user: Value = get_user(&app, &token).await.json().await.unwrap();
    let conns = user["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["platform"], "microsoft");
    assert_eq!(conns[0]["connected"], true);
    assert_eq!(conns[0]["email"], "bob@contoso.test");
    let conn_id = conns[0]["id"].as_str().unwrap().to_string();

    // Stored sealed, first sync scheduled, webhook written.
    let refresh = calendar_column(&app, &conn_id, "oauth_refresh_token_enc")
        .await
        .unwrap();
    assert!(refresh.starts_with("v1."), "sealed at rest");
    assert!(calendar_column(&app, &conn_id, "next_sync_at")
        .await
        .is_some());
    let hooks = webhooks(&app, "calendar_user.update").await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["data"]["external_id"], "user-1");
    assert_eq!(hooks[0]["data"]["calendar_user_id"], user["id"]);
    assert_eq!(hooks[0]["data"]["platform"], "microsoft");
    assert_eq!(hooks[0]["data"]["connected"], true);

    // The connection hands out the exchanged token without another provider call.
    let t = convene::calendars::tokens::access_token(&app.state, &conn_id)
        .await
        .unwrap();
    assert!(!t.token.is_empty());
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftToken).await, 1);

    // The code is single use: replaying the callback fails cleanly to error_url.
    let res = app.client.get(&callback).send().await.unwrap();
    let loc = location(&res).unwrap();
    assert!(loc.starts_with("https://app.example.com/failed?"));
    assert_eq!(
        param(&loc, "error").as_deref(),
        Some("code_exchange_failed")
    );
}

#[tokio::test]
async fn microsoft_email_falls_back_to_the_calendar_owner() {
    let app = spawn_calendar_app().await;
    ms_account(&app, "carol@contoso.test").await;
    // No openid granted: no id_token, so /me/calendar gives the address; /me is not tried
    // (User.Read was not granted).
    app.sim
        .set_withheld_scopes(Provider::Microsoft, &["openid"])
        .await;
    app.sim.reset_counts().await;
    let res = connect_v1(&app, "microsoft", "user-1", None, None).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Calendar connected"), "{html}");
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftCalendar).await, 1);
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftMe).await, 0);
    let token = calendar_token(&app, "user-1").await;
    let user: Value = get_user(&app, &token).await.json().await.unwrap();
    assert_eq!(user["connections"][0]["email"], "carol@contoso.test");
}

#[tokio::test]
async fn google_hosted_flow_and_its_email_sources() {
    let app = spawn_calendar_app().await;
    google_account(&app, "alice@acme.test").await;
    app.sim.reset_counts().await;
    let res = connect_v1(
        &app,
        "google",
        "user-1",
        Some("https://app.example.com/ok"),
        None,
    )
    .await;
    assert_eq!(
        location(&res).as_deref(),
        Some("https://app.example.com/ok")
    );
    assert_eq!(app.sim.call_count(Endpoint::GoogleToken).await, 1);
    assert_eq!(app.sim.call_count(Endpoint::GoogleUserinfo).await, 0);
    let token = calendar_token(&app, "user-1").await;
    let user: Value = get_user(&app, &token).await.json().await.unwrap();
    assert_eq!(user["connections"][0]["email"], "alice@acme.test");
    assert_eq!(user["connections"][0]["platform"], "google");

    // Without openid: userinfo.
    google_account(&app, "dan@acme.test").await;
    app.sim
        .set_withheld_scopes(Provider::Google, &["openid"])
        .await;
    app.sim.reset_counts().await;
    connect_v1(&app, "google", "user-2", None, None).await;
    assert_eq!(app.sim.call_count(Endpoint::GoogleUserinfo).await, 1);
    let t2 = calendar_token(&app, "user-2").await;
    let user: Value = get_user(&app, &t2).await.json().await.unwrap();
    assert_eq!(user["connections"][0]["email"], "dan@acme.test");

    // Without openid and userinfo.email: the events.list summary.
    google_account(&app, "erin@acme.test").await;
    app.sim
        .set_withheld_scopes(
            Provider::Google,
            &["openid", "https://www.googleapis.com/auth/userinfo.email"],
        )
        .await;
    app.sim.reset_counts().await;
    connect_v1(&app, "google", "user-3", None, None).await;
    assert_eq!(app.sim.call_count(Endpoint::GoogleUserinfo).await, 0);
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, 1);
    let t3 = calendar_token(&app, "user-3").await;
    let user: Value = get_user(&app, &t3).await.json().await.unwrap();
    assert_eq!(user["connections"][0]["email"], "erin@acme.test");

    // Calendar access withheld: refused with a clear code.
    google_account(&app, "fay@acme.test").await;
    app.sim
        .set_withheld_scopes(
            Provider::Google,
            &["https://www.googleapis.com/auth/calendar.events.readonly"],
        )
        .await;
    let res = connect_v1(
        &app,
        "google",
        "user-4",
        None,
        Some("https://app.example.com/e"),
    )
    .await;
    assert_eq!(
        param(&location(&res).unwrap(), "error").as_deref(),
        Some("insufficient_scope")
    );
}

#[tokio::test]
async fn reconnecting_replaces_the_connection_and_disconnect_drops_it() {
    let app = spawn_calendar_app().await;
    let bob = ms_account(&app, "bob@contoso.test").await;
    connect_v1(&app, "microsoft", "user-1", None, None).await;
    let token = calendar_token(&app, "user-1").await;
    let first: Value = get_user(&app, &token).await.json().await.unwrap();
    let first_id = first["connections"][0]["id"].clone();

    // Same account again: same connection, fresh credentials.
    app.sim
        .set_authorize_account(Provider::Microsoft, Some(&bob))
        .await;
    connect_v1(&app, "microsoft", "user-1", None, None).await;
    let again: Value = get_user(&app, &token).await.json().await.unwrap();
    assert_eq!(again["connections"].as_array().unwrap().len(), 1);
    assert_eq!(again["connections"][0]["id"], first_id);

    // Another account on the same platform replaces it; Google sits beside it.
    let other = ms_account(&app, "other@contoso.test").await;
    app.sim
        .set_authorize_account(Provider::Microsoft, Some(&other))
        .await;
    connect_v1(&app, "microsoft", "user-1", None, None).await;
    google_account(&app, "alice@acme.test").await;
    connect_v1(&app, "google", "user-1", None, None).await;
    let user: Value = get_user(&app, &token).await.json().await.unwrap();
    let conns = user["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2);
    let ms = conns.iter().find(|c| c["platform"] == "microsoft").unwrap();
    assert_eq!(ms["email"], "other@contoso.test");
    assert_ne!(ms["id"], first_id);

    let res = app
        .client
        .post(app.url("/api/v1/calendar/user/disconnect/"))
        .header("x-recallcalendarauthtoken", &token)
        .json(&json!({"platform": "microsoft"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let user: Value = res.json().await.unwrap();
    let conns = user["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["platform"], "google");
    let last = webhooks(&app, "calendar_user.update").await.pop().unwrap();
    assert_eq!(last["data"]["platform"], "microsoft");
    assert_eq!(last["data"]["connected"], false);
    assert_eq!(last["data"]["connection_id"], Value::Null);
}

#[tokio::test]
async fn provider_errors_map_to_clear_codes() {
    let app = spawn_calendar_app().await;
    ms_account(&app, "bob@contoso.test").await;
    app.sim
        .deny_next_authorize(Provider::Microsoft, "consent_required", None)
        .await;
    let res = connect_v1(
        &app,
        "microsoft",
        "user-1",
        Some("https://app.example.com/ok"),
        Some("https://app.example.com/failed?keep=1"),
    )
    .await;
    assert_eq!(res.status(), 302);
    let loc = location(&res).unwrap();
    assert!(loc.starts_with("https://app.example.com/failed?"));
    assert_eq!(param(&loc, "keep").as_deref(), Some("1"));
    assert_eq!(
        param(&loc, "error").as_deref(),
        Some("admin_consent_required")
    );
    assert!(param(&loc, "error_description")
        .unwrap()
        .contains("administrator"));

    app.sim
        .deny_next_authorize(Provider::Microsoft, "access_denied", None)
        .await;
    let res = connect_v1(
        &app,
        "microsoft",
        "user-1",
        None,
        Some("https://app.example.com/f"),
    )
    .await;
    assert_eq!(
        param(&location(&res).unwrap(), "error").as_deref(),
        Some("access_denied")
    );

    // No error_url: the hosted page explains what to do.
    app.sim
        .deny_next_authorize(Provider::Microsoft, "consent_required", None)
        .await;
    let res = connect_v1(&app, "microsoft", "user-1", None, None).await;
    assert_eq!(res.status(), 400);
    assert!(location(&res).is_none());
    let html = res.text().await.unwrap();
    assert!(
        html.contains("administrator must approve this app"),
        "{html}"
    );

    // Nothing was connected along the way.
    let token = calendar_token(&app, "user-1").await;
    let user: Value = get_user(&app, &token).await.json().await.unwrap();
    assert_eq!(user["connections"], json!([]));
    assert_eq!(app.sim.code_exchange_count(Provider::Microsoft).await, 0);
}

/// GETs the Microsoft callback as the provider's redirect would, with a hand-made `state`.
async fn ms_callback(app: &TestApp, state: &Value, code: &str) -> reqwest::Response {
    let mut url = Url::parse(&app.url("/api/v1/calendar/ms_oauth_callback/")).unwrap();
    url.query_pairs_mut()
        .append_pair("code", code)
        .append_pair("state", &state.to_string());
    app.client.get(url.to_string()).send().await.unwrap()
}

#[tokio::test]
async fn redirect_tricks_are_refused_without_a_redirect() {
    let app = spawn_calendar_app().await;
    let token = calendar_token(&app, "user-1").await;
    let redirect = app.url("/api/v1/calendar/ms_oauth_callback/");
    for trick in [
        "//evil.example.com/x",
        "/\\evil.example.com",
        "https:evil.example.com",
        "https:/evil.example.com",
        "https://app.example.com@evil.example.com/",
        "https://user:pw@app.example.com/",
        "https://evil.example.com\t.app.example.com/",
        "https://app.example.com\n.evil.example.com/",
        "https://app.example.com.evil.example.com/",
        "HTTPS://EVIL.example.com/",
        "JaVaScRiPt:alert(1)",
        "https:\\\\evil.example.com",
        "http://app.example.com/",
        "https://evil.example.com/https://app.example.com/",
    ] {
        for field in ["success_url", "error_url"] {
            let state = json!({
                "recall_calendar_auth_token": token,
                "ms_oauth_redirect_url": redirect,
                field: trick,
            });
            let res = ms_callback(&app, &state, "c").await;
            assert_eq!(res.status(), 400, "{field}={trick:?}");
            assert!(
                location(&res).is_none(),
                "{field}={trick:?} must not redirect"
            );
            let html = res.text().await.unwrap();
            assert!(html.contains("redirect_not_allowed"), "{trick:?}: {html}");
        }
    }
    // Mixed-case scheme and host on an allowed origin are the same origin: fine.
    let state = json!({
        "recall_calendar_auth_token": token,
        "ms_oauth_redirect_url": redirect,
        "error_url": "HTTPS://App.Example.com/err",
    });
    let res = ms_callback(&app, &state, "bad-code").await;
    assert_eq!(res.status(), 302);
    assert!(location(&res)
        .unwrap()
        .starts_with("https://app.example.com/err?"));
}

#[tokio::test]
async fn bad_states_are_refused() {
    let app = spawn_calendar_app().await;
    ms_account(&app, "bob@contoso.test").await;
    let token = calendar_token(&app, "user-1").await;
    let redirect = app.url("/api/v1/calendar/ms_oauth_callback/");
    let error_url = "https://app.example.com/failed";
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"ms_oauth_redirect_url": redirect, "error_url": error_url}),
            "invalid_state",
        ),
        (
            json!({"recall_calendar_auth_token": "forged.token", "ms_oauth_redirect_url": redirect, "error_url": error_url}),
            "invalid_auth_token",
        ),
        (
            json!({"recall_calendar_auth_token": token, "error_url": error_url}),
            "invalid_state",
        ),
        (
            json!({"recall_calendar_auth_token": token, "ms_oauth_redirect_url": "https://evil.example.com/cb", "error_url": error_url}),
            "redirect_uri_mismatch",
        ),
        (
            json!({"recall_calendar_auth_token": token, "ms_oauth_redirect_url": app.url("/api/v1/calendar/google_oauth_callback/"), "error_url": error_url}),
            "redirect_uri_mismatch",
        ),
    ];
    for (state, code) in cases {
        let res = ms_callback(&app, &state, "c").await;
        let loc = location(&res).unwrap_or_else(|| panic!("{state}: no redirect"));
        assert_eq!(param(&loc, "error").as_deref(), Some(code), "{state}");
    }
    // Not JSON at all, or no state: an error page (no error_url can be trusted).
    for url in [
        app.url("/api/v1/calendar/ms_oauth_callback/?code=c&state=not-json"),
        app.url("/api/v1/calendar/ms_oauth_callback/?code=c"),
    ] {
        let res = app.client.get(url).send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert!(location(&res).is_none());
    }
    // An expired token (the flow took longer than the token's life).
    let url = oauth_url(&app, "microsoft", "user-1", None, Some(error_url)).await;
    let cb = authorize(&app, &url).await;
    app.state.clock.advance(Duration::from_secs(86_400 + 5));
    let res = app.client.get(cb).send().await.unwrap();
    assert_eq!(
        param(&location(&res).unwrap(), "error").as_deref(),
        Some("invalid_auth_token")
    );
    assert_eq!(app.sim.code_exchange_count(Provider::Microsoft).await, 0);
}

#[tokio::test]
async fn a_forwarded_production_redirect_works_without_cookies() {
    let app = spawn_calendar_app().await;
    ms_account(&app, "bob@contoso.test").await;
    // The app authorizes with its own domain as redirect_uri; that page forwards every
    // query parameter to Convene (a fresh client: no cookies of any kind).
    let token = calendar_token(&app, "user-1").await;
    let operator_cb = format!("{APP_ORIGIN}/api/ms_oauth_callback");
    let state = json!({
        "recall_calendar_auth_token": token,
        "ms_oauth_redirect_url": operator_cb,
        "success_url": "https://app.example.com/done",
    });
    let mut authz = Url::parse(&app.sim.microsoft_auth_url()).unwrap();
    authz
        .query_pairs_mut()
        .append_pair("client_id", MS_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &operator_cb)
        .append_pair("response_mode", "query")
        .append_pair(
            "scope",
            "offline_access openid email https://graph.microsoft.com/Calendars.Read",
        )
        .append_pair("state", &state.to_string());
    let at_operator = authorize(&app, authz.as_str()).await;
    let forwarded = format!(
        "{}?{}",
        app.url("/api/v1/calendar/ms_oauth_callback/"),
        Url::parse(&at_operator).unwrap().query().unwrap()
    );
    let fresh = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = fresh.get(forwarded).send().await.unwrap();
    assert_eq!(
        location(&res).as_deref(),
        Some("https://app.example.com/done")
    );
    let user: Value = get_user(&app, &token).await.json().await.unwrap();
    assert_eq!(user["connections"][0]["connected"], true);
}

#[tokio::test]
async fn a_revoked_connection_is_reported_disconnected() {
    let app = spawn_calendar_app().await;
    let bob = ms_account(&app, "bob@contoso.test").await;
    connect_v1(&app, "microsoft", "user-1", None, None).await;
    app.sim.revoke_all_tokens(&bob).await;
    // The daily liveness refresh notices it.
    app.state.clock.advance(Duration::from_secs(25 * 3600));
    let report = convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    assert_eq!(report.disconnected, 1);
    let token = calendar_token(&app, "user-1").await;
    let user: Value = get_user(&app, &token).await.json().await.unwrap();
    assert_eq!(user["connections"][0]["connected"], false);
    let last = webhooks(&app, "calendar_user.update").await.pop().unwrap();
    assert_eq!(last["data"]["connected"], false);
    assert_eq!(last["data"]["external_id"], "user-1");
    let id = user["connections"][0]["id"].as_str().unwrap();
    let code: Option<String> = {
        let id = id.to_string();
        app.state
            .store
            .read(move |c| {
                Ok::<_, convene::store::StoreError>(
                    convene::store::calendars::disconnect_reason(c, &id)?.map(|r| r.0),
                )
            })
            .await
            .unwrap()
    };
    assert_eq!(code.as_deref(), Some("AADSTS70008"));

    // Connecting again brings it back.
    connect_v1(&app, "microsoft", "user-1", None, None).await;
    let user: Value = get_user(&app, &token).await.json().await.unwrap();
    assert_eq!(user["connections"][0]["connected"], true);
}
