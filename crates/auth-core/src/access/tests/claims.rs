//! The claim rules, expiry against the injected clock, and the memo of verified tokens.

use super::*;

#[test]
fn unknown_roles_are_refused() {
    let (ring, key) = ed_ring();
    for role in [json!("root"), json!("Admin"), json!(""), json!(7)] {
        let mut payload = good_payload();
        payload["role"] = role.clone();
        let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
        assert!(verify(&ring, &config(), &token, T0).is_err(), "role {role}");
    }
}

#[test]
fn issuer_and_audience_must_match() {
    let (ring, key) = ed_ring();
    let cases = [
        ("iss", json!("someone-else")),
        ("aud", json!("other-api")),
        ("aud", json!(["tessera-api"])),
        ("aud", json!(["tessera-api", "other-api"])),
        ("iss", json!(null)),
    ];
    for (name, value) in cases {
        let mut payload = good_payload();
        payload[name] = value.clone();
        let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadClaims),
            "{name}={value}"
        );
    }
    // The same token under another configuration.
    let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
    let other_aud = AccessTokenConfig {
        audience: "other-api".into(),
        ..config()
    };
    assert_eq!(verify(&ring, &other_aud, &token, T0), Err(AccessTokenError::BadClaims));
    let other_iss = AccessTokenConfig {
        issuer: "other".into(),
        ..config()
    };
    assert_eq!(verify(&ring, &other_iss, &token, T0), Err(AccessTokenError::BadClaims));
}

#[test]
fn required_and_unknown_claims() {
    let (ring, key) = ed_ring();
    for missing in [
        "iss",
        "aud",
        "sub",
        "sid",
        "role",
        "email",
        "name",
        "iat",
        "exp",
        "jti",
        "auth_time",
        "amr",
    ] {
        let mut payload = good_payload();
        payload.as_object_mut().unwrap().remove(missing);
        let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadClaims),
            "without {missing}"
        );
    }
    for (name, value) in [("admin", json!(true)), ("nbf", json!(0)), ("scope", json!("all"))] {
        let mut payload = good_payload();
        payload[name] = value;
        let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadClaims),
            "with {name}"
        );
    }
    for (name, value) in [
        ("exp", json!("soon")),
        ("exp", json!(-1)),
        ("sub", json!("not-a-uuid")),
        ("iat", json!(1.5)),
    ] {
        let mut payload = good_payload();
        payload[name] = value;
        let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadClaims),
            "{name}"
        );
    }
    let token = craft(&good_header(&key.kid), &json!([1, 2]), ed_signer(&key));
    assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadClaims));
}

#[test]
fn expiry_uses_the_injected_clock_with_leeway() {
    let (ring, _) = ed_ring();
    let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
    let exp = T0 + TTL;
    assert!(verify(&ring, &config(), &token, exp).is_ok());
    assert!(verify(&ring, &config(), &token, exp + Duration::seconds(5)).is_ok());
    assert_eq!(
        verify(&ring, &config(), &token, exp + Duration::seconds(6)),
        Err(AccessTokenError::Expired)
    );
    assert_eq!(
        verify(&ring, &config(), &token, exp + Duration::days(365)),
        Err(AccessTokenError::Expired)
    );
    // Tokens signed "in the past" (jsonwebtoken's own clock would call this expired) are
    // judged against `now`, not the system clock.
    let long_ago = datetime!(2001-01-01 00:00 UTC);
    let mut logged_in_long_ago = subject();
    logged_in_long_ago.authentication.auth_time = long_ago;
    let (old, _) = sign(&ring, &config(), &logged_in_long_ago, long_ago).unwrap();
    assert!(verify(&ring, &config(), &old, long_ago + Duration::minutes(1)).is_ok());
}

#[test]
fn memoised_tokens_still_expire_and_answer_to_the_config() {
    let (ring, _) = ed_ring();
    let (token, claims) = sign(&ring, &config(), &subject(), T0).unwrap();
    assert_eq!(verify(&ring, &config(), &token, T0), Ok(claims.clone()));
    assert_eq!(ring.verified.len(), 1, "a verified token is memoised");
    // The second answer comes from the memo and equals the first.
    assert_eq!(verify(&ring, &config(), &token, T0 + Duration::minutes(1)), Ok(claims));
    assert_eq!(
        verify(&ring, &config(), &token, T0 + TTL + Duration::seconds(6)),
        Err(AccessTokenError::Expired),
        "expiry is checked on every hit"
    );
    let (future, _) = sign(&ring, &config(), &subject(), T0 + Duration::seconds(5)).unwrap();
    assert!(verify(&ring, &config(), &future, T0).is_ok());
    assert_eq!(
        verify(&ring, &config(), &future, T0 - Duration::seconds(1)),
        Err(AccessTokenError::BadClaims),
        "issued-at is checked on every hit"
    );
    let other_audience = AccessTokenConfig {
        audience: "another-api".into(),
        ..config()
    };
    assert_eq!(
        verify(&ring, &other_audience, &token, T0),
        Err(AccessTokenError::BadClaims)
    );
}

