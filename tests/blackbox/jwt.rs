//! Case 8: access-token tampering, the JWKS document, and the token header.
//!
//! Crafted tokens are signed with the server's own key (opened from the database with the master
//! key, or the configured HS256 secret), so that each carries exactly one defect; a correctly
//! crafted control token must be accepted, which proves the crafting is faithful.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::testing::TestDatabase;
use time::Duration;

use crate::harness::{ACCESS, Reply, TestServer, assert_invalid_token};
use crate::tokens::{Key, b64, craft, decode, server_key, unb64};

const HS256_SECRET: &str = "a-test-only-hs256-secret-of-more-than-32-bytes";

fn with(value: &Value, key: &str, new: Value) -> Value {
    let mut value = value.clone();
    value[key] = new;
    value
}

fn without(value: &Value, key: &str) -> Value {
    let mut value = value.clone();
    value.as_object_mut().expect("object").remove(key);
    value
}

/// Why `reply` is not the refusal a tampered token must get, if it is not.
fn refusal_problem(reply: &Reply) -> Option<String> {
    let challenge = reply.header("www-authenticate");
    let code = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|b| b["code"].as_str().map(str::to_owned));
    let ok = reply.status == StatusCode::UNAUTHORIZED
        && code.as_deref() == Some("unauthenticated")
        && challenge == Some("Bearer error=\"invalid_token\"");
    (!ok).then(|| format!("{} code={code:?} WWW-Authenticate={challenge:?}", reply.status))
}

