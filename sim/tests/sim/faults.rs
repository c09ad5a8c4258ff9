use crate::common::*;
use convene_sim::*;
use serde_json::json;
use std::time::Instant;

async fn google_access(sim: &SimHandle) -> String {
    sim.create_oauth_client(Provider::Google, "gid", "gsecret", vec![])
        .await;
    let a = sim
        .create_account(Provider::Google, "alice@acme.test")
        .await;
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
    r.json()["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn faults_fire_exactly_n_times_and_calls_are_counted() {
    let sim = convene_sim::start().await;
    let at = google_access(&sim).await;
    let url = format!(
        "{}/calendar/v3/calendars/primary/events",
        sim.google_api_url()
    );

    sim.inject_fault(Endpoint::GoogleEvents, Fault::Status500, 2)
        .await;
    sim.inject_fault(
        Endpoint::GoogleEvents,
        Fault::RateLimited429 {
            retry_after_secs: 7,
        },
        1,
    )
    .await;
    sim.inject_fault(Endpoint::GoogleEvents, Fault::Google403RateLimitExceeded, 1)
        .await;
    sim.inject_fault(Endpoint::GoogleEvents, Fault::MalformedJson, 1)
        .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = get(&url, Some(&at), &[]).await;
        statuses.push(r.status);
        match statuses.len() {
            3 => assert_eq!(r.header("retry-after").as_deref(), Some("7")),
            4 => assert_eq!(
                r.json()["error"]["errors"][0]["reason"],
                "rateLimitExceeded"
            ),
            5 => assert!(serde_json::from_str::<serde_json::Value>(&r.text).is_err()),
            6 => assert_eq!(r.json()["kind"], "calendar#events"),
            _ => {}
        }
    }
    assert_eq!(statuses, vec![500, 500, 429, 403, 200, 200]);
    assert_eq!(sim.call_count(Endpoint::GoogleEvents).await, 6);
    assert_eq!(sim.call_count(Endpoint::GoogleToken).await, 1);
    assert_eq!(sim.token_refresh_count(Provider::Google).await, 1);

    // Slow, on a token endpoint; the answer is then normal.
    sim.inject_fault(Endpoint::ZoomToken, Fault::Slow { millis: 250 }, 1)
        .await;
    let t = Instant::now();
    let r = post_form(
        &sim.zoom_token_url(),
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        None,
    )
    .await;
    assert!(t.elapsed().as_millis() >= 250);
    assert_eq!(r.status, 401);
    let t = Instant::now();
    post_form(
        &sim.zoom_token_url(),
        &[("grant_type", "refresh_token")],
        None,
    )
    .await;
    assert!(t.elapsed().as_millis() < 250);
    assert_eq!(sim.token_refresh_count(Provider::Zoom).await, 2);

    // Microsoft throttling shape.
    sim.inject_fault(
        Endpoint::MicrosoftToken,
        Fault::RateLimited429 {
            retry_after_secs: 3,
        },
        1,
    )
    .await;
    let r = post_form(
        &sim.microsoft_token_url(),
        &[("grant_type", "refresh_token")],
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.header("retry-after").as_deref()),
        (429, Some("3"))
    );
    assert_eq!(r.json()["error"]["code"], "TooManyRequests");

    sim.reset_counts().await;
    assert_eq!(sim.call_count(Endpoint::GoogleEvents).await, 0);
    assert_eq!(sim.token_refresh_count(Provider::Google).await, 0);
}

