//! Property-based fuzzing of everything in auth-core that parses attacker-controlled text:
//! access tokens (`access::verify`), refresh tokens (`RefreshToken::parse`) and CSRF tokens
//! (`csrf::verify`). Each property must hold for any input: no panic, nothing forged or mutated is
//! ever accepted.
//!
//! The default case counts keep every property well under a few seconds so the suite runs on each
//! `cargo test`. For a long run (see SECURITY.md):
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release -p tessera-auth-core --test fuzz
//! ```
//!
//! A failure found here becomes a named test in `regressions` below, so it is checked forever
//! whatever the random seed.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use tessera_auth_core::access::{self, AccessTokenConfig, KeyRing, TokenSubject};
use tessera_auth_core::csrf;
use tessera_auth_core::refresh::{RefreshToken, RefreshTokenError, TOKEN_CHARS};
use tessera_auth_core::secret::{CsrfKey, MasterKey, RefreshKeys};
use tessera_auth_core::user::Role;
use tessera_tests::fuzz_config::cases;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const T0: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn master() -> MasterKey {
    MasterKey::from_bytes([0x42; 32])
}

fn token_config() -> AccessTokenConfig {
    AccessTokenConfig {
        issuer: "tessera".into(),
        audience: "tessera-api".into(),
        ttl: Duration::minutes(10),
    }
}

/// One Ed25519 ring and one HS256 ring, each with a token it signed at `T0`.
struct Rings {
    ed: KeyRing,
    ed_token: String,
    hs: KeyRing,
    hs_token: String,
}

static RINGS: LazyLock<Rings> = LazyLock::new(|| {
    let kek = master().key_encryption_key();
    let key = access::generate_ed25519_key(&kek, T0);
    let ed = KeyRing::from_stored(&[key], &kek, Duration::minutes(10), T0).expect("ed25519 ring");
    let hs = KeyRing::hs256(&[0x17; 32]).expect("hs256 ring");
    let subject = TokenSubject {
        user_id: Uuid::from_u128(1),
        session_id: Uuid::from_u128(2),
        role: Role::User,
        email: "ada@example.com".into(),
        name: "Ada".into(),
        email_verified: false,
    };
    let (ed_token, _) = access::sign(&ed, &token_config(), &subject, T0).expect("sign ed25519");
    let (hs_token, _) = access::sign(&hs, &token_config(), &subject, T0).expect("sign hs256");
    Rings {
        ed,
        ed_token,
        hs,
        hs_token,
    }
});

fn verify_ed(token: &str) -> bool {
    access::verify(&RINGS.ed, &token_config(), token, T0).is_ok()
}

fn verify_hs(token: &str) -> bool {
    access::verify(&RINGS.hs, &token_config(), token, T0).is_ok()
}

/// Arbitrary text: any Unicode, token-alphabet soup, and raw bytes read lossily.
fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_=+/.-]{0,600}",
        proptest::collection::vec(any::<u8>(), 0..600).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// A text-level mutation of a token: what an attacker or a broken proxy could do to it.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Replace(Index, char),
    Delete(Index),
    Insert(Index, char),
    Truncate(Index),
    Swap(Index, Index),
    Append(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let ch = prop_oneof![
        proptest::sample::select(BASE64URL.chars().collect::<Vec<_>>()),
        proptest::sample::select(vec!['.', '=', '+', '/', ' ', '\0', '%', '"', ';', 'é']),
        any::<char>(),
    ];
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Mutation::FlipBit(i, bit)),
        (any::<Index>(), ch.clone()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), ch).prop_map(|(i, c)| Mutation::Insert(i, c)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        "[A-Za-z0-9_.=-]{1,8}".prop_map(Mutation::Append),
    ]
}

