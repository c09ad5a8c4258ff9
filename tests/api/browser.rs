//! The admin pages in a real headless Chromium, driven through chromedriver (WebDriver):
//! setup → login → create an API key → save the Google client → add a webhook endpoint →
//! logout.
//!
//! Needs Debian's `chromium` and `chromium-driver` (CI installs them). Without
//! `chromedriver` on the PATH the test says so and passes, except under CI (`CI` set), where
//! it fails. Set `CONVENE_SCREENSHOT_DIR` to
//! keep screenshots of the pages it visits.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::admin::PASSWORD;
use crate::helpers::spawn_app;

/// chromedriver (and the Chromium it starts) as a child process. Where possible it runs in
/// its own PID namespace (`unshare`), so no browser helper process is ever orphaned to the
/// machine's init and nothing the browser does to "all processes" leaves the namespace:
/// a browser must not disturb the rest of a shared machine. Stopped through chromedriver's
/// own `/shutdown` (which closes Chromium and lets every process be reaped by its parent),
/// and only killed, by our child's id, when that does not work.
struct Driver {
    child: Child,
    port: u16,
}

/// How to start chromedriver, most contained first.
const LAUNCHERS: &[&[&str]] = &[
    &["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"],
    &[
        "unshare",
        "--user",
        "--map-root-user",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
    ],
    &[],
];

impl Driver {
    /// None when chromedriver is not installed.
    fn start() -> Option<Driver> {
        match Command::new("chromedriver")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("cannot run chromedriver: {e}"),
            Ok(_) => {}
        }
        for launcher in LAUNCHERS {
            if launcher.is_empty() {
                eprintln!("note: no PID namespace available; chromedriver runs unconfined");
            }
            let mut argv: Vec<&str> = launcher.to_vec();
            argv.extend(["chromedriver", "--port=0"]);
            let Ok(mut child) = Command::new(argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
            else {
                continue;
            };
            // It prints "... started successfully on port N." once listening.
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("on port ").nth(1) {
                        let digits: String =
                            rest.chars().take_while(char::is_ascii_digit).collect();
                        if let Ok(p) = digits.parse::<u16>() {
                            if p != 0 {
                                let _ = tx.send(p);
                            }
                        }
                    }
                }
            });
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(port) => return Some(Driver { child, port }),
                // Exited without a port (e.g. namespaces not permitted): try the next way.
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!("chromedriver did not start");
    }

    /// Asks chromedriver to quit (it closes its browsers) and waits for it to exit.
    fn stop(&mut self) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                s,
                "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                self.port
            );
            let _ = std::io::Read::read(&mut s, &mut [0u8; 512]);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut options = serde_json::json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-crash-reporter", "--disable-breakpad",
            "--window-size=1280,900",
            format!("--user-data-dir={}", profile.display()),
        ]
    });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = "/usr/bin/chromium".into();
    }
    // Two rustls crypto providers are linked (reqwest's ring, fantoccini's aws-lc); choose.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session")
}

