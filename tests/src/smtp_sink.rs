//! A real SMTP server for tests: tests/mail/smtp_sink.py (aiosmtpd) as a child process on a free
//! loopback port, writing each message it receives as `<n>.json`; and a relay that accepts
//! connections and never answers. Shared by the mail crate's delivery tests and the black-box
//! flows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a broken fixture should fail the test at once"
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::{GRACE, terminate};

/// The Python that runs the SMTP server: `TESSERA_TEST_PYTHON`, else Debian's `/usr/bin/python3`
/// (where `python3-aiosmtpd` installs), else `python3`.
pub fn python() -> String {
    if let Ok(python) = std::env::var("TESSERA_TEST_PYTHON") {
        return python;
    }
    if Path::new("/usr/bin/python3").exists() {
        return "/usr/bin/python3".to_owned();
    }
    "python3".to_owned()
}

pub fn sink_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mail/smtp_sink.py")
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

    /// `smtp://127.0.0.1:<port>?tls=none` (`TESSERA_SMTP_URL` for a server that sends here).
    pub fn url_text(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
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

    pub fn url_text(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }
}

impl Drop for SilentRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
