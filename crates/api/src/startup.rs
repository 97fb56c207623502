//! Turning configuration into a running service: master key, database, signing keys, the
//! revocation set, and the background upkeep tasks.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use tessera_auth_core::access::{AccessTokenConfig, KeyRing, KeyRingError, StoredSigningKey, generate_ed25519_key};
use tessera_auth_core::clock::{Clock, SystemClock};
use tessera_auth_core::mfa::passkey::{PasskeyRelyingParty, PasskeysUnavailable, UnavailablePasskeys};
use tessera_auth_core::mfa::totp::TotpIssuer;
use tessera_auth_core::password::{Argon2Params, PasswordHasher};
use tessera_auth_core::ports::{KeyRepository, StoreError};
use tessera_auth_core::revocation::RevocationSet;
use tessera_auth_core::secret::MasterKey;
use tessera_auth_core::service::{AuthService, AuthServiceParts, MailPolicy};
use tessera_auth_core::session::SessionPolicy;
use tessera_passkeys::RelyingParty;
use tessera_store::SeaStore;
use url::Url;

use crate::config::{Config, JwtSigning};
use crate::cookies::CookieFactory;
use crate::passwords::BlockingPasswordHashing;
use crate::rate_limit::IpRateLimits;
use crate::state::{AppState, SharedState};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot use data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("master key file {path}: {message}")]
    MasterKeyFile { path: String, message: String },
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyRingError),
    #[error("password hasher: {0}")]
    Passwords(String),
}

/// The master key from `TESSERA_MASTER_KEY`, else `<data dir>/master.key`, generated (mode 0600)
/// when absent.
pub fn load_master_key(config: &Config) -> Result<MasterKey, StartupError> {
    if let Some(hex) = &config.master_key_hex {
        // Already validated by Config.
        return MasterKey::from_hex(hex.expose()).map_err(|e| StartupError::MasterKeyFile {
            path: "TESSERA_MASTER_KEY".into(),
            message: e.to_string(),
        });
    }
    let path = config.data_dir.join("master.key");
    let file_err = |message: String| StartupError::MasterKeyFile {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_hex(&text).map_err(|e| file_err(e.to_string())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            ensure_dir(&config.data_dir)?;
            let key = MasterKey::generate();
            write_private_file(&path, format!("{}\n", key.to_hex()).as_bytes()).map_err(|e| file_err(e.to_string()))?;
            tracing::info!(path = %path.display(), "generated a new master key");
            Ok(key)
        }
        Err(err) => Err(file_err(err.to_string())),
    }
}

fn ensure_dir(dir: &Path) -> Result<(), StartupError> {
    std::fs::create_dir_all(dir).map_err(|source| StartupError::DataDir {
        path: dir.display().to_string(),
        source,
    })
}

/// Creates `path` readable only by its owner; never overwrites an existing file.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

pub fn session_policy(config: &Config) -> SessionPolicy {
    SessionPolicy {
        access_ttl: config.access_ttl,
        idle_ttl: config.refresh_idle_ttl,
        absolute_ttl: config.refresh_absolute_ttl,
        grace: config.refresh_grace,
        reauth_max_age: config.reauth_max_age,
    }
}

/// Opens the database (creating the SQLite file and data directory when needed) and migrates it;
/// logs where the database is and how many migrations this start applied.
pub async fn open_store(config: &Config) -> Result<SeaStore, StartupError> {
    if config.database_url.expose().starts_with("sqlite:") {
        ensure_dir(&config.data_dir)?;
    }
    let store = SeaStore::connect(config.database_url.expose()).await?;
    let applied = store.migrate().await?;
    let database = database_location(config.database_url.expose());
    if applied == 0 {
        tracing::info!(%database, "database schema is up to date (no migration to apply)");
    } else {
        tracing::info!(%database, applied, "database migrated");
    }
    Ok(store)
}

/// Where a database URL points, for logs and messages: the file of a SQLite URL; host, port and
/// database name of a PostgreSQL one. Never the password, nor the query string (it may hold one).
pub fn database_location(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        return path.to_owned();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(unparseable database URL)".to_owned();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (userinfo.split(':').next().unwrap_or_default(), host),
        None => ("", authority),
    };
    let host = if host.is_empty() { "(socket)" } else { host };
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    format!("{scheme}://{user}{host}/{database}")
}

/// The key ring for this configuration. With EdDSA and no usable key in the database yet, one is
/// generated (the first instance to start wins; others read it back).
pub async fn load_key_ring(
    config: &Config,
    store: &SeaStore,
    master: &MasterKey,
    clock: &dyn Clock,
) -> Result<KeyRing, StartupError> {
    if let JwtSigning::Hs256(secret) = &config.jwt {
        return Ok(KeyRing::hs256(secret.expose().as_bytes())?);
    }
    let kek = master.key_encryption_key();
    let keys = store.list_signing_keys().await?;
    match KeyRing::from_stored(&keys, &kek, config.access_ttl, clock.now()) {
        Err(KeyRingError::NoActiveKey) => {
            store.add_signing_key(generate_ed25519_key(&kek, clock.now())).await?;
            let keys = store.list_signing_keys().await?;
            Ok(KeyRing::from_stored(&keys, &kek, config.access_ttl, clock.now())?)
        }
        other => Ok(other?),
    }
}

