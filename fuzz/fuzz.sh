#!/usr/bin/env bash
# Runs capmon's fuzz targets under libFuzzer and reports what each run did (the `just fuzz*`
# recipes call this; docs/fuzzing.md explains the targets).
#
#   fuzz/fuzz.sh run TARGET [SECONDS]   one target (default 60 s)
#   fuzz/fuzz.sh all SECONDS            every target, SECONDS each, then a table
#   fuzz/fuzz.sh cmin [TARGET...]       fold what runs found into the committed corpora, minimised
#   fuzz/fuzz.sh replay TARGET FILE...  run inputs once (a crash artifact, a regression)
#   fuzz/fuzz.sh totals                 executions per target over every recorded run
#
# New inputs go to fuzz/work/TARGET (not committed); fuzz/corpus/TARGET is read as seeds.
# Crashes land in fuzz/artifacts/TARGET/. Each run appends a line to fuzz/runs.tsv (committed:
# the running total of executions per target is the fuzzing record). Needs the nightly
# toolchain and cargo-fuzz (`rustup toolchain install nightly`, `cargo install --locked
# cargo-fuzz`); the stable build and `just test` need neither.
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "$0")"

TARGETS=(dt manifest image hostcall nest virtio_blk virtio_net virtio_mmio switch)
BIN_DIR=target/x86_64-unknown-linux-gnu/release
LEDGER=runs.tsv

die() { echo "fuzz: $*" >&2; exit 1; }

check_tools() {
    rustup toolchain list | grep -q '^nightly' ||
        die "needs the nightly toolchain: rustup toolchain install nightly"
    cargo +nightly fuzz --version >/dev/null 2>&1 ||
        die "needs cargo-fuzz: cargo install --locked cargo-fuzz"
}

is_target() { local t; for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

build() {
    check_tools
    # Release with debug assertions and AddressSanitizer (cargo-fuzz's defaults).
    nice cargo +nightly fuzz build -O --fuzz-dir . "$@" >&2
}

# The figure after `KEY:` on the last libFuzzer status line of LOG.
status_field() {
    grep -E '^#[0-9]+' "$2" | tail -1 | sed -n "s/.* $1: \([^ ]*\).*/\1/p"
}
stat_field() { sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -1; }

# run_one TARGET SECONDS: fuzzes, appends to the ledger, prints one table row.
run_one() {
    local t=$1 secs=$2
    mkdir -p "work/$t" "corpus/$t" "artifacts/$t" logs
    local log="logs/$t.log" before after rc=0
    before=$(ls "artifacts/$t" | wc -l)
    nice "$BIN_DIR/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" "work/$t" "corpus/$t" >"$log" 2>&1 || rc=$?
    after=$(ls "artifacts/$t" | wc -l)
    local execs rate cov ft corp crashes
    execs=$(stat_field number_of_executed_units "$log"); execs=${execs:-0}
    rate=$(stat_field average_exec_per_sec "$log"); rate=${rate:-0}
    cov=$(status_field cov "$log"); ft=$(status_field ft "$log"); corp=$(status_field corp "$log")
    crashes=$((after - before))
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="rc=$rc"; fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$secs" "$execs" "$rate" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" >>"$LEDGER"
    printf '%-11s %7s %11s %8s %6s %7s %12s %8s %13s\n' "$t" "$secs" "$execs" "$rate" "${cov:-?}" "${ft:-?}" \
        "${corp:-?}" "$crashes" "$(total "$t")"
    if [ "$crashes" != 0 ]; then
        grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    /'
    fi
}

header() {
    printf '%-11s %7s %11s %8s %6s %7s %12s %8s %13s\n' target seconds executions exec/s cov ft corpus crashes "total execs"
}

# total TARGET: executions over every run in the ledger.
total() { awk -F'\t' -v t="$1" '$2 == t { s += $4 } END { print s + 0 }' "$LEDGER" 2>/dev/null || echo 0; }

case "${1:-}" in
run)
    t=${2:-}; secs=${3:-60}
    is_target "$t" || die "no target '$t' (targets: ${TARGETS[*]})"
    build "$t"
    header
    run_one "$t" "$secs"
    ;;
all)
    secs=${2:?seconds per target}
    build
    header
    for t in "${TARGETS[@]}"; do run_one "$t" "$secs"; done
    ;;
cmin)
    shift
    [ $# -gt 0 ] || set -- "${TARGETS[@]}"
    build
    for t in "$@"; do
        is_target "$t" || die "no target '$t'"
        mkdir -p "work/$t" logs
        rm -rf "cmin/$t" && mkdir -p "cmin/$t"
        nice "$BIN_DIR/$t" -set_cover_merge=1 -timeout=10 "cmin/$t" "corpus/$t" "work/$t" >"logs/$t.cmin.log" 2>&1 ||
            die "$t: merge failed, see fuzz/logs/$t.cmin.log"
        rm -rf "corpus/$t" && mv "cmin/$t" "corpus/$t"
        echo "$t: $(ls "corpus/$t" | wc -l) inputs, $(du -sk "corpus/$t" | cut -f1) KiB"
    done
    rmdir cmin 2>/dev/null || true
    ;;
replay)
    t=${2:-}; shift 2 || true
    is_target "$t" || die "no target '$t'"
    build "$t"
    files=()
    for f in "$@"; do case $f in /*) files+=("$f") ;; *) files+=("$CALLER_DIR/$f") ;; esac; done
    "$BIN_DIR/$t" -runs=1 "${files[@]}"
    ;;
totals)
    printf '%-11s %13s %6s\n' target "total execs" runs
    for t in "${TARGETS[@]}"; do
        printf '%-11s %13s %6s\n' "$t" "$(total "$t")" "$(awk -F'\t' -v t="$t" '$2 == t' "$LEDGER" 2>/dev/null | wc -l)"
    done
    ;;
*)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
