//! First start: a one-time setup link sets the admin password. The token is stored only as
//! a hash and dies when the password is set (here or with `convene admin set-password`).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::password as admin_password;
use crate::crypto;
use crate::state::AppState;
use crate::store::{self, settings as kv};

use super::csrf::{check_pre_session, pre_session_token};
use super::render::{render_status, see_other, AdminError, AdminResult, Flash, Layout};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/setup/")
            .route(web::get().to(show))
            .route(web::post().to(submit)),
    );
}

/// Creates a new setup token (replacing any earlier one) and returns it. Used at start-up
/// and by tests, which cannot read the log.
pub async fn issue_setup_token(state: &AppState) -> anyhow::Result<String> {
    let token = crypto::random_token("", 24);
    let hash = crypto::sha256_hex(&token);
    let now = state.now_ms();
    state
        .store
        .write(move |tx| kv::set(tx, kv::ADMIN_SETUP_TOKEN_HASH, &hash, now))
        .await
        .map_err(|e: store::StoreError| anyhow::anyhow!(e))?;
    Ok(token)
}

/// First start without an admin password: log a one-time setup link.
pub async fn announce_setup_link(state: &AppState) -> anyhow::Result<()> {
    let has_password = state
        .store
        .read(|c| kv::get(c, kv::ADMIN_PASSWORD_HASH))
        .await?
        .is_some();
    if has_password {
        return Ok(());
    }
    let token = issue_setup_token(state).await?;
    let link = state
        .settings
        .public_link(&format!("/admin/setup/?token={token}"));
    // Deliberately printed: the operator needs it once, and it only sets the first password.
    tracing::warn!("no admin password yet; open this one-time setup link: {link}");
    Ok(())
}

#[derive(Template)]
#[template(path = "admin/setup.html")]
struct SetupPage {
    layout: Layout,
    token: String,
    error: Option<String>,
    min_len: usize,
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(serde::Deserialize)]
struct SetupForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// Why a token is refused; the same words whatever the reason, so they leak nothing.
fn invalid_link() -> AdminError {
    AdminError::Forbidden(
        "This setup link is not valid: it was already used, or a newer one was printed in the \
         log. If the password is set, log in; otherwise restart the server for a new link or \
         run `convene admin set-password`."
            .into(),
    )
}

/// True when `token` matches the stored setup token and no password is set yet.
async fn token_is_live(state: &AppState, token: String) -> Result<bool, AdminError> {
    if token.is_empty() {
        return Ok(false);
    }
    let (stored, password) = state
        .store
        .read(|c| {
            Ok::<_, store::StoreError>((
                kv::get(c, kv::ADMIN_SETUP_TOKEN_HASH)?,
                kv::get(c, kv::ADMIN_PASSWORD_HASH)?,
            ))
        })
        .await?;
    Ok(password.is_none()
        && stored.is_some_and(|h| crypto::constant_time_eq(&h, &crypto::sha256_hex(&token))))
}

async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> AdminResult {
    let token = query.into_inner().token;
    if !token_is_live(&state, token.clone()).await? {
        return Err(invalid_link());
    }
    page(&req, &state, token, None, actix_web::http::StatusCode::OK)
}

fn page(
    req: &HttpRequest,
    state: &AppState,
    token: String,
    error: Option<String>,
    status: actix_web::http::StatusCode,
) -> AdminResult {
    let (csrf, cookie) = pre_session_token(req, state);
    let page = SetupPage {
        layout: Layout::bare("Set up Convene", csrf, None),
        token,
        error,
        min_len: admin_password::MIN_LEN,
    };
    let mut res = render_status(status, &page.layout, &page)?;
    if let Some(c) = cookie {
        res.add_cookie(&c)
            .map_err(|e| AdminError::Internal(e.to_string()))?;
    }
    Ok(res)
}

async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SetupForm>,
) -> AdminResult<HttpResponse> {
    let form = form.into_inner();
    check_pre_session(&req, &state, &form.csrf_token)?;
    if !token_is_live(&state, form.token.clone()).await? {
        return Err(invalid_link());
    }
    let problem = admin_password::validate(&form.password).err().or_else(|| {
        (form.password != form.confirm).then(|| "the two passwords differ".to_string())
    });
    if let Some(p) = problem {
        return page(
            &req,
            &state,
            form.token,
            Some(format!("Not saved: {p}.")),
            actix_web::http::StatusCode::BAD_REQUEST,
        );
    }
    // Argon2id is deliberately slow: keep it off the async workers.
    let password = form.password;
    let phc = web::block(move || crypto::hash_password(&password))
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    let token_hash = crypto::sha256_hex(&form.token);
    let now = state.now_ms();
    // Check and consume the token in one transaction: two submits cannot both win.
    let used = state
        .store
        .write(move |tx| {
            let live = kv::get(tx, kv::ADMIN_SETUP_TOKEN_HASH)?
                .is_some_and(|h| crypto::constant_time_eq(&h, &token_hash))
                && kv::get(tx, kv::ADMIN_PASSWORD_HASH)?.is_none();
            if live {
                kv::set(tx, kv::ADMIN_PASSWORD_HASH, &phc, now)?;
                kv::delete(tx, kv::ADMIN_SETUP_TOKEN_HASH)?;
                store::admin::delete_all_sessions(tx)?;
            }
            Ok::<_, store::StoreError>(live)
        })
        .await?;
    if !used {
        return Err(invalid_link());
    }
    tracing::info!("admin password set through the setup page; the setup link is spent");
    Ok(see_other(
        &state,
        "/admin/login/",
        Some(Flash::success(
            "The admin password is set. Log in with it now.",
        )),
    ))
}
