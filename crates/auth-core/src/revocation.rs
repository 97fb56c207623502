//! The in-memory revocation set consulted by every access-token verification.
//!
//! Access tokens live at most one access-TTL, so a revocation only has to be remembered that long:
//! the set stays small (bounded by revocations per TTL) and a lookup is two hash-map probes under
//! a read lock, with no I/O. It is filled at start-up from the store and kept current by
//! [`Revocation`] events (in-process, and from other instances via the api's listener).

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::AccessClaims;

/// One revocation fact. `forget_after` is when every access token it could refuse has expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every access token carrying this `sid`.
    Session {
        session_id: Uuid,
        forget_after: OffsetDateTime,
    },
    /// Every access token of this user issued before `before` (logout everywhere, disable).
    UserTokensBefore {
        user_id: Uuid,
        before: OffsetDateTime,
        forget_after: OffsetDateTime,
    },
}

#[derive(Debug, Default)]
pub struct RevocationSet {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// session id → forget after
    sessions: HashMap<Uuid, OffsetDateTime>,
    /// user id → (tokens with iat < this unix second are refused, forget after)
    users: HashMap<Uuid, (i64, OffsetDateTime)>,
}

impl RevocationSet {
    pub fn new() -> RevocationSet {
        RevocationSet::default()
    }

    /// Idempotent; for users keeps the latest `before`.
    pub fn apply(&self, revocation: &Revocation) {
        let mut inner = self.write();
        match *revocation {
            Revocation::Session {
                session_id,
                forget_after,
            } => {
                let entry = inner.sessions.entry(session_id).or_insert(forget_after);
                *entry = (*entry).max(forget_after);
            }
            Revocation::UserTokensBefore {
                user_id,
                before,
                forget_after,
            } => {
                let cutoff = before.unix_timestamp();
                let entry = inner.users.entry(user_id).or_insert((cutoff, forget_after));
                *entry = (entry.0.max(cutoff), entry.1.max(forget_after));
            }
        }
    }

    /// O(1), no I/O. A token whose `iat` equals the user's cut-off second is refused too, so a
    /// token minted in the same second just before "log out everywhere" cannot survive it.
    pub fn is_revoked(&self, claims: &AccessClaims) -> bool {
        let inner = self.read();
        inner.sessions.contains_key(&claims.sid)
            || inner
                .users
                .get(&claims.sub)
                .is_some_and(|(cutoff, _)| claims.iat <= *cutoff)
    }

    /// Drops entries whose `forget_after` has passed.
    pub fn prune(&self, now: OffsetDateTime) {
        let mut inner = self.write();
        inner.sessions.retain(|_, forget_after| *forget_after > now);
        inner.users.retain(|_, (_, forget_after)| *forget_after > now);
    }

