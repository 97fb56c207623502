//! HTTP clients of the fault tests: native clients (tokens in bodies) and browser-like cookie
//! sessions, with the assertions every faulty answer must meet.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "tangerine-otter-cobalt-92";
pub const ACCESS: &str = "__Host-access";
pub const REFRESH: &str = "__Host-refresh";
pub const CSRF: &str = "__Host-csrf";

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// One answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn code(&self) -> Option<String> {
        self.json()["code"].as_str().map(str::to_owned)
    }

    /// The `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }

    /// A 503 `storage_unavailable` problem with `Retry-After`, carrying no token and no cookie.
    #[track_caller]
    pub fn assert_storage_unavailable(&self, what: &str) {
        assert_eq!(
            (self.status, self.code().as_deref()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("storage_unavailable")),
            "{what}: expected 503 storage_unavailable, got {} {}",
            self.status,
            self.body
        );
        assert!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/problem+json")),
            "{what}: not a problem document"
        );
        let retry_after = self
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        assert!(retry_after.is_some_and(|s| s >= 1), "{what}: no Retry-After");
        assert!(
            self.set_cookies().is_empty(),
            "{what}: a refused write changed cookies: {:?}",
            self.set_cookies()
        );
        let body = self.json();
        for field in ["access_token", "refresh_token"] {
            assert!(body.get(field).is_none(), "{what}: a refused write carried {field}");
        }
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let resp = request.send().await.expect("request reaches tessera");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    Reply { status, headers, body }
}

/// A client outside a browser: `token_delivery: body`.
#[derive(Debug, Clone)]
pub struct Native {
    pub access: String,
    pub refresh: String,
}

fn native_from(reply: &Reply) -> Native {
    let body = reply.json();
    Native {
        access: body["access_token"].as_str().expect("access_token").to_owned(),
        refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
    }
}

pub async fn register_native(client: &reqwest::Client, base: &str, email: &str) -> Native {
    let body = json!({"email": email, "password": PASSWORD, "name": "Ada", "token_delivery": "body"});
    let reply = send(client.post(format!("{base}/api/auth/register")).json(&body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "register {email}: {}", reply.body);
    native_from(&reply)
}

pub async fn login_native(client: &reqwest::Client, base: &str, email: &str) -> Native {
    let body = json!({"email": email, "password": PASSWORD, "token_delivery": "body"});
    let reply = send(client.post(format!("{base}/api/auth/login")).json(&body)).await;
    assert_eq!(reply.status, StatusCode::OK, "login {email}: {}", reply.body);
    native_from(&reply)
}

pub async fn refresh_native(client: &reqwest::Client, base: &str, token: &str) -> Reply {
    send(
        client
            .post(format!("{base}/api/auth/refresh"))
            .json(&json!({ "refresh_token": token })),
    )
    .await
}

/// A browser's three cookies.
#[derive(Debug, Clone)]
pub struct CookieSession {
    pub access: String,
    pub refresh: String,
    pub csrf: String,
}

impl CookieSession {
    /// `method path` with the cookies and, for unsafe methods, `X-CSRF-Token`.
    pub fn request(&self, client: &reqwest::Client, base: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        let unsafe_method = method != Method::GET;
        let request = client.request(method, format!("{base}{path}")).header(
            "cookie",
            format!(
                "{ACCESS}={}; {REFRESH}={}; {CSRF}={}",
                self.access, self.refresh, self.csrf
            ),
        );
        if unsafe_method {
            request.header("x-csrf-token", &self.csrf)
        } else {
            request
        }
    }

    /// Takes the cookies a response set.
    pub fn absorb(&mut self, reply: &Reply) {
        for raw in reply.set_cookies() {
            let Some((name, rest)) = raw.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default().to_owned();
            match name {
                ACCESS => self.access = value,
                REFRESH => self.refresh = value,
                CSRF => self.csrf = value,
                _ => {}
            }
        }
    }

    /// The session id inside the access token.
    pub fn sid(&self) -> String {
        use base64::Engine;
        let payload = self.access.split('.').nth(1).expect("a JWT");
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("base64url"),
        )
        .expect("JSON claims");
        claims["sid"].as_str().expect("sid").to_owned()
    }
}

pub async fn login_cookie(client: &reqwest::Client, base: &str, email: &str) -> CookieSession {
    let body = json!({"email": email, "password": PASSWORD});
    let reply = send(client.post(format!("{base}/api/auth/login")).json(&body)).await;
    assert_eq!(reply.status, StatusCode::OK, "login {email}: {}", reply.body);
    let mut session = CookieSession {
        access: String::new(),
        refresh: String::new(),
        csrf: String::new(),
    };
    session.absorb(&reply);
    assert!(
        !session.access.is_empty() && !session.refresh.is_empty() && !session.csrf.is_empty(),
        "login set the three cookies"
    );
    session
}
