//! Configuration from environment variables (DESIGN.md "Runtime"). Every problem stops start-up
//! with one message naming the variable; secrets are never echoed back.
//!
//! One parser per concern lives in `parsers`; `vars` reads the variables (empty counts as unset)
//! and `values` holds the syntaxes they share (durations, origins, CIDRs).

mod parsers;
mod values;
mod vars;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use tessera_mail::{MailFrom, SmtpUrl};
use time::Duration;

pub use values::{Cidr, origin_host, parse_duration, parse_origin};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtSigning {
    /// Ed25519 keys kept in the database, sealed under the master key.
    EdDsa,
    /// One shared HMAC secret (single-service deployments).
    Hs256(Secret),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The forwarding header trusted proxies write (`TESSERA_FORWARDED_HEADER`). Only that one is
/// read: a proxy passes the other one through from the client untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Secret,
    /// `None`: read (or generate) `<data dir>/master.key`.
    pub master_key_hex: Option<Secret>,
    /// The SPA's own origin, e.g. `http://127.0.0.1:8080` (no trailing slash).
    pub public_origin: String,
    pub allowed_origins: Vec<String>,
    pub access_ttl: Duration,
    pub refresh_idle_ttl: Duration,
    pub refresh_absolute_ttl: Duration,
    pub refresh_grace: Duration,
    pub jwt: JwtSigning,
    pub issuer: String,
    pub audience: String,
    pub cookie_secure: bool,
    /// Auth requests a minute per client IP; 0 turns the limit off.
    pub rate_limit_per_ip: u32,
    pub trusted_proxies: Vec<Cidr>,
    /// Which header those proxies write the client's address in.
    pub forwarded_header: ForwardedHeader,
    pub log_format: LogFormat,
    /// How often each instance polls for revocations and key rotations (heals missed notifications).
    pub sync_interval: std::time::Duration,
    /// Serve the bundled SPA for paths outside /api and /.well-known (`TESSERA_SERVE_SPA`).
    pub serve_spa: bool,
    pub mail: MailSettings,
}

/// Where mail goes (DESIGN.md "Mail").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransportSetting {
    /// `TESSERA_SMTP_URL`.
    Smtp(SmtpUrl),
    /// No SMTP configured: `.eml` files in this directory (`<data dir>/outbox`).
    Outbox(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub transport: MailTransportSetting,
    /// `TESSERA_MAIL_FROM`; its display name is the product name in messages.
    pub from: MailFrom,
    /// `TESSERA_RESET_TTL`: how long a password reset link works.
    pub reset_ttl: Duration,
    /// `TESSERA_VERIFY_TTL`: how long a verification or change confirmation link works.
    pub verify_ttl: Duration,
    /// `TESSERA_REQUIRE_VERIFIED_EMAIL`: no session until the address is verified.
    pub require_verified_email: bool,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests). Empty values
    /// count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let vars = vars::Vars::new(&lookup);
        let parsers::Listen { addr, data_dir } = parsers::listen(&vars)?;
        let database = parsers::database(&vars, &data_dir)?;
        let origins = parsers::origins(&vars, addr)?;
        let ttls = parsers::ttls(&vars)?;
        let jwt = parsers::jwt(&vars)?;
        let cookie_secure = vars.boolean("TESSERA_COOKIE_SECURE")?;
        let serve_spa = vars.boolean("TESSERA_SERVE_SPA")?;
        let clients = parsers::clients(&vars)?;
        let operation = parsers::operation(&vars)?;
        let mail = parsers::mail(&vars, &origins.public, &data_dir)?;
        Ok(Config {
            addr,
            data_dir,
            database_url: database.url,
            master_key_hex: database.master_key_hex,
            public_origin: origins.public,
            allowed_origins: origins.allowed,
            access_ttl: ttls.access,
            refresh_idle_ttl: ttls.refresh_idle,
            refresh_absolute_ttl: ttls.refresh_absolute,
            refresh_grace: ttls.refresh_grace,
            jwt: jwt.signing,
            issuer: jwt.issuer,
            audience: jwt.audience,
            cookie_secure,
            rate_limit_per_ip: clients.rate_limit_per_ip,
            trusted_proxies: clients.trusted_proxies,
            forwarded_header: clients.forwarded_header,
            log_format: operation.log_format,
            sync_interval: operation.sync_interval,
            serve_spa,
            mail,
        })
    }
}

#[cfg(test)]
mod tests;
