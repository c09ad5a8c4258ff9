//! `spawn_app()`: the real server on port 0 with a fresh temp data dir, and the provider
//! simulator beside it.
#![allow(dead_code)] // shared by every test module; not each uses every helper

use std::collections::HashMap;
use std::net::TcpListener;

use convene::config::Settings;
use convene::startup::Application;
use convene::state::AppState;
use convene_sim::SimHandle;

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub state: AppState,
    /// A live API key (`Authorization: Token <key>`).
    pub api_key: String,
    /// A client that keeps cookies and does not follow redirects.
    pub client: reqwest::Client,
    pub sim: SimHandle,
    pub data_dir: tempfile::TempDir,
    /// The `CONVENE_METRICS_LISTEN` port, when the test set one.
    pub metrics_port: Option<u16>,
    jobs: Option<convene::jobs::JobsHandle>,
}

#[derive(Default)]
pub struct Options {
    /// Start the background sweeps (off by default: tests call jobs directly).
    pub jobs: bool,
    /// Extra `CONVENE_*` variables.
    pub env: Vec<(String, String)>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(opts: Options) -> TestApp {
    let sim = convene_sim::start().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("CONVENE_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert("CONVENE_PUBLIC_URL".into(), address.clone());
    env.insert(
        "CONVENE_DATA_DIR".into(),
        data_dir.path().to_string_lossy().into_owned(),
    );
    env.insert("CONVENE_LOG".into(), "warn".into());
    for (k, v) in sim.env_vars() {
        env.insert(k, v);
    }
    for (k, v) in opts.env {
        env.insert(k, v);
    }
    let settings = Settings::from_sources(env, None).expect("test settings");
    let app = Application::build_with_listener(settings, listener)
        .await
        .expect("app builds");
    let state = app.state();
    let port = app.port();
    let metrics_port = app.metrics_port();
    tokio::spawn(app.run_until_stopped());
    let jobs = if opts.jobs {
        Some(
            convene::jobs::start(state.clone())
                .await
                .expect("jobs start"),
        )
    } else {
        None
    };
    let st = state.store.clone();
    let (_, api_key) =
        tokio::task::spawn_blocking(move || convene::api::keys::create_api_key(&st, "tests"))
            .await
            .unwrap()
            .unwrap();
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        port,
        state,
        api_key,
        client,
        sim,
        data_dir,
        metrics_port,
        jobs,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn auth(&self) -> String {
        format!("Token {}", self.api_key)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_url(&self.url(path)).await
    }

    /// A GET of an absolute URL (a page's `next`/`previous` link) with the API key.
    pub async fn get_url(&self, url: &str) -> reqwest::Response {
        self.client
            .get(url)
            .header("Authorization", self.auth())
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("Authorization", self.auth())
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .header("Authorization", self.auth())
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .header("Authorization", self.auth())
            .send()
            .await
            .unwrap()
    }

    pub async fn stop_jobs(&mut self) {
        if let Some(j) = self.jobs.take() {
            j.stop().await;
        }
    }

    /// Caches an access token the provider does not know (revoked on its side) for the
    /// calendar, valid for another hour in Convene's eyes.
    pub async fn plant_refused_access_token(&self, calendar_id: &str) {
        let sealed = self.state.keys.encrypt("not-a-live-token");
        let (id, far) = (calendar_id.to_string(), self.state.now_ms() + 3_000_000);
        self.state
            .store
            .write(move |tx| {
                tx.execute(
                    "UPDATE calendars SET access_token_enc = ?1, access_token_expires_at = ?2
                     WHERE id = ?3",
                    rusqlite::params![sealed, far, id],
                )
                .map_err(convene::store::StoreError::from)
            })
            .await
            .unwrap();
    }
}
