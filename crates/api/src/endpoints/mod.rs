//! HTTP endpoints, one `#[OpenApi]` struct per tag. Handlers extract, call the service, map.

pub mod admin;
pub mod auth;
pub mod body;
pub mod export;
pub mod keys;
pub mod me;
pub mod mfa;
pub mod passkeys;
pub mod recovery;
pub mod sessions;
pub mod system;
pub mod text;
pub mod views;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Register, log in, refresh and log out.
    Auth,
    /// The signed-in user: profile, password and security events.
    Me,
    /// The signed-in user's sessions (devices).
    Sessions,
    /// User administration (role `admin`).
    Admin,
    /// Public verification keys.
    Keys,
    /// Liveness and readiness.
    System,
}
