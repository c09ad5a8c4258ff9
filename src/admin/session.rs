//! The admin session: a random id in an HttpOnly, SameSite=Strict cookie, stored only as its
//! SHA-256 with a per-session CSRF token; 12 hours from login, then log in again.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie};
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};

use crate::crypto;
use crate::state::AppState;
use crate::store;

use super::render::{admin_cookie, AdminError, Flash, Layout};

pub const SESSION_COOKIE: &str = "convene_admin";
pub const SESSION_LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// Proof of a logged-in admin. As an extractor it answers 303 to the login page when the
/// request has no live session.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// Put this in every form as `csrf_token`.
    pub csrf_token: String,
    pub expires_at: i64,
    id_hash: String,
    flash: Option<Flash>,
}

impl AdminSession {
    /// The layout for a page in the nav (`active` is its `NavItem::key`).
    pub fn layout(&self, active: &'static str, title: impl Into<String>) -> Layout {
        Layout::signed_in(title, active, self.csrf_token.clone(), self.flash.clone())
    }

    /// Checks a submitted CSRF token (constant time). `AdminForm` calls this for you.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AdminError> {
        if crypto::constant_time_eq(submitted, &self.csrf_token) {
            Ok(())
        } else {
            Err(AdminError::Csrf)
        }
    }

    /// Looks the request's session up; None when absent, unknown or expired.
    pub(crate) async fn load(
        req: &HttpRequest,
        state: &AppState,
    ) -> Result<Option<AdminSession>, AdminError> {
        let Some(cookie) = req.cookie(SESSION_COOKIE) else {
            return Ok(None);
        };
        let id_hash = crypto::sha256_hex(cookie.value());
        let now = state.now_ms();
        let lookup = id_hash.clone();
        let found = state
            .store
            .read(move |c| store::admin::find_session(c, &lookup, now))
            .await?;
        Ok(found.map(|s| AdminSession {
            csrf_token: s.csrf_token,
            expires_at: s.expires_at,
            id_hash,
            flash: Flash::from_request(req, state),
        }))
    }

    /// Ends this session (logout).
    pub(crate) async fn destroy(self, state: &AppState) -> Result<(), AdminError> {
        state
            .store
            .write(move |tx| store::admin::delete_session(tx, &self.id_hash))
            .await?;
        Ok(())
    }
}

/// Starts a session after a successful login; returns the cookie to set.
pub(crate) async fn start(state: &AppState) -> Result<Cookie<'static>, AdminError> {
    let id = crypto::random_token("", 32);
    let csrf = crypto::random_token("", 32);
    let hash = crypto::sha256_hex(&id);
    let now = state.now_ms();
    state
        .store
        .write(move |tx| {
            store::admin::create_session(tx, &hash, &csrf, now, now + SESSION_LIFETIME_MS)
        })
        .await?;
    Ok(admin_cookie(
        state,
        SESSION_COOKIE,
        id,
        Some(CookieDuration::milliseconds(SESSION_LIFETIME_MS)),
    ))
}

/// The cookie that removes the session cookie from the browser.
pub(crate) fn removal_cookie() -> Cookie<'static> {
    let mut c = Cookie::new(SESSION_COOKIE, "");
    c.set_path("/admin");
    c.make_removal();
    c
}

impl FromRequest for AdminSession {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AdminError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| AdminError::Internal("no app state".into()))?;
            match AdminSession::load(&req, &state).await? {
                Some(s) => Ok(s),
                None => Err(AdminError::LoginRequired {
                    // Come back to the page after login; POSTs start over from their page.
                    next: (req.method() == Method::GET).then(|| req.path().to_string()),
                }),
            }
        })
    }
}