/// The tampering matrix, for whichever algorithm `server` signs with.
async fn tamper_matrix(server: &TestServer) {
    server.register("alice@example.com").await;
    let native = server.login_native("alice@example.com").await;
    let token = native.access.clone();
    let (header, claims) = decode(&token);
    let key = server_key(server).await;
    let alg = header["alg"].as_str().expect("alg").to_owned();

    // Control: our re-signing of the real header and claims is accepted.
    let control = craft(&header, &claims, &key);
    let reply = server.me_bearer(&control).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the control token must pass: {}",
        reply.text()
    );
    // With fresh claims (new jti, other name) too: GET /api/me answers from the claims alone.
    let fresh = with(
        &with(&claims, "jti", json!(uuid::Uuid::new_v4())),
        "name",
        json!("Crafted"),
    );
    assert_eq!(
        server.me_bearer(&craft(&header, &fresh, &key)).await.json()["name"],
        "Crafted"
    );

    let now = server.now().unix_timestamp();
    let mut cases: Vec<(String, String)> = Vec::new();
    let mut case = |label: &str, token: String| cases.push((label.to_owned(), token));

    // Algorithm games.
    for none in ["none", "None", "NONE", "nOnE"] {
        let h = with(&header, "alg", json!(none));
        case(&format!("alg {none}, unsigned"), craft(&h, &claims, &Key::Unsigned));
        case(&format!("alg {none}, signature kept"), craft(&h, &claims, &key));
    }
    case("alg removed", craft(&without(&header, "alg"), &claims, &key));
    case("alg null", craft(&with(&header, "alg", Value::Null), &claims, &key));
    case("alg as a number", craft(&with(&header, "alg", json!(1)), &claims, &key));
    for other in ["HS384", "HS512", "RS256", "ES256", "PS256", "Ed25519"] {
        case(
            &format!("alg {other}"),
            craft(&with(&header, "alg", json!(other)), &claims, &key),
        );
    }
    if alg == "EdDSA" {
        // HS256 keyed with the public key, in every form an attacker could get it from JWKS.
        let jwks = server.get("/.well-known/jwks.json").await.json();
        let kid = header["kid"].as_str().expect("kid");
        let jwk = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == kid)
            .expect("kid in JWKS")
            .clone();
        let x = jwk["x"].as_str().expect("x").to_owned();
        let hs = with(&header, "alg", json!("HS256"));
        for (form, secret) in [
            ("raw public key", unb64(&x)),
            ("JWK x", x.clone().into_bytes()),
            ("JWK JSON", jwk.to_string().into_bytes()),
        ] {
            case(
                &format!("alg confusion: HS256 with the {form}"),
                craft(&hs, &claims, &Key::Hs256(secret)),
            );
        }
        case(
            "EdDSA with a foreign key under the real kid",
            craft(&header, &claims, &Key::foreign_ed25519()),
        );
    } else {
        let ed = with(&header, "alg", json!("EdDSA"));
        case(
            "EdDSA with a foreign key under the HS256 kid",
            craft(&ed, &claims, &Key::foreign_ed25519()),
        );
        case(
            "HS256 with another secret",
            craft(
                &header,
                &claims,
                &Key::Hs256(b"another-secret-that-is-32-bytes-long!".to_vec()),
            ),
        );
        case(
            "HS256 with an empty secret",
            craft(&header, &claims, &Key::Hs256(Vec::new())),
        );
    }

    // kid and typ.
    case(
        "unknown kid",
        craft(&with(&header, "kid", json!("no-such-key")), &claims, &key),
    );
    case("empty kid", craft(&with(&header, "kid", json!("")), &claims, &key));
    case("kid as a number", craft(&with(&header, "kid", json!(7)), &claims, &key));
    case(
        "kid path traversal",
        craft(&with(&header, "kid", json!("../../../../dev/null")), &claims, &key),
    );
    case("missing kid", craft(&without(&header, "kid"), &claims, &key));
    case("typ JWT", craft(&with(&header, "typ", json!("JWT")), &claims, &key));
    case("typ jwt", craft(&with(&header, "typ", json!("jwt")), &claims, &key));
    case(
        "typ refresh",
        craft(&with(&header, "typ", json!("rt+jwt")), &claims, &key),
    );
    case("missing typ", craft(&without(&header, "typ"), &claims, &key));

    // Key-choosing and critical header parameters.
    let foreign_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[7u8; 32])});
    for (name, value) in [
        ("jku", json!("https://evil.example/jwks.json")),
        ("jwk", foreign_jwk),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("crit", json!([])),
    ] {
        case(
            &format!("{name} header"),
            craft(&with(&header, name, value), &claims, &key),
        );
    }

    // Claims.
    case("wrong iss", craft(&header, &with(&claims, "iss", json!("evil")), &key));
    case("missing iss", craft(&header, &without(&claims, "iss"), &key));
    case(
        "wrong aud",
        craft(&header, &with(&claims, "aud", json!("other-api")), &key),
    );
    case("missing aud", craft(&header, &without(&claims, "aud"), &key));
    case(
        "aud list without ours",
        craft(&header, &with(&claims, "aud", json!(["other-api"])), &key),
    );
    case("missing exp", craft(&header, &without(&claims, "exp"), &key));
    case(
        "exp as a string",
        craft(&header, &with(&claims, "exp", json!(format!("{}", now + 600))), &key),
    );
    // Times this server never mints, signed with its own key (a leaked HS256 secret, say):
    // refused as invalid, never accepted for years or shown expiring in 1970.
    let iat = claims["iat"].as_i64().expect("iat");
    let ttl = claims["exp"].as_i64().expect("exp") - iat;
    let times = |iat: i64, exp: i64| with(&with(&claims, "iat", json!(iat)), "exp", json!(exp));
    for (label, iat, exp) in [
        ("lifetime a second over the TTL plus leeway", iat, iat + ttl + 6),
        ("lifetime of ten years", iat, now + 10 * 365 * 86_400),
        ("exp = i64::MAX", iat, i64::MAX),
        ("iat a minute in the future", now + 60, now + 60 + ttl),
        ("negative iat", -1, ttl - 1),
        ("negative iat and exp", -ttl - 1, -1),
        ("iat = i64::MIN", i64::MIN, now + ttl),
    ] {
        case(label, craft(&header, &times(iat, exp), &key));
    }
    // auth_time and amr (step-up): what this server never mints, even correctly signed.
    for (label, value) in [
        ("auth_time after iat", json!(iat + 1)),
        ("auth_time a minute in the future", json!(now + 60)),
        ("negative auth_time", json!(-1)),
        ("auth_time as a string", json!(format!("{iat}"))),
        ("auth_time null", Value::Null),
    ] {
        case(label, craft(&header, &with(&claims, "auth_time", value), &key));
    }
    case(
        "missing auth_time",
        craft(&header, &without(&claims, "auth_time"), &key),
    );
    for (label, value) in [
        ("amr empty", json!([])),
        ("amr with an unknown value", json!(["pwd", "sms"])),
        ("amr repeated", json!(["pwd", "pwd"])),
        ("amr out of order", json!(["mfa", "pwd", "otp"])),
        ("amr as a string", json!("pwd")),
    ] {
        case(label, craft(&header, &with(&claims, "amr", value), &key));
    }
    case("missing amr", craft(&header, &without(&claims, "amr"), &key));
    case("missing sub", craft(&header, &without(&claims, "sub"), &key));
    case("missing sid", craft(&header, &without(&claims, "sid"), &key));
    case(
        "sub not a UUID",
        craft(&header, &with(&claims, "sub", json!("admin")), &key),
    );

    // Structure.
    let segments: Vec<&str> = token.split('.').collect();
    let evil_claims = with(&claims, "role", json!("admin"));
    case(
        "payload tampered",
        format!(
            "{}.{}.{}",
            segments[0],
            b64(evil_claims.to_string().as_bytes()),
            segments[2]
        ),
    );
    case("payload from another token", {
        let other = with(&claims, "name", json!("Mallory"));
        format!("{}.{}.{}", segments[0], b64(other.to_string().as_bytes()), segments[2])
    });
    case("signature stripped", format!("{}.{}.", segments[0], segments[1]));
    case("signature segment missing", format!("{}.{}", segments[0], segments[1]));
    case(
        "signature truncated",
        format!(
            "{}.{}.{}",
            segments[0],
            segments[1],
            &segments[2][..segments[2].len() - 4]
        ),
    );
    case("signature of another token", {
        let other = craft(&header, &fresh, &key);
        let other_sig = other.rsplit('.').next().expect("sig").to_owned();
        format!("{}.{}.{}", segments[0], segments[1], other_sig)
    });
    case("signature bit-flipped", {
        let mut sig = unb64(segments[2]);
        sig[0] ^= 1;
        format!("{}.{}.{}", segments[0], segments[1], b64(&sig))
    });
    case("four segments", format!("{token}.{}", segments[2]));
    case(
        "padded base64",
        format!("{}=.{}.{}", segments[0], segments[1], segments[2]),
    );
    let standard_alphabet = token.replace('-', "+").replace('_', "/");
    if standard_alphabet != token {
        case("standard base64 alphabet", standard_alphabet);
    }
    case(
        "header not JSON",
        format!("{}.{}.{}", b64(b"not json"), segments[1], segments[2]),
    );
    case(
        "header a JSON array",
        format!("{}.{}.{}", b64(b"[]"), segments[1], segments[2]),
    );
    case("garbage", "garbage".to_owned());
    case("dots only", "..".to_owned());
    case(
        "very long",
        format!("{}.{}.{}", segments[0], "A".repeat(20_000), segments[2]),
    );

    let mut failures = Vec::new();
    for (label, crafted) in &cases {
        assert_ne!(crafted, &token, "{label} is the real token");
        let reply = server.me_bearer(crafted).await;
        if let Some(problem) = refusal_problem(&reply) {
            failures.push(format!("{label}: {problem}"));
        }
    }
    // The same refusals through the cookie (a subset: the cookie path shares the verifier).
    for (label, crafted) in cases.iter().take(12) {
        let mut browser = server.browser();
        browser.set_cookie(ACCESS, crafted);
        let reply = browser.me().await;
        if let Some(problem) = refusal_problem(&reply) {
            failures.push(format!("cookie, {label}: {problem}"));
        }
    }

    // Expired, validly signed: token_expired.
    // (Its login no later than its issue, as every token this server mints.)
    let expired = with(
        &with(&with(&claims, "exp", json!(now - 60)), "iat", json!(now - 660)),
        "auth_time",
        json!(now - 660),
    );
    let reply = server.me_bearer(&craft(&header, &expired, &key)).await;
    assert_invalid_token(&reply, "token_expired");
    // The longest lifetime this server accepts (TTL plus leeway) does not outlive a revocation.
    let long_lived = with(&claims, "exp", json!(claims["exp"].as_i64().expect("exp") + 5));
    let long_token = craft(&header, &long_lived, &key);
    assert_eq!(server.me_bearer(&long_token).await.status, StatusCode::OK);
    let reply = server
        .send(
            server
                .request(Method::POST, "/api/auth/logout")
                .bearer_auth(&native.access),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_invalid_token(&server.me_bearer(&long_token).await, "session_revoked");
    assert_invalid_token(&server.me_bearer(&control).await, "session_revoked");
    // (Revocation memory covers the access TTL; step past a normal token's life and check the
    // long-lived token is not resurrected while the clock is within that memory.)
    server.advance(Duration::minutes(5));
    assert_invalid_token(&server.me_bearer(&long_token).await, "session_revoked");

    assert!(
        failures.is_empty(),
        "tampered tokens not refused as they should be:\n{}",
        failures.join("\n")
    );
}

