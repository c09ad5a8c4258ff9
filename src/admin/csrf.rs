//! CSRF protection for admin forms.
//!
//! Logged-in forms carry the session's random token ([`AdminForm`] checks it). The login and
//! setup forms come before any session, so they use a signed double submit: a random value
//! in a SameSite=Strict cookie, and its HMAC in the form. A cross-site page can neither read
//! the cookie nor forge the HMAC.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::Cookie;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::crypto;
use crate::state::AppState;

use super::render::{admin_cookie, AdminError};
use super::session::AdminSession;

const PRE_COOKIE: &str = "convene_pre";
const PRE_PURPOSE: &str = "admin-pre-session-csrf";

/// A POST form from a logged-in admin whose CSRF token was checked before the handler runs.
/// The form's `csrf_token` field is consumed here; `T` describes the other fields.
pub struct AdminForm<T> {
    pub session: AdminSession,
    pub data: T,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

impl<T: DeserializeOwned + 'static> FromRequest for AdminForm<T> {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AdminError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let session =
                AdminSession::from_request(&req, &mut actix_web::dev::Payload::None).await?;
            let body = body
                .await
                .map_err(|e| AdminError::BadRequest(format!("Could not read the form: {e}")))?;
            let field: CsrfField =
                serde_urlencoded::from_bytes(&body).map_err(|_| AdminError::Csrf)?;
            session.check_csrf(&field.csrf_token)?;
            let data = serde_urlencoded::from_bytes(&body)
                .map_err(|e| AdminError::BadRequest(format!("The form is incomplete: {e}")))?;
            Ok(AdminForm { session, data })
        })
    }
}

/// The pre-session token for a login/setup form, and the cookie to set when the browser
/// has none yet.
pub(crate) fn pre_session_token(
    req: &HttpRequest,
    state: &AppState,
) -> (String, Option<Cookie<'static>>) {
    let (value, cookie) = match req.cookie(PRE_COOKIE) {
        Some(c) if !c.value().is_empty() => (c.value().to_string(), None),
        _ => {
            let v = crypto::random_token("", 24);
            (v.clone(), Some(admin_cookie(state, PRE_COOKIE, v, None)))
        }
    };
    (state.keys.sign(PRE_PURPOSE, value.as_bytes()), cookie)
}

/// Checks a login/setup form's token against the browser's pre-session cookie.
pub(crate) fn check_pre_session(
    req: &HttpRequest,
    state: &AppState,
    submitted: &str,
) -> Result<(), AdminError> {
    let cookie = req.cookie(PRE_COOKIE).ok_or(AdminError::Csrf)?;
    if state
        .keys
        .verify(PRE_PURPOSE, cookie.value().as_bytes(), submitted)
    {
        Ok(())
    } else {
        Err(AdminError::Csrf)
    }
}
