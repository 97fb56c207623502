//! Process-level tests of running Tessera as an operator does: the `tessera` command line
//! (`user create` with and without a terminal, `--help`, `keys rotate`), `tessera backup` and a
//! restore, the start-up log, and Tessera behind a real nginx on loopback.
//!
//! They start the real binary (and nginx), so they live in one test binary of their own.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

mod backup;
mod cli;
mod logs;
mod proxy;
