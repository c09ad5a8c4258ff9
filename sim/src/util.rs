//! Small helpers: random identifiers, opaque tokens, JWT-shaped strings, time formats.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Random string over `alphabet`.
pub fn rand_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

pub fn rand_alnum(len: usize) -> String {
    rand_from(ALNUM, len)
}

/// Google event ids use base32hex lower case (`a-v0-9`).
pub fn google_event_id() -> String {
    rand_from(b"abcdefghijklmnopqrstuv0123456789", 26)
}

/// Graph event ids look like `AAMkA...` base64 strings.
pub fn microsoft_event_id() -> String {
    format!("AAMkAGVm{}AAA=", rand_alnum(60))
}

/// Google `sub`: 21 digits.
pub fn google_sub() -> String {
    let mut s = String::from("1");
    s.push_str(&rand_from(b"0123456789", 20));
    s
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Encode a serialisable value as an opaque url-safe token.
pub fn encode_token<T: Serialize>(prefix: &str, v: &T) -> String {
    let json = serde_json::to_vec(v).unwrap_or_default();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(json))
}

/// Decode a token made by [`encode_token`]; `None` when tampered with.
pub fn decode_token<T: DeserializeOwned>(prefix: &str, s: &str) -> Option<T> {
    let body = s.strip_prefix(prefix)?;
    let bytes = URL_SAFE_NO_PAD.decode(body.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// An unsigned-but-JWT-shaped token (`header.payload.signature`, base64url parts).
pub fn jwt(claims: &serde_json::Value) -> String {
    let header = serde_json::json!({"alg": "RS256", "kid": "convene-sim", "typ": "JWT"});
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let sig = URL_SAFE_NO_PAD.encode(format!("convene-sim-unsigned-{}", rand_alnum(16)));
    format!("{h}.{p}.{sig}")
}

/// PKCE S256 transform of a verifier.
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Check a PKCE verifier against a stored challenge (`S256` or `plain`).
pub fn pkce_ok(challenge: &str, method: &str, verifier: &str) -> bool {
    if method.eq_ignore_ascii_case("plain") {
        challenge == verifier
    } else {
        pkce_s256(verifier) == challenge
    }
}

/// Parse `Authorization: Basic base64(id:secret)`.
pub fn parse_basic(header: Option<&str>) -> Option<(String, String)> {
    let h = header?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(rest.trim()).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Parse `Authorization: Bearer <token>`.
pub fn parse_bearer(header: Option<&str>) -> Option<String> {
    let h = header?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") || rest.trim().is_empty() {
        return None;
    }
    Some(rest.trim().to_string())
}

/// `2026-11-23T15:00:00Z`
pub fn rfc3339_secs(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2026-11-23T15:00:00.000Z`
pub fn rfc3339_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Graph's `2026-11-23T15:00:00.0000000` (no offset; the zone is given aside).
pub fn graph_datetime(t: DateTime<Utc>) -> String {
    format!("{}.0000000", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// Graph's `lastModifiedDateTime`: `2026-11-23T15:00:00.1234567Z`.
pub fn graph_timestamp(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

pub fn date_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Parse an RFC 3339 time, or (lenient, Graph style) a naive date-time taken as UTC.
pub fn parse_time_lenient(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(date_start)
}

/// Strict RFC 3339 (Google's timeMin/timeMax must carry an offset).
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Plain text of an HTML fragment (for Graph's `bodyPreview`), at most 255 chars.
pub fn html_preview(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(300));
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let collapsed: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(255).collect()
}

/// Split a space (or comma) separated scope string.
pub fn split_scopes(s: &str) -> Vec<String> {
    s.split([' ', ',', '+'])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}