#[test]
fn the_memo_never_vouches_for_a_different_token() {
    let (ring, _) = ed_ring();
    let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
    verify(&ring, &config(), &token, T0).unwrap();
    let forged = with_admin_payload(&token);
    assert_eq!(
        verify(&ring, &config(), &forged, T0),
        Err(AccessTokenError::BadSignature)
    );
    // Failures are not memoised.
    assert_eq!(ring.verified.len(), 1);
    // A rotated ring (a new `KeyRing`) starts empty: the old key's tokens are judged anew.
    let (other_ring, _) = ed_ring();
    assert_eq!(
        verify(&other_ring, &config(), &token, T0),
        Err(AccessTokenError::UnknownKey)
    );
    let disabled = hs_ring().with_verified_token_capacity(0);
    let (hs_token, _) = sign(&disabled, &config(), &subject(), T0).unwrap();
    assert!(verify(&disabled, &config(), &hs_token, T0).is_ok());
    assert_eq!(disabled.verified.len(), 0);
}

#[test]
fn ed25519_tokens_are_standard_jws() {
    // Signed without jsonwebtoken; jsonwebtoken (any third party) must accept them.
    let (ring, key) = ed_ring();
    let (token, claims) = sign(&ring, &config(), &subject(), T0).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some(TOKEN_TYPE));
    assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
    let decoding = DecodingKey::from_ed_der(&key.public_key);
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.set_audience(&["tessera-api"]);
    let decoded = jsonwebtoken::decode::<AccessClaims>(&token, &decoding, &validation).unwrap();
    assert_eq!(decoded.claims, claims);
}

#[test]
fn tokens_from_the_future_are_refused() {
    let (ring, key) = ed_ring();
    let (token, _) = sign(&ring, &config(), &subject(), T0 + Duration::seconds(5)).unwrap();
    assert!(verify(&ring, &config(), &token, T0).is_ok(), "5 s of skew is tolerated");
    let (token, _) = sign(&ring, &config(), &subject(), T0 + Duration::seconds(6)).unwrap();
    assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadClaims));
    // iat after exp.
    let mut payload = good_payload();
    payload["iat"] = json!((T0 + TTL + Duration::seconds(1)).unix_timestamp());
    payload["exp"] = json!((T0 + TTL).unix_timestamp());
    let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
    assert_eq!(
        verify(&ring, &config(), &token, T0 + TTL),
        Err(AccessTokenError::BadClaims)
    );
    // Extreme values never overflow.
    let mut payload = good_payload();
    payload["exp"] = json!(i64::MAX);
    payload["iat"] = json!(i64::MAX);
    let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
    assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadClaims));
}

