#!/bin/sh
# Regenerates the loader's test fixtures: a static-PIE cVM image per architecture.
# Needs the GNU cross toolchains (Debian/Ubuntu: gcc-aarch64-linux-gnu, gcc-riscv64-linux-gnu).
set -eu
cd "$(dirname "$0")"

# -static-pie + --no-dynamic-linker: ET_DYN with .dynamic/.rela.dyn but no PT_INTERP.
# max-page-size=4096 keeps the files small (no 64 KiB padding between segments).
COMMON="-ffreestanding -nostdlib -static-pie -fPIE -O2 -g0
        -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-stack-protector
        -Wl,--no-dynamic-linker -Wl,-T,image.ld -Wl,-z,max-page-size=4096
        -Wl,-z,norelro -Wl,--build-id=none -Wl,-z,noexecstack"

# shellcheck disable=SC2086 # COMMON is a list of flags
aarch64-linux-gnu-gcc $COMMON -o aarch64.elf fixture.c
# shellcheck disable=SC2086
riscv64-linux-gnu-gcc $COMMON -mcmodel=medany -o riscv64.elf fixture.c
