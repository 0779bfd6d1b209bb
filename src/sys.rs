//! Every `unsafe` call of bach lives here, as thin wrappers that return
//! `io::Result`. The rest of the crate is `#![deny(unsafe_code)]`.
//!
//! Invariant: no wrapper ever signals a pid or process group of 1 or less.
//! `kill(-1)` would hit every process of the user (of the machine, as root),
//! `kill(0)` our own group, and pid 1 is init; `signal_target` refuses them.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

mod parse;
pub use parse::ProcStat;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(target_vendor = "apple")]
mod apple;
#[cfg(target_vendor = "apple")]
pub use apple::*;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The real user id of this process.
pub fn getuid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The effective user id of this process.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// This machine's node name (`uname -n`), or `None` if it cannot be read.
pub fn nodename() -> Option<String> {
    // SAFETY: utsname is a plain C struct for which all-zero bytes are valid.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid utsname for uname to fill.
    check(unsafe { libc::uname(&mut u) }).ok()?;
    let bytes: Vec<u8> = u.nodename.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8(bytes).ok()
}

/// The local time's offset from UTC at Unix time `secs`, in seconds (east
/// of Greenwich positive), as `localtime_r` reads `TZ`; 0 when it cannot
/// tell.
pub fn utc_offset(secs: u64) -> i64 {
    // time_t is 64 bits on every target bach builds for (libc deprecates
    // naming it on musl, whose 32-bit targets changed it).
    let t: i64 = secs.try_into().unwrap_or(i64::MAX);
    // SAFETY: tm is a plain C struct for which all-zero bytes are valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r keeps no
    // reference to them.
    let local = unsafe { libc::localtime_r(&t, &mut tm) };
    if local.is_null() {
        0
    } else {
        tm.tm_gmtoff as i64
    }
}

/// This process's pid.
pub fn getpid() -> i32 {
    std::process::id() as i32
}

/// Starts a new session; called between fork and exec, so it only makes the
/// one async-signal-safe system call and allocates nothing.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments and is async-signal-safe.
    check(unsafe { libc::setsid() }).map(drop)
}

/// Makes the child of `cmd` start a new session (`setsid`) before exec, so
/// it outlives the terminal and the process that spawned it.
pub fn setsid_on_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec; it only calls setsid,
    // which is async-signal-safe, allocates nothing and takes no lock.
    unsafe { cmd.pre_exec(setsid) };
}

/// The pid (or group) that a signal may be sent to: greater than 1, never
/// -1 (everyone), 0 (our own group) or 1 (init).
pub fn signal_target(pid: i32) -> io::Result<i32> {
    if pid > 1 {
        Ok(pid)
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("refusing to signal pid {pid}")))
    }
}

/// Sends `sig` to process `pid` (> 1).
pub fn kill(pid: i32, sig: libc::c_int) -> io::Result<()> {
    let pid = signal_target(pid)?;
    // SAFETY: pid > 1 was checked above, so this names one process.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Sends `sig` to process group `pgid` (> 1).
pub fn killpg(pgid: i32, sig: libc::c_int) -> io::Result<()> {
    let pgid = signal_target(pgid)?;
    // SAFETY: pgid > 1 was checked above, so this names one group.
    check(unsafe { libc::killpg(pgid, sig) }).map(drop)
}

/// Reaps one exited child without blocking: `Ok(None)` when none is left.
pub fn reap_any() -> io::Result<Option<(i32, libc::c_int)>> {
    let mut status = 0;
    // SAFETY: status is a valid out pointer for the duration of the call.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    match pid {
        0 => Ok(None),
        -1 => match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ECHILD) => Ok(None),
            e => Err(e),
        },
        pid => Ok(Some((pid, status))),
    }
}

fn fcntl_flag(fd: RawFd, get: libc::c_int, set: libc::c_int, flag: libc::c_int) -> io::Result<()> {
    // SAFETY: F_GETFD/F_GETFL take no pointer; a bad fd only yields EBADF.
    let old = check(unsafe { libc::fcntl(fd, get) })?;
    // SAFETY: as above, the new flags are an integer argument.
    check(unsafe { libc::fcntl(fd, set, old | flag) }).map(drop)
}

