//! Issue 13, item 2: master-key rotation. `convene rotate-master-key` re-seals every stored
//! value under the first key; start-up refuses (naming the key id and the count) when a
//! stored value needs a key that is not configured; signed tokens verify under every key.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use convene::config::Settings;
use convene::crypto::Keyring;
use convene::startup::{self, Application};
use convene_sim::Provider;
use serde_json::json;

use crate::calendar_support::{calendar_token, save_platform_client};
use crate::helpers::{spawn_app_with, Options, TestApp};
use crate::sync_fixtures::connect;

fn key(b: u8) -> String {
    STANDARD.encode([b; 32])
}

fn key_id(b: u8) -> String {
    Keyring::new(&[[b; 32]]).current_key_id().to_string()
}

fn settings(dir: &Path, master: &str, port: u16) -> Settings {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert(
        "CONVENE_DATA_DIR".into(),
        dir.to_string_lossy().into_owned(),
    );
    env.insert("CONVENE_MASTER_KEY".into(), master.into());
    env.insert("CONVENE_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert(
        "CONVENE_PUBLIC_URL".into(),
        format!("http://127.0.0.1:{port}"),
    );
    env.insert("CONVENE_LOG".into(), "warn".into());
    Settings::from_sources(env, None).unwrap()
}

/// An app under key 1 holding secrets of every kind: platform client, V2 calendar (client
/// secret, refresh token), webhook endpoint, workspace webhook secret, Zoom app.
async fn app_with_secrets() -> TestApp {
    let app = spawn_app_with(Options {
        env: vec![("CONVENE_MASTER_KEY".into(), key(1))],
        ..Default::default()
    })
    .await;
    save_platform_client(&app, "google", "gid", "gsecret").await;
    connect(&app, Provider::Google, "alice@acme.test").await;
    let res = app
        .post_json(
            "/api/v1/webhook-endpoints/",
            &json!({"url": "https://hooks.app.test/x"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post_json(
            "/api/v2/zoom-oauth-apps/",
            &json!({"client_id": "zid", "client_secret": "zsecret", "kind": "user_level",
                    "webhook_secret": "zhook"}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    app
}

async fn open(dir: &Path, master: &str) -> anyhow::Result<(convene::store::Store, Keyring)> {
    let s = settings(dir, master, 1);
    tokio::task::spawn_blocking(move || startup::open_data(&s))
        .await
        .unwrap()
}

#[tokio::test]
async fn start_refuses_a_key_set_that_cannot_open_stored_secrets() {
    let app = app_with_secrets().await;
    let dir = app.data_dir.path();
    // Rotation begun: the new key first, the old one still listed. This starts.
    open(dir, &format!("{},{}", key(2), key(1))).await.unwrap();
    // The old key dropped without rotating: refused, naming the key and the count.
    let Err(err) = open(dir, &key(2)).await else {
        panic!("started without the key that seals the stored secrets");
    };
    let err = format!("{err:#}");
    let (_, keys) = open(dir, &format!("{},{}", key(2), key(1))).await.unwrap();
    let st = app.state.store.clone();
    let needed = tokio::task::spawn_blocking(move || convene::rotation::counts(&st, &keys))
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .find(|k| k.key_id == key_id(1))
        .unwrap()
        .values;
    assert!(needed >= 8, "{needed}");
    assert!(err.contains(&key_id(1)), "{err}");
    assert!(
        err.contains(&format!(
            "{needed} value(s) sealed with master key id {}",
            key_id(1)
        )),
        "{err}"
    );
}

#[tokio::test]
async fn rotate_master_key_reseals_everything_so_the_old_key_can_go() {
    let app = app_with_secrets().await;
    let dir = app.data_dir.path();
    let (store, keys) = open(dir, &format!("{},{}", key(2), key(1))).await.unwrap();
    let report = tokio::task::spawn_blocking(move || convene::rotation::rotate(&store, &keys, 3))
        .await
        .unwrap()
        .unwrap();
    assert!(report.resealed >= 8, "{report:?}");
    assert_eq!(report.unreadable, 0);
    let per_key: Vec<(String, u64, bool)> = report
        .counts
        .iter()
        .map(|k| (k.key_id.clone(), k.values, k.current))
        .collect();
    assert_eq!(per_key.len(), 2, "{per_key:?}");
    assert_eq!(per_key[0].0, key_id(2));
    assert!(per_key[0].1 >= 8 && per_key[0].2);
    assert_eq!((per_key[1].0.clone(), per_key[1].1), (key_id(1), 0));

    // The old key removed: start-up passes and every secret opens under the new key alone.
    let (store, keys) = open(dir, &key(2)).await.unwrap();
    let secret = store
        .read(|c| convene::store::settings::get_platform_client(c, "google"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(keys.decrypt(&secret.client_secret_enc).unwrap(), "gsecret");
    let st = app.state.store.clone();
    let counts = tokio::task::spawn_blocking(move || {
        st.blocking(|c| convene::store::sealed::count_by_key(c))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(counts.keys().collect::<Vec<_>>(), [&key_id(2)]);
    // A second run has nothing to do.
    let again = tokio::task::spawn_blocking(move || convene::rotation::rotate(&store, &keys, 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.resealed, 0);
}

#[tokio::test]
async fn tokens_signed_before_a_rotation_still_verify() {
    let app = spawn_app_with(Options {
        env: vec![("CONVENE_MASTER_KEY".into(), key(1))],
        ..Default::default()
    })
    .await;
    let token = calendar_token(&app, "user-1").await;
    // The same data served with the new key first and the old one still listed.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = settings(app.data_dir.path(), &format!("{},{}", key(2), key(1)), port);
    let rotated = Application::build_with_listener(s, listener).await.unwrap();
    tokio::spawn(rotated.run_until_stopped());
    let res = app
        .client
        .get(format!("http://127.0.0.1:{port}/api/v1/calendar/user/"))
        .header("x-recallcalendarauthtoken", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "a calendar auth token signed with the old key"
    );
}

#[tokio::test]
async fn the_cli_rotates_while_the_server_serves() {
    let app = app_with_secrets().await;
    let run = |master: String| {
        let dir = app.data_dir.path().to_path_buf();
        std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
            .arg("rotate-master-key")
            .env("CONVENE_DATA_DIR", dir)
            .env("CONVENE_MASTER_KEY", master)
            .env("CONVENE_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run(format!("{},{}", key(2), key(1)));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("under master key id {}", key_id(2))),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("key {}\t0 value(s)\tno longer needed", key_id(1))),
        "{stdout}"
    );
    // The running server (still on the old key alone) keeps answering; its stored secrets
    // now need the new key, which is what a restart with the new key list provides.
    assert_eq!(app.get("/healthz/").await.status(), 200);
    let out = run(key(2));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
