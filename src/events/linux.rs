//! Events on Linux: a pidfd per watched process and one inotify instance
//! for every watched path, all behind one epoll descriptor (so the caller's
//! `poll()` costs the same for two hundred handles as for none). Same
//! functions as `apple.rs`.
//!
//! Invariant: every open pidfd is in `pids` and in the epoll set, and every
//! live watch descriptor in `wds`; an entry leaves the moment its handle is
//! closed (which also takes it out of the epoll set) or the kernel drops it
//! (`IN_IGNORED`), so a stale descriptor is never reported.

use super::{Fired, Kind, PidWatch, Watch};
use crate::sys;
use libc::{
    IN_ATTRIB, IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MODIFY, IN_MOVED_FROM, IN_MOVED_TO,
};
use libc::{IN_IGNORED, IN_MASK_CREATE, IN_MOVE_SELF, IN_ONLYDIR, IN_Q_OVERFLOW};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

fn mask(kind: Kind) -> u32 {
    match kind {
        Kind::Dir => {
            IN_CREATE
                | IN_MOVED_TO
                | IN_MOVED_FROM
                | IN_DELETE
                | IN_DELETE_SELF
                | IN_MOVE_SELF
                | IN_ONLYDIR
        }
        Kind::File => IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF,
    }
}

/// The epoll data that stands for the inotify instance (a pid's is the pid).
const INOTIFY: u64 = u64::MAX;

pub(super) struct Os {
    epoll: OwnedFd,
    inotify: OwnedFd,
    /// Why `pidfd_open` cannot be used (its errno), probed once at start.
    no_pidfd: Option<i32>,
    /// Lists, not maps: a few hundred entries at most, and each map type
    /// costs binary size.
    pids: Vec<(i32, OwnedFd)>,
    wds: Vec<(i32, Watch, Kind)>,
}

impl Os {
    pub(super) fn new() -> io::Result<Os> {
        let inotify = sys::inotify_init().map_err(|e| match e.raw_os_error() {
            // Not this process's descriptors: the user's inotify instances
            // (128 by default, shared by all of the user's programs).
            Some(libc::EMFILE) => io::Error::other(
                "all of this user's inotify instances are in use (fs.inotify.max_user_instances)",
            ),
            _ => e,
        })?;
        let epoll = sys::epoll_create()?;
        sys::epoll_add(epoll.as_fd(), inotify.as_fd(), INOTIFY)?;
        // Our own pid always exists: a failure means no pidfds at all (a
        // kernel older than 5.3, or a sandbox that forbids the call).
        let no_pidfd =
            sys::pidfd_open(sys::getpid()).err().map(|e| e.raw_os_error().unwrap_or(libc::ENOSYS));
        Ok(Os { epoll, inotify, no_pidfd, pids: Vec::new(), wds: Vec::new() })
    }

    pub(super) fn mechanism(&self) -> &'static str {
        match self.no_pidfd {
            None => "pidfd+inotify",
            Some(_) => "inotify",
        }
    }

    pub(super) fn watch_pid(&mut self, pid: i32) -> io::Result<PidWatch> {
        if self.pids.iter().any(|(p, _)| *p == pid) {
            return Ok(PidWatch::Watched);
        }
        if let Some(errno) = self.no_pidfd {
            return Err(io::Error::from_raw_os_error(errno));
        }
        match sys::pidfd_open(pid) {
            Ok(fd) => {
                sys::epoll_add(self.epoll.as_fd(), fd.as_fd(), pid as u64)?;
                self.pids.push((pid, fd));
                Ok(PidWatch::Watched)
            }
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(PidWatch::Gone),
            Err(e) => Err(e),
        }
    }

    pub(super) fn forget_pid(&mut self, pid: i32) {
        self.pids.retain(|(p, _)| *p != pid);
    }

    pub(super) fn watch_path(&mut self, path: &Path, kind: Kind, watch: Watch) -> io::Result<()> {
        // IN_MASK_CREATE (Linux 4.18): never silently replace the mask of
        // a watch this inode already has; older kernels ignore the bit.
        let wd =
            match sys::inotify_add_watch(self.inotify.as_fd(), path, mask(kind) | IN_MASK_CREATE) {
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Err(already(path)),
                wd => wd?,
            };
        if let Some(&(_, _, old)) = self.wds.iter().find(|(w, _, _)| *w == wd) {
            // An older kernel replaced the mask: put the first one back.
            let _ = sys::inotify_add_watch(self.inotify.as_fd(), path, mask(old));
            return Err(already(path));
        }
        self.wds.push((wd, watch, kind));
        Ok(())
    }

    pub(super) fn forget_path(&mut self, watch: Watch) {
        let inotify = self.inotify.as_fd();
        self.wds.retain(|&(wd, w, _)| {
            if w == watch {
                // EINVAL when the kernel dropped it already: nothing left to do.
                let _ = sys::inotify_rm_watch(inotify, wd);
            }
            w != watch
        });
    }

    pub(super) fn fds(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.epoll.as_fd()]
    }

    pub(super) fn watched_pids(&self) -> usize {
        self.pids.len()
    }

    pub(super) fn drain(&mut self, out: &mut Vec<Fired>) -> io::Result<()> {
        self.drain_pids(out)?;
        // Room for at least one record with the longest name (16 + 256).
        let mut buf = [0u8; 4096];
        loop {
            let n = match sys::read_ready(self.inotify.as_fd(), &mut buf)? {
                sys::Ready::Data(n) => n,
                sys::Ready::Empty | sys::Ready::End => return Ok(()),
            };
            for event in sys::inotify_events(&buf[..n]) {
                self.note(event.wd, event.mask, out);
            }
        }
    }

    fn note(&mut self, wd: i32, mask: u32, out: &mut Vec<Fired>) {
        if mask & IN_Q_OVERFLOW != 0 {
            out.push(Fired::Overflow);
            return;
        }
        let Some(&(_, watch, _)) = self.wds.iter().find(|(w, _, _)| *w == wd) else { return };
        if mask & IN_IGNORED != 0 {
            self.wds.retain(|(w, _, _)| *w != wd);
        }
        out.push(Fired::Changed(watch));
    }

    /// Every pidfd the epoll set says is readable now is an exit: report
    /// and close it.
    fn drain_pids(&mut self, out: &mut Vec<Fired>) -> io::Result<()> {
        if self.pids.is_empty() {
            return Ok(());
        }
        let mut ready = Vec::new();
        sys::epoll_ready(self.epoll.as_fd(), &mut ready)?;
        self.pids.retain(|&(pid, _)| {
            let exited = ready.contains(&(pid as u64));
            if exited {
                out.push(Fired::Exited(pid));
            }
            !exited
        });
        Ok(())
    }
}

fn already(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, format!("{} is watched already", path.display()))
}
