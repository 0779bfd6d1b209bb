//! `bach daemon run`: the supervisor wired to the real world — the
//! single-instance lock, the self-pipe, `ps`, the store, the spawner, the
//! one reaper, the log and `daemon.state`.
//!
//! Invariants: one daemon per home (the `fcntl` lock on `daemon.lock`, never
//! opened twice in this process); every child is reaped in one place
//! (`reap`), `ps` included; only lock holders that `ps` shows as that
//! watcher are signalled; no failure to log or publish stops supervision.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ps::{self, Proc};
use crate::reconcile::{Key, Ledger, Watcher};
use crate::signals::SelfPipe;
use crate::store::{self, Session, Store, Task, Want};
use crate::supervisor::{Host, Spawned, Supervised, Supervisor, Wake};
use crate::{files, ledger, lock, log::Log, procs, spawn, sys};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The store is read again at least this often even if nothing changed.
const FULL_READ_MS: u64 = 60_000;
/// How often the files of long-gone keys are looked for.
const SWEEP_MS: u64 = 3_600_000;

/// A folder's mtime, size and inode: it changes when a record is written.
type Stamp = Option<(i64, i64, u64, u64)>;

/// The real host of the supervisor.
struct Real {
    st: Store,
    exe: PathBuf,
    pipe: SelfPipe,
    log: Log,
    config: Config,
    header: ledger::Header,
    seen: Seen,
}

/// What the host remembers between calls.
#[derive(Default)]
struct Seen {
    published: String,
    state_failing: bool,
    problem_logged: Option<String>,
    /// Sessions and tasks as last read, the folders' stamps, when.
    sessions: Vec<Session>,
    tasks: Vec<Task>,
    stamp: (Stamp, Stamp),
    read_at: u64,
    swept_at: u64,
    last_desired: BTreeSet<Key>,
    procs_changed: bool,
    /// The last process table (for `gone` sessions and signal checks).
    procs: Option<Vec<Proc>>,
    ps_pid: Option<i32>,
    ps_status: Option<String>,
    stop: bool,
    reload: bool,
    exits: Vec<(i32, String)>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Real {
    /// Drains the self-pipe and acts: reap, note a stop or a reload.
    fn handle_signals(&mut self) {
        let caught = self.pipe.drain();
        self.seen.stop |= caught.stop;
        self.seen.reload |= caught.hup;
        // Reap even without SIGCHLD: it costs one system call and a signal
        // that raced the drain is never lost.
        while let Ok(Some((pid, status))) = sys::reap_any() {
            let status = sys::describe_status(status);
            if Some(pid) == self.seen.ps_pid {
                self.seen.ps_status = Some(status);
            } else {
                self.seen.exits.push((pid, status));
            }
        }
    }

    /// Runs `ps` with its output and the self-pipe polled together.
    fn run_ps(&mut self) -> std::result::Result<Vec<Proc>, String> {
        let limit = Duration::from_secs(self.config.reconcile_seconds.min(5));
        let deadline = Instant::now() + limit;
        let mut child = procs::start()?;
        (self.seen.ps_pid, self.seen.ps_status) = (Some(child.id() as i32), None);
        let mut out = child.stdout.take().ok_or("ps has no output")?;
        let mut buf = Vec::new();
        let result = loop {
            match procs::read(&mut out, &mut buf, deadline, Some(self.pipe.fd())) {
                Ok(procs::Read::Woken) => self.handle_signals(),
                Ok(procs::Read::Done) => break Ok(()),
                Ok(procs::Read::TimedOut) => {
                    break Err(format!("ps did not finish within {}s", limit.as_secs()))
                }
                Err(e) => break Err(e),
            }
            if self.seen.stop {
                break Err("stopping".into());
            }
        };
        while result.is_ok()
            && self.seen.ps_status.is_none()
            && Instant::now() < deadline
            && !self.seen.stop
        {
            let left = procs::millis(deadline.saturating_duration_since(Instant::now()));
            let _ = sys::poll(&[self.pipe.fd()], left);
            self.handle_signals();
        }
        if self.seen.ps_status.is_none() {
            procs::kill(&child);
        }
        self.seen.ps_pid = None;
        result?;
        let status = self
            .seen
            .ps_status
            .take()
            .ok_or_else(|| format!("ps did not exit within {}s", limit.as_secs()))?;
        procs::finish(&buf, &status)
    }

    /// Removes the `watch/` and `logs/` files of keys that have been neither
    /// desired nor locked for a day, holding the key's lock meanwhile (a
    /// watcher that locked the old file notices and starts over).
    fn sweep(&mut self, now: u64) {
        if now < self.seen.swept_at + SWEEP_MS {
            return;
        }
        self.seen.swept_at = now;
        let Ok(dir) = std::fs::read_dir(self.st.home.join("watch")) else { return };
        let day_ago = std::time::SystemTime::now() - Duration::from_secs(86400);
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(key) =
                name.strip_suffix(".lock").filter(|k| !self.seen.last_desired.contains(*k))
            else {
                continue;
            };
            let files = [
                entry.path(),
                spawn::status_path(&self.st.home, key),
                spawn::log_path(&self.st.home, key),
            ];
            let fresh = files.iter().any(|f| {
                std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|t| t > day_ago)
            });
            if fresh {
                continue;
            }
            let Ok(lock::Taken::Held(_held)) = lock::acquire(&files[0]) else { continue };
            for f in &files[1..] {
                let _ = std::fs::remove_file(f);
            }
            for n in 1..=3 {
                let _ = std::fs::remove_file(format!("{}.{n}", files[2].display()));
            }
            let _ = std::fs::remove_file(&files[0]);
            self.log.line(&format!(
                "removed the files of key {key}: neither desired nor watched for a day"
            ));
        }
    }

    /// Re-reads the records when their folders changed, or once a minute.
    fn refresh_store(&mut self, now: u64) -> bool {
        let stamp = |d: &str| {
            let m = std::fs::metadata(self.st.home.join(d)).ok()?;
            Some((m.mtime(), m.mtime_nsec(), m.size(), m.ino()))
        };
        let now_stamp = (stamp("sessions"), stamp("tasks"));
        if now_stamp == self.seen.stamp && now < self.seen.read_at + FULL_READ_MS {
            return false;
        }
        let (sessions, p1) = self.st.sessions();
        let (tasks, p2) = self.st.tasks();
        for p in p1.iter().chain(&p2) {
            self.log.line(&format!("skipped record {p}"));
        }
        (self.seen.sessions, self.seen.tasks, self.seen.stamp, self.seen.read_at) =
            (sessions, tasks, now_stamp, now);
        true
    }

    fn reload_config(&mut self) -> Option<Config> {
        self.seen.reload = false;
        match Config::load(&self.st.home) {
            Ok(c) => {
                self.log.line("SIGHUP: configuration reloaded; passing it on to the watchers");
                self.log.set_max(c.log_max_bytes);
                if let Some(procs) = &self.seen.procs {
                    for w in ps::watchers(procs, sys::getuid()) {
                        spawn::signal_watcher(&self.st.home, &w.key, procs, libc::SIGHUP);
                    }
                }
                self.config = c.clone();
                Some(c)
            }
            Err(e) => {
                self.log.line(&format!("SIGHUP: {e}; keeping the configuration in force"));
                None
            }
        }
    }
}

