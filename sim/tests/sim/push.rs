//! Push notifications, the provider side: Google watch/stop and channel messages, Graph
//! subscriptions with the validation handshake, change and lifecycle notifications, and
//! the control API (refuse, expire, drop, lifecycle, listing).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{Duration, Utc};
use convene_sim::*;
use serde_json::{json, Value};

use crate::common::*;

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: String,
}

/// A notification receiver on loopback; `echo` decides whether it answers the Graph
/// handshake correctly.
struct Receiver {
    base: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    async fn start(echo: bool) -> Receiver {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let g = got.clone();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = HttpServer::new(move || {
            let g = g.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let g = g.clone();
                async move {
                    let query: HashMap<String, String> =
                        url::form_urlencoded::parse(req.query_string().as_bytes())
                            .into_owned()
                            .collect();
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect();
                    g.lock().unwrap().push(Got {
                        path: req.path().to_string(),
                        query: query.clone(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    match query.get("validationToken") {
                        Some(t) if echo => HttpResponse::Ok()
                            .content_type("text/plain")
                            .body(t.clone()),
                        Some(_) => HttpResponse::Ok().content_type("text/plain").body("nope"),
                        None => HttpResponse::Accepted().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Receiver { base, got }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn take(&self) -> Vec<Got> {
        std::mem::take(&mut *self.got.lock().unwrap())
    }
}

async fn token(
    sim: &SimHandle,
    provider: Provider,
    cid: &str,
    secret: &str,
    account: &AccountId,
) -> String {
    let refresh = sim.mint_refresh_token(provider, cid, account, &[]).await;
    let url = match provider {
        Provider::Google => sim.google_token_url(),
        _ => sim.microsoft_token_url(),
    };
    let r = post_form(
        &url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", cid),
            ("client_secret", secret),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["access_token"].as_str().unwrap().to_string()
}

async fn send(req: reqwest::RequestBuilder) -> Resp {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Resp {
        status,
        headers,
        text,
    }
}

fn spec(title: &str) -> EventSpec {
    let t = Utc::now() + Duration::hours(3);
    EventSpec::new(title, t, t + Duration::minutes(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_watch_notifies_on_every_change_until_stopped() {
    let sim = convene_sim::start().await;
    let rx = Receiver::start(true).await;
    sim.create_oauth_client(Provider::Google, "gid", "gsecret", vec![])
        .await;
    let alice = sim
        .create_account(Provider::Google, "alice@acme.test")
        .await;
    let bearer = token(&sim, Provider::Google, "gid", "gsecret", &alice).await;
    let watch = format!(
        "{}/calendar/v3/calendars/primary/events/watch",
        sim.google_api_url()
    );
    let body = json!({"id": "chan-1", "type": "web_hook", "address": rx.url("/hook"),
                      "token": "secret-token", "params": {"ttl": "3600"}});
    // No bearer: 401.
    assert_eq!(send(http().post(&watch).json(&body)).await.status, 401);
    let r = send(http().post(&watch).bearer_auth(&bearer).json(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = r.json();
    assert_eq!(j["kind"], "api#channel");
    assert_eq!(j["id"], "chan-1");
    assert_eq!(j["token"], "secret-token");
    let resource = j["resourceId"].as_str().unwrap().to_string();
    let exp: i64 = j["expiration"].as_str().unwrap().parse().unwrap();
    assert!((exp - Utc::now().timestamp_millis() - 3_600_000).abs() < 10_000);
    // The `sync` message follows at once.
    let d = sim.push_flush().await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        (d[0].kind.as_str(), d[0].what.as_str(), d[0].status),
        ("google", "sync", Some(202))
    );
    let got = rx.take();
    assert_eq!(got[0].headers["x-goog-channel-id"], "chan-1");
    assert_eq!(got[0].headers["x-goog-channel-token"], "secret-token");
    assert_eq!(got[0].headers["x-goog-resource-id"], resource);
    assert_eq!(got[0].headers["x-goog-resource-state"], "sync");
    assert_eq!(got[0].headers["x-goog-message-number"], "1");
    assert!(got[0].headers["x-goog-channel-expiration"].ends_with("GMT"));
    assert!(got[0].headers.contains_key("x-goog-resource-uri"));
    assert!(got[0].body.is_empty());
    // A duplicate id is refused.
    let r = send(http().post(&watch).bearer_auth(&bearer).json(&body)).await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("channelIdNotUnique"));

    // A change through the control API (HTTP) notifies `exists`, numbered.
    let r = post_json(
        &format!("{}/_sim/accounts/{alice}/events", sim.base_url),
        json!({"title": "X", "when": {"type": "timed", "start": Utc::now() + Duration::hours(1),
               "end": Utc::now() + Duration::hours(2)}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = sim.push_flush().await;
    assert_eq!(d.len(), 1);
    let got = rx.take();
    assert_eq!(got[0].headers["x-goog-resource-state"], "exists");
    assert_eq!(got[0].headers["x-goog-message-number"], "2");
    // ... and through the handle.
    let ev = sim.create_event(&alice, spec("Y")).await;
    sim.cancel_event(&alice, &ev).await;
    assert_eq!(sim.push_flush().await.len(), 2);

    // Listing.
    let l = sim.push_listing().await;
    assert_eq!(l.channels.len(), 1);
    assert_eq!(l.channels[0].id, "chan-1");
    let r = get(&format!("{}/_sim/push", sim.base_url), None, &[]).await;
    assert_eq!(r.json()["channels"][0]["id"], "chan-1");

    // Dropping an account's notifications.
    sim.drop_push_notifications(&alice, true).await;
    sim.create_event(&alice, spec("dropped")).await;
    assert!(sim.push_flush().await.is_empty());
    sim.drop_push_notifications(&alice, false).await;

    // Stop: wrong resource id 404, right one 204; then silence.
    let stop = format!("{}/calendar/v3/channels/stop", sim.google_api_url());
    let r = send(
        http()
            .post(&stop)
            .bearer_auth(&bearer)
            .json(&json!({"id": "chan-1", "resourceId": "x"})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = send(
        http()
            .post(&stop)
            .bearer_auth(&bearer)
            .json(&json!({"id": "chan-1", "resourceId": resource})),
    )
    .await;
    assert_eq!(r.status, 204);
    sim.create_event(&alice, spec("after stop")).await;
    assert!(sim.push_flush().await.is_empty());
    assert!(sim.push_listing().await.channels.is_empty());
    let r = send(
        http()
            .post(&stop)
            .bearer_auth(&bearer)
            .json(&json!({"id": "chan-1", "resourceId": resource})),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(sim.call_count(Endpoint::GoogleWatch).await, 3);
    assert_eq!(sim.call_count(Endpoint::GoogleChannelsStop).await, 3);

    // Refusal and early expiry.
    sim.refuse_next_push(Provider::Google, 403, Some("push.webhookUrlUnauthorized"))
        .await;
    let body2 =
        json!({"id": "chan-2", "type": "web_hook", "address": rx.url("/hook"), "token": "t2"});
    let r = send(http().post(&watch).bearer_auth(&bearer).json(&body2)).await;
    assert_eq!(r.status, 403);
    assert!(r.text.contains("push.webhookUrlUnauthorized"));
    let r = send(http().post(&watch).bearer_auth(&bearer).json(&body2)).await;
    assert_eq!(r.status, 200);
    let exp2: i64 = r.json()["expiration"].as_str().unwrap().parse().unwrap();
    assert!(
        (exp2 - Utc::now().timestamp_millis() - 604_800_000).abs() < 10_000,
        "a week by default"
    );
    sim.push_flush().await;
    let r = post_json(
        &format!("{}/_sim/push/expire", sim.base_url),
        json!({"id": "chan-2"}),
    )
    .await;
    assert_eq!(r.status, 200);
    sim.create_event(&alice, spec("after expiry")).await;
    assert!(sim.push_flush().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_subscriptions_validate_notify_renew_and_delete() {
    let sim = convene_sim::start().await;
    let rx = Receiver::start(true).await;
    sim.create_oauth_client(Provider::Microsoft, "mid", "msecret", vec![])
        .await;
    let bob = sim
        .create_account(Provider::Microsoft, "bob@contoso.test")
        .await;
    let bearer = token(&sim, Provider::Microsoft, "mid", "msecret", &bob).await;
    let subs = format!("{}/subscriptions", sim.microsoft_graph_url());
    let exp = Utc::now() + Duration::minutes(4230);
    let body = json!({
        "changeType": "created,updated,deleted",
        "notificationUrl": rx.url("/n"),
        "lifecycleNotificationUrl": rx.url("/l"),
        "resource": "me/events",
        "expirationDateTime": exp.to_rfc3339(),
        "clientState": "cs-secret",
    });
    let r = send(http().post(&subs).bearer_auth(&bearer).json(&body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let j = r.json();
    let id = j["id"].as_str().unwrap().to_string();
    assert_eq!(j["resource"], "me/events");
    assert_eq!(j["clientState"], "cs-secret");
    assert_eq!(j["changeType"], "created,updated,deleted");
    // Both URLs were validated before the answer: URL-encoded token, echoed.
    let got = rx.take();
    assert_eq!(got.len(), 2, "{got:?}");
    let paths: Vec<&str> = got.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, ["/n", "/l"]);
    assert!(got[0].query["validationToken"].starts_with("Validation: Testing client"));
    let d = sim.push_flush().await;
    assert_eq!(d.iter().filter(|x| x.kind == "validation").count(), 2);

    // A change: one collection per subscription, with clientState and the change type.
    let ev = sim.create_event(&bob, spec("New")).await;
    sim.push_flush().await;
    let got = rx.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/n");
    let n: Value = serde_json::from_str(&got[0].body).unwrap();
    let item = &n["value"][0];
    assert_eq!(item["subscriptionId"], id.as_str());
    assert_eq!(item["clientState"], "cs-secret");
    assert_eq!(item["changeType"], "created");
    assert_eq!(item["resourceData"]["id"], ev.as_str());
    sim.update_event(&bob, &ev, EventPatch::new().title("Edited"))
        .await;
    sim.delete_event(&bob, &ev).await;
    sim.push_flush().await;
    // (Sent concurrently, as the providers do: no order between notifications.)
    let mut kinds: Vec<String> = rx
        .take()
        .iter()
        .map(|g| {
            serde_json::from_str::<Value>(&g.body).unwrap()["value"][0]["changeType"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["deleted", "updated"]);

    // Renew (PATCH), lifecycle, delete.
    let one = format!("{subs}/{id}");
    let later = Utc::now() + Duration::minutes(5000);
    let r = send(
        http()
            .patch(&one)
            .bearer_auth(&bearer)
            .json(&json!({"expirationDateTime": later.to_rfc3339()})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let too_late = Utc::now() + Duration::minutes(20_000);
    let r = send(
        http()
            .patch(&one)
            .bearer_auth(&bearer)
            .json(&json!({"expirationDateTime": too_late.to_rfc3339()})),
    )
    .await;
    assert_eq!(r.status, 400);
    let l = sim.push_listing().await;
    assert_eq!(l.subscriptions[0].expiration.timestamp(), later.timestamp());
    sim.send_lifecycle(&id, LifecycleEvent::ReauthorizationRequired)
        .await;
    sim.push_flush().await;
    let got = rx.take();
    assert_eq!(got[0].path, "/l");
    let n: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(n["value"][0]["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(n["value"][0]["clientState"], "cs-secret");
    let r = send(http().delete(&one).bearer_auth(&bearer)).await;
    assert_eq!(r.status, 204);
    let r = send(http().delete(&one).bearer_auth(&bearer)).await;
    assert_eq!(r.status, 404);
    let r = send(
        http()
            .patch(&one)
            .bearer_auth(&bearer)
            .json(&json!({"expirationDateTime": later.to_rfc3339()})),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(sim.push_listing().await.subscriptions.is_empty());

    // subscriptionRemoved ends it; missed is just a message.
    let r = send(http().post(&subs).bearer_auth(&bearer).json(&body)).await;
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    rx.take();
    let r = post_json(
        &format!("{}/_sim/push/lifecycle", sim.base_url),
        json!({"subscription_id": id2, "event": "subscriptionRemoved"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    sim.push_flush().await;
    assert_eq!(rx.take().len(), 1);
    assert!(sim.push_listing().await.subscriptions.is_empty());

    // Refusal with a chosen error.
    sim.refuse_next_push(Provider::Microsoft, 403, Some("ExtensionError"))
        .await;
    let r = send(http().post(&subs).bearer_auth(&bearer).json(&body)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "ExtensionError");
    assert_eq!(
        sim.call_count(Endpoint::MicrosoftSubscriptionCreate).await,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handshake_refuses_the_subscription() {
    let sim = convene_sim::start().await;
    let rx = Receiver::start(false).await;
    sim.create_oauth_client(Provider::Microsoft, "mid", "msecret", vec![])
        .await;
    let bob = sim
        .create_account(Provider::Microsoft, "bob@contoso.test")
        .await;
    let bearer = token(&sim, Provider::Microsoft, "mid", "msecret", &bob).await;
    let body = json!({
        "changeType": "updated",
        "notificationUrl": rx.url("/n"),
        "resource": "me/events",
        "expirationDateTime": (Utc::now() + Duration::hours(1)).to_rfc3339(),
        "clientState": "x",
    });
    let r = send(
        http()
            .post(format!("{}/subscriptions", sim.microsoft_graph_url()))
            .bearer_auth(&bearer)
            .json(&body),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "ValidationError");
    assert!(sim.push_listing().await.subscriptions.is_empty());
    let d = sim.push_flush().await;
    assert_eq!(d.len(), 1);
    assert!(d[0].error.is_some());
    // Unreachable URL: refused too.
    let mut unreachable = body.clone();
    unreachable["notificationUrl"] = json!("http://127.0.0.1:9/n");
    let r = send(
        http()
            .post(format!("{}/subscriptions", sim.microsoft_graph_url()))
            .bearer_auth(&bearer)
            .json(&unreachable),
    )
    .await;
    assert_eq!(r.status, 400);
}
