//! The api crate's in-tree test binary: property-based fuzzing of the HTTP credential parsing
//! through the real router (`cases::fuzz`), several `tessera serve` processes on one PostgreSQL
//! (`cases::instances`) and the committed OpenAPI spec (`cases::spec`).
//!
//! One binary, many modules: every file directly in tests/ is a test binary of its own, linked
//! separately, so new cases go under cases/ (faults/ and operations/ are one binary each too).
//! Run one module with `cargo test -p tessera-api --test api cases::spec`.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod cases;
