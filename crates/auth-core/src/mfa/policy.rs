//! The one place that decides whether a login path makes a session for a user, and which
//! authentication methods (`amr`, RFC 8176) the session records.
//!
//! The most damaging second-factor bugs in the field are login paths that forget the second
//! factor. Every path that can create a session is a [`LoginPath`] variant and goes through
//! [`decide`]; a new path is a new variant, and the exhaustive `match` makes it decide.
//!
//! The rules (DESIGN.md part 2, "Login with a second factor"):
//! - a user with TOTP or a passkey needs two factors; a password alone answers `mfa_required`
//!   (202) and lists the user's methods;
//! - a passkey with user verification is two factors by itself (something you have, verified by
//!   something you know or are): `hwk`/`swk` + `user` + `mfa`;
//! - a passkey without user verification is one factor. A user who signs in with a passkey has
//!   one, so is an MFA user, so such a login is refused (401 `mfa_required`);
//! - TOTP, a recovery code or a passkey after a password complete the login: `pwd` + the
//!   second factor's values + `mfa`; a recovery code adds no value of its own (`pwd`, `mfa`);
//! - a second factor alone never makes a session (there is no such path).

use std::fmt;

/// RFC 8176 authentication method reference values Tessera uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Amr {
    /// Password.
    Pwd,
    /// One-time password (TOTP).
    Otp,
    /// Proof of possession of a hardware-bound key (a device-bound passkey).
    Hwk,
    /// Proof of possession of a software-secured key (a synced passkey).
    Swk,
    /// The authenticator verified the user (PIN or biometrics): WebAuthn's UV flag.
    User,
    /// Two or more independent factors.
    Mfa,
}

impl Amr {
    /// Canonical order, used for claims and storage.
    pub const ALL: [Amr; 6] = [Amr::Pwd, Amr::Otp, Amr::Hwk, Amr::Swk, Amr::User, Amr::Mfa];

    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Pwd => "pwd",
            Amr::Otp => "otp",
            Amr::Hwk => "hwk",
            Amr::Swk => "swk",
            Amr::User => "user",
            Amr::Mfa => "mfa",
        }
    }

    pub fn parse(text: &str) -> Option<Amr> {
        Amr::ALL.into_iter().find(|amr| amr.as_str() == text)
    }

    fn bit(self) -> u8 {
        match self {
            Amr::Pwd => 1,
            Amr::Otp => 1 << 1,
            Amr::Hwk => 1 << 2,
            Amr::Swk => 1 << 3,
            Amr::User => 1 << 4,
            Amr::Mfa => 1 << 5,
        }
    }
}

/// A set of [`Amr`] values, always listed in canonical order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AmrSet(u8);

impl AmrSet {
    pub fn of(values: &[Amr]) -> AmrSet {
        values.iter().fold(AmrSet::default(), |set, amr| set.with(*amr))
    }

    #[must_use]
    pub fn with(self, amr: Amr) -> AmrSet {
        AmrSet(self.0 | amr.bit())
    }

    pub fn contains(self, amr: Amr) -> bool {
        self.0 & amr.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Amr> {
        Amr::ALL.into_iter().filter(move |amr| self.contains(*amr))
    }

    /// The `amr` claim: `["pwd", "otp", "mfa"]`.
    pub fn to_claim(self) -> Vec<String> {
        self.iter().map(|amr| amr.as_str().to_owned()).collect()
    }

    /// Reads a claim or stored list back; `None` if any value is unknown (a token or row we did
    /// not write).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<AmrSet> {
        values
            .into_iter()
            .try_fold(AmrSet::default(), |set, text| Amr::parse(text).map(|amr| set.with(amr)))
    }

    /// The session column: values separated by single spaces (`"pwd otp mfa"`).
    pub fn to_storage(self) -> String {
        self.iter().map(Amr::as_str).collect::<Vec<_>>().join(" ")
    }

    pub fn from_storage(text: &str) -> Option<AmrSet> {
        AmrSet::parse(text.split_whitespace())
    }
}

impl fmt::Debug for AmrSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(Amr::as_str)).finish()
    }
}

/// How a passkey's private key is kept. WebAuthn's backup-eligible flag says whether the key
/// may leave the device (synced through a cloud keychain or password manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorKind {
    /// Not backup eligible: the key never leaves the authenticator (`hwk`).
    DeviceBound,
    /// Backup eligible: a synced passkey (`swk`).
    Synced,
}

impl AuthenticatorKind {
    pub fn from_backup_eligible(backup_eligible: bool) -> AuthenticatorKind {
        if backup_eligible {
            AuthenticatorKind::Synced
        } else {
            AuthenticatorKind::DeviceBound
        }
    }

