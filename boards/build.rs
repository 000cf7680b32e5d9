//! Shared build script of every board crate: links the board with `linker/capmon.ld` at the
//! address its Cargo.toml gives under `[package.metadata.capmon] link-base`.

use std::env;
use std::fs;
use std::path::Path;

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let manifest_path = Path::new(&manifest_dir).join("Cargo.toml");
    let manifest = fs::read_to_string(&manifest_path).expect("the board's Cargo.toml is readable");
    let link_base = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("link-base").map(|v| v.trim_start_matches([' ', '=']).trim_matches([' ', '"'])))
        .unwrap_or_else(|| panic!("{}: no `link-base` under [package.metadata.capmon]", manifest_path.display()));
    let script = Path::new(&manifest_dir).join("../../linker/capmon.ld");
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!("cargo:rustc-link-arg-bins=--defsym=__link_base={link_base}");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed={}", manifest_path.display());
}
