//! Spawning a watcher: detached (`setsid`), from `/`, with a reduced
//! environment (so it behaves the same whoever spawned it), stdin from
//! `/dev/null` and its output appended to its own log. Every spawner probes
//! the key's lock first: a held lock means the artifact is watched already.

use crate::home::Home;
use crate::{lock, log, sys};
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

/// Variables a watcher keeps from its spawner's environment.
const KEEP: &[&str] = &["HOME", "USER", "LOGNAME", "SHELL", "PATH", "TMPDIR", "TZ", "LANG"];

/// What a spawn did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spawned {
    /// A new watcher runs with this pid (it leads its own session and group).
    Started(i32),
    /// The key's lock is held already, by this pid: nothing was spawned.
    Held(i32),
}

/// Spawns the watcher of `key` unless its lock is held.
pub fn watcher(
    exe: &Path,
    home: &Home,
    key: &str,
    artifact: &str,
    log_max: u64,
) -> io::Result<Spawned> {
    // A lock that cannot even be probed is the watcher's to report.
    if let Ok(Some(holder)) = lock::holder(&home.lock(key)) {
        return Ok(Spawned::Held(holder));
    }
    let path = home.watch_log(key);
    log::rotate_if_larger(&path, log_max);
    let (out, err) = match log::open(&path).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
        Err(_) => (Stdio::null(), Stdio::null()),
    };
    let keep = |k: &OsString| k.to_str().is_some_and(|k| KEEP.contains(&k) || k.starts_with("LC_"));
    // The parent's copies of the log are dropped with `cmd` when this returns.
    let mut cmd = Command::new(exe);
    cmd.args(["internal", "session-watch", "--key", key, artifact]).current_dir("/").env_clear();
    cmd.envs(std::env::vars_os().filter(|(k, _)| keep(k))).env("BACH_HOME", home.path());
    sys::setsid_on_exec(&mut cmd);
    let child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn()?;
    Ok(Spawned::Started(child.id() as i32))
}
