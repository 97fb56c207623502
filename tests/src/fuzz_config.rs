//! The proptest configuration of every fuzz suite (crates/auth-core/tests/fuzz.rs and the api
//! crate's `cases::fuzz`).

use proptest::test_runner::Config;

/// `default_cases` unless `PROPTEST_CASES` asks for more (or fewer), for long runs such as
/// `PROPTEST_CASES=100000 cargo test --release -p tessera-auth-core --test fuzz` (SECURITY.md).
pub fn cases(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        // A failure is printed with its minimal input; it becomes a named test in the suite's
        // `regressions` rather than a seed file.
        failure_persistence: None,
        ..Config::default()
    }
}
