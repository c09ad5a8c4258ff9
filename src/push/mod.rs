//! Provider push notifications (push.md): Google `events.watch` channels and Microsoft
//! Graph subscriptions, so a change reaches Convene in about a second and polling becomes
//! a safety net.
//!
//! * `endpoints.rs`: the three public notification URLs. A valid notification only records
//!   itself and marks the calendar due (`sync::mark_due_now`, `sync::wake`); no provider
//!   call happens inside the request.
//! * `renew.rs`: the `push` sweep. Subscribes calendars after their first sync, renews
//!   before expiry (Google: new channel then stop the old; Graph: PATCH at half-life, 404 →
//!   recreate), replaces broken ones, stops those of deleted, reconnected or disconnected
//!   calendars, and retries refusals after 6 h. Every due time lives in the database.
//! * `google.rs`, `microsoft.rs`: the provider calls.
//!
//! Secrets (channel token, clientState) are stored sealed (`state.keys`), compared in
//! constant time and never logged; logs name the channel or subscription id.

pub mod endpoints;
pub mod google;
pub mod microsoft;
pub mod renew;

use std::future::Future;

use crate::calendars::tokens::{self, TokenError};
use crate::config::Settings;
use crate::state::AppState;

pub use endpoints::configure;

pub const GOOGLE_PATH: &str = "/api/v1/push/google/";
pub const MICROSOFT_PATH: &str = "/api/v1/push/microsoft/";
pub const MICROSOFT_LIFECYCLE_PATH: &str = "/api/v1/push/microsoft/lifecycle/";

/// What a provider answered to a create.
#[derive(Debug, Clone)]
pub struct Created {
    /// Google channel id / Graph subscription id.
    pub external_id: String,
    /// Google `resourceId`.
    pub resource_id: Option<String>,
    pub expires_at: i64,
}

/// Why a push call failed, sorted by what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// `400`/`403`: the provider will not push for this calendar (poll; retry after 6 h).
    #[error("{0}")]
    Refused(String),
    /// `401`: refresh the access token once and try again.
    #[error("the provider refused the access token")]
    Unauthorized,
    /// `404` on a renewal: the subscription is gone.
    #[error("the provider no longer knows the subscription")]
    Gone,
    #[error("rate limited by the provider")]
    RateLimited { retry_after_ms: Option<i64> },
    /// Transport errors, `5xx`, malformed answers, no access token: back off and retry.
    #[error("{0}")]
    Failed(String),
}

impl PushError {
    fn transport(e: reqwest::Error) -> Self {
        PushError::Failed(format!(
            "provider {}",
            crate::providers::transport_failure_kind(&e)
        ))
    }
}

impl From<TokenError> for PushError {
    fn from(e: TokenError) -> Self {
        PushError::Failed(format!("no access token: {e}"))
    }
}

use crate::sync::body_excerpt;

/// The provider's `Retry-After` (seconds or an HTTP date, as sync reads it), at most a day.
fn retry_after_ms(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    crate::sync::retry_after_ms(headers).map(|ms| ms.min(24 * 3600 * 1000))
}

/// Runs `call` with the calendar's access token; on `401` forgets the cached token and
/// tries once more with a fresh one.
async fn with_token<T, F, Fut>(state: &AppState, calendar_id: &str, call: F) -> Result<T, PushError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, PushError>>,
{
    let token = tokens::access_token(state, calendar_id).await?.token;
    match call(token).await {
        Err(PushError::Unauthorized) => {
            let token = tokens::access_token_after_refusal(state, calendar_id)
                .await?
                .token;
            call(token).await
        }
        other => other,
    }
}

/// Logs whether push is on (and why) at start.
pub fn announce_mode(settings: &Settings) {
    let enabled = settings.push_enabled();
    let https = settings.public_url.scheme() == "https";
    if enabled && !https {
        tracing::warn!(public_url = %settings.public_base(), "push notifications are on with a plain-http public URL; real providers refuse such notification URLs");
    } else {
        tracing::info!(enabled, mode = ?settings.push, "push notifications");
    }
}
