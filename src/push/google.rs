//! Google Calendar `events.watch` and `channels.stop` on the wire (push.md, "Google").

use serde::Deserialize;
use serde_json::json;

use super::{body_excerpt, retry_after_ms, Created, PushError};
use crate::config::Settings;

/// Channel lifetime asked for (Google's maximum for calendar events: a week).
pub const TTL_SECS: i64 = 604_800;

use crate::providers::google::api;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelBody {
    id: String,
    resource_id: String,
    /// Unix ms as a string.
    expiration: Option<String>,
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

/// Sorts a non-2xx answer: `400`/`403` refusals, `401`, rate limits, the rest failures.
fn failure(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> PushError {
    let err: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let reason = err
        .error
        .errors
        .first()
        .map(|e| e.reason.clone())
        .unwrap_or_default();
    let message = if err.error.message.is_empty() {
        body_excerpt(body)
    } else {
        err.error.message.clone()
    };
    match status {
        401 => PushError::Unauthorized,
        404 => PushError::Gone,
        429 => PushError::RateLimited {
            retry_after_ms: retry_after_ms(headers),
        },
        403 if matches!(
            reason.as_str(),
            "rateLimitExceeded" | "userRateLimitExceeded"
        ) =>
        {
            PushError::RateLimited {
                retry_after_ms: retry_after_ms(headers),
            }
        }
        400 | 403 => PushError::Refused(format!(
            "Google refused the watch ({status}{}): {message}",
            if reason.is_empty() {
                String::new()
            } else {
                format!(" {reason}")
            }
        )),
        s => PushError::Failed(format!("Google answered {s}: {message}")),
    }
}

/// `POST …/calendars/primary/events/watch`: a new channel `channel_id` notifying `address`
/// with `token` in `X-Goog-Channel-Token`.
pub async fn watch(
    http: &reqwest::Client,
    settings: &Settings,
    access_token: &str,
    channel_id: &str,
    token: &str,
    address: &str,
) -> Result<Created, PushError> {
    let url = api(settings, "/calendar/v3/calendars/primary/events/watch");
    let res = http
        .post(url)
        .bearer_auth(access_token)
        .json(&json!({
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": TTL_SECS.to_string()},
        }))
        .send()
        .await
        .map_err(PushError::transport)?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await.map_err(PushError::transport)?;
    if !(200..300).contains(&status) {
        return Err(failure(status, &headers, &body));
    }
    let ch: ChannelBody = serde_json::from_slice(&body)
        .map_err(|e| PushError::Failed(format!("Google: malformed watch answer: {e}")))?;
    if ch.id != channel_id {
        return Err(PushError::Failed(
            "Google: the watch answer names another channel".into(),
        ));
    }
    let expires_at = ch
        .expiration
        .as_deref()
        .and_then(|e| e.trim().parse::<i64>().ok())
        .ok_or_else(|| PushError::Failed("Google: watch answer without expiration".into()))?;
    Ok(Created {
        external_id: ch.id,
        resource_id: Some(ch.resource_id),
        expires_at,
    })
}

/// `POST …/channels/stop`; a channel Google no longer knows (`404`) counts as stopped.
pub async fn stop(
    http: &reqwest::Client,
    settings: &Settings,
    access_token: &str,
    channel_id: &str,
    resource_id: &str,
) -> Result<(), PushError> {
    let url = api(settings, "/calendar/v3/channels/stop");
    let res = http
        .post(url)
        .bearer_auth(access_token)
        .json(&json!({"id": channel_id, "resourceId": resource_id}))
        .send()
        .await
        .map_err(PushError::transport)?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await.map_err(PushError::transport)?;
    match status {
        200..=299 => Ok(()),
        _ => match failure(status, &headers, &body) {
            PushError::Gone => Ok(()),
            other => Err(other),
        },
    }
}
