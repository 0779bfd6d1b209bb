//! The watcher's own log, `logs/watch-KEY.log`: rotated once it passes
//! `log_max_bytes`, with stdout and stderr moved to the new file. Its size
//! is looked at when it was written to (change notification says so), or
//! every 5 s where that is not watched.
//!
//! Invariant: only a log the watcher really writes to is rotated (not the
//! file of that name while it was started by hand in a terminal).

use crate::{log, sys};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the size is looked at when the log's writes are not watched.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The log and when its size is next looked at.
pub struct OwnLog {
    path: PathBuf,
    next_check: Instant,
    /// It was written to since its size was last looked at.
    pub written: bool,
}

impl OwnLog {
    /// The log at `path`, looked at first thing.
    pub fn new(path: PathBuf) -> OwnLog {
        OwnLog { path, next_check: Instant::now(), written: false }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether stdout writes to it.
    pub fn is_ours(&self) -> bool {
        let (out, log) = (std::fs::metadata("/dev/fd/1"), std::fs::metadata(&self.path));
        matches!((out, log), (Ok(a), Ok(b)) if (a.dev(), a.ino()) == (b.dev(), b.ino()))
    }

    /// Rotates it past `max` bytes, if it is ours and due: written to, or
    /// (when its writes are not `watched`) 5 s after the last look.
    pub fn rotate(&mut self, max: u64, watched: bool) {
        let written = std::mem::take(&mut self.written);
        if !written && (watched || Instant::now() < self.next_check) {
            return;
        }
        self.next_check = Instant::now() + CHECK_EVERY;
        if self.is_ours() && log::rotate_if_larger(&self.path, max) {
            if let Ok(f) = log::open(&self.path) {
                let _ = sys::dup2(f.as_fd(), 1).and_then(|()| sys::dup2(f.as_fd(), 2));
            }
        }
    }
}
