//! Round trips, the header rules, tampering and garbage.

use super::*;

#[test]
fn eddsa_round_trip() {
    let (ring, key) = ed_ring();
    let subject = subject();
    let (token, claims) = sign(&ring, &config(), &subject, T0).unwrap();
    assert_eq!(claims.iss, "tessera");
    assert_eq!(claims.aud, "tessera-api");
    assert_eq!(claims.sub, subject.user_id);
    assert_eq!(claims.sid, subject.session_id);
    assert_eq!(claims.role(), Some(Role::Admin));
    assert_eq!(claims.iat, T0.unix_timestamp());
    assert_eq!(claims.expires_at(), T0 + TTL);
    assert_eq!(claims.jti.get_version_num(), 4);
    assert_eq!(verify(&ring, &config(), &token, T0 + Duration::minutes(1)), Ok(claims));

    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid}));
    // A fresh jti each time.
    let (_, again) = sign(&ring, &config(), &subject, T0).unwrap();
    assert_ne!(again.jti, verify(&ring, &config(), &token, T0).unwrap().jti);
}

#[test]
fn hs256_round_trip() {
    let ring = hs_ring();
    let (token, claims) = sign(&ring, &config(), &subject(), T0).unwrap();
    assert_eq!(verify(&ring, &config(), &token, T0), Ok(claims));
    assert!(ring.active_kid().starts_with("hs-"));
    assert_eq!(ring.active_kid().len(), 3 + 16);
    assert!(ring.public_jwks().is_empty(), "a symmetric key is never published");
    // Stable across instances, different per secret.
    assert_eq!(KeyRing::hs256(&[9; 32]).unwrap().active_kid(), ring.active_kid());
    assert_ne!(KeyRing::hs256(&[8; 32]).unwrap().active_kid(), ring.active_kid());
    let other = KeyRing::hs256(&[9; 33]).unwrap();
    assert_eq!(verify(&other, &config(), &token, T0), Err(AccessTokenError::UnknownKey));
}

#[test]
fn hs256_needs_a_strong_secret() {
    assert_eq!(KeyRing::hs256(&[1; 31]).unwrap_err(), KeyRingError::WeakSecret);
    assert_eq!(KeyRing::hs256(b"").unwrap_err(), KeyRingError::WeakSecret);
}

#[test]
fn alg_none_is_refused() {
    let (ring, key) = ed_ring();
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": key.kid});
        let token = craft(&header, &good_payload(), |_| b"x".to_vec());
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadHeader),
            "{alg}"
        );
    }
    // And the classic "empty signature" form.
    let unsigned = format!(
        "{}.{}.",
        b64json(&json!({"alg": "none", "typ": "at+jwt", "kid": key.kid})),
        b64json(&good_payload())
    );
    assert_eq!(
        verify(&ring, &config(), &unsigned, T0),
        Err(AccessTokenError::Malformed)
    );
}

#[test]
fn algorithm_confusion_is_refused() {
    let (ring, key) = ed_ring();
    // HS256 "signed" with the Ed25519 public key as the HMAC secret.
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": key.kid});
    let token = craft(&header, &good_payload(), hmac_signer(key.public_key.clone()));
    assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadHeader));
    // Same with the JWK's x string as the secret.
    let x = ring.public_jwks()[0].x.clone().into_bytes();
    let token = craft(&header, &good_payload(), hmac_signer(x));
    assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadHeader));
    // And an EdDSA header against an HS256 ring.
    let hs = hs_ring();
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": hs.active_kid()});
    let token = craft(&header, &good_payload(), ed_signer(&key));
    assert_eq!(verify(&hs, &config(), &token, T0), Err(AccessTokenError::BadHeader));
    // Other algorithm names.
    for alg in ["RS256", "ES256", "PS256", "eddsa", "HS512"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": key.kid});
        let token = craft(&header, &good_payload(), ed_signer(&key));
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadHeader),
            "{alg}"
        );
    }
}

#[test]
fn crafted_tokens_with_good_headers_verify() {
    // Guards the other header tests: the crafting itself is sound.
    let (ring, key) = ed_ring();
    let token = craft(&good_header(&key.kid), &good_payload(), ed_signer(&key));
    assert!(verify(&ring, &config(), &token, T0).is_ok());
    for typ in ["AT+JWT", "application/at+jwt", "Application/AT+JWT"] {
        let header = json!({"alg": "EdDSA", "typ": typ, "kid": key.kid});
        let token = craft(&header, &good_payload(), ed_signer(&key));
        assert!(verify(&ring, &config(), &token, T0).is_ok(), "{typ}");
    }
    let hs = hs_ring();
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": hs.active_kid()});
    let token = craft(&header, &good_payload(), hmac_signer(vec![9; 32]));
    assert!(verify(&hs, &config(), &token, T0).is_ok());
}

