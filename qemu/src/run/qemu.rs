//! Running QEMU for capmon-run: scratch disks, QEMU under a time limit with its console
//! streamed line by line through the expectation engine, and interactive boots.
//!
//! QEMU runs through [`crate::process::Guarded`]: in its own process group, killed with
//! everything it started at its time limit or when the runner dies.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::expect::{Action, End, Matcher, Script};
use crate::process::Guarded;

/// Size of the scratch disk behind the virtio-blk device.
pub const DISK_BYTES: u64 = 1 << 20;

/// Creates a fresh zero-filled raw disk image in `dir`.
pub fn scratch_disk(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("disk.img");
    let file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create disk image {}: {e}", path.display()))?;
    file.set_len(DISK_BYTES)
        .map_err(|e| format!("cannot size disk image {}: {e}", path.display()))?;
    Ok(path)
}

/// Creates a raw disk image in `dir` holding exactly `contents` (its size is their length), for
/// a test that starts from a known disk.
pub fn disk_image(dir: &Path, contents: &[u8]) -> Result<PathBuf, String> {
    let path = dir.join("disk.img");
    std::fs::write(&path, contents)
        .map_err(|e| format!("cannot write disk image {}: {e}", path.display()))?;
    Ok(path)
}

/// Compares a disk image after a run with the bytes a test expects; the error names the first
/// differing byte and its 512-byte sector.
pub fn check_disk_image(path: &Path, expected: &[u8]) -> Result<(), String> {
    let found = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read disk image {} after the run: {e}",
            path.display()
        )
    })?;
    if found.len() != expected.len() {
        return Err(format!(
            "the disk image is {} bytes after the run, expected {}",
            found.len(),
            expected.len()
        ));
    }
    match found.iter().zip(expected).position(|(f, e)| f != e) {
        None => Ok(()),
        Some(at) => Err(format!(
            "the disk image differs at byte {at:#x} (sector {}, offset {}): found {:#04x}, \
             expected {:#04x}",
            at / 512,
            at % 512,
            found[at],
            expected[at]
        )),
    }
}

// ---- Running QEMU against a script -----------------------------------------------------------

/// How many console lines a failure report shows.
pub const TAIL_LINES: usize = 40;

/// What one scripted QEMU run produced.
#[derive(Debug)]
pub struct RunReport {
    /// Ok, or why the run failed.
    pub result: Result<(), String>,
    /// Every console line (stdout), `\r` stripped.
    pub console: Vec<String>,
    /// Console and QEMU stderr lines interleaved as they arrived, for failure reports.
    pub transcript: Vec<String>,
    pub elapsed: Duration,
}

impl RunReport {
    /// The last `n` transcript lines.
    pub fn tail(&self, n: usize) -> &[String] {
        &self.transcript[self.transcript.len().saturating_sub(n)..]
    }
}

enum Msg {
    Out(String),
    Err(String),
    OutClosed,
}

/// Turns raw console bytes into a line: `\r` anywhere is dropped (the monitor sends CRLF) and
/// invalid UTF-8 is replaced rather than failing the run.
pub fn clean_line(raw: &[u8]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn pump<R: Read + Send + 'static>(from: R, tx: mpsc::Sender<Msg>, stdout: bool) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = clean_line(&buf);
                    let msg = if stdout {
                        Msg::Out(line)
                    } else {
                        Msg::Err(line)
                    };
                    if tx.send(msg).is_err() {
                        break;
                    }
                }
            }
        }
        if stdout {
            let _ = tx.send(Msg::OutClosed);
        }
    });
}

fn type_into(stdin: &mut Option<ChildStdin>, bytes: &[u8]) -> Result<(), String> {
    let pipe = stdin.as_mut().ok_or("QEMU's stdin is closed")?;
    pipe.write_all(bytes)
        .and_then(|()| pipe.flush())
        .map_err(|e| format!("typing into the console failed: {e}"))
}

