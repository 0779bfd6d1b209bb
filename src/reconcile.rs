//! The pure heart of the daemon: from what is desired, what runs, and the
//! crash ledger, decide what to spawn, what waits (backoff), and what to
//! retire. No I/O, no clock: `now` is a parameter, in monotonic milliseconds.
//!
//! Invariants (tested exhaustively below): never a spawn for a key that is
//! supervised, never two spawns of one key in one plan, never a spawn before
//! its backoff ends, only non-desired keys' lock holders are retired, no
//! delay exceeds the cap, and every wake-up lies in the future.

use crate::config::Config;
use crate::store::Want;
use std::collections::BTreeMap;
use std::fmt;

/// A watcher's key: 16 hex digits.
pub type Key = String;

/// The rules in force, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Time between ticks when nothing wakes the loop.
    pub tick: u64,
    /// Delay before the first restart.
    pub base: u64,
    /// Cap of the exponential delay.
    pub max: u64,
    /// A watcher alive this long has its crash count reset.
    pub reset: u64,
    /// A watcher not desired this long is retired.
    pub stray_grace: u64,
    /// The same when all its sessions are gone (one last idle verdict).
    pub gone_grace: u64,
    /// SIGKILL follows SIGTERM after this.
    pub kill_after: u64,
    /// The process table is read at least this often (a host without pid
    /// handles sets it to `tick`: every tick reads it).
    pub audit: u64,
}

impl Policy {
    /// The policy a configuration sets.
    pub fn new(c: &Config) -> Policy {
        Policy {
            tick: c.reconcile_seconds * 1000,
            base: c.backoff_base_seconds * 1000,
            max: c.backoff_max_seconds * 1000,
            reset: c.backoff_reset_seconds * 1000,
            stray_grace: c.stray_grace_seconds * 1000,
            gone_grace: (c.idle_seconds + c.judge_timeout_seconds) * 1000,
            kill_after: 5000,
            audit: c.audit_seconds * 1000,
        }
    }

    /// The delay after crash `n` (n ≥ 1): min(base·2^(n−1), max).
    pub fn delay(&self, n: u32) -> u64 {
        let factor = 1u64.checked_shl(n.saturating_sub(1)).unwrap_or(u64::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// How a watcher ended, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// It could not be started, and why.
    SpawnFailed(String),
    /// It disappeared from the process table without the daemon reaping it
    /// (it was not the daemon's child).
    Vanished,
}

impl Exit {
    /// How a process ended, from its wait status.
    pub fn of_status(status: i32) -> Exit {
        if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        }
    }

    /// Parses the text `Display` writes; `None` for anything else.
    pub fn parse(s: &str) -> Option<Exit> {
        let num = |n: &str| n.parse().ok();
        match s.split_once(' ') {
            Some(("exit", n)) => num(n).map(Exit::Code),
            Some(("signal", n)) => num(n).map(Exit::Signal),
            _ if s == "vanished" => Some(Exit::Vanished),
            _ => s.strip_prefix("spawn failed: ").map(|r| Exit::SpawnFailed(r.into())),
        }
    }

    /// Whether the watcher ended cleanly by itself (SIGTERM handled, or a
    /// lock found taken): then the table must be read to learn who watches.
    pub fn clean(&self) -> bool {
        *self == Exit::Code(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Exit::Code(n) => write!(f, "exit {n}"),
            Exit::Signal(n) => write!(f, "signal {n}"),
            Exit::SpawnFailed(why) => write!(f, "spawn failed: {why}"),
            Exit::Vanished => f.write_str("vanished"),
        }
    }
}

/// Where one key stands. Each variant carries exactly what its rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Desired without a watcher: spawned at the next step.
    Pending,
    /// Spawned by this daemon at `at`, not yet confirmed by the table.
    Spawned {
        /// When (ms).
        at: u64,
    },
    /// Running since `since`: its spawn when this daemon spawned it, else
    /// when it was first seen.
    Running {
        /// Since when (ms).
        since: u64,
    },
    /// Crashed: no spawn before `until`.
    Backoff {
        /// The end of the delay (ms).
        until: u64,
    },
    /// Running while not desired, since `since`.
    Stray {
        /// Since when (ms).
        since: u64,
    },
    /// A stray since `since`, sent SIGTERM at `at`.
    Retiring {
        /// When it turned stray (ms).
        since: u64,
        /// The watcher signalled.
        pid: i32,
        /// When (ms).
        at: u64,
    },
    /// A retired stray that outlived its SIGTERM and was sent SIGKILL.
    Killed {
        /// When it turned stray (ms).
        since: u64,
        /// The watcher signalled.
        pid: i32,
    },
}

/// One watcher process of this home, as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watcher {
    /// Its pid.
    pub pid: i32,
    /// Whether it holds the key's lock, where that was asked.
    pub holds_lock: Option<bool>,
    /// The artifact its command line names (as `ps` shows it; for people).
    pub artifact: String,
}