/// Applies `m` to the (ASCII) token's bytes; invalid UTF-8 is read lossily, as a server would see
/// a header it could decode at all.
fn mutate(token: &str, m: &Mutation) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let len = bytes.len();
    let char_bytes = |c: char| c.to_string().into_bytes();
    match m {
        Mutation::Insert(i, c) => {
            let i = i.index(len + 1);
            bytes.splice(i..i, char_bytes(*c));
        }
        Mutation::Append(s) => bytes.extend_from_slice(s.as_bytes()),
        // The rest need a byte to work on.
        _ if len == 0 => {}
        Mutation::FlipBit(i, bit) => bytes[i.index(len)] ^= 1 << bit,
        Mutation::Replace(i, c) => {
            let i = i.index(len);
            bytes.splice(i..=i, char_bytes(*c));
        }
        Mutation::Delete(i) => {
            bytes.remove(i.index(len));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(len)),
        Mutation::Swap(a, b) => bytes.swap(a.index(len), b.index(len)),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Flips one bit of the *decoded* bytes of one JWT segment and re-encodes it canonically, so the
/// change survives base64 and reaches the JSON parser or the signature check.
fn flip_decoded_bit(token: &str, segment: usize, bit: Index) -> Option<String> {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut raw = URL_SAFE_NO_PAD.decode(parts.get(segment)?).ok()?;
    let bit = bit.index(raw.len() * 8);
    raw[bit / 8] ^= 1 << (bit % 8);
    parts[segment] = URL_SAFE_NO_PAD.encode(raw);
    Some(parts.join("."))
}

fn b64json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

/// Headers that get past the shape checks, with and without the right kid/alg/typ and with the
/// parameters the verifier must refuse.
fn jwt_header(kid: String) -> impl Strategy<Value = Value> {
    let alg = prop_oneof![
        Just(json!("EdDSA")),
        Just(json!("HS256")),
        Just(json!("none")),
        Just(json!("RS256")),
        Just(Value::Null),
        any::<String>().prop_map(Value::from),
    ];
    let typ = prop_oneof![
        Just(json!("at+jwt")),
        Just(json!("application/at+jwt")),
        Just(json!("JWT")),
        Just(json!(1)),
    ];
    let kid = prop_oneof![
        Just(Value::from(kid)),
        any::<String>().prop_map(Value::from),
        Just(json!([])),
    ];
    let extra = prop_oneof![
        Just(None),
        proptest::sample::select(vec!["crit", "jku", "jwk", "x5u", "x5c", "cty", "zip", "b64"]).prop_map(Some),
    ];
    (alg, typ, kid, extra, any::<bool>()).prop_map(|(alg, typ, kid, extra, extra_value)| {
        let mut header = json!({"alg": alg, "typ": typ, "kid": kid});
        if let Some(name) = extra {
            header[name] = if extra_value {
                json!(["x"])
            } else {
                json!("https://attacker.example/")
            };
        }
        header
    })
}

/// Claims that are right, nearly right or wildly wrong.
fn jwt_payload() -> impl Strategy<Value = Value> {
    let time = prop_oneof![
        Just(json!(T0.unix_timestamp())),
        Just(json!((T0 + Duration::minutes(10)).unix_timestamp())),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!("soon")),
    ];
    let text = prop_oneof![
        Just(json!("tessera")),
        Just(json!("tessera-api")),
        any::<String>().prop_map(Value::from),
    ];
    let id = prop_oneof![
        Just(json!(Uuid::from_u128(1))),
        Just(json!("not-a-uuid")),
        Just(json!(7))
    ];
    (
        text.clone(),
        text.clone(),
        id.clone(),
        id,
        time.clone(),
        time,
        any::<bool>(),
    )
        .prop_map(|(iss, aud, sub, sid, iat, exp, extra)| {
            let mut claims = json!({
                "iss": iss, "aud": aud, "sub": sub, "sid": sid, "role": "admin",
                "email": "e@example.com", "name": "n", "iat": iat, "exp": exp, "jti": Uuid::from_u128(3),
            });
            if extra {
                claims["admin"] = json!(true);
            }
            claims
        })
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Any text at all: an error, never a panic, never a success.
    #[test]
    fn access_verify_refuses_arbitrary_text(text in arbitrary_text()) {
        prop_assert!(!verify_ed(&text));
        prop_assert!(!verify_hs(&text));
    }

    /// Any number of base64url segments of arbitrary bytes.
    #[test]
    fn access_verify_refuses_arbitrary_segments(
        segments in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6),
    ) {
        let token = segments.iter().map(|s| URL_SAFE_NO_PAD.encode(s)).collect::<Vec<_>>().join(".");
        prop_assert!(!verify_ed(&token));
        prop_assert!(!verify_hs(&token));
    }

    /// Well-formed JWTs with plausible headers and claims and a signature that is not the key's.
    #[test]
    fn access_verify_refuses_crafted_tokens(
        ed_header in jwt_header(RINGS.ed.active_kid().to_owned()),
        hs_header in jwt_header(RINGS.hs.active_kid().to_owned()),
        payload in jwt_payload(),
        signature in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let signature = URL_SAFE_NO_PAD.encode(&signature);
        let ed = format!("{}.{}.{signature}", b64json(&ed_header), b64json(&payload));
        let hs = format!("{}.{}.{signature}", b64json(&hs_header), b64json(&payload));
        prop_assert!(!verify_ed(&ed));
        prop_assert!(!verify_hs(&hs));
        // A genuine signature spliced onto other header and claims does not help either.
        let genuine = RINGS.ed_token.rsplit('.').next().unwrap_or_default();
        let spliced = format!("{}.{}.{genuine}", b64json(&ed_header), b64json(&payload));
        prop_assert!(!verify_ed(&spliced));
    }

    /// A valid token changed in any way is refused (or, if the change undid itself, is the same
    /// token).
    #[test]
    fn access_verify_refuses_mutated_tokens(m in mutation(), n in mutation()) {
        for (token, verify) in [(&RINGS.ed_token, verify_ed as fn(&str) -> bool), (&RINGS.hs_token, verify_hs)] {
            prop_assert!(verify(token));
            let once = mutate(token, &m);
            prop_assert!(once == *token || !verify(&once), "accepted {once}");
            let twice = mutate(&once, &n);
            prop_assert!(twice == *token || !verify(&twice), "accepted {twice}");
        }
    }

    /// Bit flips inside the decoded header, claims or signature are refused.
    #[test]
    fn access_verify_refuses_decoded_bit_flips(segment in 0usize..3, bit in any::<Index>()) {
        for (token, verify) in [(&RINGS.ed_token, verify_ed as fn(&str) -> bool), (&RINGS.hs_token, verify_hs)] {
            let flipped = flip_decoded_bit(token, segment, bit).expect("three base64url segments");
            prop_assert_ne!(&flipped, token);
            prop_assert!(!verify(&flipped), "accepted {flipped}");
        }
    }
}

