//! Second factors, free of HTTP and SQL like the rest of the domain.
//!
//! - [`totp`]: RFC 6238 codes, enrolment (otpauth URI, QR code), each step accepted once;
//! - [`recovery`]: ten single-use recovery codes, stored as SHA-256;
//! - [`challenge`]: the MFA challenge a login holds between its password and its second factor;
//! - [`ceremony`]: server-side state between the two requests of a WebAuthn ceremony or a TOTP
//!   enrolment, single use, five minutes;
//! - [`policy`]: the one function that decides whether a login path makes a session and which
//!   `amr` values the session records;
//! - [`passkey`]: the port to a WebAuthn relying party (implemented by `tessera-passkeys`).
//!
//! Storage is proposed in `docs/second-factors.md`; the ports for it come with the endpoints.

pub mod ceremony;
pub mod challenge;
pub mod passkey;
pub mod policy;
pub mod recovery;
pub mod totp;
