//! `convene-sim` binary: run the provider simulator for a local demo.

use chrono::{Duration, DurationRound, Utc};
use convene_sim::*;

const HELP: &str = "convene-sim: Google / Microsoft / Zoom simulator for Convene (loopback only)

USAGE: convene-sim [--listen ADDR] [--seed] [--public-url URL] [--zoom-redirect URI]

  --listen ADDR         address to bind (default 127.0.0.1:9090)
  --seed                create demo OAuth clients, a Google, a Microsoft and a Zoom account,
                        and a week of events; prints ids and secrets
  --public-url URL      Convene's CONVENE_PUBLIC_URL, for the registered callback URLs
                        (default http://127.0.0.1:8080)
  --zoom-redirect URI   redirect URI registered for the demo Zoom app
                        (default <public-url>/zoom/callback)
";

struct Args {
    listen: String,
    seed: bool,
    public_url: String,
    zoom_redirect: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        listen: "127.0.0.1:9090".into(),
        seed: false,
        public_url: "http://127.0.0.1:8080".into(),
        zoom_redirect: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match key.as_str() {
            "--listen" => a.listen = value("--listen")?,
            "--public-url" => a.public_url = value("--public-url")?.trim_end_matches('/').into(),
            "--zoom-redirect" => a.zoom_redirect = Some(value("--zoom-redirect")?),
            "--seed" => a.seed = true,
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n\n{HELP}")),
        }
    }
    Ok(a)
}

async fn seed(sim: &SimHandle, public: &str, zoom_redirect: &str) {
    let g_cb = format!("{public}/api/v1/calendar/google_oauth_callback/");
    let m_cb = format!("{public}/api/v1/calendar/ms_oauth_callback/");
    let clients = [
        (
            Provider::Google,
            "demo-google-client-id",
            "demo-google-client-secret",
            g_cb.clone(),
        ),
        (
            Provider::Microsoft,
            "demo-microsoft-client-id",
            "demo-microsoft-client-secret",
            m_cb.clone(),
        ),
        (
            Provider::Zoom,
            "demo-zoom-client-id",
            "demo-zoom-client-secret",
            zoom_redirect.to_string(),
        ),
    ];
    for (p, id, secret, cb) in &clients {
        let mut uris = vec![cb.clone()];
        if let Some(stripped) = cb.strip_suffix('/') {
            if *p != Provider::Zoom {
                uris.push(stripped.to_string());
            }
        }
        sim.create_oauth_client(*p, id, secret, uris).await;
    }
    let google = sim
        .create_account(Provider::Google, "alice@acme.test")
        .await;
    let ms = sim
        .create_account_with(
            AccountSpec::new(Provider::Microsoft, "bob@contoso.test").display_name("Bob Builder"),
        )
        .await
        .account_id;
    let (zoom_user, zoom_account) = sim.create_zoom_user(None, "carol@acme.test").await;

    let day = Utc::now()
        .duration_trunc(Duration::days(1))
        .unwrap_or_else(|_| Utc::now());
    let at = |d: i64, h: i64, m: i64| {
        day + Duration::days(d) + Duration::hours(h) + Duration::minutes(m)
    };
    // Google: Alice
    sim.create_event(
        &google,
        EventSpec::new("Team standup", at(1, 9, 0), at(1, 9, 15))
            .meet("https://meet.google.com/abc-defg-hij")
            .attendee("dave@acme.test", ResponseStatus::Accepted)
            .weekly(4),
    )
    .await;
    sim.create_event(
        &google,
        EventSpec::new("Customer call: Globex", at(1, 15, 0), at(1, 16, 0))
            .zoom("https://us02web.zoom.us/j/81234567890?pwd=Zm9vYmFy")
            .attendee("hank@globex.test", ResponseStatus::NeedsAction),
    )
    .await;
    sim.create_event(
        &google,
        EventSpec::new("Partner sync", at(2, 11, 0), at(2, 11, 30))
            .organizer("erin@partner.test")
            .self_response(ResponseStatus::Accepted)
            .description("<p>Join Teams: <a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_demo%40thread.v2/0\">link</a></p>"),
    )
    .await;
    sim.create_event(
        &google,
        EventSpec::all_day("Company offsite", at(4, 0, 0).date_naive(), 1),
    )
    .await;
    // Microsoft: Bob
    sim.create_event(
        &ms,
        EventSpec::new("Weekly planning", at(1, 10, 0), at(1, 11, 0))
            .teams("https://teams.microsoft.com/l/meetup-join/19%3ameeting_planning%40thread.v2/0")
            .attendee("alice@acme.test", ResponseStatus::Tentative)
            .weekly(3),
    )
    .await;
    sim.create_event(
        &ms,
        EventSpec::new("Vendor demo", at(2, 14, 0), at(2, 14, 45))
            .location("https://acme.webex.com/acme/j.php?MTID=m0123456789abcdef0123456789abcdef")
            .organizer("sales@vendor.test"),
    )
    .await;

    println!("\nSeeded demo data:");
    for (p, id, secret, cb) in &clients {
        println!("  {p:<9} client_id={id} client_secret={secret} redirect_uri={cb}");
    }
    println!("  google    account alice@acme.test  (id {google})");
    println!("  microsoft account bob@contoso.test (id {ms})");
    println!(
        "  zoom      user carol@acme.test     (user_id {zoom_user}, account_id {zoom_account})"
    );
    println!(
        "\n  Get a Zoom code without a browser:\n    curl -si '{}?response_type=code&client_id=demo-zoom-client-id&redirect_uri={}' | grep -i location",
        sim.zoom_auth_url(),
        url_encode(zoom_redirect)
    );
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let sim = match convene_sim::start_on(&args.listen).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("convene-sim: cannot listen on {}: {e}", args.listen);
                std::process::exit(1);
            }
        };
        println!("convene-sim listening on {}", sim.base_url);
        println!("  Google    authorize {}", sim.google_auth_url());
        println!("  Microsoft authorize {}", sim.microsoft_auth_url());
        println!("  Zoom      authorize {}", sim.zoom_auth_url());
        println!("  control API         {}/_sim/", sim.base_url);
        println!("\nPoint Convene at it:");
        for (k, v) in sim.env_vars() {
            println!("  export {k}={v}");
        }
        if args.seed {
            let zr = args
                .zoom_redirect
                .clone()
                .unwrap_or_else(|| format!("{}/zoom/callback", args.public_url));
            seed(&sim, &args.public_url, &zr).await;
        }
        println!("\nCtrl-C to stop.");
        let _ = tokio::signal::ctrl_c().await;
        sim.stop().await;
    });
}
