//! Users as the domain sees them (never serialised to the wire or logs as a whole).

use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalised e-mail address: trimmed and lower-cased, so uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Longest address SMTP can carry (RFC 5321 path limit).
pub const EMAIL_MAX_LEN: usize = 254;
pub const NAME_MAX_LEN: usize = 100;

impl Email {
    /// Normalises and checks the shape of an address. Deliberately permissive about the local
    /// part: only the server that receives mail can say what it accepts.
    pub fn parse(raw: &str) -> Option<Email> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() || email.chars().count() > EMAIL_MAX_LEN {
            return None;
        }
        let (local, domain) = email.rsplit_once('@')?;
        let well_formed = !local.is_empty()
            && !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        well_formed.then_some(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A display name: trimmed, non-empty, at most [`NAME_MAX_LEN`] characters, no control characters.
pub fn normalise_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let ok = !name.is_empty() && name.chars().count() <= NAME_MAX_LEN && !name.chars().any(char::is_control);
    ok.then(|| name.to_owned())
}

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// PHC string (argon2id). Never logged: see the manual `Debug`.
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let email = Email::parse("  Alice@Example.COM ").map(Email::into_string);
        assert_eq!(email.as_deref(), Some("alice@example.com"));
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@.com",
            "a@b.",
        ] {
            assert!(Email::parse(raw).is_none(), "{raw:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@x.io", "a".repeat(260))).is_none());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(normalise_name("  Ada ").as_deref(), Some("Ada"));
        assert!(normalise_name("   ").is_none());
        assert!(normalise_name(&"x".repeat(NAME_MAX_LEN + 1)).is_none());
        assert!(normalise_name("bad\u{0}name").is_none());
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
