//! The auth cookies: one factory for setting and clearing, so a removal always repeats the
//! attributes (path, prefix) that the browser needs to match the original.

use poem::web::cookie::{Cookie, CookieJar, SameSite};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthCookie {
    Access,
    Refresh,
    Csrf,
    /// The MFA challenge of a login that answered 202 (HttpOnly, 5 minutes); not a session
    /// cookie, so not in [`AuthCookie::ALL`].
    Mfa,
}

impl AuthCookie {
    /// The session's cookies (what logging out clears).
    pub const ALL: [AuthCookie; 3] = [AuthCookie::Access, AuthCookie::Refresh, AuthCookie::Csrf];

    fn base_name(self) -> &'static str {
        match self {
            AuthCookie::Access => "access",
            AuthCookie::Refresh => "refresh",
            AuthCookie::Csrf => "csrf",
            AuthCookie::Mfa => "mfa",
        }
    }
}

/// Cookie names and attributes for this deployment. With `secure` (the default), names carry the
/// `__Host-` prefix, which makes browsers insist on Secure, Path=/ and no Domain, so a sibling
/// subdomain cannot plant or overwrite them.
#[derive(Debug, Clone)]
pub struct CookieFactory {
    secure: bool,
    names: [String; 4],
}

impl CookieFactory {
    pub fn new(secure: bool) -> CookieFactory {
        let name = |c: AuthCookie| {
            if secure {
                format!("__Host-{}", c.base_name())
            } else {
                c.base_name().to_owned()
            }
        };
        CookieFactory {
            secure,
            names: [
                AuthCookie::Access,
                AuthCookie::Refresh,
                AuthCookie::Csrf,
                AuthCookie::Mfa,
            ]
            .map(name),
        }
    }

    pub fn name(&self, cookie: AuthCookie) -> &str {
        let [access, refresh, csrf, mfa] = &self.names;
        match cookie {
            AuthCookie::Access => access,
            AuthCookie::Refresh => refresh,
            AuthCookie::Csrf => csrf,
            AuthCookie::Mfa => mfa,
        }
    }

    fn build(&self, cookie: AuthCookie, value: &str) -> Cookie {
        let mut c = Cookie::new_with_str(self.name(cookie), value);
        c.set_path("/");
        c.set_secure(self.secure);
        c.set_same_site(SameSite::Strict);
        // The CSRF cookie is the one the SPA must read to echo it in X-CSRF-Token.
        c.set_http_only(cookie != AuthCookie::Csrf);
        c
    }

    /// Sets `cookie` to expire at `expires_at` (Max-Age, never a past or zero value).
    pub fn set(
        &self,
        jar: &CookieJar,
        cookie: AuthCookie,
        value: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) {
        let mut c = self.build(cookie, value);
        // Rounded to the nearest second: the token was minted a few microseconds before `now`.
        let millis = (expires_at - now).whole_milliseconds().max(1_000);
        let seconds = u64::try_from((millis + 500) / 1_000).unwrap_or(u64::MAX);
        c.set_max_age(std::time::Duration::from_secs(seconds));
        jar.add(c);
    }

    /// Clears all three session cookies (Max-Age=0 with the same name, path and prefix).
    pub fn clear_all(&self, jar: &CookieJar) {
        for cookie in AuthCookie::ALL {
            self.clear(jar, cookie);
        }
    }

    /// Clears one cookie (Max-Age=0 with the same name, path and prefix).
    pub fn clear(&self, jar: &CookieJar, cookie: AuthCookie) {
        let mut c = self.build(cookie, "");
        c.set_max_age(std::time::Duration::ZERO);
        jar.add(c);
    }

    pub fn get(&self, jar: &CookieJar, cookie: AuthCookie) -> Option<String> {
        jar.get(self.name(cookie)).map(|c| c.value_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the jar will send as `Set-Cookie` for each auth cookie it holds.
    fn set_cookie_headers(factory: &CookieFactory, jar: &CookieJar) -> Vec<String> {
        AuthCookie::ALL
            .iter()
            .filter_map(|c| jar.get(factory.name(*c)))
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn secure_cookies_use_host_prefix_and_strict_attributes() {
        let factory = CookieFactory::new(true);
        let jar = CookieJar::default();
        let now = OffsetDateTime::now_utc();
        factory.set(
            &jar,
            AuthCookie::Access,
            "tok.en.jwt",
            now,
            now + time::Duration::minutes(10),
        );
        factory.set(&jar, AuthCookie::Csrf, "csrf", now, now + time::Duration::days(14));
        let headers = set_cookie_headers(&factory, &jar);
        let access = headers.iter().find(|h| h.starts_with("__Host-access=")).unwrap();
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=600"] {
            assert!(access.contains(attr), "{access} lacks {attr}");
        }
        assert!(!access.contains("Domain"));
        assert!(
            access.starts_with("__Host-access=tok.en.jwt;"),
            "value must not be quoted: {access}"
        );
        let csrf = headers.iter().find(|h| h.starts_with("__Host-csrf=")).unwrap();
        assert!(!csrf.contains("HttpOnly"));
        assert!(csrf.contains("Secure") && csrf.contains("SameSite=Strict"));
    }

    #[test]
    fn insecure_mode_drops_prefix_and_secure() {
        let factory = CookieFactory::new(false);
        assert_eq!(factory.name(AuthCookie::Refresh), "refresh");
        let jar = CookieJar::default();
        factory.clear_all(&jar);
        let headers = set_cookie_headers(&factory, &jar);
        assert_eq!(headers.len(), 3);
        for h in headers {
            assert!(
                h.contains("Max-Age=0") && h.contains("Path=/") && !h.contains("Secure"),
                "{h}"
            );
        }
    }
}
