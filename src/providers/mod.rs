//! OAuth clients for the calendar providers: code exchange, refresh, error classification
//! and discovery of the account's email.
//!
//! Every provider URL comes from the settings (`CONVENE_*_URL`), so the same code talks to
//! the real services and to the simulator. Nothing here logs a code, token or secret.

pub mod google;
pub mod microsoft;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::config::Settings;

pub use crate::domain::Platform;

/// An OAuth client (id and plaintext secret, only ever held in memory).
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// A successful token endpoint answer.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// Seconds the access token lives; providers say 3599, assume an hour when absent.
    pub fn lifetime_secs(&self) -> i64 {
        self.expires_in.filter(|s| *s > 0).unwrap_or(3600)
    }
}

/// Why a token request failed, sorted by what Convene must do about it.
#[derive(Debug, Clone, PartialEq)]
pub enum OAuthError {
    /// The grant is dead: the user must connect again (invalid_grant, the AADSTS codes of
    /// providers.md, interaction/consent required).
    Permanent { code: String, message: String },
    /// The OAuth client itself was refused (`invalid_client`, `unauthorized_client`,
    /// Google `deleted_client`, AADSTS 7000215/7000222 wrong or expired secret): the
    /// operator's to fix, not the end user's.
    ClientRefused { code: String, message: String },
    /// Try again later: 5xx, 429 (with its Retry-After), timeouts, connection errors,
    /// malformed answers.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Any other refusal (e.g. `invalid_request`): not known to be fatal, so not treated as a
    /// disconnect; retried with backoff like a transient error.
    Other { code: String, message: String },
}