async fn jwt_tampering_eddsa(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    tamper_matrix(&server).await;
}

async fn jwt_tampering_hs256(db: &TestDatabase) {
    let server = TestServer::start(
        db,
        &[("TESSERA_JWT_ALG", "HS256"), ("TESSERA_JWT_SECRET", HS256_SECRET)],
    )
    .await;
    let native = {
        server.register("bob@example.com").await;
        server.login_native("bob@example.com").await
    };
    assert_eq!(decode(&native.access).0["alg"], "HS256");
    // A symmetric key is never published.
    let reply = server.get("/.well-known/jwks.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["keys"], json!([]));
    assert!(!reply.text().contains(HS256_SECRET));
    assert!(
        !decode(&native.access).0["kid"]
            .as_str()
            .expect("kid")
            .contains(HS256_SECRET)
    );
    tamper_matrix(&server).await;
}

/// JWKS exposes only public fields, and the access token's header names a key in it whose
/// signature checks out.
async fn jwks_and_token_header(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (browser, _) = server.register("alice@example.com").await;

    let reply = server.get("/.well-known/jwks.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.content_type().starts_with("application/json"),
        "{}",
        reply.content_type()
    );
    let jwks = reply.json();
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    assert_eq!(jwks.as_object().expect("object").len(), 1, "only `keys`: {jwks}");
    for jwk in keys {
        let mut fields: Vec<&str> = jwk.as_object().expect("jwk").keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["alg", "crv", "kid", "kty", "use", "x"],
            "a JWK must carry public fields only: {jwk}"
        );
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(unb64(jwk["x"].as_str().expect("x")).len(), 32);
    }

    let token = browser.access();
    let (header, _) = decode(&token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    let kid = header["kid"].as_str().expect("kid is always set");
    let jwk = keys
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the token's kid is in JWKS");
    let mut header_fields: Vec<&str> = header.as_object().expect("header").keys().map(String::as_str).collect();
    header_fields.sort_unstable();
    assert_eq!(header_fields, ["alg", "kid", "typ"]);

    // Verify the signature with the published key, as any resource server would.
    let public: [u8; 32] = unb64(jwk["x"].as_str().expect("x")).try_into().expect("32 bytes");
    let verifying = VerifyingKey::from_bytes(&public).expect("valid Ed25519 key");
    let (input, signature) = token.rsplit_once('.').expect("three segments");
    let signature = Signature::from_slice(&unb64(signature)).expect("64-byte signature");
    verifying
        .verify(input.as_bytes(), &signature)
        .expect("the access token verifies with the JWKS key");

    // The key survives a restart (it lives in the database).
    let server = server.restart().await;
    let again = server.get("/.well-known/jwks.json").await.json();
    assert_eq!(again, jwks);
    assert_eq!(server.me_bearer(&token).await.status, StatusCode::OK);
}

/// A token that verifies but names a role Tessera does not have (only the key holder can mint
/// one) is still a presented-and-invalid token: 401 `unauthenticated` with
/// `error="invalid_token"`, like every other unacceptable token (DESIGN.md "Access tokens").
async fn validly_signed_unknown_role_is_invalid_token(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    server.register("alice@example.com").await;
    let native = server.login_native("alice@example.com").await;
    let (header, claims) = decode(&native.access);
    let key = server_key(&server).await;
    for role in ["root", "", "ADMIN"] {
        let crafted = craft(&header, &with(&claims, "role", json!(role)), &key);
        let reply = server.me_bearer(&crafted).await;
        assert_eq!(refusal_problem(&reply), None, "role {role:?}");
        let reply = server
            .send(server.request(Method::GET, "/api/sessions").bearer_auth(&crafted))
            .await;
        assert_eq!(refusal_problem(&reply), None, "GET /api/sessions with role {role:?}");
    }
}

/// Other services cache the JWKS: `Cache-Control: public, max-age` bounded by the access TTL (and
/// five minutes), a strong `ETag`, `If-None-Match` answered 304; a rotation changes the validator,
/// so a revalidating cache picks the new key up.
async fn jwks_is_cacheable_and_revalidates(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_ACCESS_TTL", "90s")]).await;
    let reply = server.get("/.well-known/jwks.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("cache-control"), Some("public, max-age=90"));
    let etag = reply.header("etag").expect("an ETag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "a strong, quoted entity tag: {etag}"
    );
    // The same set gives the same validator.
    let again = server.get("/.well-known/jwks.json").await;
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    for matching in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"nope\", {etag}"),
        "*".to_owned(),
    ] {
        let reply = server
            .send(
                server
                    .request(Method::GET, "/.well-known/jwks.json")
                    .header("if-none-match", &matching),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "If-None-Match: {matching}");
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("etag"), Some(etag.as_str()));
        assert_eq!(reply.header("cache-control"), Some("public, max-age=90"));
    }
    let stale = server
        .send(
            server
                .request(Method::GET, "/.well-known/jwks.json")
                .header("if-none-match", "\"0123\""),
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.json(), reply.json());

    // A rotation: the set and its validator change; the old validator gets the new set.
    rotate_signing_key(&server).await;
    let rotated = server
        .send(
            server
                .request(Method::GET, "/.well-known/jwks.json")
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_ne!(rotated.header("etag"), Some(etag.as_str()));
    assert_eq!(
        rotated.json()["keys"].as_array().map(Vec::len),
        Some(2),
        "old and new key"
    );
    // (The five-minute cap for long access TTLs: `max_age_is_the_access_ttl_capped_at_five_minutes`.)
}

/// What `tessera keys rotate` does, in-process: store a new key (retiring the old) and reload.
async fn rotate_signing_key(server: &TestServer) {
    use tessera_auth_core::ports::KeyRepository;
    let state = server.state();
    let key = tessera_auth_core::access::generate_ed25519_key(&state.master_key.key_encryption_key(), server.now());
    state.store.add_signing_key(key).await.expect("new key stored");
    let keys = state.store.list_signing_keys().await.expect("keys");
    let ring = tessera_api::startup::key_ring_from(&keys, state).expect("key ring");
    state.service.replace_key_ring(ring);
}

tessera_store::backend_tests!(
    jwks_is_cacheable_and_revalidates,
    jwt_tampering_eddsa,
    jwt_tampering_hs256,
    jwks_and_token_header,
    validly_signed_unknown_role_is_invalid_token,
);
