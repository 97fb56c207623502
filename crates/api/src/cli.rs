//! The `tessera` command line.

use clap::{Parser, Subcommand};

use tessera_auth_core::AuthError;
use tessera_auth_core::access::generate_ed25519_key;
use tessera_auth_core::ports::KeyRepository;
use tessera_auth_core::service::Registration;
use tessera_auth_core::user::Role;
use tessera_store::notify::Notice;
use time::OffsetDateTime;

use crate::config::{Config, JwtSigning, LogFormat};

/// Shown under every `--help`: the configuration is the environment.
const ENVIRONMENT: &str = "\
Environment (bad values stop with a message naming the variable; durations like 30s, 10m, 12h, 14d):
  TESSERA_ADDR                  listen address [default: 127.0.0.1:8080]
  TESSERA_DATA_DIR              SQLite file and generated master key [default: ./data]
  DATABASE_URL                  sqlite://... or postgres://... [default: sqlite://<data dir>/tessera.db]
  TESSERA_MASTER_KEY            64 hex characters [default: <data dir>/master.key, generated when absent]
  TESSERA_PUBLIC_ORIGIN         the SPA's origin [default: http://<TESSERA_ADDR>]
  TESSERA_ALLOWED_ORIGINS       extra origins allowed CORS with credentials, comma-separated
  TESSERA_ACCESS_TTL            access-token lifetime [default: 10m]
  TESSERA_REFRESH_IDLE_TTL      session ends after this long without a refresh [default: 14d, at most the absolute TTL]
  TESSERA_REFRESH_ABSOLUTE_TTL  session ends this long after login [default: 30d]
  TESSERA_REFRESH_GRACE         a just-rotated refresh token still gets its successor [default: 10s]
  TESSERA_JWT_ALG               EdDSA, or HS256 with TESSERA_JWT_SECRET (32+ bytes) [default: EdDSA]
  TESSERA_ISSUER                iss of access tokens [default: tessera]
  TESSERA_AUDIENCE              aud of access tokens [default: tessera-api]
  TESSERA_COOKIE_SECURE         false drops Secure and the __Host- prefix [default: true]
  TESSERA_SERVE_SPA             false serves no SPA (an app with its own front end) [default: true]
  TESSERA_RATE_LIMIT_PER_IP     auth requests a minute per client IP, 0 = off [default: 30]
  TESSERA_TRUSTED_PROXIES       CIDRs whose forwarding header is believed, comma-separated
  TESSERA_FORWARDED_HEADER      the header those proxies write: x-forwarded-for or forwarded [default: x-forwarded-for]
  TESSERA_LOG_FORMAT            pretty or json [default: pretty]
  TESSERA_SYNC_INTERVAL         poll for revocations, key rotations and due mail [default: 2s]
  TESSERA_SMTP_URL              smtps://user:pass@host:465, smtp://user:pass@host:587 (STARTTLS)
                                or smtp://127.0.0.1:port?tls=none [default: .eml files in <data dir>/outbox]
  TESSERA_MAIL_FROM             sender of every message [default: Tessera <no-reply@HOST of the public origin>]
  TESSERA_RESET_TTL             how long a password reset link works [default: 30m]
  TESSERA_VERIFY_TTL            how long a verification or email change link works [default: 24h]
  TESSERA_REQUIRE_VERIFIED_EMAIL  true: no session until the address is verified [default: false]
  RUST_LOG                      log levels [default: info]";

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Authentication backend for single-page apps",
    after_help = ENVIRONMENT
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, Swagger UI and the SPA (the default); migrates the database first.
    #[command(after_help = ENVIRONMENT)]
    Serve,
    /// Apply database migrations and exit.
    #[command(after_help = ENVIRONMENT)]
    Migrate,
    /// Print the OpenAPI specification.
    Openapi,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage access-token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Copy the SQLite database to FILE while the server runs (PostgreSQL: use pg_dump).
    ///
    /// The copy is consistent (SQLite's VACUUM INTO), written to a temporary file beside FILE
    /// and renamed over FILE only when complete; on failure FILE is left as it was. The master key
    /// is NOT in the copy: back up <data dir>/master.key (or TESSERA_MASTER_KEY) separately; a
    /// backup cannot be restored without it. Restore: stop the server, put the copy in place of
    /// <data dir>/tessera.db (removing any tessera.db-wal and -shm beside it), start.
    #[command(after_help = ENVIRONMENT)]
    Backup {
        /// Where to write the copy (mode 0600; an existing file is replaced atomically).
        #[arg(long, value_name = "FILE")]
        to: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is prompted for (without echo) when standard input is a
    /// terminal, else read from standard input (one line).
    #[command(after_help = ENVIRONMENT)]
    Create {
        /// The user's email address (their login name).
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// Display name [default: the part of the email before '@'].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new Ed25519 key the signing key. Old keys keep verifying until their tokens expire.
    ///
    /// Running instances switch to the new key at once on PostgreSQL (they are notified), and
    /// otherwise (SQLite, or a missed notice) within 5 x TESSERA_SYNC_INTERVAL, when they next
    /// re-read the keys.
    #[command(after_help = ENVIRONMENT)]
    Rotate,
}

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Runs the command; `Err` carries the one-line message printed before exiting with status 1.
pub async fn run(cli: Cli) -> Result<(), String> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        print!("{}", crate::app::spec_json());
        return Ok(());
    }
    let config = Config::from_env().map_err(|e| e.to_string())?;
    init_logging(config.log_format);
    match command {
        Command::Serve => crate::serve::serve(config).await.map_err(|e| e.to_string()),
        Command::Migrate => {
            crate::startup::open_store(&config).await.map_err(|e| e.to_string())?;
            tracing::info!("database is up to date");
            Ok(())
        }
        Command::Openapi => Ok(()),
        Command::User(UserCommand::Create { email, name, admin }) => create_user(config, email, name, admin).await,
        Command::Keys(KeysCommand::Rotate) => rotate_keys(config).await,
        Command::Backup { to } => {
            let done = crate::backup::backup(&config, &to).await?;
            println!(
                "backed up {} to {} ({} bytes)",
                done.database,
                done.target.display(),
                done.bytes
            );
            println!(
                "the master key is not in the backup: keep a copy of {} separately",
                master_key_source(&config)
            );
            Ok(())
        }
    }
}

