//! The binary's skeleton: health, errors, API keys, configuration, store, secrets, backup.

use std::collections::HashMap;

use crate::helpers::{spawn_app, TestApp};

#[tokio::test]
async fn health_and_readiness_answer_with_request_ids() {
    let app = spawn_app().await;
    for path in ["/healthz/", "/readyz/", "/healthz", "/readyz"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers().get("x-request-id").is_some(), "{path}");
    }
    let res = app
        .client
        .get(app.url("/readyz/"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let res = app.get("/api/v2/nothing-here/").await;
    assert_eq!(res.status(), 404);
    assert!(res.headers().get("x-request-id").is_some());
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["detail"], "Not found.");

    let res = app.delete("/api/v1/webhook-secret/").await;
    assert_eq!(res.status(), 405);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["detail"].is_string());
}

async fn secret_status(app: &TestApp, auth: Option<&str>) -> u16 {
    let mut req = app.client.get(app.url("/api/v1/webhook-secret/"));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn api_keys_authenticate_and_revoke() {
    let app = spawn_app().await;
    assert_eq!(secret_status(&app, Some(&app.auth())).await, 200);
    assert_eq!(
        secret_status(&app, Some(&format!("token {}", app.api_key))).await,
        200
    );
    assert_eq!(secret_status(&app, None).await, 401);
    assert_eq!(secret_status(&app, Some("Token nope")).await, 401);
    assert_eq!(
        secret_status(&app, Some(&format!("Bearer {}", app.api_key))).await,
        401
    );
    let res = app
        .client
        .get(app.url("/api/v1/webhook-secret"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["detail"], "Invalid API key.");

    // The key is stored only as a hash.
    let key = app.api_key.clone();
    let stored: Vec<String> = app
        .state
        .store
        .read(|c| {
            let mut s = c.prepare("SELECT id || name || key_hash || last4 FROM api_keys")?;
            let rows = s
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok::<_, convene::store::StoreError>(rows)
        })
        .await
        .unwrap();
    assert!(stored.iter().all(|row| !row.contains(&key)));

    let keys = app
        .state
        .store
        .read(convene::store::api_keys::list)
        .await
        .unwrap();
    let id = keys[0].id.clone();
    app.state
        .store
        .write(move |tx| convene::store::api_keys::revoke(tx, &id, 1))
        .await
        .unwrap();
    // A revoke written behind the server's back (as `convene api-key revoke` does from its
    // own process) is seen once the cached confirmation is older than its window.
    app.state.clock.advance(std::time::Duration::from_millis(
        convene::coord::KeyCache::CONFIRM_EVERY_MS as u64,
    ));
    assert_eq!(secret_status(&app, Some(&app.auth())).await, 401);
}

#[tokio::test]
async fn cli_creates_a_key_the_running_server_accepts() {
    let app = spawn_app().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .args(["api-key", "create", "--name", "cli key"])
        .env("CONVENE_DATA_DIR", app.data_dir.path())
        .env("CONVENE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("cvn_"));
    assert_eq!(
        secret_status(&app, Some(&format!("Token {key}"))).await,
        200
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .args(["api-key", "list"])
        .env("CONVENE_DATA_DIR", app.data_dir.path())
        .output()
        .unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains("cli key"));
    assert!(!listing.contains(&key), "list must never show a key");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .args(["webhook-secret", "show"])
        .env("CONVENE_DATA_DIR", app.data_dir.path())
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let api: serde_json::Value = app
        .get("/api/v1/webhook-secret/")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api["secret"], shown.as_str());
    assert!(shown.starts_with("whsec_"));
}

fn base_env(dir: &std::path::Path) -> HashMap<String, String> {
    HashMap::from([
        (
            "CONVENE_DATA_DIR".to_string(),
            dir.to_string_lossy().into_owned(),
        ),
        ("CONVENE_LISTEN".to_string(), "127.0.0.1:0".to_string()),
    ])
}

#[test]
fn bad_configuration_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("CONVENE_LISTEN", "not-an-address"),
        ("CONVENE_PUBLIC_URL", "ftp://x"),
        ("CONVENE_SYNC_INTERVAL_SECS", "0"),
        ("CONVENE_SYNC_WINDOW_FUTURE_DAYS", "many"),
        ("CONVENE_WEBHOOK_RETRY_SCHEDULE", "5,soon"),
        ("CONVENE_MASTER_KEY", "c2hvcnQ="),
        (
            "CONVENE_REDIRECT_ALLOWLIST",
            "https://ok.example.com,//evil",
        ),
        ("CONVENE_LOG_FORMAT", "xml"),
        ("CONVENE_GOOGLE_TOKEN_URL", "not a url"),
    ] {
        let mut env = base_env(dir.path());
        env.insert(var.to_string(), value.to_string());
        let err = convene::config::Settings::from_sources(env, None).unwrap_err();
        assert_eq!(err.variable, var, "{value}");
        assert!(!err.message.is_empty());
    }
    let mut env = base_env(dir.path());
    env.insert("CONVENE_TYPO".into(), "1".into());
    let s = convene::config::Settings::from_sources(env, None).unwrap();
    assert_eq!(s.unknown_variables, vec!["CONVENE_TYPO".to_string()]);
    assert_eq!(s.webhook_retry_schedule.len(), 7);
}

