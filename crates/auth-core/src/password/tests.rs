use super::*;

/// Cheap parameters: the tests exercise logic, not cost.
pub(crate) const FAST: Argon2Params = Argon2Params {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

fn fast() -> PasswordHasher {
    PasswordHasher::new(FAST).unwrap()
}

#[test]
fn hash_and_verify_with_default_params() {
    let hasher = PasswordHasher::new(Argon2Params::default()).unwrap();
    let phc = hasher.hash("correct horse battery staple").unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert_eq!(
        hasher.verify("correct horse battery staple", &phc),
        Ok(Verification::Match { needs_rehash: false })
    );
    assert_eq!(
        hasher.verify("correct horse battery stable", &phc),
        Ok(Verification::Mismatch)
    );
}

#[test]
fn hashes_are_salted() {
    let hasher = fast();
    let a = hasher.hash("same password here").unwrap();
    let b = hasher.hash("same password here").unwrap();
    assert_ne!(a, b);
    assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
    assert_eq!(
        hasher.verify("same password here", &b),
        Ok(Verification::Match { needs_rehash: false })
    );
}

#[test]
fn reused_work_areas_give_the_same_answers_as_the_library() {
    use argon2::PasswordVerifier as _;
    let small = fast();
    let larger = PasswordHasher::new(Argon2Params {
        memory_kib: 2048,
        iterations: 2,
        parallelism: 2,
    })
    .unwrap();
    let hashes = [
        small.hash("correct horse battery staple").unwrap(),
        larger.hash("correct horse battery staple").unwrap(),
        small.hash("another password entirely").unwrap(),
    ];
    // One area through all of them, dirty from each previous run, growing when needed.
    let mut area = WorkArea::default();
    for round in 0..2 {
        for phc in &hashes {
            for password in ["correct horse battery staple", "another password entirely", "wrong"] {
                let library = Argon2::default()
                    .verify_password(password.as_bytes(), &PasswordHash::new(phc).unwrap())
                    .is_ok();
                let ours = small.verify_in(password, phc, &mut area).unwrap();
                assert_eq!(
                    matches!(ours, Verification::Match { .. }),
                    library,
                    "round {round}, {password:?} against {phc}"
                );
            }
        }
    }
    // The area grew to the larger hash's size: too big to keep for the small parameters.
    assert!(!small.is_reusable(&area));
    assert!(larger.is_reusable(&area));
    assert!(small.is_reusable(&WorkArea::default()));
}

#[test]
fn mismatch_is_not_an_error() {
    let hasher = fast();
    let phc = hasher.hash("the real password").unwrap();
    for wrong in ["", "the real passwor", "the real password ", "THE REAL PASSWORD"] {
        assert_eq!(hasher.verify(wrong, &phc), Ok(Verification::Mismatch), "{wrong:?}");
    }
}

#[test]
fn needs_rehash_when_params_change() {
    let old = fast();
    let phc = old.hash("a password to upgrade").unwrap();
    for params in [
        Argon2Params {
            memory_kib: 2048,
            ..FAST
        },
        Argon2Params { iterations: 2, ..FAST },
        Argon2Params { parallelism: 2, ..FAST },
    ] {
        let new = PasswordHasher::new(params).unwrap();
        assert_eq!(
            new.verify("a password to upgrade", &phc),
            Ok(Verification::Match { needs_rehash: true }),
            "{params:?}"
        );
        assert_eq!(new.verify("wrong", &phc), Ok(Verification::Mismatch));
        // The upgraded hash is current.
        let upgraded = new.hash("a password to upgrade").unwrap();
        assert_eq!(
            new.verify("a password to upgrade", &upgraded),
            Ok(Verification::Match { needs_rehash: false })
        );
    }
}

#[test]
fn needs_rehash_for_other_argon2_variants() {
    use argon2::PasswordHasher as _;
    let hasher = fast();
    let params = Params::new(1024, 1, 1, None).unwrap();
    for (algorithm, version) in [
        (Algorithm::Argon2i, Version::V0x13),
        (Algorithm::Argon2id, Version::V0x10),
    ] {
        let phc = Argon2::new(algorithm, version, params.clone())
            .hash_password_with_salt(b"legacy password!", b"saltsaltsaltsalt")
            .unwrap()
            .to_string();
        assert_eq!(
            hasher.verify("legacy password!", &phc),
            Ok(Verification::Match { needs_rehash: true }),
            "{phc}"
        );
    }
}

#[test]
fn unreadable_stored_hashes_are_errors() {
    let hasher = fast();
    let good = hasher.hash("whatever password").unwrap();
    let salt_only = good.rsplit_once('$').unwrap().0.to_owned();
    let cases = [
        String::new(),
        "not a hash".to_owned(),
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E".to_owned(),
        "$argon2id$v=19$m=1024,t=1,p=1".to_owned(),
        salt_only,
        good.replace("m=1024", "m=abc"),
        good.replace("m=1024", "m=1"),
        good.replace("t=1", "t=0"),
        format!("{good}$extra"),
    ];
    for case in cases {
        assert_eq!(
            hasher.verify("whatever password", &case),
            Err(PasswordError::BadStoredHash),
            "{case:?}"
        );
    }
}

#[test]
fn bad_params_are_refused_up_front() {
    assert_eq!(
        PasswordHasher::new(Argon2Params {
            memory_kib: 1,
            iterations: 1,
            parallelism: 1
        })
        .unwrap_err(),
        PasswordError::Params
    );
    assert_eq!(
        PasswordHasher::new(Argon2Params { iterations: 0, ..FAST }).unwrap_err(),
        PasswordError::Params
    );
    assert_eq!(
        PasswordHasher::new(Argon2Params { parallelism: 0, ..FAST }).unwrap_err(),
        PasswordError::Params
    );
}

#[test]
fn dummy_verification_does_not_panic_and_is_a_real_hash() {
    let hasher = fast();
    hasher.verify_dummy("anything at all");
    hasher.verify_dummy("");
    assert!(hasher.dummy_hash().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
    let other = fast();
    other.prepare();
    assert_ne!(other.dummy_hash(), hasher.dummy_hash());
}

#[test]
fn debug_shows_no_dummy_hash() {
    let hasher = fast();
    hasher.prepare();
    let debug = format!("{hasher:?}");
    assert!(!debug.contains("argon2id"), "{debug}");
    assert!(debug.contains("1024"));
}

#[test]
fn policy_length_limits_count_characters() {
    assert_eq!(check_policy("short", &[]), Err(PolicyViolation::TooShort));
    assert_eq!(check_policy("elevenchars", &[]), Err(PolicyViolation::TooShort));
    // 11 two-byte characters are 22 bytes but still too short.
    assert_eq!(check_policy(&"é".repeat(11), &[]), Err(PolicyViolation::TooShort));
    assert_eq!(check_policy(&"x".repeat(257), &[]), Err(PolicyViolation::TooLong));
    assert_eq!(check_policy(&"😀".repeat(257), &[]), Err(PolicyViolation::TooLong));
    assert_eq!(check_policy(&"x".repeat(1_000_000), &[]), Err(PolicyViolation::TooLong));
    // 256 four-byte characters (1024 bytes) are within the limit: only strength can refuse it.
    assert!(!matches!(
        check_policy(&"😀".repeat(256), &[]),
        Err(PolicyViolation::TooLong)
    ));
    // 12 characters of mixed scripts, 25 bytes: long enough and strong enough.
    assert_eq!(check_policy("ñß€日本語Ωж🔑ŧ¶q", &[]), Ok(()));
}

#[test]
fn policy_refuses_common_and_predictable_passwords() {
    for weak in [
        "password1234",
        "123456789012",
        "aaaaaaaaaaaa",
        "qwertyuiopasdf",
        "Password1234!",
    ] {
        match check_policy(weak, &[]) {
            Err(PolicyViolation::TooWeak(message)) => {
                assert!(!message.is_empty());
                assert!(
                    !message.contains(weak),
                    "feedback must not echo the password: {message}"
                );
            }
            other => panic!("{weak:?} should be too weak, got {other:?}"),
        }
    }
    let message = PolicyViolation::TooWeak("advice".into()).to_string();
    assert_eq!(message, "password is too easy to guess: advice");
}

#[test]
fn policy_counts_user_inputs_against_strength() {
    let password = "adalovelace1815";
    assert_eq!(
        check_policy(password, &[]),
        Ok(()),
        "baseline must pass for this test to mean anything"
    );
    assert!(matches!(
        check_policy(
            password,
            &["ada.lovelace@example.com", "adalovelace", "Ada Lovelace 1815"]
        ),
        Err(PolicyViolation::TooWeak(_))
    ));
}

#[test]
fn policy_accepts_good_passphrases() {
    for good in [
        "correct horse battery staple",
        "tangerine-otter-cobalt-92",
        "Vq7#mZp2!xLr9@Tk",
    ] {
        assert_eq!(
            check_policy(good, &["someone@example.com", "Someone"]),
            Ok(()),
            "{good:?}"
        );
    }
}