/// Defence in depth for a leaked key (an HS256 secret, say): whoever holds it can sign any
/// claims, but not a token that lives longer than this server would ever mint, one issued in
/// the future, or one whose times are negative or beyond any date.
#[test]
fn lifetimes_this_server_would_never_mint_are_refused() {
    let (ring, key) = ed_ring();
    let token_with = |iat: i64, exp: i64| {
        let mut payload = good_payload();
        payload["iat"] = json!(iat);
        payload["exp"] = json!(exp);
        craft(&good_header(&key.kid), &payload, ed_signer(&key))
    };
    let now = T0.unix_timestamp();
    let ttl = TTL.whole_seconds();
    let longest = ttl + LEEWAY_SECS;
    // Up to the TTL plus the leeway: accepted.
    assert!(verify(&ring, &config(), &token_with(now, now + ttl), T0).is_ok());
    assert!(verify(&ring, &config(), &token_with(now, now + longest), T0).is_ok());
    assert!(
        verify(
            &ring,
            &config(),
            &token_with(now + LEEWAY_SECS, now + LEEWAY_SECS + ttl),
            T0
        )
        .is_ok()
    );
    let refused = [
        ("one second too long", now, now + longest + 1),
        ("a year", now, now + 365 * 86_400),
        ("exp at the end of time", now, i64::MAX),
        ("exp beyond any date", now, 253_402_300_800 + 1),
        (
            "iat beyond the leeway",
            now + LEEWAY_SECS + 1,
            now + LEEWAY_SECS + 1 + ttl,
        ),
        ("iat far in the future", i64::MAX - ttl, i64::MAX),
        ("negative iat", -ttl / 2, ttl / 2),
        ("negative times", -2 * ttl, -ttl),
        ("iat at the start of time", i64::MIN, i64::MIN + ttl),
        ("iat after exp", now, now - 1),
        ("iat minimal, exp maximal", i64::MIN, i64::MAX),
    ];
    for (label, iat, exp) in refused {
        let token = token_with(iat, exp);
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadClaims),
            "{label}"
        );
        // And again, when a memo could be consulted.
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadClaims),
            "{label}, second time"
        );
    }
    assert_eq!(ring.verified.len(), 3, "only the acceptable tokens are memoised");
    // The bound follows the configured TTL: a server with a shorter one refuses what a
    // longer one minted.
    let (long, _) = sign(&ring, &config(), &subject(), T0).unwrap();
    let shorter = AccessTokenConfig {
        ttl: Duration::minutes(5),
        ..config()
    };
    assert_eq!(
        verify(&ring, &shorter, &long, T0),
        Err(AccessTokenError::BadClaims),
        "memoised or not"
    );
    let fresh_ring = ed_ring_with(&key);
    assert_eq!(
        verify(&fresh_ring, &shorter, &long, T0),
        Err(AccessTokenError::BadClaims)
    );
}

/// `auth_time` (when the credential was proved) and `amr` (how) as this server mints them: the
/// session's values, never after the token's issue, in canonical order.
#[test]
fn auth_time_and_amr_are_what_the_session_recorded() {
    let (ring, key) = ed_ring();
    let mut subject = subject();
    subject.authentication = Authentication {
        auth_time: T0 - Duration::hours(3),
        amr: AmrSet::of(&[Amr::Mfa, Amr::Otp, Amr::Pwd]),
    };
    let (token, claims) = sign(&ring, &config(), &subject, T0).unwrap();
    assert_eq!(claims.auth_time, (T0 - Duration::hours(3)).unix_timestamp());
    assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
    let verified = verify(&ring, &config(), &token, T0).unwrap();
    assert_eq!(verified.authenticated_at(), T0 - Duration::hours(3));
    assert_eq!(verified.amr_set(), Some(subject.authentication.amr));

    let token_with = |name: &str, value: serde_json::Value| {
        let mut payload = good_payload();
        payload[name] = value;
        craft(&good_header(&key.kid), &payload, ed_signer(&key))
    };
    let iat = T0.unix_timestamp();
    // Proved at the issue, or any time before: accepted.
    for auth_time in [iat, iat - 1, 0] {
        assert!(
            verify(&ring, &config(), &token_with("auth_time", json!(auth_time)), T0).is_ok(),
            "{auth_time}"
        );
    }
    for amr in [json!(["pwd", "mfa"]), json!(["hwk", "user", "mfa"])] {
        assert!(
            verify(&ring, &config(), &token_with("amr", amr.clone()), T0).is_ok(),
            "{amr}"
        );
    }
    let refused = [
        ("auth_time", json!(iat + 1)),
        ("auth_time", json!(iat + 3_600)),
        ("auth_time", json!(-1)),
        ("auth_time", json!(i64::MAX)),
        ("auth_time", json!("0")),
        ("auth_time", json!(1.5)),
        ("amr", json!([])),
        ("amr", json!(["sms"])),
        ("amr", json!(["pwd", "pwd"])),
        ("amr", json!(["mfa", "pwd"])),
        ("amr", json!(["PWD"])),
        ("amr", json!("pwd")),
        ("amr", json!([1])),
    ];
    for (name, value) in refused {
        assert_eq!(
            verify(&ring, &config(), &token_with(name, value.clone()), T0),
            Err(AccessTokenError::BadClaims),
            "{name} = {value}"
        );
    }
    // Still in the future when `iat` is within the leeway: `auth_time` may not pass `iat`.
    let mut payload = good_payload();
    payload["iat"] = json!(iat + 5);
    payload["exp"] = json!(iat + 5 + TTL.whole_seconds());
    payload["auth_time"] = json!(iat + 6);
    let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
    assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadClaims));
}
