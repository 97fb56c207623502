//! The shared SMTP sink (tessera_tests::smtp_sink) with this crate's transport on it, and a worker
//! on a test database.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tessera_auth_core::clock::{Clock, ManualClock};
use tessera_auth_core::mail::{LinkToken, MailIntent, MailSealingKey, OutgoingMail, Recipient, SealedMail};
use tessera_auth_core::secret::MasterKey;
use tessera_mail::transport::hello_name;
use tessera_mail::{MailFrom, MailWorkerHandle, MailWorkerParts, SmtpTransport, SmtpUrl, Transport, spawn_mail_worker};
use tessera_store::SeaStore;
pub use tessera_tests::smtp_sink::{SilentRelay, SinkTls, SmtpSink, eventually, free_port};
use tessera_tests::smtp_sink::{python, sink_script};
use time::OffsetDateTime;

pub const ORIGIN: &str = "https://app.example.com";
pub const TOKEN: &str = "q3Xh0-_Zt9Y2bLr8Vw1kPn4sJd6Gf5Hc7Am0Ee2Ui3o";

/// The sink's and the silent relay's `TESSERA_SMTP_URL`, parsed.
pub trait SmtpAt {
    fn url(&self) -> SmtpUrl;
}

impl SmtpAt for SmtpSink {
    fn url(&self) -> SmtpUrl {
        SmtpUrl::parse(&self.url_text()).expect("url")
    }
}

impl SmtpAt for SilentRelay {
    fn url(&self) -> SmtpUrl {
        SmtpUrl::parse(&self.url_text()).expect("url")
    }
}

pub fn smtp(url: &SmtpUrl) -> Arc<dyn Transport> {
    Arc::new(SmtpTransport::new(url, hello_name("app.example.com"), None).expect("transport"))
}

pub fn from() -> MailFrom {
    MailFrom::default_for("app.example.com")
}

pub fn clock() -> Arc<ManualClock> {
    let start = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).expect("now");
    Arc::new(ManualClock::new(start))
}

/// One deployment's view: a store, its master key and clock.
pub struct Env {
    pub store: SeaStore,
    pub key: MailSealingKey,
    pub clock: Arc<ManualClock>,
}

impl Env {
    pub fn new(store: SeaStore, clock: Arc<ManualClock>, master: &MasterKey) -> Env {
        Env {
            store,
            key: master.mail_sealing_key(),
            clock,
        }
    }

    pub fn worker(&self, transport: Arc<dyn Transport>) -> MailWorkerHandle {
        spawn_mail_worker(MailWorkerParts {
            queue: Arc::new(self.store.clone()),
            key: self.key.clone(),
            transport,
            clock: self.clock.clone(),
            from: from(),
            origin: ORIGIN.to_owned(),
            wakeup: self.store.mail_wakeup(),
            // Long: these tests wake the worker when they step the clock.
            poll_interval: Duration::from_secs(3600),
        })
    }

    pub fn reset_mail(&self, to: &str) -> SealedMail {
        let now = self.clock.now();
        let mail = OutgoingMail::new(
            None,
            Recipient {
                address: to.to_owned(),
                name: "Ada Lovelace".to_owned(),
            },
            MailIntent::ResetPassword {
                token: LinkToken::new(TOKEN).expect("token"),
                expires_at: now + time::Duration::minutes(30),
            },
            now,
        );
        self.key.seal(&mail)
    }
}

/// `(status, attempts, payload present)` of queue row `id`.
pub async fn row_state(store: &SeaStore, id: uuid::Uuid) -> (String, i32, bool) {
    use sea_orm::EntityTrait;
    let row = tessera_store::entity::mail_queue::Entity::find_by_id(id)
        .one(store.connection())
        .await
        .expect("read row")
        .expect("row exists");
    (row.status, row.attempts, row.payload.is_some())
}

/// A self-signed certificate for `localhost` and 127.0.0.1 (openssl), as (cert, key) paths.
pub fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs (apt-get install openssl)");
    assert!(status.success(), "openssl could not make a certificate");
    (cert, key)
}

/// Parses an `.eml` file with Python's email package (the same view the sink records).
pub fn parse_eml(path: &Path) -> Value {
    let output = Command::new(python())
        .arg(sink_script())
        .arg("parse")
        .arg(path)
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("json")
}
