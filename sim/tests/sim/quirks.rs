//! Faults after handling, operator-client refusals, time zones, series-level cancellation
//! and unreadable events.

use crate::common::*;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use convene_sim::*;

async fn zoom_refresh(sim: &SimHandle, rt: &str) -> Result<reqwest::Response, reqwest::Error> {
    use base64::Engine;
    http()
        .post(sim.zoom_token_url())
        .header(
            "Authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("zid:zsecret")
            ),
        )
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .send()
        .await
}

async fn zoom_token(sim: &SimHandle) -> String {
    sim.create_oauth_client(Provider::Zoom, "zid", "zsecret", vec![])
        .await;
    let (user, _) = sim.create_zoom_user(None, "z@acme.test").await;
    sim.mint_refresh_token(Provider::Zoom, "zid", &AccountId(user), &[])
        .await
}

#[tokio::test]
async fn answers_lost_or_broken_after_the_refresh_was_handled() {
    let sim = convene_sim::start().await;
    for fault in [Fault::AnswerLost, Fault::ResetMidBody, Fault::UnreadableOk] {
        let rt = zoom_token(&sim).await;
        sim.inject_fault(Endpoint::ZoomToken, fault.clone(), 1)
            .await;
        let outcome = match zoom_refresh(&sim, &rt).await {
            Err(e) => format!("send failed: {e}"),
            Ok(r) => match r.text().await {
                Err(e) => format!("body failed: {e}"),
                Ok(t) => match serde_json::from_str::<serde_json::Value>(&t) {
                    Ok(v) => panic!("{fault:?}: readable answer {v}"),
                    Err(_) => "unreadable".to_string(),
                },
            },
        };
        let expected = match fault {
            Fault::AnswerLost => "send failed",
            Fault::ResetMidBody => "body failed",
            _ => "unreadable",
        };
        assert!(outcome.starts_with(expected), "{fault:?}: {outcome}");
        // Zoom handled it: the refresh token rotated, so a re-send is refused.
        let again = zoom_refresh(&sim, &rt).await.unwrap();
        assert_eq!(again.status(), 400, "{fault:?} ({outcome})");
        assert_eq!(
            again.json::<serde_json::Value>().await.unwrap()["reason"],
            "Invalid Token!"
        );
    }
}

#[tokio::test]
async fn held_answers_wait_for_release() {
    let sim = convene_sim::start().await;
    let rt = zoom_token(&sim).await;
    sim.inject_fault(Endpoint::ZoomToken, Fault::HoldAnswer, 1)
        .await;
    let s2 = sim.clone();
    let call = tokio::spawn(async move { zoom_refresh(&s2, &rt).await.unwrap().status() });
    sim.wait_held().await;
    assert!(!call.is_finished());
    sim.release_held().await;
    assert_eq!(call.await.unwrap(), 200);
}

#[tokio::test]
async fn refused_operator_clients() {
    let sim = convene_sim::start().await;
    sim.create_oauth_client(Provider::Microsoft, "mid", "msecret", vec![])
        .await;
    let a = sim.create_account(Provider::Microsoft, "m@acme.test").await;
    let rt = sim
        .mint_refresh_token(Provider::Microsoft, "mid", &a, &[])
        .await;
    sim.refuse_client(Provider::Microsoft, "mid").await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", "mid"),
        ("client_secret", "msecret"),
    ];
    let r = post_form(&sim.microsoft_token_url(), &form, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    assert_eq!(r.json()["error_codes"][0], 7000222);
    // A new secret registered: refreshes work again.
    sim.create_oauth_client(Provider::Microsoft, "mid", "msecret", vec![])
        .await;
    assert_eq!(
        post_form(&sim.microsoft_token_url(), &form, None)
            .await
            .status,
        200
    );

    sim.create_oauth_client(Provider::Google, "gid", "gsecret", vec![])
        .await;
    sim.refuse_client(Provider::Google, "gid").await;
    let r = post_form(
        &sim.google_token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "gid"),
            ("client_secret", "gsecret"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("deleted_client"))
    );
}

