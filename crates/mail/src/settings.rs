//! `TESSERA_SMTP_URL` and `TESSERA_MAIL_FROM` (DESIGN.md "Mail"). Parsing only: nothing here
//! opens a connection. Errors describe the problem and never echo a password.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use lettre::message::Mailbox;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtps://` (default port 465): TLS from the first byte.
    ImplicitTls,
    /// `smtp://` (default port 587): STARTTLS, required; a server that does not offer it, or a
    /// certificate that does not verify, fails the delivery before credentials or mail are sent.
    StartTls,
    /// `smtp://host:port?tls=none`: no encryption. Only to a loopback host (a local relay, tests).
    Plain,
}

/// An SMTP password. `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(String);

impl SmtpPassword {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A parsed `TESSERA_SMTP_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub security: SmtpSecurity,
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// User name and password for SMTP AUTH, both or neither.
    pub credentials: Option<(String, SmtpPassword)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SmtpUrlError(String);

fn url_error(message: impl Into<String>) -> SmtpUrlError {
    SmtpUrlError(message.into())
}

const EXPECTED: &str =
    "expected smtps://user:pass@host:465, smtp://user:pass@host:587 (STARTTLS) or smtp://127.0.0.1:port?tls=none";

fn percent_decode(text: &str, what: &str) -> Result<String, SmtpUrlError> {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| url_error(format!("the {what} is not valid percent-encoding")))
}

impl SmtpUrl {
    pub fn parse(text: &str) -> Result<SmtpUrl, SmtpUrlError> {
        // The URL parser's own messages never include the input, but say nothing of it either.
        let url = url::Url::parse(text.trim()).map_err(|err| url_error(format!("not a URL ({err}); {EXPECTED}")))?;
        let (mut security, default_port) = match url.scheme() {
            "smtps" => (SmtpSecurity::ImplicitTls, 465),
            "smtp" => (SmtpSecurity::StartTls, 587),
            other => return Err(url_error(format!("unsupported scheme {other:?}; {EXPECTED}"))),
        };
        let host = match url.host() {
            Some(url::Host::Domain(domain)) if !domain.is_empty() => domain.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(url_error(format!("no host; {EXPECTED}"))),
        };
        if !matches!(url.path(), "" | "/") {
            return Err(url_error("a path is not allowed"));
        }
        if url.fragment().is_some() {
            return Err(url_error("a fragment is not allowed"));
        }
        for (name, value) in url.query_pairs() {
            match (name.as_ref(), value.as_ref(), security) {
                ("tls", "none", SmtpSecurity::StartTls | SmtpSecurity::Plain) => security = SmtpSecurity::Plain,
                ("tls", "starttls" | "required", SmtpSecurity::StartTls) => {}
                ("tls", _, SmtpSecurity::ImplicitTls) => {
                    return Err(url_error("smtps:// is always TLS; drop the tls parameter"));
                }
                ("tls", other, _) => {
                    return Err(url_error(format!(
                        "tls={other:?} is not supported: smtp:// requires STARTTLS, or tls=none for a loopback relay"
                    )));
                }
                (other, _, _) => return Err(url_error(format!("unknown parameter {other:?}"))),
            }
        }
        if security == SmtpSecurity::Plain && !is_loopback(&host) {
            return Err(url_error(format!(
                "tls=none sends mail and credentials in clear text and is allowed only to a loopback host \
                 (127.0.0.1, ::1, localhost), not {host:?}"
            )));
        }
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err(url_error("a password without a user name")),
            (_, None) => return Err(url_error("a user name without a password")),
            (user, Some(password)) => Some((
                percent_decode(user, "user name")?,
                SmtpPassword(percent_decode(password, "password")?),
            )),
        };
        Ok(SmtpUrl {
            security,
            host,
            port: url.port().unwrap_or(default_port),
            credentials,
        })
    }
}

/// `localhost`, `*.localhost`, 127.0.0.0/8, ::1 and IPv4-mapped loopback.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = IpAddr::from_str(host) {
        return match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        };
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// The sender of every message (`TESSERA_MAIL_FROM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom(Mailbox);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an address like no-reply@example.com or \"Example <no-reply@example.com>\"")]
pub struct MailFromError;

/// The product name when the sender has no display name.
pub const DEFAULT_PRODUCT_NAME: &str = "Tessera";

impl MailFrom {
    pub fn parse(text: &str) -> Result<MailFrom, MailFromError> {
        let mailbox = Mailbox::from_str(text.trim()).map_err(|_| MailFromError)?;
        if mailbox
            .name
            .as_deref()
            .is_some_and(|name| name.chars().any(char::is_control))
        {
            return Err(MailFromError);
        }
        Ok(MailFrom(mailbox))
    }

    /// `Tessera <no-reply@HOST>` for the public origin's host, `no-reply@localhost` when that
    /// host is an IP address (an address literal is no mail domain).
    pub fn default_for(public_host: &str) -> MailFrom {
        let host = public_host.trim_start_matches('[').trim_end_matches(']');
        let domain = if host.parse::<IpAddr>().is_ok() || host.is_empty() {
            "localhost"
        } else {
            host
        };
        let address = lettre::Address::new("no-reply", domain)
            .unwrap_or_else(|_| lettre::Address::new_dangerous("no-reply", "localhost"));
        MailFrom(Mailbox::new(Some(DEFAULT_PRODUCT_NAME.to_owned()), address))
    }

