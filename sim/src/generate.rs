//! Seeded generator of realistic calendars (Google and Microsoft accounts).

use crate::model::*;
use crate::state::SimState;
use chrono::{Duration, DurationRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub(crate) const GEN_GOOGLE_CLIENT: (&str, &str) =
    ("convene-sim-google-client", "convene-sim-google-secret");
pub(crate) const GEN_MICROSOFT_CLIENT: (&str, &str) = (
    "convene-sim-microsoft-client",
    "convene-sim-microsoft-secret",
);

const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "wendy", "yusuf", "zara",
    "li", "mei", "sanjay", "amara", "kofi", "ingrid", "diego", "lucia", "hana",
];
const LAST: &[&str] = &[
    "nguyen", "smith", "garcia", "mueller", "rossi", "tanaka", "okafor", "dubois", "kowalski",
    "silva", "haddad", "ivanova", "larsen", "chen", "patel", "obrien", "moreau", "novak",
];
const DOMAINS: &[&str] = &["acme.test", "globex.test", "initech.test", "umbrella.test"];
const EXTERNAL: &[&str] = &[
    "partner.test",
    "customer.example",
    "vendor.test",
    "gmail.test",
    "bigcorp.example",
];
const TITLES: &[&str] = &[
    "Weekly sync",
    "1:1",
    "Standup",
    "Sprint planning",
    "Customer call",
    "Design review",
    "Interview: backend engineer",
    "Quarterly business review",
    "Lunch",
    "Board prep",
    "Demo",
    "Retro",
    "Vendor onboarding",
    "All hands",
    "Coffee chat",
    "Incident review",
];
const LOCATIONS: &[&str] = &[
    "Room 4.12 (Everest)",
    "HQ - Main boardroom",
    "Cafe downstairs",
    "Building B, 2nd floor",
    "Client office",
];

fn alnum(rng: &mut StdRng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| A[rng.gen_range(0..A.len())] as char)
        .collect()
}

fn lower(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| (b'a' + rng.gen_range(0..26u8)) as char)
        .collect()
}

fn hex(rng: &mut StdRng, n: usize) -> String {
    const H: &[u8] = b"0123456789abcdef";
    (0..n).map(|_| H[rng.gen_range(0..16)] as char).collect()
}

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.gen_range(0..xs.len())]
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Zoom,
    Meet,
    Teams,
    Webex,
    None,
}

fn link(rng: &mut StdRng, k: Kind) -> String {
    match k {
        Kind::Zoom => format!(
            "https://us0{}web.zoom.us/j/8{}?pwd={}",
            rng.gen_range(2..7),
            rng.gen_range(1_000_000_000u64..9_999_999_999),
            alnum(rng, 32)
        ),
        Kind::Meet => format!(
            "https://meet.google.com/{}-{}-{}",
            lower(rng, 3),
            lower(rng, 4),
            lower(rng, 3)
        ),
        Kind::Teams => format!(
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{}%40thread.v2/0?context=%7b%22Tid%22%3a%22{}%22%2c%22Oid%22%3a%22{}%22%7d",
            alnum(rng, 48),
            crate::util::uuid(),
            crate::util::uuid()
        ),
        Kind::Webex => {
            let co = pick(rng, &["acme", "globex", "initech"]);
            format!("https://{co}.webex.com/{co}/j.php?MTID=m{}", hex(rng, 32))
        }
        Kind::None => String::new(),
    }
}

/// Outlook SafeLinks wrapping of a URL.
pub(crate) fn safelink(rng: &mut StdRng, url: &str) -> String {
    let enc: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
    format!(
        "https://nam12.safelinks.protection.outlook.com/?url={enc}&data=05%7C02%7C%7C{}%7C72f988bf86f141af91ab2d7cd011db47%7C1%7C0%7C638{}%7CUnknown&sdata={}%3D&reserved=0",
        hex(rng, 32),
        rng.gen_range(100_000_000_000_000u64..999_999_999_999_999),
        alnum(rng, 43)
    )
}