#[tokio::test]
async fn control_api_over_http() {
    let sim = convene_sim::start().await;
    let b = &sim.base_url;
    let info = get(&format!("{b}/_sim"), None, &[]).await.json();
    assert_eq!(info["env"].as_object().unwrap().len(), 9);
    assert_eq!(sim.env_vars().len(), 9);
    assert_eq!(
        info["env"]["CONVENE_MICROSOFT_GRAPH_URL"],
        sim.microsoft_graph_url()
    );

    let r = post_json(&format!("{b}/_sim/clients"), json!({"provider": "google", "client_id": "c", "client_secret": "s", "redirect_uris": ["http://x.test/cb"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let acct = post_json(
        &format!("{b}/_sim/accounts"),
        json!({"provider": "google", "email": "eve@acme.test"}),
    )
    .await
    .json();
    let id = acct["account_id"].as_str().unwrap().to_string();
    let ev = post_json(
        &format!("{b}/_sim/accounts/{id}/events"),
        json!({"title": "From HTTP", "when": {"type": "timed", "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T11:00:00Z"},
               "recurrence": {"freq": "daily", "count": 2},
               "conference": {"kind": "zoom", "url": "https://zoom.us/j/1"}}),
    )
    .await
    .json();
    assert_eq!(ev["instance_ids"].as_array().unwrap().len(), 2);
    let eid = ev["event_id"].as_str().unwrap();
    let r = post_json(
        &format!("{b}/_sim/accounts/{id}/events/{eid}/instances/1/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rt = post_json(
        &format!("{b}/_sim/tokens/refresh"),
        json!({"provider": "google", "client_id": "c", "account_id": id}),
    )
    .await
    .json();
    assert!(rt["refresh_token"].is_string());
    let r = post_json(
        &format!("{b}/_sim/faults"),
        json!({"endpoint": "google_token", "fault": {"kind": "status500"}, "times": 1}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post_form(
        &sim.google_token_url(),
        &[("grant_type", "refresh_token")],
        None,
    )
    .await;
    assert_eq!(r.status, 500);
    let counts = get(&format!("{b}/_sim/counts"), None, &[]).await.json();
    assert_eq!(counts["calls"]["google_token"], 1);
    assert_eq!(counts["refresh_grants"]["google"], 1);
    let r = post_json(
        &format!("{b}/_sim/accounts/nope/expire_sync_tokens"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, 404);
    let generated = post_json(
        &format!("{b}/_sim/generate"),
        json!({"accounts": 2, "events_per_account": 5, "seed": 1}),
    )
    .await
    .json();
    assert_eq!(generated.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn generator_counts_match_full_syncs() {
    let sim = convene_sim::start().await;
    let accts = sim.generate(4, 60, 42).await;
    assert_eq!(accts.len(), 4);
    assert_eq!(
        accts
            .iter()
            .filter(|a| a.provider == Provider::Google)
            .count(),
        2
    );
    for a in &accts {
        assert_eq!(a.events_created, 60);
        assert!(a.series > 0 && a.series < 30, "series {}", a.series);
        assert!(a.instances > 60);
        let r = match a.provider {
            Provider::Google => {
                post_form(
                    &sim.google_token_url(),
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &a.refresh_token),
                        ("client_id", &a.client_id),
                        ("client_secret", &a.client_secret),
                    ],
                    None,
                )
                .await
            }
            _ => {
                post_form(
                    &sim.microsoft_token_url(),
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &a.refresh_token),
                        ("client_id", &a.client_id),
                        ("client_secret", &a.client_secret),
                    ],
                    None,
                )
                .await
            }
        };
        let at = r.json()["access_token"].as_str().unwrap().to_string();
        let now = sim.now().await;
        let (min, max) = (
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(30),
        );
        let n = match a.provider {
            Provider::Google => {
                let j = get(
                    &format!(
                        "{}/calendar/v3/calendars/primary/events?singleEvents=true&maxResults=2500&timeMin={}&timeMax={}",
                        sim.google_api_url(),
                        enc(&min.to_rfc3339()),
                        enc(&max.to_rfc3339())
                    ),
                    Some(&at),
                    &[],
                )
                .await
                .json();
                j["items"].as_array().unwrap().len()
            }
            _ => {
                let j = get(
                    &format!(
                        "{}/me/calendarView/delta?startDateTime={}&endDateTime={}",
                        sim.microsoft_graph_url(),
                        enc(&min.to_rfc3339()),
                        enc(&max.to_rfc3339())
                    ),
                    Some(&at),
                    &[("Prefer", "odata.maxpagesize=1000")],
                )
                .await
                .json();
                j["value"].as_array().unwrap().len()
            }
        };
        // The window here starts a little later than the generator's, never earlier.
        assert!(
            n <= a.full_sync_items && n + 3 >= a.full_sync_items,
            "{n} vs {}",
            a.full_sync_items
        );
    }
    // Same seed, same content.
    let again = sim.generate(1, 60, 42).await;
    assert_eq!(again[0].series, accts[0].series);
}

#[tokio::test]
async fn generator_is_fast_enough_for_1000_by_200() {
    let sim = convene_sim::start().await;
    let t = Instant::now();
    let accts = sim.generate(1000, 200, 7).await;
    assert_eq!(accts.len(), 1000);
    let total: usize = accts.iter().map(|a| a.events_created).sum();
    assert_eq!(total, 200_000);
    eprintln!("generated 1000 x 200 in {:?}", t.elapsed());
    assert!(t.elapsed().as_secs() < 60);
}

#[actix_web::test]
async fn runs_inside_an_actix_runtime_and_clones_share_state() {
    let sim = convene_sim::start().await;
    let clone = sim.clone();
    let a = clone.create_account(Provider::Microsoft, "x@y.test").await;
    assert_eq!(sim.account_info(&a).await.email, "x@y.test");
    drop(clone);
    let r = get(&format!("{}/_sim/accounts", sim.base_url), None, &[]).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let base = sim.base_url.clone();
    sim.stop().await;
    assert!(http().get(format!("{base}/_sim")).send().await.is_err());
}
