//! Google Calendar v3 `events.list`: full sync over the window with `singleEvents=true`
//! and paging (the last page carries `nextSyncToken`), then incremental syncs with
//! `syncToken` (which cannot be combined with `timeMin`/`timeMax`). `410 fullSyncRequired`
//! means the token expired.

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    body_excerpt, normalize, query_time, retry_after_ms, Engine, FetchContext, FetchError, Fetched,
    HttpFailure, Window,
};

pub struct Google;

/// Largest page Google allows.
const MAX_RESULTS: &str = "2500";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<'a> {
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
    next_page_token: Option<String>,
    next_sync_token: Option<String>,
    /// The calendar's time zone (Google compares all-day events with the window in it).
    time_zone: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorInner,
}

#[derive(Deserialize, Default)]
struct ErrorInner {
    #[serde(default)]
    errors: Vec<ErrorItem>,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Default)]
struct ErrorItem {
    #[serde(default)]
    reason: String,
}

fn map_failure(f: HttpFailure) -> FetchError {
    let (status, headers, body) = match f.into_status("google") {
        Ok(parts) => parts,
        Err(e) => return e,
    };
    let err: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
    let reasons: Vec<&str> = err.error.errors.iter().map(|e| e.reason.as_str()).collect();
    match status.as_u16() {
        410 => FetchError::TokenExpired,
        401 => FetchError::Unauthorized,
        429 => FetchError::RateLimited {
            retry_after_ms: retry_after_ms(&headers),
        },
        403 if reasons
            .iter()
            .any(|r| matches!(*r, "rateLimitExceeded" | "userRateLimitExceeded")) =>
        {
            FetchError::RateLimited {
                retry_after_ms: retry_after_ms(&headers),
            }
        }
        s => FetchError::Provider(format!(
            "google answered {s}: {}",
            if err.error.message.is_empty() {
                body_excerpt(&body)
            } else {
                err.error.message
            }
        )),
    }
}

impl Engine for Google {
    fn fetch<'a>(
        &'a self,
        cx: &'a FetchContext<'a>,
        token: Option<&'a str>,
        window: Window,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>> {
        Box::pin(async move {
            let url = format!(
                "{}/calendar/v3/calendars/primary/events",
                cx.settings
                    .providers
                    .google_api
                    .as_str()
                    .trim_end_matches('/')
            );
            let mut items = Vec::new();
            let mut time_zone = None;
            let mut page_token: Option<String> = None;
            loop {
                let mut query: Vec<(&str, String)> = vec![
                    ("singleEvents", "true".into()),
                    ("maxResults", MAX_RESULTS.into()),
                ];
                match token {
                    Some(t) => query.push(("syncToken", t.to_string())),
                    None => {
                        query.push(("timeMin", query_time(window.start_ms)));
                        query.push(("timeMax", query_time(window.end_ms)));
                    }
                }
                if let Some(p) = &page_token {
                    query.push(("pageToken", p.clone()));
                }
                let body = cx.get(&url, &query, &[]).await.map_err(map_failure)?;
                let page: Page = serde_json::from_slice(&body)
                    .map_err(|e| FetchError::Provider(format!("google: malformed page: {e}")))?;
                time_zone = time_zone.or(page.time_zone);
                items.extend(page.items.iter().filter_map(|raw| {
                    normalize::read_item(raw.get(), normalize::google(raw.get()))
                }));
                if let Some(next) = page.next_page_token {
                    page_token = Some(next);
                    continue;
                }
                let sync_token = page.next_sync_token.ok_or_else(|| {
                    FetchError::Provider("google: last page without nextSyncToken".into())
                })?;
                let mut fetched = Fetched::finished(items, token, sync_token, window);
                fetched.time_zone = time_zone;
                return Ok(fetched);
            }
        })
    }
}
