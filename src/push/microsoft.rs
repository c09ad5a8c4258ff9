//! Microsoft Graph `subscriptions` on the wire (push.md, "Microsoft Graph"). Graph
//! validates both notification URLs *during* the create call, so Convene's own server must
//! answer them while this request is in flight (`endpoints.rs`).

use serde::Deserialize;
use serde_json::json;

use super::{body_excerpt, retry_after_ms, Created, PushError};
use crate::config::Settings;

/// Subscription lifetime asked for: Graph's maximum for Outlook resources without
/// resource data, 4230 minutes (a bit under three days).
pub const LIFETIME_MS: i64 = 4230 * 60 * 1000;

use crate::providers::microsoft::graph;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionBody {
    id: String,
    expiration_date_time: String,
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

fn failure(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> PushError {
    let err: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let detail = if err.error.code.is_empty() {
        body_excerpt(body)
    } else {
        format!("{}: {}", err.error.code, err.error.message)
    };
    match status {
        401 => PushError::Unauthorized,
        404 => PushError::Gone,
        429 => PushError::RateLimited {
            retry_after_ms: retry_after_ms(headers),
        },
        503 if retry_after_ms(headers).is_some() => PushError::RateLimited {
            retry_after_ms: retry_after_ms(headers),
        },
        400 | 403 => PushError::Refused(format!(
            "Graph refused the subscription ({status}): {detail}"
        )),
        s => PushError::Failed(format!("Graph answered {s}: {detail}")),
    }
}

async fn send(
    req: reqwest::RequestBuilder,
) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), PushError> {
    let res = req.send().await.map_err(PushError::transport)?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await.map_err(PushError::transport)?;
    Ok((status, headers, body.to_vec()))
}

fn parse(body: &[u8]) -> Result<(String, i64), PushError> {
    let sub: SubscriptionBody = serde_json::from_slice(body)
        .map_err(|e| PushError::Failed(format!("Graph: malformed subscription: {e}")))?;
    let expires_at = chrono::DateTime::parse_from_rfc3339(&sub.expiration_date_time)
        .map_err(|_| PushError::Failed("Graph: malformed expirationDateTime".into()))?
        .timestamp_millis();
    Ok((sub.id, expires_at))
}

/// `POST /subscriptions` on `me/events` until `expires_at_ms`.
pub async fn create(
    http: &reqwest::Client,
    settings: &Settings,
    access_token: &str,
    client_state: &str,
    expires_at_ms: i64,
) -> Result<Created, PushError> {
    let req = http
        .post(graph(settings, "/subscriptions"))
        .bearer_auth(access_token)
        .json(&json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": settings.public_link(super::MICROSOFT_PATH),
            "lifecycleNotificationUrl": settings.public_link(super::MICROSOFT_LIFECYCLE_PATH),
            "resource": "me/events",
            "expirationDateTime": rfc3339(expires_at_ms),
            "clientState": client_state,
        }));
    let (status, headers, body) = send(req).await?;
    if !(200..300).contains(&status) {
        return Err(failure(status, &headers, &body));
    }
    let (id, expires_at) = parse(&body)?;
    Ok(Created {
        external_id: id,
        resource_id: None,
        expires_at,
    })
}

/// `PATCH /subscriptions/{id}` to a new expiry; [`PushError::Gone`] when Graph no longer
/// has it. Returns the expiry Graph granted.
pub async fn renew(
    http: &reqwest::Client,
    settings: &Settings,
    access_token: &str,
    id: &str,
    expires_at_ms: i64,
) -> Result<i64, PushError> {
    let req = http
        .patch(graph(settings, &format!("/subscriptions/{id}")))
        .bearer_auth(access_token)
        .json(&json!({ "expirationDateTime": rfc3339(expires_at_ms) }));
    let (status, headers, body) = send(req).await?;
    if !(200..300).contains(&status) {
        return Err(failure(status, &headers, &body));
    }
    Ok(parse(&body)?.1)
}

/// `DELETE /subscriptions/{id}`; one Graph no longer has (`404`) counts as deleted.
pub async fn delete(
    http: &reqwest::Client,
    settings: &Settings,
    access_token: &str,
    id: &str,
) -> Result<(), PushError> {
    let req = http
        .delete(graph(settings, &format!("/subscriptions/{id}")))
        .bearer_auth(access_token);
    let (status, headers, body) = send(req).await?;
    match status {
        200..=299 => Ok(()),
        _ => match failure(status, &headers, &body) {
            PushError::Gone => Ok(()),
            other => Err(other),
        },
    }
}
