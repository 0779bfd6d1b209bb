//! `bach daemon run`: the supervisor wired to the real world. The host is a
//! few named parts: the one wait ([`wait`]: self-pipe, reaper, `poll`), the
//! process table ([`table`]), the store as last read ([`cache`]), what is
//! published ([`publish`]) and the sweep ([`sweep`]); the settings in force
//! live here, once.
//!
//! Invariants: one daemon per home (the `fcntl` lock on `daemon.lock`, held
//! for life); every child is reaped in one place, `ps` included; only lock
//! holders that a fresh `ps` shows as that watcher are signalled; no failure
//! to log or publish stops supervision.

mod cache;
mod publish;
mod sweep;
mod table;
mod wait;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::ledger::{self, Header};
use crate::log::{self, Log};
use crate::reconcile::{Ledger, Policy};
use crate::signals::SelfPipe;
use crate::store::Store;
use crate::supervisor::{
    self, Desired, Host, Signal, Spawned, Supervised, Supervisor, Table, Wake,
};
use crate::targets::{self, Me};
use crate::watcher::status::Status;
use crate::{files, lock, procs, spawn, sys};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// The file this daemon was started from, as it was: when it changes (an
/// upgrade put a new binary there) or vanishes, the daemon exits 75, which
/// both service managers restart (exit 0 would leave the daemon down), and
/// the new one adopts the running watchers.
struct Exe {
    path: PathBuf,
    stamp: Option<(u64, u64, i64, i64)>,
}

impl Exe {
    fn new(path: PathBuf) -> Exe {
        let stamp = Exe::stamp(&path);
        Exe { path, stamp }
    }

    fn stamp(path: &std::path::Path) -> Option<(u64, u64, i64, i64)> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some((m.dev(), m.ino(), m.mtime(), m.mtime_nsec()))
    }

    fn changed(&self) -> bool {
        Exe::stamp(&self.path) != self.stamp
    }
}

/// The exit status that asks the service manager for a restart: the
/// executable changed under the daemon (`EX_TEMPFAIL`).
const UPGRADED: u8 = 75;

/// The real host of the supervisor.
struct Real {
    st: Store,
    me: Me,
    exe: Exe,
    /// The executable changed: the loop ends, the daemon exits 75.
    upgraded: bool,
    config: Config,
    log: Log,
    wait: wait::Waiter,
    table: table::Table,
    cache: cache::Cache,
    publisher: publish::Publisher,
    sweep: sweep::Sweep,
    /// The keys desired at the last look: their watchers belong to this home.
    desired_keys: BTreeSet<String>,
    discovery: crate::discover::Daemon,
}

impl Real {
    /// How long one `ps` may take.
    fn ps_limit(&self) -> Duration {
        Duration::from_secs(self.config.reconcile_seconds.min(procs::TIMEOUT.as_secs()))
    }

    /// Reads the process table now, with the start ticks of session agents.
    fn read_table(&mut self) -> std::result::Result<(), String> {
        let limit = self.ps_limit();
        self.table.read(&mut self.wait, limit)?;
        if let Some(procs) = &mut self.table.procs {
            procs::add_ticks(procs, &self.cache.agent_pids());
        }
        self.discover();
        Ok(())
    }

    /// Discovery after a `ps` read, on the store as it is now.
    fn discover(&mut self) {
        let (Some(procs), false) = (&self.table.procs, self.config.discover.is_empty()) else {
            return;
        };
        let now = self.wait.clock.ms();
        self.cache.refresh(&self.st, supervisor::Store::Changed, now, &mut self.log);
        let records = self.cache.records();
        self.discovery.after_ps(&self.st, &self.config, procs, records, &mut self.log);
    }

    /// SIGHUP: the new config, if it parses, and SIGHUP on to every watcher
    /// of this home (the lock holders, by pid, as a fresh `ps` shows them).
    fn reload(&mut self) -> Option<Config> {
        self.wait.reload = false;
        let config = match Config::load(self.st.home.path()) {
            Ok(c) => c,
            Err(e) => {
                self.log.line(&format!("SIGHUP: {e}; keeping the configuration in force"));
                return None;
            }
        };
        self.log.line("SIGHUP: configuration reloaded; passing it on to the watchers");
        self.log.set_max(config.log_max_bytes);
        self.config = config.clone();
        if self.read_table().is_ok() {
            let procs = self.table.procs.as_deref().unwrap_or_default();
            for key in lock_keys(&self.st.home) {
                targets::signal_watcher(&self.st.home, &key, procs, &self.me, libc::SIGHUP);
            }
        }
        Some(config)
    }
}

/// The keys that have a lock file in `watch/`.
fn lock_keys(home: &Home) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(home.watch()) else { return Vec::new() };
    let names = dir.flatten().filter_map(|e| e.file_name().into_string().ok());
    names
        .filter_map(|n| Some(n.strip_suffix(".lock")?.to_string()))
        .filter(|k| crate::key::valid(k))
        .collect()
}

