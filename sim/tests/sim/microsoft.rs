use crate::common::*;
use chrono::{Duration, DurationRound, Utc};
use convene_sim::*;
use serde_json::Value;

const CB: &str = "http://127.0.0.1:8080/api/v1/calendar/ms_oauth_callback/";
const SCOPES: &str = "offline_access openid email https://graph.microsoft.com/Calendars.Read";

async fn setup() -> SimHandle {
    let sim = convene_sim::start().await;
    sim.create_oauth_client(Provider::Microsoft, "mid", "msecret", vec![CB.into()])
        .await;
    sim
}

async fn refresh(sim: &SimHandle, rt: &str, scope: Option<&str>) -> Resp {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", "mid"),
        ("client_secret", "msecret"),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    post_form(&sim.microsoft_token_url(), &form, None).await
}

fn authorize_url(sim: &SimHandle, hint: &str) -> String {
    format!(
        "{}?client_id=mid&response_type=code&redirect_uri={}&response_mode=query&scope={}&state=s1&login_hint={}",
        sim.microsoft_auth_url(),
        enc(CB),
        enc(SCOPES),
        enc(hint)
    )
}

fn assert_aad(r: &Resp, status: u16, error: &str, code: u64) {
    assert_eq!(r.status, status, "{}", r.text);
    let j = r.json();
    assert_eq!(j["error"], error);
    assert_eq!(j["error_codes"], serde_json::json!([code]));
    assert!(j["error_description"]
        .as_str()
        .unwrap()
        .starts_with(&format!("AADSTS{code}:")));
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(j[k].is_string(), "{k} missing");
    }
}