    pub fn amr(self) -> Amr {
        match self {
            AuthenticatorKind::DeviceBound => Amr::Hwk,
            AuthenticatorKind::Synced => Amr::Swk,
        }
    }
}

/// A verified passkey assertion, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasskeyProof {
    /// WebAuthn's UV flag was set.
    pub user_verified: bool,
    pub authenticator: AuthenticatorKind,
}

impl PasskeyProof {
    /// The passkey's own values: `hwk` or `swk`, and `user` with user verification.
    pub fn amr(self) -> AmrSet {
        let set = AmrSet::of(&[self.authenticator.amr()]);
        if self.user_verified { set.with(Amr::User) } else { set }
    }
}

/// A second factor presented after a password (POST /api/auth/mfa), already verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
    Passkey(PasskeyProof),
}

impl SecondFactor {
    /// The factor's own values (a login adds `pwd` and `mfa`; a re-authentication records
    /// these alone).
    pub fn amr(self) -> AmrSet {
        match self {
            SecondFactor::Totp => AmrSet::of(&[Amr::Otp]),
            // RFC 8176 has no value for a recovery code; DESIGN.md fixes `pwd` + `mfa`.
            SecondFactor::RecoveryCode => AmrSet::default(),
            SecondFactor::Passkey(proof) => proof.amr(),
        }
    }
}

/// Every way a session can be created. Its proofs are verified before [`decide`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginPath {
    /// POST /api/auth/login (and register, which logs in a user with no factors yet).
    Password,
    /// POST /api/auth/passkey: a discoverable passkey, no password.
    Passkey(PasskeyProof),
    /// POST /api/auth/mfa: the password was right (the challenge says so) and then this.
    PasswordThen(SecondFactor),
}

/// A second-factor method a user can use, as listed in the 202 and in `reauth_required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MfaMethod {
    Totp,
    RecoveryCode,
    Passkey,
}

impl MfaMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaMethod::Totp => "totp",
            MfaMethod::RecoveryCode => "recovery_code",
            MfaMethod::Passkey => "passkey",
        }
    }
}

/// A way to re-authenticate (POST /api/auth/reauth), as listed in `reauth_required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReauthMethod {
    Password,
    Totp,
    Passkey,
}

impl ReauthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ReauthMethod::Password => "password",
            ReauthMethod::Totp => "totp",
            ReauthMethod::Passkey => "passkey",
        }
    }
}

/// What the user has enrolled (GET /api/me/mfa's numbers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnrolledFactors {
    pub totp: bool,
    pub recovery_codes_left: usize,
    pub passkeys: usize,
}