fn kind_for(rng: &mut StdRng, p: Provider) -> Kind {
    let r = rng.gen_range(0..100);
    match p {
        Provider::Google => match r {
            0..=34 => Kind::Meet,
            35..=59 => Kind::Zoom,
            60..=69 => Kind::Teams,
            70..=79 => Kind::Webex,
            _ => Kind::None,
        },
        _ => match r {
            0..=34 => Kind::Teams,
            35..=59 => Kind::Zoom,
            60..=64 => Kind::Meet,
            65..=74 => Kind::Webex,
            _ => Kind::None,
        },
    }
}

fn response(rng: &mut StdRng) -> ResponseStatus {
    match rng.gen_range(0..10) {
        0..=4 => ResponseStatus::Accepted,
        5 => ResponseStatus::Declined,
        6 => ResponseStatus::Tentative,
        _ => ResponseStatus::NeedsAction,
    }
}

fn person(rng: &mut StdRng, domain: &str) -> String {
    format!("{}.{}@{domain}", pick(rng, FIRST), pick(rng, LAST))
}

fn spec_for(
    rng: &mut StdRng,
    p: Provider,
    me: &str,
    domain: &str,
    now: chrono::DateTime<Utc>,
) -> EventSpec {
    let base = now.duration_trunc(Duration::minutes(15)).unwrap_or(now);
    let recurring = rng.gen_bool(0.2);
    let all_day = !recurring && rng.gen_bool(0.05);
    let days = if recurring {
        rng.gen_range(0..7)
    } else {
        rng.gen_range(-1..28)
    };
    let start = base + Duration::days(days) + Duration::minutes(15 * rng.gen_range(0..40) - 60 * 4);
    let dur = Duration::minutes(
        *[15i64, 30, 30, 45, 60, 60, 90]
            .get(rng.gen_range(0..7))
            .unwrap_or(&30),
    );
    let title = pick(rng, TITLES).to_string();
    let mut spec = if all_day {
        EventSpec::all_day(
            if rng.gen_bool(0.5) {
                "Offsite"
            } else {
                "Out of office"
            },
            start.date_naive(),
            rng.gen_range(1..3),
        )
    } else {
        EventSpec::new(title, start, start + dur)
    };
    if recurring {
        spec = if rng.gen_bool(0.5) {
            spec.daily(rng.gen_range(2..=5))
        } else {
            spec.weekly(rng.gen_range(2..=4))
        };
    }
    // People.
    let n = rng.gen_range(0..=6);
    for _ in 0..n {
        let d = if rng.gen_bool(0.6) {
            domain.to_string()
        } else {
            pick(rng, EXTERNAL).to_string()
        };
        let email = person(rng, &d);
        if email != me && !spec.attendees.iter().any(|a| a.email == email) {
            let r = response(rng);
            spec = spec.attendee(email, r);
        }
    }
    if n > 0 && rng.gen_bool(0.45) {
        let org = spec.attendees[0].email.clone();
        spec = spec.organizer(org).self_response(response(rng));
    }
    // Meeting link placement.
    let kind = if all_day {
        Kind::None
    } else {
        kind_for(rng, p)
    };
    let url = link(rng, kind);
    let mut desc = format!(
        "<p>{}</p><ul><li>Agenda item {}</li><li>Notes &amp; follow-ups</li></ul>",
        pick(
            rng,
            &[
                "Let's catch up on progress.",
                "Please review the doc beforehand.",
                "Quick sync, no slides.",
                "Dial-in details below."
            ]
        ),
        rng.gen_range(1..9)
    );
    let mut location = rng.gen_bool(0.3).then(|| pick(rng, LOCATIONS).to_string());
    if kind != Kind::None {
        let place = rng.gen_range(0..100);
        let conf_kind = match kind {
            Kind::Meet => ConferenceKind::Meet,
            Kind::Zoom => ConferenceKind::Zoom,
            Kind::Teams => ConferenceKind::Teams,
            _ => ConferenceKind::Webex,
        };
        let native = match (p, kind) {
            (Provider::Google, Kind::Meet) => true,
            (Provider::Google, Kind::Zoom) => place < 40,
            (Provider::Microsoft, Kind::Teams) => place < 80,
            _ => false,
        };
        if native {
            spec = spec.conference(conf_kind, url.clone());
            if p == Provider::Microsoft {
                desc.push_str(&format!(
                    "<div>________________</div><div>Microsoft Teams meeting</div><div><a href=\"{}\">Click here to join the meeting</a></div>",
                    safelink(rng, &url)
                ));
            }
        } else if place % 2 == 0 {
            location = Some(url.clone());
        } else {
            let shown = if p == Provider::Microsoft && rng.gen_bool(0.5) {
                safelink(rng, &url)
            } else {
                url.clone()
            };
            desc.push_str(&format!("<p>Join: <a href=\"{shown}\">{shown}</a></p>"));
        }
    }
    spec.description = Some(desc);
    spec.location = location;
    if rng.gen_bool(0.05) {
        spec.status = EventStatus::Cancelled;
    } else if rng.gen_bool(0.03) {
        spec.status = EventStatus::Tentative;
    }
    spec
}

