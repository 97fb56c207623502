//! A real SMTP server (tests/mail/smtp_sink.py on aiosmtpd) as a child process on a free loopback
//! port, a relay that accepts connections and never answers, and a worker on a test database.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_auth_core::clock::{Clock, ManualClock};
use tessera_auth_core::mail::{LinkToken, MailIntent, MailSealingKey, OutgoingMail, Recipient, SealedMail};
use tessera_auth_core::secret::MasterKey;
use tessera_mail::transport::hello_name;
use tessera_mail::{MailFrom, MailWorkerHandle, MailWorkerParts, SmtpTransport, SmtpUrl, Transport, spawn_mail_worker};
use tessera_store::SeaStore;
use tessera_tests::process::{GRACE, terminate};
use time::OffsetDateTime;

pub const ORIGIN: &str = "https://app.example.com";
pub const TOKEN: &str = "q3Xh0-_Zt9Y2bLr8Vw1kPn4sJd6Gf5Hc7Am0Ee2Ui3o";

/// The Python that runs the SMTP server: `TESSERA_TEST_PYTHON`, else Debian's `/usr/bin/python3`
/// (where `python3-aiosmtpd` installs), else `python3`.
fn python() -> String {
    if let Ok(python) = std::env::var("TESSERA_TEST_PYTHON") {
        return python;
    }
    if Path::new("/usr/bin/python3").exists() {
        return "/usr/bin/python3".to_owned();
    }
    "python3".to_owned()
}

fn sink_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mail/smtp_sink.py")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// TLS for the SMTP server.
pub struct SinkTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `starttls` or `implicit`.
    pub mode: &'static str,
}

/// aiosmtpd on `127.0.0.1:<port>`, writing what it receives to a temporary directory. SIGTERM
/// and a bounded wait on drop.
pub struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        SmtpSink::start_on(free_port(), None).await
    }

    pub async fn start_on(port: u16, tls: Option<&SinkTls>) -> SmtpSink {
        let dir = tempfile::tempdir().expect("sink dir");
        let mut command = Command::new(python());
        command
            .arg(sink_script())
            .arg("serve")
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(tls) = tls {
            command
                .arg("--tls-cert")
                .arg(&tls.cert)
                .arg("--tls-key")
                .arg(&tls.key)
                .arg("--mode")
                .arg(tls.mode);
        }
        let child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot start the test SMTP server ({}): {err}; it needs Python 3 with aiosmtpd \
                 (apt-get install python3-aiosmtpd)",
                python()
            )
        });
        let mut sink = SmtpSink {
            child: Some(child),
            port,
            dir,
        };
        eventually("the SMTP server to listen", Duration::from_secs(60), || {
            let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            let exited = sink.child.as_mut().and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "the test SMTP server exited ({status}); it needs Python 3 with aiosmtpd \
                     (apt-get install python3-aiosmtpd)"
                );
            }
            async move { ready.then_some(()) }
        })
        .await;
        sink
    }

    /// `smtp://127.0.0.1:<port>?tls=none`.
    pub fn url(&self) -> SmtpUrl {
        SmtpUrl::parse(&format!("smtp://127.0.0.1:{}?tls=none", self.port)).expect("url")
    }

    /// What it received so far, in order (see `describe` in smtp_sink.py).
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read sink dir")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path).expect("read message")).expect("json"))
            .collect()
    }

    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        eventually(
            &format!("{count} messages at the SMTP server"),
            Duration::from_secs(30),
            || {
                let messages = self.messages();
                async move { (messages.len() >= count).then_some(messages) }
            },
        )
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, GRACE);
        }
    }
}

/// A "relay" that accepts connections and never says a word (lettre waits for its greeting).
pub struct SilentRelay {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl SilentRelay {
    pub async fn start() -> SilentRelay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        SilentRelay { port, task }
    }

    pub fn url(&self) -> SmtpUrl {
        SmtpUrl::parse(&format!("smtp://127.0.0.1:{}?tls=none", self.port)).expect("url")
    }
}

impl Drop for SilentRelay {
    fn drop(&mut self) {
        self.task.abort();
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