/// What one step observes.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The store's wants, by key.
    pub desired: BTreeMap<Key, Want>,
    /// The watchers running, by key.
    pub supervised: BTreeMap<Key, Vec<Watcher>>,
    /// How the daemon's children reaped since the last step ended.
    pub exits: Vec<(Key, Exit)>,
}

/// What the daemon remembers of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The artifact.
    pub artifact: String,
    /// Consecutive crashes, which drive the backoff.
    pub crashes: u32,
    /// How its last watcher ended.
    pub last_exit: Option<Exit>,
    /// Where it stands.
    pub phase: Phase,
    /// When every session of the (desired) key was first seen gone (ms).
    pub gone_at: Option<u64>,
}

impl Entry {
    /// A key met for the first time.
    pub fn new(artifact: &str) -> Entry {
        let (crashes, last_exit, phase, gone_at) = (0, None, Phase::Pending, None);
        Entry { artifact: artifact.into(), crashes, last_exit, phase, gone_at }
    }
}

/// The ledger: one entry per key the daemon cares about.
pub type Ledger = BTreeMap<Key, Entry>;

/// A watcher to signal, and why (logged when the signal is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    /// Its key.
    pub key: Key,
    /// Its pid.
    pub pid: i32,
    /// The line for the log.
    pub why: String,
}

/// What one step decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Spawn a watcher now: key and artifact.
    pub spawn: Vec<(Key, String)>,
    /// Keys in backoff, with the end of their delay.
    pub waiting: Vec<(Key, u64)>,
    /// SIGTERM these watchers.
    pub retire: Vec<Retirement>,
    /// SIGKILL these watchers that outlived their SIGTERM.
    pub kill: Vec<Retirement>,
    /// Keys whose watcher ended without the daemon asking: what it left
    /// running (its judge) is to be ended.
    pub crashed: Vec<Key>,
    /// Lines for the log: what was decided and why.
    pub events: Vec<String>,
    /// The earliest time a later step has something to do (ms).
    pub wake_at: Option<u64>,
}

impl Plan {
    /// Makes `at` the wake-up time if it is earlier than the one set.
    pub fn wake(&mut self, at: u64) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    /// Whether it acts on nothing and has nothing to say: with the same
    /// inputs, every step before its wake-up decides the same.
    pub fn does_nothing(&self) -> bool {
        self.spawn.is_empty()
            && self.retire.is_empty()
            && self.kill.is_empty()
            && self.crashed.is_empty()
            && self.events.is_empty()
    }
}

/// One step: the plan and the new ledger. Pure and total. The ledger is
/// taken by value so that a steady state allocates nothing.
pub fn reconcile(obs: &Observed, mut ledger: Ledger, policy: &Policy, now: u64) -> (Plan, Ledger) {
    let mut plan = Plan::default();
    // Looked up first: a steady state clones no key.
    for (key, want) in &obs.desired {
        if !ledger.contains_key(key) {
            ledger.entry(key.clone()).or_insert_with(|| Entry::new(&want.artifact));
        }
    }
    for (key, procs) in &obs.supervised {
        if !ledger.contains_key(key) {
            let artifact = procs.first().map_or("", |p| p.artifact.as_str());
            ledger.entry(key.clone()).or_insert_with(|| Entry::new(artifact));
        }
    }
    ledger.retain(|key, e| {
        let procs = obs.supervised.get(key).map_or(&[][..], Vec::as_slice);
        let exit = obs.exits.iter().rev().find(|(k, _)| k == key).map(|(_, x)| x.clone());
        match obs.desired.get(key) {
            Some(want) if !want.all_gone => {
                if e.artifact != want.artifact {
                    e.artifact.clone_from(&want.artifact);
                }
                e.gone_at = None;
                desired(&mut plan, key, e, procs, exit, policy, now);
                true
            }
            want => {
                // Desired here means all its sessions are gone: since when.
                e.gone_at = want.map(|_| e.gone_at.unwrap_or(now));
                stray(&mut plan, key, e, procs, want.is_some(), policy, now)
            }
        }
    });
    (plan, ledger)
}

/// A retirement called off because the key is desired after all (a fresh
/// read of the store found it): its watcher runs on.
pub fn call_off(e: &mut Entry, now: u64) {
    e.phase = Phase::Running { since: now };
}

/// A spawn that failed: a crash with its backoff, recorded like any other.
pub fn spawn_failed(plan: &mut Plan, key: &str, e: &mut Entry, why: String, p: &Policy, now: u64) {
    crash(plan, key, e, Exit::SpawnFailed(why), p, now);
}

