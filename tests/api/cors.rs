//! Browser access (CORS) on the calendar-token endpoints, and only there.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};

const PAGE: &str = "http://127.0.0.1:3999";

/// The calendar-token endpoints (the V1 demo's browser calls).
const TOKEN_PATHS: &[(&str, &str)] = &[
    ("GET", "/api/v1/calendar/user/"),
    ("PUT", "/api/v1/calendar/user/"),
    ("PATCH", "/api/v1/calendar/user/"),
    ("DELETE", "/api/v1/calendar/user/"),
    ("POST", "/api/v1/calendar/user/disconnect/"),
    ("GET", "/api/v1/calendar/meetings/"),
    ("POST", "/api/v1/calendar/meetings/refresh/"),
    (
        "GET",
        "/api/v1/calendar/meetings/00000000-0000-4000-8000-000000000000/",
    ),
];

/// API-key endpoints: never CORS.
const KEY_PATHS: &[(&str, &str)] = &[
    ("GET", "/api/v1/calendar/users/"),
    ("POST", "/api/v1/calendar/authenticate/"),
    ("GET", "/api/v2/calendars/"),
    ("GET", "/api/v2/calendar-events/"),
    ("GET", "/api/v2/zoom-oauth-apps/"),
    ("GET", "/api/v1/webhook-secret/"),
];

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "x-recallcalendarauthtoken,content-type",
        )
        .send()
        .await
        .unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

async fn token(app: &TestApp, user: &str) -> String {
    let res = app
        .post_json(
            "/api/v1/calendar/authenticate/",
            &json!({ "user_id": user }),
        )
        .await;
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn preflights_and_responses_of_the_token_endpoints_carry_cors_headers() {
    let app = spawn_app().await;
    for (method, path) in TOKEN_PATHS {
        let res = preflight(&app, path, PAGE, method).await;
        assert_eq!(res.status(), 204, "{method} {path}");
        assert_eq!(
            header(&res, "access-control-allow-origin").as_deref(),
            Some("*")
        );
        assert_eq!(
            header(&res, "access-control-allow-methods").as_deref(),
            Some("GET, PUT, PATCH, POST, DELETE, OPTIONS")
        );
        assert_eq!(
            header(&res, "access-control-allow-headers").as_deref(),
            Some("x-recallcalendarauthtoken, content-type")
        );
        assert_eq!(
            header(&res, "access-control-max-age").as_deref(),
            Some("600")
        );
        assert_eq!(header(&res, "vary").as_deref(), Some("Origin"));
    }
    // Without the trailing slash too.
    let res = preflight(&app, "/api/v1/calendar/meetings", PAGE, "GET").await;
    assert_eq!(res.status(), 204);

    // Real responses: success and errors alike carry the header, so a page can read them.
    let token = token(&app, "cors-user").await;
    let res = app
        .client
        .get(app.url("/api/v1/calendar/meetings/"))
        .header("Origin", PAGE)
        .header("x-recallcalendarauthtoken", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    let res = app
        .client
        .get(app.url("/api/v1/calendar/user/"))
        .header("Origin", PAGE)
        .header("x-recallcalendarauthtoken", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    // Without an Origin nothing is added, and OPTIONS is still not a method of the API.
    let res = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/calendar/user/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert!(header(&res, "access-control-allow-origin").is_none());
}

#[tokio::test]
async fn api_key_endpoints_never_answer_cors() {
    let app = spawn_app().await;
    for (method, path) in KEY_PATHS {
        let res = preflight(&app, path, PAGE, method).await;
        assert_eq!(res.status(), 405, "{method} {path}");
        assert!(header(&res, "access-control-allow-origin").is_none());
        assert!(header(&res, "access-control-allow-methods").is_none());
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .header("Origin", PAGE)
            .header("Authorization", app.auth())
            .json(&json!({"user_id": "x"}))
            .send()
            .await
            .unwrap();
        assert!(
            header(&res, "access-control-allow-origin").is_none(),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn a_configured_origin_list_is_enforced() {
    let app = spawn_app_with(Options {
        env: vec![(
            "CONVENE_CORS_ORIGINS".into(),
            "https://app.example.com, http://127.0.0.1:3999".into(),
        )],
        ..Default::default()
    })
    .await;
    let res = preflight(&app, "/api/v1/calendar/user/", PAGE, "GET").await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some(PAGE)
    );
    assert_eq!(header(&res, "vary").as_deref(), Some("Origin"));

    for evil in ["https://evil.example.com", "null", "http://127.0.0.1:4000"] {
        let res = preflight(&app, "/api/v1/calendar/meetings/", evil, "GET").await;
        assert_eq!(res.status(), 403, "{evil}");
        assert!(header(&res, "access-control-allow-origin").is_none());
        assert!(header(&res, "access-control-allow-methods").is_none());
    }

    let token = token(&app, "cors-list-user").await;
    for (origin, expected) in [
        ("https://app.example.com", Some("https://app.example.com")),
        ("https://evil.example.com", None),
    ] {
        let res = app
            .client
            .get(app.url("/api/v1/calendar/user/"))
            .header("Origin", origin)
            .header("x-recallcalendarauthtoken", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            header(&res, "access-control-allow-origin").as_deref(),
            expected
        );
    }
}

#[test]
fn bad_cors_origins_stop_the_start() {
    use convene::config::{CorsOrigins, Settings};
    let load = |v: &str| {
        Settings::from_sources(
            [("CONVENE_CORS_ORIGINS".to_string(), v.to_string())].into(),
            None,
        )
    };
    let err = load("app.example.com").unwrap_err();
    assert_eq!(err.variable, "CONVENE_CORS_ORIGINS");
    assert_eq!(load("*").unwrap().cors_origins, CorsOrigins::Any);
    assert_eq!(
        load("https://a.example.com/,http://b.test:8080")
            .unwrap()
            .cors_origins,
        CorsOrigins::List(vec![
            "https://a.example.com".into(),
            "http://b.test:8080".into()
        ])
    );
    assert_eq!(
        Settings::from_sources(Default::default(), None)
            .unwrap()
            .cors_origins,
        CorsOrigins::Any
    );
}