fn refresh_keys() -> RefreshKeys {
    master().refresh_keys()
}

/// `text` with bit `bit` of its decoded bytes flipped, re-encoded.
fn flip_bit_b64(text: &str, bit: usize) -> String {
    let mut raw = URL_SAFE_NO_PAD.decode(text).expect("base64url");
    raw[bit / 8] ^= 1 << (bit % 8);
    URL_SAFE_NO_PAD.encode(raw)
}

/// `text` with bit `bit` of its ASCII bytes flipped (possibly leaving the alphabet).
fn flip_bit_text(text: &str, bit: usize) -> String {
    let mut raw = text.as_bytes().to_vec();
    raw[bit / 8] ^= 1 << (bit % 8);
    String::from_utf8_lossy(&raw).into_owned()
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Any text: `Malformed` or `Forged`, never a panic, never a token.
    #[test]
    fn refresh_parse_refuses_arbitrary_text(text in arbitrary_text()) {
        prop_assert!(RefreshToken::parse(&text, &refresh_keys()).is_err());
    }

    /// Any bytes, encoded like a real token (so length and alphabet may be right).
    #[test]
    fn refresh_parse_refuses_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let text = URL_SAFE_NO_PAD.encode(&bytes);
        let parsed = RefreshToken::parse(&text, &refresh_keys());
        prop_assert!(parsed.is_err());
        if text.len() == TOKEN_CHARS {
            // Right shape: the tag check is what refuses it, so nothing is looked up or revoked.
            prop_assert_eq!(parsed, Err(RefreshTokenError::Forged));
        }
    }

    /// Exactly the token alphabet and length: always a forgery.
    #[test]
    fn refresh_parse_flags_well_shaped_garbage_as_forged(text in "[A-Za-z0-9_-]{96}") {
        prop_assert_eq!(TOKEN_CHARS, 96);
        prop_assert_eq!(RefreshToken::parse(&text, &refresh_keys()), Err(RefreshTokenError::Forged));
    }

    /// Other text mutations of a genuine token.
    #[test]
    fn refresh_parse_refuses_mutated_tokens(m in mutation()) {
        let keys = refresh_keys();
        let token = RefreshToken::new_family(Uuid::from_u128(9));
        let text = token.encode(&keys);
        let mutated = mutate(&text, &m);
        let parsed = RefreshToken::parse(&mutated, &keys);
        prop_assert!(mutated == text || parsed.is_err(), "accepted {}", mutated);
    }
}

