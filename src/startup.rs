//! Builds the application from settings: opens and migrates the store, loads the master
//! key, binds the listener (port 0 works: tests read the bound port) and wires the routes.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::EitherBody;
use actix_web::dev::{Server, Service, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpMessage, HttpResponse, HttpServer};
use anyhow::Context;

use crate::api::{self, RequestId};
use crate::config::Settings;
use crate::crypto::Keyring;
use crate::state::{AppState, Clock, Detached, KeyedLocks, Wakers};
use crate::store::{self, Store};

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    /// The port of `CONVENE_METRICS_LISTEN`, when set.
    metrics_port: Option<u16>,
}

/// Opens the data directory and database, migrates, and checks the master key against the
/// database. Shared by `serve` and the CLI commands that touch data.
pub fn open_data(settings: &Settings) -> anyhow::Result<(Store, Keyring)> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "CONVENE_DATA_DIR: cannot create {}",
            settings.data_dir.display()
        )
    })?;
    let store = Store::open(&settings.db_path())
        .with_context(|| format!("cannot open {}", settings.db_path().display()))?;
    store.blocking(store::migrations::migrate)?;
    let keys = Keyring::load_or_create(
        settings.master_key.as_ref().map(|s| s.0.as_str()),
        &settings.data_dir,
    )?;
    crate::rotation::check(&store, &keys)?;
    Ok((store, keys))
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("CONVENE_LISTEN: cannot bind {}", settings.listen))?;
        Self::build_with_listener(settings, listener).await
    }

    /// Like [`Application::build`] on a listener bound beforehand (tests bind port 0 first,
    /// so the public URL can name the real port).
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        Self::build_with_extra_routes(settings, listener, |_| {}).await
    }

    /// Like [`Application::build_with_listener`], with `extra` routes served beside
    /// [`routes`] by the same server under the same middleware (a benchmark's baseline
    /// handler).
    pub async fn build_with_extra_routes(
        settings: Settings,
        listener: TcpListener,
        extra: fn(&mut web::ServiceConfig),
    ) -> anyhow::Result<Self> {
        crate::metrics::mark_started();
        let settings = Arc::new(settings);
        let s = settings.clone();
        let (store, keys) = tokio::task::spawn_blocking(move || {
            let (store, keys) = open_data(&s)?;
            crate::retention::ensure_incremental_vacuum(&store)?;
            Ok::<_, anyhow::Error>((store, keys))
        })
        .await??;
        let port = listener.local_addr()?.port();
        let http = reqwest::Client::builder()
            .user_agent(concat!("Convene/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let state = AppState {
            settings: settings.clone(),
            store,
            keys: Arc::new(keys),
            http,
            clock: Clock::default(),
            locks: KeyedLocks::default(),
            wake: Wakers::default(),
            detached: Detached::default(),
            sweeps: Default::default(),
            api_keys: Default::default(),
            sync_lag: Default::default(),
        };
        {
            let (st, ks) = (state.store.clone(), state.keys.clone());
            tokio::task::spawn_blocking(move || {
                crate::webhooks::secret::ensure_workspace_secret(&st, &ks)
            })
            .await??;
        }
        crate::admin::announce_setup_link(&state).await?;
        crate::push::announce_mode(&state.settings);
        crate::webhooks::deliver::release_stale_leases(&state).await?;
        let server = run(listener, state.clone(), extra)?;
        let metrics_port = match api::metrics::start_listener(&state)? {
            Some((port, metrics_server)) => {
                tokio::spawn(metrics_server);
                Some(port)
            }
            None => None,
        };
        Ok(Application {
            port,
            server,
            state,
            metrics_port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The port serving only `/metrics` (`CONVENE_METRICS_LISTEN`), when configured.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// Serves until SIGTERM/SIGINT (actix handles both gracefully).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Every route of the server.
pub fn routes(cfg: &mut web::ServiceConfig) {
    api::health::configure(cfg);
    api::metrics::configure(cfg);
    api::docs::configure(cfg);
    crate::webhooks::configure(cfg);
    crate::admin::configure(cfg);
    crate::calendars::configure(cfg);
    crate::zoom::configure(cfg);
    crate::events::configure(cfg);
    crate::push::configure(cfg);
}

fn run(
    listener: TcpListener,
    state: AppState,
    extra: fn(&mut web::ServiceConfig),
) -> anyhow::Result<Server> {
    let data = web::Data::new(state);
    // One limiter for the whole server (the closure below runs once per worker).
    let login_limiter = web::Data::new(crate::admin::rate_limit::LoginLimiter::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(login_limiter.clone())
            .app_data(api::json_config())
            .app_data(api::query_config())
            .app_data(api::path_config())
            .configure(routes)
            .configure(extra)
            .default_service(web::to(api::not_found))
            .wrap(NormalizePath::new(TrailingSlash::Always))
            .wrap_fn(|req, srv| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| {
                        !v.is_empty()
                            && v.len() <= 64
                            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
                    .map(str::to_string)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                req.extensions_mut().insert(RequestId(id.clone()));
                let method = req.method().clone();
                let path = req.path().to_string();
                let started = std::time::Instant::now();
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    let status = res.status();
                    crate::metrics::http_request(
                        res.request()
                            .match_pattern()
                            .as_deref()
                            .unwrap_or("unmatched"),
                        status.as_u16(),
                    );
                    let mut res: ServiceResponse<EitherBody<_>> = if status.as_u16() == 500 {
                        let (req, _) = res.into_parts();
                        let body = HttpResponse::InternalServerError().json(
                            serde_json::json!({ "detail": "Internal error", "request_id": id }),
                        );
                        ServiceResponse::new(req, body).map_into_right_body()
                    } else {
                        res.map_into_left_body()
                    };
                    if let Ok(v) = HeaderValue::from_str(&id) {
                        res.headers_mut()
                            .insert(HeaderName::from_static("x-request-id"), v);
                    }
                    tracing::info!(
                        request_id = %id,
                        method = %method,
                        path = %path,
                        status = status.as_u16(),
                        latency_ms = started.elapsed().as_millis() as u64,
                        "request"
                    );
                    Ok(res)
                }
            })
    })
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}
