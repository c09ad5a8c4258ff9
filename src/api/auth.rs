//! `Authorization: Token <api key>` for the integrating app's backend.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use crate::coord::CachedKey;
use crate::crypto;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store;

/// A request header as text (absent or not visible ASCII: `None`).
fn header_text(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Proof that the request carried a live API key.
#[derive(Debug, Clone)]
pub struct ApiKeyAuth {
    pub key_id: String,
}

impl FromRequest for ApiKeyAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = header_text(req, actix_web::http::header::AUTHORIZATION.as_str());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("no app state"))?;
            let invalid = || ApiError::Unauthorized("Invalid API key.".into());
            let header = header.ok_or_else(invalid)?;
            let (scheme, key) = header.trim().split_once(' ').ok_or_else(invalid)?;
            if !scheme.eq_ignore_ascii_case("token") || key.trim().is_empty() {
                return Err(invalid());
            }
            let hash = crypto::sha256_hex(key.trim());
            let now = state.now_ms();
            // The hot path: a key the database confirmed moments ago, no database read.
            let cached = state.api_keys.get(&hash, now);
            let key = match cached {
                Some(k) => k,
                None => {
                    let h = hash.clone();
                    let found = state
                        .store
                        .read(move |c| store::api_keys::find_live(c, &h))
                        .await?;
                    let Some(found) = found else {
                        state.api_keys.forget_hash(&hash);
                        return Err(invalid());
                    };
                    let k = CachedKey {
                        id: found.id,
                        hash,
                        confirmed_at: now,
                        last_used_at: found.last_used_at,
                    };
                    state.api_keys.put(k.clone());
                    k
                }
            };
            // The write lock only for the once-a-minute use stamp.
            if store::api_keys::needs_touch_at(key.last_used_at, now) {
                let id = key.id.clone();
                state
                    .store
                    .write(move |tx| store::api_keys::touch(tx, &id, now))
                    .await?;
                state.api_keys.put(CachedKey {
                    last_used_at: Some(now),
                    ..key.clone()
                });
            }
            Ok(ApiKeyAuth { key_id: key.id })
        })
    }
}

/// Calendar auth tokens (`x-recallcalendarauthtoken`): stateless, signed with a key derived
/// from the master key, naming the user's external id and an expiry.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CalendarTokenClaims {
    /// the app's user id (`external_id`)
    u: String,
    /// expiry, Unix milliseconds
    exp: i64,
}

const CALENDAR_TOKEN_PURPOSE: &str = "calendar-auth-token-v1";

/// Mints a calendar auth token for `external_id`, valid for the configured TTL.
pub fn mint_calendar_token(state: &AppState, external_id: &str) -> String {
    let claims = CalendarTokenClaims {
        u: external_id.to_string(),
        exp: state.now_ms() + state.settings.calendar_auth_token_ttl.as_millis() as i64,
    };
    let json = serde_json::to_vec(&claims).expect("claims serialize");
    state.keys.seal_token(CALENDAR_TOKEN_PURPOSE, &json)
}

/// The external user id in a valid, unexpired calendar auth token.
pub fn verify_calendar_token(state: &AppState, token: &str) -> Option<String> {
    let bytes = state
        .keys
        .open_token(CALENDAR_TOKEN_PURPOSE, token.trim())?;
    let claims: CalendarTokenClaims = serde_json::from_slice(&bytes).ok()?;
    (claims.exp > state.now_ms()).then_some(claims.u)
}

/// A request authenticated by `x-recallcalendarauthtoken` for an existing calendar user.
#[derive(Debug, Clone)]
pub struct CalendarUserAuth {
    pub user: store::calendar_users::CalendarUser,
}

impl FromRequest for CalendarUserAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = header_text(req, "x-recallcalendarauthtoken");
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("no app state"))?;
            let invalid =
                || ApiError::Unauthorized("Invalid or expired calendar auth token.".into());
            let token = header.ok_or_else(invalid)?;
            let external_id = verify_calendar_token(&state, &token).ok_or_else(invalid)?;
            let user = state
                .store
                .read(move |c| store::calendar_users::find_by_external_id(c, &external_id))
                .await?
                .ok_or_else(invalid)?;
            Ok(CalendarUserAuth { user })
        })
    }
}
