//! `daemon stop` and `daemon logs`, and the stop that `daemon install` reuses.
//!
//! Invariant: the daemon is found only through `F_GETLK` on `daemon.lock`
//! (what the file says is never used to pick whom to signal), and signalled
//! only when a fresh `ps` shows that pid, greater than 1, alive, with our uid
//! and the command line `bach daemon run`. Watchers are signalled only through
//! `spawn::signal_watcher`, which applies the same rule to `watch/KEY.lock`.

use crate::error::{Error, Result};
use crate::ps::{self, Proc};
use crate::{files, lock, procs, spawn, sys, text};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long one `ps` run may take here.
const PS_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a lock is probed while its holder is expected to let go.
const POLL: Duration = Duration::from_millis(15);
/// How long retired watchers get between SIGTERM and SIGKILL.
const WATCHER_GRACE: Duration = Duration::from_secs(5);
/// `logs` reads the log backwards in chunks of this size.
const CHUNK: u64 = 8192;

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
    let home = files::home()?;
    match stop_daemon(&home, Duration::from_secs(timeout))? {
        StopOutcome::NotRunning => println!("not running (no process holds daemon.lock)"),
        StopOutcome::Stopped(pid) => println!("stopped (pid {pid})"),
        StopOutcome::TimedOut(pid) => {
            return Err(Error::fail(format!(
                "daemon pid {pid} did not stop within {timeout}s; \
                 try again with a longer --timeout or: kill -KILL {pid}"
            )))
        }
    }
    if watchers {
        let n = retire_watchers(&home)?;
        println!("stopped {n} watcher{}", if n == 1 { "" } else { "s" });
    }
    Ok(0)
}

/// The pid of the running daemon: whoever holds `daemon.lock` (`F_GETLK`).
pub fn daemon_pid(home: &Path) -> Option<i32> {
    lock::holder(&home.join("daemon.lock")).ok().flatten()
}

fn probe(path: &Path) -> Result<Option<i32>> {
    lock::holder(path).map_err(|e| Error::io("probe the lock", path, &e))
}

/// Whether a command line as `ps` prints it is the daemon's, `PROGRAM daemon
/// run` or `PROGRAM daemon run --standby` (what launchd runs): PROGRAM is
/// `bach` or a path ending in `/bach` without blanks (so `python3 /x/bach
/// daemon run` is not bach), or exactly `own`, the path of this bach, which
/// may hold spaces (`/Users/a/My Tools/bach`).
pub fn is_daemon_command(command: &str, own: &str) -> bool {
    let command = command.trim_end();
    let args = command.strip_suffix(" --standby").unwrap_or(command);
    let Some(prog) = args.strip_suffix(" daemon run") else { return false };
    let named = prog == "bach" || prog.ends_with("/bach");
    named && (!prog.contains(char::is_whitespace) || prog == own)
}

/// Whether `stop` may signal `pid`, the holder of `daemon.lock`: greater
/// than 1 (never everyone, our own group or init), and shown by `ps` with
/// this uid, not a zombie, running `bach daemon run`.
pub fn may_signal_daemon(pid: i32, procs: &[Proc], uid: u32, own: &str) -> bool {
    pid > 1
        && ps::find(procs, pid)
            .is_some_and(|p| p.uid == uid && !p.zombie && is_daemon_command(&p.command, own))
}

