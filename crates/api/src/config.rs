//! Configuration from environment variables (DESIGN.md "Runtime"). Every problem stops start-up
//! with one message naming the variable; secrets are never echoed back.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use tessera_mail::{MailFrom, SmtpUrl};
use time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
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

/// An IP network in CIDR notation (`10.0.0.0/8`, `::1/128`); a bare address means one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr.trim().parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
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
}

/// The host of an origin from [`parse_origin`] (`https://app.example.com:8443` → `app.example.com`,
/// `http://[::1]:8080` → `::1`).
pub fn origin_host(origin: &str) -> &str {
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    authority.split_once(':').map_or(authority, |(host, _)| host)
}

/// `TESSERA_SMTP_URL` and `TESSERA_MAIL_FROM`. Neither value is echoed in an error: the URL may
/// hold the relay's password.
fn mail_settings(
    get: &dyn Fn(&str) -> Option<String>,
    public_origin: &str,
    data_dir: &Path,
) -> Result<MailSettings, ConfigError> {
    let transport = match get("TESSERA_SMTP_URL") {
        Some(url) => MailTransportSetting::Smtp(
            SmtpUrl::parse(&url).map_err(|err| invalid("TESSERA_SMTP_URL", err.to_string()))?,
        ),
        None => MailTransportSetting::Outbox(data_dir.join("outbox")),
    };
    let from = match get("TESSERA_MAIL_FROM") {
        Some(from) => MailFrom::parse(&from).map_err(|err| invalid("TESSERA_MAIL_FROM", err.to_string()))?,
        None => MailFrom::default_for(origin_host(public_origin)),
    };
    Ok(MailSettings { transport, from })
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests). Empty values
    /// count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let addr_text = get("TESSERA_ADDR").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let addr: SocketAddr = addr_text.parse().map_err(|_| {
            invalid(
                "TESSERA_ADDR",
                format!("expected IP:PORT such as 127.0.0.1:8080, got {addr_text:?}"),
            )
        })?;

        let data_dir = PathBuf::from(get("TESSERA_DATA_DIR").unwrap_or_else(|| "./data".to_owned()));

        let database_url = match get("DATABASE_URL") {
            Some(url) => {
                let supported = ["sqlite:", "postgres://", "postgresql://"];
                if !supported.iter().any(|prefix| url.starts_with(prefix)) {
                    return Err(invalid("DATABASE_URL", "expected a sqlite:// or postgres:// URL"));
                }
                url
            }
            None => format!("sqlite://{}?mode=rwc", data_dir.join("tessera.db").display()),
        };

        let master_key_hex = match get("TESSERA_MASTER_KEY") {
            Some(hex) => {
                tessera_auth_core::secret::MasterKey::from_hex(&hex)
                    .map_err(|_| invalid("TESSERA_MASTER_KEY", "expected 64 hexadecimal characters (32 bytes)"))?;
                Some(Secret(hex))
            }
            None => None,
        };

        let public_origin = match get("TESSERA_PUBLIC_ORIGIN") {
            Some(origin) => parse_origin(&origin).ok_or_else(|| {
                invalid(
                    "TESSERA_PUBLIC_ORIGIN",
                    format!("expected an origin like https://app.example.com, got {origin:?}"),
                )
            })?,
            None => format!("http://{addr}"),
        };

        let allowed_origins = match get("TESSERA_ALLOWED_ORIGINS") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| {
                    parse_origin(o).ok_or_else(|| {
                        invalid(
                            "TESSERA_ALLOWED_ORIGINS",
                            format!("expected comma-separated origins like https://app.example.com, got {o:?}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };

        let duration = |name: &'static str, default: &str| -> Result<Duration, ConfigError> {
            let text = get(name).unwrap_or_else(|| default.to_owned());
            parse_duration(&text).ok_or_else(|| {
                invalid(
                    name,
                    format!("expected a positive duration like 30s, 10m, 12h or 14d, got {text:?}"),
                )
            })
        };
        let access_ttl = duration("TESSERA_ACCESS_TTL", "10m")?;
        let refresh_absolute_ttl = duration("TESSERA_REFRESH_ABSOLUTE_TTL", "30d")?;
        // A user who only shortened the absolute TTL did not ask for a longer idle one: the
        // default idle TTL yields to it. An idle TTL set explicitly above it is a contradiction.
        let refresh_idle_ttl = match get("TESSERA_REFRESH_IDLE_TTL") {
            Some(_) => duration("TESSERA_REFRESH_IDLE_TTL", "14d")?,
            None => duration("TESSERA_REFRESH_IDLE_TTL", "14d")?.min(refresh_absolute_ttl),
        };
        let refresh_grace = duration("TESSERA_REFRESH_GRACE", "10s")?;
        if refresh_idle_ttl > refresh_absolute_ttl {
            return Err(invalid(
                "TESSERA_REFRESH_IDLE_TTL",
                "must not exceed TESSERA_REFRESH_ABSOLUTE_TTL",
            ));
        }
        if access_ttl > refresh_absolute_ttl {
            return Err(invalid(
                "TESSERA_ACCESS_TTL",
                "must not exceed TESSERA_REFRESH_ABSOLUTE_TTL",
            ));
        }

        let jwt = match get("TESSERA_JWT_ALG").as_deref() {
            None | Some("EdDSA") => JwtSigning::EdDsa,
            Some("HS256") => {
                let secret = lookup("TESSERA_JWT_SECRET").unwrap_or_default();
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

        let issuer = get("TESSERA_ISSUER").unwrap_or_else(|| "tessera".to_owned());
        let audience = get("TESSERA_AUDIENCE").unwrap_or_else(|| "tessera-api".to_owned());

        let boolean = |name: &'static str| -> Result<bool, ConfigError> {
            match get(name).as_deref() {
                None | Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                Some(other) => Err(invalid(name, format!("expected true or false, got {other:?}"))),
            }
        };
        let cookie_secure = boolean("TESSERA_COOKIE_SECURE")?;
        let serve_spa = boolean("TESSERA_SERVE_SPA")?;

        let rate_limit_per_ip = match get("TESSERA_RATE_LIMIT_PER_IP") {
            Some(text) => text.parse::<u32>().map_err(|_| {
                invalid(
                    "TESSERA_RATE_LIMIT_PER_IP",
                    format!("expected a whole number (0 turns it off), got {text:?}"),
                )
            })?,
            None => 30,
        };

        let trusted_proxies = match get("TESSERA_TRUSTED_PROXIES") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| {
                    Cidr::parse(c).ok_or_else(|| {
                        invalid(
                            "TESSERA_TRUSTED_PROXIES",
                            format!("expected comma-separated CIDRs like 10.0.0.0/8, got {c:?}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };

        let forwarded_header = match get("TESSERA_FORWARDED_HEADER")
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

        let log_format = match get("TESSERA_LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "TESSERA_LOG_FORMAT",
                    format!("expected pretty or json, got {other:?}"),
                ));
            }
        };

        let sync_interval = duration("TESSERA_SYNC_INTERVAL", "2s")?.unsigned_abs();

        let mail = mail_settings(&get, &public_origin, &data_dir)?;

        Ok(Config {
            addr,
            data_dir,
            database_url: Secret(database_url),
            master_key_hex,
            public_origin,
            allowed_origins,
            access_ttl,
            refresh_idle_ttl,
            refresh_absolute_ttl,
            refresh_grace,
            jwt,
            issuer,
            audience,
            cookie_secure,
            rate_limit_per_ip,
            trusted_proxies,
            forwarded_header,
            log_format,
            sync_interval,
            serve_spa,
            mail,
        })
    }
}

/// `30s`, `10m`, `12h`, `14d` (one unit, positive, whole numbers).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit_at = text.len().checked_sub(1)?;
    let (number, unit) = text.split_at_checked(unit_at)?;
    let value: i64 = number.parse().ok().filter(|v| *v > 0)?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    value.checked_mul(seconds_per_unit).map(Duration::seconds)
}

/// `scheme://host[:port]` with no path, lower-cased, without a trailing slash.
pub fn parse_origin(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = text.split_once("://")?;
    let valid = matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    valid.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_design() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_origin, "http://127.0.0.1:8080");
        assert_eq!(c.database_url.expose(), "sqlite://./data/tessera.db?mode=rwc");
        assert_eq!(c.access_ttl, Duration::minutes(10));
        assert_eq!(c.refresh_idle_ttl, Duration::days(14));
        assert_eq!(c.refresh_absolute_ttl, Duration::days(30));
        assert_eq!(c.refresh_grace, Duration::seconds(10));
        assert_eq!(c.jwt, JwtSigning::EdDsa);
        assert_eq!((c.issuer.as_str(), c.audience.as_str()), ("tessera", "tessera-api"));
        assert!(c.cookie_secure);
        assert_eq!(c.rate_limit_per_ip, 30);
        assert_eq!(c.forwarded_header, ForwardedHeader::XForwardedFor);
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.sync_interval, std::time::Duration::from_secs(2));
        assert!(c.serve_spa);
        assert!(!config(&[("TESSERA_SERVE_SPA", "false")]).unwrap().serve_spa);
    }

    #[test]
    fn errors_name_the_variable() {
        let cases = [
            ("TESSERA_ADDR", "localhost"),
            ("TESSERA_ACCESS_TTL", "10 minutes"),
            ("TESSERA_REFRESH_GRACE", "-5s"),
            ("TESSERA_JWT_ALG", "RS256"),
            ("TESSERA_COOKIE_SECURE", "yes"),
            ("TESSERA_SERVE_SPA", "off"),
            ("TESSERA_RATE_LIMIT_PER_IP", "-1"),
            ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("TESSERA_FORWARDED_HEADER", "x-real-ip"),
            ("TESSERA_LOG_FORMAT", "xml"),
            ("TESSERA_MASTER_KEY", "abcd"),
            ("TESSERA_PUBLIC_ORIGIN", "ftp://x"),
            ("TESSERA_ALLOWED_ORIGINS", "https://ok.example, nope"),
            ("DATABASE_URL", "mysql://x"),
        ];
        for (name, value) in cases {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn secrets_are_not_echoed() {
        let err = config(&[("TESSERA_MASTER_KEY", "supersecretvalue")]).unwrap_err();
        assert!(!err.to_string().contains("supersecretvalue"));
        let err = config(&[("TESSERA_JWT_ALG", "HS256"), ("TESSERA_JWT_SECRET", "short-secret")]).unwrap_err();
        assert_eq!(err.variable, "TESSERA_JWT_SECRET");
        assert!(!err.to_string().contains("short-secret"));
        let ok = config(&[("TESSERA_JWT_ALG", "HS256"), ("TESSERA_JWT_SECRET", &"k".repeat(32))]).unwrap();
        assert!(!format!("{ok:?}").contains(&"k".repeat(32)));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::seconds(30)));
        assert_eq!(parse_duration("10m"), Some(Duration::minutes(10)));
        assert_eq!(parse_duration("12h"), Some(Duration::hours(12)));
        assert_eq!(parse_duration("14d"), Some(Duration::days(14)));
        for bad in ["", "s", "0s", "-1m", "1w", "1.5h", "10", "9999999999999999999d", "é"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            parse_origin("HTTPS://App.Example.com/").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        for bad in [
            "app.example.com",
            "https://",
            "https://x/path",
            "javascript://x",
            "https://u@x",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cidrs() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        let host = Cidr::parse("::1").unwrap();
        assert!(host.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("nope").is_none());
    }

    #[test]
    fn mail_defaults_to_the_outbox_and_a_sender_on_the_public_host() {
        let c = config(&[("TESSERA_DATA_DIR", "/srv/tessera")]).unwrap();
        assert_eq!(
            c.mail.transport,
            MailTransportSetting::Outbox(PathBuf::from("/srv/tessera/outbox"))
        );
        assert_eq!(c.mail.from.to_string(), "Tessera <no-reply@localhost>", "an IP host");
        let c = config(&[("TESSERA_PUBLIC_ORIGIN", "https://App.Example.com:8443")]).unwrap();
        assert_eq!(c.mail.from.to_string(), "Tessera <no-reply@app.example.com>");
        let c = config(&[
            ("TESSERA_SMTP_URL", "smtps://mailer:hunter2@smtp.example.com"),
            ("TESSERA_MAIL_FROM", "Acme <accounts@acme.example>"),
        ])
        .unwrap();
        match &c.mail.transport {
            MailTransportSetting::Smtp(url) => assert_eq!((url.host.as_str(), url.port), ("smtp.example.com", 465)),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.mail.from.product_name(), "Acme");
        assert!(!format!("{c:?}").contains("hunter2"), "the SMTP password is redacted");
    }

    #[test]
    fn bad_mail_settings_name_the_variable_and_hide_the_password() {
        for (name, value) in [
            ("TESSERA_SMTP_URL", "smtp://mailer:hunter2@smtp.example.com?tls=none"),
            ("TESSERA_SMTP_URL", "http://mailer:hunter2@smtp.example.com"),
            (
                "TESSERA_SMTP_URL",
                "smtp://mailer:hunter2@smtp.example.com?tls=opportunistic",
            ),
            ("TESSERA_MAIL_FROM", "not an address"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{value}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert_eq!(origin_host("http://[::1]:8080"), "::1");
        assert_eq!(origin_host("https://a.example"), "a.example");
        assert_eq!(origin_host("http://127.0.0.1:8080"), "127.0.0.1");
    }

    #[test]
    fn forwarded_header() {
        let c = config(&[("TESSERA_FORWARDED_HEADER", "Forwarded")]).unwrap();
        assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);
        let c = config(&[("TESSERA_FORWARDED_HEADER", "X-Forwarded-For")]).unwrap();
        assert_eq!(c.forwarded_header, ForwardedHeader::XForwardedFor);
    }

    #[test]
    fn idle_cannot_exceed_absolute() {
        let err = config(&[("TESSERA_REFRESH_IDLE_TTL", "40d")]).unwrap_err();
        assert_eq!(err.variable, "TESSERA_REFRESH_IDLE_TTL");
        let err = config(&[
            ("TESSERA_REFRESH_IDLE_TTL", "8d"),
            ("TESSERA_REFRESH_ABSOLUTE_TTL", "7d"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "TESSERA_REFRESH_IDLE_TTL", "both set: an explicit contradiction");
    }

    #[test]
    fn a_default_idle_ttl_is_capped_at_a_shorter_absolute_ttl() {
        let c = config(&[("TESSERA_REFRESH_ABSOLUTE_TTL", "7d")]).unwrap();
        assert_eq!((c.refresh_idle_ttl, c.refresh_absolute_ttl), (Duration::days(7), Duration::days(7)));
        let c = config(&[("TESSERA_REFRESH_ABSOLUTE_TTL", "60d")]).unwrap();
        assert_eq!(c.refresh_idle_ttl, Duration::days(14), "a longer absolute TTL leaves the default");
        let c = config(&[
            ("TESSERA_REFRESH_IDLE_TTL", "2d"),
            ("TESSERA_REFRESH_ABSOLUTE_TTL", "7d"),
        ])
        .unwrap();
        assert_eq!(c.refresh_idle_ttl, Duration::days(2));
    }
}
