//! Users as the domain sees them (never serialised to the wire or logs as a whole).

use std::fmt;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
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

/// A normalised e-mail address: trimmed, lower-cased and in Unicode NFC, so uniqueness is
/// case-insensitive and `jose\u{301}` is `josé`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Longest address SMTP can carry (RFC 5321 path limit).
pub const EMAIL_MAX_LEN: usize = 254;
pub const NAME_MAX_LEN: usize = 100;

/// The form an address is stored, looked up and throttled in: trimmed, lower-cased, NFC. Lenient
/// (no rules about which characters may appear), so every stored address stays reachable; new
/// addresses must also pass [`Email::parse`].
pub fn normalise_email(raw: &str) -> String {
    raw.trim().to_lowercase().nfc().collect()
}

impl Email {
    /// Normalises ([`normalise_email`]) and checks a new address. Deliberately permissive about
    /// the local part (only the server that receives mail can say what it accepts), but never
    /// invisible or text-reordering characters: no controls, format characters (zero-width
    /// spaces and joiners, bidi overrides and isolates), line or paragraph separators, white
    /// space, private-use or unassigned code points.
    pub fn parse(raw: &str) -> Option<Email> {
        let email = normalise_email(raw);
        if email.is_empty() || email.chars().count() > EMAIL_MAX_LEN {
            return None;
        }
        let (local, domain) = email.rsplit_once('@')?;
        let well_formed = !local.is_empty()
            && !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || is_hidden(c));
        well_formed.then_some(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// SHA-256 of the address's Unicode TR39 skeleton: two addresses with the same one look alike
    /// (`paypal` with a Cyrillic `а`, `rn` and `m`, `l` and `1`), and only one account may have
    /// it. A hash, so the unique index has a fixed width whatever the skeleton expands to.
    pub fn skeleton_hash(&self) -> [u8; 32] {
        email_skeleton_hash(&self.0)
    }
}

/// [`Email::skeleton_hash`] of any stored address (also those from before the rules, which the
/// store fills in at start-up).
pub fn email_skeleton_hash(email: &str) -> [u8; 32] {
    let skeleton: String = unicode_security::skeleton(&normalise_email(email)).collect();
    Sha256::digest(skeleton.as_bytes()).into()
}

/// Characters nobody should find in an address or a name: they are invisible, reorder the text
/// around them (bidi controls are format characters), break lines, or mean nothing yet.
fn is_hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::Unassigned
    )
}

/// Zero-width non-joiner and joiner: format characters that some scripts (Persian, the Indic
/// scripts) and emoji sequences need between two visible characters.
fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

