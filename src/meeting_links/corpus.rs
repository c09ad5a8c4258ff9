//! Table-driven corpus: real-looking join links, locations and invitation bodies, including
//! false friends (help and marketing pages, dial-in links, signatures).

use super::*;

struct Case {
    name: &'static str,
    join: Option<&'static str>,
    location: Option<&'static str>,
    description: Option<&'static str>,
    /// (meeting_platform, meeting_url), or None when nothing should be detected.
    want: Option<(&'static str, &'static str)>,
}

const fn desc(
    name: &'static str,
    description: &'static str,
    want: Option<(&'static str, &'static str)>,
) -> Case {
    Case {
        name,
        join: None,
        location: None,
        description: Some(description),
        want,
    }
}

const fn loc(
    name: &'static str,
    location: &'static str,
    want: Option<(&'static str, &'static str)>,
) -> Case {
    Case {
        name,
        join: None,
        location: Some(location),
        description: None,
        want,
    }
}

const fn join(
    name: &'static str,
    join: &'static str,
    want: Option<(&'static str, &'static str)>,
) -> Case {
    Case {
        name,
        join: Some(join),
        location: None,
        description: None,
        want,
    }
}

const TEAMS_LINK: &str = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_ZjQ5MmRlNGQtYjk2Ny00NzQ5LWJhMjEtYzY0ZDc1NjEwMTM0%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c%22Oid%22%3a%22a1b2c3d4-0000-4000-8000-123456789abc%22%7d";

const OUTLOOK_TEAMS_BODY: &str = r#"<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style type="text/css">p { margin: 0 }</style></head><body><div>
<div style="width:100%">________________________________________________________________________________</div>
<div class="me-email-text" lang="en-US"><div style="margin-bottom:24px"><span class="me-email-text" style="font-size:24px;font-weight:700">Microsoft Teams</span> <span style="font-size:14px"><a href="https://aka.ms/JoinTeamsMeeting?omkt=en-US" class="me-email-link">Need help?</a></span></div>
<div style="margin-bottom:6px"><a class="me-email-headline" href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_ZjQ5MmRlNGQtYjk2Ny00NzQ5LWJhMjEtYzY0ZDc1NjEwMTM0%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c%22Oid%22%3a%22a1b2c3d4-0000-4000-8000-123456789abc%22%7d" target="_blank" rel="noreferrer noopener">Join the meeting now</a></div>
<div style="margin-bottom:6px"><span>Meeting ID: </span><span>245 718 903 112</span></div>
<div style="margin-bottom:24px"><span>Passcode: </span><span>Ab3Cd7</span></div>
<div>For organizers: <a href="https://teams.microsoft.com/meetingOptions/?organizerId=a1b2c3d4&amp;tenantId=72f988bf&amp;threadId=19_meeting_ZjQ5@thread.v2&amp;messageId=0&amp;language=en-US">Meeting options</a> | <a href="https://dialin.teams.microsoft.com/usp/pstnconferencing">Reset dial-in PIN</a></div>
</div></div></body></html>"#;

const SAFELINKED_ZOOM_BODY: &str = r#"<html><body><p>Hi team,</p><p>Join Zoom Meeting<br>
<a href="https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fus02web.zoom.us%2Fj%2F85512345678%3Fpwd%3DdUhBN2xTUmZ6d1Z4bG5XQ2hHQT09&amp;data=05%7C02%7C%7Cb2d1%7C72f988bf86f141af91ab2d7cd011db47%7C1%7C0%7C638400000000000000%7CUnknown&amp;sdata=abc%3D&amp;reserved=0" originalsrc="https://us02web.zoom.us/j/85512345678?pwd=dUhBN2xTUmZ6d1Z4bG5XQ2hHQT09">https://us02web.zoom.us/j/85512345678?pwd=dUhBN2xTUmZ6d1Z4bG5XQ2hHQT09</a></p>
<p>Meeting ID: 855 1234 5678<br>Passcode: 918273</p>
<p>Find your local number: <a href="https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fus02web.zoom.us%2Fu%2Fkd2P8Xyz&amp;data=05">https://us02web.zoom.us/u/kd2P8Xyz</a></p></body></html>"#;