/// Marks a descriptor close-on-exec.
pub fn set_cloexec(fd: BorrowedFd) -> io::Result<()> {
    fcntl_flag(fd.as_raw_fd(), libc::F_GETFD, libc::F_SETFD, libc::FD_CLOEXEC)
}

/// Makes a descriptor non-blocking.
pub fn set_nonblock(fd: BorrowedFd) -> io::Result<()> {
    fcntl_flag(fd.as_raw_fd(), libc::F_GETFL, libc::F_SETFL, libc::O_NONBLOCK)
}

/// A pipe whose ends are close-on-exec and non-blocking (macOS has no `pipe2`).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe to fill.
    check(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    // SAFETY: pipe succeeded, so both are fresh descriptors that we own alone.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&r, &w] {
        set_cloexec(fd.as_fd())?;
        set_nonblock(fd.as_fd())?;
    }
    Ok((r, w))
}

/// Waits until one of `fds` is ready or `timeout_ms` passes (-1: forever).
/// Returns the `revents` of each; an interrupted wait returns all zeros.
pub fn poll(fds: &[BorrowedFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    // SAFETY: pfds is a valid array of pfds.len() pollfd structures.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    match check(n) {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
        _ => Ok(pfds.iter().map(|p| p.revents != 0).collect()),
    }
}

/// Waits like [`poll`] on `fds` (for input) and on `out`, a pipe or socket
/// written to, for its reader going away only (a pipe with room never wakes
/// it). Returns the readiness of `fds` and whether `out` hung up, failed or
/// is not open (`POLLHUP`, `POLLERR`, `POLLNVAL`). Linux reports these
/// whatever is asked; macOS, whose `poll` is built on kqueue, watches a
/// descriptor only for what is asked, and asking `POLLHUP` makes it report
/// a pipe or socket whose peer closed (inferred from xnu's `poll` and pipe
/// filters; not run on a Mac). Not for a terminal: there `POLLHUP` also
/// wakes on pending input on macOS (a terminal's hangup is SIGHUP anyway).
pub fn poll_hangup(
    fds: &[BorrowedFd],
    out: BorrowedFd,
    timeout_ms: i32,
) -> io::Result<(Vec<bool>, bool)> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    pfds.push(libc::pollfd { fd: out.as_raw_fd(), events: libc::POLLHUP, revents: 0 });
    // SAFETY: pfds is a valid array of pfds.len() pollfd structures.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    match check(n) {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
        _ => {
            let gone = libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
            let hung = pfds.pop().is_some_and(|p| p.revents & gone != 0);
            Ok((pfds.iter().map(|p| p.revents != 0).collect(), hung))
        }
    }
}

/// Waits like [`poll`] on `fds`, and ends early when stdout is a pipe or
/// socket whose reader went away (see [`poll_hangup`]). A terminal is not
/// watched: its hangup is SIGHUP. Returns the readiness of `fds` and
/// whether stdout's reader is gone.
pub fn poll_or_reader_gone(fds: &[BorrowedFd], timeout_ms: i32) -> io::Result<(Vec<bool>, bool)> {
    use std::io::IsTerminal;
    let stdout = io::stdout();
    match stdout.is_terminal() {
        true => poll(fds, timeout_ms).map(|ready| (ready, false)),
        false => poll_hangup(fds, stdout.as_fd(), timeout_ms),
    }
}

/// What a read without blocking found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// This many bytes.
    Data(usize),
    /// End of file: the writer is gone.
    End,
    /// Nothing is waiting now (`EAGAIN`, or a signal interrupted the read).
    Empty,
}

/// Reads what is available from a non-blocking descriptor.
pub fn read_ready(fd: BorrowedFd, buf: &mut [u8]) -> io::Result<Ready> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    match n {
        0 => Ok(Ready::End),
        1.. => Ok(Ready::Data(n as usize)),
        _ => match io::Error::last_os_error() {
            e if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                Ok(Ready::Empty)
            }
            e => Err(e),
        },
    }
}

