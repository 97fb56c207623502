//! Tessera's HTTP API: poem + poem-openapi endpoints, cookies, CSRF and origin checks,
//! configuration, SPA serving and the `tessera` command line.
//!
//! The same lint wall as `tessera-auth-core` outside tests: a request must never take the
//! process down, so failures are values (`ApiError`), not panics.
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

pub mod app;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod client;
pub mod config;
pub mod connections;
pub mod cookies;
pub mod duplicate_keys;
pub mod endpoints;
pub mod mail;
pub mod middleware;
pub mod passwords;
pub mod problem;
pub mod rate_limit;
pub mod serve;
pub mod spa;
pub mod startup;
pub mod state;
pub mod sync;
