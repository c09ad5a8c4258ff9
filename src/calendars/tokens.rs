//! Provider access tokens for a calendar: the cached one while it is valid for more than
//! five minutes, else a refresh at the provider's token endpoint (one in flight per
//! calendar; a rotated refresh token is committed before the access token is returned).

use serde::Deserialize;

use crate::state::AppState;
use crate::store::{self, StoreError};

pub struct AccessToken {
    pub token: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("calendar not found")]
    NotFound,
    #[error("the calendar has no OAuth credentials")]
    NoCredentials,
    #[error("the provider refused the refresh token: {code}: {message}")]
    Disconnected { code: String, message: String },
    #[error("token refresh failed for now: {0}")]
    Transient(String),
    #[error("token layer fault: {0}")]
    Internal(String),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        TokenError::Internal(e.to_string())
    }
}

/// Access tokens are refreshed when less than this remains.
const MIN_VALIDITY_MS: i64 = 5 * 60 * 1000;

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

pub async fn access_token(state: &AppState, calendar_id: &str) -> Result<AccessToken, TokenError> {
    let lock = state.locks.get(&format!("token:{calendar_id}"));
    let _guard = lock.lock().await;
    let id = calendar_id.to_string();
    let creds = state
        .store
        .read(move |c| store::sync::credentials(c, &id))
        .await?
        .ok_or(TokenError::NotFound)?;
    if creds.status == "disconnected" {
        return Err(TokenError::Disconnected {
            code: "bad_refresh_token".into(),
            message: "The calendar is disconnected.".into(),
        });
    }
    let now = state.now_ms();
    if let (Some(enc), Some(exp)) = (&creds.access_token_enc, creds.access_token_expires_at) {
        if exp - now > MIN_VALIDITY_MS {
            if let Ok(token) = state.keys.decrypt(enc) {
                return Ok(AccessToken {
                    token,
                    expires_at_ms: exp,
                });
            }
        }
    }
    let refresh_token = creds
        .oauth_refresh_token_enc
        .as_deref()
        .map(|e| state.keys.decrypt(e))
        .transpose()
        .map_err(|e| TokenError::Internal(e.to_string()))?
        .ok_or(TokenError::NoCredentials)?;
    let (client_id, client_secret) = client(state, &creds).await?;
    let (url, short) = match creds.platform.as_str() {
        "google_calendar" => (state.settings.providers.google_token.clone(), "google"),
        _ => (
            state.settings.providers.microsoft_token.clone(),
            "microsoft",
        ),
    };
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("client_id", client_id.as_str()),
        ("client_secret", client_secret.as_str()),
    ];
    let res = state
        .http
        .post(url)
        .form(&form)
        .send()
        .await
        .map_err(|e| TokenError::Transient(format!("{short} token endpoint: {e}")))?;
    let status = res.status();
    let body = res
        .bytes()
        .await
        .map_err(|e| TokenError::Transient(format!("{short} token endpoint: {e}")))?;
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(TokenError::Transient(format!(
            "{short} token endpoint answered {status}"
        )));
    }
    if !status.is_success() {
        let err: ErrorAnswer = serde_json::from_slice(&body).unwrap_or_default();
        return Err(TokenError::Disconnected {
            code: if err.error.is_empty() {
                format!("http_{}", status.as_u16())
            } else {
                err.error
            },
            message: err.error_description,
        });
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| TokenError::Transient(format!("{short} token answer: {e}")))?;
    let now = state.now_ms();
    let expires_at_ms = now + answer.expires_in.unwrap_or(3599) * 1000;
    let access_enc = state.keys.encrypt(&answer.access_token);
    let refresh_enc = answer
        .refresh_token
        .as_deref()
        .map(|r| state.keys.encrypt(r));
    let id = calendar_id.to_string();
    state
        .store
        .write(move |tx| {
            store::sync::save_tokens(
                tx,
                &id,
                &access_enc,
                expires_at_ms,
                refresh_enc.as_deref(),
                now,
            )
        })
        .await?;
    Ok(AccessToken {
        token: answer.access_token,
        expires_at_ms,
    })
}

/// The OAuth client: the calendar's own (V2) or the platform's saved one (V1).
async fn client(
    state: &AppState,
    creds: &store::sync::Credentials,
) -> Result<(String, String), TokenError> {
    let (id, secret_enc) = if creds.kind == "v1" {
        let platform = if creds.platform == "google_calendar" {
            "google"
        } else {
            "microsoft"
        };
        let pc = state
            .store
            .read(move |c| store::settings::get_platform_client(c, platform))
            .await?
            .ok_or(TokenError::NoCredentials)?;
        (pc.client_id, pc.client_secret_enc)
    } else {
        match (&creds.oauth_client_id, &creds.oauth_client_secret_enc) {
            (Some(id), Some(s)) => (id.clone(), s.clone()),
            _ => return Err(TokenError::NoCredentials),
        }
    };
    let secret = state
        .keys
        .decrypt(&secret_enc)
        .map_err(|e| TokenError::Internal(e.to_string()))?;
    Ok((id, secret))
}
