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
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run ps: {}", reason(&e)))?;
    if let Some(out) = &child.stdout {
        sys::set_nonblock(out.as_fd()).map_err(|e| format!("ps: {}", reason(&e)))?;
    }
    Ok(child)
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

/// Turns finished output and its exit status into processes.
pub fn finish(buf: &[u8], exit: &crate::reconcile::Exit) -> Result<Vec<Proc>, String> {
    if !exit.clean() {
        return Err(format!(
            "ps failed ({exit}); procps is needed (busybox ps lacks these options)"
        ));
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
    finish(&buf, &sys::exit_of(status.into_raw()))
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
    fn a_failed_ps_names_procps_and_its_status() {
        let e = finish(b"", &crate::reconcile::Exit::Code(1)).unwrap_err();
        assert_eq!(e, "ps failed (exit 1); procps is needed (busybox ps lacks these options)");
        assert!(finish(b"garbage\n", &crate::reconcile::Exit::Code(0)).is_err());
    }
}
