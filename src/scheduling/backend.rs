//! HTTP client for the bot backend (`CONVENE_BOT_API_URL`): a service with the hosted
//! API's Create Bot (`POST /api/v1/bot/` → `{"id"}`) and Delete Bot
//! (`DELETE /api/v1/bot/{id}/`). Every call carries an `Idempotency-Key`, so a retry after a
//! crash between the backend's answer and our commit gets the same bot back.

use std::time::Duration;

use crate::state::AppState;

/// One backend call may take this long before it counts as failed (and is retried).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct BackendError {
    pub message: String,
    /// False when retrying cannot help (the backend refused the request itself).
    pub retryable: bool,
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Clone)]
pub struct BotBackend {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl BotBackend {
    /// The configured backend, if any.
    pub fn from_state(state: &AppState) -> Option<Self> {
        let url = state.settings.bot_api_url.as_ref()?;
        Some(BotBackend {
            http: state.http.clone(),
            base: url.as_str().trim_end_matches('/').to_string(),
            key: state.settings.bot_api_key.as_ref().map(|k| k.0.clone()),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str, idem: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(CALL_TIMEOUT)
            .header("Idempotency-Key", idem);
        if let Some(key) = &self.key {
            req = req.header(reqwest::header::AUTHORIZATION, format!("Token {key}"));
        }
        req
    }

    /// Creates a bot; `body` is the JSON create body. Returns the backend's bot id.
    pub async fn create(&self, body: &str, idem: &str) -> Result<String, BackendError> {
        let res = self
            .request(reqwest::Method::POST, "/api/v1/bot/", idem)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        let text = res.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(http_error("create", status, &text));
        }
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| BackendError {
            message: format!("create answered {status} without a JSON body"),
            retryable: true,
        })?;
        match &json["id"] {
            serde_json::Value::String(s) if !s.is_empty() => Ok(s.clone()),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            _ => Err(BackendError {
                message: format!("create answered {status} without an id"),
                retryable: true,
            }),
        }
    }

    /// Deletes a bot; one the backend no longer knows (`404`) counts as deleted.
    pub async fn delete(&self, backend_id: &str, idem: &str) -> Result<(), BackendError> {
        let path = format!("/api/v1/bot/{}/", urlencode(backend_id));
        let res = self
            .request(reqwest::Method::DELETE, &path, idem)
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        let text = res.text().await.unwrap_or_default();
        Err(http_error("delete", status, &text))
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn transport(e: reqwest::Error) -> BackendError {
    let what = crate::providers::transport_failure_kind(&e);
    BackendError {
        // Without the URL: it may carry credentials in its userinfo.
        message: format!("bot backend {what}: {}", e.without_url()),
        retryable: true,
    }
}

fn http_error(call: &str, status: reqwest::StatusCode, body: &str) -> BackendError {
    let snippet: String = body.chars().take(200).collect();
    // 4xx other than timeouts, conflicts and rate limits: the request itself is refused.
    let retryable = status.is_server_error() || matches!(status.as_u16(), 408 | 409 | 425 | 429);
    BackendError {
        message: format!("{call} answered {status}: {snippet}"),
        retryable,
    }
}
