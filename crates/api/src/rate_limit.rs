//! Per-client-IP rate limits on the endpoints that cost argon2 work or mint sessions.
//!
//! Two independent buckets per IP, so refresh traffic from busy SPAs can never lock out logins:
//! credential checks + register share `TESSERA_RATE_LIMIT_PER_IP` requests a minute; refresh gets
//! four times that (several tabs per user, several users behind one NAT). State is in memory
//! (GCRA, the `governor` crate) and per instance; the per-account backoff, which must hold across
//! instances, lives in the database (see `tessera_auth_core::throttle`).
//!
//! Register and refresh are limited here, by path, before the body is read. Every check of a
//! password or a code (login, password change, and later ones) takes from the credentials bucket
//! inside the domain's one throttling mechanism instead (`AuthService::throttled`, through the
//! [`AttemptLimiter`] port), so no endpoint that checks a credential can forget the limit.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response};
use tessera_auth_core::events::RequestMeta;
use tessera_auth_core::ports::AttemptLimiter;

use crate::client::{ProxyTrust, client_ip};
use crate::problem::ApiError;

/// Refresh allowance relative to the login/register allowance.
const REFRESH_FACTOR: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// POST /api/auth/register, /api/auth/password/{forgot,reset}, and every credential check
    /// (login, password change...).
    Credentials,
    /// POST /api/auth/refresh.
    Refresh,
}

