//! Starting `tessera` processes on free ports, waiting for them with a deadline, and a minimal
//! cookie-keeping HTTP client.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tessera_tests::process::{GRACE, terminate};

/// Strong enough for the zxcvbn policy.
pub const PASSWORD: &str = "tangerine-otter-cobalt-92";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `tessera` with a clean environment: only PATH, the data directory and `vars`.
pub fn tessera(data: &Path, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TESSERA_DATA_DIR", data)
        .env("TESSERA_RATE_LIMIT_PER_IP", "0")
        .env("RUST_LOG", "warn");
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd
}

/// Runs `cmd` with `stdin` as its standard input; returns its output.
pub fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tessera starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("tessera exits")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A `tessera serve` process; stopped (SIGTERM, then SIGKILL after a grace period) on drop. Its
/// standard error goes to `log`.
pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        terminate(&mut self.child, GRACE);
    }
}

impl Server {
    /// Starts `tessera serve` on `addr` (`IP:PORT`) and waits until /api/ready answers 200.
    pub async fn start(data: &Path, addr: &str, vars: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(data).expect("data dir");
        let log = data.join(format!("serve-{}.log", addr.replace([':', '.'], "-")));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = tessera(data, vars)
            .arg("serve")
            .env("TESSERA_ADDR", addr)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("tessera starts");
        let mut server = Server {
            child,
            base: format!("http://{addr}"),
            log,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = client.get(format!("{}/api/ready", server.base)).send().await
                && resp.status() == StatusCode::OK
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "tessera exited with {status} before it was ready:\n{}",
                    server.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "tessera on {addr} never became ready:\n{}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the process (SIGTERM, SIGKILL after a grace period) and waits for it.
    pub fn stop(mut self) {
        terminate(&mut self.child, GRACE);
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }
}

/// A browser's habits in a few lines: a cookie jar for one origin, `Origin` on unsafe requests
/// and the CSRF cookie echoed in `X-CSRF-Token`.
pub struct Browser {
    pub client: reqwest::Client,
    pub origin: String,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    /// `local_address`: the IP address the client's connections come from.
    pub fn new(origin: &str, local_address: Option<std::net::IpAddr>) -> Browser {
        let client = reqwest::Client::builder()
            .local_address(local_address)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Browser {
            client,
            origin: origin.to_owned(),
            cookies: BTreeMap::new(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn send(&mut self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let unsafe_method = method != reqwest::Method::GET && method != reqwest::Method::HEAD;
        let mut request = self.client.request(method, format!("{}{path}", self.origin));
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        if unsafe_method {
            request = request.header("origin", &self.origin);
            if let Some(csrf) = self.cookies.get("__Host-csrf") {
                request = request.header("x-csrf-token", csrf);
            }
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request reaches the server");
        let reply = Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("body").to_vec(),
        };
        for raw in reply.set_cookies() {
            let pair = raw.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let cleared = raw.to_ascii_lowercase().contains("max-age=0");
            if cleared || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        reply
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, body: Option<Value>) -> Reply {
        self.send(reqwest::Method::POST, path, body).await
    }
}

/// Registers `email` with [`PASSWORD`] as a native client: `(access, refresh)`.
pub async fn register_native(base: &str, email: &str) -> (String, String) {
    let body = json!({"email": email, "password": PASSWORD, "name": "Ada", "token_delivery": "body"});
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// POST /api/auth/login as a native client; the status and body.
pub async fn login_native(base: &str, email: &str, password: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": password, "token_delivery": "body"}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Polls `check` until it returns true or `limit` passes.
pub async fn eventually(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
