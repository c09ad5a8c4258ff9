//! Plain-language errors: what an operator should read first ("Connection refused",
//! "Timed out after 15 s", "HTTP 500 from the receiver", "Refresh token revoked by the user
//! (AADSTS70008)"), with the raw client text kept for a `<details>` disclosure
//! (`templates/admin/_error.html`).

/// An error as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainError {
    /// A short sentence an operator understands.
    pub plain: String,
    /// The text as recorded, when it says more than `plain`.
    pub raw: Option<String>,
}

impl PlainError {
    fn new(plain: impl Into<String>, raw: &str) -> Self {
        let plain = plain.into();
        let raw = raw.trim();
        PlainError {
            raw: (!raw.is_empty() && raw != plain).then(|| raw.to_string()),
            plain,
        }
    }
}

/// Provider error codes worth a sentence (Microsoft AADSTS numbers, OAuth error codes).
const CODES: &[(&str, &str)] = &[
    (
        "AADSTS700082",
        "Refresh token expired after 90 days unused (AADSTS700082)",
    ),
    (
        "AADSTS70008",
        "Refresh token revoked by the user or expired (AADSTS70008)",
    ),
    (
        "AADSTS50173",
        "The grant was revoked, e.g. after a password change (AADSTS50173)",
    ),
    (
        "AADSTS65001",
        "The user or tenant administrator has not consented (AADSTS65001)",
    ),
    ("AADSTS65004", "The user declined consent (AADSTS65004)"),
    (
        "AADSTS50076",
        "Multi-factor authentication is required (AADSTS50076)",
    ),
    (
        "AADSTS50079",
        "Multi-factor enrollment is required (AADSTS50079)",
    ),
    (
        "AADSTS53003",
        "Blocked by a conditional-access policy (AADSTS53003)",
    ),
    (
        "AADSTS7000215",
        "The Microsoft client secret is wrong (AADSTS7000215)",
    ),
    (
        "AADSTS7000222",
        "The Microsoft client secret has expired (AADSTS7000222)",
    ),
    (
        "deleted_client",
        "The Google OAuth client was deleted (deleted_client)",
    ),
    (
        "invalid_client",
        "The OAuth client ID or secret was refused (invalid_client)",
    ),
    (
        "unauthorized_client",
        "The OAuth client is not allowed this grant (unauthorized_client)",
    ),
    (
        "invalid_grant",
        "Refresh token revoked by the user or expired (invalid_grant)",
    ),
    (
        "interaction_required",
        "The user must sign in again (interaction_required)",
    ),
    (
        "consent_required",
        "The user must consent again (consent_required)",
    ),
];

/// Explains a recorded error text.
pub fn explain(raw: &str) -> PlainError {
    let lower = raw.to_ascii_lowercase();
    for (code, sentence) in CODES {
        if raw.contains(code) {
            return PlainError::new(*sentence, raw);
        }
    }
    let plain = if lower.contains("connection refused") || lower.contains("os error 111") {
        "Connection refused (nothing listens at that address)"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "Timed out"
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "The host name does not resolve (DNS)"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("ssl") {
        "TLS handshake failed (certificate or protocol)"
    } else if lower.contains("connection reset") || lower.contains("broken pipe") {
        "The connection was reset"
    } else if lower.contains("incompletemessage")
        || lower.contains("connection closed")
        || lower.contains("unexpected eof")
    {
        "The connection closed before an answer arrived"
    } else if lower.contains("rate limit") || says_status_429(&lower) {
        "Rate limited by the provider (HTTP 429)"
    } else if lower.contains("not sent: cannot sign") {
        "Not sent: the signing secret could not be opened (master key?)"
    } else {
        return PlainError {
            plain: first_sentence(raw),
            raw: (first_sentence(raw) != raw.trim()).then(|| raw.trim().to_string()),
        };
    };
    PlainError::new(plain, raw)
}

/// A webhook attempt's outcome: the transport error if any, else the receiver's status.
pub fn attempt(
    status_code: Option<i64>,
    error: Option<&str>,
    timeout_secs: u64,
) -> Option<PlainError> {
    match (error, status_code) {
        (Some(e), _) => {
            let mut p = explain(e);
            if p.plain == "Timed out" {
                p.plain = format!("Timed out after {timeout_secs} s");
            }
            Some(p)
        }
        (None, Some(code)) if !(200..300).contains(&code) => Some(PlainError {
            plain: match code {
                410 => "HTTP 410 Gone from the receiver (endpoint disabled)".to_string(),
                429 => "HTTP 429 from the receiver (rate limited)".to_string(),
                c => format!("HTTP {c} from the receiver"),
            },
            raw: None,
        }),
        (None, Some(code)) => Some(PlainError {
            plain: format!("HTTP {code}"),
            raw: None,
        }),
        (None, None) => None,
    }
}

/// Whether a (lower-cased) text reports the HTTP status 429 the way Convene writes
/// statuses ("HTTP 429", "Zoom answered 429", "status 429", "429 Too Many Requests"), so
/// an id or a URL that merely contains the digits does not read as rate limiting.
fn says_status_429(lower: &str) -> bool {
    const BEFORE: &[&str] = &["http ", "answered ", "status ", "status: ", "error "];
    lower.match_indices("429").any(|(at, _)| {
        let (head, tail) = (&lower[..at], &lower[at + 3..]);
        let alone = !head.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !tail.starts_with(|c: char| c.is_ascii_alphanumeric());
        alone
            && (BEFORE.iter().any(|b| head.ends_with(b)) || tail.starts_with(" too many requests"))
    })
}

/// Up to the first `: ` or 120 characters: the words before a chain of causes.
fn first_sentence(raw: &str) -> String {
    let raw = raw.trim();
    let head = raw.split(": ").next().unwrap_or(raw);
    if head.chars().count() > 120 {
        format!("{}…", head.chars().take(120).collect::<String>())
    } else {
        head.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_read_as_sentences_with_the_raw_text_kept() {
        let raw = "connection failed: error sending request: client error (Connect): tcp \
                   connect error: Connection refused (os error 111)";
        let e = attempt(None, Some(raw), 15).unwrap();
        assert!(e.plain.starts_with("Connection refused"));
        assert_eq!(e.raw.as_deref(), Some(raw));
        let t = attempt(None, Some("timed out: operation timed out"), 15).unwrap();
        assert_eq!(t.plain, "Timed out after 15 s");
        assert_eq!(
            attempt(Some(500), None, 15).unwrap().plain,
            "HTTP 500 from the receiver"
        );
        assert!(explain("AADSTS70008: The refresh token has expired")
            .plain
            .contains("AADSTS70008"));
        assert!(explain("invalid_grant: Token has been expired or revoked.")
            .plain
            .starts_with("Refresh token revoked"));
        assert_eq!(explain("plain words").raw, None);
    }

    #[test]
    fn only_a_429_status_reads_as_rate_limiting() {
        for raw in [
            "Zoom answered 429",
            "create answered 429: slow down",
            "error (HTTP 429)",
            "status 429",
            "429 Too Many Requests",
            "rate limited by the provider (429)",
        ] {
            assert!(explain(raw).plain.starts_with("Rate limited"), "{raw}");
        }
        for raw in [
            "google answered 404: event evt_84291c not found",
            "graph answered 400: bad id 429",
            "the access_token_callback_url answered 500: https://cb.example/u/429/token",
        ] {
            assert!(!explain(raw).plain.starts_with("Rate limited"), "{raw}");
        }
    }
}
