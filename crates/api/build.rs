//! Release builds embed frontend/dist (see src/spa.rs). rust-embed tracks the files it embedded,
//! but not a dist/ that did not exist yet, nor new files: rebuild when the bundle changes.
//! Debug builds read frontend/dist from disk at run time and need no rebuild.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    if std::path::Path::new("../../frontend/dist").is_dir() {
        println!("cargo:rerun-if-changed=../../frontend/dist");
    } else {
        // `make spa` creates dist/ inside frontend/, which changes frontend/ itself.
        println!("cargo:rerun-if-changed=../../frontend");
    }
}