/// A display name: trimmed, NFC, non-empty, at most [`NAME_MAX_LEN`] characters, without hidden
/// characters (see [`Email::parse`]), except a joiner between two visible characters.
pub fn normalise_name(raw: &str) -> Option<String> {
    let name: String = raw.trim().nfc().collect();
    let chars: Vec<char> = name.chars().collect();
    let visible_around = |at: usize| {
        let visible = |c: Option<&char>| c.is_some_and(|c| !is_hidden(*c) && !c.is_whitespace());
        at.checked_sub(1).is_some_and(|before| visible(chars.get(before))) && visible(chars.get(at + 1))
    };
    let clean = chars
        .iter()
        .enumerate()
        .all(|(at, c)| !is_hidden(*c) || (is_joiner(*c) && visible_around(at)));
    let ok = !chars.is_empty() && chars.len() <= NAME_MAX_LEN && clean;
    ok.then_some(name)
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
    /// The address was proved by a mailed link (verification, or the confirmation of a change).
    pub email_verified: bool,
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

/// The user a [`NewUser`] becomes once stored.
impl From<NewUser> for User {
    fn from(user: NewUser) -> User {
        User {
            id: user.id,
            email: user.email.into_string(),
            name: user.name,
            role: user.role,
            password_hash: user.password_hash,
            disabled: false,
            email_verified: false,
            created_at: user.created_at,
        }
    }
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
    fn emails_are_nfc_so_composed_and_decomposed_are_one_address() {
        let decomposed = Email::parse("Jose\u{301}@Example.com").map(Email::into_string);
        let composed = Email::parse("jos\u{e9}@example.com").map(Email::into_string);
        assert_eq!(decomposed.as_deref(), Some("jos\u{e9}@example.com"));
        assert_eq!(decomposed, composed);
        assert_eq!(normalise_email(" JOSE\u{301}@x.io "), "jos\u{e9}@x.io");
    }

    /// The probe's cases and their kin: invisible and text-reordering characters.
    #[test]
    fn hidden_characters_are_refused_in_addresses() {
        for c in [
            '\u{200B}', // zero-width space
            '\u{200C}', '\u{200D}', // joiners
            '\u{2060}', '\u{FEFF}', '\u{00AD}', // word joiner, BOM, soft hyphen
            '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', // bidi
            '\u{2028}', '\u{2029}', // line and paragraph separators
            '\u{0085}', '\u{0007}', '\u{007F}', // controls
            '\u{E000}', // private use
            '\u{0378}', // unassigned
            '\u{00A0}', '\u{3000}', // spaces
        ] {
            let raw = format!("ad{c}min@example.com");
            assert!(Email::parse(&raw).is_none(), "U+{:04X} accepted", u32::from(c));
            // Lookups still normalise them, so an old account stays reachable.
            assert!(normalise_email(&raw).contains(c));
        }
        for fine in [
            "jos\u{e9}@example.com",
            "\u{5f20}\u{4f1f}@\u{4f8b}\u{5b50}.cn",
            "user+tag@xn--bcher-kva.example",
        ] {
            assert!(Email::parse(fine).is_some(), "{fine}");
        }
    }

    #[test]
    fn hidden_characters_are_refused_in_names() {
        for bad in [
            "Ada\u{200B}",
            "\u{202E}adA",
            "Ada\u{2066}x\u{2069}",
            "Ada\u{2028}Lovelace",
            "Ada\u{FEFF}",
            "Ada\u{0378}",
            "\u{200D}Ada",
            "Ada\u{200D}",
            "Ada \u{200C} B",
            "a\u{200D}\u{200D}b",
        ] {
            assert!(normalise_name(bad).is_none(), "{bad:?} accepted");
        }
        // NFC, and the joiners that scripts and emoji need between visible characters.
        assert_eq!(normalise_name("Jose\u{301}").as_deref(), Some("Jos\u{e9}"));
        for fine in [
            "\u{645}\u{6cc}\u{200C}\u{62e}\u{648}\u{627}\u{647}\u{645}", // Persian with ZWNJ
            "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",               // family emoji
            "Zoë Ω \u{00A0}Smith",
        ] {
            assert!(normalise_name(fine).is_some(), "{fine:?} refused");
        }
    }

    #[test]
    fn confusable_addresses_share_a_skeleton() {
        let hash = |raw: &str| Email::parse(raw).unwrap().skeleton_hash();
        assert_eq!(
            hash("paypal@example.com"),
            hash("p\u{430}ypal@example.com"),
            "Cyrillic a"
        );
        assert_eq!(hash("admin@example.com"), hash("adm\u{456}n@example.com"), "Cyrillic i");
        assert_eq!(hash("modern@example.com"), hash("rnodern@example.com"), "rn and m");
        assert_eq!(hash("bob1@example.com"), hash("bobl@example.com"), "1 and l");
        assert_eq!(
            hash("ada@example.com"),
            hash("ada@\u{435}xample.com"),
            "in the domain too"
        );
        assert_ne!(hash("ada@example.com"), hash("bob@example.com"));
        assert_ne!(hash("ada@example.com"), hash("ada@example.org"));
        // Stored addresses from before the rules get the same skeleton as their clean twin.
        assert_eq!(email_skeleton_hash("ad\u{200B}a@example.com"), hash("ada@example.com"));
        assert_eq!(email_skeleton_hash("Jose\u{301}@x.io"), hash("jos\u{e9}@x.io"));
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
