//! Tessera's mail (DESIGN.md "Mail"): what goes out, how, and the worker that sends the durable
//! queue.
//!
//! - [`settings`][]: `TESSERA_SMTP_URL` (implicit TLS, STARTTLS required, or plain to loopback only)
//!   and `TESSERA_MAIL_FROM`;
//! - [`templates`][]: every message's subject, text and HTML, in one place;
//! - [`transport`][]: RFC 5322 messages (lettre), SMTP delivery, and the embedded default, `.eml`
//!   files in `<data dir>/outbox/`;
//! - [`worker`][]: claims due messages from the queue ([`tessera_auth_core::ports::MailQueue`]),
//!   sends them with retries and marks them.
//!
//! The domain side (intents, sealing, the retry schedule) is `tessera_auth_core::mail`; nothing
//! of SMTP or lettre leaks there.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::indexing_slicing
    )
)]

pub mod settings;
pub mod templates;
pub mod transport;
pub mod worker;

pub use settings::{MailFrom, SmtpSecurity, SmtpUrl};
pub use transport::{OutboxTransport, SmtpTransport, Transport};
pub use worker::{MailWorkerHandle, MailWorkerParts, spawn_mail_worker};
