//! Turning a rendered message into RFC 5322 bytes, and delivering them: to an SMTP relay through
//! lettre, or (the embedded default, no mail server needed) as `.eml` files in an outbox
//! directory.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tessera_auth_core::mail::Recipient;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::settings::{MailFrom, SmtpSecurity, SmtpUrl};
use crate::templates::Rendered;

/// Each SMTP command (connect, TLS handshake, EHLO, AUTH, DATA...) gets this long.
pub const SMTP_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The stored address is one Tessera accepts but the mail library cannot address.
    #[error("the recipient address cannot be used in a message")]
    BadRecipient,
    #[error("the message could not be built: {0}")]
    Build(String),
}

/// `<mail id@sender domain>`: stable across retries, so a receiver can recognise a duplicate.
pub fn message_id(mail_id: Uuid, from: &MailFrom) -> String {
    format!("<{mail_id}@{}>", from.domain())
}

/// The recipient's name as a display name: control characters (which lettre cannot encode, and
/// panics on) become spaces. Names are stored without them; this holds whatever the store holds.
fn display_name(name: &str) -> Option<String> {
    let name: String = name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// The message: From, To (the recipient's name and address), Subject, Date (when it was
/// queued), Message-ID, and a multipart/alternative body of the text and HTML parts.
pub fn build_message(
    from: &MailFrom,
    mail_id: Uuid,
    created_at: OffsetDateTime,
    to: &Recipient,
    rendered: &Rendered,
) -> Result<Message, MessageError> {
    let address = Address::from_str(&to.address).map_err(|_| MessageError::BadRecipient)?;
    Message::builder()
        .from(from.mailbox().clone())
        .to(Mailbox::new(display_name(&to.name), address))
        .subject(rendered.subject.clone())
        .date(SystemTime::from(created_at))
        .message_id(Some(message_id(mail_id, from)))
        .user_agent("Tessera".to_owned())
        .multipart(MultiPart::alternative_plain_html(
            rendered.text.clone(),
            rendered.html.clone(),
        ))
        .map_err(|err| MessageError::Build(err.to_string()))
}

/// Why a delivery failed. The text is for logs and the queue row: it never holds the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// Where messages go.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Delivers `message` (queue row `mail_id`). `Ok` once the relay accepted it or the file is
    /// in place.
    async fn deliver(&self, mail_id: Uuid, message: &Message) -> Result<(), DeliveryError>;

    /// For the start-up log: where mail goes, without credentials.
    fn describe(&self) -> String;
}

/// SMTP through lettre: implicit TLS, STARTTLS (required) or plain (loopback only), with
/// certificates verified against Mozilla's roots (plus any extra root given).
#[derive(Clone)]
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    security: SmtpSecurity,
    description: String,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("relay", &self.description)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SMTP transport: {0}")]
pub struct TransportBuildError(String);

/// The EHLO name: the public origin's host (as an address literal when it is an IP).
pub fn hello_name(public_host: &str) -> ClientId {
    let host = public_host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ClientId::Ipv4(ip),
        Ok(IpAddr::V6(ip)) => ClientId::Ipv6(ip),
        Err(_) if !host.is_empty() => ClientId::Domain(host.to_owned()),
        Err(_) => ClientId::Domain("localhost".to_owned()),
    }
}

impl SmtpTransport {
    /// `extra_root_pem`: a PEM certificate to trust besides the public roots (a relay with a
    /// private CA; the tests' self-signed relay).
    pub fn new(
        url: &SmtpUrl,
        hello: ClientId,
        extra_root_pem: Option<&[u8]>,
    ) -> Result<SmtpTransport, TransportBuildError> {
        let tls_parameters = || -> Result<TlsParameters, TransportBuildError> {
            let mut builder = TlsParameters::builder(url.host.clone());
            if let Some(pem) = extra_root_pem {
                let certificate = Certificate::from_pem(pem)
                    .map_err(|err| TransportBuildError(format!("extra root certificate: {err}")))?;
                builder = builder.add_root_certificate(certificate);
            }
            builder
                .build_rustls()
                .map_err(|err| TransportBuildError(format!("TLS: {err}")))
        };
        let tls = match url.security {
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_parameters()?),
            SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
            SmtpSecurity::Plain => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .tls(tls)
            .hello_name(hello)
            .timeout(Some(SMTP_COMMAND_TIMEOUT));
        if let Some((user, password)) = &url.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let scheme = match url.security {
            SmtpSecurity::ImplicitTls => "smtps",
            SmtpSecurity::StartTls => "smtp (STARTTLS)",
            SmtpSecurity::Plain => "smtp (no TLS)",
        };
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        Ok(SmtpTransport {
            inner: builder.build(),
            security: url.security,
            description: format!("{scheme} {host}:{}", url.port),
        })
    }

