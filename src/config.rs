//! Settings: `CONVENE_*` environment variables, optionally a TOML file with the same keys in
//! lower case (environment wins), and `<NAME>_FILE` variants for secrets.
//! A bad value stops the start with a message naming the variable and what is valid.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

/// Every variable Convene reads, with its default (None = unset by default).
pub const VARIABLES: &[(&str, Option<&str>)] = &[
    ("CONVENE_LISTEN", Some("127.0.0.1:8080")),
    // Unset: the listen address (http://127.0.0.1:<port> for a wildcard address).
    ("CONVENE_PUBLIC_URL", None),
    ("CONVENE_DATA_DIR", Some("./data")),
    ("CONVENE_MASTER_KEY", None),
    ("CONVENE_REDIRECT_ALLOWLIST", Some("")),
    ("CONVENE_CORS_ORIGINS", Some("*")),
    ("CONVENE_SYNC_INTERVAL_SECS", Some("60")),
    // Calendars synced at once by the sweep, in all and per provider.
    ("CONVENE_SYNC_CONCURRENCY", Some("256")),
    ("CONVENE_SYNC_CONCURRENCY_PER_PROVIDER", Some("192")),
    ("CONVENE_SYNC_WINDOW_PAST_DAYS", Some("1")),
    ("CONVENE_SYNC_WINDOW_FUTURE_DAYS", Some("28")),
    ("CONVENE_PUSH", Some("auto")),
    ("CONVENE_PUSH_POLL_SECS", Some("3600")),
    (
        "CONVENE_GOOGLE_AUTH_URL",
        Some("https://accounts.google.com/o/oauth2/v2/auth"),
    ),
    (
        "CONVENE_GOOGLE_TOKEN_URL",
        Some("https://oauth2.googleapis.com/token"),
    ),
    ("CONVENE_GOOGLE_API_URL", Some("https://www.googleapis.com")),
    (
        "CONVENE_MICROSOFT_AUTH_URL",
        Some("https://login.microsoftonline.com/common/oauth2/v2.0/authorize"),
    ),
    (
        "CONVENE_MICROSOFT_TOKEN_URL",
        Some("https://login.microsoftonline.com/common/oauth2/v2.0/token"),
    ),
    (
        "CONVENE_MICROSOFT_GRAPH_URL",
        Some("https://graph.microsoft.com/v1.0"),
    ),
    (
        "CONVENE_ZOOM_AUTH_URL",
        Some("https://zoom.us/oauth/authorize"),
    ),
    (
        "CONVENE_ZOOM_TOKEN_URL",
        Some("https://zoom.us/oauth/token"),
    ),
    ("CONVENE_ZOOM_API_URL", Some("https://api.zoom.us/v2")),
    ("CONVENE_BOT_API_URL", None),
    ("CONVENE_BOT_API_KEY", None),
    (
        "CONVENE_WEBHOOK_RETRY_SCHEDULE",
        Some("5,300,1800,7200,18000,36000,36000"),
    ),
    ("CONVENE_CALENDAR_AUTH_TOKEN_TTL_SECS", Some("86400")),
    ("CONVENE_RETENTION_DAYS", Some("30")),
    ("CONVENE_LOG", Some("info")),
    ("CONVENE_LOG_FORMAT", Some("text")),
    ("CONVENE_CONFIG", None),
    ("CONVENE_METRICS_TOKEN", None),
    ("CONVENE_METRICS_LISTEN", None),
];

/// Variables that hold secrets: they also accept `<NAME>_FILE` and are never printed.
pub const SECRET_VARIABLES: &[&str] = &[
    "CONVENE_MASTER_KEY",
    "CONVENE_BOT_API_KEY",
    "CONVENE_METRICS_TOKEN",
];

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &str, message: impl Into<String>) -> Self {
        Self {
            variable: variable.to_string(),
            message: message.into(),
        }
    }
}

/// `CONVENE_PUSH`: provider push notifications (push.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMode {
    /// On when the public URL is https (providers refuse plain-http notification URLs).
    Auto,
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct ProviderUrls {
    pub google_auth: Url,
    pub google_token: Url,
    pub google_api: Url,
    pub microsoft_auth: Url,
    pub microsoft_token: Url,
    pub microsoft_graph: Url,
    pub zoom_auth: Url,
    pub zoom_token: Url,
    pub zoom_api: Url,
}

