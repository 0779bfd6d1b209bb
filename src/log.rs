//! Logs: one line per event with a UTC timestamp, size-rotated (`.1` to
//! `.3`). A log that cannot be written never stops supervision: the failure
//! is said once on stderr per streak, and again when it ends.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many rotated files are kept.
const KEEP: u32 = 3;

/// Rotates `path` when it is larger than `max`: `.2`→`.3`, `.1`→`.2`,
/// current→`.1`. Returns whether it did.
pub fn rotate_if_larger(path: &Path, max: u64) -> bool {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.len() > max) {
        return false;
    }
    let name = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
    for n in (1..KEEP).rev() {
        let _ = std::fs::rename(name(n), name(n + 1));
    }
    std::fs::rename(path, name(1)).is_ok()
}

/// A UTC time as `2026-11-25T04:31:14Z`.
pub fn utc(secs: u64) -> String {
    let days = secs / 86400;
    let (h, m, s) = (secs % 86400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil-from-days (Howard Hinnant's algorithm), for dates after 1970.
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// The daemon's log.
pub struct Log {
    path: PathBuf,
    file: Option<File>,
    max: u64,
    failing: bool,
}

impl Log {
    /// A log at `path`, rotated past `max` bytes; opened on first use.
    pub fn new(path: PathBuf, max: u64) -> Log {
        Log { path, file: None, max, failing: false }
    }

    /// Changes the rotation size (after a reload).
    pub fn set_max(&mut self, max: u64) {
        self.max = max;
    }

    /// Writes one line: timestamp, then `msg` (control characters escaped).
    pub fn line(&mut self, msg: &str) {
        let text = format!("{} {}\n", utc(crate::files::now()), crate::text::escape(msg));
        if rotate_if_larger(&self.path, self.max) || self.file.is_none() {
            self.file = crate::spawn::open_log(&self.path).ok();
        }
        let ok = self.file.as_mut().is_some_and(|f| f.write_all(text.as_bytes()).is_ok());
        if !ok {
            self.file = None;
        }
        if ok == self.failing {
            self.failing = !ok;
            let state = if ok { "works again" } else { "cannot be written" };
            eprintln!("bach: log {} {state}", self.path.display());
            if !ok {
                eprint!("{text}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_581_074), "2026-11-25T04:31:14Z");
    }

    #[test]
    fn rotation_keeps_three() {
        let d = std::env::temp_dir().join(format!("bach-log-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
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
}
