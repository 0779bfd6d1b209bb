//! Events on macOS: one kqueue holds every watched process (`EVFILT_PROC`)
//! and every watched path (`EVFILT_VNODE` on an `O_EVTONLY` descriptor).
//! Same functions as `linux.rs`. Written from Apple's man pages and the xnu
//! sources; there is no Mac here to run it.
//!
//! Invariant: `pids` holds exactly the pids with a filter in the kqueue,
//! and `paths` the descriptor of every live path watch (closing it removes
//! its filter), so an event for anything forgotten is dropped.

use super::{Fired, Kind, PidWatch, Watch};
use crate::sys;
use libc::{NOTE_ATTRIB, NOTE_DELETE, NOTE_EXTEND, NOTE_RENAME, NOTE_REVOKE, NOTE_WRITE};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

fn fflags(kind: Kind) -> u32 {
    match kind {
        // NOTE_WRITE on a folder: an entry was added, removed or renamed.
        Kind::Dir => NOTE_WRITE | NOTE_DELETE | NOTE_RENAME | NOTE_REVOKE,
        Kind::File => {
            NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_DELETE | NOTE_RENAME | NOTE_REVOKE
        }
    }
}

pub(super) struct Os {
    kq: OwnedFd,
    /// Lists, not maps: a few hundred entries at most, and each map type
    /// costs binary size.
    pids: Vec<i32>,
    paths: Vec<(Watch, OwnedFd)>,
}

impl Os {
    pub(super) fn new() -> io::Result<Os> {
        Ok(Os { kq: sys::kqueue()?, pids: Vec::new(), paths: Vec::new() })
    }

    pub(super) fn mechanism(&self) -> &'static str {
        "kqueue"
    }

    pub(super) fn watch_pid(&mut self, pid: i32) -> io::Result<PidWatch> {
        if self.pids.contains(&pid) {
            return Ok(PidWatch::Watched);
        }
        match sys::kevent_watch_pid(self.kq.as_fd(), pid) {
            Ok(()) => {
                self.pids.push(pid);
                Ok(PidWatch::Watched)
            }
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(PidWatch::Gone),
            Err(e) => Err(e),
        }
    }

    pub(super) fn forget_pid(&mut self, pid: i32) {
        if self.take_pid(pid) {
            // ENOENT when its exit fired meanwhile: nothing left to remove.
            let _ = sys::kevent_forget_pid(self.kq.as_fd(), pid);
        }
    }

    /// Takes `pid` out of the list; whether it was there.
    fn take_pid(&mut self, pid: i32) -> bool {
        let before = self.pids.len();
        self.pids.retain(|&p| p != pid);
        self.pids.len() != before
    }

    pub(super) fn watch_path(&mut self, path: &Path, kind: Kind, watch: Watch) -> io::Result<()> {
        let fd = sys::open_evtonly(path, kind == Kind::Dir)?;
        sys::kevent_watch_vnode(self.kq.as_fd(), fd.as_fd(), fflags(kind))?;
        self.paths.push((watch, fd));
        Ok(())
    }

    pub(super) fn forget_path(&mut self, watch: Watch) {
        self.paths.retain(|(w, _)| *w != watch);
    }

    pub(super) fn fds(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.kq.as_fd()]
    }

    pub(super) fn watched_pids(&self) -> usize {
        self.pids.len()
    }

    pub(super) fn drain(&mut self, out: &mut Vec<Fired>) -> io::Result<()> {
        let mut events = Vec::new();
        sys::kevent_drain(self.kq.as_fd(), &mut events)?;
        for (filter, ident) in events {
            if filter == libc::EVFILT_PROC {
                // The kernel removed the filter as it fired (EV_ONESHOT).
                let pid = ident as i32;
                if self.take_pid(pid) {
                    out.push(Fired::Exited(pid));
                }
            } else if filter == libc::EVFILT_VNODE {
                let watch = self.paths.iter().find(|(_, fd)| fd.as_raw_fd() as usize == ident);
                out.extend(watch.map(|&(w, _)| Fired::Changed(w)));
            }
        }
        Ok(())
    }
}