/// Records a crash of `key`: count it (after a reset if it lived long
/// enough), set the backoff, and wake when it ends.
fn crash(plan: &mut Plan, key: &str, e: &mut Entry, exit: Exit, p: &Policy, now: u64) {
    if let Phase::Spawned { at: since } | Phase::Running { since } = e.phase {
        if now.saturating_sub(since) >= p.reset {
            e.crashes = 0;
        }
    }
    e.crashes = e.crashes.saturating_add(1);
    let delay = p.delay(e.crashes);
    let until = now.saturating_add(delay);
    plan.events.push(format!(
        "watcher of {} (key {key}) crashed: {exit}; crash {}, backing off {delay}ms",
        e.artifact, e.crashes
    ));
    (e.phase, e.last_exit) = (Phase::Backoff { until }, Some(exit));
    plan.crashed.push(key.to_string());
    plan.waiting.push((key.to_string(), until));
    plan.wake(until);
}

/// A desired key: note it runs, count its crash, wait out its backoff, or
/// spawn it.
fn desired(
    plan: &mut Plan,
    key: &str,
    e: &mut Entry,
    procs: &[Watcher],
    exit: Option<Exit>,
    p: &Policy,
    now: u64,
) {
    let running = !procs.is_empty();
    match (e.phase, running) {
        (Phase::Spawned { .. } | Phase::Running { .. }, false) => {
            return crash(plan, key, e, exit.unwrap_or(Exit::Vanished), p, now);
        }
        (Phase::Spawned { at }, true) => e.phase = Phase::Running { since: at },
        (Phase::Running { .. }, true) => {}
        (
            Phase::Pending
            | Phase::Backoff { .. }
            | Phase::Stray { .. }
            | Phase::Retiring { .. }
            | Phase::Killed { .. },
            true,
        ) => e.phase = Phase::Running { since: now },
        (Phase::Backoff { until }, false) if now < until => {
            plan.waiting.push((key.to_string(), until));
            plan.wake(until);
        }
        (
            Phase::Pending
            | Phase::Backoff { .. }
            | Phase::Stray { .. }
            | Phase::Retiring { .. }
            | Phase::Killed { .. },
            false,
        ) => {
            plan.spawn.push((key.to_string(), e.artifact.clone()));
            e.phase = Phase::Spawned { at: now };
        }
    }
    if let Some(x) = exit {
        e.last_exit = Some(x);
    }
    if let (Phase::Running { since }, true) = (e.phase, e.crashes > 0) {
        if now.saturating_sub(since) >= p.reset {
            let what = format!("watcher of {} (key {key}) stayed up", e.artifact);
            plan.events.push(format!("{what}: crash count reset"));
            e.crashes = 0;
        } else {
            // Every rule of time has its wake-up, so a quiet tick can skip.
            plan.wake(since.saturating_add(p.reset));
        }
    }
}

/// A key that is not desired (or whose sessions are all gone): retire its
/// watcher after the grace; returns whether the ledger keeps the key.
fn stray(
    plan: &mut Plan,
    key: &str,
    e: &mut Entry,
    procs: &[Watcher],
    gone: bool,
    p: &Policy,
    now: u64,
) -> bool {
    e.crashes = 0;
    if procs.is_empty() {
        return false;
    }
    let shown = |pid: i32| procs.iter().any(|w| w.pid == pid);
    let since = match e.phase {
        Phase::Killed { pid, .. } if shown(pid) => return true,
        Phase::Retiring { since, pid, at } if shown(pid) => {
            let due = at.saturating_add(p.kill_after);
            if now < due {
                plan.wake(due);
                return true;
            }
            if lock_holder(procs).is_some_and(|w| w.pid == pid) {
                let why = format!("watcher pid {pid} (key {key}) outlived SIGTERM: SIGKILL");
                plan.kill.push(Retirement { key: key.to_string(), pid, why });
                e.phase = Phase::Killed { since, pid };
                return true;
            }
            since
        }
        Phase::Stray { since } | Phase::Retiring { since, .. } | Phase::Killed { since, .. } => {
            since
        }
        Phase::Pending | Phase::Spawned { .. } | Phase::Running { .. } | Phase::Backoff { .. } => {
            now
        }
    };
    e.phase = Phase::Stray { since };
    let due = since.saturating_add(if gone { p.gone_grace } else { p.stray_grace });
    if now < due {
        plan.wake(due);
        return true;
    }
    if let Some(w) = lock_holder(procs) {
        let reason = if gone { "its sessions are gone" } else { "not desired" };
        let secs = (now - since) / 1000;
        let why = format!("retiring watcher pid {} (key {key}): {reason} for {secs}s", w.pid);
        plan.retire.push(Retirement { key: key.to_string(), pid: w.pid, why });
        e.phase = Phase::Retiring { since, pid: w.pid, at: now };
        plan.wake(now.saturating_add(p.kill_after));
    }
    true
}

/// The watcher that holds the key's lock: the one said to, or a lone
/// process nobody asked about (the executor checks again before signalling).
fn lock_holder(procs: &[Watcher]) -> Option<&Watcher> {
    match procs {
        [only] if only.holds_lock != Some(false) => Some(only),
        _ => procs.iter().find(|p| p.holds_lock == Some(true)),
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
