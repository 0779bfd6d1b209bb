//! The pure heart of the daemon: from what is desired, what runs, and the
//! crash ledger, decide what to spawn, what waits (backoff), and what to
//! retire. No I/O, no clock: `now` is a parameter (milliseconds).
//!
//! Invariants (tested exhaustively below): never a spawn for a key that is
//! supervised, never two spawns of one key in one plan, never a spawn before
//! its `next_retry`, only non-desired keys' lock holders are retired, and no
//! delay exceeds the cap.

use crate::config::Config;
use crate::store::Want;
use std::collections::BTreeMap;

/// A watcher's key: 16 hex digits.
pub type Key = String;

/// The rules in force, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
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
}

impl Policy {
    /// The policy a configuration sets.
    pub fn new(c: &Config) -> Policy {
        Policy {
            base: c.backoff_base_seconds * 1000,
            max: c.backoff_max_seconds * 1000,
            reset: c.backoff_reset_seconds * 1000,
            stray_grace: c.stray_grace_seconds * 1000,
            gone_grace: (c.idle_seconds + c.judge_timeout_seconds) * 1000,
            kill_after: 5000,
        }
    }

    /// The delay after crash `n` (n ≥ 1): min(base·2^(n−1), max).
    pub fn delay(&self, n: u32) -> u64 {
        let factor = 1u64.checked_shl(n.saturating_sub(1)).unwrap_or(u64::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// One watcher process of this home, as `ps` showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watcher {
    /// Its pid.
    pub pid: i32,
    /// Its process group.
    pub pgid: i32,
    /// Whether it holds the key's lock, where that was asked.
    pub holds_lock: Option<bool>,
}

/// What one step observes.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The store's wants, by key.
    pub desired: BTreeMap<Key, Want>,
    /// The watchers running, by key.
    pub supervised: BTreeMap<Key, Vec<Watcher>>,
    /// Exit statuses of the daemon's children reaped since the last step.
    pub exits: Vec<(Key, String)>,
}

/// A SIGTERM sent to retire a watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retired {
    /// The watcher signalled.
    pub pid: i32,
    /// When (ms).
    pub at: u64,
    /// Whether SIGKILL followed.
    pub killed: bool,
}

/// What the daemon remembers of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The artifact.
    pub artifact: String,
    /// Consecutive crashes, which drive the backoff.
    pub crashes: u32,
    /// `exit N`, `signal N`, `spawn failed: REASON` or `vanished`.
    pub last_exit: Option<String>,
    /// When the current watcher was first seen (ms).
    pub since: Option<u64>,
    /// No spawn before this (ms).
    pub next_retry: Option<u64>,
    /// When the key was first seen running while not desired (ms).
    pub stray_since: Option<u64>,
    /// Supervised or spawned as of the last step: its absence is a crash.
    pub running: bool,
    /// The retirement under way.
    pub retired: Option<Retired>,
}

/// The ledger: one entry per key the daemon cares about.
pub type Ledger = BTreeMap<Key, Entry>;

/// What one step decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Spawn a watcher now: key and artifact.
    pub spawn: Vec<(Key, String)>,
    /// Keys in backoff, with their next retry.
    pub waiting: Vec<(Key, u64)>,
    /// SIGTERM these watchers: key, pid, pgid.
    pub retire: Vec<(Key, i32, i32)>,
    /// SIGKILL these watchers that outlived their SIGTERM.
    pub kill: Vec<(Key, i32, i32)>,
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
}

/// Records a crash of `key`: count it and set the backoff deadline.
pub fn crash(plan: &mut Plan, key: &str, e: &mut Entry, why: String, policy: &Policy, now: u64) {
    e.crashes = e.crashes.saturating_add(1);
    let delay = policy.delay(e.crashes);
    e.next_retry = Some(now + delay);
    e.running = false;
    e.since = None;
    plan.events.push(format!(
        "watcher of {} (key {key}) crashed: {why}; crash {}, backing off {}ms until {}",
        e.artifact,
        e.crashes,
        delay,
        crate::log::utc((now + delay).div_ceil(1000))
    ));
    e.last_exit = Some(why);
}

