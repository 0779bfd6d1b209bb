//! Running `ps`: `LC_ALL=C TZ=UTC ps -axww -o ...` in its own process group,
//! its output read without blocking so a hanging `ps` never hangs bach. The
//! daemon polls the output in its one wait, beside its self-pipe, and reaps
//! `ps` in its one reaper; commands use [`snapshot`], which waits for it.

use crate::error::reason;
use crate::ps::{self, Proc};
use crate::sys;
use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The most output `ps` may print.
const MAX_OUTPUT: usize = 32 << 20;

/// How long a `ps` may run.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Starts `ps`; its stdout is non-blocking.
pub fn start() -> Result<Child, String> {
    let child = Command::new("ps")
        .args(ps::ARGS)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run ps: {}", reason(&e)))?;
    for fd in [child.stdout.as_ref().map(|o| o.as_fd()), child.stderr.as_ref().map(|e| e.as_fd())] {
        fd.map_or(Ok(()), sys::set_nonblock).map_err(|e| format!("ps: {}", reason(&e)))?;
    }
    Ok(child)
}

/// What `ps` said on stderr, once it ended: its first line (a pipe holds
/// far more than an error message, so reading after the exit never blocks).
pub fn complaint(child: &mut Child) -> Option<String> {
    let err = child.stderr.take()?;
    let mut buf = [0u8; 512];
    let Ok(sys::Ready::Data(n)) = sys::read_ready(err.as_fd(), &mut buf) else { return None };
    let text = String::from_utf8_lossy(&buf[..n]);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(crate::text::escape(first).into_owned())
}

/// Reads what `ps` has printed so far into `buf`, without blocking.
/// `Ok(true)` at end of file.
pub fn read_some(out: &ChildStdout, buf: &mut Vec<u8>) -> Result<bool, String> {
    let mut chunk = [0u8; 16384];
    loop {
        match sys::read_ready(out.as_fd(), &mut chunk) {
            Ok(sys::Ready::Data(n)) if buf.len() + n <= MAX_OUTPUT => {
                buf.extend_from_slice(&chunk[..n])
            }
            Ok(sys::Ready::Data(_)) => return Err("ps printed more than 32 MiB".into()),
            Ok(sys::Ready::End) => return Ok(true),
            Ok(sys::Ready::Empty) => return Ok(false),
            Err(e) => return Err(format!("reading ps: {}", reason(&e))),
        }
    }
}

/// Kills a `ps` that took too long (its whole group).
pub fn kill(child: &Child) {
    let _ = sys::killpg(child.id() as i32, libc::SIGKILL);
}

/// Turns finished output, its exit status and what it said on stderr into
/// processes, or why not: `ps`'s own first line of complaint, and on Linux
/// the hint that procps is needed (busybox `ps` lacks these options; macOS
/// has no procps, and its `ps` always has them).
pub fn finish(
    buf: &[u8],
    exit: &crate::reconcile::Exit,
    said: Option<&str>,
) -> Result<Vec<Proc>, String> {
    if !exit.clean() {
        let said = said.map(|s| format!(": {s}")).unwrap_or_default();
        let hint = if cfg!(target_os = "linux") {
            "; procps is needed (busybox ps lacks these options)"
        } else {
            ""
        };
        return Err(format!("ps failed ({exit}){said}{hint}"));
    }
    ps::parse(&String::from_utf8_lossy(buf)).map_err(|e| format!("ps output: {e}"))
}

/// The process table, for commands (not the daemon): waits for `ps` itself.
pub fn snapshot() -> Result<Vec<Proc>, String> {
    let mut child = start()?;
    let out = child.stdout.take().ok_or("ps has no output")?;
    let (mut buf, deadline) = (Vec::new(), Instant::now() + TIMEOUT);
    let read = loop {
        match read_some(&out, &mut buf) {
            Ok(false) => {}
            done => break done,
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(format!("ps did not finish within {}s", TIMEOUT.as_secs()));
        }
        let _ = sys::poll(&[out.as_fd()], sys::poll_ms(left));
    };
    if read.is_err() {
        kill(&child);
    }
    let status = child.wait().map_err(|e| format!("ps: {}", reason(&e)))?;
    read?;
    let said = complaint(&mut child);
    finish(&buf, &crate::reconcile::Exit::of_status(status.into_raw()), said.as_deref())
}