#[tokio::test]
async fn microsoft_auth_flow_id_token_me_and_calendar() {
    let sim = setup().await;
    let bob = sim
        .create_account(Provider::Microsoft, "bob@contoso.test")
        .await;
    let nomail = sim
        .create_account_with(
            AccountSpec::new(Provider::Microsoft, "upn.only@contoso.test").no_mail(),
        )
        .await
        .account_id;
    let r = get(&authorize_url(&sim, "bob@contoso.test"), None, &[]).await;
    assert_eq!(r.status, 302);
    let p = location_params(&r);
    assert_eq!(param(&p, "state").as_deref(), Some("s1"));
    let code = param(&p, "code").unwrap();
    let exchange = |code: String, redirect: &'static str| {
        let url = sim.microsoft_token_url();
        async move {
            post_form(
                &url,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("client_id", "mid"),
                    ("client_secret", "msecret"),
                    ("scope", SCOPES),
                ],
                None,
            )
            .await
        }
    };
    let r = exchange(code.clone(), CB).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = r.json();
    assert!(j["refresh_token"].is_string());
    assert_eq!(j["token_type"], "Bearer");
    let claims = jwt_claims(j["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], "bob@contoso.test");
    assert_eq!(claims["oid"], bob.as_str());
    assert_aad(&exchange(code, CB).await, 400, "invalid_grant", 54005);
    let at = j["access_token"].as_str().unwrap();
    let g = sim.microsoft_graph_url();
    let me = get(&format!("{g}/me"), Some(at), &[]).await;
    assert_eq!(me.status, 403);
    assert_eq!(me.json()["error"]["code"], "ErrorAccessDenied");
    let cal = get(&format!("{g}/me/calendar"), Some(at), &[]).await.json();
    assert_eq!(cal["owner"]["address"], "bob@contoso.test");
    assert_eq!(cal["name"], "Calendar");
    assert_eq!(
        get(&format!("{g}/me/calendar"), Some("bad"), &[])
            .await
            .status,
        401
    );

    // mail: null account: no email claim, preferred_username instead; /me with User.Read.
    let rt = sim
        .mint_refresh_token(
            Provider::Microsoft,
            "mid",
            &nomail,
            &[
                "offline_access",
                "openid",
                "email",
                "User.Read",
                "Calendars.Read",
            ],
        )
        .await;
    let j = refresh(&sim, &rt, None).await.json();
    let claims = jwt_claims(j["id_token"].as_str().unwrap());
    assert!(claims.get("email").is_none());
    assert_eq!(claims["preferred_username"], "upn.only@contoso.test");
    let me = get(&format!("{g}/me"), j["access_token"].as_str(), &[])
        .await
        .json();
    assert_eq!(me["mail"], Value::Null);
    assert_eq!(me["userPrincipalName"], "upn.only@contoso.test");

    // Denials carry AADSTS descriptions.
    sim.deny_next_authorize(Provider::Microsoft, "consent_required", None)
        .await;
    let p = location_params(&get(&authorize_url(&sim, "bob@contoso.test"), None, &[]).await);
    assert_eq!(param(&p, "error").as_deref(), Some("consent_required"));
    assert!(param(&p, "error_description")
        .unwrap()
        .starts_with("AADSTS65001"));
    assert_eq!(param(&p, "state").as_deref(), Some("s1"));
}

#[tokio::test]
async fn microsoft_refresh_rotation_scopes_and_errors() {
    let sim = setup().await;
    let bob = sim
        .create_account(Provider::Microsoft, "bob@contoso.test")
        .await;
    let r0 = sim
        .mint_refresh_token(Provider::Microsoft, "mid", &bob, &[])
        .await;
    let j = refresh(&sim, &r0, Some(SCOPES)).await.json();
    let r1 = j["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r0, r1);
    assert_aad(&refresh(&sim, &r0, None).await, 400, "invalid_grant", 70008);
    let r2 = refresh(&sim, &r1, None).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    // A scope never granted.
    assert_aad(
        &refresh(
            &sim,
            &r2,
            Some("https://graph.microsoft.com/User.Read offline_access"),
        )
        .await,
        400,
        "invalid_grant",
        65001,
    );
    // Wrong secret.
    let r = post_form(
        &sim.microsoft_token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r2),
            ("client_id", "mid"),
            ("client_secret", "nope"),
        ],
        None,
    )
    .await;
    assert_aad(&r, 401, "invalid_client", 7000215);
    // Lenient rotation keeps old tokens usable.
    sim.set_strict_rotation(false).await;
    let r3 = refresh(&sim, &r2, None).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(refresh(&sim, &r2, None).await.status, 200);
    sim.revoke_all_tokens(&bob).await;
    assert_aad(&refresh(&sim, &r3, None).await, 400, "invalid_grant", 70008);
    assert_eq!(sim.token_refresh_count(Provider::Microsoft).await, 8);
}