/// One step: the plan and the new ledger. Pure and total. The ledger is
/// taken by value so that a steady state allocates nothing.
pub fn reconcile(obs: &Observed, mut ledger: Ledger, policy: &Policy, now: u64) -> (Plan, Ledger) {
    let mut plan = Plan::default();
    for key in obs.desired.keys().chain(obs.supervised.keys()) {
        if !ledger.contains_key(key) {
            ledger.insert(key.clone(), Entry::default());
        }
    }
    ledger.retain(|key, e| {
        let procs = obs.supervised.get(key).map_or(&[][..], Vec::as_slice);
        let exit = obs.exits.iter().rev().find(|(k, _)| k == key).map(|(_, s)| s.clone());
        match obs.desired.get(key) {
            Some(want) if !want.all_gone => {
                e.artifact.clone_from(&want.artifact);
                desired(&mut plan, key, e, procs, exit, policy, now);
                true
            }
            want => stray(&mut plan, key, e, procs, want.is_some(), policy, now),
        }
    });
    (plan, ledger)
}

/// A desired key: spawn it, wait for its retry, or note it runs.
fn desired(
    plan: &mut Plan,
    key: &str,
    e: &mut Entry,
    procs: &[Watcher],
    exit: Option<String>,
    policy: &Policy,
    now: u64,
) {
    (e.stray_since, e.retired) = (None, None);
    if !procs.is_empty() {
        if !e.running || e.since.is_none() {
            (e.running, e.since) = (true, Some(now));
        }
        if let Some(s) = exit {
            e.last_exit = Some(s);
        }
        if e.crashes > 0 && e.since.is_some_and(|s| now.saturating_sub(s) >= policy.reset) {
            plan.events.push(format!(
                "watcher of {} (key {key}) stayed up: crash count reset",
                e.artifact
            ));
            (e.crashes, e.next_retry) = (0, None);
        }
        return;
    }
    if e.running {
        crash(plan, key, e, exit.unwrap_or_else(|| "vanished".into()), policy, now);
    } else if let Some(s) = exit {
        e.last_exit = Some(s);
    }
    match e.next_retry {
        Some(t) if now < t => {
            plan.waiting.push((key.to_string(), t));
            plan.wake(t);
        }
        _ => {
            plan.spawn.push((key.to_string(), e.artifact.clone()));
            (e.running, e.since) = (true, None);
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
    policy: &Policy,
    now: u64,
) -> bool {
    (e.running, e.since, e.crashes, e.next_retry) = (false, None, 0, None);
    if procs.is_empty() {
        return false;
    }
    if let Some(r) = e.retired.filter(|r| procs.iter().any(|p| p.pid == r.pid)) {
        let due = r.at + policy.kill_after;
        if r.killed {
            return true;
        }
        if now < due {
            plan.wake(due);
            return true;
        }
        if let Some(p) = lock_holder(procs).filter(|p| p.pid == r.pid) {
            plan.kill.push((key.to_string(), r.pid, p.pgid));
            plan.events
                .push(format!("watcher pid {} (key {key}) outlived SIGTERM: SIGKILL", r.pid));
            e.retired = Some(Retired { killed: true, ..r });
            return true;
        }
    }
    e.retired = None;
    let since = *e.stray_since.get_or_insert(now);
    let grace = if gone { policy.gone_grace } else { policy.stray_grace };
    if now < since + grace {
        plan.wake(since + grace);
        return true;
    }
    if let Some(p) = lock_holder(procs) {
        plan.retire.push((key.to_string(), p.pid, p.pgid));
        let why = if gone { "its sessions are gone" } else { "not desired" };
        plan.events.push(format!(
            "retiring watcher pid {} (key {key}): {why} for {}s",
            p.pid,
            (now - since) / 1000
        ));
        e.retired = Some(Retired { pid: p.pid, at: now, killed: false });
        plan.wake(now + policy.kill_after);
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