impl Host for Real {
    fn now(&mut self) -> u64 {
        now_ms()
    }

    fn read_supervised(&mut self) -> std::result::Result<Supervised, String> {
        let procs = self.run_ps().inspect_err(|_| self.seen.procs = None)?;
        let mut out = Supervised::new();
        for w in ps::watchers(&procs, sys::getuid()) {
            if self.seen.last_desired.contains(&w.key)
                || spawn::lock_path(&self.st.home, &w.key).exists()
            {
                let watcher = Watcher { pid: w.pid, pgid: w.pgid, holds_lock: None };
                out.entry(w.key).or_default().push(watcher);
            }
        }
        for (key, procs) in out.iter_mut().filter(|(_, p)| p.len() > 1) {
            let holder = lock::holder(&spawn::lock_path(&self.st.home, key)).ok().flatten();
            for p in procs {
                p.holds_lock = Some(holder == Some(p.pid));
            }
        }
        (self.seen.procs, self.seen.procs_changed) = (Some(procs), true);
        Ok(out)
    }

    fn read_desired(&mut self, desired: &mut BTreeMap<Key, Want>) {
        // Recomputed only when the records changed, or when the process
        // table did and some session's liveness depends on it.
        let procs_matter =
            self.seen.procs_changed && self.seen.sessions.iter().any(|s| s.pid.is_some());
        if self.refresh_store(now_ms()) || procs_matter {
            *desired = store::desired(
                self.st.home_str(),
                &self.seen.sessions,
                &self.seen.tasks,
                self.seen.procs.as_deref(),
            );
            self.seen.last_desired = desired.keys().cloned().collect();
        }
        self.seen.procs_changed = false;
        self.sweep(now_ms());
    }

    fn spawn(&mut self, key: &str, artifact: &str) -> std::result::Result<Spawned, String> {
        let max = self.config.log_max_bytes;
        match spawn::spawn_watcher(&self.exe, &self.st.home, key, artifact, max) {
            Ok(Ok(pid)) => Ok(Spawned::Started(pid as i32)),
            Ok(Err(holder)) => Ok(Spawned::Held(holder)),
            Err(e) => Err(crate::error::reason(&e)),
        }
    }

    fn retire(&mut self, key: &str, pid: i32, _pgid: i32, signal: i32) {
        let procs = self.seen.procs.as_deref().unwrap_or_default();
        let what = if signal == libc::SIGKILL { "SIGKILL" } else { "SIGTERM" };
        match spawn::signal_watcher(&self.st.home, key, procs, signal) {
            Some(p) if p == pid => {}
            Some(p) => self
                .log
                .line(&format!("{what} went to lock holder pid {p} of key {key}, not {pid}")),
            None => self.log.line(&format!(
                "not signalling pid {pid} (key {key}): it does not hold the lock as that watcher"
            )),
        }
    }

