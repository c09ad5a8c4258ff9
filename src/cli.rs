//! The `convene` command line (clap).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Settings;
use crate::startup::{self, Application};
use crate::store::{self, settings as kv};

#[derive(Parser, Debug)]
#[command(
    name = "convene",
    version,
    about = "Calendars, Zoom OAuth and meeting bots for your app"
)]
pub struct Cli {
    /// Optional TOML file with the same keys as the CONVENE_* variables, in lower case.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate the database if needed, then serve HTTP and run background jobs (default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys.
    #[command(name = "api-key", subcommand)]
    ApiKey(ApiKeyCommand),
    /// Admin account.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Platform OAuth clients for the hosted calendar flows.
    #[command(subcommand)]
    Platform(PlatformCommand),
    /// The workspace webhook secret (signs deliveries to V2 calendars' webhook_url).
    #[command(name = "webhook-secret", subcommand)]
    WebhookSecret(WebhookSecretCommand),
    /// Write a consistent copy of the database to PATH (safe while serving).
    Backup { path: PathBuf },
    /// Validate the configuration and say what is wrong.
    Check,
    /// Re-seal every stored secret under the first key of CONVENE_MASTER_KEY (safe while
    /// serving), then report how many values each key id still seals.
    #[command(name = "rotate-master-key")]
    RotateMasterKey,
    /// Run a self-contained demo: the provider simulator in-process, two connected
    /// calendars, a webhook receiver, a bot, and a meeting that keeps moving.
    Demo {
        /// Seconds between moves of the demo meeting (0: never move it).
        #[arg(long, default_value_t = 10)]
        move_every: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key; it is printed once, alone, on the last line.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Set the admin password, read from standard input.
    SetPassword,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlatformName {
    Google,
    Microsoft,
}

#[derive(Subcommand, Debug)]
pub enum PlatformCommand {
    /// Save a platform's OAuth client (a running server uses it at once).
    Set {
        platform: PlatformName,
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        client_secret: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum WebhookSecretCommand {
    /// Print the workspace webhook secret, alone on the last line.
    Show,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env(cli.config.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    // The demo prints what happens; request logs would drown it unless asked for.
    let log = match cli.command {
        Some(Command::Demo { .. }) if std::env::var_os("CONVENE_LOG").is_none() => "warn",
        _ => settings.log.as_str(),
    };
    crate::telemetry::init(log, settings.log_format);
    for name in &settings.unknown_variables {
        tracing::warn!(variable = %name, "unknown CONVENE_* variable ignored");
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Check => check(&settings),
        Command::Demo { move_every } => demo(cli.config.clone(), move_every),
        other => offline(other, &settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listen = settings.listen;
        let public = settings.public_base();
        let app = Application::build(settings).await?;
        let state = app.state();
        let jobs = crate::jobs::start(state.clone()).await?;
        tracing::info!(listen = %listen, port = app.port(), public_url = %public, "convene is serving");
        let result = app.run_until_stopped().await;
        jobs.stop().await;
        // A refresh exchange in flight runs to the commit of its answer.
        if !state.detached.wait_idle(std::time::Duration::from_secs(60)).await {
            tracing::warn!("stopping with token refreshes still in flight");
        }
        tracing::info!("stopped");
        result.map_err(anyhow::Error::from)
    })
}

#[cfg(feature = "demo")]
fn demo(config: Option<PathBuf>, move_every: u64) -> anyhow::Result<()> {
    crate::demo::run(
        config,
        crate::demo::DemoOptions {
            move_every,
            moves: None,
        },
    )
}

#[cfg(not(feature = "demo"))]
fn demo(_config: Option<PathBuf>, _move_every: u64) -> anyhow::Result<()> {
    anyhow::bail!(
        "this convene was built without the demo (cargo feature `demo`); \
         run `cargo run --release -- demo` from the repository"
    )
}

fn check(settings: &Settings) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for name in &settings.unknown_variables {
        problems.push(format!("{name}: unknown variable (typo?)"));
    }
    if settings.public_url.scheme() == "http"
        && !matches!(
            settings.public_url.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]")
        )
    {
        problems.push("CONVENE_PUBLIC_URL: not https; OAuth providers require https redirect URIs for production".into());
    }
    match startup::open_data(settings) {
        Ok(_) => println!("database: ok ({})", settings.db_path().display()),
        Err(e) => problems.push(format!("{e:#}")),
    }
    if problems.is_empty() {
        println!("configuration: ok");
        Ok(())
    } else {
        for p in &problems {
            println!("problem: {p}");
        }
        anyhow::bail!("{} problem(s) found", problems.len())
    }
}

/// Commands that work on the data directory without serving.
fn offline(command: Command, settings: &Settings) -> anyhow::Result<()> {
    let (store, keys) = startup::open_data(settings)?;
    let now = store::now_ms();
    match command {
        Command::Migrate => {
            let v = store.blocking(|c| store::migrations::current_version(c))?;
            println!("database at schema version {v}");
        }
        Command::ApiKey(ApiKeyCommand::Create { name }) => {
            let name = name.trim().to_string();
            anyhow::ensure!(
                !name.is_empty() && name.len() <= 200,
                "--name must be 1 to 200 characters"
            );
            let (id, key) = crate::api::keys::create_api_key(&store, &name)?;
            println!("created API key {id} ({name}); it is shown once:");
            println!("{key}");
        }
        Command::ApiKey(ApiKeyCommand::List) => {
            for k in store.blocking(|c| store::api_keys::list(c))? {
                println!(
                    "{}\t{}\t...{}\tcreated {}\t{}",
                    k.id,
                    k.name,
                    k.last4,
                    store::ms_to_rfc3339(k.created_at),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        Command::ApiKey(ApiKeyCommand::Revoke { id }) => {
            let done = store.blocking_write(|tx| store::api_keys::revoke(tx, &id, now))?;
            anyhow::ensure!(done, "no active API key with id {id}");
            // A running server confirms cached keys every few seconds (`coord::KeyCache`).
            println!("revoked {id} (a running server refuses it within 5 seconds)");
        }
        Command::Admin(AdminCommand::SetPassword) => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading the password from stdin")?;
            let password = input.trim_end_matches(['\n', '\r']);
            crate::admin::password::validate(password).map_err(anyhow::Error::msg)?;
            let hash = crate::crypto::hash_password(password);
            store.blocking_write(|tx| {
                kv::set(tx, kv::ADMIN_PASSWORD_HASH, &hash, now)?;
                kv::delete(tx, kv::ADMIN_SETUP_TOKEN_HASH)?;
                store::admin::delete_all_sessions(tx)
            })?;
            println!("admin password set; existing admin sessions were signed out");
        }
        Command::Platform(PlatformCommand::Set {
            platform,
            client_id,
            client_secret,
        }) => {
            let platform = match platform {
                PlatformName::Google => "google",
                PlatformName::Microsoft => "microsoft",
            };
            anyhow::ensure!(
                !client_id.trim().is_empty(),
                "--client-id must not be empty"
            );
            anyhow::ensure!(
                !client_secret.trim().is_empty(),
                "--client-secret must not be empty"
            );
            let sealed = keys.encrypt(client_secret.trim());
            store.blocking_write(|tx| {
                kv::set_platform_client(tx, platform, client_id.trim(), &sealed, now)
            })?;
            println!("saved the {platform} OAuth client {}", client_id.trim());
        }
        Command::WebhookSecret(WebhookSecretCommand::Show) => {
            let secret = crate::webhooks::secret::ensure_workspace_secret(&store, &keys)?;
            println!("{secret}");
        }
        Command::RotateMasterKey => {
            let report = crate::rotation::rotate(&store, &keys, crate::rotation::BATCH)?;
            println!(
                "re-sealed {} value(s) under master key id {}",
                report.resealed,
                keys.current_key_id()
            );
            if report.unreadable > 0 {
                println!(
                    "{} value(s) could not be opened with any configured key and were left as they are",
                    report.unreadable
                );
            }
            for k in &report.counts {
                let role = if k.current {
                    "first key, seals new values"
                } else if k.values == 0 {
                    "no longer needed: it can be removed from CONVENE_MASTER_KEY"
                } else {
                    "still needed"
                };
                println!("key {}\t{} value(s)\t{role}", k.key_id, k.values);
            }
        }
        Command::Backup { path } => {
            store.backup_to(&path)?;
            store.blocking_write(|tx| store::ops::record_backup(tx, store::now_ms()))?;
            println!("backup written to {}", path.display());
        }
        Command::Serve | Command::Check | Command::Demo { .. } => {
            unreachable!("handled before")
        }
    }
    Ok(())
}
