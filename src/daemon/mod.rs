//! `bach daemon run`: the supervisor wired to the real world. The host is a
//! few named parts: the one wait ([`wait`]: self-pipe, reaper, `poll`), the
//! process table ([`table`]), what wakes it instead of a timer ([`handles`]:
//! pid handles and folder watches, the [`folders`] it follows, its view of
//! the [`agents`]), the store as last read ([`cache`]), what is published
//! ([`publish`]) and the sweep ([`sweep`]); the settings in force live here,
//! once.
//!
//! Invariants: one daemon per home (the `fcntl` lock on `daemon.lock`, held
//! for life); every child is reaped in one place, `ps` included; only lock
//! holders that a fresh `ps` shows as that watcher are signalled; no failure
//! to log or publish stops supervision; a fired handle is judged after the
//! store was brought up to date.

mod agents;
mod cache;
mod folders;
mod handles;
mod publish;
mod sweep;
mod table;
mod wait;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::home::{Home, Records};
use crate::ledger::{self, Header};
use crate::log::{self, Log};
use crate::reconcile::{Exit, Ledger, Policy};
use crate::signals::SelfPipe;
use crate::store::Store;
use crate::supervisor::{
    self, Desired, Host, Signal, Spawned, Supervised, Supervisor, Table, Wake,
};
use crate::targets::{self, Me};
use crate::watcher::status::Status;
use crate::{files, lock, procs, spawn, sys};
use handles::{Handles, Whose};
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
    /// The records changed in a read for discovery, not yet taken in.
    records_read: bool,
    handles: Handles,
    folders: folders::Folders,
    agents: agents::Agents,
    /// An agent was judged otherwise: the desired set is computed again.
    agents_changed: bool,
    /// How the daemon learns of changes, as last said in the log.
    mechanism: String,
    /// Whether the rules in force read `ps` every tick (no pid handles).
    polled: bool,
}

impl Real {
    /// How long one `ps` may take.
    fn ps_limit(&self) -> Duration {
        Duration::from_secs(self.config.reconcile_seconds.min(procs::TIMEOUT.as_secs()))
    }

    /// Reads the process table now; judges the sessions' agents by it.
    fn read_table(&mut self) -> std::result::Result<(), String> {
        let limit = self.ps_limit();
        self.handles.retry();
        self.table.read(&mut self.wait, limit)?;
        self.judge_agents();
        self.discover();
        Ok(())
    }

    /// Discovery after a `ps` read, on the store as it is now.
    fn discover(&mut self) {
        let (Some(procs), false) = (&self.table.procs, self.config.discover.is_empty()) else {
            return;
        };
        let now = self.wait.clock.ms();
        let how = (supervisor::Store::Changed, false);
        let every = self.store_every();
        self.records_read |= self.cache.refresh(&self.st, how, (now, every), &mut self.log);
        let records = self.cache.records();
        self.discovery.after_ps(&self.st, &self.config, procs, records, &mut self.log);
    }

    /// How often the store is read in full even when nothing says it changed.
    fn store_every(&self) -> u64 {
        match self.folders.store_watched() {
            true => self.config.audit_seconds * 1000,
            false => cache::FULL_READ_MS,
        }
    }

    /// Every session's agent no handle settles judged by the table just
    /// read, with the start ticks of the pids they name; live ones get a
    /// handle.
    fn judge_agents(&mut self) {
        let Some(procs) = &mut self.table.procs else { return };
        procs::add_ticks(procs, &self.agents.unsettled(self.cache.sessions(), &self.handles));
        let changed = self.agents.judge_all(self.cache.sessions(), procs, &mut self.handles);
        self.agents_changed |= changed;
    }

