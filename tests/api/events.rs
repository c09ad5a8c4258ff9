//! `GET /api/v2/calendar-events/` and `GET /api/v2/calendar-events/{id}/`: filters,
//! ordering, cursor pagination while events change, raw provider JSON, index use.

use std::time::Duration as StdDuration;

use chrono::{Duration, DurationRound, Utc};
use convene::store::events::{EventQuery, Ordering};
use convene_sim::{AccountId, EventPatch, EventSpec, Provider};
use serde_json::Value;

use crate::calendar_support::CALENDAR_EVENT_KEYS;
use crate::helpers::{spawn_app, TestApp};
use crate::sync_fixtures::*;

fn base() -> chrono::DateTime<Utc> {
    Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(2)
}

/// `n` half-hour events named `{prefix}{i}`, one an hour from `start`; their provider ids.
async fn hourly_events(
    app: &TestApp,
    account: &AccountId,
    prefix: &str,
    start: chrono::DateTime<Utc>,
    n: i64,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let s = start + Duration::hours(i);
        let spec = EventSpec::new(format!("{prefix}{i}"), s, s + Duration::minutes(30));
        ids.push(app.sim.create_event(account, spec).await);
    }
    ids
}

async fn json(app: &TestApp, path: &str) -> (u16, Value) {
    let res = app.get(path).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// Follows `next` links from `path`; returns every result id and the pages' sizes.
async fn walk(app: &TestApp, path: &str) -> (Vec<String>, Vec<usize>) {
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    let mut url = app.url(path);
    loop {
        let res = app.get_url(&url).await;
        assert_eq!(res.status(), 200, "{url}");
        let body: Value = res.json().await.unwrap();
        let results = body["results"].as_array().unwrap();
        sizes.push(results.len());
        ids.extend(
            results
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        match body["next"].as_str() {
            Some(n) => url = n.to_string(),
            None => return (ids, sizes),
        }
    }
}

#[tokio::test]
async fn list_filters_ordering_and_pagination() {
    let app = spawn_app().await;
    let g = connect(&app, Provider::Google, "list@acme.test").await;
    let m = connect(&app, Provider::Microsoft, "list@contoso.test").await;
    let t = base();
    let gids = hourly_events(&app, &g.account, "G", t, 7).await;
    for i in 0..3 {
        // Same start times as some Google events: ties are broken by id.
        let s = t + Duration::hours(2 * i);
        app.sim
            .create_event(
                &m.account,
                EventSpec::new(format!("M{i}"), s, s + Duration::minutes(30)),
            )
            .await;
    }
    sync(&app, &g).await;
    sync(&app, &m).await;

    // Everything, 3 per page, in (start_time, id) order.
    let mut all: Vec<(i64, String)> = stored(&app, &g)
        .await
        .into_iter()
        .chain(stored(&app, &m).await)
        .map(|e| (e.start_time, e.id))
        .collect();
    all.sort();
    let (ids, sizes) = walk(&app, "/api/v2/calendar-events/?page_size=3").await;
    assert_eq!(
        ids,
        all.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(sizes, [3, 3, 3, 1]);

    // `previous` of the second page is the first page.
    let (_, first) = json(&app, "/api/v2/calendar-events/?page_size=3").await;
    assert!(first["previous"].is_null());
    let next = first["next"].as_str().unwrap();
    assert!(
        next.starts_with(&app.address),
        "absolute link on the public URL"
    );
    let second: Value = app
        .client
        .get(next)
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back: Value = app
        .client
        .get(second["previous"].as_str().unwrap())
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(back["results"], first["results"]);

    // Filters.
    let (_, body) = json(
        &app,
        &format!("/api/v2/calendar-events/?calendar_id={}", g.id),
    )
    .await;
    let res = body["results"].as_array().unwrap();
    assert_eq!(res.len(), 7);
    assert!(res
        .iter()
        .all(|e| e["calendar_id"] == g.id.as_str() && e["platform"] == "google_calendar"));
    let gte = convene::store::ms_to_rfc3339(ms(t + Duration::hours(2)));
    let lte = convene::store::ms_to_rfc3339(ms(t + Duration::hours(4)));
    let (_, body) = json(
        &app,
        &format!(
            "/api/v2/calendar-events/?calendar_id={}&start_time__gte={gte}&start_time__lte={lte}",
            g.id
        ),
    )
    .await;
    let titles: Vec<String> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["raw"]["summary"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, ["G2", "G3", "G4"]);
    // A `+00:00` offset sent unencoded (a space after form decoding) still parses.
    let (status, _) = json(
        &app,
        &format!(
            "/api/v2/calendar-events/?start_time__gte={}",
            gte.replace('Z', "+00:00")
        ),
    )
    .await;
    assert_eq!(status, 200);

    let uid = stored_one(&app, &g, &gids[5]).await.event.ical_uid.unwrap();
    let (_, body) = json(&app, &format!("/api/v2/calendar-events/?ical_uid={uid}")).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    assert_eq!(body["results"][0]["platform_id"], gids[5].as_str());

    // Deletions stay listed unless is_deleted=false; updated_at__gte is the change feed.
    app.state.clock.advance(StdDuration::from_secs(10));
    app.sim.delete_event(&g.account, &gids[1]).await;
    sync(&app, &g).await;
    let since = sync_webhooks(&app, &g).await.last().unwrap()["data"]["last_updated_ts"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = json(
        &app,
        &format!("/api/v2/calendar-events/?updated_at__gte={since}"),
    )
    .await;
    let changed = body["results"].as_array().unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["platform_id"], gids[1].as_str());
    assert_eq!(changed[0]["is_deleted"], true);
    let count = |b: &Value| b["results"].as_array().unwrap().len();
    let (_, body) = json(
        &app,
        &format!("/api/v2/calendar-events/?calendar_id={}", g.id),
    )
    .await;
    assert_eq!(count(&body), 7);
    let (_, body) = json(
        &app,
        &format!(
            "/api/v2/calendar-events/?calendar_id={}&is_deleted=false",
            g.id
        ),
    )
    .await;
    assert_eq!(count(&body), 6);
    let (_, body) = json(&app, "/api/v2/calendar-events/?is_deleted=true").await;
    assert_eq!(count(&body), 1);

    // Unknown parameters are ignored; bad values of known ones are 400 naming the field.
    let (status, _) = json(&app, "/api/v2/calendar-events/?colour=blue").await;
    assert_eq!(status, 200);
    for (query, field) in [
        ("start_time__gte=yesterday", "start_time__gte"),
        ("updated_at__gte=2026-13-45", "updated_at__gte"),
        ("is_deleted=maybe", "is_deleted"),
        ("calendar_id=not-a-uuid", "calendar_id"),
        ("ordering=title", "ordering"),
        ("page_size=0", "page_size"),
        ("cursor=tampered", "cursor"),
    ] {
        let (status, body) = json(&app, &format!("/api/v2/calendar-events/?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(body[field].is_array(), "{query}: {body}");
    }
    // A cursor from one ordering is refused by the other.
    let cursor = url::Url::parse(next)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "cursor")
        .unwrap()
        .1
        .into_owned();
    let (status, _) = json(
        &app,
        &format!("/api/v2/calendar-events/?ordering=updated_at&cursor={cursor}"),
    )
    .await;
    assert_eq!(status, 400);
    let res = app
        .client
        .get(app.url("/api/v2/calendar-events/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn pagination_stays_correct_while_events_change() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "feed@acme.test").await;
    let t = base();
    let ids = hourly_events(&app, &cal.account, "E", t, 6).await;
    sync(&app, &cal).await;

    // Change feed (ordering=updated_at): an event edited while a client pages through
    // comes again at the end with its new content; nothing is skipped.
    let (_, page1) = json(
        &app,
        "/api/v2/calendar-events/?ordering=updated_at&page_size=4",
    )
    .await;
    let seen1: Vec<String> = page1["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["platform_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen1.len(), 4);
    app.state.clock.advance(StdDuration::from_secs(10));
    app.sim
        .update_event(&cal.account, &seen1[0], EventPatch::new().title("edited"))
        .await;
    sync(&app, &cal).await;
    let (rest, _) = walk(
        &app,
        &page1["next"]
            .as_str()
            .unwrap()
            .replacen(&app.address, "", 1),
    )
    .await;
    let rest_pids: Vec<String> = {
        let all = stored(&app, &cal).await;
        rest.iter()
            .map(|id| {
                all.iter()
                    .find(|e| &e.id == id)
                    .unwrap()
                    .platform_id
                    .clone()
            })
            .collect()
    };
    assert_eq!(rest_pids.len(), 3);
    assert_eq!(
        rest_pids.last().unwrap(),
        &seen1[0],
        "the edited event comes again, last"
    );
    let mut union: Vec<String> = seen1.iter().chain(rest_pids.iter()).cloned().collect();
    union.sort();
    union.dedup();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(union, expected, "no event skipped");

    // Start-time ordering: an event inserted before the cursor does not shift later pages.
    let (_, page1) = json(&app, "/api/v2/calendar-events/?page_size=3").await;
    let first3: Vec<String> = page1["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let early = t - Duration::minutes(30);
    app.sim
        .create_event(
            &cal.account,
            EventSpec::new("early", early, early + Duration::minutes(10)),
        )
        .await;
    sync(&app, &cal).await;
    let (rest, _) = walk(
        &app,
        &page1["next"]
            .as_str()
            .unwrap()
            .replacen(&app.address, "", 1),
    )
    .await;
    assert_eq!(rest.len(), 3);
    assert!(
        rest.iter().all(|id| !first3.contains(id)),
        "no duplicates across pages"
    );
}

#[tokio::test]
async fn one_event_with_raw_exactly_as_the_provider_sent_it() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "raw@acme.test").await;
    let t = base();
    let pid = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new("Raw", t, t + Duration::hours(1))
                .description("<b>Agenda</b> &amp; notes: https://zoom.us/j/81234567890?pwd=x")
                .attendee("ext@partner.test", convene_sim::ResponseStatus::Accepted),
        )
        .await;
    sync(&app, &cal).await;
    let ev = stored_one(&app, &cal, &pid).await;

    let res = app
        .get(&format!("/api/v2/calendar-events/{}/", ev.id))
        .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    for key in CALENDAR_EVENT_KEYS {
        assert!(body.get(key).is_some(), "missing {key}");
    }
    assert_eq!(body["platform"], "google_calendar");
    assert_eq!(body["platform_id"], pid.as_str());
    assert_eq!(body["meeting_platform"], "zoom");
    assert_eq!(body["meeting_url"], "https://zoom.us/j/81234567890?pwd=x");
    assert_eq!(body["bots"], serde_json::json!([]));
    assert!(body["start_time"].as_str().unwrap().ends_with('Z'));

    // The provider's own item, fetched directly, appears byte for byte in the answer.
    let token = convene::calendars::tokens::access_token(&app.state, &cal.id)
        .await
        .unwrap()
        .token;
    let page = reqwest::Client::new()
        .get(format!(
            "{}/calendar/v3/calendars/primary/events",
            app.sim.google_api_url()
        ))
        .bearer_auth(token)
        .query(&[("singleEvents", "true")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    #[derive(serde::Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        items: Vec<&'a serde_json::value::RawValue>,
    }
    let page: Page = serde_json::from_str(&page).unwrap();
    let item = page.items.iter().find(|i| i.get().contains(&pid)).unwrap();
    assert!(
        text.contains(&format!("\"raw\":{}", item.get())),
        "raw is the provider's JSON unchanged"
    );

    assert_eq!(
        app.get(&format!(
            "/api/v2/calendar-events/{}/",
            uuid::Uuid::new_v4()
        ))
        .await
        .status(),
        404
    );
    let res = app.get("/api/v2/calendar-events/not-a-uuid/").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap()["detail"], "Not found.");
}

#[tokio::test]
async fn list_queries_use_indexes() {
    let app = spawn_app().await;
    let cal = uuid::Uuid::new_v4().to_string();
    let queries = [
        EventQuery::default(),
        EventQuery {
            calendar_id: Some(cal.clone()),
            ..Default::default()
        },
        EventQuery {
            calendar_id: Some(cal.clone()),
            start_gte: Some(0),
            start_lte: Some(1),
            ..Default::default()
        },
        EventQuery {
            start_gte: Some(0),
            is_deleted: Some(false),
            ..Default::default()
        },
        EventQuery {
            ordering: Ordering::UpdatedAt,
            updated_gte: Some(0),
            ..Default::default()
        },
        EventQuery {
            calendar_id: Some(cal.clone()),
            ordering: Ordering::UpdatedAt,
            updated_gte: Some(0),
            ..Default::default()
        },
        EventQuery {
            ical_uid: Some("x".into()),
            ..Default::default()
        },
        EventQuery {
            after: Some((5, "id".into())),
            ..Default::default()
        },
        EventQuery {
            calendar_id: Some(cal.clone()),
            after: Some((5, "id".into())),
            backwards: true,
            ..Default::default()
        },
    ];
    // The full rows (V1 meetings, admin) and the events API's own columns.
    type PlanOf =
        fn(&rusqlite::Connection, &EventQuery) -> Result<Vec<String>, convene::store::StoreError>;
    let plans: [PlanOf; 2] = [
        convene::store::events::list_plan,
        convene::store::events::api_list_plan,
    ];
    for (mut q, plan_of) in queries
        .into_iter()
        .flat_map(|q| plans.map(|p| (q.clone(), p)))
    {
        q.limit = 101;
        let plan = app
            .state
            .store
            .read({
                let q = q.clone();
                move |c| plan_of(c, &q)
            })
            .await
            .unwrap();
        let text = plan.join(" | ");
        for line in &plan {
            if line.starts_with("SCAN e") {
                assert!(
                    line.contains("USING INDEX") || line.contains("USING COVERING INDEX"),
                    "{q:?}: {text}"
                );
            }
        }
        if q.ical_uid.is_some() {
            // A prefix filter: a range of the ical_uid index, then only the matches are
            // sorted by start time (reading the table in start order would scan it all).
            assert!(
                text.contains("calendar_events_ical (ical_uid>? AND ical_uid<?)"),
                "{q:?}: {text}"
            );
        } else {
            assert!(
                !text.contains("TEMP B-TREE"),
                "{q:?} sorts in memory: {text}"
            );
        }
        assert!(text.contains("calendar_events_"), "{q:?}: {text}");
    }
}

/// Listed times are written without chrono's formatter: every instant reads exactly as
/// `ms_to_rfc3339` (serde) writes it, across leap years, negative times and out-of-range
/// values.
#[test]
fn listed_times_read_as_rfc3339_millis() {
    let mut samples: Vec<i64> = vec![
        0,
        1,
        -1,
        999,
        1000,
        -86_400_000,
        951_782_400_000,     // 2000-02-29
        4_107_542_399_999,   // 2100-02-28T23:59:59.999
        -62_167_219_200_000, // 0000-01-01
        -62_167_219_200_001,
        253_402_300_799_999, // 9999-12-31T23:59:59.999
        253_402_300_800_000,
        i64::MIN,
        i64::MAX,
    ];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..50_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        samples.push((x % 600_000_000_000_000) as i64 - 300_000_000_000_000);
    }
    for ms in samples {
        let mut out = Vec::new();
        convene::events::api::write_time(&mut out, ms);
        let expected = serde_json::to_string(&convene::store::ms_to_rfc3339(ms)).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{ms}");
    }
}

/// The list is written straight from the database rows: with bots on some events, in both
/// orderings, forwards and backwards, every listed event is byte for byte the single
/// event's answer (serde), and the backward pages hold the forward pages' events.
#[tokio::test]
async fn the_written_list_matches_serde_with_bots_and_backward_pages() {
    #[derive(serde::Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        results: Vec<&'a serde_json::value::RawValue>,
        next: Option<String>,
        previous: Option<String>,
    }
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "written@acme.test").await;
    let t = base() + Duration::days(1);
    for i in 0..5 {
        let s = t + Duration::hours(i);
        let mut spec = EventSpec::new(format!("Üñí \"quoted\" {i}"), s, s + Duration::minutes(30));
        spec.description = Some("<a href=\"https://zoom.us/j/123\">join</a>\n\ttab".into());
        app.sim.create_event(&cal.account, spec).await;
    }
    sync(&app, &cal).await;
    let (_, all) = json(&app, "/api/v2/calendar-events/?page_size=10").await;
    let ids: Vec<String> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 5);
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        let res = app
            .post_json(
                &format!("/api/v2/calendar-events/{id}/bot/"),
                &serde_json::json!({
                    "deduplication_key": format!("k{i}"),
                    "bot_config": {"meeting_url": format!("https://meet.google.com/abc-defg-hi{i}")},
                }),
            )
            .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    let text = |url: String| {
        let app = &app;
        async move {
            let res = app.get_url(&url).await;
            assert_eq!(res.status(), 200, "{url}");
            res.text().await.unwrap()
        }
    };
    let mut singles = std::collections::HashMap::new();
    for id in &ids {
        singles.insert(
            id.clone(),
            text(app.url(&format!("/api/v2/calendar-events/{id}/"))).await,
        );
    }
    let mut with_bots = 0;
    for ordering in ["start_time", "updated_at"] {
        // Forwards to the last page, then backwards to the first.
        let mut url = app.url(&format!(
            "/api/v2/calendar-events/?page_size=2&ordering={ordering}"
        ));
        let (mut forwards, mut backwards) = (Vec::new(), Vec::new());
        let mut going_back = false;
        loop {
            let body = text(url.clone()).await;
            let page: Page = serde_json::from_str(&body).unwrap();
            let mut listed = Vec::new();
            for raw in &page.results {
                let v: Value = serde_json::from_str(raw.get()).unwrap();
                let id = v["id"].as_str().unwrap().to_string();
                assert_eq!(raw.get(), singles[&id], "{ordering}: {id}");
                if !going_back {
                    with_bots += usize::from(!v["bots"].as_array().unwrap().is_empty());
                }
                listed.push(id);
            }
            if going_back {
                backwards.splice(0..0, listed);
            } else {
                forwards.extend(listed);
            }
            match (going_back, &page.next, &page.previous) {
                (false, Some(next), _) => url = next.clone(),
                (false, None, Some(prev)) => {
                    going_back = true;
                    url = prev.clone();
                }
                (true, _, Some(prev)) => url = prev.clone(),
                _ => break,
            }
        }
        assert_eq!(forwards.len(), 5, "{ordering}");
        // The backward walk starts from the last page, so it holds all but its events.
        assert_eq!(backwards, forwards[..4], "{ordering}");
    }
    assert_eq!(with_bots, 2 * 2, "two events on bots, in each ordering");
}