/// Settings for one scripted run.
#[derive(Debug)]
pub struct RunSettings<'a> {
    pub qemu: &'a Path,
    pub args: &'a [String],
    pub script: &'a Script,
    /// Whether QEMU's exit status carries the verdict (see [`super::boards::QemuSpec`]).
    pub status_is_verdict: bool,
    pub time_limit: Duration,
    /// Echo the console as it arrives.
    pub verbose: bool,
    /// The host port forwarded to the guest's UDP echo service, for [`Action::UdpEcho`].
    pub udp_port: Option<u16>,
}

/// Boots QEMU, feeds its console to the script, types input when the script says so, and ends
/// the run as the script expects (QEMU exiting by itself, or killed once everything matched).
pub fn run_script(s: &RunSettings<'_>) -> RunReport {
    let started = Instant::now();
    let mut report = RunReport {
        result: Ok(()),
        console: Vec::new(),
        transcript: Vec::new(),
        elapsed: Duration::ZERO,
    };
    report.result = run_script_inner(s, started, &mut report.console, &mut report.transcript);
    report.elapsed = started.elapsed();
    report
}

fn run_script_inner(
    s: &RunSettings<'_>,
    started: Instant,
    console: &mut Vec<String>,
    transcript: &mut Vec<String>,
) -> Result<(), String> {
    let mut matcher = Matcher::new(s.script)?;
    let mut cmd = Command::new(s.qemu);
    cmd.args(s.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut qemu =
        Guarded::spawn(cmd).map_err(|e| format!("cannot start {}: {e}", s.qemu.display()))?;
    let (tx, rx) = mpsc::channel();
    let stdout = qemu
        .child
        .stdout
        .take()
        .ok_or("QEMU's stdout was not captured")?;
    let stderr = qemu
        .child
        .stderr
        .take()
        .ok_or("QEMU's stderr was not captured")?;
    pump(stdout, tx.clone(), true);
    pump(stderr, tx, false);
    let mut stdin = qemu.child.stdin.take();
    let deadline = started + s.time_limit;
    let timed_out = |m: &Matcher| {
        format!(
            "timed out after {} s waiting for {}",
            s.time_limit.as_secs(),
            m.waiting_for()
        )
    };

    let mut actions = matcher.start();
    loop {
        for action in actions.drain(..) {
            match action {
                Action::Type(bytes) => type_into(&mut stdin, &bytes)?,
                Action::UdpEcho(n) => {
                    let port = s
                        .udp_port
                        .ok_or("the script exchanges UDP datagrams but no port is forwarded")?;
                    let line = udp_echo_exchange(port, n, deadline)?;
                    if s.verbose {
                        println!("    {line}");
                    }
                    transcript.push(line);
                }
                Action::Fail(reason) => return Err(reason),
            }
        }
        if matcher.end() == End::KillWhenDone && matcher.done() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Msg::Out(line)) => {
                if s.verbose {
                    println!("    {line}");
                }
                actions = matcher.feed(&line);
                console.push(line.clone());
                transcript.push(line);
            }
            Ok(Msg::Err(line)) => {
                if s.verbose {
                    println!("    {line}");
                }
                transcript.push(line);
            }
            Ok(Msg::OutClosed) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(timed_out(&matcher)),
        }
    }

    // The console closed: QEMU is exiting. Collect its status, and any last stderr lines.
    let status = qemu
        .wait_until(deadline)
        .map_err(|e| format!("waiting for QEMU failed: {e}"))?;
    while let Ok(msg) = rx.recv_timeout(Duration::from_millis(100)) {
        if let Msg::Err(line) = msg {
            transcript.push(line);
        }
    }
    match status {
        Some(status) => matcher.judge_exit(status.code(), s.status_is_verdict),
        None => Err(timed_out(&matcher)),
    }
}

/// A UDP port on 127.0.0.1 that was free a moment ago (QEMU binds it for a forward).
pub fn free_udp_port() -> Result<u16, String> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")
        .map_err(|e| format!("no free UDP port on 127.0.0.1: {e}"))?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free UDP port on 127.0.0.1: {e}"))
}