fn values(j: &Value) -> Vec<Value> {
    j["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn microsoft_delta_paging_changes_removed_duplicates_and_410() {
    let sim = setup().await;
    let bob = sim
        .create_account(Provider::Microsoft, "bob@contoso.test")
        .await;
    let rt = sim
        .mint_refresh_token(Provider::Microsoft, "mid", &bob, &[])
        .await;
    let at = refresh(&sim, &rt, None).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let day = Utc::now().duration_trunc(Duration::days(1)).unwrap() + Duration::days(1);
    let mut evs = Vec::new();
    for i in 0..5 {
        let s = day + Duration::hours(i);
        evs.push(
            sim.create_event(
                &bob,
                EventSpec::new(format!("M{i}"), s, s + Duration::minutes(30))
                    .teams("https://teams.microsoft.com/l/meetup-join/abc")
                    .attendee("carol@other.test", ResponseStatus::Tentative),
            )
            .await,
        );
    }
    let series = sim
        .create_event(
            &bob,
            EventSpec::new(
                "weekly",
                day + Duration::hours(20),
                day + Duration::hours(21),
            )
            .weekly(3),
        )
        .await;
    let g = sim.microsoft_graph_url();
    let first = format!(
        "{g}/me/calendarView/delta?startDateTime={}&endDateTime={}",
        enc(&util_fmt(day - Duration::days(1))),
        enc(&util_fmt(day + Duration::days(28)))
    );
    let prefer = [
        ("Prefer", "odata.maxpagesize=3"),
        ("Prefer", "outlook.timezone=\"UTC\""),
    ];
    let mut url = first;
    let mut pages = Vec::new();
    let delta_link = loop {
        let r = get(&url, Some(&at), &prefer).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let j = r.json();
        pages.push(values(&j));
        if let Some(n) = j["@odata.nextLink"].as_str() {
            assert!(j.get("@odata.deltaLink").is_none());
            assert!(n.starts_with(&g) && n.contains("$skiptoken="));
            url = n.to_string();
        } else {
            break j["@odata.deltaLink"].as_str().unwrap().to_string();
        }
    };
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 2]
    );
    let all: Vec<Value> = pages.concat();
    let e0 = &all[0];
    assert_eq!(e0["id"], evs[0].as_str());
    assert_eq!(e0["type"], "singleInstance");
    assert_eq!(e0["isOnlineMeeting"], true);
    assert_eq!(
        e0["onlineMeeting"]["joinUrl"],
        "https://teams.microsoft.com/l/meetup-join/abc"
    );
    assert_eq!(e0["onlineMeetingProvider"], "teamsForBusiness");
    assert_eq!(e0["isOrganizer"], true);
    assert_eq!(e0["responseStatus"]["response"], "organizer");
    assert_eq!(
        e0["attendees"][0]["status"]["response"],
        "tentativelyAccepted"
    );
    assert_eq!(e0["start"]["timeZone"], "UTC");
    assert!(e0["start"]["dateTime"]
        .as_str()
        .unwrap()
        .ends_with(".0000000"));
    let occ: Vec<&Value> = all.iter().filter(|e| e["type"] == "occurrence").collect();
    assert_eq!(occ.len(), 3);
    assert!(occ.iter().all(|e| e["seriesMasterId"] == series.as_str()));

    // Changes since the delta link.
    sim.update_event(&bob, &evs[0], EventPatch::new().title("M0 moved"))
        .await;
    sim.delete_event(&bob, &evs[1]).await;
    sim.cancel_event(&bob, &evs[2]).await;
    let moved = sim
        .move_instance(
            &bob,
            &series,
            1,
            day + Duration::hours(22),
            day + Duration::hours(23),
        )
        .await;
    let j = get(&delta_link, Some(&at), &prefer).await.json();
    let v = values(&j);
    assert_eq!(v.len(), 3, "{v:?}");
    assert!(j["@odata.nextLink"].is_string());
    let j2 = get(j["@odata.nextLink"].as_str().unwrap(), Some(&at), &prefer)
        .await
        .json();
    let v2 = values(&j2);
    let changes: Vec<Value> = v.into_iter().chain(v2).collect();
    assert_eq!(changes.len(), 4);
    assert_eq!(changes[0]["subject"], "M0 moved");
    assert_eq!(
        changes[1],
        serde_json::json!({"@odata.type": "#microsoft.graph.event", "id": evs[1], "@removed": {"reason": "deleted"}})
    );
    assert_eq!(changes[2]["isCancelled"], true);
    assert_eq!(changes[3]["id"], moved.as_str());
    assert_eq!(changes[3]["type"], "exception");
    let delta2 = j2["@odata.deltaLink"].as_str().unwrap().to_string();

    // Replayed items.
    sim.update_event(&bob, &evs[3], EventPatch::new().location(Some("Room 1")))
        .await;
    sim.duplicate_next_delta_items(&bob).await;
    let j = get(&delta2, Some(&at), &[]).await.json();
    let v = values(&j);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["id"], v[1]["id"]);
    assert_eq!(v[0]["location"]["displayName"], "Room 1");
    let delta3 = j["@odata.deltaLink"].as_str().unwrap().to_string();

    sim.expire_sync_tokens(&bob).await;
    let r = get(&delta3, Some(&at), &[]).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.json()["error"]["code"], "SyncStateNotFound");
    // Without a window: 400.
    assert_eq!(
        get(&format!("{g}/me/calendarView/delta"), Some(&at), &[])
            .await
            .status,
        400
    );
}

fn util_fmt(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}