    /// Takes in what fired: folder watches armed again where a folder
    /// changed or local midnight passed; the mechanism said in the log when
    /// it changes. Returns new rules when pid handles stopped (or started)
    /// working, so the loop reads `ps` at the right pace.
    fn events(&mut self) -> Option<Policy> {
        let now = self.wait.clock.ms();
        if std::mem::take(&mut self.handles.news.rearm) || now >= self.folders.midnight {
            // A discovery folder that appeared may hold a new agent's file.
            self.handles.news.discovery |=
                self.folders.arm(&mut self.handles, now, crate::time::now());
        }
        let mechanism = self.handles.mechanism(self.folders.store_watched());
        if mechanism != self.mechanism {
            self.log.line(&format!("learning of changes by {mechanism}"));
            self.mechanism = mechanism;
        }
        let polled = self.handles.pids_polled();
        (polled != std::mem::replace(&mut self.polled, polled))
            .then(|| self.handles.policy(&self.config))
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
        self.folders.follow(&config.discover);
        self.handles.news.rearm = true;
        if self.read_table().is_ok() {
            let procs = self.table.procs.as_deref().unwrap_or_default();
            for key in sweep::lock_keys(&self.st.home) {
                targets::signal_watcher(&self.st.home, &key, procs, &self.me, libc::SIGHUP);
            }
        }
        Some(config)
    }
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
        // A doubt only `ps` settles, or discovery's folders changed: as
        // notified, or, for those not watched, as a `stat` shows.
        let news = &mut self.handles.news;
        let mut doubt = std::mem::take(&mut news.doubt) | std::mem::take(&mut news.discovery);
        if self.discovery.folders_changed(self.folders.unwatched()) {
            // A folder that appeared is watched from now on.
            (doubt, self.handles.news.rearm) = (true, true);
        }
        if how == Table::Read || self.table.procs.is_none() || doubt {
            self.read_table()?;
            let procs = self.table.procs.as_deref_mut().unwrap_or_default();
            *supervised = table::supervised(procs, &self.st.home, &self.me, &self.desired_keys);
            table::watch_watchers(supervised, procs, sys::getpid(), &mut self.handles);
        }
        Ok(())
    }

    fn read_desired(&mut self, how: supervisor::Store, desired: &mut Desired) -> bool {
        let now = self.wait.clock.ms();
        let notified = std::mem::take(&mut self.handles.news.store);
        let every = self.store_every();
        let problem = self.cache.problem.is_some();
        let reread = self.cache.refresh(&self.st, (how, notified), (now, every), &mut self.log)
            | std::mem::take(&mut self.records_read);
        let gone = std::mem::take(&mut self.handles.news.gone);
        self.agents_changed |= self.agents.gone(&gone);
        if reread && self.table.read_this_tick {
            self.judge_agents();
        } else if reread {
            let (changed, doubt) = self.agents.judge_new(self.cache.sessions(), &mut self.handles);
            self.agents_changed |= changed;
            self.handles.news.doubt |= doubt;
        }
        let changed = reread || std::mem::take(&mut self.agents_changed);
        if changed || how == supervisor::Store::Fresh {
            *desired = self.cache.desired(&self.st.home, &|s| self.agents.life(s));
            self.desired_keys = desired.keys().cloned().collect();
        }
        changed || problem != self.cache.problem.is_some()
    }

    fn spawn(&mut self, key: &str, artifact: &str) -> std::result::Result<Spawned, String> {
        let max = self.config.log_max_bytes;
        let spawned = spawn::watcher(&self.exe.path, &self.st.home, key, artifact, max)
            .map_err(|e| crate::error::reason(&e))?;
        if let Spawned::Held(pid) = spawned {
            // The probe found a holder: watched at once, confirmed by `ps`
            // at once (before it is signalled or counted as a crash).
            let whose = Whose::Watcher { key: key.into(), confirmed: false };
            self.handles.open(pid, whose, None);
            self.handles.news.doubt = true;
        }
        Ok(spawned)
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
        self.publisher.header.events = Some(self.mechanism.clone());
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
            let mut policy = match self.wait.reload {
                true => self.reload().map(|c| self.handles.policy(&c)),
                false => None,
            };
            policy = self.events().or(policy);
            let mut exits = std::mem::take(&mut self.wait.exits);
            let vanished = self.handles.news.vanished.drain(..);
            exits.extend(vanished.map(|pid| (pid, Exit::Vanished)));
            let news = self.handles.news.pending();
            if self.wait.stop || policy.is_some() || !exits.is_empty() || news {
                return Wake { stop: self.wait.stop, policy, exits };
            }
            if self.now() >= deadline {
                return Wake::default();
            }
            let until = deadline.min(self.folders.midnight);
            if self.wait.poll(&self.handles.fds(), until) {
                self.handles.drain();
            }
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
        "daemon pid {} started (every {}s, ps at least every {}s, {} keys in the crash ledger)",
        sys::getpid(),
        host.config.reconcile_seconds,
        host.config.audit_seconds,
        ledger.len()
    ));
    host.events();
    let policy = host.handles.policy(&host.config);
    Supervisor::new(policy, ledger).run(&mut host);
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
            wait.poll(&[], until);
            wait.exits.clear();
        }
        if wait.stop {
            return Ok(None);
        }
    }
}

fn host(st: Store, me: Me, exe: PathBuf, config: Config, wait: wait::Waiter) -> Real {
    let exe = Exe::new(exe);
    let mut log = Log::new(st.home.daemon_log(), config.log_max_bytes);
    let header = Header { pid: sys::getpid(), started: crate::time::now(), ..Header::default() };
    // A pid handle is a descriptor: room for every watcher and agent.
    if let Err(e) = sys::raise_nofile_limit() {
        log.line(&format!("cannot raise the descriptor limit: {}", crate::error::reason(&e)));
    }
    // Watched from the start, so the first session is seen at once.
    for kind in [Records::Sessions, Records::Tasks] {
        let _ = files::ensure_dir(&st.home.records(kind));
    }
    let (mut handles, mut folders) =
        (Handles::new(), folders::Folders::new(&st.home, &config.discover));
    // Armed before the first tick, whose `ps` read runs discovery anyway.
    folders.arm(&mut handles, wait.clock.ms(), crate::time::now());
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
        records_read: false,
        polled: handles.pids_polled(),
        handles,
        folders,
        agents: agents::Agents::default(),
        agents_changed: false,
        mechanism: String::new(),
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