/// The Ed25519 key ring from stored keys, as of now.
pub fn key_ring_from(keys: &[StoredSigningKey], state: &AppState) -> Result<KeyRing, KeyRingError> {
    state
        .service
        .key_ring_from(keys, &state.master_key.key_encryption_key())
}

/// The WebAuthn relying party of `TESSERA_PUBLIC_ORIGIN` (its host is the relying-party id)
/// and `TESSERA_ALLOWED_ORIGINS`; where that origin cannot be one (an IP address, plain http
/// off localhost), one that answers every passkey request 409 `passkeys_unavailable`, and why.
fn relying_party(config: &Config) -> (Arc<dyn PasskeyRelyingParty>, Option<PasskeysUnavailable>) {
    let allowed: Vec<Url> = config
        .allowed_origins
        .iter()
        .filter_map(|origin| Url::parse(origin).ok())
        .collect();
    let (relying_party, unavailable) = match Url::parse(&config.public_origin) {
        Ok(public) => RelyingParty::from_config(&public, &allowed, "Tessera"),
        Err(_) => {
            let reason = PasskeysUnavailable::UnusableOrigin(config.public_origin.clone());
            let unavailable: Arc<dyn PasskeyRelyingParty> = Arc::new(UnavailablePasskeys(reason.clone()));
            (unavailable, Some(reason))
        }
    };
    (relying_party, unavailable)
}

/// Why this configuration cannot offer passkeys, if it cannot: `tessera serve` says so at
/// start-up (the CLI's other commands need no passkeys and stay quiet).
pub fn passkeys_unavailable(config: &Config) -> Option<PasskeysUnavailable> {
    relying_party(config).1
}

pub async fn build_state(config: Config) -> Result<SharedState, StartupError> {
    build_state_with_clock(config, Arc::new(SystemClock), Argon2Params::default()).await
}

/// [`build_state`] with the clock and argon2 cost chosen by the caller (tests step a manual clock
/// and use cheap hashing).
pub async fn build_state_with_clock(
    config: Config,
    clock: Arc<dyn Clock>,
    argon2: Argon2Params,
) -> Result<SharedState, StartupError> {
    let master = load_master_key(&config)?;
    let store = open_store(&config).await?;
    let key_ring = load_key_ring(&config, &store, &master, clock.as_ref()).await?;
    let revocations = Arc::new(RevocationSet::new());

    let hasher = PasswordHasher::new(argon2).map_err(|e| StartupError::Passwords(e.to_string()))?;
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let passwords = Arc::new(BlockingPasswordHashing::new(hasher, cores));
    passwords.prepare_in_background();

    let rate_limits = Arc::new(IpRateLimits::new(config.rate_limit_per_ip));
    let (passkeys, _) = relying_party(&config);
    let service = AuthService::new(AuthServiceParts {
        store: Arc::new(store.clone()),
        passwords,
        key_ring,
        access: AccessTokenConfig {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_ttl,
        },
        refresh_keys: master.refresh_keys(),
        csrf_key: master.csrf_key(),
        policy: session_policy(&config),
        clock: clock.clone(),
        revocations,
        // Tells other instances (PostgreSQL NOTIFY); on SQLite a no-op.
        publisher: Arc::new(store.clone()),
        limiter: rate_limits.clone(),
        mail_key: master.mail_sealing_key(),
        mail_policy: MailPolicy {
            reset_ttl: config.mail.reset_ttl,
            verify_ttl: config.mail.verify_ttl,
            require_verified_email: config.mail.require_verified_email,
        },
        totp_key: master.totp_encryption_key(),
        totp_issuer: TotpIssuer::new(&config.issuer),
        passkeys,
    });
    service.fill_revocations().await?;
    let cookies = CookieFactory::new(config.cookie_secure);
    Ok(Arc::new(AppState {
        service: Arc::new(service),
        store,
        config: Arc::new(config),
        cookies,
        clock,
        rate_limits,
        master_key: master,
    }))
}

#[cfg(test)]
mod tests {
    use super::database_location;

    #[test]
    fn database_locations_never_show_a_password() {
        assert_eq!(
            database_location("sqlite://./data/tessera.db?mode=rwc"),
            "./data/tessera.db"
        );
        assert_eq!(
            database_location("sqlite:/var/lib/tessera/tessera.db"),
            "/var/lib/tessera/tessera.db"
        );
        assert_eq!(
            database_location("postgres://tessera:s3cret@db.internal:5432/tessera?sslmode=require&password=x"),
            "postgres://tessera@db.internal:5432/tessera"
        );
        assert_eq!(
            database_location("postgres://user@localhost/db?host=/var/run/postgresql"),
            "postgres://user@localhost/db"
        );
        assert_eq!(
            database_location("postgresql:///tessera"),
            "postgresql://(socket)/tessera"
        );
        let p = database_location("postgres://u:p%40ss@h/d");
        assert!(!p.contains("p%40ss") && !p.contains("ss@"), "{p}");
    }
}