/// A timeout for `poll`: milliseconds rounded up, at most a day.
pub fn poll_ms(d: std::time::Duration) -> i32 {
    d.as_micros().div_ceil(1000).min(86_400_000) as i32
}

/// What a lock attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lock {
    /// We hold it now.
    Taken,
    /// Another process holds it.
    Busy,
}

fn flock_struct(kind: libc::c_short) -> libc::flock {
    // SAFETY: flock is a plain C struct for which all-zero bytes are valid.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl
}

/// Takes an `fcntl` write lock on the whole file without waiting. `fcntl`
/// and not `flock`: `F_GETLK` tells others the holder's pid. The lock lasts
/// until the process closes any descriptor of the file.
pub fn try_lock(fd: BorrowedFd) -> io::Result<Lock> {
    let fl = flock_struct(libc::F_WRLCK as libc::c_short);
    // SAFETY: fl is a valid flock structure that outlives the call.
    match check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLK, &fl) }) {
        Ok(_) => Ok(Lock::Taken),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
            Ok(Lock::Busy)
        }
        Err(e) => Err(e),
    }
}

/// The pid of the process that holds a write lock on the file, if any.
pub fn lock_holder(fd: BorrowedFd) -> io::Result<Option<i32>> {
    let mut fl = flock_struct(libc::F_WRLCK as libc::c_short);
    // SAFETY: fl is a valid flock structure that the kernel fills in.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETLK, &mut fl) })?;
    Ok((fl.l_type != libc::F_UNLCK as libc::c_short).then_some(fl.l_pid))
}

/// Closes every descriptor of this process numbered 3 or more, so that an
/// inherited pipe never keeps a spawner's reader waiting for end of file.
pub fn close_inherited() {
    let mut open = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/dev/fd") {
        open.extend(dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<RawFd>().ok()));
    }
    for fd in open.into_iter().filter(|&fd| fd >= 3) {
        // SAFETY: no Rust object of this process owns these inherited descriptors
        // yet (this runs first thing in main); the directory's own is gone now.
        unsafe { libc::close(fd) };
    }
}

/// Makes `fd` also reachable as descriptor `target` (stdout, stderr).
pub fn dup2(fd: BorrowedFd, target: RawFd) -> io::Result<()> {
    // SAFETY: both are integers; a bad descriptor only yields EBADF.
    check(unsafe { libc::dup2(fd.as_raw_fd(), target) }).map(drop)
}

/// The one global of bach: the write end of the self-pipe, for the handler.
static SELF_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work: errno saved and restored around one write.
    // A full pipe is fine: one byte already waiting is wake-up enough.
    let fd = SELF_PIPE.load(Ordering::Relaxed);
    let byte = sig as u8;
    // SAFETY: errno is thread-local and only read and restored here.
    let saved = unsafe { *errno() };
    // SAFETY: write is async-signal-safe; byte outlives the call.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    // SAFETY: errno is thread-local; this puts back the value read above.
    unsafe { *errno() = saved };
}

/// The calling thread's `errno`.
///
/// # Safety
/// The pointer is valid for the calling thread only; callers read or write
/// it at once, on that thread.
#[cfg(target_vendor = "apple")]
unsafe fn errno() -> *mut libc::c_int {
    libc::__error()
}

/// The calling thread's `errno` (see the macOS one above).
///
/// # Safety
/// As above.
#[cfg(not(target_vendor = "apple"))]
unsafe fn errno() -> *mut libc::c_int {
    libc::__errno_location()
}

/// Routes `signals` to the self-pipe whose write end is `fd` (which must
/// stay open for the rest of the process's life), and ignores SIGPIPE.
pub fn route_signals(fd: BorrowedFd, signals: &[libc::c_int]) -> io::Result<()> {
    SELF_PIPE.store(fd.as_raw_fd(), Ordering::Relaxed);
    for &sig in signals {
        set_action(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t)?;
    }
    set_action(libc::SIGPIPE, libc::SIG_IGN)
}

