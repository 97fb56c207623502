//! Black-box HTTP tests of Tessera: the real router on a free port, driven by a plain HTTP
//! client that manages its own cookies, on SQLite and on PostgreSQL (`<case>::sqlite`,
//! `<case>::postgres`; PostgreSQL needs `TEST_DATABASE_URL`). One test binary, many modules.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod harness;
// The software platform authenticator the relying party's own tests use.
#[path = "../../crates/passkeys/tests/support/mod.rs"]
#[allow(dead_code)]
mod authenticator;
mod tokens;

mod account;
mod account_deletion;
mod admin;
mod bad_input;
mod bearer;
mod csrf;
mod duplicate_keys;
mod flow;
mod forwarded;
mod headers;
mod jwt;
mod login;
mod mail;
mod mfa;
mod missing_user;
mod multi_instance;
mod passkeys;
mod reauth;
mod recovery;
mod refresh;
mod restart;
mod throttling;
mod unicode;