async fn ms_access(sim: &SimHandle) -> (AccountId, String) {
    sim.create_oauth_client(Provider::Microsoft, "mid", "msecret", vec![])
        .await;
    let a = sim.create_account(Provider::Microsoft, "m@acme.test").await;
    let rt = sim
        .mint_refresh_token(Provider::Microsoft, "mid", &a, &[])
        .await;
    let r = post_form(
        &sim.microsoft_token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "mid"),
            ("client_secret", "msecret"),
        ],
        None,
    )
    .await;
    (a, r.json()["access_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn graph_answers_in_the_mailbox_zone_when_prefer_is_absent_or_ignored() {
    let sim = convene_sim::start().await;
    let (a, at) = ms_access(&sim).await;
    // 2026-01-15 17:00 UTC is 09:00 in Pacific Standard Time.
    let start = Utc.with_ymd_and_hms(2026, 1, 15, 17, 0, 0).unwrap();
    sim.create_event(
        &a,
        EventSpec::new("Standup", start, start + Duration::minutes(30)),
    )
    .await;
    let url = format!(
        "{}/me/calendarView/delta?startDateTime=2026-01-14T00:00:00Z&endDateTime=2026-01-20T00:00:00Z",
        sim.microsoft_graph_url()
    );
    let utc = [("Prefer", "outlook.timezone=\"UTC\"")];
    let first = |r: Resp| r.json()["value"][0]["start"].clone();
    let v = first(get(&url, Some(&at), &utc).await);
    assert_eq!(
        (v["dateTime"].as_str(), v["timeZone"].as_str()),
        (Some("2026-01-15T17:00:00.0000000"), Some("UTC"))
    );

    sim.set_graph_time_zone("Pacific Standard Time", false)
        .await;
    let v = first(get(&url, Some(&at), &utc).await);
    assert_eq!(v["timeZone"], "UTC", "Prefer honoured");
    let v = first(get(&url, Some(&at), &[]).await);
    assert_eq!(
        (v["dateTime"].as_str(), v["timeZone"].as_str()),
        (
            Some("2026-01-15T09:00:00.0000000"),
            Some("Pacific Standard Time")
        )
    );
    sim.set_graph_time_zone("Pacific Standard Time", true).await;
    let v = first(get(&url, Some(&at), &utc).await);
    assert_eq!(v["timeZone"], "Pacific Standard Time", "Prefer ignored");
}

async fn google_access(sim: &SimHandle) -> (AccountId, String) {
    sim.create_oauth_client(Provider::Google, "gid", "gsecret", vec![])
        .await;
    let a = sim.create_account(Provider::Google, "g@acme.test").await;
    let rt = sim
        .mint_refresh_token(Provider::Google, "gid", &a, &[])
        .await;
    let r = post_form(
        &sim.google_token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "gid"),
            ("client_secret", "gsecret"),
        ],
        None,
    )
    .await;
    (a, r.json()["access_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn google_filters_all_day_events_in_the_calendar_zone() {
    let sim = convene_sim::start().await;
    let (a, at) = google_access(&sim).await;
    sim.set_calendar_time_zone(&a, "Etc/GMT-10").await;
    let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    sim.create_event(&a, EventSpec::all_day("Offsite", day, 1))
        .await;
    let list = |min: &'static str| {
        let url = format!(
            "{}/calendar/v3/calendars/primary/events?singleEvents=true&timeMin={min}&timeMax=2026-04-01T00:00:00Z",
            sim.google_api_url()
        );
        let at = at.clone();
        async move { get(&url, Some(&at), &[]).await.json() }
    };
    // In UTC+10 the day is 2026-03-09T14:00Z .. 2026-03-10T14:00Z.
    let body = list("2026-03-10T13:00:00Z").await;
    assert_eq!(body["timeZone"], "Etc/GMT-10");
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let body = list("2026-03-10T18:00:00Z").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn google_reports_a_cancelled_series_as_its_master_and_unreadable_events() {
    let sim = convene_sim::start().await;
    let (a, at) = google_access(&sim).await;
    let start = Utc::now() + Duration::hours(2);
    let series = sim
        .create_event(
            &a,
            EventSpec::new("Weekly", start, start + Duration::hours(1)).weekly(3),
        )
        .await;
    let single = sim
        .create_event(&a, EventSpec::new("One", start, start + Duration::hours(1)))
        .await;
    let url = format!(
        "{}/calendar/v3/calendars/primary/events?singleEvents=true",
        sim.google_api_url()
    );
    let full = get(&url, Some(&at), &[]).await.json();
    let token = full["nextSyncToken"].as_str().unwrap().to_string();
    sim.cancel_series(&a, &series).await;
    sim.corrupt_event(&a, &single, true).await;
    let inc = get(&format!("{url}&syncToken={token}"), Some(&at), &[])
        .await
        .json();
    let items = inc["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{inc}");
    assert_eq!(items[0]["id"], series.as_str());
    assert_eq!(items[0]["status"], "cancelled");
    assert!(items[0].get("recurringEventId").is_none());
    assert_eq!(items[1]["id"], single.as_str());
    assert_eq!(items[1]["start"]["dateTime"], "2026-13-45T99:00:00Z");
}
