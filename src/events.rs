//! Events, not polling: one [`Events`] owns every handle that can wake
//! bach (Linux: a pidfd per process and one inotify instance; macOS: one
//! kqueue), hands the caller the descriptors for its one `poll()`, and turns
//! what fired into [`Fired`] values.
//!
//! Invariant: a handle lives exactly as long as its entry here. Forgotten,
//! reported as exited, or failing its identity check, it is closed at once,
//! so watching thousands of processes one after another leaks nothing.
//!
//! Where events are unavailable, [`Events::new`] fails and the caller polls
//! instead. Tests force that with `BACH_TEST_NO_EVENTS` (see [`NO_EVENTS`]).

use crate::sys;
use std::ffi::OsStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

#[cfg(target_vendor = "apple")]
mod apple;
#[cfg(target_vendor = "apple")]
use apple as os;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as os;

/// Test-only: while this environment variable is set (to anything),
/// [`Events::new`] fails with "disabled by BACH_TEST_NO_EVENTS", so the
/// tests can drive the polling fallback on a machine that has events.
pub const NO_EVENTS: &str = "BACH_TEST_NO_EVENTS";

/// One watched file or folder, as [`Events::watch_dir`] and
/// [`Events::watch_file`] returned it. Never reused within one `Events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Watch(u64);

/// Something that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// The watched process exited; its handle is closed already.
    Exited(i32),
    /// The watched file or folder changed, or was itself deleted or moved
    /// (then forget it and watch the path again to follow its successor).
    Changed(Watch),
    /// The kernel dropped events: re-read everything that is watched.
    Overflow,
}

/// What [`Events::watch_pid`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidWatch {
    /// A handle is open; [`Fired::Exited`] comes when the process ends.
    Watched,
    /// The process had exited already (or is not the one named): no handle.
    Gone,
}

/// What a path watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Entries created, moved in or out, deleted; the folder itself
    /// deleted or moved. Writes to the files inside do not count.
    Dir,
    /// Writes, appends, attribute changes; the file deleted or moved.
    File,
}

/// Every handle that can wake the caller's `poll()`.
pub struct Events {
    os: os::Os,
    next: u64,
}

impl Events {
    /// Opens the notification mechanism (fails when `BACH_TEST_NO_EVENTS`
    /// is set, or when the kernel refuses, e.g. out of descriptors).
    pub fn new() -> io::Result<Events> {
        refuse_if_disabled(std::env::var_os(NO_EVENTS).as_deref())?;
        Ok(Events { os: os::Os::new()?, next: 0 })
    }

    /// `"pidfd+inotify"`, `"inotify"` (Linux older than 5.3: processes are
    /// not watched) or `"kqueue"`: for `daemon status` and `doctor`.
    pub fn mechanism(&self) -> &'static str {
        self.os.mechanism()
    }

    /// Opens a handle on process `pid` (> 0); watching it twice is one
    /// handle. It does not check who `pid` is: see
    /// [`Events::watch_pid_checked`].
    pub fn watch_pid(&mut self, pid: i32) -> io::Result<PidWatch> {
        if pid <= 0 {
            let msg = format!("cannot watch pid {pid}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        self.os.watch_pid(pid)
    }

    /// Opens a handle on process `pid`, then confirms it is the one with
    /// this effective `uid` and `start` ([`sys::ProcStat::start`]). Opened
    /// first and confirmed after, so a pid reused in between is caught: a
    /// mismatch, or a process gone meanwhile, closes the handle and is
    /// `Gone`.
    pub fn watch_pid_checked(&mut self, pid: i32, uid: u32, start: u64) -> io::Result<PidWatch> {
        if self.watch_pid(pid)? == PidWatch::Gone {
            return Ok(PidWatch::Gone);
        }
        let other = match sys::proc_stat(pid) {
            Ok(st) if st.uid == uid && st.start == start => return Ok(PidWatch::Watched),
            Ok(_) => Ok(PidWatch::Gone),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(PidWatch::Gone),
            Err(e) => Err(e),
        };
        self.forget_pid(pid);
        other
    }

    /// Closes the handle on process `pid`, if there is one.
    pub fn forget_pid(&mut self, pid: i32) {
        self.os.forget_pid(pid);
    }

    /// Watches folder `path` for entries created, moved in, moved out or
    /// deleted, and for the folder itself being deleted or moved (so a
    /// replaced folder is noticed). Writes to the files inside do not wake
    /// it. On Linux `AlreadyExists` when this inode is watched already
    /// (inotify keeps one watch per inode; kqueue one per descriptor).
    pub fn watch_dir(&mut self, path: &Path) -> io::Result<Watch> {
        self.watch(path, Kind::Dir)
    }

    /// Watches file `path` for writes, appends, attribute changes, and for
    /// being deleted or moved. On Linux `AlreadyExists` when this inode is
    /// watched already.
    pub fn watch_file(&mut self, path: &Path) -> io::Result<Watch> {
        self.watch(path, Kind::File)
    }

    fn watch(&mut self, path: &Path, kind: Kind) -> io::Result<Watch> {
        let watch = Watch(self.next);
        self.os.watch_path(path, kind, watch)?;
        self.next += 1;
        Ok(watch)
    }

    /// Stops watching; nothing of it is reported after this (on Linux the
    /// kernel's acknowledgement may wake the next `poll()` once, and
    /// [`Events::drain`] then reports nothing).
    pub fn forget(&mut self, watch: Watch) {
        self.os.forget_path(watch);
    }

    /// How many processes have a handle open now.
    pub fn watched_pids(&self) -> usize {
        self.os.watched_pids()
    }

    /// Every descriptor to add to the caller's one `poll()` (read
    /// readiness): one, whatever is watched (epoll on Linux, the kqueue on
    /// macOS).
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.os.fds()
    }

    /// Everything that fired since the last call, each once, read without
    /// waiting from every descriptor (call it when any of [`Events::fds`]
    /// was ready; an empty list is fine).
    pub fn drain(&mut self) -> io::Result<Vec<Fired>> {
        let mut fired = Vec::new();
        self.os.drain(&mut fired)?;
        let mut once: Vec<Fired> = Vec::with_capacity(fired.len());
        for f in fired {
            if !once.contains(&f) {
                once.push(f);
            }
        }
        Ok(once)
    }
}

/// The test switch: `Err` while `BACH_TEST_NO_EVENTS` has any value.
fn refuse_if_disabled(switch: Option<&OsStr>) -> io::Result<()> {
    match switch {
        Some(_) => {
            Err(io::Error::new(io::ErrorKind::Unsupported, format!("disabled by {NO_EVENTS}")))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
