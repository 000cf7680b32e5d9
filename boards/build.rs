//! Shared build script of every board crate: links the board with `linker/capmon.ld` at the
//! address its Cargo.toml gives under `[package.metadata.capmon] link-base`, and embeds the
//! cVM bundle named by `CAPMON_BUNDLE` (manifest + images, built by `capmon-run`), or an empty
//! one.

use std::env;
use std::fs;
use std::path::Path;

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let manifest_path = Path::new(&manifest_dir).join("Cargo.toml");
    let manifest = fs::read_to_string(&manifest_path).expect("the board's Cargo.toml is readable");
    let link_base = manifest
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("link-base")
                .map(|v| v.trim_start_matches([' ', '=']).trim_matches([' ', '"']))
        })
        .unwrap_or_else(|| {
            panic!(
                "{}: no `link-base` under [package.metadata.capmon]",
                manifest_path.display()
            )
        });
    let script = Path::new(&manifest_dir).join("../../linker/capmon.ld");
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!("cargo:rustc-link-arg-bins=--defsym=__link_base={link_base}");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed={}", manifest_path.display());

    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bundle.dtb");
    println!("cargo:rerun-if-env-changed=CAPMON_BUNDLE");
    match env::var("CAPMON_BUNDLE") {
        Ok(bundle) if !bundle.is_empty() => {
            println!("cargo:rerun-if-changed={bundle}");
            fs::copy(&bundle, &out).unwrap_or_else(|e| panic!("CAPMON_BUNDLE={bundle}: {e}"));
        }
        _ => fs::write(&out, []).expect("OUT_DIR is writable"),
    }
}