    pub fn security(&self) -> SmtpSecurity {
        self.security
    }
}

#[async_trait]
impl Transport for SmtpTransport {
    async fn deliver(&self, _mail_id: Uuid, message: &Message) -> Result<(), DeliveryError> {
        self.inner
            .send(message.clone())
            .await
            .map(|_| ())
            .map_err(|err| DeliveryError(format!("SMTP: {err}")))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// The embedded default: each message becomes `<dir>/<mail id>.eml` (RFC 5322, mode 0600, the
/// directory 0700), written to a temporary file, flushed and renamed into place, so a reader
/// never sees half a message. The log names the file, never a link or token.
#[derive(Debug, Clone)]
pub struct OutboxTransport {
    dir: PathBuf,
}

impl OutboxTransport {
    pub fn new(dir: impl Into<PathBuf>) -> OutboxTransport {
        OutboxTransport { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where message `mail_id` is written.
    pub fn path_of(&self, mail_id: Uuid) -> PathBuf {
        self.dir.join(format!("{mail_id}.eml"))
    }
}

fn write_private_atomically(dir: &Path, path: &Path, temporary: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut dirs = std::fs::DirBuilder::new();
    dirs.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        dirs.mode(0o700);
    }
    dirs.create(dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(temporary);
    }
    result
}

#[async_trait]
impl Transport for OutboxTransport {
    async fn deliver(&self, mail_id: Uuid, message: &Message) -> Result<(), DeliveryError> {
        let contents = message.formatted();
        let dir = self.dir.clone();
        let path = self.path_of(mail_id);
        let temporary = self.dir.join(format!(".{mail_id}.eml.tmp"));
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_private_atomically(&dir, &target, &temporary, &contents))
            .await
            .map_err(|err| DeliveryError(format!("outbox: {err}")))?
            .map_err(|err| DeliveryError(format!("outbox {}: {err}", path.display())))?;
        tracing::info!(file = %path.display(), "mail written to the outbox");
        Ok(())
    }

    fn describe(&self) -> String {
        format!("outbox {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_auth_core::mail::{LinkToken, MailIntent};
    use time::macros::datetime;

    use crate::templates::{TemplateContext, render};

    fn message(name: &str) -> (Message, Uuid) {
        let from = MailFrom::parse("Tessera <no-reply@app.example.com>").unwrap();
        let to = Recipient {
            address: "ada@example.com".to_owned(),
            name: name.to_owned(),
        };
        let intent = MailIntent::ResetPassword {
            token: LinkToken::new("tok-en_123").unwrap(),
            expires_at: datetime!(2026-12-02 04:35 UTC),
        };
        let ctx = TemplateContext {
            product: "Tessera".to_owned(),
            origin: "https://app.example.com".to_owned(),
        };
        let id = Uuid::now_v7();
        let rendered = render(&ctx, &to, &intent);
        (
            build_message(&from, id, datetime!(2026-12-02 04:05:06 UTC), &to, &rendered).unwrap(),
            id,
        )
    }

    #[test]
    fn messages_carry_the_headers_that_matter() {
        let (message, id) = message("Ada Lovelace");
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(text.contains("From: Tessera <no-reply@app.example.com>\r\n"), "{text}");
        assert!(text.contains("To: \"Ada Lovelace\" <ada@example.com>\r\n"), "{text}");
        assert!(text.contains("Subject: Reset your Tessera password\r\n"), "{text}");
        assert!(text.contains("Date: Wed, 02 Dec 2026 04:05:06 +0000\r\n"), "{text}");
        assert!(
            text.contains(&format!("Message-ID: <{id}@app.example.com>\r\n")),
            "{text}"
        );
        assert!(text.contains("MIME-Version: 1.0\r\n"));
        assert!(text.contains("Content-Type: multipart/alternative;"));
        assert!(text.contains("Content-Type: text/plain; charset=utf-8"));
        assert!(text.contains("Content-Type: text/html; charset=utf-8"));
        let envelope = message.envelope();
        assert_eq!(
            envelope.to().iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["ada@example.com"]
        );
    }

    #[test]
    fn a_hostile_display_name_cannot_add_recipients_or_headers() {
        let (message, _) = message("Mallory <mallory@evil.example>, Bcc: x@evil.example\r\nX-Evil: 1");
        assert_eq!(message.envelope().to().len(), 1);
        assert_eq!(message.envelope().to()[0].to_string(), "ada@example.com");
        let text = String::from_utf8(message.formatted()).unwrap();
        let (headers, _body) = text.split_once("\r\n\r\n").unwrap();
        assert!(!headers.contains("\r\nX-Evil:"), "{headers}");
        assert!(!headers.contains("\r\nBcc:"), "{headers}");
        assert!(
            headers.contains("\r\nTo: =?utf-8?b?"),
            "the name is an encoded word: {headers}"
        );
    }

    #[test]
    fn unusable_recipient_addresses_are_refused() {
        let from = MailFrom::default_for("app.example.com");
        let to = Recipient {
            address: "not an address".to_owned(),
            name: "X".to_owned(),
        };
        let rendered = Rendered {
            subject: "s".to_owned(),
            text: "t".to_owned(),
            html: "h".to_owned(),
        };
        assert_eq!(
            build_message(&from, Uuid::now_v7(), OffsetDateTime::UNIX_EPOCH, &to, &rendered).unwrap_err(),
            MessageError::BadRecipient
        );
    }

    #[test]
    fn transports_use_the_tls_mode_the_url_names() {
        for (url, security, description) in [
            (
                "smtps://u:hunter2@relay.example",
                SmtpSecurity::ImplicitTls,
                "smtps relay.example:465",
            ),
            (
                "smtp://u:hunter2@relay.example",
                SmtpSecurity::StartTls,
                "smtp (STARTTLS) relay.example:587",
            ),
            (
                "smtp://[::1]:2525?tls=none",
                SmtpSecurity::Plain,
                "smtp (no TLS) [::1]:2525",
            ),
        ] {
            let transport =
                SmtpTransport::new(&SmtpUrl::parse(url).unwrap(), hello_name("app.example.com"), None).unwrap();
            assert_eq!(transport.security(), security, "{url}");
            assert_eq!(transport.describe(), description);
            assert!(!format!("{transport:?}").contains("hunter2"));
        }
    }

    #[test]
    fn hello_names() {
        assert_eq!(hello_name("app.example.com").to_string(), "app.example.com");
        assert_eq!(hello_name("127.0.0.1").to_string(), "[127.0.0.1]");
        assert_eq!(hello_name("[::1]").to_string(), "[IPv6:::1]");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_outbox_writes_a_private_file_atomically() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outbox = OutboxTransport::new(dir.path().join("outbox"));
        let (message, id) = message("Ada");
        outbox.deliver(id, &message).await.unwrap();
        let path = outbox.path_of(id);
        assert_eq!(std::fs::read(&path).unwrap(), message.formatted());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(outbox.dir()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let names: Vec<String> = std::fs::read_dir(outbox.dir())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [format!("{id}.eml")], "no temporary file left behind");
        // A retry of the same message replaces the file.
        outbox.deliver(id, &message).await.unwrap();
        assert_eq!(std::fs::read_dir(outbox.dir()).unwrap().count(), 1);
    }
}
