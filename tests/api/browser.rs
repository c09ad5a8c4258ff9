//! The admin pages in a real headless Chromium, driven through chromedriver (WebDriver):
//! setup → login → create an API key → save the Google client → logout.
//!
//! Needs Debian's `chromium` and `chromium-driver` (CI installs them). Without
//! `chromedriver` on the PATH the test says so and passes. Set `CONVENE_SCREENSHOT_DIR` to
//! keep screenshots of the pages it visits.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::admin::PASSWORD;
use crate::helpers::spawn_app;

/// chromedriver as a child process in its own process group; dropped = stopped, browser
/// included, even when the test panics.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// None when chromedriver is not installed.
    fn start() -> Option<Driver> {
        let spawned = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("cannot start chromedriver: {e}"),
        };
        // It prints "... started successfully on port N." once listening.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("on port ").nth(1) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(p) = digits.parse::<u16>() {
                        if p != 0 {
                            let _ = tx.send(p);
                        }
                    }
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("chromedriver did not report its port");
            }
        };
        Some(Driver { child, port })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group (chromedriver and any browser it left), by our child's own id.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut options = serde_json::json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--window-size=1280,900",
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

/// Waits for an element that only the next page has, then returns its text.
async fn wait_text(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

#[tokio::test]
async fn admin_walkthrough_in_a_real_browser() {
    let Some(driver) = Driver::start() else {
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
    drop(driver);
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
    let flash = wait_text(c, ".flash.success").await;
    assert!(flash.contains("password is set"), "{flash}");
    assert_eq!(path(c).await, "/admin/login/");

    // Login.
    fill(c, "#password", PASSWORD).await;
    screenshot(c, "2-login").await;
    click(c, "button[type=submit]").await;
    let heading = wait_text(c, "main h1").await;
    assert_eq!(heading, "Overview");
    assert_eq!(path(c).await, "/admin/");
    screenshot(c, "3-overview").await;

    // The session cookie is not readable by scripts.
    let cookies = c
        .execute("return document.cookie;", vec![])
        .await
        .map_err(|e| e.to_string())?;
    assert!(!cookies.as_str().unwrap_or("").contains("convene_admin"));

    // Create an API key and read it off the page.
    click(c, "nav a[href='/admin/api-keys/']").await;
    wait_text(c, "#key-name").await;
    fill(c, "#key-name", "browser key").await;
    click(c, "form[action='/admin/api-keys/'] button").await;
    let key = wait_text(c, "#new-key-value").await;
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
    let uri = wait_text(c, "#redirect-google").await;
    assert_eq!(
        uri,
        format!("{}/api/v1/calendar/google_oauth_callback/", app.address)
    );
    fill(c, "#google-client-id", "browser-client.apps.example").await;
    fill(c, "#google-client-secret", "browser-secret-value-Q9Z7").await;
    click(c, "#platform-google button[type=submit]").await;
    let flash = wait_text(c, ".flash.success").await;
    assert!(flash.contains("Google Calendar"), "{flash}");
    let source = c.source().await.map_err(|e| e.to_string())?;
    assert!(source.contains("ends in …Q9Z7"));
    assert!(!source.contains("browser-secret-value"));
    let uri = wait_text(c, "#redirect-google").await;
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

    // Logout, and the pages are closed again.
    click(c, "form.logout button").await;
    let flash = wait_text(c, ".flash").await;
    assert!(flash.contains("logged out"), "{flash}");
    assert_eq!(path(c).await, "/admin/login/");
    c.goto(&app.url("/admin/api-keys/"))
        .await
        .map_err(|e| e.to_string())?;
    wait_text(c, "#password").await;
    assert_eq!(path(c).await, "/admin/login/");
    Ok(())
}
