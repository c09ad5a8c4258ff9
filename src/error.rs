//! The API's error model (Django-REST style bodies), mapped to HTTP via `ResponseError`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `{"detail": ...}`
    #[error("{0}")]
    BadRequest(String),
    /// 400 with a ready body such as `{"field": ["message"]}` or extra keys.
    #[error("validation failed")]
    Validation(Value),
    #[error("Invalid API key.")]
    Unauthorized(String),
    #[error("Not found.")]
    NotFound,
    /// 404 with a more helpful `detail`.
    #[error("{0}")]
    NotFoundDetail(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("Method not allowed.")]
    MethodNotAllowed,
    #[error("{0}")]
    TooManyRequests(String),
    /// Anything else: logged with the request id, answered without internals.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(json!({ field: [message.into()] }))
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::Internal(format!("database error: {e}"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound | ApiError::NotFoundDetail(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            ApiError::Validation(v) => v.clone(),
            ApiError::Unauthorized(m) => json!({ "detail": m }),
            ApiError::Internal(msg) => {
                // The request id is added by the request-id middleware, which rewrites
                // every 500 body; the cause goes to the log only.
                tracing::error!(error = %msg, "internal error");
                json!({ "detail": "Internal error" })
            }
            other => json!({ "detail": other.to_string() }),
        };
        HttpResponse::build(self.status_code()).json(body)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