/// Sends `datagrams` distinct datagrams to 127.0.0.1:`port` one at a time and checks that each
/// comes back unchanged. The first may need retries (QEMU's user network resolves the guest's
/// MAC with ARP first and drops what it sent meanwhile). Returns a line for the transcript.
pub fn udp_echo_exchange(port: u16, datagrams: u32, deadline: Instant) -> Result<String, String> {
    use std::net::UdpSocket;
    const WAIT: Duration = Duration::from_millis(500);
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("host UDP socket: {e}"))?;
    socket
        .connect(("127.0.0.1", port))
        .map_err(|e| format!("host UDP socket: {e}"))?;
    socket
        .set_read_timeout(Some(WAIT))
        .map_err(|e| format!("host UDP socket: {e}"))?;
    let mut resent = 0;
    let mut buf = [0u8; 2048];
    for i in 0..datagrams {
        // Lengths vary from 1 byte to well over a few hundred, so copies of every size are tried.
        let len = 1 + (i as usize * 97) % 1000;
        let payload: Vec<u8> = (0..len)
            .map(|j| (j ^ usize::try_from(i.wrapping_mul(31)).unwrap_or(0)).to_le_bytes()[0])
            .collect();
        loop {
            if Instant::now() >= deadline {
                return Err(format!("UDP echo: no echo of datagram {i} of {datagrams} from 127.0.0.1:{port} before the time limit ({resent} resent)"));
            }
            socket
                .send(&payload)
                .map_err(|e| format!("UDP echo: sending datagram {i}: {e}"))?;
            match socket.recv(&mut buf) {
                Ok(n) if buf[..n] == payload[..] => break,
                Ok(n) => {
                    return Err(format!(
                        "UDP echo: datagram {i} ({len} bytes) came back as {n} different bytes"
                    ))
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    resent += 1
                }
                Err(e) => return Err(format!("UDP echo: receiving datagram {i}: {e}")),
            }
        }
    }
    Ok(format!(
        "host: {datagrams} UDP datagrams echoed unchanged by 127.0.0.1:{port} ({resent} resent)"
    ))
}

/// The monitor's verdict in a console line (`capmon: powering off (pass)`), if it is one.
pub fn verdict_in(line: &str) -> Option<bool> {
    let line = line.trim_end_matches(['\r', '\n']);
    match line.strip_prefix("capmon: powering off (")? {
        "pass)" => Some(true),
        "fail)" => Some(false),
        _ => None,
    }
}

/// Copies QEMU's console to `out` as it arrives (byte by byte as far as reads go, so an
/// interactive console stays interactive) and returns the monitor's last verdict, if any.
pub fn relay_console(from: &mut impl Read, out: &mut impl Write) -> std::io::Result<Option<bool>> {
    let mut verdict = None;
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        out.flush()?;
        for &b in &buf[..n] {
            if b == b'\n' {
                if let Some(v) = verdict_in(&String::from_utf8_lossy(&line)) {
                    verdict = Some(v);
                }
                line.clear();
            } else if line.len() < 256 {
                line.push(b);
            }
        }
    }
    Ok(verdict)
}

