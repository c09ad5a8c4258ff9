use crate::common::*;
use chrono::{Duration, DurationRound, Utc};
use convene_sim::*;
use serde_json::Value;

const CB: &str = "http://127.0.0.1:8080/api/v1/calendar/google_oauth_callback/";
const SCOPES: &str = "https://www.googleapis.com/auth/calendar.events.readonly https://www.googleapis.com/auth/userinfo.email openid";

async fn setup() -> (SimHandle, AccountId) {
    let sim = convene_sim::start().await;
    sim.create_oauth_client(Provider::Google, "gid", "gsecret", vec![CB.into()])
        .await;
    let a = sim
        .create_account(Provider::Google, "alice@acme.test")
        .await;
    (sim, a)
}

async fn access_token(sim: &SimHandle, refresh: &str) -> String {
    let r = post_form(
        &sim.google_token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "gid"),
            ("client_secret", "gsecret"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = r.json();
    assert!(
        j.get("refresh_token").is_none(),
        "Google refresh answers carry no refresh token"
    );
    assert_eq!(j["expires_in"], 3599);
    assert_eq!(j["token_type"], "Bearer");
    j["access_token"].as_str().unwrap().to_string()
}

fn authorize_url(sim: &SimHandle, extra: &str) -> String {
    format!(
        "{}?client_id=gid&redirect_uri={}&response_type=code&scope={}&state=st%7B1%7D&access_type=offline{extra}",
        sim.google_auth_url(),
        enc(CB),
        enc(SCOPES)
    )
}

#[tokio::test]
async fn google_oauth_code_flow_pkce_redirect_and_consent() {
    let (sim, _alice) = setup().await;
    let (verifier, challenge) = pkce_pair();
    // Unknown redirect URI: an error page, no redirect.
    let bad = get(
        &authorize_url(&sim, "").replace(&enc(CB), &enc("http://evil.test/cb")),
        None,
        &[],
    )
    .await;
    assert_eq!(bad.status, 400);

    let r = get(
        &authorize_url(
            &sim,
            &format!("&prompt=consent&code_challenge={challenge}&code_challenge_method=S256"),
        ),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 302);
    let p = location_params(&r);
    assert_eq!(param(&p, "state").as_deref(), Some("st{1}"));
    assert!(r.header("location").unwrap().starts_with(CB));
    let code = param(&p, "code").unwrap();

    let exchange = |code: String,
                    redirect: &'static str,
                    verifier: Option<&'static str>,
                    secret: &'static str| {
        let url = sim.google_token_url();
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code),
                ("redirect_uri", redirect.to_string()),
                ("client_id", "gid".to_string()),
                ("client_secret", secret.to_string()),
            ];
            if let Some(v) = verifier {
                form.push(("code_verifier", v.to_string()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(&url, &form, None).await
        }
    };
    let v: &'static str = Box::leak(verifier.into_boxed_str());
    let r = exchange(code.clone(), CB, Some(v), "wrong").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    let r = exchange(code.clone(), CB, None, "gsecret").await;
    assert_eq!(
        (r.status, r.json()["error_description"].as_str()),
        (400, Some("Missing code verifier."))
    );
    let r = exchange(
        code.clone(),
        CB,
        Some("not-the-verifier-not-the-verifier-0123456789"),
        "gsecret",
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = exchange(
        code.clone(),
        "http://127.0.0.1:8080/api/v1/calendar/google_oauth_callback",
        Some(v),
        "gsecret",
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("redirect_uri_mismatch"))
    );
    let r = exchange(code.clone(), CB, Some(v), "gsecret").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = r.json();
    assert!(j["refresh_token"].is_string());
    assert_eq!(j["scope"], SCOPES);
    assert_eq!(
        jwt_claims(j["id_token"].as_str().unwrap())["email"],
        "alice@acme.test"
    );
    // Single use.
    let r = exchange(code, CB, Some(v), "gsecret").await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Consenting again without prompt=consent: no new refresh token.
    let r = get(&authorize_url(&sim, ""), None, &[]).await;
    let code = param(&location_params(&r), "code").unwrap();
    let j = exchange(code, CB, None, "gsecret").await.json();
    assert!(j["access_token"].is_string());
    assert!(j.get("refresh_token").is_none());

    // Denied consent.
    sim.deny_next_authorize(Provider::Google, "access_denied", None)
        .await;
    let r = get(&authorize_url(&sim, ""), None, &[]).await;
    let p = location_params(&r);
    assert_eq!(param(&p, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&p, "state").as_deref(), Some("st{1}"));
}

