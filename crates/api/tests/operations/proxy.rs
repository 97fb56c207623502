//! Tessera behind a real nginx (Debian's package) on loopback, with the shipped
//! deploy/nginx/tessera.conf: the app's own backend beside Tessera on the same origin, cookies
//! and CSRF through the proxy, login + refresh + logout through it, and the client address taken
//! from `X-Forwarded-For` only when the proxy sent it.
//!
//! Loopback is a /8 on Linux, so each party gets its own address and the address Tessera
//! records proves whose word it took: nginx listens on 127.0.0.1 and connects to Tessera from
//! 127.0.0.2 (`proxy_bind`, the only trusted proxy), the browser connects from 127.0.0.3, and an
//! untrusted client talks to Tessera directly from 127.0.0.4.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera_tests::process::terminate;

use crate::support::{Browser, PASSWORD, Server, free_port};

const NGINX: &str = "/usr/sbin/nginx";
const PROXY_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const BROWSER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
const FORGED: &str = "203.0.113.66";

/// nginx in the foreground with a prefix directory of its own; stopped (SIGTERM) on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers and exits (a SIGKILL would orphan the workers).
        terminate(&mut self.child, Duration::from_secs(10));
    }
}

impl Nginx {
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

/// The shipped site configuration with its placeholders filled in.
fn site_config(listen: &str, tessera: &str, app: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nginx/tessera.conf");
    let template = std::fs::read_to_string(path).expect("deploy/nginx/tessera.conf");
    let filled = template
        .replace("${LISTEN}", listen)
        .replace("${TESSERA}", tessera)
        .replace("${APP}", app);
    let unfilled: Vec<&str> = filled
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && line.contains("${"))
        .collect();
    assert!(unfilled.is_empty(), "placeholders left unfilled: {unfilled:?}");
    filled
}

async fn start_nginx(dir: &Path, listen_port: u16, tessera: &str, app: &str) -> Nginx {
    // Worker processes run as nobody when the master is root: let them into the directory.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let listen = format!("127.0.0.1:{listen_port}");
    std::fs::write(dir.join("tessera.conf"), site_config(&listen, tessera, app)).unwrap();
    // Only what running in a scratch directory needs; the site itself is the shipped file.
    let main = format!(
        "worker_processes 1;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
             access_log {dir}/access.log;\n\
             client_body_temp_path {dir}/client_body;\n\
             proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fastcgi;\n\
             uwsgi_temp_path {dir}/uwsgi;\n\
             scgi_temp_path {dir}/scgi;\n\
             # The test's addition: connect to upstreams from {PROXY_SOURCE}, the trusted proxy.\n\
             proxy_bind {PROXY_SOURCE};\n\
             include {dir}/tessera.conf;\n\
         }}\n",
        dir = dir.display()
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, main).unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let mut nginx = Nginx {
        child,
        dir: dir.to_path_buf(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = reqwest::Client::new();
    loop {
        if let Ok(resp) = client.get(format!("http://{listen}/api/health")).send().await
            && resp.status() == StatusCode::OK
        {
            return nginx;
        }
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!("nginx exited with {status}:\n{}", nginx.error_log());
        }
        assert!(
            Instant::now() < deadline,
            "nginx never proxied /api/health:\n{}",
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The application's own backend: answers every request with what it received.
async fn start_echo_backend() -> String {
    use poem::listener::{Acceptor, Listener, TcpListener};
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("address");
    let app = poem::endpoint::make(|req: poem::Request| async move {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        poem::web::Json(json!({
            "backend": "app",
            "path": req.uri().path(),
            "cookie": header("cookie"),
            "x_forwarded_for": header("x-forwarded-for"),
        }))
    });
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    addr.to_string()
}

/// Whether nginx can be used. Outside CI a missing nginx skips loudly (`make test` refuses to
/// run without it, and CI installs it); in CI it fails.
fn nginx_available() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{NGINX} is missing: .ci/run installs it (apt-get install -y nginx)");
    }
    eprintln!("\n!!!!!!!! SKIPPED: the reverse-proxy test needs nginx ({NGINX}): apt-get install -y nginx !!!!!!!!\n");
    false
}

fn ip(addr: Ipv4Addr) -> Option<IpAddr> {
    Some(IpAddr::V4(addr))
}

/// The `ip` Tessera recorded for the browser's current session.
async fn current_session_ip(browser: &mut Browser) -> String {
    let sessions = browser.get("/api/sessions").await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.text());
    let body = sessions.json();
    let current = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["current"] == true)
        .unwrap_or_else(|| panic!("no current session: {body}"))
        .clone();
    current["ip"].as_str().unwrap_or_default().to_owned()
}

