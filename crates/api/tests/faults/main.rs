//! Fault injection against the real `tessera` binary: storage that refuses writes (SQLite on a
//! full disk and on read-only files), PostgreSQL connections terminated under load, and a crash
//! in the middle of a refresh storm. What must hold whatever fails: no 2xx and no token for a
//! state change that was not committed, storage failures as 503 `storage_unavailable` with
//! `Retry-After` (never another 5xx), clients that retry with the token they have recover, and
//! no session is lost, duplicated or wrongly revoked.
//!
//! The SQLite cases mount a small tmpfs and set immutable files: they need root (CI runs as
//! root) and say "skipped" otherwise. The PostgreSQL cases need `TEST_DATABASE_URL`. Every case
//! prints what it measured (`cargo test -p tessera-api --test faults -- --nocapture`).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod client;
mod crash;
mod postgres_connections;
mod process;
mod sqlite_storage;
