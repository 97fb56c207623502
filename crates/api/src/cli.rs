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

#[derive(Debug, Parser)]
#[command(name = "tessera", version, about = "Authentication backend for single-page apps")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, Swagger UI and the SPA (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI specification.
    Openapi,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage access-token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input (one line).
    Create {
        #[arg(long)]
        email: String,
        /// Display name (default: the part of the email before '@').
        #[arg(long)]
        name: Option<String>,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new Ed25519 key the signing key. Old keys keep verifying until their tokens expire;
    /// running instances pick the new key up within a few seconds.
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
    }
}

async fn create_user(config: Config, email: String, name: Option<String>, admin: bool) -> Result<(), String> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
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
    println!("created {} user {} ({})", user.role, user.email, user.id);
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
    if let Err(err) = store.notify(&Notice::KeysChanged).await {
        tracing::warn!(error = %err, "could not notify running instances; they will notice within their key poll");
    }
    println!("new signing key {kid} is active; previous keys verify until their tokens expire");
    Ok(())
}
