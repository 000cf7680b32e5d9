//! capmon-tool: host-side helper commands for capmon, one subcommand per job
//! (`capmon-tool cap-vectors DIR`, more to come). Plain std, no argument-parsing crate.

use std::ffi::OsString;
use std::process::ExitCode;

const USAGE: &str = "\
usage: capmon-tool <command> [args]

commands:
  cap-vectors DIR   check the capability test vectors in DIR/morello/*.txt and DIR/riscv/*.txt
                    against the monitor's capability model
  fip --elf ELF [--fip IN] [--out OUT] [--rot-key KEY]
                    package the morello-sdp image as BL33 in a TF-A FIP (`fip --help`)
  manifest check FILE.dts [--images DIR]
                    compile a cVM manifest with dtc and check it (and its images)
  bundle FILE.dts --images DIR --out BUNDLE.dtb
                    build the bundle a board image embeds: the manifest plus its images
  audit FILE.dts --dtb MACHINE.dtb --image-end HEX --images DIR [--arch morello|cheri-riscv] [--json]
                    print each cVM's default capabilities on that machine (`audit --help`)
  help              show this message";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.to_str(), rest),
        None => (None, &[][..]),
    };
    match command {
        Some("cap-vectors") => capmon_host::vectors::cap_vectors_command(rest),
        Some("fip") => capmon_host::fip::fip_command(rest),
        Some("manifest") => capmon_host::manifest::manifest_command(rest),
        Some("bundle") => capmon_host::manifest::bundle_command(rest),
        Some("audit") => capmon_host::manifest::audit_command(rest),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(unknown) => {
            eprintln!("capmon-tool: unknown command `{unknown}`\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