pub struct IpRateLimits {
    credentials: Option<DefaultKeyedRateLimiter<IpAddr>>,
    refresh: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

impl IpRateLimits {
    /// `per_minute == 0` turns the limits off.
    pub fn new(per_minute: u32) -> IpRateLimits {
        let limiter = |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        IpRateLimits {
            credentials: limiter(per_minute),
            refresh: limiter(per_minute.saturating_mul(REFRESH_FACTOR)),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(seconds to wait)` when `ip` has used up `bucket`.
    pub fn check(&self, bucket: Bucket, ip: IpAddr) -> Result<(), u64> {
        let limiter = match bucket {
            Bucket::Credentials => &self.credentials,
            Bucket::Refresh => &self.refresh,
        };
        let Some(limiter) = limiter else { return Ok(()) };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets IPs whose buckets are full again (bounds memory to the recently active clients).
    pub fn forget_idle(&self) {
        for limiter in [&self.credentials, &self.refresh].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Credential checks take their allowance from the credentials bucket, by the IP the request
/// was recorded with.
impl AttemptLimiter for IpRateLimits {
    fn try_acquire(&self, meta: &RequestMeta) -> Result<(), u64> {
        match meta.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) {
            Some(ip) => self.check(Bucket::Credentials, ip),
            // No peer address (not a TCP client): nothing to key a limit on.
            None => Ok(()),
        }
    }
}

/// The endpoints limited by path, in the middleware. (Login is limited in the domain, with every
/// other credential check: see the module comment.)
pub fn bucket_for(method: &Method, path: &str) -> Option<Bucket> {
    if *method != Method::POST {
        return None;
    }
    match path.trim_end_matches('/') {
        // Each mails someone (forgot) or hashes a password (reset).
        "/api/auth/register" | "/api/auth/password/forgot" | "/api/auth/password/reset" => Some(Bucket::Credentials),
        // A passkey login's options write a ceremony row and need no account: limited, so
        // they cannot fill the table; the assertion is a credential check like a login.
        "/api/auth/passkey/options" | "/api/auth/passkey" => Some(Bucket::Credentials),
        // Likewise a second factor's passkey options, which need only a login's challenge.
        "/api/auth/mfa/passkey/options" => Some(Bucket::Credentials),
        "/api/auth/refresh" => Some(Bucket::Refresh),
        _ => None,
    }
}

/// Middleware: 429 `rate_limited` with `Retry-After` before any body is read or hashed. Reads its
/// limits (`Arc<IpRateLimits>`) and the [`ProxyTrust`] from the request data the router attaches.
pub async fn rate_limit<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    if let Some(bucket) = bucket_for(req.method(), req.uri().path()) {
        let limits = req.data::<Arc<IpRateLimits>>().ok_or_else(ApiError::internal)?;
        let trust = req.data::<ProxyTrust>().ok_or_else(ApiError::internal)?;
        if let Some(ip) = client_ip(&req, trust)
            && let Err(retry_after) = limits.check(bucket, ip)
        {
            return Err(ApiError::rate_limited(retry_after).into());
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn each_ip_has_its_own_allowance() {
        let limits = IpRateLimits::new(3);
        for _ in 0..3 {
            assert!(limits.check(Bucket::Credentials, ip(1)).is_ok());
        }
        let wait = limits.check(Bucket::Credentials, ip(1)).unwrap_err();
        assert!((1..=20).contains(&wait), "one token per 20 s: {wait}");
        assert!(limits.check(Bucket::Credentials, ip(2)).is_ok());
    }

    #[test]
    fn refresh_traffic_cannot_use_up_logins() {
        let limits = IpRateLimits::new(2);
        while limits.check(Bucket::Refresh, ip(1)).is_ok() {}
        assert!(limits.check(Bucket::Credentials, ip(1)).is_ok());
    }

    #[test]
    fn refresh_gets_a_larger_allowance() {
        let limits = IpRateLimits::new(2);
        let allowed = std::iter::repeat_with(|| limits.check(Bucket::Refresh, ip(1)))
            .take_while(Result::is_ok)
            .count();
        assert_eq!(allowed, 8);
    }

    #[test]
    fn zero_turns_limits_off() {
        let limits = IpRateLimits::new(0);
        assert!((0..1000).all(|_| limits.check(Bucket::Credentials, ip(1)).is_ok()));
    }

    #[test]
    fn credential_checks_share_the_bucket_of_register() {
        let limits = IpRateLimits::new(2);
        let meta = |ip: &str| RequestMeta {
            ip: Some(ip.to_owned()),
            user_agent: None,
        };
        assert!(limits.check(Bucket::Credentials, ip(1)).is_ok());
        assert!(limits.try_acquire(&meta("192.0.2.1")).is_ok());
        assert!(limits.try_acquire(&meta("192.0.2.1")).is_err());
        assert!(limits.check(Bucket::Credentials, ip(1)).is_err());
        assert!(limits.try_acquire(&meta("192.0.2.2")).is_ok());
        assert!(
            limits.try_acquire(&RequestMeta::default()).is_ok(),
            "no address, no key"
        );
    }

    #[test]
    fn only_the_costly_endpoints_are_limited() {
        assert_eq!(
            bucket_for(&Method::POST, "/api/auth/register/"),
            Some(Bucket::Credentials)
        );
        // Login is limited with the other credential checks, in the domain.
        assert_eq!(bucket_for(&Method::POST, "/api/auth/login"), None);
        assert_eq!(bucket_for(&Method::POST, "/api/auth/refresh"), Some(Bucket::Refresh));
        for mailing in ["/api/auth/password/forgot", "/api/auth/password/reset"] {
            assert_eq!(
                bucket_for(&Method::POST, mailing),
                Some(Bucket::Credentials),
                "{mailing}"
            );
        }
        assert_eq!(bucket_for(&Method::POST, "/api/auth/email/verify"), None);
        for passkey in [
            "/api/auth/passkey/options",
            "/api/auth/passkey",
            "/api/auth/mfa/passkey/options",
        ] {
            assert_eq!(
                bucket_for(&Method::POST, passkey),
                Some(Bucket::Credentials),
                "{passkey}"
            );
        }
        assert_eq!(bucket_for(&Method::GET, "/api/auth/login"), None);
        assert_eq!(bucket_for(&Method::POST, "/api/auth/logout"), None);
        assert_eq!(bucket_for(&Method::GET, "/api/me"), None);
    }
}