/// Runs QEMU interactively (the person's terminal is its console input; its output is relayed
/// to this terminal) and returns the exit status that means the same on every board: the
/// monitor's verdict when it printed one (0 pass, 1 fail; on Arm, PSCI SYSTEM_OFF exits QEMU
/// with 0 either way), else QEMU's own status (e.g. 0 after Ctrl-A X).
///
/// No time limit: the person at the terminal decides when it ends.
pub fn run_interactive(qemu: &Path, args: &[String]) -> Result<i32, String> {
    let mut child = Command::new(qemu)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu.display()))?;
    let verdict = match child.stdout.take() {
        Some(mut console) => relay_console(&mut console, &mut std::io::stdout().lock())
            .map_err(|e| format!("relaying QEMU's console failed: {e}"))?,
        None => None,
    };
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {} failed: {e}", qemu.display()))?;
    // A QEMU killed by a signal reports like a shell would: 128 + signal.
    let code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    Ok(match verdict {
        Some(pass) => i32::from(!pass),
        None => code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::expect::{expect, Verdict};

    #[test]
    fn lines_lose_carriage_returns() {
        assert_eq!(
            clean_line(b"capmon: powering off (pass)\r\n"),
            "capmon: powering off (pass)"
        );
        assert_eq!(clean_line(b"a\rb\n"), "ab");
        assert_eq!(clean_line(b"\xffx"), "\u{fffd}x");
    }

    #[test]
    fn disk_images_are_written_and_checked_byte_for_byte() {
        let dir = crate::workspace::temp_dir("disk image").expect("tempdir");
        let mut contents = vec![0u8; 2048];
        contents[..8].copy_from_slice(b"CAPMONLG");
        let disk = disk_image(dir.path(), &contents).expect("disk");
        assert_eq!(check_disk_image(&disk, &contents), Ok(()));
        contents[1000] = 7;
        assert_eq!(
            check_disk_image(&disk, &contents).unwrap_err(),
            "the disk image differs at byte 0x3e8 (sector 1, offset 488): found 0x00, expected 0x07"
        );
        assert!(check_disk_image(&disk, &contents[..512])
            .unwrap_err()
            .contains("is 2048 bytes after the run, expected 512"));
    }

    #[test]
    fn temp_dir_and_disk() {
        let dir = crate::workspace::temp_dir("unit test/x").expect("tempdir");
        let kept = dir.path().to_path_buf();
        let disk = scratch_disk(dir.path()).expect("disk");
        assert_eq!(
            std::fs::metadata(&disk).map(|m| m.len()).ok(),
            Some(DISK_BYTES)
        );
        drop(dir);
        assert!(!kept.exists());
    }

    /// Writes a shell script standing in for QEMU. It is run as `/bin/sh <script>` rather than
    /// executed directly: exec'ing a file just written races with other test threads' forks
    /// (ETXTBSY).
    fn fake_qemu(dir: &Path, name: &str, body: &str) -> Vec<String> {
        let path = dir.join(name);
        std::fs::write(&path, format!("{body}\n")).expect("write");
        vec![path.to_string_lossy().into_owned()]
    }

    const SH: &str = "/bin/sh";

    fn settings<'a>(
        args: &'a [String],
        script: &'a Script,
        limit: u64,
        status_is_verdict: bool,
    ) -> RunSettings<'a> {
        RunSettings {
            qemu: Path::new(SH),
            args,
            script,
            status_is_verdict,
            time_limit: Duration::from_secs(limit),
            verbose: false,
            udp_port: None,
        }
    }

    #[test]
    fn scripted_run_against_a_fake_qemu() {
        let dir = crate::workspace::temp_dir("fake").expect("tempdir");
        let qemu = fake_qemu(
            dir.path(),
            "console",
            r#"printf 'boot\r\nconsole: type a line and press Enter\r\n'
read line
printf 'console: read line "%s"\r\n' "$(printf '%s' "$line" | tr -d '\r')"
echo 'some warning' >&2
printf 'capmon: powering off (pass)\r\n'
exit 0"#,
        );
        let script = Script {
            steps: vec![
                expect("^console: type a line"),
                crate::run::expect::Step::Type("hello capmon\n".into()),
                expect(r#"^console: read line "hello capmon"$"#),
            ],
            forbid: vec!["(?i)panic".into()],
            end: End::PowerOff(Verdict::Pass),
        };
        let report = run_script(&settings(&qemu, &script, 20, true));
        assert_eq!(report.result, Ok(()), "{:?}", report.transcript);
        assert_eq!(report.console.len(), 4);
        assert!(report.transcript.iter().any(|l| l == "some warning"));
    }

    #[test]
    fn exit_status_and_time_out() {
        let dir = crate::workspace::temp_dir("fake2").expect("tempdir");
        let qemu = fake_qemu(
            dir.path(),
            "exit3",
            "printf 'capmon: powering off (pass)\\n'; exit 3",
        );
        let script = Script {
            steps: vec![],
            forbid: vec![],
            end: End::PowerOff(Verdict::Pass),
        };
        let report = run_script(&settings(&qemu, &script, 20, true));
        assert!(report.result.unwrap_err().contains("status 3"));
        let report = run_script(&settings(&qemu, &script, 20, false));
        assert_eq!(report.result, Ok(()));

        // A hung guest: the runner kills the whole group (sleep included) at the time limit.
        let pidfile = dir.path().join("sleep.pid");
        let hang = fake_qemu(
            dir.path(),
            "hang",
            &format!(
                "echo boot; sleep 300 & echo $! > {}; wait",
                pidfile.display()
            ),
        );
        let script = Script {
            steps: vec![expect("never")],
            forbid: vec![],
            end: End::KillWhenDone,
        };
        let report = run_script(&settings(&hang, &script, 1, false));
        let err = report.result.unwrap_err();
        assert!(
            err.starts_with("timed out after 1 s waiting for /never/"),
            "{err}"
        );
        let pid = std::fs::read_to_string(&pidfile)
            .expect("pid")
            .trim()
            .parse::<i32>()
            .expect("pid");
        // Gone, or a zombie waiting for whichever process adopted it to reap it.
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
        assert!(
            matches!(state().as_deref(), None | Some("Z")),
            "the grandchild survived: {:?}",
            state()
        );
    }

    #[test]
    fn kill_when_done_stops_a_running_qemu() {
        let dir = crate::workspace::temp_dir("fake3").expect("tempdir");
        let qemu = fake_qemu(
            dir.path(),
            "banner",
            "echo 'boot: banner after 1234 ns'; sleep 300",
        );
        let script = Script {
            steps: vec![expect(r"^boot: banner after (\d+) ns$")],
            forbid: vec![],
            end: End::KillWhenDone,
        };
        let report = run_script(&settings(&qemu, &script, 20, false));
        assert_eq!(report.result, Ok(()));
        assert!(report.elapsed < Duration::from_secs(10));
    }

    #[test]
    fn the_verdict_is_read_from_the_relayed_console() {
        let console =
            b"boot\r\ncvm spin: exited with 0, expected fault\r\ncapmon: powering off (fail)\r\n";
        let mut out = Vec::new();
        let verdict = relay_console(&mut &console[..], &mut out).expect("relays");
        assert_eq!(verdict, Some(false));
        assert_eq!(out, console);
        let pass = b"capmon: powering off (pass)\n";
        assert_eq!(
            relay_console(&mut &pass[..], &mut Vec::new()).ok(),
            Some(Some(true))
        );
        assert_eq!(
            relay_console(&mut &b"no verdict"[..], &mut Vec::new()).ok(),
            Some(None)
        );
        assert_eq!(verdict_in("capmon: powering off (maybe)"), None);
    }

    #[test]
    fn interactive_runs_exit_with_the_verdict() {
        let dir = crate::workspace::temp_dir("interactive").expect("tempdir");
        // PSCI-like: QEMU exits 0 whatever the verdict.
        let arm = fake_qemu(
            dir.path(),
            "arm",
            "printf 'capmon: powering off (fail)\\r\\n'; exit 0",
        );
        assert_eq!(run_interactive(Path::new(SH), &arm), Ok(1));
        // sifive_test-like: the status carries the verdict too.
        let riscv = fake_qemu(
            dir.path(),
            "rv",
            "printf 'capmon: powering off (pass)\\n'; exit 0",
        );
        assert_eq!(run_interactive(Path::new(SH), &riscv), Ok(0));
        let quit = fake_qemu(dir.path(), "quit", "echo 'QEMU: Terminated'; exit 3");
        assert_eq!(run_interactive(Path::new(SH), &quit), Ok(3));
    }
}
