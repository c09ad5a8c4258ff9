//! Query-parameter parsing shared by the list endpoints: time filters and booleans, each
//! failing with the field's name in a `400`.

use crate::error::ApiError;

/// Parses an API time filter: RFC 3339 (a `+` turned into a space by form decoding is
/// repaired), a naive date-time taken as UTC, or a date.
pub fn parse_time(field: &str, value: &str) -> Result<i64, ApiError> {
    let v = value.trim();
    let bad = || {
        ApiError::field(
            field,
            "Enter a valid date/time (RFC 3339, e.g. 2026-11-23T15:00:00Z).",
        )
    };
    for candidate in [v.to_string(), v.replace(' ', "+")] {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&candidate) {
            return Ok(t.timestamp_millis());
        }
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(t.and_utc().timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .ok_or_else(bad)?
            .and_utc()
            .timestamp_millis());
    }
    Err(bad())
}

pub fn parse_bool(field: &str, value: &str) -> Result<bool, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::field(field, "Must be true or false.")),
    }
}
