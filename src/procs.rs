//! Running `ps`: `LC_ALL=C TZ=UTC ps -axww -o ...` in its own process group,
//! its output read with a deadline so a hanging `ps` never hangs bach. The
//! daemon polls the output together with its self-pipe and reaps `ps` in its
//! one reaper; commands simply wait for it.

use crate::error::reason;
use crate::ps::{self, Proc};
use crate::sys;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The most output `ps` may print.
const MAX_OUTPUT: usize = 32 << 20;

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

/// What reading `ps` came to.
pub enum Read {
    /// End of file.
    Done,
    /// `wake` became readable first (signals to handle); call again after.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// Reads `ps` output into `buf` until end of file, the deadline, or `wake`.
pub fn read(
    out: &mut ChildStdout,
    buf: &mut Vec<u8>,
    deadline: Instant,
    wake: Option<BorrowedFd>,
) -> Result<Read, String> {
    let mut chunk = [0u8; 16384];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Read::TimedOut);
        }
        let fds: Vec<_> = [out.as_fd()].into_iter().chain(wake).collect();
        let ready = sys::poll(&fds, millis(left)).map_err(|e| format!("poll: {}", reason(&e)))?;
        if ready.get(1) == Some(&true) {
            return Ok(Read::Woken);
        }
        if !ready[0] {
            continue;
        }
        // Ready but empty means end of file (EAGAIN cannot follow a ready poll).
        match sys::read_nonblock(out.as_fd(), &mut chunk) {
            Ok(0) => return Ok(Read::Done),
            Ok(n) if buf.len() + n <= MAX_OUTPUT => buf.extend_from_slice(&chunk[..n]),
            Ok(_) => return Err("ps printed more than 32 MiB".into()),
            Err(e) => return Err(format!("reading ps: {}", reason(&e))),
        }
    }
}

/// Milliseconds for `poll`, rounded up, at most a day.
pub fn millis(d: Duration) -> i32 {
    d.as_micros().div_ceil(1000).min(86_400_000) as i32
}

/// Kills a `ps` that took too long (its whole group).
pub fn kill(child: &Child) {
    let _ = sys::killpg(child.id() as i32, libc::SIGKILL);
}

/// Turns finished output and its exit status into processes.
pub fn finish(buf: &[u8], status: &str) -> Result<Vec<Proc>, String> {
    if status != "exit 0" {
        return Err(format!(
            "ps failed ({status}); procps is needed (busybox ps lacks these options)"
        ));
    }
    ps::parse(&String::from_utf8_lossy(buf)).map_err(|e| format!("ps output: {e}"))
}

/// The process table, for commands (not the daemon): waits for `ps` itself.
pub fn snapshot(timeout: Duration) -> Result<Vec<Proc>, String> {
    let mut child = start()?;
    let mut buf = Vec::new();
    let mut out = child.stdout.take().ok_or("ps has no output")?;
    let read = read(&mut out, &mut buf, Instant::now() + timeout, None);
    if !matches!(read, Ok(Read::Done)) {
        kill(&child);
    }
    let status = child.wait().map_err(|e| format!("ps: {}", reason(&e)))?;
    if !matches!(read?, Read::Done) {
        return Err(format!("ps did not finish within {}s", timeout.as_secs()));
    }
    finish(&buf, &sys::describe_status(status.into_raw()))
}