proptest! {
    // Each case checks every bit of a fresh token.
    #![proptest_config(cases(128))]

    /// Every single-bit flip of a genuine token, in its decoded bytes and in its text, is refused.
    #[test]
    fn refresh_parse_refuses_every_bit_flip(sid in any::<u128>(), generations in 0usize..4) {
        let keys = refresh_keys();
        let mut token = RefreshToken::new_family(Uuid::from_u128(sid));
        for _ in 0..generations {
            token = token.child(&keys);
        }
        let text = token.encode(&keys);
        prop_assert_eq!(RefreshToken::parse(&text, &keys), Ok(token.clone()));
        for bit in 0..text.len() * 6 / 8 * 8 {
            prop_assert_eq!(RefreshToken::parse(&flip_bit_b64(&text, bit), &keys), Err(RefreshTokenError::Forged));
        }
        for bit in 0..text.len() * 8 {
            let flipped = flip_bit_text(&text, bit);
            prop_assert!(RefreshToken::parse(&flipped, &keys).is_err(), "accepted bit {} flip", bit);
        }
        // Minted under another master key: right shape, wrong tag.
        let other = MasterKey::from_bytes([0x43; 32]).refresh_keys();
        prop_assert_eq!(RefreshToken::parse(&text, &other), Err(RefreshTokenError::Forged));
    }
}

fn csrf_key() -> CsrfKey {
    master().csrf_key()
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Any text is `false`, for any session.
    #[test]
    fn csrf_verify_refuses_arbitrary_text(text in arbitrary_text(), sid in any::<u128>()) {
        prop_assert!(!csrf::verify(&csrf_key(), Uuid::from_u128(sid), &text));
    }

    /// The token's exact shape (43 base64url characters) is not enough.
    #[test]
    fn csrf_verify_refuses_well_shaped_garbage(text in "[A-Za-z0-9_-]{43}", sid in any::<u128>()) {
        prop_assert!(!csrf::verify(&csrf_key(), Uuid::from_u128(sid), &text));
    }

    /// Other text mutations.
    #[test]
    fn csrf_verify_refuses_mutated_tokens(m in mutation(), sid in any::<u128>()) {
        let key = csrf_key();
        let sid = Uuid::from_u128(sid);
        let token = csrf::issue(&key, sid);
        let mutated = mutate(&token, &m);
        prop_assert!(mutated == token || !csrf::verify(&key, sid, &mutated), "accepted {}", mutated);
    }
}

proptest! {
    // Each case checks every bit of a fresh token.
    #![proptest_config(cases(128))]

    /// A token verifies for its own session only, and no single-bit flip of it verifies at all.
    #[test]
    fn csrf_tokens_are_bound_and_tamper_evident(sid in any::<u128>(), other in any::<u128>()) {
        let key = csrf_key();
        let sid = Uuid::from_u128(sid);
        let token = csrf::issue(&key, sid);
        prop_assert!(csrf::verify(&key, sid, &token));
        if other != sid.as_u128() {
            prop_assert!(!csrf::verify(&key, Uuid::from_u128(other), &token));
        }
        prop_assert!(!csrf::verify(&MasterKey::from_bytes([0x43; 32]).csrf_key(), sid, &token));
        for bit in 0..32 * 8 {
            prop_assert!(!csrf::verify(&key, sid, &flip_bit_b64(&token, bit)), "decoded bit {}", bit);
        }
        for bit in 0..token.len() * 8 {
            prop_assert!(!csrf::verify(&key, sid, &flip_bit_text(&token, bit)), "text bit {}", bit);
        }
    }
}