/// Stops the daemon of `home`: SIGTERM to the lock holder when `ps` shows it
/// as this user's `bach daemon run`, then waits up to `timeout` for the lock
/// to be free. A holder that is not such a daemon is an error, unsignalled.
pub fn stop_daemon(home: &Path, timeout: Duration) -> Result<StopOutcome> {
    let path = home.join("daemon.lock");
    let Some(pid) = probe(&path)? else { return Ok(StopOutcome::NotRunning) };
    let procs = procs::snapshot(PS_TIMEOUT)
        .map_err(|e| Error::fail(format!("cannot tell whether pid {pid} is the daemon: {e}")))?;
    let own = std::env::current_exe().ok().and_then(|p| p.to_str().map(String::from));
    if !may_signal_daemon(pid, &procs, sys::getuid(), own.as_deref().unwrap_or("")) {
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
    let deadline = Instant::now() + timeout;
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
pub fn retire_watchers(home: &Path) -> Result<usize> {
    // The keys that have a lock file in `watch/`; none when there is no `watch/`.
    let keys: Vec<String> = std::fs::read_dir(home.join("watch"))
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
        procs::snapshot(PS_TIMEOUT)
            .map_err(|e| Error::fail(format!("cannot read the process table: {e}")))
    };
    let procs = table()?;
    let sent: Vec<(String, i32)> = keys
        .into_iter()
        .filter_map(|k| Some((k.clone(), spawn::signal_watcher(home, &k, &procs, libc::SIGTERM)?)))
        .collect();
    let holds = |(key, pid): &&(String, i32)| {
        lock::holder(&spawn::lock_path(home, key)).ok().flatten() == Some(*pid)
    };
    let deadline = Instant::now() + WATCHER_GRACE;
    while sent.iter().any(|s| holds(&s)) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    let left: Vec<_> = sent.iter().filter(holds).collect();
    if !left.is_empty() {
        let procs = table()?;
        for (key, _) in left {
            spawn::signal_watcher(home, key, &procs, libc::SIGKILL);
        }
    }
    Ok(sent.len())
}

/// `bach daemon logs`: the last `lines` lines of `logs/daemon.log`, reaching
/// back into `daemon.log.1` when the current log (just rotated) has fewer.
/// A missing log is a note on stderr and exit 0: no daemon has logged yet.
pub fn logs(lines: usize) -> Result<u8> {
    let path = files::home()?.join("logs").join("daemon.log");
    let rotated = PathBuf::from(format!("{}.1", path.display()));
    let read = |p: &Path, n| tail(p, n).map_err(|e| Error::io("read", p, &e));
    let current = read(&path, lines)?;
    let have = current.as_ref().map_or(0, Vec::len);
    let older = if have < lines { read(&rotated, lines - have)? } else { None };
    if current.is_none() && older.is_none() {
        eprintln!("bach: no daemon log yet: {} does not exist", path.display());
        return Ok(0);
    }
    let mut out = io::stdout().lock();
    for line in older.into_iter().chain(current).flatten() {
        let line = String::from_utf8_lossy(&line);
        // A closed pipe (`| head`) ends the listing quietly.
        if writeln!(out, "{}", text::escape(&line)).is_err() {
            break;
        }
    }
    Ok(0)
}

/// The last `n` lines of a regular file, without their newlines, read
/// backwards in fixed chunks so that memory holds only those lines, never
/// the whole log. `Ok(None)` when the file does not exist.
fn tail(path: &Path, n: usize) -> io::Result<Option<Vec<Vec<u8>>>> {
    let Some(file) = files::open_regular(path)? else { return Ok(None) };
    let len = file.metadata()?.len();
    let (mut pos, mut buf, mut breaks) = (len, Vec::new(), 0);
    // `breaks` counts the newlines that end a line before the last one;
    // n of them mean the last n lines are whole.
    while pos > 0 && breaks < n {
        let step = pos.min(CHUNK);
        pos -= step;
        let mut chunk = vec![0; step as usize];
        file.read_exact_at(&mut chunk, pos)?;
        breaks += chunk.iter().filter(|&&b| b == b'\n').count();
        if pos + step == len && chunk.last() == Some(&b'\n') {
            breaks -= 1;
        }
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    // Split after each newline, so that an empty file has no lines and "a\n" one.
    let mut lines: Vec<Vec<u8>> = buf
        .split_inclusive(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\n").unwrap_or(l).to_vec())
        .collect();
    Ok(Some(lines.split_off(lines.len().saturating_sub(n))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, uid: u32, zombie: bool, command: &str) -> Proc {
        Proc {
            uid,
            pid,
            pgid: pid,
            zombie,
            start: "Wed Nov 25 04:31:14 2026".into(),
            command: command.into(),
        }
    }

    #[test]
    fn only_bach_daemon_run_is_the_daemon() {
        let own = "/Users/a/My Tools/bach";
        for ok in [
            "bach daemon run",
            "/usr/local/bin/bach daemon run",
            "./bach daemon run ",
            "/Users/a/My Tools/bach daemon run",
            "/opt/homebrew/bin/bach daemon run --standby",
            "/Users/a/My Tools/bach daemon run --standby",
        ] {
            assert!(is_daemon_command(ok, own), "{ok}");
        }
        for not in [
            "python3 /x/bach daemon run",
            "/usr/bin/python3 /x/bach daemon run",
            "/Users/b/My Tools/bach daemon run",
            "/x/bach  daemon run",
            "/x/bach daemon run --now",
            "/x/bach daemon run --standby --standby",
            "/x/bach daemon --standby run",
            "/x/bach daemon run  --standby",
            "/x/notbach daemon run",
            "/x/bach daemon status",
            "/x/bach internal session-watch --key 63507df7e5e672cf /a",
            "sleep 30",
            "",
        ] {
            assert!(!is_daemon_command(not, own), "{not}");
        }
    }

    #[test]
    fn never_signals_everyone_our_group_init_or_a_stranger() {
        let uid = 501;
        let table = [
            proc(-1, uid, false, "bach daemon run"),
            proc(0, uid, false, "bach daemon run"),
            proc(1, uid, false, "bach daemon run"),
            proc(40, uid, false, "/x/bach daemon run"),
            proc(41, uid, true, "/x/bach daemon run"),
            proc(42, 0, false, "/x/bach daemon run"),
            proc(43, uid, false, "sleep 30"),
            proc(44, uid, false, "python3 /x/bach daemon run"),
        ];
        for pid in [-1, 0, 1, i32::MIN, 41, 42, 43, 44, 45] {
            assert!(!may_signal_daemon(pid, &table, uid, "/x/bach"), "pid {pid}");
        }
        assert!(may_signal_daemon(40, &table, uid, "/x/bach"));
    }

    fn tail_of(text: &[u8], n: usize) -> Vec<String> {
        let d = std::env::temp_dir().join(format!("bach-tail-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(format!("{n}-{}", text.len()));
        std::fs::write(&p, text).unwrap();
        let lines = tail(&p, n).unwrap().unwrap();
        std::fs::remove_file(&p).unwrap();
        lines.into_iter().map(|l| String::from_utf8(l).unwrap()).collect()
    }

    #[test]
    fn tail_takes_the_last_lines_across_chunks() {
        assert_eq!(tail_of(b"a\nb\nc\n", 2), ["b", "c"]);
        assert_eq!(tail_of(b"a\nb\nc", 2), ["b", "c"]);
        assert_eq!(tail_of(b"a\nb\n", 5), ["a", "b"]);
        assert_eq!(tail_of(b"a\n\nb\n", 2), ["", "b"]);
        assert_eq!(tail_of(b"\n", 3), [""]);
        assert_eq!(tail_of(b"", 3), [""; 0]);
        assert_eq!(tail_of(b"a\nb\n", 0), [""; 0]);
        let long: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tail_of(long.as_bytes(), 3), ["line 4997", "line 4998", "line 4999"]);
        let first = tail_of(long.as_bytes(), 5000);
        assert_eq!((first.len(), first[0].as_str()), (5000, "line 0"));
        let wide = format!("{}\nlast\n", "x".repeat(20_000));
        assert_eq!(tail_of(wide.as_bytes(), 2)[0].len(), 20_000);
        assert!(tail(Path::new("/nonexistent/bach.log"), 3).unwrap().is_none());
    }
}