#[test]
fn kid_is_required_and_must_be_known() {
    let (ring, key) = ed_ring();
    let cases = [
        (json!({"alg": "EdDSA", "typ": "at+jwt"}), AccessTokenError::BadHeader),
        (
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": 7}),
            AccessTokenError::BadHeader,
        ),
        (
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": null}),
            AccessTokenError::BadHeader,
        ),
        (
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "someone-else"}),
            AccessTokenError::UnknownKey,
        ),
        (
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ""}),
            AccessTokenError::UnknownKey,
        ),
    ];
    for (header, expected) in cases {
        let token = craft(&header, &good_payload(), ed_signer(&key));
        assert_eq!(verify(&ring, &config(), &token, T0), Err(expected), "{header}");
    }
}

#[test]
fn typ_is_required() {
    let (ring, key) = ed_ring();
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("at+jwt "),
        json!("application/jwt"),
        json!(null),
        json!(1),
        json!(["at+jwt"]),
    ] {
        let header = json!({"alg": "EdDSA", "typ": typ, "kid": key.kid});
        let token = craft(&header, &good_payload(), ed_signer(&key));
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadHeader),
            "{typ}"
        );
    }
    let header = json!({"alg": "EdDSA", "kid": key.kid});
    let token = craft(&header, &good_payload(), ed_signer(&key));
    assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadHeader));
}

#[test]
fn key_choosing_and_critical_headers_are_refused() {
    let (ring, key) = ed_ring();
    let jwk = serde_json::to_value(&ring.public_jwks()[0]).unwrap();
    let extras = [
        ("crit", json!(["exp"])),
        ("crit", json!([])),
        ("jku", json!("https://evil.example/jwks.json")),
        ("jwk", jwk),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("x5c", json!(null)),
    ];
    for (name, value) in extras {
        let mut header = good_header(&key.kid);
        header[name] = value;
        let token = craft(&header, &good_payload(), ed_signer(&key));
        assert_eq!(
            verify(&ring, &config(), &token, T0),
            Err(AccessTokenError::BadHeader),
            "{name}"
        );
    }
    // A wrongly-typed standard header is bad too (and never a panic).
    let mut header = good_header(&key.kid);
    header["x5t"] = json!(5);
    let token = craft(&header, &good_payload(), ed_signer(&key));
    assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadHeader));
}

#[test]
fn tampering_breaks_the_signature() {
    let (ring, key) = ed_ring();
    let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let forged = with_admin_payload(&token);
    assert_eq!(
        verify(&ring, &config(), &forged, T0),
        Err(AccessTokenError::BadSignature)
    );
    // Signature from another key with the same kid.
    let impostor = generate_ed25519_key(&kek(), T0);
    let forged = craft(&good_header(&key.kid), &good_payload(), ed_signer(&impostor));
    assert_eq!(
        verify(&ring, &config(), &forged, T0),
        Err(AccessTokenError::BadSignature)
    );
    // Every flipped character of the signature.
    let signature = parts[2].as_bytes();
    for i in 0..signature.len() {
        let mut bytes = signature.to_vec();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{}.{}.{}", parts[0], parts[1], String::from_utf8(bytes).unwrap());
        assert!(verify(&ring, &config(), &tampered, T0).is_err(), "signature char {i}");
    }
    // Truncated signature.
    let short = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]);
    assert!(verify(&ring, &config(), &short, T0).is_err());
}

#[test]
fn garbage_never_panics() {
    let (ring, key) = ed_ring();
    let hs = hs_ring();
    let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
    let header = token.split('.').next().unwrap().to_owned();
    let mut cases: Vec<String> = [
        "",
        ".",
        "..",
        "...",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "😀.😀.😀",
        "e30.e30.e30",
        "bnVsbA.bnVsbA.bnVsbA",
        "W10.e30.AA",
        "Bearer x.y.z",
        " . . ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cases.push(format!("{header}..sig"));
    cases.push(format!("{header}.e30."));
    cases.push(format!(".{}", &token[header.len() + 1..]));
    cases.push(format!("{token}.extra"));
    cases.push(format!("{token}="));
    cases.push(format!("{}.{}", b64json(&json!("string header")), "e30.AA"));
    cases.push(format!("{}.{}", b64json(&good_header(&key.kid)), "!!!.AA"));
    cases.push(format!("{}.{}", b64json(&good_header(&key.kid)), "e30.!!!"));
    cases.push("A".repeat(100_000));
    cases.push(format!("{token}{}", "A".repeat(10_000)));
    for _ in 0..200 {
        let len = rand::random_range(0..300);
        let bytes: Vec<u8> = (0..len).map(|_| rand::random()).collect();
        cases.push(String::from_utf8_lossy(&bytes).into_owned());
        let text: String = (0..len).map(|_| char::from(rand::random_range(0x20u8..0x7f))).collect();
        cases.push(text);
        let b64: String = (0..len)
            .map(|_| {
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
                char::from(alphabet[rand::random_range(0..alphabet.len())])
            })
            .collect();
        cases.push(b64);
    }
    for case in cases {
        assert!(verify(&ring, &config(), &case, T0).is_err(), "{case:?}");
        assert!(verify(&hs, &config(), &case, T0).is_err(), "{case:?}");
    }
}
