//! Microsoft Graph `me/calendarView/delta`: the initial round over the window follows
//! `@odata.nextLink` to the `@odata.deltaLink`, which is the next incremental sync. Removed
//! events come as `{"id", "@removed"}`; duplicates and replays are harmless (upsert by id,
//! content hash). `410` or a `syncStateNotFound` error means the delta token is dead.

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    body_excerpt, normalize, query_time, retry_after_ms, Engine, FetchContext, FetchError, Fetched,
    HttpFailure, Window,
};

pub struct Microsoft;

/// Events per page asked for with `Prefer: odata.maxpagesize`.
const PAGE_SIZE: &str = "odata.maxpagesize=500";
const UTC: &str = "outlook.timezone=\"UTC\"";

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow, default)]
    value: Vec<&'a RawValue>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorInner,
}

#[derive(Deserialize, Default)]
struct ErrorInner {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

fn map_failure(f: HttpFailure) -> FetchError {
    let (status, headers, body) = match f.into_status("graph") {
        Ok(parts) => parts,
        Err(e) => return e,
    };
    let err: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
    let code = err.error.code.to_ascii_lowercase();
    match status.as_u16() {
        410 => FetchError::TokenExpired,
        _ if code == "syncstatenotfound" || code == "resyncrequired" => FetchError::TokenExpired,
        401 => FetchError::Unauthorized,
        429 | 503 if retry_after_ms(&headers).is_some() || status.as_u16() == 429 => {
            FetchError::RateLimited {
                retry_after_ms: retry_after_ms(&headers),
            }
        }
        s => FetchError::Provider(format!(
            "graph answered {s}: {}",
            if err.error.message.is_empty() {
                body_excerpt(&body)
            } else {
                format!("{}: {}", err.error.code, err.error.message)
            }
        )),
    }
}

/// `scheme://host:port` of a URL, to keep the bearer token on the configured Graph host.
fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization())
}

impl Engine for Microsoft {
    fn fetch<'a>(
        &'a self,
        cx: &'a FetchContext<'a>,
        token: Option<&'a str>,
        window: Window,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>> {
        Box::pin(async move {
            let graph = cx
                .settings
                .providers
                .microsoft_graph
                .as_str()
                .trim_end_matches('/');
            let graph_origin = origin(graph);
            let headers = [("Prefer", PAGE_SIZE), ("Prefer", UTC)];
            let mut items = Vec::new();
            let (mut url, mut query) = match token {
                Some(delta_link) => (delta_link.to_string(), vec![]),
                None => (
                    format!("{graph}/me/calendarView/delta"),
                    vec![
                        ("startDateTime", query_time(window.start_ms)),
                        ("endDateTime", query_time(window.end_ms)),
                    ],
                ),
            };
            loop {
                if origin(&url) != graph_origin {
                    return Err(FetchError::Provider(
                        "graph: paging link outside the configured Graph URL".into(),
                    ));
                }
                let body = cx.get(&url, &query, &headers).await.map_err(map_failure)?;
                let page: Page = serde_json::from_slice(&body)
                    .map_err(|e| FetchError::Provider(format!("graph: malformed page: {e}")))?;
                items.extend(page.value.iter().filter_map(|raw| {
                    normalize::read_item(raw.get(), normalize::microsoft(raw.get()))
                }));
                if let Some(next) = page.next_link {
                    url = next;
                    query.clear();
                    continue;
                }
                let delta = page.delta_link.ok_or_else(|| {
                    FetchError::Provider("graph: last page without @odata.deltaLink".into())
                })?;
                return Ok(Fetched::finished(items, token, delta, window));
            }
        })
    }
}