pub(crate) fn generate(
    st: &mut SimState,
    accounts: usize,
    events_per_account: usize,
    seed: u64,
) -> Vec<GeneratedAccount> {
    let mut rng = StdRng::seed_from_u64(seed);
    for (p, (id, secret), cb) in [
        (Provider::Google, GEN_GOOGLE_CLIENT, "google_oauth_callback"),
        (
            Provider::Microsoft,
            GEN_MICROSOFT_CLIENT,
            "ms_oauth_callback",
        ),
    ] {
        if st.client(p, id).is_none() {
            st.add_client(
                p,
                id,
                secret,
                vec![format!("http://127.0.0.1:8080/api/v1/calendar/{cb}/")],
            );
        }
    }
    let now = st.now();
    let (wmin, wmax) = (now - Duration::days(1), now + Duration::days(30));
    let mut out = Vec::with_capacity(accounts);
    for i in 0..accounts {
        let p = if i % 2 == 0 {
            Provider::Google
        } else {
            Provider::Microsoft
        };
        let domain = pick(&mut rng, DOMAINS);
        let email = format!(
            "{}.{}.{}{}@{domain}",
            pick(&mut rng, FIRST),
            pick(&mut rng, LAST),
            seed % 1000,
            i
        );
        let info = st
            .add_account(&AccountSpec::new(p, email.clone()))
            .expect("generated account");
        let acct = info.account_id.clone();
        let mut series = 0;
        for _ in 0..events_per_account {
            let spec = spec_for(&mut rng, p, &email, domain, now);
            if spec.recurrence.is_some() {
                series += 1;
            }
            st.create_event(&acct, &spec).expect("generated event");
        }
        let (cid, secret) = match p {
            Provider::Google => GEN_GOOGLE_CLIENT,
            _ => GEN_MICROSOFT_CLIENT,
        };
        let refresh_token = st
            .mint_refresh(p, cid, &acct, &[])
            .expect("generated refresh token");
        let a = st.account(&acct).expect("generated account");
        let listed: Vec<_> = a.events.iter().filter(|e| !e.master).collect();
        let full = listed
            .iter()
            .filter(|e| {
                e.overlaps(Some(wmin), Some(wmax))
                    && (p == Provider::Microsoft || e.status != EventStatus::Cancelled)
            })
            .count();
        out.push(GeneratedAccount {
            provider: p,
            account_id: acct,
            email,
            client_id: cid.to_string(),
            client_secret: secret.to_string(),
            refresh_token,
            events_created: events_per_account,
            series,
            instances: listed.len(),
            full_sync_items: full,
        });
    }
    out
}