/// Restores the default action of `sig`.
pub fn default_signal(sig: libc::c_int) -> io::Result<()> {
    set_action(sig, libc::SIG_DFL)
}

/// The `RLIMIT_NOFILE` limits in force.
fn nofile_limit() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: lim is a valid rlimit structure for getrlimit to fill.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    Ok(lim)
}

extern "C" fn exit_now(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe and runs nothing of ours.
    unsafe { libc::_exit(0) }
}

/// Ends this process with status 0 (`_exit`: nothing flushed, nothing run)
/// once `secs` seconds have passed, whatever it is doing then; a limit for
/// work that must never hold up its caller (the hook's 2 s).
pub fn exit_on_alarm(secs: u32) -> io::Result<()> {
    set_action(libc::SIGALRM, exit_now as extern "C" fn(libc::c_int) as libc::sighandler_t)?;
    // SAFETY: alarm takes an integer and cannot fail.
    unsafe { libc::alarm(secs) };
    Ok(())
}

fn set_action(sig: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: sigaction is a plain C struct for which all-zero bytes are valid.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = handler;
    // SA_RESTART: a signal never makes an ordinary read or write fail.
    sa.sa_flags = libc::SA_RESTART;
    // SAFETY: sa is valid; on_signal is async-signal-safe (see above).
    check(unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_signals_everyone_our_group_or_init() {
        for pid in [-1, 0, 1, i32::MIN, -42] {
            assert!(signal_target(pid).is_err(), "pid {pid} must be refused");
            assert!(kill(pid, 0).is_err());
            assert!(killpg(pid, 0).is_err());
        }
        assert_eq!(signal_target(2).unwrap(), 2);
    }

    #[test]
    fn the_node_name_is_the_one_uname_prints() {
        let out = std::process::Command::new("uname").arg("-n").output().unwrap();
        let want = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert_eq!(nodename(), Some(want));
    }

    #[test]
    fn the_utc_offset_follows_tz() {
        // `date +%z` of the same TZ is the oracle.
        let out = std::process::Command::new("date").arg("+%z").output().unwrap();
        let z = String::from_utf8(out.stdout).unwrap();
        let z = z.trim();
        let (sign, hh, mm) = (&z[..1], &z[1..3], &z[3..5]);
        let secs = hh.parse::<i64>().unwrap() * 3600 + mm.parse::<i64>().unwrap() * 60;
        let want = if sign == "-" { -secs } else { secs };
        assert_eq!(utc_offset(crate::time::now()), want);
    }

    #[test]
    fn a_writer_learns_that_its_reader_is_gone() {
        let (r, w) = pipe().unwrap();
        let (_, hung) = poll_hangup(&[], w.as_fd(), 0).unwrap();
        assert!(!hung, "a pipe with a reader and room");
        drop(r);
        let (_, hung) = poll_hangup(&[], w.as_fd(), 1000).unwrap();
        assert!(hung, "the reader closed");
        let (r2, w2) = pipe().unwrap();
        // SAFETY: w2 is an open pipe end; the byte outlives the call.
        assert_eq!(unsafe { libc::write(w2.as_raw_fd(), b"x".as_ptr().cast(), 1) }, 1);
        let (ready, hung) = poll_hangup(&[r2.as_fd()], w.as_fd(), 0).unwrap();
        assert_eq!((ready, hung), (vec![true], true));
    }

    #[test]
    fn a_pipe_reads_data_then_empty_then_end() {
        let (r, w) = pipe().unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read_ready(r.as_fd(), &mut buf).unwrap(), Ready::Empty);
        // SAFETY: w is an open pipe end; the byte outlives the call.
        assert_eq!(unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) }, 1);
        assert_eq!(read_ready(r.as_fd(), &mut buf).unwrap(), Ready::Data(1));
        drop(w);
        assert_eq!(read_ready(r.as_fd(), &mut buf).unwrap(), Ready::End);
        assert_eq!(poll_ms(std::time::Duration::from_micros(1)), 1, "rounded up");
    }
}
