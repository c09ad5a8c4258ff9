//! Cursor pagination: `cursor` (opaque, signed) and `page_size` (default 100, max 1000);
//! bodies `{"next", "previous", "results"}` with absolute links built from the public URL.
//!
//! A cursor is the last row's sort key and id, signed so a tampered cursor is a clean `400`.
//! Lists order by (sort key, id) and continue with `(key, id) > (last_key, last_id)`, which
//! stays correct under concurrent inserts.

use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

/// A position in a list: the sort key of the last row seen and its id.
/// `back` is set on cursors that page backwards (the `previous` link).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    pub key: serde_json::Value,
    pub id: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub back: bool,
}

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub cursor: Option<Cursor>,
    pub page_size: usize,
}

impl PageRequest {
    /// Reads `cursor` and `page_size` from the query string.
    pub fn from_request(state: &AppState, req: &HttpRequest) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let mut page = PageRequest {
            cursor: None,
            page_size: DEFAULT_PAGE_SIZE,
        };
        for (k, v) in pairs {
            match k.as_str() {
                "cursor" if !v.is_empty() => page.cursor = Some(decode(state, &v)?),
                "page_size" => {
                    page.page_size = match v.parse::<usize>() {
                        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                        _ => {
                            return Err(ApiError::field(
                                "page_size",
                                format!("Must be a whole number from 1 to {MAX_PAGE_SIZE}."),
                            ))
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(page)
    }

    /// The cursor's `(key, id)` for lists keyed by an integer (`created_at` ms); a cursor
    /// whose key is not one is a `400`.
    pub fn int_position(&self) -> Result<Option<(i64, String)>, ApiError> {
        self.cursor
            .as_ref()
            .map(|c| {
                let key = c
                    .key
                    .as_i64()
                    .ok_or_else(|| ApiError::field("cursor", "Invalid cursor."))?;
                Ok((key, c.id.clone()))
            })
            .transpose()
    }

    /// True when the cursor pages backwards (the `previous` link).
    pub fn backwards(&self) -> bool {
        self.cursor.as_ref().is_some_and(|c| c.back)
    }

    /// What a store query of an integer-keyed list needs: the position, the direction and
    /// how many rows to read (one more than a page, to know whether another follows).
    pub fn int_window(&self) -> Result<IntWindow, ApiError> {
        Ok(IntWindow {
            after: self.int_position()?,
            backwards: self.backwards(),
            limit: self.page_size + 1,
        })
    }
}

/// See [`PageRequest::int_window`].
pub struct IntWindow {
    pub after: Option<(i64, String)>,
    pub backwards: bool,
    pub limit: usize,
}

pub fn encode(state: &AppState, cursor: &Cursor) -> String {
    let json = serde_json::to_vec(cursor).expect("cursor serializes");
    state.keys.seal_token("cursor", &json)
}

pub fn decode(state: &AppState, text: &str) -> Result<Cursor, ApiError> {
    let bad = || ApiError::field("cursor", "Invalid cursor.");
    let bytes = state.keys.open_token("cursor", text).ok_or_else(bad)?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

#[derive(Debug, Serialize)]
pub struct Page<T: Serialize> {
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// Builds a page from rows fetched with `limit = page_size + 1` in the request's direction.
///
/// `rows` must be in the direction of travel (ascending for forward cursors, descending for
/// `back` cursors); `key_of` gives a row's (sort key, id).
pub fn build_page<T: Serialize>(
    state: &AppState,
    req: &HttpRequest,
    page: &PageRequest,
    mut rows: Vec<T>,
    key_of: impl Fn(&T) -> (serde_json::Value, String),
) -> Page<T> {
    let backwards = page.cursor.as_ref().is_some_and(|c| c.back);
    let has_more = rows.len() > page.page_size;
    rows.truncate(page.page_size);
    if backwards {
        rows.reverse();
    }
    let link = |c: Cursor| link_with_cursor(state, req, &encode(state, &c));
    let (mut next, mut previous) = (None, None);
    let first = rows.first().map(&key_of);
    let last = rows.last().map(&key_of);
    if backwards {
        if has_more {
            if let Some((key, id)) = first.clone() {
                previous = Some(link(Cursor {
                    key,
                    id,
                    back: true,
                }));
            }
        }
        if let Some((key, id)) = last {
            next = Some(link(Cursor {
                key,
                id,
                back: false,
            }));
        }
    } else {
        if has_more {
            if let Some((key, id)) = last {
                next = Some(link(Cursor {
                    key,
                    id,
                    back: false,
                }));
            }
        }
        if page.cursor.is_some() {
            if let Some((key, id)) = first {
                previous = Some(link(Cursor {
                    key,
                    id,
                    back: true,
                }));
            }
        }
    }
    Page {
        next,
        previous,
        results: rows,
    }
}

/// The request's absolute URL on the public base with `cursor` replaced.
pub fn link_with_cursor(state: &AppState, req: &HttpRequest, cursor: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    pairs.retain(|(k, _)| k != "cursor");
    pairs.push(("cursor".into(), cursor.into()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let mut path = req.path().to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    format!("{}?{}", state.settings.public_link(&path), query)
}