/// Deterministic, exhaustive companions of the random properties.
mod exhaustive {
    use super::*;

    /// Positions of each token replaced by every base64url character (and '.', '='): only the
    /// original verifies. This covers the non-canonical last character of an unpadded
    /// base64url segment, whose low bits a lenient decoder would ignore.
    #[test]
    fn every_single_character_substitution_is_refused() {
        let alphabet: Vec<char> = BASE64URL.chars().chain(['.', '=']).collect();
        let substitute = |text: &str, i: usize, c: char| {
            let mut chars: Vec<char> = text.chars().collect();
            chars[i] = c;
            chars.into_iter().collect::<String>()
        };
        for (token, verify) in [
            (&RINGS.ed_token, verify_ed as fn(&str) -> bool),
            (&RINGS.hs_token, verify_hs),
        ] {
            // Signature checks are the expensive part: the first and last two characters of each
            // segment (the random properties cover the middle).
            let mut positions = Vec::new();
            let mut start = 0;
            for segment in token.split('.') {
                let end = start + segment.len();
                positions.extend([start, start + 1, end - 2, end - 1]);
                start = end + 1;
            }
            for i in positions {
                for &c in &alphabet {
                    let changed = substitute(token, i, c);
                    assert!(changed == *token || !verify(&changed), "accepted {changed}");
                }
            }
        }
        let keys = refresh_keys();
        let refresh = RefreshToken::new_family(Uuid::from_u128(5)).encode(&keys);
        let csrf_key = csrf_key();
        let sid = Uuid::from_u128(5);
        let csrf_token = csrf::issue(&csrf_key, sid);
        for i in 0..refresh.len() {
            for &c in &alphabet {
                let changed = substitute(&refresh, i, c);
                assert!(changed == refresh || RefreshToken::parse(&changed, &keys).is_err());
            }
        }
        for i in 0..csrf_token.len() {
            for &c in &alphabet {
                let changed = substitute(&csrf_token, i, c);
                assert!(changed == csrf_token || !csrf::verify(&csrf_key, sid, &changed));
            }
        }
    }
}

/// Named regression tests for inputs the properties above once found (none so far), plus the
/// classic shapes that broke other JWT libraries.
mod regressions {
    use super::*;

    #[test]
    fn empty_and_separator_only_tokens() {
        for token in ["", ".", "..", "...", "a..", ".a.", "..a", "a.b", "a.b.c.d", "a.b.c."] {
            assert!(!verify_ed(token), "{token:?}");
            assert!(!verify_hs(token), "{token:?}");
        }
    }

    #[test]
    fn oversized_tokens_are_refused_before_decoding() {
        let huge = format!(
            "{}.{}.{}",
            "A".repeat(1 << 20),
            "A".repeat(1 << 20),
            "A".repeat(1 << 20)
        );
        assert!(!verify_ed(&huge));
        assert!(RefreshToken::parse(&huge, &refresh_keys()).is_err());
        assert!(!csrf::verify(&csrf_key(), Uuid::nil(), &huge));
    }

    #[test]
    fn deeply_nested_json_header_does_not_overflow_the_stack() {
        let nested = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let token = format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode(&nested),
            URL_SAFE_NO_PAD.encode(&nested)
        );
        assert!(!verify_ed(&token));
        let header = format!(
            r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}","x":{nested}}}"#,
            RINGS.ed.active_kid()
        );
        let token = format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(&nested)
        );
        assert!(!verify_ed(&token));
    }

    #[test]
    fn padded_and_standard_alphabet_encodings_of_a_valid_token_are_refused() {
        for token in [&RINGS.ed_token, &RINGS.hs_token] {
            let parts: Vec<&str> = token.split('.').collect();
            let padded = parts
                .iter()
                .map(|p| format!("{p}{}", "=".repeat((4 - p.len() % 4) % 4)))
                .collect::<Vec<_>>()
                .join(".");
            if padded != **token {
                assert!(!verify_ed(&padded) && !verify_hs(&padded), "{padded}");
            }
            let standard = token.replace('-', "+").replace('_', "/");
            if standard != **token {
                assert!(!verify_ed(&standard) && !verify_hs(&standard), "{standard}");
            }
        }
    }
}
