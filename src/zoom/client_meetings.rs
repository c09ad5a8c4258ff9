//! Zoom API calls beyond OAuth: meeting lists (`next_page_token` paging), the account's
//! users (account-level apps), and the tokens a Meeting SDK bot needs (ZAK, on-behalf-of,
//! local recording). Same retry and error rules as `client.rs`; tokens are never logged.

use serde::Deserialize;

use super::client::{read_json, transport, with_retries, ZoomError};
use crate::state::AppState;

/// Zoom's page size maximum for these lists.
pub const PAGE_SIZE: &str = "300";
/// Pages followed at most per list (300 × 100 meetings is far beyond any real calendar).
const MAX_PAGES: usize = 100;

fn api_url(state: &AppState, path: &str) -> String {
    format!(
        "{}{path}",
        state
            .settings
            .providers
            .zoom_api
            .as_str()
            .trim_end_matches('/')
    )
}

async fn get_json<T: serde::de::DeserializeOwned>(
    state: &AppState,
    token: &str,
    path: &str,
    query: &[(&str, &str)],
) -> Result<T, ZoomError> {
    let url = api_url(state, path);
    with_retries(|| async {
        let res = state
            .http
            .get(&url)
            .query(query)
            .bearer_auth(token)
            .send()
            .await
            .map_err(transport)?;
        read_json(res).await
    })
    .await
}

#[derive(Deserialize)]
struct MeetingPage {
    #[serde(default)]
    meetings: Vec<MeetingItem>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct MeetingItem {
    id: i64,
}

#[derive(Deserialize)]
struct UserPage {
    #[serde(default)]
    users: Vec<UserItem>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct UserItem {
    id: String,
}

/// Ids of a user's upcoming meetings (`user` = `me` or a user id), every page.
pub async fn upcoming_meetings(
    state: &AppState,
    token: &str,
    user: &str,
) -> Result<Vec<i64>, ZoomError> {
    let path = format!("/users/{user}/meetings");
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = vec![("type", "upcoming"), ("page_size", PAGE_SIZE)];
        if let Some(t) = next.as_deref() {
            query.push(("next_page_token", t));
        }
        let page: MeetingPage = get_json(state, token, &path, &query).await?;
        ids.extend(page.meetings.iter().map(|m| m.id));
        next = page.next_page_token.filter(|t| !t.is_empty());
        if next.is_none() {
            break;
        }
    }
    Ok(ids)
}

/// Ids of the account's active users (account-level apps), every page.
pub async fn active_users(state: &AppState, token: &str) -> Result<Vec<String>, ZoomError> {
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = vec![("status", "active"), ("page_size", PAGE_SIZE)];
        if let Some(t) = next.as_deref() {
            query.push(("next_page_token", t));
        }
        let page: UserPage = get_json(state, token, "/users", &query).await?;
        ids.extend(page.users.into_iter().map(|u| u.id));
        next = page.next_page_token.filter(|t| !t.is_empty());
        if next.is_none() {
            break;
        }
    }
    Ok(ids)
}

/// A token Zoom minted for a meeting; `expire_in` (seconds) when Zoom says it.
#[derive(Deserialize)]
pub struct MintedToken {
    pub token: String,
    #[serde(default)]
    pub expire_in: Option<i64>,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("expire_in", &self.expire_in)
            .finish_non_exhaustive()
    }
}

/// `GET /users/me/token?type=zak`
pub async fn zak(state: &AppState, token: &str) -> Result<MintedToken, ZoomError> {
    get_json(state, token, "/users/me/token", &[("type", "zak")]).await
}

/// `GET /users/me/token?type=onbehalf&meeting_id=<id>`
pub async fn on_behalf(
    state: &AppState,
    token: &str,
    meeting_id: i64,
) -> Result<MintedToken, ZoomError> {
    let id = meeting_id.to_string();
    get_json(
        state,
        token,
        "/users/me/token",
        &[("type", "onbehalf"), ("meeting_id", &id)],
    )
    .await
}

/// `GET /meetings/{id}/jointoken/local_recording`
pub async fn local_recording(
    state: &AppState,
    token: &str,
    meeting_id: i64,
) -> Result<MintedToken, ZoomError> {
    let path = format!("/meetings/{meeting_id}/jointoken/local_recording");
    get_json(state, token, &path, &[]).await
}