impl OAuthError {
    pub fn code(&self) -> &str {
        match self {
            OAuthError::Permanent { code, .. }
            | OAuthError::ClientRefused { code, .. }
            | OAuthError::Other { code, .. } => code,
            OAuthError::Transient { .. } => "temporarily_unavailable",
        }
    }
    pub fn message(&self) -> &str {
        match self {
            OAuthError::Permanent { message, .. }
            | OAuthError::ClientRefused { message, .. }
            | OAuthError::Other { message, .. }
            | OAuthError::Transient { message, .. } => message,
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OAuthError::Permanent { code, message }
            | OAuthError::ClientRefused { code, message } => write!(f, "{code}: {message}"),
            OAuthError::Transient { message, .. } => write!(f, "transient: {message}"),
            OAuthError::Other { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

/// AADSTS codes that mean "the user must connect again" (providers.md).
const PERMANENT_AADSTS: [u32; 8] = [70008, 700082, 50173, 65001, 65004, 50076, 50079, 53003];

/// OAuth `error` values that mean the grant is unusable.
const PERMANENT_ERRORS: [&str; 3] = ["invalid_grant", "interaction_required", "consent_required"];

/// OAuth `error` values that refuse the client itself (the operator's to fix). Includes
/// `unauthorized_client`: a client that is not (or no longer) allowed this grant, or the
/// grant was made for another client id than the one saved now.
const CLIENT_ERRORS: [&str; 3] = ["invalid_client", "unauthorized_client", "deleted_client"];

/// AADSTS codes that refuse the client: wrong secret (7000215), expired secret (7000222),
/// no secret (7000218), application not found in the directory (700016).
const CLIENT_AADSTS: [u32; 4] = [7000215, 7000222, 7000218, 700016];

/// Error values that explicitly ask for a retry.
const TRANSIENT_ERRORS: [&str; 2] = ["temporarily_unavailable", "server_error"];

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Option<Vec<u32>>,
}

/// The first `AADSTSnnnn` code in a Microsoft error description.
pub fn aadsts_code(text: &str) -> Option<u32> {
    let at = text.find("AADSTS")?;
    let digits: String = text[at + 6..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The human part of a provider's description: Microsoft appends trace and correlation ids
/// on new lines, which help nobody reading a status change.
pub fn clean_description(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    let first = first.split(" Trace ID:").next().unwrap_or(first).trim();
    let mut s: String = first.chars().take(500).collect();
    if s.is_empty() {
        s = "no description".into();
    }
    s
}

/// Sorts a token endpoint's non-2xx answer into permanent / transient / other.
pub fn classify_error(status: u16, retry_after: Option<Duration>, body: &str) -> OAuthError {
    if status == 429 {
        return OAuthError::Transient {
            message: "rate limited by the provider (429)".into(),
            retry_after,
        };
    }
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    // `error` is a string on token endpoints; a Graph-style object elsewhere.
    let error = parsed
        .error
        .as_ref()
        .and_then(|e| e.as_str().map(str::to_string))
        .unwrap_or_default();
    let description = parsed.error_description.clone().unwrap_or_default();
    let aadsts = parsed
        .error_codes
        .as_ref()
        .and_then(|c| c.first().copied())
        .or_else(|| aadsts_code(&description));
    if status >= 500 || TRANSIENT_ERRORS.contains(&error.as_str()) {
        return OAuthError::Transient {
            message: format!(
                "provider error {status}{}",
                if error.is_empty() {
                    String::new()
                } else {
                    format!(" ({error})")
                }
            ),
            retry_after,
        };
    }
    let message = if description.is_empty() {
        format!(
            "{} (HTTP {status})",
            if error.is_empty() { "error" } else { &error }
        )
    } else {
        clean_description(&description)
    };
    // Microsoft: the AADSTS number is the useful code; elsewhere the OAuth `error`.
    let code = match aadsts {
        Some(n) => format!("AADSTS{n}"),
        None if !error.is_empty() => error.clone(),
        None => format!("http_{status}"),
    };
    let client = CLIENT_ERRORS.contains(&error.as_str())
        || aadsts.is_some_and(|n| CLIENT_AADSTS.contains(&n));
    let permanent = PERMANENT_ERRORS.contains(&error.as_str())
        || aadsts.is_some_and(|n| PERMANENT_AADSTS.contains(&n));
    if client {
        OAuthError::ClientRefused { code, message }
    } else if permanent {
        OAuthError::Permanent { code, message }
    } else {
        OAuthError::Other { code, message }
    }
}

fn retry_after_of(res: &reqwest::Response) -> Option<Duration> {
    let v = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs.min(24 * 3600)));
    }
    // HTTP-date form.
    let when = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).clamp(0, 24 * 3600);
    Some(Duration::from_secs(secs as u64))
}

/// What kind of transport failure `e` is, in words for an error message.
pub fn transport_failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

fn transport_error(e: &reqwest::Error) -> OAuthError {
    // The error's Display can include the URL; our provider URLs carry no secrets.
    let what = transport_failure_kind(e);
    OAuthError::Transient {
        message: format!("provider {what}"),
        retry_after: None,
    }
}

/// POSTs a form to a token endpoint and sorts the answer.
async fn token_request(
    platform: Platform,
    http: &reqwest::Client,
    url: &url::Url,
    form: &[(&str, &str)],
) -> Result<TokenResponse, OAuthError> {
    let sent = http
        .post(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await;
    crate::metrics::provider_request(
        platform.v1_name(),
        "token",
        sent.as_ref().ok().map(|r| r.status().as_u16()),
    );
    let res = sent.map_err(|e| transport_error(&e))?;
    let status = res.status().as_u16();
    let retry_after = retry_after_of(&res);
    let body = res.text().await.map_err(|e| transport_error(&e))?;
    if !(200..300).contains(&status) {
        return Err(classify_error(status, retry_after, &body));
    }
    let parsed: TokenResponse = serde_json::from_str(&body).map_err(|_| OAuthError::Transient {
        message: "malformed token response from the provider".into(),
        retry_after: None,
    })?;
    if parsed.access_token.is_empty() {
        return Err(OAuthError::Transient {
            message: "token response without an access token".into(),
            retry_after: None,
        });
    }
    Ok(parsed)
}

/// Exchanges an authorization code (hosted V1 callback). `redirect_uri` must be the one the
/// authorize request used.
pub async fn exchange_code(
    http: &reqwest::Client,
    settings: &Settings,
    platform: Platform,
    client: &ClientCredentials,
    code: &str,
    redirect_uri: &str,
) -> Result<TokenResponse, OAuthError> {
    let url = match platform {
        Platform::Google => &settings.providers.google_token,
        Platform::Microsoft => &settings.providers.microsoft_token,
    };
    // No `scope`: the code already carries what the user granted.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.as_str()),
    ];
    token_request(platform, http, url, &form).await
}

/// Trades a refresh token for a new access token (and, on Microsoft, a new refresh token).
/// `granted_scopes` is what the grant holds, when known.
pub async fn refresh(
    http: &reqwest::Client,
    settings: &Settings,
    platform: Platform,
    client: &ClientCredentials,
    refresh_token: &str,
    granted_scopes: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let (url, scope) = match platform {
        // Google: no scope on refresh, the grant's scopes apply.
        Platform::Google => (&settings.providers.google_token, None),
        Platform::Microsoft => (
            &settings.providers.microsoft_token,
            granted_scopes.map(microsoft::refresh_scope),
        ),
    };
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.as_str()),
    ];
    if let Some(s) = scope.as_deref() {
        form.push(("scope", s));
    }
    let result = token_request(platform, http, url, &form).await;
    crate::metrics::token_refresh(
        platform,
        match &result {
            Ok(_) => "ok",
            Err(OAuthError::Permanent { .. }) => "refused",
            Err(_) => "transient",
        },
    );
    result
}

