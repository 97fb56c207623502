//! Makes sure `frontend/dist` exists before `spa.rs` is compiled.
//!
//! Debug builds serve the SPA from that folder at run time (rust-embed), and rust-embed resolves
//! the folder's canonical path at compile time: when the folder did not exist yet (a fresh clone,
//! `cargo test` before `make spa`), every later lookup failed and the binary kept serving the
//! "not built" page even after the SPA was built. An empty folder is enough to fix the path.

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    let dist = std::path::Path::new(&manifest_dir).join("../../frontend/dist");
    if let Err(error) = std::fs::create_dir_all(&dist) {
        println!("cargo::warning=cannot create {}: {error}", dist.display());
    }
    println!("cargo::rerun-if-changed=build.rs");
}