const GOOGLE_ZOOM_ADDON_DESC: &str = "──────────\n\nHi there,\n\nPriya Patel is inviting you to a scheduled Zoom meeting.\n\nJoin Zoom Meeting\nhttps://acme.zoom.us/j/93456781234?pwd=R0F6cUh4b3NqVU1wS0l5Y0RQd2pMdz09&from=addon\n\nMeeting ID: 934 5678 1234\nPasscode: 552211\n\n---\n\nOne tap mobile\n+16694449171,,93456781234#,,,,*552211# US\n\n---\n\nJoin by SIP\n• 93456781234@zoomcrc.com\n\n---\n\nFind your local number: https://acme.zoom.us/u/abQ2xY7z\n\nJoin by Skype for Business\nhttps://acme.zoom.us/skype/93456781234\n\n──────────";

const SIGNATURE_DESC: &str = "Agenda: Q3 numbers\n\nJoin: https://zoom.us/j/6123456789?pwd=Q2F0\n\n--\nJane Doe | Head of Sales\nMy personal room: https://meet.google.com/xyz-abcd-efg\nwww.acme.test";

const CASES: &[Case] = &[
    // ---- provider join links
    join("google hangoutLink", "https://meet.google.com/abc-defg-hij", Some(("google_meet", "https://meet.google.com/abc-defg-hij"))),
    join("meet link with authuser", "https://meet.google.com/kqw-bnzx-ert?authuser=0&hs=122", Some(("google_meet", "https://meet.google.com/kqw-bnzx-ert"))),
    join("graph teams joinUrl", TEAMS_LINK, Some(("microsoft_teams", TEAMS_LINK))),
    join("zoom add-on entry point", "https://us06web.zoom.us/j/81234567890?pwd=bXJ4T2xwZ1hQa0tmU0Rr.1", Some(("zoom", "https://us06web.zoom.us/j/81234567890?pwd=bXJ4T2xwZ1hQa0tmU0Rr.1"))),
    join("webex add-on entry point", "https://acme.webex.com/acme/j.php?MTID=m3c1f0a9e2b7d4c6a8e0f1b2c3d4e5f60", Some(("webex", "https://acme.webex.com/acme/j.php?MTID=m3c1f0a9e2b7d4c6a8e0f1b2c3d4e5f60"))),
    join("teams new short link", "https://teams.microsoft.com/meet/21534678901?p=Xy9QwErT", Some(("microsoft_teams", "https://teams.microsoft.com/meet/21534678901?p=Xy9QwErT"))),
    join("teams cloud.microsoft domain", "https://teams.cloud.microsoft/l/meetup-join/19%3ameeting_AbC%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d", Some(("microsoft_teams", "https://teams.cloud.microsoft/l/meetup-join/19%3ameeting_AbC%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d"))),
    join("teams live personal", "https://teams.live.com/meet/9387465123456?p=AbCdEf12", Some(("microsoft_teams_live", "https://teams.live.com/meet/9387465123456?p=AbCdEf12"))),
    join("unknown video provider join link", "https://whereby.com/acme-standup", None),
    Case { name: "join link beats description", join: Some("https://meet.google.com/abc-defg-hij"), location: None, description: Some("Backup: https://zoom.us/j/123456789"), want: Some(("google_meet", "https://meet.google.com/abc-defg-hij")) },
    Case { name: "unknown join link falls back to location", join: Some("https://video.example.test/room/1"), location: Some("https://zoom.us/j/987654321"), description: None, want: Some(("zoom", "https://zoom.us/j/987654321")) },
    Case { name: "location beats description", join: None, location: Some("https://acme.zoom.us/j/91234567890"), description: Some("https://meet.google.com/abc-defg-hij"), want: Some(("zoom", "https://acme.zoom.us/j/91234567890")) },
    Case { name: "location without link falls to description", join: None, location: Some("Room 4.12 (Everest)"), description: Some("Dial in https://meet.google.com/abc-defg-hij"), want: Some(("google_meet", "https://meet.google.com/abc-defg-hij")) },
    Case { name: "teams location label then body", join: None, location: Some("Microsoft Teams Meeting"), description: Some(OUTLOOK_TEAMS_BODY), want: Some(("microsoft_teams", TEAMS_LINK)) },
    // ---- zoom shapes
    loc("zoom plain", "https://zoom.us/j/123456789", Some(("zoom", "https://zoom.us/j/123456789"))),
    loc("zoom vanity subdomain", "https://acme-corp.zoom.us/j/98765432101?pwd=abc123", Some(("zoom", "https://acme-corp.zoom.us/j/98765432101?pwd=abc123"))),
    loc("zoom uppercase host", "HTTPS://US02WEB.ZOOM.US/j/85512345678", Some(("zoom", "https://us02web.zoom.us/j/85512345678"))),
    loc("zoom gov", "https://zoomgov.com/j/1612345678?pwd=Z292", Some(("zoom", "https://zoomgov.com/j/1612345678?pwd=Z292"))),
    loc("zoom gov vanity", "https://agency.zoomgov.com/j/1601234567", Some(("zoom", "https://agency.zoomgov.com/j/1601234567"))),
    loc("zoom personal link", "https://zoom.us/my/jane.doe", Some(("zoom", "https://zoom.us/my/jane.doe"))),
    loc("zoom personal link with pwd", "https://acme.zoom.us/my/sales-team?pwd=cXdlcnR5", Some(("zoom", "https://acme.zoom.us/my/sales-team?pwd=cXdlcnR5"))),
    loc("zoom webinar /w/", "https://us02web.zoom.us/w/87654321098?tk=abc&pwd=WebiNar", Some(("zoom", "https://us02web.zoom.us/w/87654321098?pwd=WebiNar"))),
    loc("zoom webinar /s/", "https://zoom.us/s/94567812345?zak=eyJ0", Some(("zoom", "https://zoom.us/s/94567812345"))),
    loc("zoom web client", "https://zoom.us/wc/join/81234567890", Some(("zoom", "https://zoom.us/wc/join/81234567890"))),
    loc("zoom web client old form", "https://app.zoom.us/wc/81234567890/join?fromPWA=1", Some(("zoom", "https://app.zoom.us/wc/81234567890/join"))),
    loc("zoom trailing period", "Join at https://zoom.us/j/123456789.", Some(("zoom", "https://zoom.us/j/123456789"))),
    loc("zoom in parentheses", "Weekly (https://zoom.us/j/5551234567)", Some(("zoom", "https://zoom.us/j/5551234567"))),
    loc("zoom without scheme", "zoom.us/j/5551234567", Some(("zoom", "https://zoom.us/j/5551234567"))),
    loc("zoom vanity without scheme", "Call: acme.zoom.us/j/5551234567?pwd=x1", Some(("zoom", "https://acme.zoom.us/j/5551234567?pwd=x1"))),
    loc("zoom trailing slash", "https://zoom.us/j/123456789/", Some(("zoom", "https://zoom.us/j/123456789"))),
    loc("zoom http scheme", "http://zoom.us/j/123456789", Some(("zoom", "https://zoom.us/j/123456789"))),
    desc("zoom google add-on description", GOOGLE_ZOOM_ADDON_DESC, Some(("zoom", "https://acme.zoom.us/j/93456781234?pwd=R0F6cUh4b3NqVU1wS0l5Y0RQd2pMdz09"))),
    desc("zoom safelinked outlook body", SAFELINKED_ZOOM_BODY, Some(("zoom", "https://us02web.zoom.us/j/85512345678?pwd=dUhBN2xTUmZ6d1Z4bG5XQ2hHQT09"))),
    desc("zoom in html anchor text only", "<p>Click <a href=\"https://zoom.us/j/712345678\">here</a> to join</p>", Some(("zoom", "https://zoom.us/j/712345678"))),
    desc("zoom with entity-encoded ampersand", "<a href=\"https://zoom.us/j/712345678?uname=x&amp;pwd=Zm9v\">join</a>", Some(("zoom", "https://zoom.us/j/712345678?pwd=Zm9v"))),
    // ---- zoom false friends
    loc("zoom pricing page", "https://zoom.us/pricing", None),
    loc("zoom download page", "https://zoom.us/download", None),
    loc("zoom marketing explore", "https://explore.zoom.us/en/products/meetings/", None),
    loc("zoom support article", "https://support.zoom.us/hc/en-us/articles/201362193", None),
    loc("zoom find local number", "https://us02web.zoom.us/u/kd2P8Xyz", None),
    loc("zoom skype link", "https://acme.zoom.us/skype/93456781234", None),
    loc("zoom test page", "https://zoom.us/test", None),
    loc("zoom short id is not a meeting", "https://zoom.us/j/1234", None),
    loc("zoom lookalike domain", "https://zoom.us.evil.test/j/123456789", None),
    loc("zoom lookalike suffix", "https://notzoom.us/j/123456789", None),
    loc("zoom.com marketing", "https://www.zoom.com/en/products/virtual-meetings/", None),
    desc("zoom signin in footer only", "Please sign in at https://zoom.us/signin before the call.", None),
    // ---- google meet
    loc("meet plain", "https://meet.google.com/abc-defg-hij", Some(("google_meet", "https://meet.google.com/abc-defg-hij"))),
    loc("meet uppercase code", "https://meet.google.com/ABC-DEFG-HIJ", Some(("google_meet", "https://meet.google.com/abc-defg-hij"))),
    loc("meet lookup", "https://meet.google.com/lookup/teamstandup", Some(("google_meet", "https://meet.google.com/lookup/teamstandup"))),
    desc("meet in google description with dial-in", "Join with Google Meet: https://meet.google.com/pqr-stuv-wxy\nJoin by phone: (US) +1 601-555-0199 PIN: 123456789#\nMore phone numbers: https://tel.meet/pqr-stuv-wxy?pin=123456789", Some(("google_meet", "https://meet.google.com/pqr-stuv-wxy"))),
    loc("meet new meeting page", "https://meet.google.com/new", None),
    loc("meet homepage", "https://meet.google.com/", None),
    loc("meet malformed code", "https://meet.google.com/abcd-efg-hij", None),
    desc("google redirect wrapper", "<a href=\"https://www.google.com/url?q=https://meet.google.com/abc-defg-hij&amp;sa=D&amp;source=calendar\">Meet</a>", Some(("google_meet", "https://meet.google.com/abc-defg-hij"))),
    // ---- teams
    desc("teams outlook invite body", OUTLOOK_TEAMS_BODY, Some(("microsoft_teams", TEAMS_LINK))),
    desc("teams aka.ms only", "Microsoft Teams meeting. Need help? https://aka.ms/JoinTeamsMeeting", None),
    desc("teams meeting options only", "<a href=\"https://teams.microsoft.com/meetingOptions/?organizerId=a&amp;tenantId=b\">Meeting options</a>", None),
    desc("teams dial-in page only", "Reset PIN https://dialin.teams.microsoft.com/usp/pstnconferencing", None),
    loc("teams channel link is not a meeting", "https://teams.microsoft.com/l/channel/19%3a123%40thread.tacv2/General?groupId=x", None),
    loc("teams chat link is not a meeting", "https://teams.microsoft.com/l/chat/0/0?users=a@b.test", None),
    loc("teams short link with tracking", "https://teams.microsoft.com/meet/21534678901?p=Xy9QwErT&anon=true", Some(("microsoft_teams", "https://teams.microsoft.com/meet/21534678901?p=Xy9QwErT"))),
    loc("teams gcc high", "https://gov.teams.microsoft.us/l/meetup-join/19%3ameeting_Zz%40thread.v2/0", Some(("microsoft_teams", "https://gov.teams.microsoft.us/l/meetup-join/19%3ameeting_Zz%40thread.v2/0"))),
    desc("teams safelinked", "<a href=\"https://eur03.safelinks.protection.outlook.com/?url=https%3A%2F%2Fteams.microsoft.com%2Fmeet%2F4455667788%3Fp%3DqWeRtY&amp;data=05%7C01\">Join</a>", Some(("microsoft_teams", "https://teams.microsoft.com/meet/4455667788?p=qWeRtY"))),
    loc("teams live", "https://teams.live.com/meet/9312345678901", Some(("microsoft_teams_live", "https://teams.live.com/meet/9312345678901"))),
    loc("teams live homepage", "https://teams.live.com/", None),
    // ---- webex
    loc("webex personal room", "https://acme.webex.com/meet/jane.doe", Some(("webex", "https://acme.webex.com/meet/jane.doe"))),
    loc("webex my personal room", "https://globex.my.webex.com/meet/pat", Some(("webex", "https://globex.my.webex.com/meet/pat"))),
    loc("webex j.php", "https://initech.webex.com/initech/j.php?MTID=m1f2e3d4c5b6a79880f1e2d3c4b5a6978", Some(("webex", "https://initech.webex.com/initech/j.php?MTID=m1f2e3d4c5b6a79880f1e2d3c4b5a6978"))),
    loc("webex event center", "https://acme.webex.com/acme/e.php?MTID=mabc123", Some(("webex", "https://acme.webex.com/acme/e.php?MTID=mabc123"))),
    loc("webex join service", "https://acme.webex.com/wbxmjs/joinservice/sites/acme/meeting/download/8a1b2c3d?siteurl=acme", Some(("webex", "https://acme.webex.com/wbxmjs/joinservice/sites/acme/meeting/download/8a1b2c3d?siteurl=acme"))),
    loc("webex marketing", "https://www.webex.com/downloads.html", None),
    loc("webex help", "https://help.webex.com/en-us/article/nul0wut", None),
    loc("webex j.php without MTID", "https://acme.webex.com/acme/j.php", None),
    // ---- goto
    loc("gotomeeting join", "https://global.gotomeeting.com/join/123456789", Some(("goto_meeting", "https://global.gotomeeting.com/join/123456789"))),
    loc("goto meet", "https://meet.goto.com/987654321", Some(("goto_meeting", "https://meet.goto.com/987654321"))),
    loc("goto app meeting", "https://app.goto.com/meeting/123456789", Some(("goto_meeting", "https://app.goto.com/meeting/123456789"))),
    loc("gotomeet.me personal", "https://gotomeet.me/JaneDoe", Some(("goto_meeting", "https://gotomeet.me/JaneDoe"))),
    loc("goto marketing", "https://www.goto.com/meeting", None),
    loc("goto support", "https://support.goto.com/meeting/help/join-a-meeting", None),
    // ---- chime, slack
    loc("chime pin link", "https://chime.aws/4567891234", Some(("chime_sdk", "https://chime.aws/4567891234"))),
    loc("chime app meetings", "https://app.chime.aws/meetings/?pin=4567891234", Some(("chime_sdk", "https://app.chime.aws/meetings/?pin=4567891234"))),
    loc("chime homepage", "https://chime.aws/", None),
    loc("slack huddle", "https://app.slack.com/huddle/T01ABCDEF/C02GHIJKL", Some(("slack_huddle_observer", "https://app.slack.com/huddle/T01ABCDEF/C02GHIJKL"))),
    loc("slack channel is not a huddle", "https://acme.slack.com/archives/C02GHIJKL", None),
    // ---- priority among several links in one field
    desc("zoom then meet signature", SIGNATURE_DESC, Some(("zoom", "https://zoom.us/j/6123456789?pwd=Q2F0"))),
    desc("meet before zoom still zoom by priority", "Backup https://meet.google.com/abc-defg-hij main https://zoom.us/j/123456789", Some(("zoom", "https://zoom.us/j/123456789"))),
    desc("teams and webex: teams wins", "Webex: https://acme.webex.com/meet/bob Teams: https://teams.microsoft.com/meet/12345678901?p=x", Some(("microsoft_teams", "https://teams.microsoft.com/meet/12345678901?p=x"))),
    desc("webex and goto: webex wins", "https://meet.goto.com/123456789 or https://acme.webex.com/meet/bob", Some(("webex", "https://acme.webex.com/meet/bob"))),
    desc("two zoom links: first wins", "https://zoom.us/j/111111111 then https://zoom.us/j/222222222", Some(("zoom", "https://zoom.us/j/111111111"))),
    desc("meet and teams: meet wins", "https://teams.microsoft.com/meet/12345678901 / https://meet.google.com/abc-defg-hij", Some(("google_meet", "https://meet.google.com/abc-defg-hij"))),
    loc("outlook multi location", "Conf Room B; https://acme.zoom.us/j/91234567890", Some(("zoom", "https://acme.zoom.us/j/91234567890"))),
    // ---- no link at all
    desc("plain agenda", "Agenda:\n1. Budget\n2. Hiring\nSee https://docs.acme.test/q3-plan", None),
    loc("room name", "HQ - Main boardroom", None),
    desc("empty html body", "<html><head></head><body></body></html>", None),
    desc("angle-bracketed zoom in plain text", "Join Zoom Meeting <https://zoom.us/j/98712345678?pwd=Sm9pbg>", Some(("zoom", "https://zoom.us/j/98712345678?pwd=Sm9pbg"))),
    desc("proofpoint wrapped zoom", "https://urldefense.com/v3/__https://zoom.us/j/98712345678?pwd=Sm9pbg__;!!Abc123!def$", Some(("zoom", "https://zoom.us/j/98712345678?pwd=Sm9pbg"))),
    desc("link inside script is ignored", "<script>var u='https://zoom.us/j/123456789'</script><p>No call</p>", None),
];

#[test]
fn corpus_has_enough_cases() {
    assert!(CASES.len() >= 80, "{} cases", CASES.len());
}

#[test]
fn corpus_detects_expected_links() {
    let mut failures = Vec::new();
    for c in CASES {
        let got = detect(c.join, c.location, c.description);
        let got = got.as_ref().map(|l| (l.platform.as_str(), l.url.as_str()));
        if got != c.want {
            failures.push(format!("{}: got {:?}, want {:?}", c.name, got, c.want));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_detected_link_reclassifies_to_itself() {
    // Canonical URLs are fixed points: classifying the output again changes nothing.
    for c in CASES {
        if let Some(l) = detect(c.join, c.location, c.description) {
            assert_eq!(classify(&l.url).as_ref(), Some(&l), "{}", c.name);
        }
    }
}
