//! Google: authorize URL and where the account email comes from.

use url::Url;

use super::{get_json, has_scope, id_token_claims, plausible_email, TokenResponse};
use crate::config::Settings;

/// The scopes of the hosted flow (api.md): events read-only, the email, OpenID.
pub const SCOPES: &str = "https://www.googleapis.com/auth/calendar.events.readonly \
https://www.googleapis.com/auth/userinfo.email openid";

/// Google scopes that let Convene read events.
const CALENDAR_SCOPES: [&str; 4] = [
    "calendar.events.readonly",
    "calendar.events",
    "calendar.readonly",
    "calendar",
];

/// True when `scopes` (a token answer's `scope`) allow reading the primary calendar's events.
pub fn can_read_events(scopes: &str) -> bool {
    scopes.split_whitespace().any(|s| {
        let last = s.rsplit('/').next().unwrap_or(s);
        CALENDAR_SCOPES.contains(&last)
    })
}

/// The authorize URL: offline access with a forced consent (so a refresh token is always
/// issued), incremental grants kept.
pub fn authorize_url(
    settings: &Settings,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
) -> String {
    let mut url: Url = settings.providers.google_auth.clone();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", SCOPES)
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("include_granted_scopes", "true")
        .append_pair("state", state);
    url.to_string()
}

/// `{api}/path` with the configured base.
pub(crate) fn api(settings: &Settings, path: &str) -> String {
    format!(
        "{}{}",
        settings.providers.google_api.as_str().trim_end_matches('/'),
        path
    )
}

/// id_token `email`, else userinfo (when an email scope was granted), else the `summary` of
/// the primary calendar's events.list answer (the account address for a primary calendar).
pub async fn discover_email(
    http: &reqwest::Client,
    settings: &Settings,
    token: &TokenResponse,
    granted_scopes: Option<&str>,
) -> Option<String> {
    if let Some(email) = token
        .id_token
        .as_deref()
        .and_then(id_token_claims)
        .and_then(|c| {
            c.get("email")
                .and_then(|v| v.as_str())
                .and_then(plausible_email)
        })
    {
        return Some(email);
    }
    // Unknown scopes (no `scope` in the answer): try every source.
    let email_granted = granted_scopes
        .map(|s| has_scope(s, "userinfo.email") || has_scope(s, "email"))
        .unwrap_or(true);
    if email_granted {
        if let Some(email) = get_json(
            http,
            &api(settings, "/oauth2/v3/userinfo"),
            &token.access_token,
        )
        .await
        .and_then(|v| {
            v.get("email")
                .and_then(|e| e.as_str())
                .and_then(plausible_email)
        }) {
            return Some(email);
        }
    }
    get_json(
        http,
        &api(
            settings,
            "/calendar/v3/calendars/primary/events?maxResults=1",
        ),
        &token.access_token,
    )
    .await
    .and_then(|v| {
        v.get("summary")
            .and_then(|e| e.as_str())
            .and_then(plausible_email)
    })
}