    pub fn mailbox(&self) -> &Mailbox {
        &self.0
    }

    /// The name products are called by in messages: the sender's display name, else "Tessera".
    pub fn product_name(&self) -> &str {
        match self.0.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => name,
            _ => DEFAULT_PRODUCT_NAME,
        }
    }

    /// The sender's domain (`Message-ID`s are made on it).
    pub fn domain(&self) -> &str {
        self.0.email.domain()
    }
}

impl fmt::Display for MailFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_contract_forms_parse() {
        let url = SmtpUrl::parse("smtps://mailer:s3cret@smtp.example.com:465").unwrap();
        assert_eq!(url.security, SmtpSecurity::ImplicitTls);
        assert_eq!((url.host.as_str(), url.port), ("smtp.example.com", 465));
        let (user, password) = url.credentials.clone().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("mailer", "s3cret"));

        let url = SmtpUrl::parse("smtp://mailer:s3cret@smtp.example.com:587").unwrap();
        assert_eq!(url.security, SmtpSecurity::StartTls);
        assert_eq!(url.port, 587);

        let url = SmtpUrl::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!(url.security, SmtpSecurity::Plain);
        assert_eq!(
            (url.host.as_str(), url.port, url.credentials),
            ("127.0.0.1", 2525, None)
        );
    }

    #[test]
    fn default_ports_and_explicit_starttls() {
        assert_eq!(SmtpUrl::parse("smtps://relay.example").unwrap().port, 465);
        assert_eq!(SmtpUrl::parse("smtp://relay.example").unwrap().port, 587);
        let url = SmtpUrl::parse("smtp://relay.example:2587/?tls=starttls").unwrap();
        assert_eq!((url.security, url.port), (SmtpSecurity::StartTls, 2587));
        assert_eq!(
            SmtpUrl::parse("smtp://relay.example?tls=required").unwrap().security,
            SmtpSecurity::StartTls
        );
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let url = SmtpUrl::parse("smtps://me%40example.com:p%40ss%2Bw%3Ard@relay.example").unwrap();
        let (user, password) = url.credentials.unwrap();
        assert_eq!(user, "me@example.com");
        assert_eq!(password.expose(), "p@ss+w:rd");
    }

    #[test]
    fn plain_is_only_for_loopback() {
        for host in ["127.0.0.1", "127.8.9.10", "[::1]", "localhost", "mail.localhost"] {
            let url = SmtpUrl::parse(&format!("smtp://{host}:25?tls=none")).unwrap();
            assert_eq!(url.security, SmtpSecurity::Plain, "{host}");
        }
        for host in [
            "10.0.0.1",
            "smtp.example.com",
            "[2001:db8::1]",
            "localhost.example.com",
            "0.0.0.0",
        ] {
            let err = SmtpUrl::parse(&format!("smtp://user:hunter2@{host}:25?tls=none")).unwrap_err();
            assert!(err.to_string().contains("loopback"), "{host}: {err}");
            assert!(!err.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_the_password() {
        for bad in [
            "",
            "relay.example:587",
            "http://relay.example",
            "smtp://",
            "smtp://:hunter2@relay.example",
            "smtp://user@relay.example",
            "smtp://user:hunter2@relay.example/path",
            "smtp://user:hunter2@relay.example?tls=opportunistic",
            "smtp://user:hunter2@relay.example?tls=wrapper",
            "smtps://user:hunter2@relay.example?tls=none",
            "smtp://user:hunter2@relay.example?timeout=5",
            "smtp://user:hunter2@relay.example:99999",
            "smtp://user:hunter2@relay.example#frag",
        ] {
            let err = SmtpUrl::parse(bad).expect_err(bad);
            assert!(!err.to_string().contains("hunter2"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_password_is_redacted_in_debug() {
        let url = SmtpUrl::parse("smtps://mailer:hunter2@relay.example").unwrap();
        let debug = format!("{url:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn default_sender_follows_the_public_host() {
        let from = MailFrom::default_for("app.example.com");
        assert_eq!(from.to_string(), "Tessera <no-reply@app.example.com>");
        assert_eq!((from.product_name(), from.domain()), ("Tessera", "app.example.com"));
        for ip in ["127.0.0.1", "[::1]", "::1"] {
            assert_eq!(
                MailFrom::default_for(ip).to_string(),
                "Tessera <no-reply@localhost>",
                "{ip}"
            );
        }
    }

    #[test]
    fn configured_sender_names_the_product() {
        let from = MailFrom::parse("Acme Accounts <accounts@acme.example>").unwrap();
        assert_eq!((from.product_name(), from.domain()), ("Acme Accounts", "acme.example"));
        let bare = MailFrom::parse("accounts@acme.example").unwrap();
        assert_eq!(bare.product_name(), "Tessera");
        for bad in ["", "not an address", "a@", "<@x>", "Name <a@b> extra"] {
            assert!(MailFrom::parse(bad).is_err(), "{bad:?}");
        }
    }
}
