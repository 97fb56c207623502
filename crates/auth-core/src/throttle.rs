//! Per-account login backoff: after a few consecutive failures, each further attempt must wait
//! exponentially longer, up to a cap (never a permanent lockout, which would hand attackers a way
//! to lock users out).
//!
//! State is keyed by a hash of the normalised email, not by user id, so an address with no account
//! backs off exactly like one with an account: the 429 reveals nothing about who is registered.

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// Failures allowed before any waiting is imposed.
pub const FREE_ATTEMPTS: u32 = 5;
/// Longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::minutes(15);

/// The key an account's failure count is stored under.
pub type ThrottleKey = [u8; 32];

/// The throttle key of a login identifier: SHA-256 of the email as lookups normalise it (trimmed,
/// lower-cased, NFC), so every spelling that reaches one account shares one count.
pub fn throttle_key(email: &str) -> ThrottleKey {
    Sha256::digest(crate::user::normalise_email(email).as_bytes()).into()
}

/// How long to wait after `failures` consecutive failures: nothing up to [`FREE_ATTEMPTS`],
/// then 1 s, 2 s, 4 s, … capped at [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    let Some(excess) = failures.checked_sub(FREE_ATTEMPTS + 1) else {
        return Duration::ZERO;
    };
    if excess >= 20 {
        return MAX_BACKOFF;
    }
    Duration::seconds(1_i64 << excess).min(MAX_BACKOFF)
}

/// When the next attempt is allowed, given the stored failure count and time of the last failure.
/// `None` when an attempt is allowed now.
pub fn blocked_until(failures: u32, last_failure_at: OffsetDateTime, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let until = last_failure_at.saturating_add(backoff(failures));
    (until > now).then_some(until)
}

/// Whole seconds from `now` until `until`, rounded up, at least 1 (a `Retry-After` value).
pub fn whole_seconds_until(until: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let wait = (until - now).whole_milliseconds().max(0);
    u64::try_from((wait + 999) / 1000).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_first_failures_are_free_then_waits_double_up_to_the_cap() {
        for failures in 0..=FREE_ATTEMPTS {
            assert_eq!(backoff(failures), Duration::ZERO);
        }
        assert_eq!(backoff(FREE_ATTEMPTS + 1), Duration::seconds(1));
        assert_eq!(backoff(FREE_ATTEMPTS + 2), Duration::seconds(2));
        assert_eq!(backoff(FREE_ATTEMPTS + 4), Duration::seconds(8));
        assert_eq!(backoff(FREE_ATTEMPTS + 10), Duration::seconds(512));
        assert_eq!(backoff(FREE_ATTEMPTS + 11), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn blocked_until_counts_from_the_last_failure() {
        let t = datetime!(2030-01-01 00:00 UTC);
        assert_eq!(blocked_until(3, t, t), None);
        let failures = FREE_ATTEMPTS + 3;
        assert_eq!(
            blocked_until(failures, t, t + Duration::seconds(1)),
            Some(t + Duration::seconds(4))
        );
        assert_eq!(blocked_until(failures, t, t + Duration::seconds(4)), None);
    }

    #[test]
    fn keys_ignore_case_and_surrounding_space() {
        assert_eq!(throttle_key(" Ada@Example.com "), throttle_key("ada@example.com"));
        assert_ne!(throttle_key("ada@example.com"), throttle_key("bob@example.com"));
        assert_eq!(throttle_key("jose\u{301}@x.io"), throttle_key("jos\u{e9}@x.io"));
    }
}