impl EnrolledFactors {
    /// TOTP or a passkey makes a user an MFA user. Recovery codes alone do not: they only stand
    /// in for a factor the user has.
    pub fn requires_second_factor(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// What the user can re-authenticate with, in a fixed order: the password (every account
    /// has one: no path creates an account without), then TOTP and passkeys when enrolled.
    /// Recovery codes are not listed: they stand in for a lost factor at login; a session that
    /// wants to prove itself again has the password.
    pub fn reauth_methods(&self) -> Vec<ReauthMethod> {
        let mut methods = vec![ReauthMethod::Password];
        if self.totp {
            methods.push(ReauthMethod::Totp);
        }
        if self.passkeys > 0 {
            methods.push(ReauthMethod::Passkey);
        }
        methods
    }

    /// The methods the 202 lists, in a fixed order.
    pub fn methods(&self) -> Vec<MfaMethod> {
        let mut methods = Vec::with_capacity(3);
        if self.totp {
            methods.push(MfaMethod::Totp);
        }
        if self.recovery_codes_left > 0 {
            methods.push(MfaMethod::RecoveryCode);
        }
        if self.passkeys > 0 {
            methods.push(MfaMethod::Passkey);
        }
        methods
    }
}

/// Why a path cannot log this user in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401 `mfa_required`: a passkey without user verification is one factor, and a passkey
    /// user needs two.
    MfaRequired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginDecision {
    /// Create the session; `auth_time` is now and `amr` is this.
    Session {
        amr: AmrSet,
    },
    /// The first factor was right; answer 202 `mfa_required` with these methods and a challenge.
    SecondFactorRequired {
        methods: Vec<MfaMethod>,
    },
    Refused(Refusal),
}

/// Decides whether `path` creates a session for a user with `factors`, and with what `amr`.
pub fn decide(path: LoginPath, factors: &EnrolledFactors) -> LoginDecision {
    match path {
        LoginPath::Password if factors.requires_second_factor() => LoginDecision::SecondFactorRequired {
            methods: factors.methods(),
        },
        LoginPath::Password => LoginDecision::Session {
            amr: AmrSet::of(&[Amr::Pwd]),
        },
        LoginPath::Passkey(proof) if proof.user_verified => LoginDecision::Session {
            amr: proof.amr().with(Amr::Mfa),
        },
        // Whatever `factors` says (it may be a moment stale), a user presenting a passkey has
        // one, so is an MFA user, and an unverified passkey is a single factor.
        LoginPath::Passkey(_) => LoginDecision::Refused(Refusal::MfaRequired),
        LoginPath::PasswordThen(second) => LoginDecision::Session {
            amr: second.amr().with(Amr::Pwd).with(Amr::Mfa),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: EnrolledFactors = EnrolledFactors {
        totp: false,
        recovery_codes_left: 0,
        passkeys: 0,
    };
    const TOTP: EnrolledFactors = EnrolledFactors {
        totp: true,
        recovery_codes_left: 10,
        passkeys: 0,
    };
    const PASSKEY: EnrolledFactors = EnrolledFactors {
        totp: false,
        recovery_codes_left: 0,
        passkeys: 1,
    };
    const BOTH: EnrolledFactors = EnrolledFactors {
        totp: true,
        recovery_codes_left: 3,
        passkeys: 2,
    };
    const ALL_FACTORS: [EnrolledFactors; 4] = [NONE, TOTP, PASSKEY, BOTH];

    fn session(values: &[&str]) -> LoginDecision {
        LoginDecision::Session {
            amr: AmrSet::parse(values.iter().copied()).unwrap(),
        }
    }

    fn passkey(user_verified: bool, authenticator: AuthenticatorKind) -> PasskeyProof {
        PasskeyProof {
            user_verified,
            authenticator,
        }
    }

    fn amr_claim(decision: &LoginDecision) -> Vec<String> {
        match decision {
            LoginDecision::Session { amr } => amr.to_claim(),
            other => panic!("no session: {other:?}"),
        }
    }

    #[test]
    fn methods_follow_the_enrolled_factors() {
        assert_eq!(
            EnrolledFactors::default().reauth_methods(),
            vec![ReauthMethod::Password]
        );
        let all = EnrolledFactors {
            totp: true,
            recovery_codes_left: 10,
            passkeys: 2,
        };
        assert_eq!(
            all.reauth_methods(),
            vec![ReauthMethod::Password, ReauthMethod::Totp, ReauthMethod::Passkey]
        );
        let codes_only = EnrolledFactors {
            recovery_codes_left: 3,
            ..EnrolledFactors::default()
        };
        assert_eq!(codes_only.reauth_methods(), vec![ReauthMethod::Password]);
    }

    #[test]
    fn a_password_alone_logs_in_only_users_without_a_second_factor() {
        assert_eq!(decide(LoginPath::Password, &NONE), session(&["pwd"]));
        assert_eq!(
            decide(LoginPath::Password, &TOTP),
            LoginDecision::SecondFactorRequired {
                methods: vec![MfaMethod::Totp, MfaMethod::RecoveryCode]
            }
        );
        assert_eq!(
            decide(LoginPath::Password, &PASSKEY),
            LoginDecision::SecondFactorRequired {
                methods: vec![MfaMethod::Passkey]
            }
        );
        assert_eq!(
            decide(LoginPath::Password, &BOTH),
            LoginDecision::SecondFactorRequired {
                methods: vec![MfaMethod::Totp, MfaMethod::RecoveryCode, MfaMethod::Passkey]
            }
        );
        // TOTP with every recovery code used: TOTP is still required and listed.
        let spent = EnrolledFactors {
            recovery_codes_left: 0,
            ..TOTP
        };
        assert_eq!(
            decide(LoginPath::Password, &spent),
            LoginDecision::SecondFactorRequired {
                methods: vec![MfaMethod::Totp]
            }
        );
        // Leftover recovery codes without TOTP or a passkey do not make an MFA user.
        let leftovers = EnrolledFactors {
            recovery_codes_left: 4,
            ..NONE
        };
        assert_eq!(decide(LoginPath::Password, &leftovers), session(&["pwd"]));
    }

    #[test]
    fn a_verified_passkey_is_two_factors_for_everyone() {
        for factors in ALL_FACTORS {
            assert_eq!(
                decide(
                    LoginPath::Passkey(passkey(true, AuthenticatorKind::DeviceBound)),
                    &factors
                ),
                session(&["hwk", "user", "mfa"])
            );
            assert_eq!(
                decide(LoginPath::Passkey(passkey(true, AuthenticatorKind::Synced)), &factors),
                session(&["swk", "user", "mfa"])
            );
        }
    }

    #[test]
    fn an_unverified_passkey_never_logs_in_alone() {
        for factors in ALL_FACTORS {
            for kind in [AuthenticatorKind::DeviceBound, AuthenticatorKind::Synced] {
                assert_eq!(
                    decide(LoginPath::Passkey(passkey(false, kind)), &factors),
                    LoginDecision::Refused(Refusal::MfaRequired),
                    "{factors:?} {kind:?}"
                );
            }
        }
    }

    #[test]
    fn a_second_factor_after_the_password_completes_the_login() {
        for factors in ALL_FACTORS {
            let decide = |second| decide(LoginPath::PasswordThen(second), &factors);
            assert_eq!(decide(SecondFactor::Totp), session(&["pwd", "otp", "mfa"]));
            assert_eq!(decide(SecondFactor::RecoveryCode), session(&["pwd", "mfa"]));
            assert_eq!(
                decide(SecondFactor::Passkey(passkey(false, AuthenticatorKind::DeviceBound))),
                session(&["pwd", "hwk", "mfa"])
            );
            assert_eq!(
                decide(SecondFactor::Passkey(passkey(true, AuthenticatorKind::Synced))),
                session(&["pwd", "swk", "user", "mfa"])
            );
        }
    }

    #[test]
    fn every_session_of_an_mfa_user_says_mfa() {
        // Walk every path for every user: whenever a user with a second factor gets a session,
        // its amr holds `mfa` and at least two distinct factors.
        let mut paths = vec![LoginPath::Password];
        for uv in [false, true] {
            for kind in [AuthenticatorKind::DeviceBound, AuthenticatorKind::Synced] {
                paths.push(LoginPath::Passkey(passkey(uv, kind)));
                paths.push(LoginPath::PasswordThen(SecondFactor::Passkey(passkey(uv, kind))));
            }
        }
        paths.push(LoginPath::PasswordThen(SecondFactor::Totp));
        paths.push(LoginPath::PasswordThen(SecondFactor::RecoveryCode));
        for factors in ALL_FACTORS.into_iter().filter(EnrolledFactors::requires_second_factor) {
            for path in &paths {
                if let LoginDecision::Session { amr } = decide(*path, &factors) {
                    assert!(amr.contains(Amr::Mfa), "{path:?} {factors:?}");
                    let factor_count = [Amr::Pwd, Amr::Otp, Amr::User]
                        .iter()
                        .filter(|a| amr.contains(**a))
                        .count()
                        + usize::from(amr.contains(Amr::Hwk) || amr.contains(Amr::Swk))
                        + usize::from(*path == LoginPath::PasswordThen(SecondFactor::RecoveryCode));
                    assert!(factor_count >= 2, "{path:?} gave {amr:?}");
                }
            }
        }
    }

    #[test]
    fn amr_sets_round_trip_in_canonical_order() {
        let set = AmrSet::of(&[Amr::Mfa, Amr::Pwd, Amr::Otp, Amr::Pwd]);
        assert_eq!(set.to_claim(), ["pwd", "otp", "mfa"]);
        assert_eq!(set.to_storage(), "pwd otp mfa");
        assert_eq!(AmrSet::from_storage("pwd otp mfa"), Some(set));
        assert_eq!(AmrSet::from_storage("  mfa   otp pwd "), Some(set));
        assert_eq!(AmrSet::parse(["pwd", "otp", "mfa"]), Some(set));
        assert_eq!(AmrSet::parse(["pwd", "sms"]), None);
        assert_eq!(AmrSet::from_storage(""), Some(AmrSet::default()));
        assert!(AmrSet::default().is_empty());
        assert_eq!(format!("{set:?}"), r#"["pwd", "otp", "mfa"]"#);
        for amr in Amr::ALL {
            assert_eq!(Amr::parse(amr.as_str()), Some(amr));
        }
        let everything = AmrSet::of(&Amr::ALL);
        assert_eq!(everything.to_claim(), ["pwd", "otp", "hwk", "swk", "user", "mfa"]);
        assert_eq!(amr_claim(&decide(LoginPath::Password, &NONE)), ["pwd"]);
    }

    #[test]
    fn backup_eligibility_chooses_hwk_or_swk() {
        assert_eq!(AuthenticatorKind::from_backup_eligible(false).amr(), Amr::Hwk);
        assert_eq!(AuthenticatorKind::from_backup_eligible(true).amr(), Amr::Swk);
        assert_eq!(MfaMethod::RecoveryCode.as_str(), "recovery_code");
    }
}
