//! Rendering: the layout every page extends, flash messages, redirects and error pages.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::state::AppState;
use crate::store::StoreError;

use super::assets::asset_url;

const FLASH_COOKIE: &str = "convene_flash";
const FLASH_PURPOSE: &str = "admin-flash";

/// One navigation entry (see `admin::NAV`).
#[derive(Debug, Clone, Copy)]
pub struct NavItem {
    pub key: &'static str,
    pub label: &'static str,
    pub path: &'static str,
}

impl NavItem {
    pub const fn new(key: &'static str, label: &'static str, path: &'static str) -> Self {
        NavItem { key, label, path }
    }
}

/// A one-time message shown on the next page (after a redirect).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    /// `success`, `error` or `info` (also the CSS class).
    pub kind: String,
    pub message: String,
}

impl Flash {
    pub fn success(message: impl Into<String>) -> Self {
        Flash {
            kind: "success".into(),
            message: message.into(),
        }
    }
    pub fn error(message: impl Into<String>) -> Self {
        Flash {
            kind: "error".into(),
            message: message.into(),
        }
    }
    pub fn info(message: impl Into<String>) -> Self {
        Flash {
            kind: "info".into(),
            message: message.into(),
        }
    }

    /// The flash carried by the request's (signed) cookie, if any.
    pub(crate) fn from_request(req: &HttpRequest, state: &AppState) -> Option<Flash> {
        let cookie = req.cookie(FLASH_COOKIE)?;
        let bytes = state.keys.open_token(FLASH_PURPOSE, cookie.value())?;
        serde_json::from_slice(&bytes).ok()
    }

    fn cookie(&self, state: &AppState) -> Cookie<'static> {
        let value = state.keys.seal_token(
            FLASH_PURPOSE,
            &serde_json::to_vec(self).expect("flash serializes"),
        );
        admin_cookie(state, FLASH_COOKIE, value, Some(CookieDuration::minutes(5)))
    }
}

/// What `templates/admin/base.html` needs: title, nav, CSRF token, flash, asset URLs.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// The `NavItem::key` of the current page; empty on pages outside the nav.
    pub active: &'static str,
    /// Empty for pages shown before login (no nav, no logout button).
    pub nav: Vec<NavItem>,
    /// The session's CSRF token (or the pre-session one on login/setup forms).
    pub csrf_token: String,
    pub signed_in: bool,
    pub flash: Option<Flash>,
    pub css_url: String,
    pub js_url: String,
}

impl Layout {
    /// A page shown without a session (login, setup, errors).
    pub fn bare(title: impl Into<String>, csrf_token: String, flash: Option<Flash>) -> Self {
        Layout {
            title: title.into(),
            active: "",
            nav: Vec::new(),
            csrf_token,
            signed_in: false,
            flash,
            css_url: asset_url("admin.css"),
            js_url: asset_url("admin.js"),
        }
    }

    pub(crate) fn signed_in(
        title: impl Into<String>,
        active: &'static str,
        csrf_token: String,
        flash: Option<Flash>,
    ) -> Self {
        Layout {
            nav: super::NAV.to_vec(),
            active,
            signed_in: true,
            ..Layout::bare(title, csrf_token, flash)
        }
    }
}

pub type AdminResult<T = HttpResponse> = Result<T, AdminError>;

/// Renders a page with 200. `layout` is the page's own `layout` field: when it showed a
/// flash, the flash cookie is cleared so the message appears once.
pub fn render(layout: &Layout, page: &impl Template) -> AdminResult {
    render_status(StatusCode::OK, layout, page)
}

pub fn render_status(status: StatusCode, layout: &Layout, page: &impl Template) -> AdminResult {
    let body = page
        .render()
        .map_err(|e| AdminError::Internal(format!("template: {e}")))?;
    let mut res = HttpResponse::build(status);
    res.content_type("text/html; charset=utf-8");
    if layout.flash.is_some() {
        let mut gone = Cookie::new(FLASH_COOKIE, "");
        gone.set_path("/admin");
        gone.make_removal();
        res.cookie(gone);
    }
    Ok(res.body(body))
}

/// 303 to `to` (a local path), optionally with a flash for the next page.
pub fn see_other(state: &AppState, to: &str, flash: Option<Flash>) -> HttpResponse {
    let mut res = HttpResponse::SeeOther();
    res.insert_header((header::LOCATION, to));
    if let Some(f) = flash {
        res.cookie(f.cookie(state));
    }
    res.finish()
}

/// A cookie scoped to `/admin`: HttpOnly, SameSite=Strict, Secure when the public URL is
/// https. `max_age` None = a browser-session cookie.
pub(crate) fn admin_cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age: Option<CookieDuration>,
) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_path("/admin");
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(state.settings.public_url.scheme() == "https");
    if let Some(age) = max_age {
        c.set_max_age(age);
    }
    c
}

/// Errors of admin handlers, answered as HTML pages (or a redirect to the login).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Not logged in: 303 to the login page, coming back to `next` afterwards.
    #[error("login required")]
    LoginRequired { next: Option<String> },
    #[error("The form has expired or did not come from this site. Go back, reload the page and try again.")]
    Csrf,
    #[error("This page does not exist.")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage {
    layout: Layout,
    heading: &'static str,
    message: String,
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            AdminError::Csrf | AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::NotFound => StatusCode::NOT_FOUND,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AdminError::LoginRequired { next } = self {
            let to = match next {
                Some(n) => format!(
                    "/admin/login/?{}",
                    serde_urlencoded::to_string([("next", n)]).unwrap_or_default()
                ),
                None => "/admin/login/".into(),
            };
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to))
                .finish();
        }
        let heading = match self {
            AdminError::Csrf => "Request refused",
            AdminError::Forbidden(_) => "Not allowed",
            AdminError::NotFound => "Not found",
            AdminError::BadRequest(_) => "Something is wrong with that request",
            AdminError::TooManyRequests(_) => "Too many attempts",
            _ => "Something went wrong",
        };
        let message = match self {
            AdminError::Internal(cause) => {
                tracing::error!(error = %cause, "admin page failed");
                "An internal error occurred; the server log has the details.".to_string()
            }
            other => other.to_string(),
        };
        let page = ErrorPage {
            layout: Layout::bare(heading, String::new(), None),
            heading,
            message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| "<!doctype html><title>Error</title>".into());
        HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}

pub async fn not_found_page() -> AdminResult {
    Err(AdminError::NotFound)
}

pub async fn method_not_allowed_page() -> HttpResponse {
    let page = ErrorPage {
        layout: Layout::bare("Method not allowed", String::new(), None),
        heading: "Method not allowed",
        message: "This address does not accept that kind of request.".into(),
    };
    HttpResponse::MethodNotAllowed()
        .content_type("text/html; charset=utf-8")
        .body(page.render().unwrap_or_default())
}

/// Milliseconds as seconds with one decimal (`1.3 s`).
pub fn seconds(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Syncs that start later than a tenth of their interval after their due time: the instance
/// is falling behind (overview and calendar page).
pub fn sync_lag_behind(lag_ms: i64, interval: std::time::Duration) -> bool {
    lag_ms > interval.as_millis() as i64 / 10
}

/// Formats Unix ms for pages: `2025-01-31 14:05 UTC`.
pub fn when(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// `when` for optional times, with a word for "never".
pub fn when_or(ms: Option<i64>, never: &str) -> String {
    ms.map(when).unwrap_or_else(|| never.to_string())
}
