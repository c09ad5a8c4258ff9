//! Browser access (CORS) for the calendar-token endpoints only (api.md "Browser access").
//!
//! The hosted V1 flow hands the calendar auth token to the end user's browser, which calls
//! `/api/v1/calendar/user/...` and `/api/v1/calendar/meetings/...` directly. Those resources
//! are wrapped with [`calendar_token_cors`]; nothing else answers CORS, so an API key can
//! never be used from a page. The token travels in a header, never a cookie, so no
//! credentials mode is involved.
//!
//! - Preflight (`OPTIONS` with `Origin`): an allowed origin gets `204` with the
//!   `Access-Control-*` headers; any other origin gets `403` without them.
//! - Real requests from an allowed origin get `Access-Control-Allow-Origin` (the origin,
//!   or `*` when `CONVENE_CORS_ORIGINS` is `*`) and `Vary: Origin`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::config::CorsOrigins;
use crate::state::AppState;

pub const ALLOW_METHODS: &str = "GET, PUT, PATCH, POST, DELETE, OPTIONS";
pub const ALLOW_HEADERS: &str = "x-recallcalendarauthtoken, content-type";
pub const MAX_AGE_SECS: &str = "600";
/// Response headers a page may read besides the safelisted ones.
pub const EXPOSE_HEADERS: &str = "x-request-id";

/// The value of `Access-Control-Allow-Origin` for `origin`, or None when it is not allowed.
pub fn allow_origin(origins: &CorsOrigins, origin: &str) -> Option<String> {
    match origins {
        CorsOrigins::Any => Some("*".into()),
        CorsOrigins::List(_) if origins.allows(origin) => Some(origin.to_string()),
        CorsOrigins::List(_) => None,
    }
}

fn set(res: &mut actix_web::http::header::HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.insert(name, v);
    }
}

/// The middleware of the calendar-token resources (`resource(..).wrap(from_fn(..))`).
pub async fn calendar_token_cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(origin) = origin else {
        // Not a cross-origin browser request: nothing to add.
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let allowed = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| allow_origin(&s.settings.cors_origins, &origin));

    if req.method() == Method::OPTIONS {
        let res = match &allowed {
            Some(value) => {
                let mut res = HttpResponse::NoContent().finish();
                let h = res.headers_mut();
                set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
                set(h, header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
                set(h, header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
                set(h, header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECS);
                set(h, header::VARY, "Origin");
                res
            }
            None => HttpResponse::Forbidden().json(serde_json::json!({
                "detail": "This origin may not call the calendar endpoints (CONVENE_CORS_ORIGINS)."
            })),
        };
        return Ok(req.into_response(res).map_into_right_body());
    }

    let mut res = next.call(req).await?;
    if let Some(value) = allowed {
        let h = res.headers_mut();
        set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, &value);
        set(h, header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
        set(h, header::VARY, "Origin");
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_origins() {
        assert_eq!(
            allow_origin(&CorsOrigins::Any, "http://a.test").as_deref(),
            Some("*")
        );
        let list = CorsOrigins::List(vec!["https://app.example.com".into()]);
        assert_eq!(
            allow_origin(&list, "https://app.example.com").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(allow_origin(&list, "https://evil.example.com"), None);
        assert_eq!(allow_origin(&list, "null"), None);
    }
}