/// The email of the connected account, from the sources providers.md names, in its order.
/// None when no source works; that never fails a connection.
pub async fn discover_email(
    http: &reqwest::Client,
    settings: &Settings,
    platform: Platform,
    token: &TokenResponse,
    granted_scopes: Option<&str>,
) -> Option<String> {
    match platform {
        Platform::Google => google::discover_email(http, settings, token, granted_scopes).await,
        Platform::Microsoft => {
            microsoft::discover_email(http, settings, token, granted_scopes).await
        }
    }
}

/// The payload claims of a JWT, without checking its signature.
///
/// Only used on an `id_token` that came in the token endpoint's answer over TLS, straight
/// from the provider to us (OpenID Connect Core §3.1.3.7 allows TLS server validation in
/// place of the signature for this case), and only to read the account's email.
pub fn id_token_claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A GET with a bearer token returning JSON, or None on any failure (email discovery is
/// best effort).
async fn get_json(
    http: &reqwest::Client,
    url: &str,
    access_token: &str,
) -> Option<serde_json::Value> {
    let res = http
        .get(url)
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .ok()?;
    if !res.status().is_success() {
        tracing::debug!(status = res.status().as_u16(), "email source refused");
        return None;
    }
    res.json().await.ok()
}

/// True when the space-separated `scopes` hold `wanted` (case-insensitive, with or without a
/// resource prefix such as `https://graph.microsoft.com/`).
pub fn has_scope(scopes: &str, wanted: &str) -> bool {
    let wanted = wanted.to_ascii_lowercase();
    scopes.split_whitespace().any(|s| {
        let s = s.to_ascii_lowercase();
        s == wanted || s.rsplit('/').next() == Some(wanted.as_str())
    })
}

fn plausible_email(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() <= 320 && s.contains('@') && !s.chars().any(char::is_whitespace))
        .then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(error: &str, code: u32) -> String {
        serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: Something. Trace ID: abc\r\nCorrelation ID: def"),
            "error_codes": [code],
        })
        .to_string()
    }

    #[test]
    fn permanent_errors() {
        for code in PERMANENT_AADSTS {
            let e = classify_error(400, None, &ms("invalid_grant", code));
            assert_eq!(
                e,
                OAuthError::Permanent {
                    code: format!("AADSTS{code}"),
                    message: format!("AADSTS{code}: Something."),
                }
            );
        }
        // interaction_required with an AADSTS code outside the list is still permanent.
        let e = classify_error(400, None, &ms("interaction_required", 50158));
        assert!(matches!(e, OAuthError::Permanent { .. }), "{e:?}");
        let e = classify_error(
            400,
            None,
            r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
        );
        assert_eq!(
            e,
            OAuthError::Permanent {
                code: "invalid_grant".into(),
                message: "Token has been expired or revoked.".into()
            }
        );
        let e = classify_error(400, None, r#"{"error":"consent_required"}"#);
        assert!(matches!(e, OAuthError::Permanent { .. }));
        // Code only in the description (no error_codes array).
        let e = classify_error(
            400,
            None,
            r#"{"error":"invalid_request","error_description":"AADSTS65001: consent"}"#,
        );
        assert_eq!(e.code(), "AADSTS65001");
        assert!(matches!(e, OAuthError::Permanent { .. }));
    }

    #[test]
    fn operator_client_refusals() {
        let e = classify_error(
            401,
            None,
            r#"{"error":"invalid_client","error_description":"Unauthorized"}"#,
        );
        assert_eq!(e.code(), "invalid_client");
        assert!(matches!(e, OAuthError::ClientRefused { .. }));
        for code in [7000215, 7000222, 7000218] {
            let e = classify_error(401, None, &ms("invalid_client", code));
            assert_eq!(e.code(), format!("AADSTS{code}"));
            assert!(matches!(e, OAuthError::ClientRefused { .. }), "{e:?}");
        }
        let e = classify_error(400, None, &ms("unauthorized_client", 700016));
        assert!(matches!(e, OAuthError::ClientRefused { .. }));
        for body in [
            r#"{"error":"deleted_client","error_description":"The OAuth client was deleted."}"#,
            r#"{"error":"unauthorized_client","error_description":"Unauthorized"}"#,
        ] {
            assert!(matches!(
                classify_error(401, None, body),
                OAuthError::ClientRefused { .. }
            ));
        }
    }

    #[test]
    fn transient_errors() {
        let e = classify_error(429, Some(Duration::from_secs(120)), "{}");
        assert_eq!(
            e,
            OAuthError::Transient {
                message: "rate limited by the provider (429)".into(),
                retry_after: Some(Duration::from_secs(120))
            }
        );
        for body in [
            "",
            "<html>oops</html>",
            &ms("temporarily_unavailable", 90033),
        ] {
            let e = classify_error(503, None, body);
            assert!(matches!(e, OAuthError::Transient { .. }), "{body}");
        }
        let e = classify_error(400, None, &ms("temporarily_unavailable", 90033));
        assert!(matches!(e, OAuthError::Transient { .. }));
    }

    #[test]
    fn other_errors_are_not_disconnects() {
        let e = classify_error(400, None, r#"{"error":"invalid_request"}"#);
        assert_eq!(e.code(), "invalid_request");
        assert!(matches!(e, OAuthError::Other { .. }));
        let e = classify_error(400, None, "not json");
        assert!(matches!(e, OAuthError::Other { .. }));
        // A Microsoft code that is not in the list (e.g. a reused code) is not a disconnect.
        let e = classify_error(400, None, &ms("invalid_request", 900144));
        assert!(matches!(e, OAuthError::Other { .. }));
    }

    #[test]
    fn id_token_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"email":"a@b.test"}"#);
        let jwt = format!("eyJhbGciOiJub25lIn0.{payload}.junk");
        assert_eq!(id_token_claims(&jwt).unwrap()["email"], "a@b.test");
        assert!(id_token_claims("nope").is_none());
    }

    #[test]
    fn scopes() {
        let s = "https://graph.microsoft.com/Calendars.Read openid email offline_access";
        assert!(has_scope(s, "calendars.read"));
        assert!(has_scope(s, "offline_access"));
        assert!(!has_scope(s, "User.Read"));
        assert!(has_scope(
            "https://www.googleapis.com/auth/userinfo.email",
            "userinfo.email"
        ));
    }
}
