//! One parser per concern. Each reads only its own variables and checks the rules between them;
//! [`Config::from_lookup`](super::Config::from_lookup) puts the answers together.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tessera_mail::{MailFrom, SmtpUrl};
use time::Duration;

use super::values::{Cidr, origin_host, parse_origin};
use super::vars::{Vars, invalid};
use super::{ConfigError, ForwardedHeader, JwtSigning, LogFormat, MailSettings, MailTransportSetting, Secret};

/// `TESSERA_ADDR` and `TESSERA_DATA_DIR`.
pub(super) struct Listen {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

pub(super) fn listen(vars: &Vars) -> Result<Listen, ConfigError> {
    let addr_text = vars.get("TESSERA_ADDR").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let addr: SocketAddr = addr_text.parse().map_err(|_| {
        invalid(
            "TESSERA_ADDR",
            format!("expected IP:PORT such as 127.0.0.1:8080, got {addr_text:?}"),
        )
    })?;
    let data_dir = PathBuf::from(vars.get("TESSERA_DATA_DIR").unwrap_or_else(|| "./data".to_owned()));
    Ok(Listen { addr, data_dir })
}

/// `DATABASE_URL` and `TESSERA_MASTER_KEY`. Neither value is echoed in an error.
pub(super) struct Database {
    pub url: Secret,
    pub master_key_hex: Option<Secret>,
}

pub(super) fn database(vars: &Vars, data_dir: &Path) -> Result<Database, ConfigError> {
    let url = match vars.get("DATABASE_URL") {
        Some(url) => {
            let supported = ["sqlite:", "postgres://", "postgresql://"];
            if !supported.iter().any(|prefix| url.starts_with(prefix)) {
                return Err(invalid("DATABASE_URL", "expected a sqlite:// or postgres:// URL"));
            }
            url
        }
        None => format!("sqlite://{}?mode=rwc", data_dir.join("tessera.db").display()),
    };
    let master_key_hex = match vars.get("TESSERA_MASTER_KEY") {
        Some(hex) => {
            tessera_auth_core::secret::MasterKey::from_hex(&hex)
                .map_err(|_| invalid("TESSERA_MASTER_KEY", "expected 64 hexadecimal characters (32 bytes)"))?;
            Some(Secret(hex))
        }
        None => None,
    };
    Ok(Database {
        url: Secret(url),
        master_key_hex,
    })
}

/// `TESSERA_PUBLIC_ORIGIN` and `TESSERA_ALLOWED_ORIGINS`.
pub(super) struct Origins {
    pub public: String,
    pub allowed: Vec<String>,
}

pub(super) fn origins(vars: &Vars, addr: SocketAddr) -> Result<Origins, ConfigError> {
    let public = match vars.get("TESSERA_PUBLIC_ORIGIN") {
        Some(origin) => parse_origin(&origin).ok_or_else(|| {
            invalid(
                "TESSERA_PUBLIC_ORIGIN",
                format!("expected an origin like https://app.example.com, got {origin:?}"),
            )
        })?,
        None => format!("http://{addr}"),
    };
    let allowed = vars.list(
        "TESSERA_ALLOWED_ORIGINS",
        "origins like https://app.example.com",
        parse_origin,
    )?;
    Ok(Origins { public, allowed })
}

/// The token lifetimes (`TESSERA_ACCESS_TTL`, `TESSERA_REFRESH_*`).
pub(super) struct Ttls {
    pub access: Duration,
    pub refresh_idle: Duration,
    pub refresh_absolute: Duration,
    pub refresh_grace: Duration,
}

const IDLE: &str = "TESSERA_REFRESH_IDLE_TTL";
const DEFAULT_IDLE: &str = "14d";

pub(super) fn ttls(vars: &Vars) -> Result<Ttls, ConfigError> {
    let access = vars.duration("TESSERA_ACCESS_TTL", "10m")?;
    let refresh_idle = vars.duration(IDLE, DEFAULT_IDLE)?;
    let refresh_absolute = vars.duration("TESSERA_REFRESH_ABSOLUTE_TTL", "30d")?;
    // A user who only shortened the absolute TTL did not ask for a longer idle one: the default
    // idle TTL yields to it. An idle TTL set explicitly above it is a contradiction.
    let refresh_idle = if vars.is_set(IDLE) {
        refresh_idle
    } else {
        refresh_idle.min(refresh_absolute)
    };
    let refresh_grace = vars.duration("TESSERA_REFRESH_GRACE", "10s")?;
    if refresh_idle > refresh_absolute {
        return Err(invalid(IDLE, "must not exceed TESSERA_REFRESH_ABSOLUTE_TTL"));
    }
    if access > refresh_absolute {
        return Err(invalid(
            "TESSERA_ACCESS_TTL",
            "must not exceed TESSERA_REFRESH_ABSOLUTE_TTL",
        ));
    }
    Ok(Ttls {
        access,
        refresh_idle,
        refresh_absolute,
        refresh_grace,
    })
}

/// `TESSERA_JWT_ALG`, `TESSERA_JWT_SECRET`, `TESSERA_ISSUER` and `TESSERA_AUDIENCE`.
pub(super) struct Jwt {
    pub signing: JwtSigning,
    pub issuer: String,
    pub audience: String,
}

pub(super) fn jwt(vars: &Vars) -> Result<Jwt, ConfigError> {
    let signing = match vars.get("TESSERA_JWT_ALG").as_deref() {
        None | Some("EdDSA") => JwtSigning::EdDsa,
        Some("HS256") => {
            let secret = vars.raw("TESSERA_JWT_SECRET").unwrap_or_default();
            if secret.len() < 32 {
                return Err(invalid(
                    "TESSERA_JWT_SECRET",
                    "HS256 needs a secret of at least 32 bytes",
                ));
            }
            JwtSigning::Hs256(Secret(secret))
        }
        Some(other) => {
            return Err(invalid(
                "TESSERA_JWT_ALG",
                format!("expected EdDSA or HS256, got {other:?}"),
            ));
        }
    };
    Ok(Jwt {
        signing,
        issuer: vars.get("TESSERA_ISSUER").unwrap_or_else(|| "tessera".to_owned()),
        audience: vars.get("TESSERA_AUDIENCE").unwrap_or_else(|| "tessera-api".to_owned()),
    })
}

/// `TESSERA_RATE_LIMIT_PER_IP`, `TESSERA_TRUSTED_PROXIES` and `TESSERA_FORWARDED_HEADER`: who
/// the client is, and how often it may try.
pub(super) struct Clients {
    pub rate_limit_per_ip: u32,
    pub trusted_proxies: Vec<Cidr>,
    pub forwarded_header: ForwardedHeader,
}

pub(super) fn clients(vars: &Vars) -> Result<Clients, ConfigError> {
    let rate_limit_per_ip = match vars.get("TESSERA_RATE_LIMIT_PER_IP") {
        Some(text) => text.parse::<u32>().map_err(|_| {
            invalid(
                "TESSERA_RATE_LIMIT_PER_IP",
                format!("expected a whole number (0 turns it off), got {text:?}"),
            )
        })?,
        None => 30,
    };
    let trusted_proxies = vars.list("TESSERA_TRUSTED_PROXIES", "CIDRs like 10.0.0.0/8", Cidr::parse)?;
    let forwarded_header = match vars
        .get("TESSERA_FORWARDED_HEADER")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("x-forwarded-for") => ForwardedHeader::XForwardedFor,
        Some("forwarded") => ForwardedHeader::Forwarded,
        Some(other) => {
            return Err(invalid(
                "TESSERA_FORWARDED_HEADER",
                format!("expected x-forwarded-for or forwarded, got {other:?}"),
            ));
        }
    };
    Ok(Clients {
        rate_limit_per_ip,
        trusted_proxies,
        forwarded_header,
    })
}

