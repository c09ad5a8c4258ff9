//! V1 calendar meetings: the list and its filters, one meeting, `override_should_record`,
//! `will_record` from preferences, attendees from both providers, parsed invites, refresh.

use chrono::{Duration, DurationRound, Utc};
use convene_sim::{EventSpec, Provider, ResponseStatus};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::sync_fixtures::*;

struct User {
    id: String,
    token: String,
}

async fn user(app: &TestApp, external_id: &str) -> User {
    let ext = external_id.to_string();
    let now = app.state.now_ms();
    let u = app
        .state
        .store
        .write(move |tx| convene::store::calendar_users::get_or_create(tx, &ext, now))
        .await
        .unwrap();
    User {
        id: u.id,
        token: convene::api::auth::mint_calendar_token(&app.state, external_id),
    }
}

async fn set_preferences(app: &TestApp, user: &User, prefs: Value) {
    let id = user.id.clone();
    app.state
        .store
        .write(move |tx| {
            tx.execute(
                "UPDATE calendar_users SET preferences = ?1 WHERE id = ?2",
                rusqlite::params![prefs.to_string(), id],
            )
            .map_err(convene::store::StoreError::from)
        })
        .await
        .unwrap();
}

async fn call(
    app: &TestApp,
    user: &User,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("x-recallcalendarauthtoken", &user.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn meetings(app: &TestApp, user: &User, query: &str) -> Vec<Value> {
    let (status, body) = call(
        app,
        user,
        reqwest::Method::GET,
        &format!("/api/v1/calendar/meetings/{query}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("a plain JSON array").clone()
}

fn by_title<'a>(list: &'a [Value], title: &str) -> &'a Value {
    list.iter()
        .find(|m| m["title"] == title)
        .unwrap_or_else(|| panic!("no meeting {title}"))
}

#[tokio::test]
async fn meetings_with_recording_decisions_from_preferences() {
    let app = spawn_app().await;
    let alice = user(&app, "user-alice").await;
    let g = connect_v1(&app, Provider::Google, "alice@acme.test", &alice.id).await;
    let m = connect_v1(&app, Provider::Microsoft, "alice@acme-mail.test", &alice.id).await;
    let t = Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(2);

    // Google: hosted by me with an internal guest, Zoom link.
    app.sim
        .create_event(
            &g.account,
            EventSpec::new("Internal", t, t + Duration::minutes(30))
                .zoom("https://acme.zoom.us/j/81234567890?pwd=cHdk")
                .attendee("bob@acme.test", ResponseStatus::Accepted),
        )
        .await;
    // Google: someone else's weekly Meet with an external organizer; I accepted.
    app.sim
        .create_event(
            &g.account,
            EventSpec::new(
                "Partner weekly",
                t + Duration::hours(1),
                t + Duration::hours(2),
            )
            .meet("https://meet.google.com/abc-defg-hij")
            .organizer("carol@partner.test")
            .self_response(ResponseStatus::Accepted)
            .weekly(2),
        )
        .await;
    app.sim
        .create_event(
            &g.account,
            EventSpec::new("No link", t + Duration::hours(3), t + Duration::hours(4)),
        )
        .await;
    app.sim
        .create_event(
            &g.account,
            EventSpec::all_day("Holiday", (t + Duration::days(2)).date_naive(), 1)
                .location("https://zoom.us/j/99999999999"),
        )
        .await;
    // Microsoft: Teams, external organizer, I replied tentatively.
    app.sim.create_event(&m.account, EventSpec::new("Vendor call", t + Duration::hours(5), t + Duration::hours(6))
        .teams("https://teams.microsoft.com/l/meetup-join/19%3ameeting_Zz%40thread.v2/0?context=%7b%22Tid%22%3a%22tenant-1%22%2c%22Oid%22%3a%22org-2%22%7d")
        .organizer("dave@vendor.test")
        .self_response(ResponseStatus::Tentative)).await;
    // Microsoft: already over.
    let past = Utc::now().duration_trunc(Duration::minutes(1)).unwrap() - Duration::hours(3);
    app.sim
        .create_event(
            &m.account,
            EventSpec::new("Earlier", past, past + Duration::hours(1))
                .teams("https://teams.microsoft.com/meet/12345678901?p=pw"),
        )
        .await;
    sync(&app, &g).await;
    sync(&app, &m).await;

    let list = meetings(&app, &alice, "").await;
    assert_eq!(list.len(), 7, "both connections, series expanded");
    let starts: Vec<&str> = list
        .iter()
        .map(|m| m["start_time"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "ordered by start time");

    let internal = by_title(&list, "Internal");
    assert_eq!(internal["platform"], "google");
    assert_eq!(internal["calendar_platform"], "google");
    assert_eq!(internal["meeting_platform"], "zoom");
    assert_eq!(
        internal["zoom_invite"],
        json!({"meeting_id": "81234567890", "meeting_password": "cHdk"})
    );
    assert!(
        internal["meet_invite"].is_null()
            && internal["teams_invite"].is_null()
            && internal["webex_invite"].is_null()
    );
    assert_eq!(internal["is_hosted_by_me"], true);
    assert_eq!(internal["is_external"], false);
    assert_eq!(internal["is_recurring"], false);
    assert_eq!(internal["organizer_email"], "alice@acme.test");
    assert!(internal["bot_id"].is_null());
    assert!(internal["override_should_record"].is_null());
    let bob = internal["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "bob@acme.test")
        .unwrap();
    assert_eq!(bob["status"], "accepted");
    assert_eq!(bob["is_organizer"], false);

    let weekly = by_title(&list, "Partner weekly");
    assert_eq!(weekly["is_recurring"], true);
    assert_eq!(weekly["is_external"], true);
    assert_eq!(weekly["is_hosted_by_me"], false);
    assert_eq!(weekly["meet_invite"]["meeting_id"], "abc-defg-hij");

    let vendor = by_title(&list, "Vendor call");
    assert_eq!(vendor["platform"], "microsoft");
    assert_eq!(vendor["meeting_platform"], "microsoft_teams");
    assert_eq!(vendor["teams_invite"]["tenant_id"], "tenant-1");
    assert_eq!(vendor["teams_invite"]["organizer_id"], "org-2");
    assert_eq!(vendor["organizer_email"], "dave@vendor.test");
    let atts = vendor["attendees"].as_array().unwrap();
    let org = atts
        .iter()
        .find(|a| a["is_organizer"] == true)
        .expect("Graph organizer mapped as an attendee");
    assert_eq!(org["email"], "dave@vendor.test");
    let me = atts
        .iter()
        .find(|a| a["email"] == "alice@acme-mail.test")
        .unwrap();
    assert_eq!(me["status"], "tentative");

    // No preference true: nothing records.
    for m in &list {
        assert_eq!(m["will_record"], false, "{}", m["title"]);
        assert!(m["will_record_reason"].as_str().unwrap().len() > 5);
    }

    // record_external: every meeting with an external attendee that can be recorded.
    set_preferences(
        &app,
        &alice,
        json!({"record_external": true, "bot_name": "Ada"}),
    )
    .await;
    let list = meetings(&app, &alice, "").await;
    let will: Vec<&str> = list
        .iter()
        .filter(|m| m["will_record"] == true)
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(will, ["Partner weekly", "Vendor call", "Partner weekly"]);
    // The next sync hands the decisions to the bot scheduler: one bot per will-record meeting.
    sync(&app, &g).await;
    let list = meetings(&app, &alice, "").await;
    for m in &list {
        assert_eq!(
            m["bot_id"].is_string(),
            m["will_record"] == true,
            "{}",
            m["title"]
        );
    }
    let vendor_now = by_title(&list, "Vendor call");
    let res = app
        .get(&format!(
            "/api/v2/calendar-events/{}/",
            vendor_now["id"].as_str().unwrap()
        ))
        .await;
    let event: Value = res.json().await.unwrap();
    assert_eq!(event["bots"][0]["bot_id"], vendor_now["bot_id"]);
    assert_eq!(event["bots"][0]["bot_name"], "Ada");
    assert!(by_title(&list, "Holiday")["will_record_reason"]
        .as_str()
        .unwrap()
        .contains("All-day"));
    assert!(by_title(&list, "No link")["will_record_reason"]
        .as_str()
        .unwrap()
        .contains("no meeting URL"));
    assert!(by_title(&list, "Earlier")["will_record_reason"]
        .as_str()
        .unwrap()
        .contains("ended"));
    assert!(by_title(&list, "Internal")["will_record_reason"]
        .as_str()
        .unwrap()
        .contains("record_external"));

    // Every true preference must hold: external AND confirmed drops the tentative one.
    set_preferences(
        &app,
        &alice,
        json!({"record_external": true, "record_confirmed": true}),
    )
    .await;
    sync(&app, &m).await;
    let list = meetings(&app, &alice, "").await;
    assert_eq!(by_title(&list, "Vendor call")["will_record"], false);
    assert!(
        by_title(&list, "Vendor call")["bot_id"].is_null(),
        "its auto-recording bot left with the next sync"
    );
    assert_eq!(list.iter().filter(|m| m["will_record"] == true).count(), 2);

    // Override on one meeting; null gives the decision back to the preferences.
    let id = internal["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/calendar/meetings/{id}/");
    let (status, body) = call(
        &app,
        &alice,
        reqwest::Method::PUT,
        &path,
        Some(json!({"override_should_record": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["override_should_record"], true);
    assert_eq!(body["will_record"], true);
    assert!(body["bot_id"].is_string(), "an override schedules at once");
    let (_, body) = call(&app, &alice, reqwest::Method::GET, &path, None).await;
    assert_eq!(body["will_record"], true);
    let (_, body) = call(
        &app,
        &alice,
        reqwest::Method::PUT,
        &path,
        Some(json!({"override_should_record": null})),
    )
    .await;
    assert!(body["override_should_record"].is_null());
    assert_eq!(body["will_record"], false);
    assert!(body["bot_id"].is_null());
    let (status, body) = call(
        &app,
        &alice,
        reqwest::Method::PUT,
        &path,
        Some(json!({"override_should_record": "yes"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["override_should_record"].is_array());
    // An override never records a meeting that is over.
    let earlier = by_title(&list, "Earlier")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = call(
        &app,
        &alice,
        reqwest::Method::PUT,
        &format!("/api/v1/calendar/meetings/{earlier}/"),
        Some(json!({"override_should_record": true})),
    )
    .await;
    assert_eq!(body["will_record"], false);

    // Filters.
    let after = convene::store::ms_to_rfc3339(ms(t + Duration::minutes(30)));
    let before = convene::store::ms_to_rfc3339(ms(t + Duration::hours(5)));
    let list = meetings(
        &app,
        &alice,
        &format!("?start_time_after={after}&start_time_before={before}"),
    )
    .await;
    let titles: Vec<&str> = list.iter().map(|m| m["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Partner weekly", "No link", "Vendor call"]);
    let uid = by_title(&list, "Vendor call")["ical_uid"]
        .as_str()
        .unwrap()
        .to_string();
    let list = meetings(&app, &alice, &format!("?ical_uid={uid}")).await;
    assert_eq!(list.len(), 1);
    let (status, _) = call(
        &app,
        &alice,
        reqwest::Method::GET,
        "/api/v1/calendar/meetings/?start_time_after=soon",
        None,
    )
    .await;
    assert_eq!(status, 400);

    // Another user sees none of it.
    let eve = user(&app, "user-eve").await;
    assert!(meetings(&app, &eve, "").await.is_empty());
    let (status, _) = call(&app, &eve, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404);
    let res = app
        .client
        .get(app.url("/api/v1/calendar/meetings/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn refresh_syncs_now_and_returns_the_meetings() {
    let app = spawn_app().await;
    let bob = user(&app, "user-bob").await;
    let g = connect_v1(&app, Provider::Google, "bob@acme.test", &bob.id).await;
    sync(&app, &g).await;
    assert!(meetings(&app, &bob, "").await.is_empty());
    let t = Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(2);
    app.sim
        .create_event(
            &g.account,
            EventSpec::new("Fresh", t, t + Duration::hours(1))
                .meet("https://meet.google.com/xyz-abcd-efg"),
        )
        .await;
    let (status, body) = call(
        &app,
        &bob,
        reqwest::Method::POST,
        "/api/v1/calendar/meetings/refresh/",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let list = body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["title"], "Fresh");
    assert_eq!(
        list[0]["meeting_url"],
        "https://meet.google.com/xyz-abcd-efg"
    );
    // `refresh` is not an id: GET on it is 405, not a lookup.
    let (status, _) = call(
        &app,
        &bob,
        reqwest::Method::GET,
        "/api/v1/calendar/meetings/refresh/",
        None,
    )
    .await;
    assert_eq!(status, 405);
}
