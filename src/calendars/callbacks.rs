//! The hosted OAuth callbacks of calendar V1:
//! `GET /api/v1/calendar/ms_oauth_callback/` and `GET /api/v1/calendar/google_oauth_callback/`.
//!
//! Order of checks: the JSON `state` parses; `success_url` / `error_url` are on the
//! allow-list (else an error page, never a redirect: no open redirect); the calendar auth
//! token is genuine and unexpired; the redirect URL is our callback (or, for the "production
//! redirect" of the seeds, a URL on an operator origin of the allow-list); the provider did
//! not report an error; then the code is exchanged with the platform's saved client, the
//! email read, the connection stored and the first sync scheduled.
//!
//! Nothing here depends on cookies (an operator's domain may forward the request), and
//! neither the code, the state nor any token is logged (the request log omits queries).
//!
//! This module answers the request (pages and redirects); `v1_connect` makes the
//! connection.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::Value;
use url::Url;

use super::v1_connect::{connect, fail, Failure, HINT_OPERATOR, HINT_RESTART};
use crate::api::resource;
use crate::domain::Platform;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/calendar/ms_oauth_callback/").route(web::get().to(ms_oauth_callback)),
    )
    .service(
        resource("/api/v1/calendar/google_oauth_callback/")
            .route(web::get().to(google_oauth_callback)),
    );
}

async fn ms_oauth_callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    handle(&req, &state, Platform::Microsoft).await
}

async fn google_oauth_callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    handle(&req, &state, Platform::Google).await
}

#[derive(Template)]
#[template(path = "hosted/oauth_result.html")]
struct ResultPage<'a> {
    ok: bool,
    title: &'a str,
    message: &'a str,
    hint: &'a str,
    code: &'a str,
}

/// Headers for anything answering a callback URL (which carries a code in its query).
fn secure(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ));
    b
}

fn page(status: u16, page: ResultPage) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    match page.render() {
        Ok(html) => secure(HttpResponse::build(code))
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the OAuth result page");
            secure(HttpResponse::InternalServerError())
                .content_type("text/plain; charset=utf-8")
                .body("Internal error")
        }
    }
}

fn failure_page(f: &Failure) -> HttpResponse {
    page(
        400,
        ResultPage {
            ok: false,
            title: "Your calendar was not connected",
            message: &f.description,
            hint: f.hint,
            code: f.code,
        },
    )
}

fn redirect(url: &Url) -> HttpResponse {
    secure(HttpResponse::Found())
        .insert_header((header::LOCATION, url.as_str()))
        .finish()
}

/// `error_url` with `error` and `error_description` added, its other parameters kept.
fn error_redirect(mut url: Url, f: &Failure) -> HttpResponse {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "error" && k != "error_description")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        q.append_pair("error", f.code);
        q.append_pair("error_description", &f.description);
    }
    redirect(&url)
}

async fn handle(req: &HttpRequest, state: &AppState, platform: Platform) -> HttpResponse {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    // 1. The state and the two return URLs: nothing is redirected before they are checked.
    let Some(raw_state) = param("state") else {
        return failure_page(&fail(
            "invalid_state",
            "The sign-in response has no state parameter.",
            HINT_RESTART,
        ));
    };
    let Ok(Value::Object(st)) = serde_json::from_str::<Value>(raw_state) else {
        return failure_page(&fail(
            "invalid_state",
            "The sign-in response's state is not a JSON object.",
            HINT_RESTART,
        ));
    };
    let allow = match state.allow_list().await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the redirect allow-list");
            return failure_page(&fail(
                "server_error",
                "Convene could not complete the connection.",
                "Please try again in a moment.",
            ));
        }
    };
    let mut urls = [None, None];
    for (i, field) in ["success_url", "error_url"].into_iter().enumerate() {
        match st.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => match allow.check(s) {
                Some(u) => urls[i] = Some(u),
                None => {
                    tracing::warn!(
                        platform = platform.v1_name(),
                        field,
                        "refused a redirect URL outside the allow-list"
                    );
                    return failure_page(&fail(
                        "redirect_not_allowed",
                        format!("The {field} given by the app is not an allowed redirect target, so Convene will not send you there."),
                        HINT_OPERATOR,
                    ));
                }
            },
            Some(_) => {
                return failure_page(&fail(
                    "invalid_state",
                    format!("The state's {field} is not a string."),
                    HINT_RESTART,
                ))
            }
        }
    }
    let [success_url, error_url] = urls;
    let outcome = connect(state, platform, &st, &allow, &|n| {
        param(n).map(str::to_string)
    })
    .await;
    match (outcome, success_url, error_url) {
        (Ok(()), Some(url), _) => redirect(&url),
        (Ok(()), None, _) => page(
            200,
            ResultPage {
                ok: true,
                title: "Calendar connected",
                message: &format!(
                    "Your {} calendar is now connected. You can close this window.",
                    platform.display()
                ),
                hint: "",
                code: "",
            },
        ),
        (Err(f), _, Some(url)) => error_redirect(url, &f),
        (Err(f), _, None) => failure_page(&f),
    }
}