    fn wait(&mut self, deadline: u64) -> Wake {
        loop {
            self.handle_signals();
            let config = if self.seen.reload { self.reload_config() } else { None };
            if self.seen.stop || config.is_some() || !self.seen.exits.is_empty() {
                return Wake {
                    stop: self.seen.stop,
                    config,
                    exits: std::mem::take(&mut self.seen.exits),
                };
            }
            let now = now_ms();
            if now >= deadline {
                return Wake::default();
            }
            let _ = sys::poll(&[self.pipe.fd()], (deadline - now).min(86_400_000) as i32);
        }
    }

    fn report(&mut self, events: &[String], ledger: &Ledger, problem: Option<&str>) {
        for e in events {
            self.log.line(e);
        }
        if problem != self.seen.problem_logged.as_deref() && !self.seen.stop {
            match problem {
                Some(p) if self.seen.problem_logged.is_none() => self.log.line(&format!(
                    "cannot supervise: {p}; nothing is spawned or retired until it works"
                )),
                Some(_) => {}
                None => self.log.line("the process table can be read again: supervising"),
            }
            self.seen.problem_logged = problem.map(String::from);
        }
        self.header.problem = problem.map(String::from);
        self.header.reconcile_seconds = self.config.reconcile_seconds;
        let text = ledger::render(&self.header, &self.config, ledger);
        if text != self.seen.published {
            // A state that cannot be written never stops supervision.
            match files::write_atomic(&self.st.home, "daemon.state", text.as_bytes(), false) {
                Ok(()) if self.seen.state_failing => {
                    self.log.line("daemon.state can be written again");
                    (self.seen.published, self.seen.state_failing) = (text, false);
                }
                Ok(()) => self.seen.published = text,
                Err(e) if !self.seen.state_failing => {
                    self.log.line(&format!("{e}; supervising without publishing it"));
                    self.seen.state_failing = true;
                }
                Err(_) => {}
            }
        }
    }
}

/// How often a standby daemon tries the lock again.
const STANDBY_RETRY_MS: i32 = 5_000;

/// `--standby` (what launchd runs): a job loaded in both launchd domains
/// starts two daemons, and the one that finds the lock held must not exit
/// for good, or a GUI logout would leave no daemon at all. So it waits in
/// `poll()` on the self-pipe, tries the lock every 5 s, and returns it once
/// the other instance has ended; `None` when SIGTERM or SIGINT came first.
/// SIGHUP is drained and dropped: the config is read after the lock.
fn stand_by(pipe: &SelfPipe, path: &std::path::Path) -> Result<Option<lock::Held>> {
    loop {
        if pipe.drain().stop {
            return Ok(None);
        }
        if let lock::Taken::Held(h) = lock::acquire(path)? {
            return Ok(Some(h));
        }
        // Woken early by a signal or not, the loop drains and tries again.
        let _ = sys::poll(&[pipe.fd()], STANDBY_RETRY_MS);
    }
}

/// `bach daemon run [--standby]`
pub fn run(standby: bool) -> Result<u8> {
    let st = Store::open()?;
    // Handlers first: a SIGTERM that arrives once the lock is held must
    // already end the loop cleanly.
    let pipe = SelfPipe::install().map_err(|e| {
        Error::fail(format!("cannot install signal handlers: {}", crate::error::reason(&e)))
    })?;
    let path = st.home.join("daemon.lock");
    let mut held = match lock::acquire(&path)? {
        lock::Taken::Held(h) => h,
        lock::Taken::Busy(pid) => {
            let what = if standby { "; standing by" } else { "" };
            println!("bach daemon already running (pid {}){what}", crate::text::or_dash(pid));
            let taken = if standby { stand_by(&pipe, &path)? } else { None };
            match taken {
                Some(h) => h,
                None => return Ok(0),
            }
        }
    };
    let _ = held.write_pid();
    let config = Config::load(&st.home).map_err(Error::usage)?;
    let exe = std::env::current_exe().map_err(|e| {
        Error::fail(format!("cannot find bach's own path: {}", crate::error::reason(&e)))
    })?;
    let old = files::read_small(&st.home.join("daemon.state"), ledger::MAX).ok().flatten();
    let ledger = old.and_then(|t| ledger::parse(&t)).map(|(_, l)| l).unwrap_or_default();
    let mut log = Log::new(st.home.join("logs").join("daemon.log"), config.log_max_bytes);
    log.line(&format!(
        "daemon pid {} started (every {}s, {} keys in the crash ledger)",
        sys::getpid(),
        config.reconcile_seconds,
        ledger.len()
    ));
    let header = ledger::Header { pid: sys::getpid(), started: files::now(), ..Default::default() };
    let mut host =
        Real { st, exe, pipe, log, config: config.clone(), header, seen: Seen::default() };
    Supervisor::new(config, ledger).run(&mut host);
    host.log.line("SIGTERM: daemon stopping; watchers left running");
    drop(held);
    Ok(0)
}