/// A secret string that never shows itself in `Debug` output.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub data_dir: PathBuf,
    pub master_key: Option<Secret>,
    pub redirect_allowlist: Vec<String>,
    /// Origins whose browsers may call the calendar-token endpoints (api.md, CORS).
    pub cors_origins: CorsOrigins,
    pub sync_interval: Duration,
    /// Most calendars the sync sweep syncs at once (`CONVENE_SYNC_CONCURRENCY`).
    pub sync_concurrency: usize,
    /// Most of them on one provider, so a slow provider leaves room for the others
    /// (`CONVENE_SYNC_CONCURRENCY_PER_PROVIDER`, at most `sync_concurrency`).
    pub sync_concurrency_per_provider: usize,
    pub sync_window_past_days: u32,
    pub sync_window_future_days: u32,
    pub push: PushMode,
    /// Safety poll interval of a calendar whose push subscription is live.
    pub push_poll_interval: Duration,
    pub providers: ProviderUrls,
    pub bot_api_url: Option<Url>,
    pub bot_api_key: Option<Secret>,
    pub webhook_retry_schedule: Vec<Duration>,
    pub calendar_auth_token_ttl: Duration,
    /// Finished deliveries, ended and deleted events, histories: kept this many days.
    pub retention_days: u32,
    pub log: String,
    pub log_format: LogFormat,
    /// Unknown `CONVENE_*` variables seen at load time (warned about at start).
    pub unknown_variables: Vec<String>,
    /// Bearer token that opens `GET /metrics` on the main address (unset: not served there).
    pub metrics_token: Option<Secret>,
    /// A separate address serving only `GET /metrics`.
    pub metrics_listen: Option<SocketAddr>,
}

/// Where raw values come from: a map of `CONVENE_*` names to strings.
pub type RawVars = HashMap<String, String>;

impl Settings {
    /// Loads settings from the process environment and an optional TOML file.
    pub fn from_env(config_file: Option<PathBuf>) -> Result<Self, ConfigError> {
        let env: RawVars = std::env::vars()
            .filter(|(k, _)| k.starts_with("CONVENE_"))
            .collect();
        Self::from_sources(env, config_file)
    }

