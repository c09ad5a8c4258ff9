//! Public data types of the simulator: providers, endpoints, faults, accounts and events.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// The three simulated providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Google,
    Microsoft,
    Zoom,
}

impl Provider {
    /// Lower-case name (`google`, `microsoft`, `zoom`), also the URL prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Zoom => "zoom",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Identifier of a simulated account. It is also the provider-facing user id:
/// Google `sub` (digits), Microsoft object id (UUID), Zoom user `id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub String);

impl AccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AccountId {
    fn from(s: &str) -> Self {
        AccountId(s.to_string())
    }
}

impl From<String> for AccountId {
    fn from(s: String) -> Self {
        AccountId(s)
    }
}

/// Provider endpoints that are counted and can carry injected faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    GoogleAuthorize,
    GoogleToken,
    /// `GET /google/calendar/v3/calendars/primary/events`
    GoogleEvents,
    /// `GET /google/calendar/v3/calendars/primary`
    GoogleCalendar,
    /// `GET /google/oauth2/v3/userinfo`
    GoogleUserinfo,
    MicrosoftAuthorize,
    MicrosoftToken,
    /// `GET /microsoft/graph/v1.0/me/calendarView/delta`
    MicrosoftDelta,
    /// `GET /microsoft/graph/v1.0/me`
    MicrosoftMe,
    /// `GET /microsoft/graph/v1.0/me/calendar`
    MicrosoftCalendar,
    ZoomAuthorize,
    ZoomToken,
    /// `GET /zoom/v2/users/me`
    ZoomUsersMe,
    /// `GET /zoom/v2/users/{me|id}/meetings`
    ZoomMeetings,
    /// `GET /zoom/v2/users` (account-level apps)
    ZoomUsers,
    /// `GET /zoom/v2/users/me/token` (ZAK, on-behalf-of)
    ZoomUserToken,
    /// `GET /zoom/v2/meetings/{id}/jointoken/local_recording`
    ZoomLocalRecordingToken,
}

impl Endpoint {
    /// Every endpoint, in a stable order.
    pub const ALL: [Endpoint; 17] = [
        Endpoint::GoogleAuthorize,
        Endpoint::GoogleToken,
        Endpoint::GoogleEvents,
        Endpoint::GoogleCalendar,
        Endpoint::GoogleUserinfo,
        Endpoint::MicrosoftAuthorize,
        Endpoint::MicrosoftToken,
        Endpoint::MicrosoftDelta,
        Endpoint::MicrosoftMe,
        Endpoint::MicrosoftCalendar,
        Endpoint::ZoomAuthorize,
        Endpoint::ZoomToken,
        Endpoint::ZoomUsersMe,
        Endpoint::ZoomMeetings,
        Endpoint::ZoomUsers,
        Endpoint::ZoomUserToken,
        Endpoint::ZoomLocalRecordingToken,
    ];

    /// The provider the endpoint belongs to.
    pub fn provider(self) -> Provider {
        use Endpoint::*;
        match self {
            GoogleAuthorize | GoogleToken | GoogleEvents | GoogleCalendar | GoogleUserinfo => {
                Provider::Google
            }
            MicrosoftAuthorize | MicrosoftToken | MicrosoftDelta | MicrosoftMe
            | MicrosoftCalendar => Provider::Microsoft,
            ZoomAuthorize
            | ZoomToken
            | ZoomUsersMe
            | ZoomMeetings
            | ZoomUsers
            | ZoomUserToken
            | ZoomLocalRecordingToken => Provider::Zoom,
        }
    }

    /// snake_case name, as used by the control API.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// A fault injected on an endpoint for its next N calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// `500` with a provider-shaped error body.
    Status500,
    /// `429` with `Retry-After: <secs>` and a provider-shaped body.
    RateLimited429 { retry_after_secs: u64 },
    /// Google's `403 rateLimitExceeded` (usageLimits) body, whatever the endpoint.
    Google403RateLimitExceeded,
    /// Answer normally, but only after sleeping this long.
    Slow { millis: u64 },
    /// `200` with `Content-Type: application/json` and a truncated JSON body.
    MalformedJson,
}

/// Response of an attendee (Google names; mapped to Graph's on the Microsoft side:
/// `Tentative` → `tentativelyAccepted`, `NeedsAction` → `none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum ResponseStatus {
    Accepted,
    Declined,
    Tentative,
    #[default]
    NeedsAction,
}

/// Event status. `Cancelled` events: Google lists them only in incremental syncs (or with
/// `showDeleted=true`) as minimal `{"id","status":"cancelled"}` items; Graph shows them with
/// `isCancelled: true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    #[default]
    Confirmed,
    Tentative,
    Cancelled,
}

/// An attendee of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub response: ResponseStatus,
    /// Graph attendee type (`required` by default, or `optional`).
    #[serde(default)]
    pub optional: bool,
}

