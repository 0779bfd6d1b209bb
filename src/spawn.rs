//! Spawning a watcher: detached (`setsid`), from `/`, with a reduced
//! environment (so it behaves the same whoever spawned it), stdin from
//! `/dev/null` and its output appended to its own log. Every spawner probes
//! the key's lock first: a held lock means the artifact is watched already.

use crate::ps::{self, Proc};
use crate::{lock, sys};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Variables a watcher keeps from its spawner's environment.
const KEEP: &[&str] = &["HOME", "USER", "LOGNAME", "SHELL", "PATH", "TMPDIR", "TZ", "LANG"];

/// The lock file of a key in `home`.
pub fn lock_path(home: &Path, key: &str) -> PathBuf {
    home.join("watch").join(format!("{key}.lock"))
}

/// The status file of a key.
pub fn status_path(home: &Path, key: &str) -> PathBuf {
    home.join("watch").join(format!("{key}.status"))
}

/// The log file of a key's watcher.
pub fn log_path(home: &Path, key: &str) -> PathBuf {
    home.join("logs").join(format!("watch-{key}.log"))
}

/// Opens a log for appending (0600), creating its folder.
pub fn open_log(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Spawns the watcher of `key` unless its lock is held. Returns the new
/// watcher's pid, or `Err` with the holder's when it is watched already.
pub fn spawn_watcher(
    exe: &Path,
    home: &Path,
    key: &str,
    artifact: &str,
    log_max: u64,
) -> io::Result<Result<u32, i32>> {
    // A lock that cannot even be probed is the watcher's to report.
    if let Ok(Some(holder)) = lock::holder(&lock_path(home, key)) {
        return Ok(Err(holder));
    }
    let log = log_path(home, key);
    crate::log::rotate_if_larger(&log, log_max);
    let (out, err) = match open_log(&log).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
        Err(_) => (Stdio::null(), Stdio::null()),
    };
    let keep = |k: &OsString| k.to_str().is_some_and(|k| KEEP.contains(&k) || k.starts_with("LC_"));
    // The parent's copies of the log are dropped with `cmd` when this returns.
    let mut cmd = Command::new(exe);
    cmd.args(["internal", "session-watch", "--key", key, artifact]).current_dir("/").env_clear();
    cmd.envs(std::env::vars_os().filter(|(k, _)| keep(k))).env("BACH_HOME", home);
    sys::setsid_on_exec(&mut cmd);
    let child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn()?;
    Ok(Ok(child.id()))
}

/// Sends `sig` to the watcher of `key` if it may: the lock holder, only when
/// its pid is greater than 1 and `ps` shows it with our uid and exactly that
/// watcher's command line; through its process group when it leads one (its
/// judge goes too). Returns the pid signalled.
pub fn signal_watcher(home: &Path, key: &str, procs: &[Proc], sig: libc::c_int) -> Option<i32> {
    let pid = lock::holder(&lock_path(home, key)).ok().flatten().filter(|&p| p > 1)?;
    let p = ps::find(procs, pid).filter(|p| p.uid == sys::getuid() && !p.zombie)?;
    ps::watcher_command(&p.command).filter(|(k, _)| *k == key)?;
    let sent = if p.pgid == pid { sys::killpg(pid, sig) } else { sys::kill(pid, sig) };
    sent.ok().map(|()| pid)
}
