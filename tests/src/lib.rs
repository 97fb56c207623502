//! Test support shared by Tessera's test suites (auth-core's and the api crate's fuzz suites, the
//! api crate's process-level tests): each rule they have in common is written here once.
//! A dev-dependency only; nothing here is part of the product.

pub mod fuzz_config;
pub mod process;
pub mod smtp_sink;