async fn screenshot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("CONVENE_SCREENSHOT_DIR") {
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

async fn fill(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(value)
        .await
        .unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits until the browser shows `expected_path` (after a click that navigates), then
/// returns the text of the element `css` on that page.
async fn on_page(c: &Client, expected_path: &str, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if path(c).await == expected_path {
            // The document may still be loading: a reference can go stale once; retry.
            match c
                .wait()
                .at_most(Duration::from_secs(20))
                .for_element(Locator::Css(css))
                .await
            {
                Ok(el) => match el.text().await {
                    Ok(t) => return t,
                    Err(e) if Instant::now() > deadline => panic!("{css}: {e}"),
                    Err(_) => {}
                },
                Err(e) => panic!("waiting for {css} on {expected_path}: {e}"),
            }
        } else if Instant::now() > deadline {
            panic!("still on {} instead of {expected_path}", path(c).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

#[tokio::test]
async fn admin_walkthrough_in_a_real_browser() {
    let Some(driver) = Driver::start() else {
        // In CI the browser is installed by .ci/run: a missing one is a failure there.
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but chromedriver is missing: .ci/run must install chromium-driver"
        );
        eprintln!(
            "SKIPPED admin_walkthrough_in_a_real_browser: chromedriver is not installed \
             (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let app = spawn_app().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let result = walk(&app, &c).await;
    let _ = c.close().await;
    let mut driver = driver;
    driver.stop();
    result.unwrap();
}

async fn walk(app: &crate::helpers::TestApp, c: &Client) -> Result<(), String> {
    // Setup with the one-time link.
    let token = convene::admin::issue_setup_token(&app.state).await.unwrap();
    c.goto(&app.url(&format!("/admin/setup/?token={token}")))
        .await
        .map_err(|e| e.to_string())?;
    fill(c, "#password", PASSWORD).await;
    fill(c, "#confirm", PASSWORD).await;
    screenshot(c, "1-setup").await;
    click(c, "button[type=submit]").await;
    let flash = on_page(c, "/admin/login/", ".flash.success").await;
    assert!(flash.contains("password is set"), "{flash}");

    // Login.
    fill(c, "#password", PASSWORD).await;
    screenshot(c, "2-login").await;
    click(c, "button[type=submit]").await;
    let heading = on_page(c, "/admin/", "main h1").await;
    assert_eq!(heading, "Overview");
    screenshot(c, "3-overview").await;

    // The session cookie is not readable by scripts.
    let cookies = c
        .execute("return document.cookie;", vec![])
        .await
        .map_err(|e| e.to_string())?;
    assert!(!cookies.as_str().unwrap_or("").contains("convene_admin"));

    // Create an API key and read it off the page.
    click(c, "nav a[href='/admin/api-keys/']").await;
    on_page(c, "/admin/api-keys/", "#key-name").await;
    fill(c, "#key-name", "browser key").await;
    click(c, "form[action='/admin/api-keys/'] button").await;
    let key = on_page(c, "/admin/api-keys/", "#new-key-value").await;
    assert!(key.starts_with("cvn_"), "{key}");
    screenshot(c, "4-api-key").await;
    let status = reqwest::Client::new()
        .get(app.url("/api/v1/webhook-secret/"))
        .header("Authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the key from the page works against the API");

    // Save the Google client and see the redirect URI to register.
    click(c, "nav a[href='/admin/platforms/']").await;
    let uri = on_page(c, "/admin/platforms/", "#redirect-google").await;
    assert_eq!(
        uri,
        format!("{}/api/v1/calendar/google_oauth_callback/", app.address)
    );
    fill(c, "#google-client-id", "browser-client.apps.example").await;
    fill(c, "#google-client-secret", "browser-secret-value-Q9Z7").await;
    click(c, "#platform-google button[type=submit]").await;
    let flash = on_page(c, "/admin/platforms/", ".flash.success").await;
    assert!(flash.contains("Google Calendar"), "{flash}");
    let source = c.source().await.map_err(|e| e.to_string())?;
    assert!(source.contains("ends in …Q9Z7"));
    assert!(!source.contains("browser-secret-value"));
    let uri = on_page(c, "/admin/platforms/", "#redirect-google").await;
    assert!(uri.ends_with("/api/v1/calendar/google_oauth_callback/"));
    screenshot(c, "5-platforms").await;
    let stored = app
        .state
        .store
        .read(|c| convene::store::settings::get_platform_client(c, "google"))
        .await
        .unwrap()
        .expect("saved");
    assert_eq!(stored.client_id, "browser-client.apps.example");

    // Add a webhook endpoint: its signing secret is on the answering page, once.
    click(c, "nav a[href='/admin/webhooks/']").await;
    on_page(c, "/admin/webhooks/", "#url").await;
    fill(c, "#url", "http://127.0.0.1:9/browser-hook").await;
    click(c, "input[name=event_types][value='calendar.update']").await;
    click(c, "form[action='/admin/webhooks/'] button[type=submit]").await;
    let secret = on_page(c, "/admin/webhooks/", "#new-secret-value").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    screenshot(c, "6-webhooks").await;
    let endpoints: serde_json::Value = app
        .get("/api/v1/webhook-endpoints/")
        .await
        .json()
        .await
        .unwrap();
    let endpoint = &endpoints["results"][0];
    assert_eq!(endpoint["url"], "http://127.0.0.1:9/browser-hook");
    assert_eq!(
        endpoint["event_types"],
        serde_json::json!(["calendar.update"])
    );
    let id = endpoint["id"].as_str().unwrap();
    let api_secret: serde_json::Value = app
        .get(&format!("/api/v1/webhook-endpoints/{id}/secret/"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api_secret["secret"], secret.as_str());
    click(c, "#new-endpoint a").await;
    let heading = on_page(c, &format!("/admin/webhooks/{id}/"), "main h1").await;
    assert_eq!(heading, "http://127.0.0.1:9/browser-hook");
    let source = c.source().await.map_err(|e| e.to_string())?;
    assert!(!source.contains(&secret), "the secret is not shown again");
    screenshot(c, "7-webhook-endpoint").await;

    // Logout, and the pages are closed again.
    click(c, "form.logout button").await;
    let flash = on_page(c, "/admin/login/", ".flash").await;
    assert!(flash.contains("logged out"), "{flash}");
    c.goto(&app.url("/admin/api-keys/"))
        .await
        .map_err(|e| e.to_string())?;
    on_page(c, "/admin/login/", "#password").await;
    Ok(())
}

// ------------------------------------------------------------------ V1 from another origin

/// A one-page static server on its own loopback port (another origin than the app's):
/// every GET answers `html`. Returns its base URL; the task ends with the test's runtime.
async fn serve_page(html: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// The hosted V1 demo's browser calls, made by `fetch` from the page: the user, its
/// preferences, the meetings, one meeting's override, a refresh, and a disconnect. Each
/// result is `[status, body]`, or `["failed", message]` when the browser blocked it.
const V1_CALLS: &str = r#"
const [api, token, done] = arguments;
const call = async (method, path, body) => {
  try {
    const res = await fetch(api + path, {
      method,
      headers: Object.assign({'x-recallcalendarauthtoken': token},
                             body ? {'content-type': 'application/json'} : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return [res.status, text ? JSON.parse(text) : null];
  } catch (e) { return ['failed', String(e)]; }
};
(async () => {
  const out = {};
  out.user = await call('GET', '/api/v1/calendar/user/');
  out.prefs = await call('PUT', '/api/v1/calendar/user/',
                         {preferences: {record_external: true}});
  out.meetings = await call('GET', '/api/v1/calendar/meetings/');
  const first = out.meetings[1][0];
  out.override = await call('PUT', '/api/v1/calendar/meetings/' + first.id + '/',
                            {override_should_record: true});
  out.refresh = await call('POST', '/api/v1/calendar/meetings/refresh/');
  out.disconnect = await call('POST', '/api/v1/calendar/user/disconnect/',
                              {platform: 'microsoft'});
  // An API-key endpoint is not open to pages.
  try {
    await fetch(api + '/api/v1/calendar/users/', {headers: {'authorization': 'Token x'}});
    out.api_key = 'reachable';
  } catch (e) { out.api_key = 'blocked'; }
  out.origin = location.origin;
  done(out);
})();
"#;

#[tokio::test]
async fn the_v1_demo_calls_work_from_another_origin_in_a_real_browser() {
    use convene_sim::{EventSpec, Provider};
    let Some(driver) = Driver::start() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but chromedriver is missing: .ci/run must install chromium-driver"
        );
        eprintln!("SKIPPED the_v1_demo_calls_work_from_another_origin: no chromedriver");
        return;
    };
    let app = spawn_app().await;
    // A calendar user with a Google and a Microsoft connection and a meeting.
    let token = crate::calendar_support::calendar_token(&app, "browser-user").await;
    let user_id = app
        .state
        .store
        .read(|c| convene::store::calendar_users::find_by_external_id(c, "browser-user"))
        .await
        .unwrap()
        .unwrap()
        .id;
    let g =
        crate::sync_fixtures::connect_v1(&app, Provider::Google, "page@acme.test", &user_id).await;
    crate::sync_fixtures::connect_v1(&app, Provider::Microsoft, "page@acme-ms.test", &user_id)
        .await;
    let start = chrono::Utc::now() + chrono::Duration::hours(2);
    app.sim
        .create_event(
            &g.account,
            EventSpec::new("Browser demo", start, start + chrono::Duration::hours(1))
                .meet("https://meet.google.com/abc-defg-hij")
                .attendee("guest@partner.test", convene_sim::ResponseStatus::Accepted),
        )
        .await;
    crate::sync_fixtures::sync(&app, &g).await;

    let page = serve_page("<!doctype html><title>V1 demo</title><p>demo</p>").await;
    assert_ne!(page, app.address);
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let result = async {
        c.goto(&format!("{page}/"))
            .await
            .map_err(|e| e.to_string())?;
        c.execute_async(
            V1_CALLS,
            vec![app.address.clone().into(), token.clone().into()],
        )
        .await
        .map_err(|e| e.to_string())
    }
    .await;
    let _ = c.close().await;
    let mut driver = driver;
    driver.stop();
    let out = result.unwrap();

    assert_eq!(out["origin"], page.as_str());
    assert_eq!(out["user"][0], 200, "{out}");
    assert_eq!(out["user"][1]["external_id"], "browser-user");
    assert_eq!(out["prefs"][0], 200, "{out}");
    assert_eq!(out["prefs"][1]["preferences"]["record_external"], true);
    assert_eq!(out["meetings"][0], 200, "{out}");
    let meetings = out["meetings"][1].as_array().unwrap();
    assert_eq!(meetings.len(), 1);
    assert_eq!(meetings[0]["title"], "Browser demo");
    assert!(meetings[0]["attendee_emails"]
        .as_array()
        .unwrap()
        .contains(&"guest@partner.test".into()));
    assert_eq!(out["override"][0], 200, "{out}");
    assert_eq!(out["override"][1]["override_should_record"], true);
    assert_eq!(out["refresh"][0], 200, "{out}");
    assert_eq!(out["refresh"][1][0]["title"], "Browser demo");
    assert_eq!(out["disconnect"][0], 200, "{out}");
    assert_eq!(
        out["disconnect"][1]["connections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(out["api_key"], "blocked", "{out}");
}