    /// Loads settings from explicit variables (tests use this) plus an optional TOML file.
    pub fn from_sources(
        mut env: RawVars,
        config_file: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let file = config_file.or_else(|| env.get("CONVENE_CONFIG").map(PathBuf::from));
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new(
                    "CONVENE_CONFIG",
                    format!("cannot read config file {}: {e}", path.display()),
                )
            })?;
            let table: toml::Table = text.parse().map_err(|e| {
                ConfigError::new(
                    "CONVENE_CONFIG",
                    format!("{} is not valid TOML: {e}", path.display()),
                )
            })?;
            for (key, value) in table {
                let name = format!("CONVENE_{}", key.to_uppercase());
                let value = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Array(items) => items
                        .iter()
                        .map(|v| match v {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    other => {
                        return Err(ConfigError::new(
                            &name,
                            format!("unsupported TOML value {other}"),
                        ))
                    }
                };
                vars.insert(name, value);
            }
        }
        // `_FILE` variants for secrets: read the file, trim the trailing newline.
        for secret in SECRET_VARIABLES {
            let file_var = format!("{secret}_FILE");
            if let Some(path) = env.remove(&file_var).or_else(|| vars.remove(&file_var)) {
                let content = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError::new(&file_var, format!("cannot read secret file {path}: {e}"))
                })?;
                env.insert(secret.to_string(), content.trim_end().to_string());
            }
        }
        for (k, v) in env {
            vars.insert(k, v);
        }

        let known: Vec<&str> = VARIABLES.iter().map(|(k, _)| *k).collect();
        let unknown_variables = vars
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        let get = |name: &str| -> Option<String> {
            vars.get(name).cloned().or_else(|| {
                VARIABLES
                    .iter()
                    .find(|(k, _)| *k == name)
                    .and_then(|(_, d)| d.map(str::to_string))
            })
        };
        let required = |name: &str| get(name).unwrap_or_default();

        let listen: SocketAddr = required("CONVENE_LISTEN").parse().map_err(|_| {
            ConfigError::new(
                "CONVENE_LISTEN",
                "must be an address and port such as 127.0.0.1:8080 or 0.0.0.0:8080",
            )
        })?;
        let public_url = match get("CONVENE_PUBLIC_URL").filter(|s| !s.trim().is_empty()) {
            Some(u) => parse_http_url("CONVENE_PUBLIC_URL", &u)?,
            None => default_public_url(listen),
        };
        let data_dir = PathBuf::from(required("CONVENE_DATA_DIR"));
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "CONVENE_DATA_DIR",
                "must be a directory path",
            ));
        }
        let redirect_allowlist = required("CONVENE_REDIRECT_ALLOWLIST")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                crate::redirects::parse_origin(s).ok_or_else(|| {
                    ConfigError::new(
                        "CONVENE_REDIRECT_ALLOWLIST",
                        format!("{s:?} is not an origin such as https://app.example.com"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cors_origins = parse_cors_origins(&required("CONVENE_CORS_ORIGINS"))?;
        let sync_interval_secs = parse_u64_range(
            "CONVENE_SYNC_INTERVAL_SECS",
            &required("CONVENE_SYNC_INTERVAL_SECS"),
            1,
            86_400,
        )?;
        let sync_concurrency = parse_u64_range(
            "CONVENE_SYNC_CONCURRENCY",
            &required("CONVENE_SYNC_CONCURRENCY"),
            1,
            4096,
        )? as usize;
        let sync_concurrency_per_provider = parse_u64_range(
            "CONVENE_SYNC_CONCURRENCY_PER_PROVIDER",
            &required("CONVENE_SYNC_CONCURRENCY_PER_PROVIDER"),
            1,
            4096,
        )? as usize;
        let past = parse_u64_range(
            "CONVENE_SYNC_WINDOW_PAST_DAYS",
            &required("CONVENE_SYNC_WINDOW_PAST_DAYS"),
            0,
            365,
        )? as u32;
        let future = parse_u64_range(
            "CONVENE_SYNC_WINDOW_FUTURE_DAYS",
            &required("CONVENE_SYNC_WINDOW_FUTURE_DAYS"),
            1,
            730,
        )? as u32;
        let push = match required("CONVENE_PUSH").trim().to_lowercase().as_str() {
            "auto" => PushMode::Auto,
            "on" => PushMode::On,
            "off" => PushMode::Off,
            other => {
                return Err(ConfigError::new(
                    "CONVENE_PUSH",
                    format!("must be auto, on or off (got {other:?})"),
                ))
            }
        };
        let push_poll_secs = parse_u64_range(
            "CONVENE_PUSH_POLL_SECS",
            &required("CONVENE_PUSH_POLL_SECS"),
            60,
            7 * 86_400,
        )?;
        let url = |name: &str| parse_http_url(name, &required(name));
        let providers = ProviderUrls {
            google_auth: url("CONVENE_GOOGLE_AUTH_URL")?,
            google_token: url("CONVENE_GOOGLE_TOKEN_URL")?,
            google_api: url("CONVENE_GOOGLE_API_URL")?,
            microsoft_auth: url("CONVENE_MICROSOFT_AUTH_URL")?,
            microsoft_token: url("CONVENE_MICROSOFT_TOKEN_URL")?,
            microsoft_graph: url("CONVENE_MICROSOFT_GRAPH_URL")?,
            zoom_auth: url("CONVENE_ZOOM_AUTH_URL")?,
            zoom_token: url("CONVENE_ZOOM_TOKEN_URL")?,
            zoom_api: url("CONVENE_ZOOM_API_URL")?,
        };
        let bot_api_url = match get("CONVENE_BOT_API_URL").filter(|s| !s.is_empty()) {
            Some(s) => Some(parse_http_url("CONVENE_BOT_API_URL", &s)?),
            None => None,
        };
        let bot_api_key = get("CONVENE_BOT_API_KEY")
            .filter(|s| !s.is_empty())
            .map(Secret);
        let webhook_retry_schedule = required("CONVENE_WEBHOOK_RETRY_SCHEDULE")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u64>().map(Duration::from_secs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                ConfigError::new(
                    "CONVENE_WEBHOOK_RETRY_SCHEDULE",
                    "must be a comma-separated list of whole seconds, e.g. 5,300,1800",
                )
            })?;
        let ttl = parse_u64_range(
            "CONVENE_CALENDAR_AUTH_TOKEN_TTL_SECS",
            &required("CONVENE_CALENDAR_AUTH_TOKEN_TTL_SECS"),
            1,
            365 * 86_400,
        )?;
        let retention_days = parse_u64_range(
            "CONVENE_RETENTION_DAYS",
            &required("CONVENE_RETENTION_DAYS"),
            1,
            3650,
        )? as u32;
        let log = required("CONVENE_LOG");
        if tracing_subscriber::EnvFilter::try_new(&log).is_err() {
            return Err(ConfigError::new(
                "CONVENE_LOG",
                "must be a tracing filter such as info, debug or convene=debug,info",
            ));
        }
        let log_format = match required("CONVENE_LOG_FORMAT").to_lowercase().as_str() {
            "text" | "" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(ConfigError::new(
                    "CONVENE_LOG_FORMAT",
                    "must be text or json",
                ))
            }
        };
        let master_key = get("CONVENE_MASTER_KEY")
            .filter(|s| !s.is_empty())
            .map(Secret);
        if let Some(key) = &master_key {
            crate::crypto::decode_master_key(&key.0)
                .map_err(|m| ConfigError::new("CONVENE_MASTER_KEY", m))?;
        }

        let metrics_token = get("CONVENE_METRICS_TOKEN")
            .filter(|s| !s.is_empty())
            .map(Secret);
        let metrics_listen = match get("CONVENE_METRICS_LISTEN").filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse().map_err(|_| {
                ConfigError::new(
                    "CONVENE_METRICS_LISTEN",
                    "must be an address and port such as 127.0.0.1:9100",
                )
            })?),
            None => None,
        };

        Ok(Settings {
            metrics_token,
            metrics_listen,
            listen,
            public_url,
            data_dir,
            master_key,
            redirect_allowlist,
            cors_origins,
            sync_interval: Duration::from_secs(sync_interval_secs),
            sync_concurrency,
            sync_concurrency_per_provider: sync_concurrency_per_provider.min(sync_concurrency),
            sync_window_past_days: past,
            sync_window_future_days: future,
            push,
            push_poll_interval: Duration::from_secs(push_poll_secs),
            providers,
            bot_api_url,
            bot_api_key,
            webhook_retry_schedule,
            calendar_auth_token_ttl: Duration::from_secs(ttl),
            retention_days,
            log,
            log_format,
            unknown_variables,
        })
    }

    /// The public URL without a trailing slash, for building absolute links.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_string()
    }

    /// An absolute URL on this server for `path` (which starts with `/`).
    pub fn public_link(&self, path: &str) -> String {
        format!("{}{}", self.public_base(), path)
    }

    /// Whether Convene subscribes to provider push notifications (`CONVENE_PUSH`).
    pub fn push_enabled(&self) -> bool {
        match self.push {
            PushMode::On => true,
            PushMode::Off => false,
            PushMode::Auto => self.public_url.scheme() == "https",
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("convene.db")
    }
}

