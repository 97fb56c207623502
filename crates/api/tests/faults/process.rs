//! The real `tessera` binary as a process: started on a free port, stopped with SIGTERM and a
//! bounded wait, crashed with SIGKILL where a test is about a crash, restarted on the same port
//! (clients keep their address). Its stderr goes to a log file the tests read.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tessera_tests::process::{GRACE, Stopped, terminate};

pub const MASTER_KEY: &str = "3b1f0c2a4b3e5d7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";

/// How long a process may take to become ready, or to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

pub struct Tessera {
    child: Option<Child>,
    pub base: String,
    port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Tessera {
    /// Starts `tessera serve` on `database_url` with `data_dir`, the test defaults and `extra`.
    /// The log is `<log_dir>/tessera.log` (appended across restarts).
    pub async fn start(database_url: &str, data_dir: &Path, log_dir: &Path, extra: &[(&str, &str)]) -> Tessera {
        let port = free_port();
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", database_url),
            ("TESSERA_MASTER_KEY", MASTER_KEY),
            ("TESSERA_RATE_LIMIT_PER_IP", "0"),
            ("TESSERA_SYNC_INTERVAL", "1s"),
            ("RUST_LOG", "warn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.push(("TESSERA_DATA_DIR".to_owned(), data_dir.display().to_string()));
        env.push(("TESSERA_ADDR".to_owned(), format!("127.0.0.1:{port}")));
        for (name, value) in extra {
            env.push(((*name).to_owned(), (*value).to_owned()));
        }
        let mut tessera = Tessera {
            child: None,
            base: format!("http://127.0.0.1:{port}"),
            port,
            env,
            log: log_dir.join("tessera.log"),
        };
        tessera.spawn().await;
        tessera
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("tessera starts");
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(resp) = client.get(format!("{}/api/health", self.base)).send().await
                && resp.status() == StatusCode::OK
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("tessera exited during start-up ({status}):\n{}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "tessera on port {} never became ready:\n{}",
                self.port,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        match terminate(&mut child, STOP_TIMEOUT) {
            Stopped::Exited(status) => assert!(status.success(), "tessera did not stop cleanly: {status}"),
            Stopped::Killed => panic!("tessera ignored SIGTERM for {STOP_TIMEOUT:?}"),
        }
    }

    /// SIGKILL: a crash, nothing flushed or drained.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9 tessera");
            child.wait().expect("reap tessera");
        }
    }

    /// Starts again with the same configuration on the same port; returns when ready.
    pub async fn restart(&mut self) {
        self.spawn().await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Tessera {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, GRACE);
        }
    }
}
