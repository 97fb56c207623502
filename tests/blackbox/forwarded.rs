//! The client address behind trusted proxies (issue 12, Low 1): `X-Forwarded-For` walked from the
//! right past the trusted hops, entries with ports, brackets and garbage understood, RFC 7239
//! `Forwarded` when configured; the address lands in the session and keys the per-IP limit. A
//! forged header from a peer that is not a trusted proxy changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera_store::testing::TestDatabase;

use crate::harness::{PASSWORD, Reply, TestServer, assert_problem};

/// The test client connects over loopback: that is the "proxy".
const LOOPBACK: &str = "127.0.0.1/32, ::1/128";

async fn login_via(server: &TestServer, header: &str, value: &str) -> Reply {
    let request = server
        .request(Method::POST, "/api/auth/login")
        .header(header, value)
        .json(&json!({"email": "alice@example.com", "password": PASSWORD, "token_delivery": "body"}));
    server.send(request).await
}

/// The address the session created by `login` was recorded with.
async fn recorded_ip(server: &TestServer, login: &Reply) -> String {
    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    let access = login.json()["access_token"].as_str().expect("access token").to_owned();
    let sessions = server
        .send(server.request(Method::GET, "/api/sessions").bearer_auth(&access))
        .await
        .json();
    let current = sessions["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["current"] == true)
        .expect("the current session is listed")
        .clone();
    current["ip"].as_str().expect("ip recorded").to_owned()
}

async fn client_address_behind_trusted_proxies(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_TRUSTED_PROXIES", LOOPBACK)]).await;
    server.register("alice@example.com").await;
    for (value, expected) in [
        ("garbage, 203.0.113.78", "203.0.113.78"),
        ("203.0.113.81:1234", "203.0.113.81"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("6.6.6.6, 198.51.100.7, 127.0.0.1", "198.51.100.7"),
        // Nobody vouches for what lies beyond an unnamed hop: the proxy is all that is known.
        ("unknown", "127.0.0.1"),
        ("198.51.100.9, unknown", "127.0.0.1"),
    ] {
        let login = login_via(&server, "x-forwarded-for", value).await;
        assert_eq!(recorded_ip(&server, &login).await, expected, "X-Forwarded-For: {value}");
    }
    // Forwarded is not the configured header here: a client could have written it.
    let login = login_via(&server, "forwarded", "for=198.51.100.20").await;
    assert_eq!(recorded_ip(&server, &login).await, "127.0.0.1");
}

async fn rfc_7239_forwarded_when_configured(db: &TestDatabase) {
    let server = TestServer::start(
        db,
        &[
            ("TESSERA_TRUSTED_PROXIES", LOOPBACK),
            ("TESSERA_FORWARDED_HEADER", "forwarded"),
        ],
    )
    .await;
    server.register("alice@example.com").await;
    for (value, expected) in [
        ("for=\"[2001:db8:cafe::17]:4711\";proto=https", "2001:db8:cafe::17"),
        ("for=192.0.2.43, for=198.51.100.17;by=127.0.0.1", "198.51.100.17"),
        ("for=garbage;host=\"a,b\", For=\"198.51.100.18:80\"", "198.51.100.18"),
        ("for=\"_hidden\"", "127.0.0.1"),
    ] {
        let login = login_via(&server, "forwarded", value).await;
        assert_eq!(recorded_ip(&server, &login).await, expected, "Forwarded: {value}");
    }
    let login = login_via(&server, "x-forwarded-for", "198.51.100.30").await;
    assert_eq!(
        recorded_ip(&server, &login).await,
        "127.0.0.1",
        "X-Forwarded-For is not read"
    );
}

/// Each client behind the proxy has its own per-IP allowance (before the fix, one garbage entry
/// put them all in the proxy's).
async fn clients_behind_a_proxy_have_their_own_allowance(db: &TestDatabase) {
    let server = TestServer::start(
        db,
        &[
            ("TESSERA_TRUSTED_PROXIES", LOOPBACK),
            ("TESSERA_RATE_LIMIT_PER_IP", "2"),
        ],
    )
    .await;
    let register = |client: &str| {
        server
            .request(Method::POST, "/api/auth/register")
            .header("x-forwarded-for", format!("garbage, {client}"))
            .json(&json!({"email": format!("{client}@example.com"), "password": PASSWORD, "name": "A"}))
    };
    for _ in 0..2 {
        let reply = server.send(register("203.0.113.50")).await;
        assert!(reply.status == StatusCode::CREATED || reply.status == StatusCode::CONFLICT);
    }
    assert_problem(&server.send(register("203.0.113.50")).await, 429, "rate_limited");
    let other = server.send(register("203.0.113.51")).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text());
}

/// Without trusted proxies, forwarding headers are the client's own words: ignored.
async fn forged_headers_from_an_untrusted_peer_change_nothing(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    server.register("alice@example.com").await;
    for (header, value) in [
        ("x-forwarded-for", "203.0.113.78"),
        ("x-forwarded-for", "10.0.0.1"),
        ("forwarded", "for=203.0.113.78"),
    ] {
        let login = login_via(&server, header, value).await;
        assert_eq!(recorded_ip(&server, &login).await, "127.0.0.1", "{header}: {value}");
    }
}

tessera_store::backend_tests!(
    client_address_behind_trusted_proxies,
    rfc_7239_forwarded_when_configured,
    clients_behind_a_proxy_have_their_own_allowance,
    forged_headers_from_an_untrusted_peer_change_nothing,
);