impl Host for Real {
    fn now(&mut self) -> u64 {
        self.wait.clock.ms()
    }

    fn read_supervised(
        &mut self,
        how: Table,
        supervised: &mut Supervised,
    ) -> std::result::Result<(), String> {
        // Where no change notification says an agent started, a stat of
        // the folders it shows in first asks for a `ps` read.
        let moved = self.discovery.folders_changed(&self.config);
        if how == Table::Read || self.table.procs.is_none() || moved {
            self.read_table()?;
            let procs = self.table.procs.as_deref().unwrap_or_default();
            *supervised = table::supervised(procs, &self.st.home, &self.me, &self.desired_keys);
        }
        Ok(())
    }

    fn read_desired(&mut self, how: supervisor::Store, desired: &mut Desired) {
        let now = self.wait.clock.ms();
        let reread = self.cache.refresh(&self.st, how, now, &mut self.log);
        // The process table matters only where some session names an agent.
        let liveness = self.table.fresh && !self.cache.agent_pids().is_empty();
        if reread || liveness || how == supervisor::Store::Fresh {
            *desired = self.cache.desired(&self.st.home, self.table.procs.as_deref());
            self.desired_keys = desired.keys().cloned().collect();
            self.table.fresh = false;
        }
    }

    fn spawn(&mut self, key: &str, artifact: &str) -> std::result::Result<Spawned, String> {
        let max = self.config.log_max_bytes;
        spawn::watcher(&self.exe.path, &self.st.home, key, artifact, max)
            .map_err(|e| crate::error::reason(&e))
    }

    fn retire(&mut self, key: &str, pid: i32, signal: Signal) {
        // Whom bach signals is decided on a fresh table.
        if !self.table.read_this_tick && self.read_table().is_err() {
            return self.log.line(&format!("not signalling pid {pid} (key {key}): ps failed"));
        }
        let (sig, what) = match signal {
            Signal::Term => (libc::SIGTERM, "SIGTERM"),
            Signal::Kill => (libc::SIGKILL, "SIGKILL"),
        };
        let procs = self.table.procs.as_deref().unwrap_or_default();
        match targets::signal_watcher(&self.st.home, key, procs, &self.me, sig) {
            Some(p) if p == pid => {}
            Some(p) => self
                .log
                .line(&format!("{what} went to lock holder pid {p} of key {key}, not {pid}")),
            None => self.log.line(&format!(
                "not signalling pid {pid} (key {key}): it does not hold the lock as that watcher"
            )),
        }
    }

    fn clean_up(&mut self, key: &str) {
        let text = files::read_small(&self.st.home.status(key), files::RECORD_MAX);
        let status = text.ok().flatten().and_then(|t| Status::parse(&t));
        let Some((pgid, start)) = status.and_then(|s| s.judge_pgid.zip(s.judge_start)) else {
            return;
        };
        if self.read_table().is_err() {
            return;
        }
        let procs = self.table.procs.as_deref_mut().unwrap_or_default();
        procs::add_ticks(procs, &[pgid].into());
        let judge = self.config.judge_command.as_deref();
        if targets::may_signal_judge(pgid, start, procs, &self.me, judge) {
            let _ = sys::killpg(pgid, libc::SIGKILL);
            self.log.line(&format!("ended the judge (group {pgid}) the watcher of key {key} left"));
        }
    }

    fn publish(&mut self, events: &[String], ledger: &Ledger, problem: Option<&str>) {
        for e in events {
            self.log.line(e);
        }
        let problem = problem.or(self.cache.problem.as_deref());
        if !self.wait.stop {
            self.publisher.problem(&mut self.log, problem);
        }
        self.publisher.header.problem = problem.map(String::from);
        let clock = self.wait.clock.clock();
        self.publisher.state(&self.st.home, &mut self.log, &self.config, ledger, clock);
    }

    fn sweep(&mut self, desired: &Desired) {
        let now = self.wait.clock.ms();
        let ctx = (&self.config, self.table.procs.as_deref());
        self.sweep.run(&self.st, desired, now, ctx, &mut self.log);
        if !self.upgraded && self.exe.changed() {
            let path = self.exe.path.display();
            self.log.line(&format!(
                "{path} changed or vanished (an upgrade?): exiting {UPGRADED} for a restart"
            ));
            (self.upgraded, self.wait.stop) = (true, true);
        }
    }

    fn wait(&mut self, deadline: u64) -> Wake {
        self.table.read_this_tick = false;
        loop {
            let policy = match self.wait.reload {
                true => self.reload().map(|c| Policy::new(&c)),
                false => None,
            };
            let exits = std::mem::take(&mut self.wait.exits);
            if self.wait.stop || policy.is_some() || !exits.is_empty() || self.now() >= deadline {
                return Wake { stop: self.wait.stop, policy, exits };
            }
            self.wait.poll(None, deadline);
        }
    }
}

