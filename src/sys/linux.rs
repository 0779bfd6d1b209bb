//! Linux's half of the platform layer: pidfds and inotify for events, and
//! the per-process facts read from `/proc`. `apple.rs` has the same
//! functions where the concept exists on both, so callers never see which.
//!
//! Invariant: a process that is gone is `ESRCH`, whichever `/proc` file
//! said so, so callers test one code on both platforms.

use super::check;
use super::parse::{self, ProcStat};
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use super::parse::{inotify_events, InotifyEvent};

/// A descriptor that polls readable once process `pid` has exited (a
/// zombie counts), close-on-exec. Linux 5.3 or later, else `ENOSYS`;
/// `ESRCH` when no such process exists. It says nothing about who `pid`
/// is: confirm that after opening.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    let (pid, none) = (libc::c_long::from(pid), 0 as libc::c_long);
    // SAFETY: pidfd_open takes a pid and flags (none) and returns a new
    // descriptor or -1; the arguments are passed as the longs it reads.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, none) };
    let fd = check(fd as libc::c_int)?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new epoll instance, close-on-exec: one descriptor that polls ready
/// while any descriptor added to it is, so a `poll()` costs the same
/// whatever number of pid handles it stands for.
pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1 takes flags and returns a new descriptor or -1.
    let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds `fd` to `epoll` for read readiness; `data` comes back from
/// [`epoll_ready`]. Closing `fd` (its last descriptor) removes it again.
pub fn epoll_add(epoll: BorrowedFd, fd: BorrowedFd, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: data };
    // SAFETY: ev is a valid epoll_event that outlives the call; both
    // descriptors are open for its duration.
    check(unsafe {
        libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev)
    })
    .map(drop)
}

/// Appends to `out` the `data` of every descriptor in `epoll` that is
/// ready now, without waiting.
pub fn epoll_ready(epoll: BorrowedFd, out: &mut Vec<u64>) -> io::Result<()> {
    const BATCH: usize = 64;
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
    loop {
        // SAFETY: evs is a valid array of BATCH epoll_event structures.
        let n = unsafe { libc::epoll_wait(epoll.as_raw_fd(), evs.as_mut_ptr(), BATCH as i32, 0) };
        let n = match check(n) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            n => n? as usize,
        };
        // Copied out by value: the structure is packed on x86_64.
        out.extend(evs[..n].iter().map(|ev| ev.u64));
        if n < BATCH {
            return Ok(());
        }
    }
}

/// A new inotify instance, non-blocking and close-on-exec.
pub fn inotify_init() -> io::Result<OwnedFd> {
    // SAFETY: inotify_init1 takes flags and returns a new descriptor or -1.
    let fd = check(unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) })?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Watches `path` for the `IN_*` events in `mask`; returns the watch
/// descriptor. The same inode watched twice gives the same descriptor.
pub fn inotify_add_watch(inotify: BorrowedFd, path: &Path, mask: u32) -> io::Result<i32> {
    let path = c_path(path)?;
    // SAFETY: path is a NUL-terminated string that outlives the call.
    check(unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), path.as_ptr(), mask) })
}

/// Removes watch `wd` (`EINVAL` once the kernel dropped it itself).
pub fn inotify_rm_watch(inotify: BorrowedFd, wd: i32) -> io::Result<()> {
    // SAFETY: both are integers; a stale wd only yields EINVAL.
    check(unsafe { libc::inotify_rm_watch(inotify.as_raw_fd(), wd) }).map(drop)
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Reads `/proc/PID/WHAT`; a missing process is `ESRCH`.
fn proc_file(pid: i32, what: &str) -> io::Result<Vec<u8>> {
    fs::read(format!("/proc/{pid}/{what}")).map_err(gone_is_esrch)
}

fn gone_is_esrch(err: io::Error) -> io::Error {
    match err.kind() {
        io::ErrorKind::NotFound => io::Error::from_raw_os_error(libc::ESRCH),
        _ => err,
    }
}

fn malformed(pid: i32, what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/{what}: unexpected format"))
}

/// Parent, effective uid, start ticks and zombie state of process `pid`.
pub fn proc_stat(pid: i32) -> io::Result<ProcStat> {
    let stat = proc_file(pid, "stat")?;
    let status = proc_file(pid, "status")?;
    // Lossy: only the command name may be other than ASCII, and it is skipped.
    let (stat, status) = (String::from_utf8_lossy(&stat), String::from_utf8_lossy(&status));
    parse::linux_stat(&stat, &status).ok_or_else(|| malformed(pid, "stat"))
}

/// The Unix second at which a process whose `ProcStat::start` is `ticks`
/// began, as `ps -o lstart` prints it: the boot time (`btime` of
/// `/proc/stat`) plus the ticks in whole seconds (procps rounds down too).
pub fn start_secs(ticks: u64) -> io::Result<u64> {
    let stat = fs::read_to_string("/proc/stat")?;
    let boot = parse::btime(&stat).ok_or_else(|| malformed(0, "../stat"))?;
    // SAFETY: sysconf takes an integer and cannot fail for _SC_CLK_TCK.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0).ok_or_else(|| malformed(0, "clk_tck"))?;
    Ok(boot + ticks / hz)
}

/// The working folder of process `pid` (ends in " (deleted)" once removed).
pub fn proc_cwd(pid: i32) -> io::Result<PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).map_err(gone_is_esrch)
}

/// The arguments of process `pid` as it now shows them (a process may
/// rewrite them; empty while it is still inside exec); bytes that are not
/// UTF-8 become U+FFFD.
pub fn proc_argv(pid: i32) -> io::Result<Vec<String>> {
    let buf = proc_file(pid, "cmdline")?;
    Ok(parse::nul_separated(&buf).iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
}

/// The value of `name` in the environment process `pid` was started with;
/// `InvalidData` when it is not UTF-8.
pub fn proc_env_var(pid: i32, name: &str) -> io::Result<Option<String>> {
    let buf = proc_file(pid, "environ")?;
    let value = parse::env_value(&parse::nul_separated(&buf), name);
    value.map(|v| String::from_utf8(v.to_vec()).map_err(|_| not_utf8(pid, name))).transpose()
}

fn not_utf8(pid: i32, name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{name} of process {pid} is not UTF-8"))
}

/// The files and folders process `pid` holds open (sockets, pipes and other
/// descriptors without a path are left out; one closed meanwhile too).
pub fn proc_open_files(pid: i32) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd")).map_err(gone_is_esrch)? {
        let target = match fs::read_link(entry?.path()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            target => target?,
        };
        if target.is_absolute() {
            paths.push(target);
        }
    }
    Ok(paths)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard one; returns the soft limit
/// now in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = super::nofile_limit()?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: lim is a valid rlimit structure that outlives the call.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(super::nofile_limit()?.rlim_cur)
}

/// Makes the entries of folder `path` durable (after a rename into it).
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Makes `file`'s data durable: on Linux `fsync` already reaches the disk.
pub fn full_fsync(file: &File) -> io::Result<()> {
    file.sync_all()
}

#[cfg(test)]
#[path = "linux_tests.rs"]
mod tests;
