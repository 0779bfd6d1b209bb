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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bach-lock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Another process holding the lock at `path`: this test binary, run as
    /// `hold_in_a_child` (fcntl locks are per process, so a thread cannot).
    struct Holder(Child);

    impl Holder {
        fn start(path: &Path) -> Holder {
            let exe = std::env::current_exe().unwrap();
            let mut child = Command::new(exe)
                .args(["--exact", "lock::tests::hold_in_a_child", "--ignored", "--nocapture"])
                .env("BACH_TEST_HOLD", path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            // The test harness speaks first; "held" comes once the lock is.
            let out = BufReader::new(child.stdout.take().unwrap());
            let said: Vec<String> =
                out.lines().map_while(|l| l.ok()).take(20).take_while(|l| l != "held").collect();
            assert!(said.len() < 20, "the child never said it held the lock: {said:?}");
            Holder(child)
        }
    }

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = sys::kill(self.0.id() as i32, libc::SIGKILL);
            let _ = self.0.wait();
        }
    }

    #[test]
    #[ignore = "run in a child process by the lock tests"]
    fn hold_in_a_child() {
        let Some(path) = std::env::var_os("BACH_TEST_HOLD") else { return };
        let Ok(Taken::Held(_held)) = acquire(Path::new(&path)) else { panic!("not taken") };
        println!("held");
        // Until the parent closes our stdin (or kills us).
        let _ = std::io::stdin().read_line(&mut String::new());
    }

    #[test]
    fn a_held_lock_is_busy_for_others_and_names_its_holder() {
        let _children = crate::testing::children();
        let d = dir("busy");
        let path = d.join("k.lock");
        let child = Holder::start(&path);
        let pid = child.0.id() as i32;
        assert_eq!(holder(&path).unwrap(), Some(pid));
        assert!(matches!(acquire(&path).unwrap(), Taken::Busy(Some(p)) if p == pid));
        drop(child);
        let Taken::Held(mut held) = acquire(&path).unwrap() else {
            panic!("free after its holder died")
        };
        held.write_pid().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", sys::getpid()));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn no_file_is_no_holder_and_odd_files_are_errors() {
        let d = dir("odd");
        assert_eq!(holder(&d.join("missing.lock")).unwrap(), None);
        std::fs::create_dir(d.join("dir.lock")).unwrap();
        assert!(holder(&d.join("dir.lock")).is_err());
        assert!(acquire(&d.join("dir.lock")).is_err(), "a folder cannot be locked");
        std::os::unix::fs::symlink(d.join("elsewhere"), d.join("link.lock")).unwrap();
        assert!(acquire(&d.join("link.lock")).is_err(), "a symlink is not followed");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_lock_file_replaced_under_its_holder_is_noticed() {
        let d = dir("replaced");
        let path = d.join("k.lock");
        let Taken::Held(held) = acquire(&path).unwrap() else { panic!("taken") };
        assert!(held.still_at_path());
        std::fs::remove_file(&path).unwrap();
        assert!(!held.still_at_path(), "removed");
        std::fs::write(&path, b"").unwrap();
        assert!(!held.still_at_path(), "another file at the path");
        std::fs::remove_dir_all(d).unwrap();
    }
}
