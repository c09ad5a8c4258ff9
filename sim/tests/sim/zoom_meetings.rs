//! Zoom meetings: paged lists, users, token endpoints with scope checks, and signed
//! `meeting.*` events to subscribed webhook URLs.

use crate::common::*;
use chrono::{Duration, Utc};
use convene_sim::*;

async fn access_token(sim: &SimHandle, user: &str, scopes: &[&str]) -> String {
    let rt = sim
        .mint_refresh_token(Provider::Zoom, "zid", &AccountId(user.into()), scopes)
        .await;
    let r = post_form(
        &sim.zoom_token_url(),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some(("zid", "zsecret")),
    )
    .await;
    r.json()["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn meetings_page_users_list_and_scopes_are_checked() {
    let sim = convene_sim::start().await;
    sim.create_oauth_client(Provider::Zoom, "zid", "zsecret", vec![])
        .await;
    let (user, account) = sim.create_zoom_user(None, "zed@acme.test").await;
    let (other, _) = sim.create_zoom_user(Some(&account), "amy@acme.test").await;
    for i in 0..5 {
        sim.create_zoom_meeting(
            &user,
            &format!("M{i}"),
            Utc::now() + Duration::hours(i + 1),
            30,
        )
        .await;
    }
    sim.create_zoom_meeting(&user, "past", Utc::now() - Duration::hours(3), 30)
        .await;
    let token = access_token(&sim, &user, &["meeting:read:list_meetings"]).await;
    let base = sim.zoom_api_url();
    let mut seen = 0;
    let mut next = String::new();
    loop {
        let url =
            format!("{base}/users/me/meetings?type=upcoming&page_size=2&next_page_token={next}");
        let r = get(&url, Some(&token), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let body = r.json();
        assert_eq!(body["total_records"], 5);
        seen += body["meetings"].as_array().unwrap().len();
        next = body["next_page_token"].as_str().unwrap().to_string();
        if next.is_empty() {
            break;
        }
    }
    assert_eq!(seen, 5);
    assert_eq!(sim.call_count(Endpoint::ZoomMeetings).await, 3);

    // Another user's meetings need the admin scope; so does the users list.
    let r = get(&format!("{base}/users/{other}/meetings"), Some(&token), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 4711);
    let r = get(&format!("{base}/users?status=active"), Some(&token), &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("user:read:list_users:admin"));
    let admin = access_token(&sim, &user, &["user:read:list_users:admin"]).await;
    let r = get(&format!("{base}/users?status=active"), Some(&admin), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["users"].as_array().unwrap().len(), 2);
    let r = get(&format!("{base}/users/me/meetings"), None, &[]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn token_endpoints_check_scopes_meetings_and_hosts() {
    let sim = convene_sim::start().await;
    sim.create_oauth_client(Provider::Zoom, "zid", "zsecret", vec![])
        .await;
    let (host, _) = sim.create_zoom_user(None, "host@acme.test").await;
    let (guest, _) = sim.create_zoom_user(None, "guest@other.test").await;
    let m = sim
        .create_zoom_meeting(&host, "Call", Utc::now() + Duration::hours(1), 30)
        .await;
    let all = [
        "user:read:zak",
        "user:read:token",
        "meeting:read:local_recording_token",
    ];
    let t = access_token(&sim, &host, &all).await;
    let base = sim.zoom_api_url();
    let r = get(&format!("{base}/users/me/token?type=zak"), Some(&t), &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["token"].is_string());
    let r = get(
        &format!("{base}/users/me/token?type=onbehalf&meeting_id={}", m.id),
        Some(&t),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = get(
        &format!("{base}/users/me/token?type=onbehalf&meeting_id=1"),
        Some(&t),
        &[],
    )
    .await;
    assert_eq!((r.status, r.json()["code"].as_i64()), (404, Some(3001)));
    let r = get(
        &format!("{base}/meetings/{}/jointoken/local_recording", m.id),
        Some(&t),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["expire_in"], 120);
    let g = access_token(&sim, &guest, &all).await;
    let r = get(
        &format!("{base}/meetings/{}/jointoken/local_recording", m.id),
        Some(&g),
        &[],
    )
    .await;
    assert_eq!(r.status, 400, "only the host");
    let none = access_token(&sim, &host, &["user:read:user"]).await;
    let r = get(&format!("{base}/users/me/token?type=zak"), Some(&none), &[]).await;
    assert_eq!((r.status, r.json()["code"].as_i64()), (400, Some(4711)));
}

#[tokio::test]
async fn meeting_changes_are_sent_signed_to_subscriptions() {
    let sim = convene_sim::start().await;
    let (host, account) = sim.create_zoom_user(None, "h@acme.test").await;
    // A receiver that records what it is sent.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                loop {
                    let n = sock.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            tx.send(text).unwrap();
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    )
                    .await;
            });
        }
    });
    sim.add_zoom_webhook(&url, "whsecret").await;
    let m = sim
        .create_zoom_meeting(&host, "Sync", Utc::now() + Duration::hours(2), 30)
        .await;
    let request = rx.recv().await.unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap()
    };
    let ts = header("x-zm-request-timestamp");
    assert_eq!(
        header("x-zm-signature"),
        zoom_signature("whsecret", &ts, body)
    );
    let event: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["event"], "meeting.created");
    assert_eq!(event["payload"]["account_id"], account.as_str());
    assert_eq!(event["payload"]["object"]["id"], m.id);
    assert_eq!(sim.delete_zoom_meeting(m.id).await, vec![200]);
    let request = rx.recv().await.unwrap();
    assert!(request.contains("meeting.deleted"));
    assert!(sim.zoom_meetings().await.is_empty());
}
