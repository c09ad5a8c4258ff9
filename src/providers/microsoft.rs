//! Microsoft identity platform and Graph: authorize URL, refresh scopes, account email.

use url::Url;

use super::{get_json, has_scope, id_token_claims, plausible_email, TokenResponse};
use crate::config::Settings;

/// The scopes of the hosted flow (api.md and the seeds).
pub const SCOPES: &str = "offline_access openid email https://graph.microsoft.com/Calendars.Read";

/// True when `scopes` allow reading the calendar.
pub fn can_read_events(scopes: &str) -> bool {
    scopes.split_whitespace().any(|s| {
        let last = s.rsplit('/').next().unwrap_or(s).to_ascii_lowercase();
        last.starts_with("calendars.")
    })
}

/// The authorize URL: query response mode and **no** `prompt=consent` (it traps users of
/// tenants that need admin consent behind the consent screen even after approval).
pub fn authorize_url(
    settings: &Settings,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
) -> String {
    let mut url: Url = settings.providers.microsoft_auth.clone();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", SCOPES)
        .append_pair("state", state);
    url.to_string()
}

/// The scope to send on a refresh: the granted set (never more, or Entra answers AADSTS65001),
/// with `offline_access` so the answer keeps carrying a refresh token.
pub fn refresh_scope(granted: &str) -> String {
    let mut scopes: Vec<&str> = granted.split_whitespace().collect();
    if !has_scope(granted, "offline_access") {
        scopes.push("offline_access");
    }
    scopes.join(" ")
}

pub(crate) fn graph(settings: &Settings, path: &str) -> String {
    format!(
        "{}{}",
        settings
            .providers
            .microsoft_graph
            .as_str()
            .trim_end_matches('/'),
        path
    )
}

/// id_token `email` / `preferred_username`, else `/me/calendar` `owner.address` (allowed by
/// Calendars.Read), else `/me` but only when User.Read was granted.
pub async fn discover_email(
    http: &reqwest::Client,
    settings: &Settings,
    token: &TokenResponse,
    granted_scopes: Option<&str>,
) -> Option<String> {
    if let Some(claims) = token.id_token.as_deref().and_then(id_token_claims) {
        for claim in ["email", "preferred_username"] {
            if let Some(e) = claims
                .get(claim)
                .and_then(|v| v.as_str())
                .and_then(plausible_email)
            {
                return Some(e);
            }
        }
    }
    if let Some(e) = get_json(http, &graph(settings, "/me/calendar"), &token.access_token)
        .await
        .and_then(|v| {
            v.pointer("/owner/address")
                .and_then(|a| a.as_str())
                .and_then(plausible_email)
        })
    {
        return Some(e);
    }
    let user_read = granted_scopes.is_some_and(|s| {
        [
            "User.Read",
            "User.ReadBasic.All",
            "User.Read.All",
            "Directory.Read.All",
        ]
        .iter()
        .any(|w| has_scope(s, w))
    });
    if !user_read {
        return None;
    }
    let me = get_json(http, &graph(settings, "/me"), &token.access_token).await?;
    ["mail", "userPrincipalName"].iter().find_map(|k| {
        me.get(*k)
            .and_then(|v| v.as_str())
            .and_then(plausible_email)
    })
}
