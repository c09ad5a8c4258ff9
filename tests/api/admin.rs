//! Admin pages over HTTP with a cookie-aware client: setup, login/logout, CSRF, rate limit,
//! write-only secrets, API keys, redirect origins, security headers, static assets.

use std::time::Duration;

use reqwest::{Client, Response};

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};

pub const PASSWORD: &str = "correct horse battery";

/// A fresh browser-like client: its own cookie jar, no redirect following.
pub fn new_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `value` of the form input named `name` (first one on the page).
pub fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {name} in page:\n{html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// GETs a path with the given client (its cookies, no redirects followed).
async fn get_page(client: &Client, app: &TestApp, path: &str) -> Response {
    client.get(app.url(path)).send().await.unwrap()
}

async fn text(client: &Client, url: String) -> (u16, String) {
    let res = client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn password_hash(app: &TestApp) -> Option<String> {
    app.state
        .store
        .read(|c| convene::store::settings::get(c, convene::store::settings::ADMIN_PASSWORD_HASH))
        .await
        .unwrap()
}

/// Sets the admin password through the setup page.
pub async fn set_up(app: &TestApp, client: &Client) {
    let token = convene::admin::issue_setup_token(&app.state).await.unwrap();
    let (status, page) = text(client, app.url(&format!("/admin/setup/?token={token}"))).await;
    assert_eq!(status, 200, "{page}");
    let res = client
        .post(app.url("/admin/setup/"))
        .form(&[
            ("csrf_token", input_value(&page, "csrf_token").as_str()),
            ("token", token.as_str()),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/login/");
}

/// Submits the login form with `password`.
pub async fn try_login(app: &TestApp, client: &Client, password: &str) -> Response {
    let (_, page) = text(client, app.url("/admin/login/")).await;
    let csrf = input_value(&page, "csrf_token");
    client
        .post(app.url("/admin/login/"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("password", password),
            ("next", "/admin/"),
        ])
        .send()
        .await
        .unwrap()
}

/// The text of an admin page fetched by `client`.
pub async fn page(app: &TestApp, client: &Client, path: &str) -> String {
    client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Setup + login; returns the logged-in client.
pub async fn logged_in(app: &TestApp) -> Client {
    let client = new_client();
    set_up(app, &client).await;
    let res = try_login(app, &client, PASSWORD).await;
    assert_eq!(res.status(), 303);
    client
}

/// The CSRF token of the logged-in session, read from a page.
/// The platform OAuth client as stored, read straight from the store.
async fn platform_client(
    app: &TestApp,
    platform: &'static str,
) -> Option<convene::store::settings::PlatformClient> {
    app.state
        .store
        .read(move |c| convene::store::settings::get_platform_client(c, platform))
        .await
        .unwrap()
}

/// Submits the platform form of the admin page.
async fn save_platform(
    app: &TestApp,
    client: &Client,
    platform: &str,
    csrf: &str,
    client_id: &str,
    client_secret: &str,
) -> Response {
    client
        .post(app.url(&format!("/admin/platforms/{platform}/")))
        .form(&[
            ("csrf_token", csrf),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ])
        .send()
        .await
        .unwrap()
}

async fn csrf(app: &TestApp, client: &Client) -> String {
    let (status, page) = text(client, app.url("/admin/")).await;
    assert_eq!(status, 200);
    input_value(&page, "csrf_token")
}

#[tokio::test]
async fn setup_link_sets_the_password_once() {
    let app = spawn_app().await;
    let client = new_client();
    let token = convene::admin::issue_setup_token(&app.state).await.unwrap();

    // A wrong token gets no form.
    let (status, page) = text(&client, app.url("/admin/setup/?token=nope")).await;
    assert_eq!(status, 403);
    assert!(page.contains("not valid"));
    assert!(!page.contains("name=\"password\""));

    let (status, page) = text(&client, app.url(&format!("/admin/setup/?token={token}"))).await;
    assert_eq!(status, 200);
    let csrf = input_value(&page, "csrf_token");
    let post = |token: String, password: &'static str, confirm: &'static str| {
        let csrf = csrf.clone();
        let client = client.clone();
        let url = app.url("/admin/setup/");
        async move {
            client
                .post(url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("token", token.as_str()),
                    ("password", password),
                    ("confirm", confirm),
                ])
                .send()
                .await
                .unwrap()
        }
    };

    // A wrong token in the form is refused too, and nothing is set.
    let res = post("forged".into(), PASSWORD, PASSWORD).await;
    assert_eq!(res.status(), 403);
    assert!(password_hash(&app).await.is_none());

    // Password rules and confirmation.
    let res = post(token.clone(), "short", "short").await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("at least 10 characters"));
    let res = post(token.clone(), PASSWORD, "correct horse battery!").await;
    assert_eq!(res.status(), 400);
    assert!(password_hash(&app).await.is_none());

    let res = post(token.clone(), PASSWORD, PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/login/");
    let phc = password_hash(&app).await.expect("password stored");
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(!phc.contains(PASSWORD));

    // The token is spent: neither the page nor a second submit works.
    let (status, _) = text(&client, app.url(&format!("/admin/setup/?token={token}"))).await;
    assert_eq!(status, 403);
    let res = post(token.clone(), "another password!", "another password!").await;
    assert_eq!(res.status(), 403);
    assert_eq!(password_hash(&app).await.as_deref(), Some(phc.as_str()));

    // The flash from the setup shows once on the login page.
    let (_, login) = text(&client, app.url("/admin/login/")).await;
    assert!(login.contains("The admin password is set"));
    let (_, again) = text(&client, app.url("/admin/login/")).await;
    assert!(!again.contains("The admin password is set"));
}

#[tokio::test]
async fn login_and_logout() {
    let app = spawn_app().await;
    let client = new_client();

    // Before setup the login page points to the setup link.
    let (_, page) = text(&client, app.url("/admin/login/")).await;
    assert!(page.contains("setup link"));

    set_up(&app, &client).await;

    // Pages need a login and come back to where the admin was going.
    let res = get_page(&client, &app, "/admin/platforms/").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/login/?next=%2Fadmin%2Fplatforms%2F");

    let res = try_login(&app, &client, "wrong password").await;
    assert_eq!(res.status(), 401);
    assert!(res
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap().starts_with("convene_admin=")));
    assert!(res.text().await.unwrap().contains("not right"));
    let res = get_page(&client, &app, "/admin/").await;
    assert_eq!(res.status(), 303);

    let res = try_login(&app, &client, PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("convene_admin="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/admin"), "{cookie}");
    assert!(cookie.contains("Max-Age=43200"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain-http public URL: {cookie}"
    );
    let session_id = cookie
        .trim_start_matches("convene_admin=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // Stored only as a hash.
    let stored: Vec<String> = app
        .state
        .store
        .read(|c| {
            let mut s = c.prepare("SELECT id_hash FROM admin_sessions")?;
            let rows = s
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok::<_, convene::store::StoreError>(rows)
        })
        .await
        .unwrap();
    assert_eq!(stored, vec![convene::crypto::sha256_hex(&session_id)]);

    let (status, page) = text(&client, app.url("/admin/")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Log out"));
    // Logged in, the login page sends the admin on.
    let res = get_page(&client, &app, "/admin/login/").await;
    assert_eq!(res.status(), 303);

    let token = input_value(&page, "csrf_token");
    let res = client
        .post(app.url("/admin/logout/"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/login/");
    let res = get_page(&client, &app, "/admin/").await;
    assert_eq!(res.status(), 303);

    // The old cookie is dead on the server too, not only removed from the jar.
    let res = new_client()
        .get(app.url("/admin/"))
        .header("cookie", format!("convene_admin={session_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn sessions_expire_after_twelve_hours() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    app.state.clock.advance(Duration::from_secs(11 * 3600));
    assert_eq!(text(&client, app.url("/admin/")).await.0, 200);
    app.state.clock.advance(Duration::from_secs(3600 + 60));
    let res = get_page(&client, &app, "/admin/").await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/admin/login/"));
}

#[tokio::test]
async fn session_cookie_is_secure_behind_https() {
    let app = spawn_app_with(Options {
        env: vec![("CONVENE_PUBLIC_URL".into(), "https://convene.test".into())],
        ..Default::default()
    })
    .await;
    let client = new_client();
    set_up(&app, &client).await;
    // The pre-session cookie is Secure as well; read it from a fresh browser's first visit
    // and send it back by hand, as through a TLS proxy.
    let res = get_page(&new_client(), &app, "/admin/login/").await;
    let pre = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("convene_pre="))
        .expect("pre-session cookie");
    assert!(pre.contains("Secure"), "{pre}");
    let pre_value = pre.split(';').next().unwrap().to_string();
    let page = res.text().await.unwrap();
    let res = new_client()
        .post(app.url("/admin/login/"))
        .header("cookie", pre_value)
        .form(&[
            ("csrf_token", input_value(&page, "csrf_token").as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("convene_admin="))
        .unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
}

async fn key_count(app: &TestApp) -> i64 {
    app.state
        .store
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))
                .map_err(convene::store::StoreError::from)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let keys_before = key_count(&app).await;

    for token in [None, Some("wrong"), Some("")] {
        let mut form = vec![("name", "sneaky")];
        if let Some(t) = token {
            form.push(("csrf_token", t));
        }
        let res = client
            .post(app.url("/admin/api-keys/"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "token {token:?}");
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("did not come from this site"));

        let mut form = vec![("origin", "https://evil.example")];
        if let Some(t) = token {
            form.push(("csrf_token", t));
        }
        let res = client
            .post(app.url("/admin/redirect-origins/"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);

        let res = client
            .post(app.url("/admin/platforms/google/"))
            .form(&[
                ("csrf_token", token.unwrap_or_default()),
                ("client_id", "x"),
                ("client_secret", "y"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);

        let res = client
            .post(app.url("/admin/logout/"))
            .form(&[("csrf_token", token.unwrap_or_default())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
    // Nothing changed, and the session survived the forged logouts.
    assert_eq!(key_count(&app).await, keys_before);
    assert!(app
        .state
        .store
        .read(convene::store::settings::list_redirect_origins)
        .await
        .unwrap()
        .is_empty());
    assert!(platform_client(&app, "google").await.is_none());
    assert_eq!(text(&client, app.url("/admin/")).await.0, 200);

    // The login form has its own token: a bare POST is refused even with the right password.
    let res = new_client()
        .post(app.url("/admin/login/"))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A token from another browser does not fit this browser's cookie.
    let (_, their_page) = text(&new_client(), app.url("/admin/login/")).await;
    let mine = new_client();
    let _ = text(&mine, app.url("/admin/login/")).await;
    let res = mine
        .post(app.url("/admin/login/"))
        .form(&[
            (
                "csrf_token",
                input_value(&their_page, "csrf_token").as_str(),
            ),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn login_attempts_are_rate_limited() {
    let app = spawn_app().await;
    let client = new_client();
    set_up(&app, &client).await;
    for i in 0..5 {
        let res = try_login(&app, &client, "wrong password").await;
        assert_eq!(res.status(), 401, "attempt {}", i + 1);
    }
    // The sixth attempt is refused even with the right password.
    let res = try_login(&app, &client, PASSWORD).await;
    assert_eq!(res.status(), 429);
    let body = res.text().await.unwrap();
    assert!(body.contains("Too many failed login attempts"), "{body}");
    assert_eq!(get_page(&client, &app, "/admin/").await.status(), 303);

    // Another client address (as told by a local reverse proxy) is not locked out.
    let other = new_client();
    let (_, page) = text(&other, app.url("/admin/login/")).await;
    let res = other
        .post(app.url("/admin/login/"))
        .header("x-forwarded-for", "198.51.100.7, 203.0.113.9")
        .form(&[
            ("csrf_token", input_value(&page, "csrf_token").as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // The window passes.
    app.state.clock.advance(Duration::from_secs(16 * 60));
    let res = try_login(&app, &client, PASSWORD).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn platform_secrets_are_never_shown_again() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let (_, page) = text(&client, app.url("/admin/platforms/")).await;
    // The exact redirect URIs, from the public URL.
    assert!(page.contains(&format!(
        "{}/api/v1/calendar/google_oauth_callback/",
        app.address
    )));
    assert!(page.contains(&format!(
        "{}/api/v1/calendar/ms_oauth_callback/",
        app.address
    )));
    assert!(page.contains("trailing slash"));

    let csrf = input_value(&page, "csrf_token");
    let secret = "GOCSPX-very-secret-value-WXYZ";
    let res = save_platform(&app, &client, "google", &csrf, "1234.apps.example", secret).await;
    assert_eq!(res.status(), 303);
    assert!(!format!("{:?}", res.headers()).contains(secret));
    let (_, page) = text(&client, app.url("/admin/platforms/")).await;
    assert!(page.contains("1234.apps.example"));
    assert!(page.contains("ends in …WXYZ"));
    assert!(page.contains("the OAuth client is saved"));
    assert!(!page.contains(secret));
    assert!(!page.contains("very-secret"));

    // Stored sealed, and usable by the server.
    let stored = platform_client(&app, "google").await.unwrap();
    assert!(!stored.client_secret_enc.contains(secret));
    assert_eq!(
        app.state.keys.decrypt(&stored.client_secret_enc).unwrap(),
        secret
    );

    // A blank secret keeps the saved one; a new client id is taken.
    save_platform(&app, &client, "google", &csrf, "5678.apps.example", "").await;
    let stored = platform_client(&app, "google").await.unwrap();
    assert_eq!(stored.client_id, "5678.apps.example");
    assert_eq!(
        app.state.keys.decrypt(&stored.client_secret_enc).unwrap(),
        secret
    );

    // A blank secret with nothing saved is an error; so is a pasted value with spaces.
    save_platform(&app, &client, "microsoft", &csrf, "ms-app", "").await;
    let (_, page) = text(&client, app.url("/admin/platforms/")).await;
    assert!(page.contains("Enter the client secret too"));
    let ms = platform_client(&app, "microsoft").await;
    assert!(ms.is_none());

    // Short secrets show only "set".
    save_platform(&app, &client, "microsoft", &csrf, "msid-short", "short1").await;
    let (_, page) = text(&client, app.url("/admin/platforms/")).await;
    assert!(page.contains("msid-short"));
    assert!(!page.contains("short1"));
    assert!(!page.contains("…ort1"));
    // Zoom apps live on the Zoom page only: no second form here.
    assert!(page.contains("href=\"/admin/zoom/\""));
    assert!(!page.contains("action=\"/admin/platforms/zoom/\""));
    for gone in ["zoom", "nonsense"] {
        let res = client
            .post(app.url(&format!("/admin/platforms/{gone}/")))
            .form(&[("csrf_token", csrf.as_str()), ("client_id", "a")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    }
    let res = client
        .post(app.url("/admin/platforms/nonsense/"))
        .form(&[("csrf_token", csrf.as_str()), ("client_id", "a")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn api_key_created_in_the_page_works_until_revoked() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let token = csrf(&app, &client).await;
    let res = client
        .post(app.url("/admin/api-keys/"))
        .form(&[("csrf_token", token.as_str()), ("name", "page key")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let start = page.find("id=\"new-key-value\">").unwrap() + "id=\"new-key-value\">".len();
    let key = page[start..start + page[start..].find('<').unwrap()].to_string();
    assert!(key.starts_with("cvn_"), "{key}");

    let api = |key: String| {
        let url = app.url("/api/v1/webhook-secret/");
        async move {
            new_client()
                .get(url)
                .header("Authorization", format!("Token {key}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(api(key.clone()).await, 200);

    // Shown once: the list shows the name and last 4 characters only.
    let (_, list) = text(&client, app.url("/admin/api-keys/")).await;
    assert!(list.contains("page key"));
    assert!(list.contains(&format!("…{}", &key[key.len() - 4..])));
    assert!(!list.contains(&key));

    // Revoke it from the page.
    let id: String = app
        .state
        .store
        .read(|c| {
            c.query_row("SELECT id FROM api_keys WHERE name = 'page key'", [], |r| {
                r.get(0)
            })
            .map_err(convene::store::StoreError::from)
        })
        .await
        .unwrap();
    let res = client
        .post(app.url(&format!("/admin/api-keys/{id}/revoke/")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(api(key).await, 401);
    // The key the tests use is untouched.
    assert_eq!(api(app.api_key.clone()).await, 200);

    // An empty name creates nothing.
    let before = key_count(&app).await;
    client
        .post(app.url("/admin/api-keys/"))
        .form(&[("csrf_token", token.as_str()), ("name", "   ")])
        .send()
        .await
        .unwrap();
    assert_eq!(key_count(&app).await, before);
}

#[tokio::test]
async fn webhook_secret_is_revealed_only_on_request() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let secret: serde_json::Value = app
        .get("/api/v1/webhook-secret/")
        .await
        .json()
        .await
        .unwrap();
    let secret = secret["secret"].as_str().unwrap().to_string();
    let (_, page) = text(&client, app.url("/admin/api-keys/")).await;
    assert!(!page.contains(&secret));
    assert!(page.contains("Reveal secret"));
    let res = client
        .post(app.url("/admin/api-keys/webhook-secret/"))
        .form(&[("csrf_token", input_value(&page, "csrf_token").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains(&secret));
    // GET does not reveal it.
    let res = get_page(&client, &app, "/admin/api-keys/webhook-secret/").await;
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn redirect_origins_are_validated_added_and_removed() {
    let app = spawn_app_with(Options {
        env: vec![(
            "CONVENE_REDIRECT_ALLOWLIST".into(),
            "https://configured.example".into(),
        )],
        ..Default::default()
    })
    .await;
    let client = logged_in(&app).await;
    let token = csrf(&app, &client).await;
    let add = |origin: &'static str| {
        let client = client.clone();
        let token = token.clone();
        let url = app.url("/admin/redirect-origins/");
        async move {
            client
                .post(url)
                .form(&[("csrf_token", token.as_str()), ("origin", origin)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(add("HTTPS://App.Example.com:443/").await.status(), 303);
    for bad in [
        "https://a.example/path",
        "javascript:alert(1)",
        "//evil.example",
        "ftp://x.example",
    ] {
        add(bad).await;
    }
    let saved = app
        .state
        .store
        .read(convene::store::settings::list_redirect_origins)
        .await
        .unwrap();
    assert_eq!(saved, vec!["https://app.example.com".to_string()]);
    assert!(app
        .state
        .allow_list()
        .await
        .unwrap()
        .check("https://app.example.com/done")
        .is_some());

    let (_, page) = text(&client, app.url("/admin/redirect-origins/")).await;
    assert!(page.contains("https://app.example.com"));
    assert!(page.contains("https://configured.example"));
    assert!(page.contains(&app.address));

    let res = client
        .post(app.url("/admin/redirect-origins/remove/"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("origin", "https://app.example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(app
        .state
        .allow_list()
        .await
        .unwrap()
        .check("https://app.example.com/done")
        .is_none());
    let (_, page) = text(&client, app.url("/admin/redirect-origins/")).await;
    assert!(page.contains("is no longer allowed"));
}

#[tokio::test]
async fn pages_carry_security_headers_and_every_nav_link_works() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let (_, overview) = text(&client, app.url("/admin/")).await;
    let mut paths = vec!["/admin/login/".to_string()];
    for item in convene::admin::NAV {
        assert!(
            overview.contains(&format!("href=\"{}\"", item.path)),
            "{}",
            item.path
        );
        paths.push(item.path.to_string());
    }
    for path in &paths {
        // The login page answers 303 when logged in; check it logged out below.
        let res = get_page(&client, &app, path).await;
        if path != "/admin/login/" {
            assert_eq!(res.status(), 200, "{path}");
        }
        let h = res.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
    }
    let res = get_page(&new_client(), &app, "/admin/login/").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    // Unknown admin paths get an HTML 404 page.
    let res = get_page(&client, &app, "/admin/nothing-here/").await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("does not exist"));
}

#[tokio::test]
async fn overview_counts_calendars_and_shows_job_health() {
    let app = spawn_app().await;
    let client = logged_in(&app).await;
    let now = app.state.now_ms();
    app.state
        .store
        .write(move |tx| {
            tx.execute(
                "INSERT INTO calendar_users (id, external_id, created_at, updated_at)
                 VALUES ('u1', 'user-1', ?1, ?1)",
                [now],
            )?;
            for (id, status) in [("c1", "connected"), ("c2", "connected"), ("c3", "disconnected")] {
                tx.execute(
                    "INSERT INTO calendars (id, kind, calendar_user_id, platform, status, created_at, updated_at)
                     VALUES (?1, 'v2', NULL, 'google_calendar', ?2, ?3, ?3)",
                    rusqlite::params![id, status, now],
                )?;
            }
            tx.execute(
                "INSERT INTO webhook_messages (id, event_type, ordering_key, payload, created_at)
                 VALUES ('msg_1', 'calendar.update', 'c1', '{}', ?1)",
                [now],
            )?;
            tx.execute(
                "INSERT INTO webhook_deliveries (message_id, target_url, target_key, ordering_key,
                    status, attempts, next_attempt_at, last_attempt_at, last_status_code,
                    created_at, updated_at)
                 VALUES ('msg_1', 'https://hooks.example/in', 'url:https://hooks.example/in',
                    'c1', 'pending', 2, ?1, ?1, 503, ?1, ?1)",
                [now],
            )?;
            tx.execute(
                "INSERT INTO zoom_oauth_apps (id, kind, client_id, client_secret_enc, created_at, updated_at)
                 VALUES ('z1', 'user_level', 'zc', 'x', ?1, ?1)",
                [now],
            )?;
            tx.execute(
                "INSERT INTO zoom_oauth_credentials (id, oauth_app_id, user_id, account_id,
                    conflict_key, status, access_token_enc, access_token_expires_at,
                    refresh_token_enc, last_refresh_at, created_at, updated_at)
                 VALUES ('zc1', 'z1', 'u', 'a', 'user:u', 'unhealthy', 'x', ?1, 'x', ?1, ?1, ?1)",
                [now],
            )?;
            Ok::<_, convene::store::StoreError>(())
        })
        .await
        .unwrap();
    let prune = convene::jobs::all()
        .into_iter()
        .find(|s| s.name == "prune_admin_sessions")
        .unwrap();
    convene::jobs::run_sweep(&app.state, &prune).await;

    let (_, page) = text(&client, app.url("/admin/")).await;
    let count = |label: &str| {
        let at = page
            .find(&format!("<dt>{label}</dt>"))
            .unwrap_or_else(|| panic!("{label}"));
        let dd = page[..at].rfind("<dd>").unwrap() + 4;
        page[dd..dd + page[dd..].find('<').unwrap()].to_string()
    };
    assert_eq!(count("connected"), "2");
    assert_eq!(count("disconnected"), "1");
    assert_eq!(count("connecting"), "0");
    assert_eq!(count("calendar users"), "1");
    assert_eq!(count("healthy"), "0");
    assert_eq!(count("unhealthy"), "1");
    assert_eq!(count("OAuth apps"), "1");
    assert!(page.contains("https://hooks.example/in"));
    assert!(page.contains("HTTP 503"));
    assert!(page.contains("retrying"));
    assert!(page.contains("prune_admin_sessions"));
    assert!(page.contains("<td>ok</td>"));
}

#[tokio::test]
async fn static_assets_are_cached_by_version() {
    let app = spawn_app().await;
    let css_url = convene::admin::asset_url("admin.css");
    assert!(css_url.starts_with("/static/admin.css?v="), "{css_url}");
    let client = new_client();
    let res = get_page(&client, &app, &css_url).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age=31536000"));
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert!(res.text().await.unwrap().contains("--accent"));

    // Without the current version: revalidate, and a matching ETag gets a 304.
    let res = get_page(&client, &app, "/static/admin.css").await;
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let res = client
        .get(app.url("/static/admin.css"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    let res = get_page(&client, &app, "/static/admin.css?v=stale").await;
    assert_eq!(res.headers()["cache-control"], "no-cache");

    let js = get_page(&client, &app, &convene::admin::asset_url("admin.js")).await;
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let res = get_page(&client, &app, "/static/nope.css").await;
    assert_eq!(res.status(), 404);
    let res = get_page(&client, &app, "/static/../Cargo.toml").await;
    assert_eq!(res.status(), 404);

    // Pages link the versioned URLs.
    let (_, login) = text(&client, app.url("/admin/login/")).await;
    assert!(login.contains(&css_url));
}
