//! Logs and warnings: one line per event with a UTC timestamp, size-rotated
//! (`.1` to `.3`). Invariant: nothing written here can panic or block, so a
//! full disk, a closed stderr or a FIFO where a log should be never stops
//! supervision: a log is opened `O_NONBLOCK|O_NOFOLLOW` and used only when
//! it is a regular file, and every write ignores its error (std's printing
//! macros would panic). A log that cannot be written is said once per streak.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How many rotated files are kept.
const KEEP: u32 = 3;

/// Writes `text` to stdout, ignoring failure: a reader that went away
/// (`| head`) ends the output quietly instead of a panic.
pub fn stdout(text: &str) {
    let _ = io::stdout().write_all(text.as_bytes());
}

/// Writes `text` to stderr, ignoring failure.
pub fn stderr(text: &str) {
    let _ = io::stderr().write_all(text.as_bytes());
}

/// A command's warning on stderr: `bach: warning: MSG`.
pub fn warn(msg: &str) {
    stderr(&format!("bach: warning: {msg}\n"));
}

/// A command's note on stderr: `bach: note: MSG`.
pub fn note(msg: &str) {
    stderr(&format!("bach: note: {msg}\n"));
}

/// One timestamped line on stderr, which is a watcher's log.
pub fn stamped(msg: &str) {
    stderr(&line(msg));
}

/// A log line: UTC time, then `msg` with control characters escaped.
fn line(msg: &str) -> String {
    format!("{} {}\n", crate::time::utc(crate::time::now()), crate::text::escape(msg))
}

/// Opens a log for appending (0600), creating its folder; refuses what is
/// not a regular file (a FIFO would block a writer; a symlink could point
/// anywhere).
pub fn open(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let file =
        OpenOptions::new().append(true).create(true).mode(0o600).custom_flags(flags).open(path)?;
    match file.metadata()?.is_file() {
        true => Ok(file),
        false => Err(io::Error::new(io::ErrorKind::InvalidInput, "is not a regular file")),
    }
}

/// Rotates `path` when it is larger than `max`: `.2`→`.3`, `.1`→`.2`,
/// current→`.1`. Returns whether it did.
pub fn rotate_if_larger(path: &Path, max: u64) -> bool {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() > max) {
        return false;
    }
    let name = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
    for n in (1..KEEP).rev() {
        let _ = std::fs::rename(name(n), name(n + 1));
    }
    std::fs::rename(path, name(1)).is_ok()
}

/// The daemon's log.
pub struct Log {
    path: PathBuf,
    file: Option<File>,
    max: u64,
    failing: bool,
    /// Started in a terminal: each line is shown there as well.
    echo: bool,
}

impl Log {
    /// A log at `path`, rotated past `max` bytes; opened on first use. When
    /// stderr is a terminal (`bach daemon run` typed by hand), every line is
    /// also written there, as a person trying it out expects.
    pub fn new(path: PathBuf, max: u64) -> Log {
        use std::io::IsTerminal;
        Log { path, file: None, max, failing: false, echo: io::stderr().is_terminal() }
    }

    /// Changes the rotation size (after a reload).
    pub fn set_max(&mut self, max: u64) {
        self.max = max;
    }

    /// Writes one line: timestamp, then `msg` (control characters escaped).
    pub fn line(&mut self, msg: &str) {
        let text = line(msg);
        if rotate_if_larger(&self.path, self.max) || self.file.is_none() {
            self.file = open(&self.path).ok();
        }
        if self.echo {
            stderr(&text);
        }
        let ok = self.file.as_mut().is_some_and(|f| f.write_all(text.as_bytes()).is_ok());
        if !ok {
            self.file = None;
        }
        if ok == self.failing {
            self.failing = !ok;
            let state = if ok { "works again" } else { "cannot be written" };
            stderr(&format!("bach: log {} {state}\n", self.path.display()));
            if !ok && !self.echo {
                stderr(&text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bach-log-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn rotation_keeps_three() {
        let d = dir("rotate");
        let p = d.join("x.log");
        for i in 0..5 {
            std::fs::write(&p, format!("{i}{}", "x".repeat(10))).unwrap();
            assert!(rotate_if_larger(&p, 5));
        }
        assert!(!rotate_if_larger(&p, 5), "a missing log is not rotated");
        let first =
            |n| std::fs::read_to_string(d.join(format!("x.log.{n}"))).unwrap().chars().next();
        assert_eq!((first(1), first(2), first(3)), (Some('4'), Some('3'), Some('2')));
        assert!(!d.join("x.log.4").exists());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_fifo_or_a_folder_is_never_a_log_and_never_blocks() {
        let _reaping = crate::testing::children();
        let d = dir("fifo");
        let fifo = d.join("fifo.log");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(open(&fifo).is_err(), "no reader: the non-blocking open fails at once");
        std::fs::create_dir(d.join("dir.log")).unwrap();
        assert!(open(&d.join("dir.log")).is_err());
        let mut log = Log::new(fifo, 1 << 20);
        log.line("goes nowhere, and returns");
        assert!(log.failing);
        std::fs::remove_dir_all(d).unwrap();
    }
}
