//! The login page. Attempts are limited per client address (`rate_limit`, counted before
//! the password is checked): past the limit every attempt gets a 429, even a right one.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::rate_limit::{LoginLimiter, MAX_FAILURES, WINDOW_MS};
use crate::crypto;
use crate::state::AppState;
use crate::store::settings as kv;

use super::csrf::{check_pre_session, pre_session_token};
use super::render::{render_status, AdminError, AdminResult, Flash, Layout};
use super::session::{self, AdminSession};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/login/")
            .route(web::get().to(show))
            .route(web::post().to(submit)),
    );
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    error: Option<String>,
    /// No password yet: explain the setup link instead of showing a useless form.
    needs_setup: bool,
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Where to go after login: only an admin page of this server, never elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/admin/")
                && !n.contains("//")
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c)) =>
        {
            n.to_string()
        }
        _ => "/admin/".to_string(),
    }
}

/// The address login attempts are counted against: the TCP peer, or, when the peer is a
/// reverse proxy on this machine, the last `X-Forwarded-For` hop (the address the proxy
/// saw; a client cannot forge that entry through a proxy that appends it).
pub(crate) fn client_address(req: &HttpRequest) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    if peer.is_some_and(|ip| ip.is_loopback()) {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
            .and_then(|s| s.parse::<std::net::IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    peer.map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

async fn password_hash(state: &AppState) -> Result<Option<String>, AdminError> {
    Ok(state
        .store
        .read(|c| kv::get(c, kv::ADMIN_PASSWORD_HASH))
        .await?)
}

fn page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    next: String,
    error: Option<String>,
    needs_setup: bool,
) -> AdminResult {
    let (csrf, cookie) = pre_session_token(req, state);
    let page = LoginPage {
        layout: Layout::bare("Log in", csrf, Flash::from_request(req, state)),
        next,
        error,
        needs_setup,
    };
    let mut res = render_status(status, &page.layout, &page)?;
    if let Some(c) = cookie {
        res.add_cookie(&c)
            .map_err(|e| AdminError::Internal(e.to_string()))?;
    }
    Ok(res)
}

async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> AdminResult {
    let next = safe_next(query.next.as_deref());
    if AdminSession::load(&req, &state).await?.is_some() {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
            .finish());
    }
    let needs_setup = password_hash(&state).await?.is_none();
    page(&req, &state, StatusCode::OK, next, None, needs_setup)
}

async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    limiter: web::Data<LoginLimiter>,
    form: web::Form<LoginForm>,
) -> AdminResult {
    let form = form.into_inner();
    check_pre_session(&req, &state, &form.csrf_token)?;
    let next = safe_next(Some(&form.next));
    let client = client_address(&req);
    let now = state.now_ms();
    // Counted before the (slow) verification: parallel guesses cannot all pass the check.
    if !limiter.try_begin(&client, now) {
        tracing::warn!(client = %client, "admin login refused: too many failed attempts");
        return Err(AdminError::TooManyRequests(format!(
            "Too many failed login attempts from your address ({MAX_FAILURES} within {} \
             minutes). Wait a while, then try again.",
            WINDOW_MS / 60_000
        )));
    }
    let Some(phc) = password_hash(&state).await? else {
        return page(&req, &state, StatusCode::OK, next, None, true);
    };
    let password = form.password;
    let ok = web::block(move || crypto::verify_password(&password, &phc))
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    if !ok {
        tracing::warn!(client = %client, "admin login failed: wrong password");
        return page(
            &req,
            &state,
            StatusCode::UNAUTHORIZED,
            next,
            Some("That password is not right.".into()),
            false,
        );
    }
    limiter.succeeded(&client);
    let cookie = session::start(&state).await?;
    tracing::info!(client = %client, "admin logged in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(cookie)
        .finish())
}
