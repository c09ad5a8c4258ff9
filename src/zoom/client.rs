//! Zoom's OAuth token endpoint and `GET /users/me`.
//!
//! Client authentication is HTTP Basic only (Zoom rejects form credentials), and the
//! `redirect_uri` is passed through byte for byte: Zoom compares it exactly with the app's
//! registered one, trailing slash included.
//!
//! Token calls are never re-sent once Zoom may have handled them: a refresh rotates the
//! refresh token (the old one dies at once) and a code is single-use, so a re-send after a
//! lost answer only earns "Invalid Token!". They get a generous timeout, the body is read
//! in full before anything else, and only a call that never reached Zoom (connection
//! failed) or that Zoom answered with 429/5xx is tried again ([`ZoomError::AnswerLost`]).

use std::time::Duration;

use serde::Deserialize;

use crate::state::AppState;

/// Tokens from a code exchange or a refresh.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Zoom returns a new one on every refresh (the old one then fails).
    pub refresh_token: String,
    pub expires_in: i64,
    #[serde(default)]
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The fields of `/users/me` Convene keeps.
#[derive(Debug, Deserialize)]
pub struct ZoomUser {
    pub id: String,
    pub account_id: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ZoomError {
    /// Zoom answered with a definite refusal (4xx other than 429), e.g.
    /// `400 {"reason": "Invalid Token!", "error": "invalid_request"}`.
    #[error("Zoom answered {status}: {reason} ({error})")]
    Rejected {
        status: u16,
        error: String,
        reason: String,
    },
    /// Worth another try: 5xx, 429, a connection failure (or, on a read-only call, an
    /// unreadable answer).
    #[error("{message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// A token call reached Zoom but its answer was lost (timeout, connection broken,
    /// unreadable 2xx): Zoom may have handled it (rotated the refresh token, used the
    /// code), so it is not sent again.
    #[error("Zoom may have handled the request, but its answer was lost ({message})")]
    AnswerLost { message: String },
}

impl ZoomError {
    /// The refresh token (or code) itself is dead: Zoom's `invalid_request`/`invalid_grant`
    /// on a 400. `invalid_client` (401) is the app's credentials, not the user's.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, ZoomError::Rejected { status: 400, error, .. }
            if error == "invalid_request" || error == "invalid_grant")
    }
}

/// Attempts per call, and the waits between them unless Zoom says `Retry-After`.
const BACKOFF: [Duration; 2] = [Duration::from_millis(300), Duration::from_millis(1200)];
/// A `Retry-After` longer than this is not waited out inside a request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Token calls may take this long: a slow answer beats a lost one.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `call` again after transient errors, with backoff.
pub(super) async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, ZoomError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ZoomError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(ZoomError::Transient {
                message,
                retry_after,
            }) if attempt < BACKOFF.len() => {
                let wait = retry_after.unwrap_or(BACKOFF[attempt]);
                if wait > MAX_RETRY_AFTER {
                    return Err(ZoomError::Transient {
                        message,
                        retry_after,
                    });
                }
                tracing::info!(error = %message, attempt, "Zoom call failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// `grant_type=authorization_code` with the redirect URI exactly as given.
pub async fn exchange_code(
    state: &AppState,
    client_id: &str,
    client_secret: &str,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, ZoomError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = code_verifier {
        form.push(("code_verifier", v));
    }
    with_retries(|| token_request(state, client_id, client_secret, &form)).await
}

/// `grant_type=refresh_token`; the answer carries the rotated refresh token.
pub async fn refresh(
    state: &AppState,
    client_id: &str,
    client_secret: &str,
    refresh_token: &str,
) -> Result<TokenResponse, ZoomError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    with_retries(|| token_request(state, client_id, client_secret, &form)).await
}

async fn token_request(
    state: &AppState,
    client_id: &str,
    client_secret: &str,
    form: &[(&str, &str)],
) -> Result<TokenResponse, ZoomError> {
    let res = state
        .http
        .post(state.settings.providers.zoom_token.clone())
        .basic_auth(client_id, Some(client_secret))
        .form(form)
        .timeout(TOKEN_TIMEOUT)
        .send()
        .await;
    crate::metrics::provider_request("zoom", "token", status_of(&res));
    let res = res.map_err(|e| {
        if e.is_connect() {
            // Never reached Zoom: safe to try again.
            transport(e)
        } else {
            lost(e)
        }
    })?;
    read_json(res, false).await
}

/// A token call's transport failure after the request may have been handled.
fn lost(e: reqwest::Error) -> ZoomError {
    ZoomError::AnswerLost {
        message: without_url(&e),
    }
}

/// `GET {CONVENE_ZOOM_API_URL}/users/me` with the access token.
pub async fn users_me(state: &AppState, access_token: &str) -> Result<ZoomUser, ZoomError> {
    let url = format!(
        "{}/users/me",
        state
            .settings
            .providers
            .zoom_api
            .as_str()
            .trim_end_matches('/')
    );
    with_retries(|| async {
        let res = state.http.get(&url).bearer_auth(access_token).send().await;
        crate::metrics::provider_request("zoom", "users_me", status_of(&res));
        read_json(res.map_err(transport)?, true).await
    })
    .await
}

fn status_of(res: &Result<reqwest::Response, reqwest::Error>) -> Option<u16> {
    res.as_ref().ok().map(|r| r.status().as_u16())
}

pub(super) fn transport(e: reqwest::Error) -> ZoomError {
    ZoomError::Transient {
        message: format!("cannot reach Zoom: {}", without_url(&e)),
        retry_after: None,
    }
}

/// reqwest errors name the URL; keep just the cause (no query strings in logs).
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), "Zoom");
    }
    msg
}

/// Reads the whole body first, then sorts the answer. `idempotent`: a call that may be
/// repeated freely (a GET), so a broken or unreadable answer is simply transient.
pub(super) async fn read_json<T: serde::de::DeserializeOwned>(
    res: reqwest::Response,
    idempotent: bool,
) -> Result<T, ZoomError> {
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = match res.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) if idempotent => return Err(transport(e)),
        Err(e) if (200..300).contains(&status) => return Err(lost(e)),
        // An error answer cut short: Zoom said no, the details are lost.
        Err(_) => Vec::new(),
    };
    let body = String::from_utf8_lossy(&body);
    if (200..300).contains(&status) {
        return serde_json::from_str(&body).map_err(|e| {
            let message = format!("Zoom answered {status} with an unreadable body: {e}");
            if idempotent {
                ZoomError::Transient {
                    message,
                    retry_after: None,
                }
            } else {
                ZoomError::AnswerLost { message }
            }
        });
    }
    if status == 429 || status >= 500 {
        return Err(ZoomError::Transient {
            message: format!("Zoom answered {status}"),
            retry_after,
        });
    }
    // OAuth errors are {"reason", "error"}; API errors {"code", "message"}.
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Err(ZoomError::Rejected {
        status,
        error: text("error")
            .or_else(|| v.get("code").map(|c| c.to_string()))
            .unwrap_or_default(),
        reason: text("reason")
            .or_else(|| text("message"))
            .unwrap_or_else(|| "no reason given".into()),
    })
}
