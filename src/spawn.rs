//! Spawning a watcher: detached (`setsid`), from `/`, with a reduced
//! environment (so it behaves the same whoever spawned it), stdin from
//! `/dev/null` and its output appended to its own log. Every spawner probes
//! the key's lock first: a held lock means the artifact is watched already.

use crate::lock;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Variables a watcher keeps from its spawner's environment.
const KEEP: &[&str] = &["HOME", "USER", "LOGNAME", "SHELL", "PATH", "TMPDIR", "TZ", "LANG"];

/// The paths of one key's files in `home`.
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

/// The command that runs the watcher of `key`.
pub fn watcher_command(exe: &Path, home: &Path, key: &str, artifact: &str) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["internal", "session-watch", "--key", key, artifact]).current_dir("/").env_clear();
    for (k, v) in std::env::vars_os() {
        let keep = k.to_str().is_some_and(|k| KEEP.contains(&k) || k.starts_with("LC_"));
        if keep {
            cmd.env(k, v);
        }
    }
    cmd.env("BACH_HOME", home);
    crate::sys::setsid_on_exec(&mut cmd);
    cmd
}

/// Spawns the watcher of `key` unless its lock is held. Returns the new
/// watcher's pid, or `Ok(None)` with the holder when it is watched already.
pub fn spawn_watcher(
    exe: &Path,
    home: &Path,
    key: &str,
    artifact: &str,
    log_max: u64,
) -> io::Result<Result<u32, i32>> {
    if let Some(holder) = lock::holder(&lock_path(home, key))? {
        return Ok(Err(holder));
    }
    let log = log_path(home, key);
    crate::log::rotate_if_larger(&log, log_max);
    let (out, err) = match open_log(&log).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
        Err(_) => (Stdio::null(), Stdio::null()),
    };
    // The parent's copies of the log are dropped with `cmd` when this returns.
    let mut cmd = watcher_command(exe, home, key, artifact);
    let child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn()?;
    Ok(Ok(child.id()))
}

/// Whom a signal meant for the watcher of `key` may reach: the lock holder,
/// only when its pid is greater than 1 and `ps` shows it with our uid and
/// exactly that watcher's command line. Returns the pid to signal and
/// whether to signal its process group (it leads one: its judge goes too).
pub fn signal_target(
    holder: Option<i32>,
    procs: &[crate::ps::Proc],
    uid: u32,
    key: &str,
) -> Option<(i32, bool)> {
    let pid = holder.filter(|&p| p > 1)?;
    let p = crate::ps::find(procs, pid).filter(|p| p.uid == uid && !p.zombie)?;
    let (k, _) = crate::ps::watcher_command(&p.command)?;
    (k == key).then_some((pid, p.pgid == pid))
}

/// Sends `sig` to the watcher of `key` if it may be signalled; returns the
/// pid signalled.
pub fn signal_watcher(
    home: &Path,
    key: &str,
    procs: &[crate::ps::Proc],
    sig: libc::c_int,
) -> Option<i32> {
    let holder = lock::holder(&lock_path(home, key)).ok().flatten();
    let (pid, group) = signal_target(holder, procs, crate::sys::getuid(), key)?;
    let sent = if group { crate::sys::killpg(pid, sig) } else { crate::sys::kill(pid, sig) };
    sent.ok().map(|()| pid)
}
