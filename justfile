# capmon tasks; `just --list` explains each. The host-side runner (qemu/) does the work.

set shell := ["bash", "-euo", "pipefail", "-c"]

run := "cargo run -q --release -p capmon-host --bin capmon-run --"
tool := "cargo run -q --release -p capmon-host --bin capmon-tool --"

# The boot recipes (demo, qemu-*, debug) take a manifest name first: the cVMs of
# cvms/manifests/MANIFEST.dts are built into the image (default demo; `none`: no cVMs), e.g.
# `just qemu-morello attacks`. Options for capmon-run (--append, --no-build, -- QEMU-ARGS) follow.

# List the recipes.
default:
    @just --list

# Boot the demos: on CHERI QEMU's Morello machine when it is installed, else on stock qemu-aarch64.
demo MANIFEST="demo" *ARGS:
    {{run}} demo {{MANIFEST}} {{ARGS}}

# Boot capmon on CHERI QEMU's Morello virt machine and show its console (Ctrl-A X quits).
qemu-morello MANIFEST="demo" *ARGS:
    {{run}} boot qemu-morello {{MANIFEST}} {{ARGS}}

# Boot capmon on CHERI QEMU's RISC-V virt machine (-bios none) and show its console.
qemu-riscv64cheri MANIFEST="demo" *ARGS:
    {{run}} boot qemu-riscv64cheri {{MANIFEST}} {{ARGS}}

# Boot capmon on stock qemu-system-aarch64 (no capabilities: cVMs are not isolated there).
qemu-aarch64 MANIFEST="demo" *ARGS:
    {{run}} boot qemu-aarch64 {{MANIFEST}} {{ARGS}}

# Boot capmon on stock qemu-system-riscv64 (no capabilities: cVMs are not isolated there).
qemu-riscv64 MANIFEST="demo" *ARGS:
    {{run}} boot qemu-riscv64 {{MANIFEST}} {{ARGS}}

# Start a board under QEMU halted with its GDB stub, and print the gdb-multiarch command to attach.
debug BOARD MANIFEST="demo" *ARGS:
    {{run}} debug {{BOARD}} {{MANIFEST}} {{ARGS}}

# Build every board image (or the ones named) and print their sizes.
build *BOARDS:
    {{run}} build {{BOARDS}}

# Run every test: host unit tests, a build of every board (morello-sdp too), the QEMU boot tests.
test:
    cargo test -q --workspace --exclude board-qemu-aarch64 --exclude board-qemu-morello --exclude board-qemu-riscv64 --exclude board-qemu-riscv64cheri --exclude board-morello-sdp
    {{run}} build
    {{run}} test

# Fuzz one target for SECONDS (default 60) under libFuzzer and print executions, exec/s, coverage (cov/ft), corpus and crashes. Needs nightly + cargo-fuzz (docs/fuzzing.md).
fuzz TARGET SECONDS="60":
    fuzz/fuzz.sh run {{TARGET}} {{SECONDS}}

# Fuzz every target for SECONDS each and print the table (with each target's executions over all recorded runs).
fuzz-all SECONDS:
    fuzz/fuzz.sh all {{SECONDS}}

# Fold what fuzz runs found into the committed corpora (fuzz/corpus), minimised (all targets, or those named).
fuzz-cmin *TARGETS:
    fuzz/fuzz.sh cmin {{TARGETS}}

# Run a target once on the given inputs (a crash artifact, a regression file).
fuzz-replay TARGET +FILES:
    fuzz/fuzz.sh replay {{TARGET}} {{FILES}}

# Print each fuzz target's executions over every recorded run (fuzz/runs.tsv).
fuzz-totals:
    fuzz/fuzz.sh totals

# Test .ci/bootstrap's Rust set-up in an empty RUSTUP_HOME/CARGO_HOME (downloads the toolchain).
test-bootstrap:
    .ci/test-bootstrap

# The static checks CI makes: cargo fmt, clippy (host and both bare-metal targets, warnings denied), cargo-deny.
checks:
    .ci/checks

# Run only the QEMU boot tests whose name contains FILTER.
boot-test FILTER="":
    {{run}} test {{FILTER}}

# Print the figures under QEMU -icount: image size, reset to banner and to first cVM output, null hostcall, cVM switch; `just bench --plot` also redraws docs/figures/*.svg.
bench *ARGS:
    {{run}} bench {{ARGS}}

# Package morello-sdp as BL33 in a TF-A FIP: just fip FIP=<board fip.bin> ROT_KEY=<root key PEM> (see boards/morello-sdp/README.md).
fip *ARGS:
    cargo build --release -p board-morello-sdp --target aarch64-unknown-none-softfloat
    {{tool}} fip --elf target/aarch64-unknown-none-softfloat/release/capmon-morello-sdp {{ARGS}}

# Check every capability vector file in DIR (DIR/morello/*.txt, DIR/riscv/*.txt) against the model.
cap-vectors DIR="../shared/testdata/cap-vectors":
    {{tool}} cap-vectors {{DIR}}
