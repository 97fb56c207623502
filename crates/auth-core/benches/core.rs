//! Micro-benchmarks of the per-request work in auth-core: access-token sign/verify (EdDSA and
//! HS256), the revocation-set lookup, refresh-token parse/derive/encode and the rotation decision,
//! and CSRF verification. Run with `cargo bench -p tessera-auth-core --bench core`; under
//! `cargo test --all-targets` criterion runs each routine once (test mode), so this stays fast.
//! Results: docs/benchmarks.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_auth_core::access::{self, AccessTokenConfig, KeyRing, TokenSubject, generate_ed25519_key};
use tessera_auth_core::csrf;
use tessera_auth_core::refresh::{self, RefreshDecision, RefreshToken, RotationState};
use tessera_auth_core::revocation::{Revocation, RevocationSet};
use tessera_auth_core::secret::MasterKey;
use tessera_auth_core::session::{SessionPolicy, SessionRecord, TokenDelivery};
use tessera_auth_core::user::Role;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn config() -> AccessTokenConfig {
    AccessTokenConfig {
        issuer: "tessera".to_owned(),
        audience: "tessera-api".to_owned(),
        ttl: Duration::minutes(10),
    }
}

fn subject() -> TokenSubject {
    TokenSubject {
        user_id: Uuid::new_v4(),
        session_id: Uuid::new_v4(),
        role: Role::User,
        email: "bench.user@example.com".to_owned(),
        name: "Bench User".to_owned(),
        email_verified: false,
    }
}

fn rings(now: OffsetDateTime) -> [(&'static str, KeyRing); 2] {
    let master = MasterKey::from_bytes([7; 32]);
    let kek = master.key_encryption_key();
    let key = generate_ed25519_key(&kek, now);
    let ed = KeyRing::from_stored(std::slice::from_ref(&key), &kek, Duration::minutes(10), now)
        .unwrap_or_else(|e| panic!("ed25519 ring: {e}"));
    let hs = KeyRing::hs256(&[42; 32]).unwrap_or_else(|e| panic!("hs256 ring: {e}"));
    [("EdDSA", ed), ("HS256", hs)]
}

fn access_tokens(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let config = config();
    let subject = subject();
    let mut group = c.benchmark_group("access");
    for (alg, ring) in rings(now) {
        group.bench_function(format!("sign/{alg}"), |b| {
            b.iter(|| access::sign(black_box(&ring), &config, black_box(&subject), now))
        });
        let (token, _) = access::sign(&ring, &config, &subject, now).unwrap_or_else(|e| panic!("sign: {e}"));
        // Every check, as for a token seen for the first time.
        group.bench_function(format!("verify/{alg}"), |b| {
            b.iter(|| access::verify_uncached(black_box(&ring), &config, black_box(&token), now))
        });
        // A token presented again (the common case): answered from the ring's memo.
        group.bench_function(format!("verify_memoised/{alg}"), |b| {
            b.iter(|| access::verify(black_box(&ring), &config, black_box(&token), now))
        });
    }
    group.finish();
}

fn revocation_lookup(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let set = RevocationSet::new();
    let forget_after = now + Duration::minutes(10);
    let mut revoked = Uuid::nil();
    for i in 0..10_000 {
        revoked = Uuid::new_v4();
        if i % 10 == 0 {
            set.apply(&Revocation::UserTokensBefore {
                user_id: revoked,
                before: now,
                forget_after,
            });
        } else {
            set.apply(&Revocation::Session {
                session_id: revoked,
                forget_after,
            });
        }
    }
    let [(_, ring), _] = rings(now);
    let (_, live) = access::sign(&ring, &config(), &subject(), now).unwrap_or_else(|e| panic!("sign: {e}"));
    let mut dead = live.clone();
    dead.sid = revoked;
    let mut group = c.benchmark_group("revocation_10k");
    group.bench_function("is_revoked/miss", |b| b.iter(|| set.is_revoked(black_box(&live))));
    group.bench_function("is_revoked/hit", |b| b.iter(|| set.is_revoked(black_box(&dead))));
    group.finish();
}

fn refresh_tokens(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let keys = MasterKey::from_bytes([9; 32]).refresh_keys();
    let token = RefreshToken::new_family(Uuid::new_v4());
    let text = token.encode(&keys);
    let session = SessionRecord {
        id: token.session_id,
        user_id: Uuid::new_v4(),
        rotation: RotationState::initial(&token),
        delivery: TokenDelivery::Cookie,
        created_at: now,
        last_used_at: now,
        absolute_expires_at: now + Duration::days(30),
        revoked_at: None,
        revoked_reason: None,
        user_agent: None,
        ip: None,
    };
    let policy = SessionPolicy::default();
    let mut group = c.benchmark_group("refresh");
    group.bench_function("parse", |b| b.iter(|| RefreshToken::parse(black_box(&text), &keys)));
    group.bench_function("parse_child_encode", |b| {
        b.iter(|| {
            let parsed = RefreshToken::parse(black_box(&text), &keys).unwrap_or_else(|e| panic!("parse: {e}"));
            parsed.child(&keys).encode(&keys)
        })
    });
    group.bench_function("decide_rotate", |b| {
        b.iter(|| {
            let decision = refresh::decide(black_box(&token), black_box(&session), false, &policy, &keys, now);
            assert!(matches!(decision, RefreshDecision::Rotate { .. }));
            decision
        })
    });
    group.finish();
}

fn csrf_tokens(c: &mut Criterion) {
    let key = MasterKey::from_bytes([3; 32]).csrf_key();
    let sid = Uuid::new_v4();
    let token = csrf::issue(&key, sid);
    let mut group = c.benchmark_group("csrf");
    group.bench_function("issue", |b| b.iter(|| csrf::issue(&key, black_box(sid))));
    group.bench_function("verify", |b| {
        b.iter(|| assert!(csrf::verify(&key, black_box(sid), black_box(&token))))
    });
    group.finish();
}

criterion_group!(benches, access_tokens, revocation_lookup, refresh_tokens, csrf_tokens);
criterion_main!(benches);
