//! Calendar accounts (V1 connections seen with an API key), the V1 meeting fields
//! `attendee_emails` and `visibility`, and the `ical_uid` prefix filter.

use chrono::{Duration, DurationRound, Utc};
use convene_sim::{EventSpec, Provider, ResponseStatus};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::sync_fixtures::*;

async fn user(app: &TestApp, external_id: &str) -> (String, String) {
    let ext = external_id.to_string();
    let now = app.state.now_ms();
    let u = app
        .state
        .store
        .write(move |tx| convene::store::calendar_users::get_or_create(tx, &ext, now))
        .await
        .unwrap();
    (
        u.id,
        convene::api::auth::mint_calendar_token(&app.state, external_id),
    )
}

async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn meetings(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/calendar/meetings/{query}")))
        .header("x-recallcalendarauthtoken", token)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

#[tokio::test]
async fn calendar_accounts_show_v1_connections_and_their_access_tokens() {
    let app = spawn_app().await;
    let (uid, token) = user(&app, "acct-user").await;
    let g = connect_v1(&app, Provider::Google, "ann@acme.test", &uid).await;
    let m = connect_v1(&app, Provider::Microsoft, "ann@acme-ms.test", &uid).await;
    let v2 = connect(&app, Provider::Google, "v2@acme.test").await;

    // The ids are the user's connections[].id.
    let res = app
        .client
        .get(app.url("/api/v1/calendar/user/"))
        .header("x-recallcalendarauthtoken", &token)
        .send()
        .await
        .unwrap();
    let (_, calendar_user) = json_of(res).await;
    let mut ids: Vec<&str> = calendar_user["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![g.id.as_str(), m.id.as_str()];
    expected.sort();
    assert_eq!(ids, expected);

    let (status, body) = json_of(
        app.get(&format!("/api/v2/calendar-accounts/{}/", g.id))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"id": g.id, "platform": "google", "email": "ann@acme.test"})
    );
    let (_, body) = json_of(
        app.get(&format!("/api/v2/calendar-accounts/{}/", m.id))
            .await,
    )
    .await;
    assert_eq!(body["platform"], "microsoft");

    // A fresh provider token, which the provider accepts.
    let (status, body) = json_of(
        app.get(&format!("/api/v2/calendar-accounts/{}/access_token/", g.id))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    let access = body["token"].as_str().unwrap();
    let res = reqwest::Client::new()
        .get(format!(
            "{}/calendar/v3/calendars/primary/events?maxResults=1",
            app.sim.google_api_url()
        ))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // V2 calendars, unknown ids and non-ids are not calendar accounts; an API key is needed.
    for id in [
        v2.id.as_str(),
        "6a1f3c1e-1d4b-4f00-9a53-0d7b7c0e9f11",
        "not-a-uuid",
    ] {
        for suffix in ["", "access_token/"] {
            let (status, body) = json_of(
                app.get(&format!("/api/v2/calendar-accounts/{id}/{suffix}"))
                    .await,
            )
            .await;
            assert_eq!(status, 404, "{id} {suffix}");
            assert_eq!(body, json!({"detail": "Not found."}));
        }
    }
    let res = app
        .client
        .get(app.url(&format!("/api/v2/calendar-accounts/{}/", g.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // A revoked account answers bad_refresh_token once its cached token is used up.
    app.sim.revoke_all_tokens(&m.account).await;
    app.state
        .clock
        .advance(std::time::Duration::from_secs(3600));
    let (status, body) = json_of(
        app.get(&format!("/api/v2/calendar-accounts/{}/access_token/", m.id))
            .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_refresh_token");
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn v1_meetings_carry_attendee_emails_and_visibility() {
    let app = spawn_app().await;
    let (uid, token) = user(&app, "fields-user").await;
    let g = connect_v1(&app, Provider::Google, "gail@acme.test", &uid).await;
    let m = connect_v1(&app, Provider::Microsoft, "max@acme.test", &uid).await;
    let t = Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(3);
    for cal in [&g, &m] {
        app.sim
            .create_event(
                &cal.account,
                EventSpec::new(format!("Review {}", cal.email), t, t + Duration::hours(1))
                    .attendee("pat@partner.test", ResponseStatus::Accepted)
                    .attendee("lee@acme.test", ResponseStatus::Tentative),
            )
            .await;
        sync(&app, cal).await;
    }
    let list = meetings(&app, &token, "").await;
    assert_eq!(list.len(), 2);
    for meeting in &list {
        let emails: Vec<&str> = meeting["attendee_emails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        let from_attendees: Vec<&str> = meeting["attendees"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, from_attendees);
        assert!(emails.contains(&"pat@partner.test"), "{meeting}");
        assert!(emails.contains(&"lee@acme.test"), "{meeting}");
        // Google leaves `visibility` out for the default; Graph says `normal`.
        assert_eq!(meeting["visibility"], "default", "{meeting}");
    }
}

#[test]
fn visibility_follows_the_provider() {
    use convene::domain::Platform;
    use convene::events::meetings::visibility;
    for (raw, expected) in [
        (r#"{"visibility": "private"}"#, Some("private")),
        (r#"{"visibility": "public"}"#, Some("public")),
        (r#"{"visibility": "confidential"}"#, Some("confidential")),
        (r#"{"visibility": "default"}"#, Some("default")),
        (r#"{"id": "x"}"#, Some("default")),
        (r#"{"visibility": "odd"}"#, None),
        ("not json", None),
    ] {
        assert_eq!(visibility(Platform::Google, raw), expected, "{raw}");
    }
    for (raw, expected) in [
        (r#"{"sensitivity": "normal"}"#, Some("default")),
        (r#"{"sensitivity": "personal"}"#, Some("private")),
        (r#"{"sensitivity": "private"}"#, Some("private")),
        (r#"{"sensitivity": "confidential"}"#, Some("confidential")),
        (r#"{"id": "x"}"#, None),
    ] {
        assert_eq!(visibility(Platform::Microsoft, raw), expected, "{raw}");
    }
}

#[tokio::test]
async fn ical_uid_filters_are_case_sensitive_prefixes() {
    let app = spawn_app().await;
    let (uid, token) = user(&app, "ical-user").await;
    let g = connect_v1(&app, Provider::Google, "ira@acme.test", &uid).await;
    let v2 = connect(&app, Provider::Google, "ivy@acme.test").await;
    let t = Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(2);
    for cal in [&g, &v2] {
        app.sim
            .create_event(
                &cal.account,
                EventSpec::new("One", t, t + Duration::hours(1)),
            )
            .await;
        app.sim
            .create_event(
                &cal.account,
                EventSpec::new("Two", t + Duration::hours(1), t + Duration::hours(2)),
            )
            .await;
        sync(&app, cal).await;
    }
    let all = meetings(&app, &token, "").await;
    assert_eq!(all.len(), 2);
    let uid_one = all[0]["ical_uid"].as_str().unwrap().to_string();
    assert!(uid_one.len() > 4, "{uid_one}");

    // V1: the full uid, a prefix of it, a wrong-case prefix, an empty filter.
    let q = |v: &str| format!("?ical_uid={}", urlencode(v));
    assert_eq!(meetings(&app, &token, &q(&uid_one)).await.len(), 1);
    let prefix = &uid_one[..uid_one.len() - 3];
    let by_prefix = meetings(&app, &token, &q(prefix)).await;
    assert!(by_prefix.iter().any(|m| m["ical_uid"] == uid_one.as_str()));
    assert!(by_prefix
        .iter()
        .all(|m| m["ical_uid"].as_str().unwrap().starts_with(prefix)));
    let flipped: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if flipped != prefix {
        assert!(meetings(&app, &token, &q(&flipped)).await.is_empty());
    }
    assert_eq!(meetings(&app, &token, &q("")).await.len(), 2);
    assert!(meetings(&app, &token, &q("no-such-uid")).await.is_empty());

    // V2 events: the same rule.
    let (_, body) = json_of(app.get("/api/v2/calendar-events/").await).await;
    let v2_uid = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["calendar_id"] == v2.id.as_str())
        .unwrap()["ical_uid"]
        .as_str()
        .unwrap()
        .to_string();
    let list = |query: String| {
        let app = &app;
        async move {
            let (status, body) =
                json_of(app.get(&format!("/api/v2/calendar-events/{query}")).await).await;
            assert_eq!(status, 200, "{body}");
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["ical_uid"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(q(&v2_uid)).await, vec![v2_uid.clone()]);
    let prefix = &v2_uid[..4];
    let found = list(q(prefix)).await;
    assert!(found.contains(&v2_uid));
    assert!(found.iter().all(|u| u.starts_with(prefix)));
    assert!(list(q(&v2_uid.to_uppercase()))
        .await
        .iter()
        .all(|u| u.starts_with(&v2_uid.to_uppercase())));
}

fn urlencode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
