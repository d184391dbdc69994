//! Generates the handler registry (`OUT_DIR/registry.rs`, included by
//! `src/handlers.rs`) from the functions' `main`s, so it never lags behind
//! them. A `main` that is not the one line the registry can read fails the
//! build, naming the file.

#[path = "src/function_mains.rs"]
mod function_mains;

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.parent().unwrap_or(Path::new(".."));
    println!(
        "cargo::rerun-if-changed={}",
        root.join("functions").display()
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("registry.rs");
    let written = function_mains::read(root).and_then(|mains| {
        std::fs::write(&out, function_mains::registry_source(&mains))
            .map_err(|error| format!("{}: {error}", out.display()))
    });
    if let Err(error) = written {
        eprintln!("error: the handler registry could not be generated: {error}");
        std::process::exit(1);
    }
}
