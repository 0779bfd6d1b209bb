//! The home and every path in it, named once. The home is `BACH_HOME`
//! (default `$HOME/.bach`), created 0700 if missing, then resolved once with
//! `realpath`: that exact value is used everywhere and passed to watchers,
//! so every process of one home computes the same keys. Also this bach's
//! own executable and the working directory, each asked for in one place.

use crate::error::{reason, Error, Result};
use crate::text::{escape, has_control};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A resolved home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    path: PathBuf,
    text: String,
}

impl Home {
    /// The home that `BACH_HOME` or `HOME` names, created and resolved.
    /// A home owned by another user than the effective one is refused, so a
    /// `sudo bach ...` never leaves root-owned records in a user's store.
    pub fn open() -> Result<Home> {
        let path = locate()?;
        crate::files::ensure_dir(&path)?;
        let real = std::fs::canonicalize(&path).map_err(|e| Error::io("resolve", &path, &e))?;
        let owner = std::fs::metadata(&real).map_err(|e| Error::io("read", &real, &e))?.uid();
        let me = crate::sys::geteuid();
        if owner != me {
            return Err(Error::fail(format!(
                "home {} belongs to uid {owner}, not to this user (uid {me}); run bach as its owner",
                escape(&real.to_string_lossy())
            )));
        }
        match real.to_str() {
            Some(s) if !has_control(s) => Ok(Home::at(real.clone())),
            _ => Err(Error::fail(format!(
                "home {} must be UTF-8 without control characters",
                escape(&real.to_string_lossy())
            ))),
        }
    }

    /// A home at `path`, taken as it is (already resolved).
    pub fn at(path: PathBuf) -> Home {
        let text = path.to_string_lossy().into_owned();
        Home { path, text }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder as text (UTF-8 by construction).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key of `artifact` in this home.
    pub fn key(&self, artifact: &str) -> String {
        crate::key::of(&self.text, artifact)
    }

    /// `config`
    pub fn config(&self) -> PathBuf {
        self.path.join("config")
    }

    /// `daemon.lock`, the single-instance lock.
    pub fn daemon_lock(&self) -> PathBuf {
        self.path.join("daemon.lock")
    }

    /// `daemon.state`, what the daemon publishes.
    pub fn daemon_state(&self) -> PathBuf {
        self.path.join("daemon.state")
    }

    /// `sessions/` or `tasks/`.
    pub fn records(&self, kind: Records) -> PathBuf {
        self.path.join(kind.folder())
    }

    /// `watch/`, the watchers' locks and status files.
    pub fn watch(&self) -> PathBuf {
        self.path.join("watch")
    }

    /// `logs/`
    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// `logs/daemon.log`
    pub fn daemon_log(&self) -> PathBuf {
        self.logs().join("daemon.log")
    }

    /// `watch/KEY.lock`, held by the watcher of one artifact for its life.
    pub fn lock(&self, key: &str) -> PathBuf {
        self.watch().join(format!("{key}.lock"))
    }

    /// `watch/KEY.status`, what that watcher last observed.
    pub fn status(&self, key: &str) -> PathBuf {
        self.watch().join(format!("{key}.status"))
    }

    /// `watch/KEY.hint`, the last Claude Code Notification or Stop hook
    /// for that artifact (`hint`, `hint_at`).
    pub fn hint(&self, key: &str) -> PathBuf {
        self.watch().join(format!("{key}.hint"))
    }

    /// `logs/watch-KEY.log`, that watcher's output.
    pub fn watch_log(&self, key: &str) -> PathBuf {
        self.logs().join(format!("watch-{key}.log"))
    }

    /// `logs/hook.log`, what `bach hook` could not do.
    pub fn hook_log(&self) -> PathBuf {
        self.logs().join("hook.log")
    }
}

impl Home {
    /// Whether the home's file system gives what bach stands on: `fcntl`
    /// locks (one watcher per artifact, one daemon per home) and hard links
    /// (a new record never overwrites another). Probed on a temporary file;
    /// `Err` says what is missing and what to do. `BACH_TEST_FS_LACKS=locks`
    /// or `=links` (for tests only) makes the probe say that is missing.
    pub fn probe(&self) -> std::result::Result<(), String> {
        let lacks = std::env::var("BACH_TEST_FS_LACKS").unwrap_or_default();
        let tmp =
            self.path.join(format!(".probe.{}{}", std::process::id(), crate::files::TEMP_SUFFIX));
        let result = probe_file(&tmp, &lacks);
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(tmp.with_extension("link"));
        result.map_err(|what| {
            format!(
                "{} is on a file system without {what}, which bach needs; set BACH_HOME to a \
                 folder on a local disk (APFS, ext4, ...)",
                self.text
            )
        })
    }
}

/// Locks and links a fresh file at `tmp`; `Err` names what failed.
fn probe_file(tmp: &Path, lacks: &str) -> std::result::Result<(), &'static str> {
    use std::os::fd::AsFd;
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(tmp);
    let file = file.map_err(|_| "files bach can create")?;
    let locked = crate::sys::try_lock(file.as_fd());
    if lacks == "locks" || !matches!(locked, Ok(crate::sys::Lock::Taken)) {
        return Err("fcntl locks");
    }
    if lacks == "links" || std::fs::hard_link(tmp, tmp.with_extension("link")).is_err() {
        return Err("hard links");
    }
    Ok(())
}

