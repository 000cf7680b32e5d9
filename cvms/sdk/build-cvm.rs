//! Shared build script of every Rust cVM crate (`build = "../sdk/build-cvm.rs"`, or its
//! absolute path with `CAPMON_SDK_DIR` set, outside the repository): links the
//! crate's binaries with `cvms/sdk/cvm.ld` as static PIEs, the image format the monitor loads
//! (ET_DYN linked at 0, code alone in the first segment, only RELATIVE relocations).
//!
//! The code itself must be position-independent too, which only a codegen flag can ask for:
//! `-C relocation-model=pie` in RUSTFLAGS. capmon-run sets it (with its own target directory,
//! `target/cvms`, so the monitor's build cache is not invalidated); a target build without it
//! stops here with instructions rather than producing an image the loader would reject.

use std::env;
use std::path::Path;

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // A project outside the repository (`capmon-tool new`) names the SDK in its
    // .cargo/config.toml `[env]`; the repository's cVM crates sit next to it in cvms/.
    let script = match env::var_os("CAPMON_SDK_DIR") {
        Some(sdk) => Path::new(&sdk).join("cvm.ld"),
        None => Path::new(&manifest_dir).join("../sdk/cvm.ld"),
    };
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=CAPMON_SDK_DIR");
    println!("cargo:rerun-if-env-changed=RUSTFLAGS");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");

    // Host builds (cargo test, trying a cVM as a host program) are ordinary executables.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let script = script.canonicalize().unwrap_or_else(|e| {
        panic!(
            "{}: {e} (cVM crates live in cvms/<name>/, or set CAPMON_SDK_DIR to cvms/sdk)",
            script.display()
        )
    });

    let rustflags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let pie = rustflags
        .split('\x1f')
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0] == "-C" && w[1] == "relocation-model=pie")
        || rustflags
            .split('\x1f')
            .any(|f| f == "-Crelocation-model=pie");
    if !pie {
        panic!(
            "cVMs must be compiled as position-independent code: build them with \
             `capmon-run build --manifest <name> <board>`, or set \
             RUSTFLAGS=\"-C relocation-model=pie\" and CARGO_TARGET_DIR=target/cvms yourself"
        );
    }

    for arg in [
        format!("-T{}", script.display()),
        // ET_DYN with .dynamic and .rela.dyn, but no PT_INTERP: the monitor relocates.
        "-pie".into(),
        "--no-dynamic-linker".into(),
        // A text relocation would mean code the monitor must patch: refuse to link it.
        "-ztext".into(),
        // Plain RELA entries: the loader rejects packed (Android/RELR) formats.
        "--pack-dyn-relocs=none".into(),
        // Nothing maps the file page by page (the monitor copies it), so segments need no
        // page alignment in the file: no padding between them (aarch64 pads to 64 KiB by
        // default). Addresses keep the layout cvm.ld gives them.
        "-zmax-page-size=16".into(),
        "-zcommon-page-size=16".into(),
        "-znorelro".into(),
        "--build-id=none".into(),
        // One small hash table instead of two.
        "--hash-style=sysv".into(),
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
