//! The key ring: rotation, the active key, sealed and corrupt keys, JWKS.

use super::*;

#[test]
fn rotation_keeps_retired_keys_for_ttl_plus_leeway() {
    let kek = kek();
    let old = generate_ed25519_key(&kek, T0);
    let old_ring = KeyRing::from_stored(std::slice::from_ref(&old), &kek, TTL, T0).unwrap();
    let (old_token, _) = sign(&old_ring, &config(), &subject(), T0 + Duration::hours(1)).unwrap();

    let rotated_at = T0 + Duration::hours(1);
    let new = generate_ed25519_key(&kek, rotated_at);
    let retired = StoredSigningKey {
        retired_at: Some(rotated_at),
        ..old.clone()
    };
    let stored = [retired, new.clone()];

    let ring = KeyRing::from_stored(&stored, &kek, TTL, rotated_at).unwrap();
    assert_eq!(ring.active_kid(), new.kid);
    let (new_token, _) = sign(&ring, &config(), &subject(), rotated_at).unwrap();
    assert!(new_token.contains('.'));
    assert!(verify(&ring, &config(), &old_token, rotated_at + Duration::minutes(5)).is_ok());
    assert!(verify(&ring, &config(), &new_token, rotated_at).is_ok());
    let kids: Vec<String> = ring.public_jwks().into_iter().map(|jwk| jwk.kid).collect();
    let mut expected = vec![old.kid.clone(), new.kid.clone()];
    expected.sort();
    assert_eq!(kids, expected, "JWKS lists both, sorted by kid");

    // Still there one second before retired_at + ttl + leeway, gone at it.
    let edge = rotated_at + TTL + Duration::seconds(LEEWAY_SECS);
    let ring = KeyRing::from_stored(&stored, &kek, TTL, edge - Duration::seconds(1)).unwrap();
    assert_eq!(ring.public_jwks().len(), 2);
    let ring = KeyRing::from_stored(&stored, &kek, TTL, edge).unwrap();
    assert_eq!(ring.public_jwks().len(), 1);
    assert_eq!(
        verify(&ring, &config(), &old_token, edge),
        Err(AccessTokenError::UnknownKey)
    );
    assert!(verify(&ring, &config(), &new_token, rotated_at + Duration::minutes(1)).is_ok());
}

#[test]
fn newest_unretired_key_signs() {
    let kek = kek();
    let a = generate_ed25519_key(&kek, T0);
    let b = generate_ed25519_key(&kek, T0 + Duration::seconds(1));
    let ring = KeyRing::from_stored(&[b.clone(), a.clone()], &kek, TTL, T0).unwrap();
    assert_eq!(ring.active_kid(), b.kid);
    // The older unretired key still verifies but does not sign.
    assert!(ring.keys.get(&a.kid).unwrap().signer.is_none());
    assert_eq!(ring.public_jwks().len(), 2);
}

#[test]
fn ring_needs_an_active_key() {
    let kek = kek();
    assert_eq!(
        KeyRing::from_stored(&[], &kek, TTL, T0).unwrap_err(),
        KeyRingError::NoActiveKey
    );
    let retired = StoredSigningKey {
        retired_at: Some(T0),
        ..generate_ed25519_key(&kek, T0)
    };
    assert_eq!(
        KeyRing::from_stored(&[retired], &kek, TTL, T0).unwrap_err(),
        KeyRingError::NoActiveKey
    );
}

#[test]
fn sealed_keys_need_the_right_master_key_and_row() {
    let key = generate_ed25519_key(&kek(), T0);
    let wrong = MasterKey::from_bytes([6; 32]).key_encryption_key();
    assert_eq!(
        KeyRing::from_stored(std::slice::from_ref(&key), &wrong, TTL, T0).unwrap_err(),
        KeyRingError::Seal(SealError::Open)
    );
    // A sealed blob moved to another row (another kid) does not open.
    let other = generate_ed25519_key(&kek(), T0);
    let moved = StoredSigningKey {
        sealed_private_key: key.sealed_private_key.clone(),
        ..other
    };
    assert_eq!(
        KeyRing::from_stored(&[moved], &kek(), TTL, T0).unwrap_err(),
        KeyRingError::Seal(SealError::Open)
    );
}

#[test]
fn corrupt_keys_are_reported_by_kid() {
    let kek = kek();
    let key = generate_ed25519_key(&kek, T0);
    let corrupt = |key: StoredSigningKey| {
        let kid = key.kid.clone();
        assert_eq!(
            KeyRing::from_stored(&[key], &kek, TTL, T0).unwrap_err(),
            KeyRingError::Corrupt(kid)
        );
    };
    // Public half from another key.
    let other = generate_ed25519_key(&kek, T0);
    corrupt(StoredSigningKey {
        public_key: other.public_key.clone(),
        ..key.clone()
    });
    // Truncated public key (jsonwebtoken would panic slicing it).
    corrupt(StoredSigningKey {
        public_key: key.public_key[..31].to_vec(),
        ..key.clone()
    });
    corrupt(StoredSigningKey {
        public_key: Vec::new(),
        ..key.clone()
    });
    // A sealed seed of the wrong length.
    corrupt(StoredSigningKey {
        sealed_private_key: kek.seal(&[1; 31], key.kid.as_bytes()),
        ..key.clone()
    });
    // Not an Ed25519 row.
    corrupt(StoredSigningKey {
        algorithm: SigningAlgorithm::HS256,
        ..key.clone()
    });
    // The same kid twice.
    let twin = StoredSigningKey {
        retired_at: Some(T0),
        ..key.clone()
    };
    assert_eq!(
        KeyRing::from_stored(&[key.clone(), twin], &kek, TTL, T0).unwrap_err(),
        KeyRingError::Corrupt(key.kid.clone())
    );
}

#[test]
fn generated_keys_are_well_formed() {
    let kek = kek();
    let key = generate_ed25519_key(&kek, T0);
    assert_eq!(key.algorithm, SigningAlgorithm::EdDSA);
    assert_eq!(key.public_key.len(), 32);
    assert_eq!(key.created_at, T0);
    assert_eq!(key.retired_at, None);
    assert_eq!(URL_SAFE_NO_PAD.decode(&key.kid).unwrap().len(), 16);
    let seed = kek.open(&key.sealed_private_key, key.kid.as_bytes()).unwrap();
    assert_eq!(seed.len(), 32);
    assert_ne!(generate_ed25519_key(&kek, T0).kid, key.kid);
    let debug = format!("{key:?}");
    assert!(debug.contains(&key.kid) && !debug.contains("sealed"), "{debug}");
}

#[test]
fn jwks_has_only_public_parts() {
    let (ring, key) = ed_ring();
    let jwks = ring.public_jwks();
    assert_eq!(jwks.len(), 1);
    let jwk = serde_json::to_value(&jwks[0]).unwrap();
    assert_eq!(
        jwk,
        json!({
            "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&key.public_key),
            "kid": key.kid, "alg": "EdDSA", "use": "sig",
        })
    );
    assert!(jwk.get("d").is_none());
    // The published key verifies our tokens (what a third party would do).
    let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
    let decoding = DecodingKey::from_ed_components(&jwks[0].x).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.set_audience(&["tessera-api"]);
    assert!(jsonwebtoken::decode::<AccessClaims>(&token, &decoding, &validation).is_ok());
}

#[test]
fn ring_debug_lists_kids_only() {
    let (ring, key) = ed_ring();
    let debug = format!("{ring:?}");
    assert!(debug.contains(&key.kid));
    assert!(!debug.contains(&URL_SAFE_NO_PAD.encode(&key.public_key)));
}
