//! `daemon stop`, and the stop that `daemon install` reuses.
//!
//! Invariant: the daemon is found only through `F_GETLK` on `daemon.lock`
//! (what the file says is never used to pick whom to signal), and signalled
//! only when a fresh `ps` shows that pid, greater than 1, alive, with our uid
//! and the command line `bach daemon run`. Watchers are signalled only through
//! `spawn::signal_watcher`, which applies the same rule to `watch/KEY.lock`.

use crate::error::{Error, Result};
use crate::home::Home;
use crate::targets::{self, Me};
use crate::{lock, sys};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a lock is probed while its holder is expected to let go.
const POLL: Duration = Duration::from_millis(15);
/// How long retired watchers get between SIGTERM and SIGKILL.
const WATCHER_GRACE: Duration = Duration::from_secs(5);

/// What stopping the daemon came to.
#[derive(Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// No process held `daemon.lock`.
    NotRunning,
    /// The daemon with this pid was signalled and let go of the lock.
    Stopped(i32),
    /// The daemon with this pid was signalled but still held the lock at the timeout.
    TimedOut(i32),
}

/// `bach daemon stop`
pub fn stop(timeout: u64, watchers: bool) -> Result<u8> {
    let home = Home::open()?;
    match stop_daemon(&home, Duration::from_secs(timeout))? {
        StopOutcome::NotRunning => say!("not running (no process holds daemon.lock)"),
        StopOutcome::Stopped(pid) => say!("stopped (pid {pid})"),
        StopOutcome::TimedOut(pid) => {
            return Err(Error::fail(format!(
                "daemon pid {pid} did not stop within {timeout}s; \
                 try again with a longer --timeout or: kill -KILL {pid}"
            )))
        }
    }
    if watchers {
        let n = retire_watchers(&home)?;
        say!("stopped {n} watcher{}", if n == 1 { "" } else { "s" });
    }
    Ok(0)
}

/// The pid of the running daemon: whoever holds `daemon.lock` (`F_GETLK`).
pub fn daemon_pid(home: &Home) -> Option<i32> {
    lock::holder(&home.daemon_lock()).ok().flatten()
}

fn probe(path: &Path) -> Result<Option<i32>> {
    lock::holder(path).map_err(|e| Error::io("probe the lock", path, &e))
}

/// Stops the daemon of `home`: SIGTERM to the lock holder when `ps` shows it
/// as this user's `bach daemon run`, then waits up to `timeout` for the lock
/// to be free. A holder that is not such a daemon is an error, unsignalled.
pub fn stop_daemon(home: &Home, timeout: Duration) -> Result<StopOutcome> {
    let path = home.daemon_lock();
    let Some(pid) = probe(&path)? else { return Ok(StopOutcome::NotRunning) };
    let procs = crate::procs::snapshot()
        .map_err(|e| Error::fail(format!("cannot tell whether pid {pid} is the daemon: {e}")))?;
    if !targets::may_signal_daemon(pid, &procs, &Me::new()?) {
        return Err(Error::fail(format!(
            "{} is held by pid {pid}, which ps does not show as this user's \
             'bach daemon run'; not signalling it",
            path.display()
        )));
    }
    // Still the holder after `ps`: then `ps` described this very process.
    if probe(&path)? != Some(pid) {
        return Err(Error::fail("daemon.lock changed hands while bach looked; try again"));
    }
    // It can only fail with ESRCH (it just exited), which the wait below sees.
    let _ = sys::kill(pid, libc::SIGTERM);
    // At most a year (the command line says so): no overflow.
    let deadline =
        Instant::now().checked_add(timeout).ok_or_else(|| Error::usage("timeout too long"))?;
    while probe(&path)? == Some(pid) {
        if Instant::now() >= deadline {
            return Ok(StopOutcome::TimedOut(pid));
        }
        std::thread::sleep(POLL);
    }
    Ok(StopOutcome::Stopped(pid))
}

/// Retires every watcher of `home` as the daemon's stray sweep does: SIGTERM
/// to each `watch/KEY.lock` holder that `ps` shows as that key's watcher (to
/// its group when it leads one), SIGKILL 5 s later to those `ps` still shows
/// so. Returns how many were signalled.
pub fn retire_watchers(home: &Home) -> Result<usize> {
    // The keys that have a lock file in `watch/`; none when there is no `watch/`.
    let keys: Vec<String> = std::fs::read_dir(home.watch())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let key = name.strip_suffix(".lock")?;
            (!key.starts_with('.')).then(|| key.to_string())
        })
        .collect();
    if keys.is_empty() {
        return Ok(0);
    }
    let table = || {
        crate::procs::snapshot()
            .map_err(|e| Error::fail(format!("cannot read the process table: {e}")))
    };
    let (procs, me) = (table()?, Me::new()?);
    let sent: Vec<(String, i32)> = keys
        .into_iter()
        .filter_map(|k| {
            Some((k.clone(), targets::signal_watcher(home, &k, &procs, &me, libc::SIGTERM)?))
        })
        .collect();
    let holds =
        |(key, pid): &&(String, i32)| lock::holder(&home.lock(key)).ok().flatten() == Some(*pid);
    let deadline = Instant::now() + WATCHER_GRACE;
    while sent.iter().any(|s| holds(&s)) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    let left: Vec<_> = sent.iter().filter(holds).collect();
    if !left.is_empty() {
        let procs = table()?;
        for (key, _) in left {
            targets::signal_watcher(home, key, &procs, &me, libc::SIGKILL);
        }
    }
    Ok(sent.len())
}