impl Attendee {
    pub fn new(email: impl Into<String>, response: ResponseStatus) -> Self {
        Attendee {
            email: email.into(),
            name: None,
            response,
            optional: false,
        }
    }
}

/// Which video platform a conference link belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConferenceKind {
    /// Google: `hangoutLink` + conferenceData `hangoutsMeet`.
    Meet,
    /// Google: conferenceData `addOn` "Zoom Meeting".
    Zoom,
    /// Microsoft: `onlineMeetingProvider: teamsForBusiness`.
    Teams,
    Webex,
    Other,
}

/// A conference (video) link. Google renders it in `conferenceData.entryPoints[]`
/// (plus `hangoutLink` for Meet); Microsoft as `isOnlineMeeting` + `onlineMeeting.joinUrl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conference {
    pub kind: ConferenceKind,
    pub url: String,
}

/// Recurrence of a series, expanded into instances at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "freq", rename_all = "lowercase")]
pub enum Recurrence {
    Daily { count: u32 },
    Weekly { count: u32 },
}

/// Start/end of an event: a timed range or an all-day range (`end_date` exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventWhen {
    Timed {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    AllDay {
        start_date: NaiveDate,
        end_date: NaiveDate,
    },
}

/// Description of an event to create; build it with [`EventSpec::new`] or
/// [`EventSpec::all_day`] and the chained setters.
///
/// ```no_run
/// # use convene_sim::*; use chrono::*;
/// let start = Utc::now() + Duration::hours(2);
/// let spec = EventSpec::new("Standup", start, start + Duration::minutes(30))
///     .description("<p>Join: https://zoom.us/j/123</p>")
///     .attendee("bob@other.test", ResponseStatus::Accepted)
///     .meet("https://meet.google.com/abc-defg-hij")
///     .weekly(4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSpec {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    pub when: EventWhen,
    #[serde(default)]
    pub recurrence: Option<Recurrence>,
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    /// Organizer email; `None` = the account itself.
    #[serde(default)]
    pub organizer: Option<String>,
    /// The account's own response; default: accepted when organizer, else needsAction.
    #[serde(default)]
    pub self_response: Option<ResponseStatus>,
    #[serde(default)]
    pub conference: Option<Conference>,
    #[serde(default)]
    pub status: EventStatus,
}

impl EventSpec {
    /// A timed event.
    pub fn new(title: impl Into<String>, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self::with_when(title, EventWhen::Timed { start, end })
    }

    /// An all-day event over `days` days from `date`.
    pub fn all_day(title: impl Into<String>, date: NaiveDate, days: u32) -> Self {
        let end_date = date + chrono::Duration::days(days.max(1) as i64);
        Self::with_when(
            title,
            EventWhen::AllDay {
                start_date: date,
                end_date,
            },
        )
    }

    fn with_when(title: impl Into<String>, when: EventWhen) -> Self {
        EventSpec {
            title: title.into(),
            description: None,
            location: None,
            when,
            recurrence: None,
            attendees: Vec::new(),
            organizer: None,
            self_response: None,
            conference: None,
            status: EventStatus::Confirmed,
        }
    }

    pub fn description(mut self, html: impl Into<String>) -> Self {
        self.description = Some(html.into());
        self
    }
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
    /// Daily series of `count` occurrences.
    pub fn daily(mut self, count: u32) -> Self {
        self.recurrence = Some(Recurrence::Daily { count });
        self
    }
    /// Weekly series of `count` occurrences.
    pub fn weekly(mut self, count: u32) -> Self {
        self.recurrence = Some(Recurrence::Weekly { count });
        self
    }
    pub fn attendee(mut self, email: impl Into<String>, response: ResponseStatus) -> Self {
        self.attendees.push(Attendee::new(email, response));
        self
    }
    pub fn attendee_full(mut self, attendee: Attendee) -> Self {
        self.attendees.push(attendee);
        self
    }
    /// Someone else organizes (the account is then an attendee).
    pub fn organizer(mut self, email: impl Into<String>) -> Self {
        self.organizer = Some(email.into());
        self
    }
    pub fn self_response(mut self, response: ResponseStatus) -> Self {
        self.self_response = Some(response);
        self
    }
    pub fn conference(mut self, kind: ConferenceKind, url: impl Into<String>) -> Self {
        self.conference = Some(Conference {
            kind,
            url: url.into(),
        });
        self
    }
    pub fn meet(self, url: impl Into<String>) -> Self {
        self.conference(ConferenceKind::Meet, url)
    }
    pub fn zoom(self, url: impl Into<String>) -> Self {
        self.conference(ConferenceKind::Zoom, url)
    }
    pub fn teams(self, url: impl Into<String>) -> Self {
        self.conference(ConferenceKind::Teams, url)
    }
    pub fn status(mut self, status: EventStatus) -> Self {
        self.status = status;
        self
    }
}

fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A partial change of an event (or of every instance of a series when applied to the
/// series id). `None` fields are left alone; `Some(None)` clears an optional field
/// (JSON: absent = unchanged, `null` = clear).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPatch {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub location: Option<Option<String>>,
    #[serde(default)]
    pub attendees: Option<Vec<Attendee>>,
    #[serde(default, deserialize_with = "double_option")]
    pub organizer: Option<Option<String>>,
    #[serde(default)]
    pub self_response: Option<ResponseStatus>,
    #[serde(default, deserialize_with = "double_option")]
    pub conference: Option<Option<Conference>>,
    #[serde(default)]
    pub status: Option<EventStatus>,
}

impl EventPatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.title = Some(t.into());
        self
    }
    pub fn description(mut self, d: Option<&str>) -> Self {
        self.description = Some(d.map(str::to_string));
        self
    }
    pub fn location(mut self, l: Option<&str>) -> Self {
        self.location = Some(l.map(str::to_string));
        self
    }
    pub fn attendees(mut self, a: Vec<Attendee>) -> Self {
        self.attendees = Some(a);
        self
    }
    pub fn organizer(mut self, o: Option<&str>) -> Self {
        self.organizer = Some(o.map(str::to_string));
        self
    }
    pub fn self_response(mut self, r: ResponseStatus) -> Self {
        self.self_response = Some(r);
        self
    }
    pub fn conference(mut self, c: Option<Conference>) -> Self {
        self.conference = Some(c);
        self
    }
    pub fn status(mut self, s: EventStatus) -> Self {
        self.status = Some(s);
        self
    }
}

/// Options for [`crate::SimHandle::create_account_with`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSpec {
    pub provider: Provider,
    /// The sign-in address (Google email, Microsoft userPrincipalName, Zoom email).
    pub email: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Microsoft only: set `mail` to null (then only `userPrincipalName` carries the address
    /// and the id_token has no `email` claim).
    #[serde(default)]
    pub no_mail: bool,
    /// Zoom only: put the user into this existing Zoom account.
    #[serde(default)]
    pub zoom_account_id: Option<String>,
}

impl AccountSpec {
    pub fn new(provider: Provider, email: impl Into<String>) -> Self {
        AccountSpec {
            provider,
            email: email.into(),
            display_name: None,
            no_mail: false,
            zoom_account_id: None,
        }
    }
    pub fn display_name(mut self, n: impl Into<String>) -> Self {
        self.display_name = Some(n.into());
        self
    }
    pub fn no_mail(mut self) -> Self {
        self.no_mail = true;
        self
    }
}

/// Public view of a simulated account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub account_id: AccountId,
    pub provider: Provider,
    pub email: String,
    pub display_name: String,
    /// Microsoft `mail` (None when created with `no_mail`); equal to `email` elsewhere.
    pub mail: Option<String>,
    /// Zoom account id (several users may share one).
    pub zoom_account_id: Option<String>,
}

/// An OAuth client (app registration) known to the simulator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub provider: Provider,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

/// Result of [`crate::SimHandle::generate`] for one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedAccount {
    pub provider: Provider,
    pub account_id: AccountId,
    pub email: String,
    pub client_id: String,
    pub client_secret: String,
    /// A valid refresh token for (client, account) with the seed scopes.
    pub refresh_token: String,
    /// Number of `create_event` calls (a series counts once).
    pub events_created: usize,
    /// Number of recurring series among them.
    pub series: usize,
    /// Number of stored event records listed by the provider (single events + instances,
    /// cancelled included).
    pub instances: usize,
    /// Items a full sync over `[now - 1 day, now + 30 days]` lists for this provider:
    /// Google leaves cancelled items out, Graph keeps them (`isCancelled: true`).
    pub full_sync_items: usize,
}

/// Snapshot of an event as stored (for assertions and the control API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInfo {
    pub id: String,
    pub series_id: Option<String>,
    pub title: String,
    pub when: EventWhen,
    pub status: EventStatus,
    pub deleted: bool,
    pub is_master: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_of_control_enums() {
        let names: Vec<String> = [
            Fault::Status500,
            Fault::RateLimited429 {
                retry_after_secs: 1,
            },
            Fault::Google403RateLimitExceeded,
            Fault::Slow { millis: 1 },
            Fault::MalformedJson,
        ]
        .iter()
        .map(|f| {
            serde_json::to_value(f).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
        assert_eq!(
            names,
            [
                "status500",
                "rate_limited429",
                "google403_rate_limit_exceeded",
                "slow",
                "malformed_json"
            ]
        );
        assert_eq!(Endpoint::MicrosoftDelta.name(), "microsoft_delta");
        assert_eq!(Endpoint::ZoomUsersMe.name(), "zoom_users_me");
    }
}
