//! Child processes under a time limit: every program the host tools start (dtc, cargo, gcc,
//! QEMU, fiptool, cert_create, openssl, git) goes through here, so none can hang a run.
//!
//! A child runs in its own process group, so an overrun kills everything it started; a signal
//! handler and the parent-death signal make sure no child outlives the tool (Ctrl-C, SIGTERM
//! from CI, or the tool itself dying). An overrun is reported with the program's name and the
//! limit, e.g. `dtc did not finish within 30 s and was killed`.
//!
//! The only child without a limit is the interactive QEMU of `capmon-run boot`: the person at
//! the terminal decides when it ends (Ctrl-A X).

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// Limits for the programs the tools run. Generous: each is there to end a hang, not to time
/// a normal run.
pub mod limits {
    use std::time::Duration;
    /// dtc compiling or decompiling one device tree (takes milliseconds).
    pub const DTC: Duration = Duration::from_secs(30);
    /// One cargo build (a cold build of a board with LTO takes a few minutes on 2 cores).
    pub const CARGO: Duration = Duration::from_secs(30 * 60);
    /// One cross gcc compile-and-link of a C cVM.
    pub const GCC: Duration = Duration::from_secs(5 * 60);
    /// fiptool, cert_create, openssl, git: each answers at once.
    pub const TOOL: Duration = Duration::from_secs(60);
    /// QEMU dumping a machine's DTB (it exits right after writing it).
    pub const QEMU_DUMP: Duration = Duration::from_secs(60);
}

/// Why a child could not be run to completion.
#[derive(Debug)]
pub enum RunError {
    /// The program is not installed (or not on PATH).
    NotFound { program: String },
    /// It could not be started, or waiting for it failed.
    Io { program: String, error: io::Error },
    /// It was still running at its time limit and was killed with its process group.
    TimedOut { program: String, limit: Duration },
}

impl RunError {
    /// The program's name as messages show it.
    pub fn program(&self) -> &str {
        match self {
            RunError::NotFound { program }
            | RunError::Io { program, .. }
            | RunError::TimedOut { program, .. } => program,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NotFound { program } => write!(f, "{program} not found"),
            RunError::Io { program, error } => write!(f, "cannot run {program}: {error}"),
            RunError::TimedOut { program, limit } => write!(
                f,
                "{program} did not finish within {} s and was killed",
                limit.as_secs()
            ),
        }
    }
}

/// The name messages use for a program: its file name (`/usr/bin/dtc` → `dtc`).
pub fn program_name(program: &OsStr) -> String {
    Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned()
}

// ---- Process groups and clean-up -------------------------------------------------------------

/// Process groups of running children, for the signal handler (0 = free slot). A fixed array
/// of atomics because the handler may only do async-signal-safe things.
static GROUPS: [AtomicI32; 16] = [const { AtomicI32::new(0) }; 16];

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    for slot in &GROUPS {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill(2) is async-signal-safe and only signals a group this tool created.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
    // SAFETY: restoring the default action and re-raising are async-signal-safe; the tool
    // then dies of the same signal, so its parent sees the usual status.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn install_signal_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let handler = on_fatal_signal as extern "C" fn(libc::c_int);
            // SAFETY: installing a handler that only uses async-signal-safe calls.
            unsafe { libc::signal(sig, handler as libc::sighandler_t) };
        }
    });
}

/// A child in its own process group, killed with its group when dropped.
#[derive(Debug)]
pub struct Guarded {
    pub child: Child,
    pub program: String,
    pgid: i32,
    slot: Option<usize>,
}