/// `http://<listen address>`, with loopback in place of a wildcard address (0.0.0.0, ::),
/// so that changing only `CONVENE_LISTEN` moves the setup link and redirect URIs with it.
pub fn default_public_url(listen: SocketAddr) -> Url {
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    Url::parse(&format!("http://{host}:{}", listen.port())).expect("a valid URL")
}

/// `CONVENE_CORS_ORIGINS`: `*` (any origin) or a comma-separated list of origins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    /// Normalized origins (`scheme://host[:port]`).
    List(Vec<String>),
}

impl CorsOrigins {
    /// Whether a browser's `Origin` header value is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            CorsOrigins::Any => true,
            CorsOrigins::List(list) => {
                crate::redirects::parse_origin(origin).is_some_and(|o| list.contains(&o))
            }
        }
    }
}

fn parse_cors_origins(value: &str) -> Result<CorsOrigins, ConfigError> {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.contains(&"*") {
        return Ok(CorsOrigins::Any);
    }
    items
        .into_iter()
        .map(|s| {
            crate::redirects::parse_origin(s).ok_or_else(|| {
                ConfigError::new(
                    "CONVENE_CORS_ORIGINS",
                    format!("{s:?} is not * or an origin such as https://app.example.com"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(CorsOrigins::List)
}

fn parse_http_url(name: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|_| {
        ConfigError::new(
            name,
            format!("{value:?} is not an absolute http(s) URL such as https://example.com"),
        )
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ConfigError::new(name, "must use http or https"));
    }
    Ok(url)
}

fn parse_u64_range(name: &str, value: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::new(
            name,
            format!("must be a whole number from {min} to {max} (got {value:?})"),
        )),
    }
}