/// Fills in the start ticks of the processes whose pid is in `pids` (Linux;
/// elsewhere `lstart` is absolute and ticks stay unknown).
pub fn add_ticks(procs: &mut [Proc], pids: &BTreeSet<i32>) {
    for p in procs.iter_mut().filter(|p| pids.contains(&p.pid)) {
        p.ticks = start_ticks(p.pid);
    }
}

/// A process's start as [`sys::ProcStat::start`] counts it, from its row:
/// the ticks read by [`add_ticks`] on Linux, `lstart` seconds elsewhere.
/// What a pid handle is confirmed against after it is opened.
#[cfg(target_os = "linux")]
pub fn start_of(p: &Proc) -> Option<u64> {
    p.ticks
}

/// A process's start as [`sys::ProcStat::start`] counts it, from its row:
/// the ticks read by [`add_ticks`] on Linux, `lstart` seconds elsewhere.
#[cfg(not(target_os = "linux"))]
pub fn start_of(p: &Proc) -> Option<u64> {
    crate::time::lstart_secs(&p.start)
}

/// The start of a session's agent as its record holds it, counted like
/// [`start_of`]: `pid_ticks` on Linux, `pid_start` seconds elsewhere.
#[cfg(target_os = "linux")]
pub fn recorded_start(s: &crate::store::Session) -> Option<u64> {
    s.pid_ticks
}

/// The start of a session's agent as its record holds it, counted like
/// [`start_of`]: `pid_ticks` on Linux, `pid_start` seconds elsewhere.
#[cfg(not(target_os = "linux"))]
pub fn recorded_start(s: &crate::store::Session) -> Option<u64> {
    s.pid_start.as_deref().and_then(crate::time::lstart_secs)
}

/// A process's start in clock ticks since boot: field 22 of `/proc/PID/stat`.
#[cfg(target_os = "linux")]
pub fn start_ticks(pid: i32) -> Option<u64> {
    stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// A process's start in clock ticks since boot: unknown off Linux.
#[cfg(not(target_os = "linux"))]
pub fn start_ticks(_pid: i32) -> Option<u64> {
    None
}

/// Field 22 of a `/proc/PID/stat` text. The command (field 2) is in
/// parentheses and may itself hold blanks and `)`, so fields are counted
/// from after the last `)`.
pub fn stat_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_are_field_22_whatever_the_command_holds() {
        let fields: String = (3..=30).map(|n| format!(" {n}")).collect();
        assert_eq!(stat_ticks(&format!("42 (a b) c){fields}")), Some(22));
        assert_eq!(stat_ticks("42 (short) 3 4"), None);
        assert_eq!(stat_ticks("no parenthesis"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn our_own_ticks_are_read_and_stay_put() {
        let me = sys::getpid();
        let first = start_ticks(me).expect("our own /proc/PID/stat");
        assert_eq!(start_ticks(me), Some(first));
        assert_eq!(start_ticks(i32::MAX), None);
    }

    #[test]
    fn snapshot_lists_this_process_with_its_start() {
        let _reaping = crate::testing::children();
        let procs = snapshot().expect("ps works here");
        let me = ps::find(&procs, sys::getpid()).expect("ps lists its caller");
        assert_eq!(me.uid, sys::getuid());
        assert!(crate::time::lstart_secs(&me.start).is_some(), "{}", me.start);
    }

    #[test]
    fn a_failed_ps_says_what_it_said_and_names_procps_on_linux_only() {
        use crate::reconcile::Exit;
        let e = finish(b"", &Exit::Code(1), Some("ps: unrecognized option: o")).unwrap_err();
        let want = match cfg!(target_os = "linux") {
            true => "ps failed (exit 1): ps: unrecognized option: o; procps is needed (busybox ps lacks these options)",
            false => "ps failed (exit 1): ps: unrecognized option: o",
        };
        assert_eq!(e, want);
        assert!(finish(b"", &Exit::Signal(9), None)
            .unwrap_err()
            .starts_with("ps failed (signal 9)"));
        assert!(finish(b"garbage\n", &Exit::Code(0), None).is_err());
    }
}
