//! Paging for admin lists: newest first, continued with a signed cursor (the last row's
//! `created_at` and id, as the API's cursors) in a `before` query parameter, so a page
//! stays right while rows are added.

use crate::api::pagination::{self, Cursor};
use crate::state::AppState;

use super::render::AdminError;

/// Rows per admin list page.
pub const PAGE_SIZE: usize = 50;

/// One option of a filter `<select>`.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// The choices of a filter, the first being "any" (`""`); `current` is the chosen value.
pub fn choices(all: &[(&'static str, &'static str)], current: &str) -> Vec<Choice> {
    all.iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: *value == current,
        })
        .collect()
}

/// A filter value from the query: empty means any; anything outside `allowed` is refused.
pub fn filter_value(
    name: &str,
    given: Option<&str>,
    allowed: &[(&'static str, &'static str)],
) -> Result<Option<String>, AdminError> {
    match given.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if allowed.iter().any(|(a, _)| !a.is_empty() && *a == v) => Ok(Some(v.into())),
        Some(v) => Err(AdminError::BadRequest(format!(
            "Unknown {name} \u{201c}{v}\u{201d}."
        ))),
    }
}

/// The position a `before` parameter names.
pub fn decode_before(
    state: &AppState,
    before: Option<&str>,
) -> Result<Option<(i64, String)>, AdminError> {
    let Some(text) = before.filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let bad = || AdminError::BadRequest("That page link is not valid; start again.".into());
    let cursor = pagination::decode(state, text).map_err(|_| bad())?;
    let key = cursor.key.as_i64().ok_or_else(bad)?;
    Ok(Some((key, cursor.id)))
}

/// The `before` value continuing after a row.
pub fn encode_before(state: &AppState, created_at: i64, id: &str) -> String {
    pagination::encode(
        state,
        &Cursor {
            key: serde_json::json!(created_at),
            id: id.to_string(),
            back: false,
        },
    )
}

/// Cuts `rows` (fetched with one row more than `page_size`) to a page and gives the link to
/// the next one, if any: `path` with `filters` and the last row's position as `before`.
pub fn next_page<T>(
    state: &AppState,
    rows: &mut Vec<T>,
    page_size: usize,
    path: &str,
    filters: &[(&str, &str)],
    position: impl Fn(&T) -> (i64, &str),
) -> Option<String> {
    let more = rows.len() > page_size;
    rows.truncate(page_size);
    let last = rows.last().filter(|_| more)?;
    let (created_at, id) = position(last);
    let before = encode_before(state, created_at, id);
    let mut pairs = filters.to_vec();
    pairs.push(("before", &before));
    Some(link(path, &pairs))
}

/// `path?query` with the non-empty pairs of `pairs`.
pub fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if kept.is_empty() {
        return path.to_string();
    }
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(kept).unwrap_or_default()
    )
}