/// Logs in at `url` with a forged `X-Forwarded-For`, returning the session cookies.
async fn log_in_forging(browser: &Browser, url: &str, origin: &str, forwarded: &str) -> BTreeMap<String, String> {
    let response = browser
        .client
        .post(url)
        .header("origin", origin)
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|raw| {
            let (name, value) = raw.split(';').next()?.split_once('=')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tessera_behind_nginx_beside_the_apps_backend() {
    if !nginx_available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let proxy_dir = work.path().join("nginx");
    std::fs::create_dir_all(&proxy_dir).unwrap();
    let public_port = free_port();
    let public = format!("http://127.0.0.1:{public_port}");
    let tessera_addr = format!("127.0.0.1:{}", free_port());
    let tessera = Server::start(
        &data,
        &tessera_addr,
        &[
            ("TESSERA_PUBLIC_ORIGIN", &public),
            ("TESSERA_TRUSTED_PROXIES", &format!("{PROXY_SOURCE}/32")),
            ("TESSERA_SERVE_SPA", "false"),
        ],
    )
    .await;
    let app = start_echo_backend().await;
    let nginx = start_nginx(&proxy_dir, public_port, &tessera_addr, &app).await;

    // --- A browser on the proxy's origin: register, cookies, CSRF, refresh, the app's backend ---
    let mut browser = Browser::new(&public, ip(BROWSER));
    let registered = browser
        .post(
            "/api/auth/register",
            Some(json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})),
        )
        .await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.text());
    for name in ["__Host-access", "__Host-refresh", "__Host-csrf"] {
        assert!(browser.cookie(name).is_some(), "{name} did not come through the proxy");
    }
    for raw in registered.set_cookies() {
        assert!(
            !raw.to_ascii_lowercase().contains("domain="),
            "a cookie with a Domain: {raw}"
        );
    }
    assert_eq!(browser.get("/api/me").await.status, StatusCode::OK);
    assert_eq!(
        current_session_ip(&mut browser).await,
        BROWSER.to_string(),
        "the address nginx saw, from the trusted proxy's X-Forwarded-For"
    );

    // CSRF through the proxy: refused without the token, accepted with it.
    let csrf = browser.cookies.remove("__Host-csrf").expect("csrf");
    let refused = browser
        .send(Method::PATCH, "/api/me", Some(json!({"name": "Ada Lovelace"})))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert_eq!(refused.json()["code"], "csrf_failed");
    browser.cookies.insert("__Host-csrf".into(), csrf);
    let renamed = browser
        .send(Method::PATCH, "/api/me", Some(json!({"name": "Ada Lovelace"})))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());

    // The app's own backend, beside Tessera on the same origin, receives the access cookie (to
    // verify with the JWKS, which the proxy serves too).
    let echo = browser.get("/app/orders").await;
    assert_eq!(echo.status, StatusCode::OK);
    let echo = echo.json();
    assert_eq!(
        (echo["backend"].as_str(), echo["path"].as_str()),
        (Some("app"), Some("/app/orders"))
    );
    assert!(
        echo["cookie"].as_str().is_some_and(|c| c.contains("__Host-access=")),
        "the app's backend gets the access cookie: {echo}"
    );
    let jwks = browser.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert!(
        jwks.header("cache-control")
            .is_some_and(|v| v.starts_with("public, max-age="))
    );
    assert_eq!(jwks.json()["keys"].as_array().map(Vec::len), Some(1));
    // With TESSERA_SERVE_SPA=false the app owns `/`.
    assert_eq!(browser.get("/").await.json()["backend"], "app");

    let old_refresh = browser.cookie("__Host-refresh").unwrap().to_owned();
    let refreshed = browser.post("/api/auth/refresh", None).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text());
    assert_ne!(browser.cookie("__Host-refresh"), Some(old_refresh.as_str()), "rotated");
    assert_eq!(browser.get("/api/me").await.json()["name"], "Ada Lovelace");

    // --- Forged X-Forwarded-For ---
    // Through the proxy: nginx appends the real address; Tessera takes the right-most entry
    // that is not a trusted proxy, so the forged entry changes nothing.
    let mut forger = Browser::new(&public, ip(BROWSER));
    forger.cookies = log_in_forging(&forger, &format!("{public}/api/auth/login"), &public, FORGED).await;
    assert_eq!(current_session_ip(&mut forger).await, BROWSER.to_string());

    // Straight to Tessera from an address that is not a trusted proxy: the header is ignored.
    let direct = format!("http://{tessera_addr}");
    let mut stranger = Browser::new(&direct, ip(STRANGER));
    let forwarded = format!("{FORGED}, {BROWSER}");
    stranger.cookies = log_in_forging(&stranger, &format!("{direct}/api/auth/login"), &public, &forwarded).await;
    assert_eq!(
        current_session_ip(&mut stranger).await,
        STRANGER.to_string(),
        "an untrusted peer's X-Forwarded-For is not believed"
    );
    let events = browser.get("/api/me/events").await.json();
    let ips: Vec<&str> = events["items"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["ip"].as_str())
        .collect();
    assert!(ips.contains(&BROWSER.to_string().as_str()), "{ips:?}");
    assert!(!ips.contains(&FORGED), "a forged address was recorded: {ips:?}");

    // --- Log out through the proxy ---
    let logout = browser.post("/api/auth/logout", None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.text());
    assert!(
        browser.cookie("__Host-access").is_none(),
        "cookies cleared through the proxy"
    );
    assert_eq!(browser.get("/api/me").await.status, StatusCode::UNAUTHORIZED);

    assert!(!nginx.error_log().contains("[emerg]"), "{}", nginx.error_log());
    drop(nginx);
    drop(tessera);
}
