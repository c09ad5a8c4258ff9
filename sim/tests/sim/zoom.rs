use crate::common::*;
use convene_sim::*;

const CB: &str = "https://app.test/zoom/callback/";

async fn exchange(
    sim: &SimHandle,
    code: &str,
    redirect: &str,
    basic: Option<(&str, &str)>,
) -> Resp {
    post_form(
        &sim.zoom_token_url(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
        ],
        basic,
    )
    .await
}

async fn refresh(sim: &SimHandle, rt: &str) -> Resp {
    post_form(
        &sim.zoom_token_url(),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(("zid", "zsecret")),
    )
    .await
}

#[tokio::test]
async fn zoom_code_basic_auth_redirect_rotation_and_reauthorize() {
    let sim = convene_sim::start().await;
    sim.create_oauth_client(Provider::Zoom, "zid", "zsecret", vec![CB.into()])
        .await;
    let (user, account) = sim.create_zoom_user(None, "carol@acme.test").await;
    let (user2, account2) = sim.create_zoom_user(Some(&account), "dan@acme.test").await;
    assert_eq!(account, account2);
    assert_ne!(user, user2);

    // Browser flow: authorize redirects with a code.
    let r = get(
        &format!("{}?response_type=code&client_id=zid&redirect_uri={}&state=z&login_hint=carol@acme.test", sim.zoom_auth_url(), enc(CB)),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 302);
    let code = param(&location_params(&r), "code").unwrap();

    let r = exchange(&sim, &code, CB, None).await;
    assert_eq!(
        (r.status, r.json()),
        (
            401,
            serde_json::json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
        )
    );
    let r = exchange(&sim, &code, CB, Some(("zid", "wrong"))).await;
    assert_eq!(r.status, 401);
    let r = exchange(
        &sim,
        &code,
        "https://app.test/zoom/callback",
        Some(("zid", "zsecret")),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            serde_json::json!({"reason": "Invalid redirect uri", "error": "invalid_request"})
        )
    );
    let r = exchange(&sim, &code, CB, Some(("zid", "zsecret"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = r.json();
    assert_eq!(j["token_type"], "bearer");
    assert_eq!(j["expires_in"], 3599);
    assert_eq!(j["api_url"], format!("{}/zoom", sim.base_url));
    let r = exchange(&sim, &code, CB, Some(("zid", "zsecret"))).await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            serde_json::json!({"reason": "Invalid authorization code", "error": "invalid_grant"})
        )
    );

    let me = get(
        &format!("{}/users/me", sim.zoom_api_url()),
        j["access_token"].as_str(),
        &[],
    )
    .await
    .json();
    assert_eq!(me["id"], user.as_str());
    assert_eq!(me["account_id"], account.as_str());
    assert_eq!(me["email"], "carol@acme.test");
    assert_eq!(
        get(&format!("{}/users/me", sim.zoom_api_url()), Some("x"), &[])
            .await
            .json()["code"],
        124
    );

    // Rotation.
    let rt0 = j["refresh_token"].as_str().unwrap().to_string();
    let j1 = refresh(&sim, &rt0).await.json();
    let rt1 = j1["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt0, rt1);
    let r = refresh(&sim, &rt0).await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            serde_json::json!({"reason": "Invalid Token!", "error": "invalid_request"})
        )
    );

    // Re-authorizing (minted code, PKCE) revokes earlier tokens.
    let (verifier, challenge) = pkce_pair();
    let uid = AccountId(user.clone());
    let code = sim
        .mint_code(Provider::Zoom, "zid", &uid, CB, &[], Some(&challenge))
        .await;
    let r = post_form(
        &sim.zoom_token_url(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
        Some(("zid", "zsecret")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rt2 = r.json()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(refresh(&sim, &rt1).await.status, 400);
    let rt3 = refresh(&sim, &rt2).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    sim.deauthorize(&uid).await;
    assert_eq!(refresh(&sim, &rt3).await.json()["reason"], "Invalid Token!");
    assert_eq!(sim.code_exchange_count(Provider::Zoom).await, 6);
}
