//! Zoom: OAuth (zoom.us/oauth) and `GET /v2/users/me` (api.zoom.us).

use crate::model::*;
use crate::oauth::{self, TokErr};
use crate::server::{self, json_resp, lock, Data};
use crate::util;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/zoom/oauth/authorize", web::get().to(authorize))
        .route("/zoom/oauth/token", web::post().to(token))
        .route("/zoom/v2/users/me", web::get().to(users_me));
}

async fn authorize(data: Data, req: HttpRequest) -> HttpResponse {
    oauth::authorize(data, req, Provider::Zoom, Endpoint::ZoomAuthorize).await
}

fn zerr(status: u16, reason: &str, error: &str) -> HttpResponse {
    json_resp(status, json!({"reason": reason, "error": error}))
}

async fn token(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (form, after) = match oauth::begin_token(&data, Endpoint::ZoomToken, &body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let basic = util::parse_basic(server::header(&req, "authorization"));
    let resp = token_answer(&data, &form, basic);
    crate::late::finish(&data, after, resp).await
}

/// The token endpoint's answer (the shared state is locked only while it is computed).
fn token_answer(
    data: &Data,
    form: &std::collections::HashMap<String, String>,
    basic: Option<(String, String)>,
) -> HttpResponse {
    let mut st = lock(data);
    match oauth::token_core(&mut st, Provider::Zoom, form, basic) {
        Ok(ok) => json_resp(
            200,
            json!({
                "access_token": ok.access_token,
                "token_type": "bearer",
                "refresh_token": ok.refresh_token,
                "expires_in": ok.expires_in,
                "scope": ok.scopes.join(" "),
                "api_url": format!("{}/zoom", st.base_url),
            }),
        ),
        Err(e) => match e {
            TokErr::UnsupportedGrant(_) => {
                zerr(400, "Unsupported grant type", "unsupported_grant_type")
            }
            TokErr::MissingClientId
            | TokErr::UnknownClient(_)
            | TokErr::BadSecret
            | TokErr::ClientRefused(_)
            | TokErr::MissingSecret => {
                zerr(401, "Invalid client_id or client_secret", "invalid_client")
            }
            TokErr::MissingParam("code")
            | TokErr::CodeUnknown
            | TokErr::CodeUsed
            | TokErr::CodeExpired
            | TokErr::CodeWrongClient => zerr(400, "Invalid authorization code", "invalid_grant"),
            TokErr::RedirectMismatch => zerr(400, "Invalid redirect uri", "invalid_request"),
            TokErr::PkceMissing | TokErr::PkceMismatch => {
                zerr(400, "Invalid code_verifier", "invalid_request")
            }
            TokErr::MissingParam(_)
            | TokErr::RefreshInvalid
            | TokErr::RefreshExpired
            | TokErr::RefreshWrongClient
            | TokErr::ScopeNotGranted(_) => zerr(400, "Invalid Token!", "invalid_request"),
        },
    }
}

async fn users_me(data: Data, req: HttpRequest) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::ZoomUsersMe).await {
        return r;
    }
    let st = lock(&data);
    let tok = util::parse_bearer(server::header(&req, "authorization"));
    let account = match st.check_access(Provider::Zoom, tok.as_deref()) {
        Ok((a, _)) => a,
        Err(crate::state::AccessError::Expired) => {
            return json_resp(
                401,
                json!({"code": 124, "message": "Access token is expired."}),
            )
        }
        Err(_) => {
            return json_resp(
                401,
                json!({"code": 124, "message": "Invalid access token."}),
            )
        }
    };
    let Ok(a) = st.account(&account) else {
        return json_resp(
            401,
            json!({"code": 124, "message": "Invalid access token."}),
        );
    };
    let pmi: u64 = a
        .info
        .account_id
        .0
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
        % 9_000_000_000
        + 1_000_000_000;
    json_resp(
        200,
        json!({
            "id": a.info.account_id.0,
            "first_name": a.first_name,
            "last_name": a.last_name,
            "display_name": a.info.display_name,
            "email": a.info.email,
            "type": 1,
            "role_name": "Owner",
            "pmi": pmi,
            "use_pmi": false,
            "personal_meeting_url": format!("https://us05web.zoom.us/j/{pmi}"),
            "timezone": "UTC",
            "verified": 1,
            "dept": "",
            "created_at": util::rfc3339_secs(a.created),
            "user_created_at": util::rfc3339_secs(a.created),
            "last_login_time": util::rfc3339_secs(a.created),
            "pic_url": "",
            "language": "en-US",
            "phone_number": "",
            "status": "active",
            "role_id": "0",
            "account_id": a.info.zoom_account_id,
            "account_number": 1_000_000,
            "cluster": "us05",
        }),
    )
}
