//! Finding the meeting link of a calendar event.
//!
//! Order (api.md): the provider's own join link, then `location`, then the description /
//! body. Free text is turned into plain text first (HTML tags dropped but `href`s kept,
//! entities decoded), every URL in it is unwrapped from redirectors (Outlook SafeLinks,
//! Google's `/url?q=`, Proofpoint v3) and classified. Among several meeting links in one
//! field the platform priority decides (Zoom, Google Meet, Teams, Webex, GoTo, then Chime and
//! Slack), the first one in the text breaking ties. Links are canonicalized (tracking
//! parameters dropped, a Zoom `pwd` / Teams `p` kept) so that the same meeting seen from two
//! calendars yields the same URL, which bot de-duplication relies on.

use serde_json::{json, Value};
use url::Url;

#[cfg(test)]
mod corpus;
mod text;

pub use text::{decode_entities, html_to_text, urls_in_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeetingPlatform {
    Zoom,
    GoogleMeet,
    MicrosoftTeams,
    MicrosoftTeamsLive,
    Webex,
    GotoMeeting,
    ChimeSdk,
    SlackHuddleObserver,
}

impl MeetingPlatform {
    pub const ALL: [MeetingPlatform; 8] = [
        MeetingPlatform::Zoom,
        MeetingPlatform::GoogleMeet,
        MeetingPlatform::MicrosoftTeams,
        MeetingPlatform::MicrosoftTeamsLive,
        MeetingPlatform::Webex,
        MeetingPlatform::GotoMeeting,
        MeetingPlatform::ChimeSdk,
        MeetingPlatform::SlackHuddleObserver,
    ];

    /// The API value (`meeting_platform`).
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingPlatform::Zoom => "zoom",
            MeetingPlatform::GoogleMeet => "google_meet",
            MeetingPlatform::MicrosoftTeams => "microsoft_teams",
            MeetingPlatform::MicrosoftTeamsLive => "microsoft_teams_live",
            MeetingPlatform::Webex => "webex",
            MeetingPlatform::GotoMeeting => "goto_meeting",
            MeetingPlatform::ChimeSdk => "chime_sdk",
            MeetingPlatform::SlackHuddleObserver => "slack_huddle_observer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// A human label (admin pages).
    pub fn label(self) -> &'static str {
        match self {
            MeetingPlatform::Zoom => "Zoom",
            MeetingPlatform::GoogleMeet => "Google Meet",
            MeetingPlatform::MicrosoftTeams => "Microsoft Teams",
            MeetingPlatform::MicrosoftTeamsLive => "Teams (personal)",
            MeetingPlatform::Webex => "Webex",
            MeetingPlatform::GotoMeeting => "GoTo Meeting",
            MeetingPlatform::ChimeSdk => "Amazon Chime",
            MeetingPlatform::SlackHuddleObserver => "Slack huddle",
        }
    }

    /// Lower wins when one field holds links of several platforms.
    fn priority(self) -> u8 {
        match self {
            MeetingPlatform::Zoom => 0,
            MeetingPlatform::GoogleMeet => 1,
            MeetingPlatform::MicrosoftTeams | MeetingPlatform::MicrosoftTeamsLive => 2,
            MeetingPlatform::Webex => 3,
            MeetingPlatform::GotoMeeting => 4,
            MeetingPlatform::ChimeSdk => 5,
            MeetingPlatform::SlackHuddleObserver => 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingLink {
    pub platform: MeetingPlatform,
    /// Canonical URL.
    pub url: String,
}

/// The event's meeting link: provider join link, then location, then description.
pub fn detect(
    join_link: Option<&str>,
    location: Option<&str>,
    description: Option<&str>,
) -> Option<MeetingLink> {
    [join_link, location, description]
        .into_iter()
        .flatten()
        .find_map(best_in_text)
}

/// The best meeting link in one field of free text (plain or HTML).
pub fn best_in_text(text: &str) -> Option<MeetingLink> {
    if text.trim().is_empty() {
        return None;
    }
    let plain = html_to_text(text);
    urls_in_text(&plain)
        .iter()
        .filter_map(|u| classify(u))
        .enumerate()
        .min_by_key(|(i, l)| (l.platform.priority(), *i))
        .map(|(_, l)| l)
}

/// Classifies one URL (redirect wrappers removed first); `None` for anything that is not a
/// joinable meeting of a known platform (marketing pages, help links, dial-in pages).
pub fn classify(raw: &str) -> Option<MeetingLink> {
    let mut url = parse_url(raw)?;
    for _ in 0..3 {
        match unwrap_redirect(&url) {
            Some(inner) => url = inner,
            None => break,
        }
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    let segs: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let link = |platform, url: String| Some(MeetingLink { platform, url });

    if host_in(host, &["zoom.us", "zoom.com", "zoomgov.com"]) {
        let ok = match segs.as_slice() {
            ["j" | "w" | "s", id, ..] => is_zoom_id(id),
            ["my", name, ..] => is_slug(name),
            ["wc", "join", id, ..] => is_zoom_id(id),
            ["wc", id, "join" | "start", ..] => is_zoom_id(id),
            _ => false,
        };
        if !ok {
            return None;
        }
        let mut out = format!("https://{host}{}", url.path().trim_end_matches('/'));
        if let Some(pwd) = query_param(&url, "pwd") {
            out.push_str("?pwd=");
            out.push_str(&encode_component(&pwd));
        }
        return link(MeetingPlatform::Zoom, out);
    }
    if host == "meet.google.com" {
        return match segs.as_slice() {
            [code] if is_meet_code(code) => link(
                MeetingPlatform::GoogleMeet,
                format!("https://meet.google.com/{}", code.to_ascii_lowercase()),
            ),
            ["lookup", name] if is_slug(name) => link(
                MeetingPlatform::GoogleMeet,
                format!("https://meet.google.com/lookup/{name}"),
            ),
            _ => None,
        };
    }
    if host_in(
        host,
        &[
            "teams.microsoft.com",
            "teams.cloud.microsoft",
            "teams.microsoft.us",
        ],
    ) {
        return match segs.as_slice() {
            ["l", "meetup-join", _, ..] => link(MeetingPlatform::MicrosoftTeams, teams_url(&url)),
            ["meet", id] if id.chars().all(|c| c.is_ascii_digit()) => {
                link(MeetingPlatform::MicrosoftTeams, teams_url(&url))
            }
            _ => None,
        };
    }
    if host == "teams.live.com" {
        return match segs.as_slice() {
            ["meet", id] if id.chars().all(|c| c.is_ascii_digit()) => {
                link(MeetingPlatform::MicrosoftTeamsLive, teams_url(&url))
            }
            _ => None,
        };
    }
    if let Some(sub) = host.strip_suffix(".webex.com") {
        if matches!(sub, "www" | "help" | "blog" | "signin" | "web" | "status") {
            return None;
        }
        let path = url.path().to_ascii_lowercase();
        let ok = match segs.as_slice() {
            ["meet" | "join", room] => is_slug(room),
            [_, "j.php" | "e.php"] | [_, "k2", "j.php"] => query_param(&url, "MTID").is_some(),
            [_, "join"] => url.query().is_some(),
            _ => path.starts_with("/wbxmjs/joinservice/") || path.starts_with("/webappng/sites/"),
        };
        return ok.then(|| MeetingLink {
            platform: MeetingPlatform::Webex,
            url: strip_fragment(&url),
        });
    }
    if host_in(host, &["gotomeeting.com", "goto.com", "gotomeet.me"]) {
        let ok = match (host, segs.as_slice()) {
            (_, ["join", id]) if host.ends_with("gotomeeting.com") => is_digits(id, 9),
            ("meet.goto.com", [id]) => is_slug(id),
            ("app.goto.com", ["meeting", id, ..]) => is_digits(id, 9),
            ("gotomeet.me", [name]) => is_slug(name),
            _ => false,
        };
        return ok.then(|| MeetingLink {
            platform: MeetingPlatform::GotoMeeting,
            url: format!("https://{host}{}", url.path().trim_end_matches('/')),
        });
    }
    if host_in(host, &["chime.aws"]) {
        let ok = match (host, segs.as_slice()) {
            ("chime.aws", [id]) => is_digits(id, 10),
            ("app.chime.aws", ["meetings", ..]) => {
                segs.len() > 1 || query_param(&url, "pin").is_some()
            }
            _ => false,
        };
        return ok.then(|| MeetingLink {
            platform: MeetingPlatform::ChimeSdk,
            url: strip_fragment(&url),
        });
    }
    if host_in(host, &["slack.com"]) {
        return match segs.as_slice() {
            ["huddle", team, channel, ..] if is_slug(team) && is_slug(channel) => link(
                MeetingPlatform::SlackHuddleObserver,
                format!("https://{host}/huddle/{team}/{channel}"),
            ),
            _ => None,
        };
    }
    None
}

/// The parsed ids of a meeting link, for V1 meetings: `(field name, object)`, e.g.
/// `("zoom_invite", {"meeting_id", "meeting_password"})`.
pub fn invite(link: &MeetingLink) -> Option<(&'static str, Value)> {
    let url = Url::parse(&link.url).ok()?;
    let segs: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).map(percent_decode).collect())
        .unwrap_or_default();
    let seg = |i: usize| segs.get(i).cloned();
    match link.platform {
        MeetingPlatform::Zoom => {
            let id = match segs.first().map(String::as_str) {
                Some("wc") if seg(1).as_deref() == Some("join") => seg(2),
                Some("wc") => seg(1),
                _ => seg(1),
            };
            Some((
                "zoom_invite",
                json!({ "meeting_id": id, "meeting_password": query_param(&url, "pwd") }),
            ))
        }
        MeetingPlatform::GoogleMeet => Some(("meet_invite", json!({ "meeting_id": segs.last() }))),
        MeetingPlatform::MicrosoftTeams | MeetingPlatform::MicrosoftTeamsLive => {
            let mut out = json!({
                "organizer_id": null, "tenant_id": null, "message_id": null, "thread_id": null,
                "meeting_id": null, "meeting_password": null,
            });
            if segs.first().map(String::as_str) == Some("meet") {
                out["meeting_id"] = json!(seg(1));
                out["meeting_password"] = json!(query_param(&url, "p"));
            } else {
                out["thread_id"] = json!(seg(2));
                out["message_id"] = json!(seg(3));
                if let Some(ctx) = query_param(&url, "context") {
                    if let Ok(v) = serde_json::from_str::<Value>(&ctx) {
                        out["tenant_id"] = v.get("Tid").cloned().unwrap_or(Value::Null);
                        out["organizer_id"] = v.get("Oid").cloned().unwrap_or(Value::Null);
                    }
                }
            }
            Some(("teams_invite", out))
        }
        MeetingPlatform::Webex => {
            let host = url.host_str()?.to_string();
            let subdomain = host.strip_suffix(".webex.com").map(|s| {
                s.strip_suffix(".my")
                    .unwrap_or(s)
                    .rsplit('.')
                    .next()
                    .unwrap_or(s)
                    .to_string()
            });
            let personal = match segs.first().map(String::as_str) {
                Some("meet" | "join") => seg(1),
                _ => None,
            };
            Some((
                "webex_invite",
                json!({
                    "meeting_subdomain": subdomain,
                    "meeting_mtid": query_param(&url, "MTID"),
                    "meeting_path": url.path(),
                    "meeting_personal_room_id": personal,
                }),
            ))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------- URL helpers

fn parse_url(raw: &str) -> Option<Url> {
    let url = Url::parse(raw.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The URL a redirector wraps: Outlook SafeLinks, Google `/url?q=`, Proofpoint v3.
fn unwrap_redirect(url: &Url) -> Option<Url> {
    let host = url.host_str()?.to_ascii_lowercase();
    if host.ends_with("safelinks.protection.outlook.com")
        || host.ends_with("safelinks.protection.office365.us")
    {
        return query_param(url, "url").and_then(|u| parse_url(&u));
    }
    if (host == "www.google.com" || host == "google.com") && url.path() == "/url" {
        return query_param(url, "q")
            .or_else(|| query_param(url, "url"))
            .and_then(|u| parse_url(&u));
    }
    if host == "urldefense.com" && url.path().starts_with("/v3/__") {
        let s = url.as_str();
        let start = s.find("/v3/__")? + 6;
        let end = s[start..].find("__;").map(|e| start + e).unwrap_or(s.len());
        return parse_url(&s[start..end]);
    }
    None
}

fn host_in(host: &str, domains: &[&str]) -> bool {
    domains
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// A query parameter (case-insensitive name), percent-decoded.
fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

fn is_zoom_id(s: &str) -> bool {
    (9..=12).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())
}

fn is_digits(s: &str, min: usize) -> bool {
    s.len() >= min && s.chars().all(|c| c.is_ascii_digit())
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// `abc-defg-hij`
fn is_meet_code(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && [3, 4, 3]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Teams links: path and the `context` / `p` parameters kept; tracking (`anon`, `deeplinkId`,
/// `_cldee`…) dropped.
fn teams_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let mut out = format!("https://{host}{}", url.path());
    // Raw pairs, so the provider's own percent-encoding survives byte for byte.
    let kept: Vec<&str> = url
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| pair.starts_with("context=") || pair.starts_with("p="))
        .collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

fn strip_fragment(url: &Url) -> String {
    let mut u = url.clone();
    u.set_fragment(None);
    u.to_string()
}

fn encode_component(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invites_are_parsed() {
        let z = classify("https://acme.zoom.us/j/81234567890?pwd=SeCrEt.1&from=addon").unwrap();
        assert_eq!(z.url, "https://acme.zoom.us/j/81234567890?pwd=SeCrEt.1");
        let (field, v) = invite(&z).unwrap();
        assert_eq!(field, "zoom_invite");
        assert_eq!(v["meeting_id"], "81234567890");
        assert_eq!(v["meeting_password"], "SeCrEt.1");

        let t = classify("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA3%40thread.v2/0?context=%7b%22Tid%22%3a%22t-1%22%2c%22Oid%22%3a%22o-2%22%7d").unwrap();
        let (field, v) = invite(&t).unwrap();
        assert_eq!(field, "teams_invite");
        assert_eq!(v["tenant_id"], "t-1");
        assert_eq!(v["organizer_id"], "o-2");
        assert_eq!(v["thread_id"], "19:meeting_NjA3@thread.v2");
        assert_eq!(v["message_id"], "0");

        let m = classify("https://meet.google.com/abc-defg-hij?authuser=1").unwrap();
        assert_eq!(invite(&m).unwrap().1["meeting_id"], "abc-defg-hij");

        let w = classify("https://acme.webex.com/acme/j.php?MTID=m0123abcd").unwrap();
        let (field, v) = invite(&w).unwrap();
        assert_eq!(field, "webex_invite");
        assert_eq!(v["meeting_subdomain"], "acme");
        assert_eq!(v["meeting_mtid"], "m0123abcd");
        let w = classify("https://globex.my.webex.com/meet/jane.doe").unwrap();
        let v = invite(&w).unwrap().1;
        assert_eq!(v["meeting_subdomain"], "globex");
        assert_eq!(v["meeting_personal_room_id"], "jane.doe");
    }
}
