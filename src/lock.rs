//! The kernel locks that make bach's invariants hold: `daemon.lock` (one
//! daemon per home) and `watch/KEY.lock` (one watcher per artifact).
//! `fcntl` locks, because `F_GETLK` names the holder's pid, and they vanish
//! with their process: there is never a stale lock to reclaim.
//!
//! Caveat that shapes the code: closing *any* descriptor of a locked file
//! drops the process's lock, so a holder never opens its own lock file again.

use crate::error::{Error, Result};
use crate::sys;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A lock this process holds for as long as the value lives.
#[derive(Debug)]
pub struct Held {
    file: File,
    path: PathBuf,
}

/// What taking a lock found.
#[derive(Debug)]
pub enum Taken {
    /// We hold it.
    Held(Held),
    /// Another process holds it; its pid when the kernel could tell.
    Busy(Option<i32>),
}

/// Opens a lock file (created 0600 when `create`) without following a
/// symlink or blocking.
fn open(path: &Path, create: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(create).truncate(false).mode(0o600);
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)
}

/// Takes the lock at `path` without waiting (the file is created 0600).
pub fn acquire(path: &Path) -> Result<Taken> {
    let file = open(path, true).map_err(|e| Error::io("open", path, &e))?;
    match sys::try_lock(file.as_fd()).map_err(|e| Error::io("lock", path, &e))? {
        sys::Lock::Taken => Ok(Taken::Held(Held { file, path: path.to_path_buf() })),
        sys::Lock::Busy => Ok(Taken::Busy(sys::lock_holder(file.as_fd()).ok().flatten())),
    }
}

/// The pid holding the lock at `path`, or `None` when nobody does (or the
/// file does not exist). Never call this on a lock the caller holds.
pub fn holder(path: &Path) -> io::Result<Option<i32>> {
    let file = match open(path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "is not a regular file"));
    }
    sys::lock_holder(file.as_fd())
}

impl Held {
    /// Writes our pid into the lock file, for humans (never trusted).
    pub fn write_pid(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.write_all_at(format!("{}\n", sys::getpid()).as_bytes(), 0)
    }

    /// Whether the file we locked is still the one at the path (it could
    /// have been removed and replaced by a cleaner, which takes the lock).
    pub fn still_at_path(&self) -> bool {
        let ours = self.file.metadata();
        let now = std::fs::symlink_metadata(&self.path);
        matches!((ours, now), (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino())
    }
}