#[test]
fn toml_file_and_secret_files_are_read_and_env_wins() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("convene.toml");
    std::fs::write(
        &cfg,
        "sync_interval_secs = 120\npublic_url = \"https://cal.example.com\"\n",
    )
    .unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    let mut env = base_env(dir.path());
    env.insert(
        "CONVENE_PUBLIC_URL".into(),
        "https://env.example.com".into(),
    );
    env.insert(
        "CONVENE_MASTER_KEY_FILE".into(),
        key_file.to_string_lossy().into_owned(),
    );
    let s = convene::config::Settings::from_sources(env, Some(cfg)).unwrap();
    assert_eq!(s.sync_interval.as_secs(), 120);
    assert_eq!(s.public_url.as_str(), "https://env.example.com/");
    assert!(s.master_key.is_some());
    assert!(
        !format!("{s:?}").contains("AAAAAAAA"),
        "secrets never show in Debug"
    );
}

#[tokio::test]
async fn master_key_file_is_private_and_a_wrong_key_is_refused() {
    let app = spawn_app().await;
    let key_path = app.data_dir.path().join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut env = base_env(app.data_dir.path());
    env.insert(
        "CONVENE_MASTER_KEY".into(),
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into(),
    );
    let settings = convene::config::Settings::from_sources(env, None).unwrap();
    let err = convene::startup::Application::build(settings)
        .await
        .err()
        .unwrap();
    let msg = format!("{err:#}");
    assert!(msg.contains("master key does not match"), "{msg}");
}

#[tokio::test]
async fn a_newer_database_is_refused_and_migrations_are_recorded() {
    let app = spawn_app().await;
    let versions: Vec<i64> = app
        .state
        .store
        .read(|c| {
            let mut s = c.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
            let v = s
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()?;
            Ok::<_, convene::store::StoreError>(v)
        })
        .await
        .unwrap();
    assert_eq!(versions.len(), convene::store::migrations::all().len());
    assert_eq!(
        *versions.last().unwrap(),
        convene::store::migrations::latest_version()
    );
    app.state
        .store
        .write(|tx| {
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)",
                [],
            )?;
            Ok::<_, convene::store::StoreError>(())
        })
        .await
        .unwrap();
    let settings =
        convene::config::Settings::from_sources(base_env(app.data_dir.path()), None).unwrap();
    let err = convene::startup::Application::build(settings)
        .await
        .err()
        .unwrap();
    assert!(
        format!("{err:#}").contains("newer than this binary"),
        "{err:#}"
    );
}

#[tokio::test]
async fn backup_while_serving_is_consistent() {
    let app = spawn_app().await;
    // Writes going on while the backup runs.
    let store = app.state.store.clone();
    let writer = tokio::spawn(async move {
        for i in 0..50 {
            let name = format!("k{i}");
            let s = store.clone();
            tokio::task::spawn_blocking(move || convene::api::keys::create_api_key(&s, &name))
                .await
                .unwrap()
                .unwrap();
        }
    });
    let dest = app.data_dir.path().join("backup.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .arg("backup")
        .arg(&dest)
        .env("CONVENE_DATA_DIR", app.data_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    writer.await.unwrap();
    let conn = rusqlite::Connection::open(&dest).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))
        .unwrap();
    assert!(n >= 1);
}

#[tokio::test]
async fn check_command_reports_problems() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .arg("check")
        .env("CONVENE_DATA_DIR", dir.path())
        .env("CONVENE_TYPO_VARIABLE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("CONVENE_TYPO_VARIABLE"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .arg("serve")
        .env("CONVENE_DATA_DIR", dir.path())
        .env("CONVENE_SYNC_INTERVAL_SECS", "-5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CONVENE_SYNC_INTERVAL_SECS"));
}

/// The real binary: JSON logs that never carry a query string (OAuth codes and state travel
/// there), and a graceful stop on SIGTERM.
#[tokio::test]
async fn json_logs_omit_queries_and_sigterm_stops_gracefully() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .arg("serve")
        .env("CONVENE_DATA_DIR", dir.path())
        .env("CONVENE_LISTEN", format!("127.0.0.1:{port}"))
        .env("CONVENE_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz/")).send().await {
            ready = r.status() == 200;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the server answers /readyz/");
    let res = client
        .get(format!(
            "{base}/api/v1/calendar/google_oauth_callback/?code=SECRET-CODE-123&state=SECRET-STATE"
        ))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_client_error()
            || res.status().is_success()
            || res.status().is_redirection()
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        let code = child.wait().unwrap();
        let mut logs = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
        (code, logs)
    })
    .await
    .unwrap();
    let (code, logs) = exit;
    assert!(code.success(), "a graceful stop exits 0: {code:?}\n{logs}");
    assert!(
        !logs.contains("SECRET-CODE-123") && !logs.contains("SECRET-STATE"),
        "{logs}"
    );
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{logs}");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
    assert!(
        logs.contains("/api/v1/calendar/google_oauth_callback/"),
        "requests are logged"
    );
}
