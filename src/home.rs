//! The home and every path in it, named once. The home is `BACH_HOME`
//! (default `$HOME/.bach`), created 0700 if missing, then resolved once with
//! `realpath`: that exact value is used everywhere and passed to watchers,
//! so every process of one home computes the same keys. Also this bach's
//! own executable and the working directory, each asked for in one place.

use crate::error::{reason, Error, Result};
use crate::text::{escape, has_control};
use std::path::{Path, PathBuf};

/// A resolved home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    path: PathBuf,
    text: String,
}

impl Home {
    /// The home that `BACH_HOME` or `HOME` names, created and resolved.
    pub fn open() -> Result<Home> {
        let path = locate()?;
        crate::files::ensure_dir(&path)?;
        let real = std::fs::canonicalize(&path).map_err(|e| Error::io("resolve", &path, &e))?;
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

/// The working directory.
pub fn cwd() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| Error::fail(format!("cannot read the working directory: {}", reason(&e))))
}

/// The path of this bach's executable (what watchers are spawned from).
pub fn exe() -> Result<PathBuf> {
    std::env::current_exe()
        .map_err(|e| Error::fail(format!("cannot find the path of bach itself: {}", reason(&e))))
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
        assert_eq!(h.records(Records::Sessions), Path::new("/h/.bach/sessions"));
        assert_eq!(h.daemon_state(), Path::new("/h/.bach/daemon.state"));
        assert_eq!(h.key("/a"), crate::key::of("/h/.bach", "/a"));
    }
}