/// How often a standby daemon tries the lock again.
const STANDBY_RETRY_MS: u64 = 5_000;

/// `bach daemon run [--standby]`
pub fn run(standby: bool) -> Result<u8> {
    let st = Store::open()?;
    if let Err(why) = st.home.probe() {
        // Said once: a service manager restarts only a daemon that failed.
        log::stderr(&format!("bach: error: {why}; not supervising\n"));
        Log::new(st.home.daemon_log(), 1 << 20).line(&format!("{why}; not supervising"));
        return Ok(0);
    }
    // Handlers first: a SIGTERM that arrives once the lock is held must
    // already end the loop cleanly.
    let pipe = SelfPipe::install().map_err(|e| {
        Error::fail(format!("cannot install signal handlers: {}", crate::error::reason(&e)))
    })?;
    let mut wait = wait::Waiter::new(pipe);
    let Some(mut held) = take_lock(&st.home, standby, &mut wait)? else { return Ok(0) };
    let _ = held.write_pid();
    let config = Config::load(st.home.path()).map_err(Error::usage)?;
    let (exe, me) = (crate::home::exe()?, Me::new()?);
    recognizes_its_watchers(&me)?;
    let mut host = host(st, me, exe, config, wait);
    let ledger = load_ledger(&host);
    host.log.line(&format!(
        "daemon pid {} started (every {}s, {} keys in the crash ledger)",
        sys::getpid(),
        host.config.reconcile_seconds,
        ledger.len()
    ));
    Supervisor::new(Policy::new(&host.config), ledger).run(&mut host);
    drop(held);
    if host.upgraded {
        return Ok(UPGRADED);
    }
    host.log.line("SIGTERM: daemon stopping; watchers left running");
    Ok(0)
}

/// Takes `daemon.lock`. Held by another daemon: say so and go (exit 0, so a
/// second start by a service manager is no crash), or with `standby` wait
/// for it, trying every 5 s, until it is free or a stop arrives.
fn take_lock(home: &Home, standby: bool, wait: &mut wait::Waiter) -> Result<Option<lock::Held>> {
    let mut said = false;
    loop {
        let pid = match lock::acquire(&home.daemon_lock())? {
            lock::Taken::Held(h) => return Ok(Some(h)),
            lock::Taken::Busy(pid) => pid,
        };
        if !said {
            let what = if standby { "; standing by" } else { "" };
            say!("bach daemon already running (pid {}){what}", crate::text::or_dash(pid));
            said = true;
        }
        if !standby {
            return Ok(None);
        }
        let until = wait.clock.ms() + STANDBY_RETRY_MS;
        while !wait.stop && wait.clock.ms() < until {
            wait.poll(None, until);
            wait.exits.clear();
        }
        if wait.stop {
            return Ok(None);
        }
    }
}

fn host(st: Store, me: Me, exe: PathBuf, config: Config, wait: wait::Waiter) -> Real {
    let exe = Exe::new(exe);
    let log = Log::new(st.home.daemon_log(), config.log_max_bytes);
    let header = Header { pid: sys::getpid(), started: crate::time::now(), ..Header::default() };
    Real {
        st,
        me,
        exe,
        upgraded: false,
        config,
        log,
        wait,
        table: table::Table::default(),
        cache: cache::Cache::default(),
        publisher: publish::Publisher::new(header),
        sweep: sweep::Sweep::default(),
        desired_keys: BTreeSet::new(),
        discovery: crate::discover::Daemon::default(),
    }
}

/// The crash ledger the last daemon published, brought back.
fn load_ledger(host: &Real) -> Ledger {
    let text = files::read_small(&host.st.home.daemon_state(), ledger::MAX).ok().flatten();
    let (_, stored) = text.as_deref().map(ledger::parse).unwrap_or_default();
    let (clock, max) = (host.wait.clock.clock(), host.config.backoff_max_seconds * 1000);
    stored.iter().map(|(k, s)| (k.clone(), ledger::restore(s, clock, max))).collect()
}

/// Refuses to supervise when the watchers this bach spawns would not be
/// recognised in `ps` (they would all look vanished).
fn recognizes_its_watchers(me: &Me) -> Result<()> {
    let line = format!("{} internal session-watch --key 0123456789abcdef /x", me.shown);
    match crate::ps::watcher_command(&line, &me.shown) {
        Some(("0123456789abcdef", "/x")) => Ok(()),
        _ => Err(Error::fail(format!(
            "bach at {} could not recognise its own watchers in ps; install it at a plainer path",
            me.shown
        ))),
    }
}