    /// Number of remembered revocations (sessions plus users).
    pub fn len(&self) -> usize {
        let inner = self.read();
        inner.sessions.len() + inner.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A panic while holding the lock cannot leave the maps half-updated in a way that matters
    // (every mutation is a single insert or retain), so a poisoned lock is simply recovered.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::Duration;
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn claims(user: Uuid, session: Uuid, iat: OffsetDateTime) -> AccessClaims {
        AccessClaims {
            iss: "tessera".into(),
            aud: "tessera-api".into(),
            sub: user,
            sid: session,
            role: "user".into(),
            email: "a@example.com".into(),
            name: "A".into(),
            email_verified: false,
            iat: iat.unix_timestamp(),
            exp: (iat + Duration::minutes(10)).unix_timestamp(),
            jti: Uuid::new_v4(),
        }
    }

    #[test]
    fn session_revocation_refuses_every_token_of_the_session() {
        let set = RevocationSet::new();
        assert!(set.is_empty());
        let (user, session, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        set.apply(&Revocation::Session {
            session_id: session,
            forget_after: T0 + Duration::minutes(10),
        });
        assert!(set.is_revoked(&claims(user, session, T0)));
        assert!(set.is_revoked(&claims(user, session, T0 + Duration::minutes(5))));
        assert!(!set.is_revoked(&claims(user, other, T0)));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn user_cutoff_refuses_tokens_up_to_and_including_its_second() {
        let set = RevocationSet::new();
        let user = Uuid::new_v4();
        let before = T0 + Duration::milliseconds(700);
        set.apply(&Revocation::UserTokensBefore {
            user_id: user,
            before,
            forget_after: T0 + Duration::minutes(10),
        });
        assert!(set.is_revoked(&claims(user, Uuid::new_v4(), T0 - Duration::minutes(1))));
        assert!(
            set.is_revoked(&claims(user, Uuid::new_v4(), T0)),
            "same second as the cut-off"
        );
        assert!(!set.is_revoked(&claims(user, Uuid::new_v4(), T0 + Duration::seconds(1))));
        assert!(!set.is_revoked(&claims(Uuid::new_v4(), Uuid::new_v4(), T0)));
    }

    #[test]
    fn apply_is_idempotent_and_keeps_the_latest() {
        let set = RevocationSet::new();
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let late = T0 + Duration::minutes(20);
        set.apply(&Revocation::Session {
            session_id: session,
            forget_after: late,
        });
        set.apply(&Revocation::Session {
            session_id: session,
            forget_after: T0,
        });
        set.apply(&Revocation::Session {
            session_id: session,
            forget_after: T0,
        });
        assert_eq!(set.len(), 1);
        set.prune(T0 + Duration::minutes(1));
        assert!(
            set.is_revoked(&claims(user, session, T0)),
            "the earlier forget_after must not win"
        );

        set.apply(&Revocation::UserTokensBefore {
            user_id: user,
            before: T0 + Duration::minutes(5),
            forget_after: late,
        });
        set.apply(&Revocation::UserTokensBefore {
            user_id: user,
            before: T0,
            forget_after: T0,
        });
        assert_eq!(set.len(), 2);
        assert!(
            set.is_revoked(&claims(user, Uuid::new_v4(), T0 + Duration::minutes(4))),
            "the later cut-off wins"
        );
        set.prune(T0 + Duration::minutes(1));
        assert_eq!(set.len(), 2, "the later forget_after wins");
    }

    #[test]
    fn prune_forgets_only_expired_entries() {
        let set = RevocationSet::new();
        let (user, old_session, new_session) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        set.apply(&Revocation::Session {
            session_id: old_session,
            forget_after: T0,
        });
        set.apply(&Revocation::Session {
            session_id: new_session,
            forget_after: T0 + Duration::minutes(10),
        });
        set.apply(&Revocation::UserTokensBefore {
            user_id: user,
            before: T0,
            forget_after: T0 + Duration::minutes(5),
        });
        assert_eq!(set.len(), 3);

        set.prune(T0 - Duration::seconds(1));
        assert_eq!(set.len(), 3);
        set.prune(T0);
        assert_eq!(set.len(), 2);
        assert!(!set.is_revoked(&claims(Uuid::new_v4(), old_session, T0)));
        set.prune(T0 + Duration::minutes(5));
        assert_eq!(set.len(), 1);
        assert!(!set.is_revoked(&claims(user, Uuid::new_v4(), T0)));
        set.prune(T0 + Duration::minutes(10));
        assert!(set.is_empty());
    }

    #[test]
    fn survives_a_poisoned_lock() {
        let set = Arc::new(RevocationSet::new());
        let session = Uuid::new_v4();
        let poisoner = Arc::clone(&set);
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.inner.write().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(set.inner.is_poisoned());
        set.apply(&Revocation::Session {
            session_id: session,
            forget_after: T0,
        });
        assert!(set.is_revoked(&claims(Uuid::new_v4(), session, T0)));
        set.prune(T0);
        assert!(set.is_empty());
    }

    #[test]
    fn concurrent_readers_and_writers() {
        let set = Arc::new(RevocationSet::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let set = Arc::clone(&set);
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        let session = Uuid::new_v4();
                        set.apply(&Revocation::Session {
                            session_id: session,
                            forget_after: T0,
                        });
                        assert!(set.is_revoked(&claims(Uuid::new_v4(), session, T0)));
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(set.len(), 1000);
    }
}