#[tokio::test]
async fn google_refresh_userinfo_calendar_and_revocation() {
    let (sim, alice) = setup().await;
    let rt = sim
        .mint_refresh_token(Provider::Google, "gid", &alice, &[])
        .await;
    let at = access_token(&sim, &rt).await;
    let ui = get(
        &format!("{}/oauth2/v3/userinfo", sim.google_api_url()),
        Some(&at),
        &[],
    )
    .await;
    assert_eq!(ui.json()["email"], "alice@acme.test");
    // calendars.get needs calendar(.readonly), events.readonly is not enough.
    let cal_url = format!("{}/calendar/v3/calendars/primary", sim.google_api_url());
    assert_eq!(get(&cal_url, Some(&at), &[]).await.status, 403);
    let rt2 = sim
        .mint_refresh_token(
            Provider::Google,
            "gid",
            &alice,
            &["https://www.googleapis.com/auth/calendar.readonly"],
        )
        .await;
    let at2 = access_token(&sim, &rt2).await;
    let cal = get(&cal_url, Some(&at2), &[]).await.json();
    assert_eq!(cal["id"], "alice@acme.test");
    assert_eq!(
        get(
            &format!("{}/oauth2/v3/userinfo", sim.google_api_url()),
            Some(&at2),
            &[]
        )
        .await
        .status,
        403
    );
    assert_eq!(get(&cal_url, Some("nope"), &[]).await.status, 401);

    sim.revoke_refresh_token(Provider::Google, &rt).await;
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
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        serde_json::json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    );
    // Access tokens of the revoked grant die too; others live.
    let ev_url = format!(
        "{}/calendar/v3/calendars/primary/events",
        sim.google_api_url()
    );
    assert_eq!(get(&ev_url, Some(&at), &[]).await.status, 401);
    assert_eq!(get(&ev_url, Some(&at2), &[]).await.status, 200);
    // Expired access token.
    sim.set_access_token_ttl(0).await;
    let at3 = {
        let r = post_form(
            &sim.google_token_url(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt2),
                ("client_id", "gid"),
                ("client_secret", "gsecret"),
            ],
            None,
        )
        .await;
        r.json()["access_token"].as_str().unwrap().to_string()
    };
    let r = get(&ev_url, Some(&at3), &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], 401);
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn google_events_paging_sync_tokens_and_410() {
    let (sim, alice) = setup().await;
    let rt = sim
        .mint_refresh_token(Provider::Google, "gid", &alice, &[])
        .await;
    let at = access_token(&sim, &rt).await;
    let day = Utc::now().duration_trunc(Duration::days(1)).unwrap() + Duration::days(1);
    let mut evs = Vec::new();
    for i in 0..7 {
        let s = day + Duration::hours(i);
        evs.push(
            sim.create_event(
                &alice,
                EventSpec::new(format!("E{i}"), s, s + Duration::minutes(30))
                    .description("<b>agenda</b>")
                    .attendee("bob@other.test", ResponseStatus::Accepted)
                    .meet("https://meet.google.com/abc-defg-hij"),
            )
            .await,
        );
    }
    // Cancelled and out-of-window events are not listed by a full sync.
    sim.create_event(
        &alice,
        EventSpec::new("gone", day, day + Duration::hours(1)).status(EventStatus::Cancelled),
    )
    .await;
    sim.create_event(
        &alice,
        EventSpec::new(
            "far",
            day + Duration::days(60),
            day + Duration::days(60) + Duration::hours(1),
        ),
    )
    .await;

    let base = format!(
        "{}/calendar/v3/calendars/primary/events?singleEvents=true&maxResults=3&timeMin={}&timeMax={}",
        sim.google_api_url(),
        enc(&(day - Duration::days(1)).to_rfc3339()),
        enc(&(day + Duration::days(28)).to_rfc3339())
    );
    let mut pages = Vec::new();
    let mut url = base.clone();
    loop {
        let r = get(&url, Some(&at), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let j = r.json();
        pages.push(j.clone());
        match j["nextPageToken"].as_str() {
            Some(t) => {
                assert!(j.get("nextSyncToken").is_none());
                url = format!("{base}&pageToken={t}");
            }
            None => break,
        }
    }
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages.iter().map(|p| ids(p).len()).collect::<Vec<_>>(),
        vec![3, 3, 1]
    );
    let all: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(all, evs);
    let first = &pages[0]["items"][0];
    assert_eq!(pages[0]["summary"], "alice@acme.test");
    assert_eq!(pages[0]["kind"], "calendar#events");
    assert_eq!(first["hangoutLink"], "https://meet.google.com/abc-defg-hij");
    assert_eq!(
        first["conferenceData"]["entryPoints"][0]["entryPointType"],
        "video"
    );
    assert_eq!(first["organizer"]["self"], true);
    assert_eq!(first["description"], "<b>agenda</b>");
    assert!(first["start"]["dateTime"].as_str().unwrap().ends_with('Z'));
    let sync = pages[2]["nextSyncToken"].as_str().unwrap().to_string();

    // Changes: edit, cancel, delete, create, and a series with a cancelled instance.
    sim.update_event(&alice, &evs[0], EventPatch::new().title("E0 renamed"))
        .await;
    sim.cancel_event(&alice, &evs[1]).await;
    sim.delete_event(&alice, &evs[2]).await;
    let new_id = sim
        .create_event(&alice, EventSpec::new("new", day, day + Duration::hours(1)))
        .await;
    let series = sim
        .create_event(
            &alice,
            EventSpec::new("daily", day, day + Duration::minutes(15)).daily(3),
        )
        .await;
    let inst = sim.instance_ids(&alice, &series).await;
    assert_eq!(inst.len(), 3);

    let ev_url = format!(
        "{}/calendar/v3/calendars/primary/events",
        sim.google_api_url()
    );
    let r = get(
        &format!("{ev_url}?syncToken={sync}&timeMin=2020-01-01T00:00:00Z"),
        Some(&at),
        &[],
    )
    .await;
    assert_eq!(r.status, 400);
    let j = get(&format!("{ev_url}?syncToken={sync}"), Some(&at), &[])
        .await
        .json();
    let changed = ids(&j);
    let mut expected = vec![evs[0].clone(), evs[1].clone(), evs[2].clone(), new_id];
    expected.extend(inst.iter().cloned());
    assert_eq!(changed, expected);
    let items = j["items"].as_array().unwrap();
    assert_eq!(items[0]["summary"], "E0 renamed");
    assert_eq!(
        items[1],
        serde_json::json!({"kind": "calendar#event", "etag": items[1]["etag"], "id": evs[1], "status": "cancelled"})
    );
    assert_eq!(items[2]["status"], "cancelled");
    assert_eq!(items[4]["recurringEventId"], series.as_str());
    assert!(items[4]["originalStartTime"]["dateTime"].is_string());
    let sync2 = j["nextSyncToken"].as_str().unwrap().to_string();

    sim.cancel_instance(&alice, &series, 1).await;
    let j = get(&format!("{ev_url}?syncToken={sync2}"), Some(&at), &[])
        .await
        .json();
    assert_eq!(ids(&j), vec![inst[1].clone()]);
    assert_eq!(j["items"][0]["status"], "cancelled");
    assert_eq!(j["items"][0]["recurringEventId"], series.as_str());
    let sync3 = j["nextSyncToken"].as_str().unwrap().to_string();
    // No change: empty page, same position.
    let j = get(&format!("{ev_url}?syncToken={sync3}"), Some(&at), &[])
        .await
        .json();
    assert!(ids(&j).is_empty());

    sim.expire_sync_tokens(&alice).await;
    let r = get(&format!("{ev_url}?syncToken={sync3}"), Some(&at), &[]).await;
    assert_eq!(r.status, 410);
    let j = r.json();
    assert_eq!(j["error"]["errors"][0]["reason"], "fullSyncRequired");
    assert_eq!(j["error"]["code"], 410);
    // A new full sync works and lists the remaining instances.
    let j = get(
        &format!("{ev_url}?singleEvents=true&maxResults=2500"),
        Some(&at),
        &[],
    )
    .await
    .json();
    // E0, E3..E6, far, new, instances 0 and 2
    assert_eq!(ids(&j).len(), 9);
}