/// The two kinds of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// `tasks/`
    Tasks,
    /// `sessions/`
    Sessions,
}

impl Records {
    /// The folder's name.
    pub fn folder(self) -> &'static str {
        match self {
            Records::Tasks => "tasks",
            Records::Sessions => "sessions",
        }
    }

    /// One record, as errors name it.
    pub fn one(self) -> &'static str {
        match self {
            Records::Tasks => "task",
            Records::Sessions => "session",
        }
    }
}

/// Where the home is, made absolute but neither created nor resolved (for
/// `install --dry-run`, which must change nothing).
pub fn locate() -> Result<PathBuf> {
    let var = |k| std::env::var_os(k).filter(|v| !v.is_empty());
    let path = match (var("BACH_HOME"), var("HOME")) {
        (Some(h), _) => PathBuf::from(h),
        (None, Some(h)) => PathBuf::from(h).join(".bach"),
        (None, None) => return Err(Error::fail("neither BACH_HOME nor HOME is set")),
    };
    Ok(if path.is_absolute() { path } else { cwd()?.join(path) })
}

/// The working directory as the user's shell names it: `$PWD` when it is
/// the same folder as `.` (same device and inode), else the kernel's path.
/// On macOS `/tmp` is `/private/tmp` to the kernel, while an agent started
/// there reports `/tmp/...`: both must give one artifact, one key.
pub fn cwd() -> Result<PathBuf> {
    let real = std::env::current_dir()
        .map_err(|e| Error::fail(format!("cannot read the working directory: {}", reason(&e))))?;
    let pwd = std::env::var_os("PWD").map(PathBuf::from).filter(|p| p.is_absolute());
    Ok(pwd.filter(|p| same_folder(p, Path::new("."))).unwrap_or(real))
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.is_dir() && (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => false,
    }
}

/// The path of this bach's executable (what watchers are spawned from).
pub fn exe() -> Result<PathBuf> {
    std::env::current_exe()
        .map_err(|e| Error::fail(format!("cannot find the path of bach itself: {}", reason(&e))))
}

/// The first `bach` in an absolute `PATH` entry that `is_this` says is this
/// executable: the unresolved path (`/opt/homebrew/bin/bach`, not the
/// versioned `/opt/homebrew/Cellar/bach/0.1.0/bin/bach` it links to), which
/// still names bach after an upgrade.
pub fn on_path(path: &str, is_this: impl Fn(&Path) -> bool) -> Option<std::path::PathBuf> {
    let dirs = path.split(':').map(Path::new).filter(|d| d.is_absolute());
    dirs.map(|d| d.join("bach")).find(|p| is_this(p))
}

/// This bach as `PATH` names it where it is there (the unresolved path, so
/// a service file or a hook keeps working after an upgrade), else `exe`.
/// `current_exe` may be resolved (Linux) or not (macOS): both sides are
/// compared resolved.
pub fn named_on(path: &str, exe: PathBuf) -> PathBuf {
    let real = std::fs::canonicalize(&exe).ok();
    let same = |p: &Path| real.is_some() && std::fs::canonicalize(p).ok() == real;
    on_path(path, same).unwrap_or(exe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_lies_in_the_home() {
        let h = Home::at(PathBuf::from("/h/.bach"));
        assert_eq!(h.lock("k"), Path::new("/h/.bach/watch/k.lock"));
        assert_eq!(h.status("k"), Path::new("/h/.bach/watch/k.status"));
        assert_eq!(h.watch_log("k"), Path::new("/h/.bach/logs/watch-k.log"));
        assert_eq!(h.hook_log(), Path::new("/h/.bach/logs/hook.log"));
        assert_eq!(h.hint("k"), Path::new("/h/.bach/watch/k.hint"));
        assert_eq!(h.records(Records::Sessions), Path::new("/h/.bach/sessions"));
        assert_eq!(h.daemon_state(), Path::new("/h/.bach/daemon.state"));
        assert_eq!(h.key("/a"), crate::key::of("/h/.bach", "/a"));
    }

    #[test]
    fn a_home_on_a_local_disk_has_locks_and_links_and_the_probe_leaves_nothing() {
        let d = std::env::temp_dir().join(format!("bach-probe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        assert_eq!(Home::at(d.clone()).probe(), Ok(()));
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "nothing left behind");
        let no = |lacks| probe_file(&d.join(format!("p.{lacks}")), lacks);
        assert_eq!(no("locks"), Err("fcntl locks"));
        assert_eq!(no("links"), Err("hard links"));
        std::fs::remove_dir_all(d).unwrap();
    }
}