impl Guarded {
    /// Spawns `cmd` in a new process group that dies with this tool.
    pub fn spawn(mut cmd: Command) -> Result<Guarded, RunError> {
        let program = program_name(cmd.get_program());
        install_signal_handlers();
        cmd.process_group(0);
        // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
        // async-signal-safe. PR_SET_PDEATHSIG kills the child if this tool dies without
        // cleaning up (even by SIGKILL).
        unsafe {
            cmd.pre_exec(|| {
                #[cfg(target_os = "linux")]
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => RunError::NotFound {
                program: program.clone(),
            },
            _ => RunError::Io {
                program: program.clone(),
                error,
            },
        })?;
        let pgid = i32::try_from(child.id()).unwrap_or(0);
        let slot = GROUPS.iter().position(|s| {
            s.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        Ok(Guarded {
            child,
            program,
            pgid,
            slot,
        })
    }

    /// Kills the child's whole process group and reaps the child.
    pub fn kill(&mut self) {
        if self.pgid > 0 {
            // SAFETY: signals only the process group this tool created for the child.
            unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Waits for the child to exit by itself until `deadline`; `None` if it is still running.
    pub fn wait_until(&mut self, deadline: Instant) -> Result<Option<ExitStatus>, RunError> {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(Some(status)),
                Ok(None) => {}
                Err(error) => {
                    return Err(RunError::Io {
                        program: self.program.clone(),
                        error,
                    })
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `limit` has passed since `started`; an overrun kills the group.
    fn finish(&mut self, started: Instant, limit: Duration) -> Result<ExitStatus, RunError> {
        match self.wait_until(started + limit)? {
            Some(status) => Ok(status),
            None => {
                self.kill();
                Err(RunError::TimedOut {
                    program: self.program.clone(),
                    limit,
                })
            }
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Whatever happened, nothing the child started stays behind; killing a group whose
        // members have all exited is harmless (ESRCH).
        self.kill();
        if let Some(slot) = self.slot {
            GROUPS[slot].store(0, Ordering::SeqCst);
        }
    }
}

fn read_all<R: Read + Send + 'static>(from: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut r) = from {
            let _ = r.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Runs `cmd` with no input, collecting its stdout and stderr, for at most `limit`.
pub fn output(mut cmd: Command, limit: Duration) -> Result<Output, RunError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = Guarded::spawn(cmd)?;
    let stdout = read_all(child.child.stdout.take());
    let stderr = read_all(child.child.stderr.take());
    let status = child.finish(started, limit);
    // The readers end when the pipes close: at exit, or when the kill closed them.
    drop(child);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(Output {
        status: status?,
        stdout,
        stderr,
    })
}

/// Runs `cmd` with this tool's terminal (so cargo shows its own progress), for at most `limit`.
pub fn status(cmd: Command, limit: Duration) -> Result<ExitStatus, RunError> {
    let started = Instant::now();
    Guarded::spawn(cmd)?.finish(started, limit)
}

/// Runs `program args` to completion under a time limit, with no input; returns its stderr.
pub fn run_quiet(program: &Path, args: &[String], limit: Duration) -> Result<String, String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let out = output(cmd, limit).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{} failed ({}): {}",
            program.display(),
            out.status,
            text.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell script standing in for a tool. Run as `/bin/sh <script>` rather than executed
    /// directly: exec'ing a file just written races with other test threads' forks (ETXTBSY).
    fn script(dir: &Path, name: &str, body: &str) -> Vec<String> {
        let path = dir.join(name);
        std::fs::write(&path, format!("{body}\n")).expect("write");
        vec![path.to_string_lossy().into_owned()]
    }

    const SH: &str = "/bin/sh";

    #[test]
    fn quiet_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sh = Path::new(SH);
        let ok = script(dir.path(), "ok", "echo fine >&2");
        assert_eq!(
            run_quiet(sh, &ok, Duration::from_secs(10)).as_deref(),
            Ok("fine\n")
        );
        let bad = script(dir.path(), "bad", "echo 'qemu: bad option' >&2; exit 1");
        assert!(run_quiet(sh, &bad, Duration::from_secs(10))
            .unwrap_err()
            .contains("bad option"));
        let slow = script(dir.path(), "slow", "sleep 300");
        assert_eq!(
            run_quiet(sh, &slow, Duration::from_secs(1)).unwrap_err(),
            "sh did not finish within 1 s and was killed"
        );
    }

    #[test]
    fn an_overrun_kills_the_whole_group_and_names_the_program() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        // The child keeps a grandchild that would hold stdout open for 300 s.
        let hang = script(
            dir.path(),
            "hang",
            &format!("sleep 300 & echo $! > {}; wait", pidfile.display()),
        );
        let mut cmd = Command::new(SH);
        cmd.args(&hang);
        let started = Instant::now();
        let err = output(cmd, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(&err, RunError::TimedOut { program, .. } if program == "sh"));
        assert!(started.elapsed() < Duration::from_secs(20));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid")
            .trim()
            .parse()
            .expect("pid");
        let state = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        };
        let mut tries = 0;
        while !matches!(state().as_deref(), None | Some("Z")) && tries < 50 {
            std::thread::sleep(Duration::from_millis(20));
            tries += 1;
        }
        assert!(matches!(state().as_deref(), None | Some("Z")));
    }

    #[test]
    fn a_missing_program_is_named() {
        let err = output(
            Command::new("/nonexistent/frobnicate"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "frobnicate not found");
        let ok = status(Command::new("true"), Duration::from_secs(10)).expect("runs");
        assert!(ok.success());
    }
}
