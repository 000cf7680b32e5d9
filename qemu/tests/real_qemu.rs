//! capmon-run's engine against the real stock QEMU, without a monitor image: time-outs kill
//! QEMU, QEMU's own errors reach the failure report, and DTB dumping and editing work. Each
//! test returns early (saying so) where qemu-system-aarch64 or dtc is not installed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use capmon_host::process::run_quiet;
use capmon_host::run::boards::{self, LookupEnv};
use capmon_host::run::dtb::{self, DtsEdit};
use capmon_host::run::expect::{expect, End, Script};
use capmon_host::run::qemu::{self as runner, RunSettings};
use capmon_host::workspace::temp_dir;

fn stock_aarch64_qemu() -> Option<PathBuf> {
    let spec = boards::board("qemu-aarch64")?.qemu.as_ref()?;
    match boards::find_qemu(spec, &LookupEnv::from_process()) {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmd| cmd.contains(marker))
        .collect()
}

#[test]
fn time_out_kills_qemu() {
    let Some(qemu) = stock_aarch64_qemu() else {
        return;
    };
    // No kernel: the guest runs but never prints, so the run must time out.
    let marker = format!("capmon-it-timeout-{}", std::process::id());
    let args = words(&["-M", "virt", "-nographic", "-nic", "none", "-name", &marker]);
    let script = Script {
        steps: vec![expect("never")],
        forbid: vec![],
        end: End::KillWhenDone,
    };
    let report = runner::run_script(&RunSettings {
        qemu: &qemu,
        args: &args,
        script: &script,
        status_is_verdict: false,
        time_limit: Duration::from_secs(2),
        verbose: false,
        udp_port: None,
    });
    let err = report.result.expect_err("must time out");
    assert!(
        err.starts_with("timed out after 2 s waiting for /never/"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        processes_with(&marker),
        Vec::<String>::new(),
        "QEMU outlived the time-out"
    );
}

#[test]
fn qemu_errors_reach_the_report() {
    let Some(qemu) = stock_aarch64_qemu() else {
        return;
    };
    let args = words(&["-M", "no-such-machine", "-nographic"]);
    let script = Script {
        steps: vec![expect("never")],
        forbid: vec![],
        end: End::KillWhenDone,
    };
    let report = runner::run_script(&RunSettings {
        qemu: &qemu,
        args: &args,
        script: &script,
        status_is_verdict: false,
        time_limit: Duration::from_secs(30),
        verbose: false,
        udp_port: None,
    });
    let err = report.result.clone().expect_err("QEMU refuses the machine");
    assert!(
        err.starts_with("QEMU exited (status 1) before /never/"),
        "{err}"
    );
    assert!(
        report
            .tail(40)
            .iter()
            .any(|l| l.contains("no-such-machine")),
        "{:?}",
        report.transcript
    );
}

#[test]
fn dumps_and_edits_the_machine_dtb() {
    let Some(qemu) = stock_aarch64_qemu() else {
        return;
    };
    if std::process::Command::new("dtc")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: dtc not installed");
        return;
    }
    let tmp = temp_dir("it-dtb").expect("temp dir");
    let dumped = tmp.path().join("machine.dtb");
    let mut args = words(&[
        "-M",
        "virt,gic-version=3,virtualization=on",
        "-cpu",
        "max",
        "-smp",
        "2",
    ]);
    args.extend(words(&["-nographic", "-nic", "none", "-machine"]));
    args.push(format!(
        "dumpdtb={}",
        boards::qemu_escape(&dumped.to_string_lossy())
    ));
    run_quiet(&qemu, &args, Duration::from_secs(60)).expect("dumpdtb");
    let edited = tmp.path().join("test.dtb");
    dtb::edit_dtb(&dumped, &[DtsEdit::RemoveNode("/cpus".into())], &edited).expect("edit");
    let source = std::fs::read_to_string(Path::new(&edited).with_extension("dts")).expect("dts");
    assert!(source.contains("intc@8000000 {"));
    assert!(!source.contains("cpus {"));
    assert!(std::fs::metadata(&edited)
        .map(|m| m.len() > 0)
        .unwrap_or(false));
    // A node that is not there is an error, not a silently unmodified tree.
    let err = dtb::edit_dtb(&dumped, &[DtsEdit::RemoveNode("/nope".into())], &edited).unwrap_err();
    assert!(err.contains("/nope"), "{err}");
}
