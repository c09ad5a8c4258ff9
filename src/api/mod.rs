//! Shared pieces of the HTTP API: authentication extractors, pagination, JSON/query
//! configuration and the error handlers that keep every error a JSON body.

pub mod auth;
pub mod body_buffer;
pub mod cors;
pub mod docs;
pub mod health;
pub mod keys;
pub mod metrics;
pub mod pagination;
pub mod params;
pub mod schema;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;

/// A resource whose unknown methods answer `405` JSON instead of actix's default 404.
/// Every public API path is made here, and recorded (see [`registered_paths`]).
pub fn resource(path: &str) -> actix_web::Resource {
    register(path);
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// A calendar-token resource: like [`resource`], and it answers CORS (`api/cors.rs`).
pub fn token_resource(
    path: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    resource(path).wrap(actix_web::middleware::from_fn(cors::calendar_token_cors))
}

static REGISTERED: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn register(path: &str) {
    REGISTERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_string());
}

/// Every path made with [`resource`] by an app built in this process (the OpenAPI test
/// compares them with `/api/schema/`).
pub fn registered_paths() -> Vec<String> {
    REGISTERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect()
}

pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// JSON bodies: 1 MiB at most (`413`), `application/json` only (`415`), parse errors `400`.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(1024 * 1024)
        .error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError as E;
            let api = match &err {
                E::ContentType => ApiError::UnsupportedMediaType(
                    "Unsupported media type; send application/json.".into(),
                ),
                E::OverflowKnownLength { .. } | E::Overflow { .. } => {
                    ApiError::TooLarge("Request body is too large.".into())
                }
                E::Deserialize(e) => ApiError::BadRequest(format!("JSON parse error - {e}")),
                other => ApiError::BadRequest(format!("Malformed request body - {other}")),
            };
            api.into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::BadRequest(format!("Invalid query parameters - {err}")).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, _req| ApiError::NotFound.into())
}

/// Parses a path id as a UUID; anything else is simply not found.
pub fn parse_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound)
}

/// The request id the middleware attached (for logs and error bodies).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

use actix_web::HttpMessage;
