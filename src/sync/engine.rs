//! What a provider engine is (`google.rs`, `microsoft.rs`): the window it lists, what it
//! fetched, how it fails, and the HTTP context it fetches with.

use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::normalize::Item;
use super::DAY_MS;
use super::{google, microsoft};
use crate::config::Settings;
use crate::domain::Platform;
use crate::store::sync::SyncCursor;

/// The time range kept in sync, Unix ms, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Window {
    /// `[now - past days, now + future days]` from the settings.
    pub fn around(now_ms: i64, settings: &Settings) -> Self {
        Window {
            start_ms: now_ms - settings.sync_window_past_days as i64 * DAY_MS,
            end_ms: now_ms + settings.sync_window_future_days as i64 * DAY_MS,
        }
    }

    pub(super) fn overlaps(&self, start_ms: i64, end_ms: i64) -> bool {
        start_ms < self.end_ms && end_ms > self.start_ms
    }
}

/// What a provider listing returned.
#[derive(Debug)]
pub struct Fetched {
    pub items: Vec<Item>,
    /// True when `items` is a complete listing of `window` (anything stored and not
    /// listed is gone); false for a list of changes since a token.
    pub full: bool,
    /// The token for the next incremental sync and the window it covers.
    pub cursor: SyncCursor,
    /// The calendar's time zone when the provider says it (Google `timeZone`): all-day
    /// events are listed by their extent in it.
    pub time_zone: Option<String>,
}

impl Fetched {
    /// A listing that reached its last page: `token` is what it started from (`None` = a
    /// full listing of `window`), `next_token` what the next incremental sync sends.
    pub(super) fn finished(
        items: Vec<Item>,
        token: Option<&str>,
        next_token: String,
        window: Window,
    ) -> Self {
        Fetched {
            items,
            full: token.is_none(),
            cursor: SyncCursor {
                token: next_token,
                window_start: window.start_ms,
                window_end: window.end_ms,
            },
            time_zone: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the sync token is no longer valid; a full sync is required")]
    TokenExpired,
    #[error("rate limited by the provider")]
    RateLimited { retry_after_ms: Option<i64> },
    #[error("the provider refused the access token")]
    Unauthorized,
    #[error("{0}")]
    Provider(String),
}

/// Per-sync request context for engines.
pub struct FetchContext<'a> {
    pub http: &'a reqwest::Client,
    pub settings: &'a Settings,
    pub access_token: String,
    /// Provider requests made (for tests, logs and the benchmark).
    pub requests: &'a AtomicU32,
}

impl FetchContext<'_> {
    /// GET with the bearer token; `Err` carries a non-2xx answer or a transport error.
    pub(super) async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
        headers: &[(&str, &str)],
    ) -> Result<Vec<u8>, HttpFailure> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .http
            .get(url)
            .bearer_auth(&self.access_token)
            .query(query);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let sent = req.send().await;
        crate::metrics::provider_request(
            crate::metrics::provider_of(self.settings, url),
            "calendar_events",
            sent.as_ref().ok().map(|r| r.status().as_u16()),
        );
        let res = sent.map_err(|e| HttpFailure::Transport(e.without_url().to_string()))?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .bytes()
            .await
            .map_err(|e| HttpFailure::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(HttpFailure::Status {
                status,
                headers,
                body: body.to_vec(),
            })
        }
    }
}

#[derive(Debug)]
pub enum HttpFailure {
    Transport(String),
    Status {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
}

impl HttpFailure {
    /// The non-2xx answer's status, headers and body; a transport failure becomes the
    /// engine's error at once (`provider` prefixes its message).
    pub(super) fn into_status(
        self,
        provider: &str,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), FetchError> {
        match self {
            HttpFailure::Transport(e) => Err(FetchError::Provider(format!("{provider}: {e}"))),
            HttpFailure::Status {
                status,
                headers,
                body,
            } => Ok((status, headers, body)),
        }
    }
}

/// A window bound as the providers' query parameters take it (UTC, whole seconds).
pub(super) fn query_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `Retry-After` in seconds or as an HTTP date, in ms from now.
pub(crate) fn retry_after_ms(headers: &HeaderMap) -> Option<i64> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<i64>() {
        return Some(secs.max(0) * 1000);
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some((at.timestamp_millis() - crate::store::now_ms()).max(0))
}

/// One provider's way of listing events.
pub trait Engine: Send + Sync {
    /// Lists everything in `window` (`token` None) or the changes since `token`.
    fn fetch<'a>(
        &'a self,
        cx: &'a FetchContext<'a>,
        token: Option<&'a str>,
        window: Window,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>>;
}

pub fn engine_for(platform: Platform) -> &'static dyn Engine {
    match platform {
        Platform::Google => &google::Google,
        Platform::Microsoft => &microsoft::Microsoft,
    }
}
