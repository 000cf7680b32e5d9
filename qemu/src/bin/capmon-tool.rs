//! capmon-tool: host-side helper commands for capmon, one subcommand per job
//! (`capmon-tool --help` lists them). All logic lives in the library (`capmon_host::tools`).

fn main() -> std::process::ExitCode {
    capmon_host::tools::cli::main(std::env::args_os().collect())
}
