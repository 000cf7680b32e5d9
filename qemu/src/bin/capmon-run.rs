//! capmon-run: builds capmon board images and boots, debugs, tests and benchmarks them under
//! QEMU. All logic lives in the library (`capmon_host::run`) so it can be unit-tested.

fn main() {
    std::process::exit(capmon_host::run::cli::main(std::env::args_os().collect()));
}
