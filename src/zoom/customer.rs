//! Customer-managed Zoom tokens: the app keeps the Zoom OAuth tokens itself and gives
//! Convene an `access_token_callback_url` that answers `200` with a fresh access token as
//! plain text. Convene stores that URL sealed (it usually carries a secret), caches a token
//! for at most 5 minutes, and never refreshes such a credential.

use crate::coord::LockName;
use crate::state::AppState;
use crate::store::zoom::{self as zs, ZoomCredential};
use crate::store::StoreError;

use super::apps;
use super::client::ZoomError;
use super::credentials::{self, CreateError, Issued};
use super::tokens::{AccessToken, TokenError};

/// A token from the callback is reused for at most this long.
pub const CACHE_MS: i64 = 5 * 60 * 1000;
/// Longest token accepted from a callback (a Zoom access token is a few hundred bytes).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Whether `url` may be a callback: an absolute http(s) URL.
pub fn valid_callback_url(url: &str) -> bool {
    crate::redirects::parse_strict(url).is_some()
}

/// `GET` the callback: `200` with the token as the body. The URL never appears in errors.
pub async fn fetch(state: &AppState, url: &str) -> Result<String, ZoomError> {
    let res = state.http.get(url).send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not be reached"
        } else {
            "failed"
        };
        ZoomError::Transient {
            message: format!("the access_token_callback_url {kind}"),
            retry_after: None,
        }
    })?;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    if status >= 500 || status == 429 {
        return Err(ZoomError::Transient {
            message: format!("the access_token_callback_url answered {status}"),
            retry_after: None,
        });
    }
    let token = body.trim();
    if status != 200 || token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(ZoomError::Rejected {
            status,
            error: "callback".into(),
            reason: format!(
                "the access_token_callback_url answered {status}{}; it must answer 200 with \
                 the access token as plain text",
                if status == 200 {
                    " without a token"
                } else {
                    ""
                }
            ),
        });
    }
    Ok(token.to_string())
}

/// Creates a customer-managed credential: the callback's token must open `/users/me`.
pub async fn create(
    state: &AppState,
    app_id: &str,
    callback_url: &str,
) -> Result<ZoomCredential, CreateError> {
    let app = apps::get(state, app_id)
        .await?
        .ok_or(CreateError::AppNotFound)?;
    let token = fetch(state, callback_url)
        .await
        .map_err(CreateError::Callback)?;
    let issued = Issued {
        access_token: token,
        expires_in_secs: CACHE_MS / 1000,
        refresh_token_enc: String::new(),
        scope: String::new(),
        callback_url_enc: Some(state.keys.encrypt(callback_url)),
    };
    credentials::store_new(state, app, issued).await
}

fn open(state: &AppState, cred: &ZoomCredential) -> Result<AccessToken, TokenError> {
    let token = state
        .keys
        .decrypt(&cred.access_token_enc)
        .map_err(|e| TokenError::Internal(format!("cannot open access token: {e}")))?;
    Ok(AccessToken {
        token,
        expires_at: cred.access_token_expires_at,
    })
}

/// The cached token while it is younger than 5 minutes (unless `fresh`), else a new one
/// from the callback, fetched once for concurrent callers.
pub async fn access_token(
    state: &AppState,
    cred: &ZoomCredential,
    fresh: bool,
) -> Result<AccessToken, TokenError> {
    if !fresh && cred.access_token_expires_at > state.now_ms() {
        return open(state, cred);
    }
    let _guard = state.locks.lock(LockName::ZoomCredential(&cred.id)).await;
    let id = cred.id.clone();
    let current = state
        .store
        .read(move |c| zs::get_credential(c, &id))
        .await?
        .ok_or(TokenError::NotFound)?;
    let now = state.now_ms();
    let fetched_meanwhile = current.access_token_enc != cred.access_token_enc;
    if current.access_token_expires_at > now && (!fresh || fetched_meanwhile) {
        return open(state, &current);
    }
    let sealed_url = current
        .access_token_callback_url_enc
        .clone()
        .ok_or_else(|| TokenError::Internal("not a customer-managed credential".into()))?;
    let url = state
        .keys
        .decrypt(&sealed_url)
        .map_err(|e| TokenError::Internal(format!("cannot open callback URL: {e}")))?;
    match fetch(state, &url).await {
        Ok(token) => {
            let expires_at = now + CACHE_MS;
            let sealed = state.keys.encrypt(&token);
            let id = current.id.clone();
            state
                .store
                .write(move |tx| {
                    zs::save_customer_token(tx, &id, &sealed, expires_at, now)?;
                    zs::add_event(
                        tx,
                        &id,
                        "token_fetched",
                        Some("from the access_token_callback_url"),
                        now,
                    )
                })
                .await?;
            Ok(AccessToken { token, expires_at })
        }
        Err(e) => {
            let message = e.to_string();
            let id = current.id.clone();
            let msg = message.clone();
            state
                .store
                .write(move |tx| {
                    zs::record_refresh_failure(tx, &id, &msg, now)?;
                    zs::add_event(tx, &id, "callback_error", Some(&msg), now)
                })
                .await
                .map_err(|e: StoreError| TokenError::Internal(e.to_string()))?;
            Err(match e {
                ZoomError::Transient { .. } => TokenError::Unavailable(message),
                ZoomError::Rejected { .. } => TokenError::Rejected(message),
            })
        }
    }
}