fn master_key_source(config: &Config) -> String {
    if config.master_key_hex.is_some() {
        "TESSERA_MASTER_KEY".to_owned()
    } else {
        config.data_dir.join("master.key").display().to_string()
    }
}

/// The new user's password: prompted for twice without echo on a terminal, else one line of
/// standard input.
fn read_password() -> Result<String, String> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password for the new user: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first.is_empty() {
            return Err("no password given".to_owned());
        }
        let again = rpassword::prompt_password("Repeat the password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if again != first {
            return Err("the passwords do not match".to_owned());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err("no password given (type it at the prompt, or pipe it on standard input)".to_owned());
    }
    Ok(password)
}

async fn create_user(config: Config, email: String, name: Option<String>, admin: bool) -> Result<(), String> {
    let password = read_password()?;
    let name = name.unwrap_or_else(|| email.trim().split('@').next().unwrap_or_default().to_owned());
    let state = crate::startup::build_state(config).await.map_err(|e| e.to_string())?;
    let role = if admin { Role::Admin } else { Role::User };
    let user = state
        .service
        .create_account(Registration { email, name, password }, role)
        .await
        .map_err(|e| match e {
            AuthError::Validation { field, message } => format!("{field}: {message}"),
            AuthError::EmailTaken => "a user with this email already exists".to_owned(),
            other => other.to_string(),
        })?;
    println!("created {} (role {}, id {})", user.email, user.role, user.id);
    Ok(())
}

async fn rotate_keys(config: Config) -> Result<(), String> {
    if let JwtSigning::Hs256(_) = config.jwt {
        return Err("keys rotate manages EdDSA keys; with TESSERA_JWT_ALG=HS256 the key is TESSERA_JWT_SECRET".into());
    }
    let master = crate::startup::load_master_key(&config).map_err(|e| e.to_string())?;
    let store = crate::startup::open_store(&config).await.map_err(|e| e.to_string())?;
    let key = generate_ed25519_key(&master.key_encryption_key(), OffsetDateTime::now_utc());
    let kid = key.kid.clone();
    store.add_signing_key(key).await.map_err(|e| e.to_string())?;
    let within = format!(
        "within {} x TESSERA_SYNC_INTERVAL ({}s with this environment's setting)",
        crate::sync::KEY_POLL_EVERY,
        config.sync_interval.as_secs() * u64::from(crate::sync::KEY_POLL_EVERY)
    );
    let pickup = if store.backend() == tessera_store::Backend::Sqlite {
        format!("running instances on this database switch to it {within}, when they next re-read the keys")
    } else {
        match store.notify(&Notice::KeysChanged).await {
            Ok(()) => {
                format!("running instances were notified and switch to it now (one that missed the notice: {within})")
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not notify running instances");
                format!("running instances could not be notified; they switch to it {within}")
            }
        }
    };
    println!("new signing key {kid} is stored; {pickup}");
    println!(
        "tokens signed by the previous key stay valid until they expire (at most TESSERA_ACCESS_TTL, {}s here)",
        config.access_ttl.whole_seconds()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variable the configuration reads is listed in `--help`.
    #[test]
    fn help_lists_every_environment_variable() {
        let source = [include_str!("config/mod.rs"), include_str!("config/parsers.rs")].concat();
        let mut names: Vec<&str> = source
            .split('"')
            .filter(|s| {
                (s.starts_with("TESSERA_") || *s == "DATABASE_URL")
                    && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        assert!(names.len() >= 19, "{names:?}");
        for name in names {
            assert!(ENVIRONMENT.contains(name), "--help does not list {name}");
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
