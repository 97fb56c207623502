//! Tessera's authentication domain, free of HTTP and SQL.
//!
//! Everything that decides *whether* someone is authenticated lives here: password hashing,
//! access-token signing and verification, the refresh-token rotation state machine, CSRF tokens
//! and the in-memory revocation set. Storage is reached only through the traits in [`ports`],
//! which `tessera-store` implements; time only through [`clock::Clock`], so every rule is tested
//! by stepping a clock rather than sleeping.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unreachable,
        clippy::indexing_slicing,
        clippy::await_holding_lock
    )
)]

pub mod access;
pub mod clock;
pub mod csrf;
pub mod error;
pub mod events;
pub mod mail;
pub mod mail_token;
pub mod mfa;
pub mod password;
pub mod ports;
pub mod refresh;
pub mod revocation;
pub mod rotation;
mod seal;
pub mod secret;
pub mod service;
pub mod session;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod throttle;
pub mod user;
mod verified_tokens;

pub use error::AuthError;