/// `TESSERA_LOG_FORMAT` and `TESSERA_SYNC_INTERVAL`: how the process reports and keeps in step.
pub(super) struct Operation {
    pub log_format: LogFormat,
    pub sync_interval: std::time::Duration,
}

pub(super) fn operation(vars: &Vars) -> Result<Operation, ConfigError> {
    let log_format = match vars.get("TESSERA_LOG_FORMAT").as_deref() {
        None | Some("pretty") => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(invalid(
                "TESSERA_LOG_FORMAT",
                format!("expected pretty or json, got {other:?}"),
            ));
        }
    };
    let sync_interval = vars.duration("TESSERA_SYNC_INTERVAL", "2s")?.unsigned_abs();
    Ok(Operation {
        log_format,
        sync_interval,
    })
}

/// `TESSERA_SMTP_URL` and `TESSERA_MAIL_FROM`. Neither value is echoed in an error: the URL may
/// hold the relay's password.
pub(super) fn mail(vars: &Vars, public_origin: &str, data_dir: &Path) -> Result<MailSettings, ConfigError> {
    let transport = match vars.get("TESSERA_SMTP_URL") {
        Some(url) => MailTransportSetting::Smtp(
            SmtpUrl::parse(&url).map_err(|err| invalid("TESSERA_SMTP_URL", err.to_string()))?,
        ),
        None => MailTransportSetting::Outbox(data_dir.join("outbox")),
    };
    let from = match vars.get("TESSERA_MAIL_FROM") {
        Some(from) => MailFrom::parse(&from).map_err(|err| invalid("TESSERA_MAIL_FROM", err.to_string()))?,
        None => MailFrom::default_for(origin_host(public_origin)),
    };
    Ok(MailSettings {
        transport,
        from,
        reset_ttl: vars.duration("TESSERA_RESET_TTL", "30m")?,
        verify_ttl: vars.duration("TESSERA_VERIFY_TTL", "24h")?,
        require_verified_email: vars.boolean_or("TESSERA_REQUIRE_VERIFIED_EMAIL", false)?,
    })
}
