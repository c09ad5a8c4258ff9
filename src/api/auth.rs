//! `Authorization: Token <api key>` for the integrating app's backend.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use crate::crypto;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store;

/// Proof that the request carried a live API key.
#[derive(Debug, Clone)]
pub struct ApiKeyAuth {
    pub key_id: String,
}

impl FromRequest for ApiKeyAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("no app state"))?;
            let invalid = || ApiError::Unauthorized("Invalid API key.".into());
            let header = header.ok_or_else(invalid)?;
            let (scheme, key) = header.trim().split_once(' ').ok_or_else(invalid)?;
            if !scheme.eq_ignore_ascii_case("token") || key.trim().is_empty() {
                return Err(invalid());
            }
            let hash = crypto::sha256_hex(key.trim());
            let now = state.now_ms();
            let found = state
                .store
                .write(move |tx| store::api_keys::authenticate(tx, &hash, now))
                .await?;
            found
                .map(|k| ApiKeyAuth { key_id: k.id })
                .ok_or_else(invalid)
        })
    }
}
