//! A calendar event normalized from a provider's JSON: what the store keeps and the APIs
//! show. `sync::normalize` builds it; `store::events` writes it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One attendee as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub name: Option<String>,
    pub email: String,
    pub is_organizer: bool,
    /// accepted | declined | tentative | not_available
    pub status: String,
}

/// An event as stored (before ids and timestamps are assigned).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NormalizedEvent {
    pub platform_id: String,
    pub ical_uid: Option<String>,
    pub start_time: i64,
    pub end_time: i64,
    pub is_all_day: bool,
    pub title: Option<String>,
    pub organizer_email: Option<String>,
    pub attendees: Vec<Attendee>,
    pub is_recurring: bool,
    pub is_hosted_by_me: bool,
    /// accepted | declined | tentative | not_available
    pub self_response: Option<String>,
    pub meeting_platform: Option<String>,
    pub meeting_url: Option<String>,
    pub is_deleted: bool,
    /// The provider's JSON for this event, byte for byte.
    pub raw: String,
}

impl NormalizedEvent {
    /// SHA-256 over every stored field (serialized in a fixed order) and `raw`.
    pub fn content_hash(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("normalized event serializes");
        crate::crypto::hex(&Sha256::digest(bytes))
    }
}
