//! The supervisor loop: one thread, one wait, every side effect behind the
//! `Host` trait so that a host can embed it and tests can drive it with a
//! fake process table and a fake clock.
//!
//! A tick reads, in this order, the supervised set (`ps`), then the desired
//! set (the store), asks the pure `reconcile` for a plan, carries it out and
//! reports. A child's exit wakes the loop at once: the crash is recorded by
//! a quick tick that trusts the last `ps` minus the reaped pids.

use crate::config::Config;
use crate::reconcile::{self, Key, Ledger, Observed, Plan, Policy, Watcher};
use crate::store::Want;
use std::collections::BTreeMap;

/// The supervised set: this home's watcher processes, by key.
pub type Supervised = BTreeMap<Key, Vec<Watcher>>;

/// What a spawn did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spawned {
    /// A new watcher runs with this pid (and process group).
    Started(i32),
    /// The key's lock is held already, by this pid: nothing was spawned.
    Held(i32),
}

/// Why `wait` returned.
#[derive(Debug, Default)]
pub struct Wake {
    /// SIGTERM or SIGINT: end the loop.
    pub stop: bool,
    /// A new configuration (SIGHUP, parsed and valid).
    pub config: Option<Config>,
    /// Children reaped: pid and `exit N` / `signal N`.
    pub exits: Vec<(i32, String)>,
}

/// Every side effect of the loop.
pub trait Host {
    /// The time in milliseconds since the Unix epoch.
    fn now(&mut self) -> u64;
    /// This home's watchers from the process table, or why it is unknown.
    fn read_supervised(&mut self) -> Result<Supervised, String>;
    /// Brings the desired set up to date (in place: a host that knows
    /// nothing changed leaves it as it is).
    fn read_desired(&mut self, desired: &mut BTreeMap<Key, Want>);
    /// Spawns the watcher of `key` unless its lock is held.
    fn spawn(&mut self, key: &str, artifact: &str) -> Result<Spawned, String>;
    /// Sends `signal` to the watcher `pid` of `key` if it may be signalled.
    fn retire(&mut self, key: &str, pid: i32, pgid: i32, signal: i32);
    /// Sleeps until `deadline` (ms) or a signal.
    fn wait(&mut self, deadline: u64) -> Wake;
    /// Logs what was decided and publishes the state.
    fn report(&mut self, events: &[String], ledger: &Ledger, problem: Option<&str>);
}

/// The loop's state: the ledger and what it knows between ticks.
#[derive(Default)]
pub struct Supervisor {
    /// The crash ledger.
    pub ledger: Ledger,
    /// The settings in force.
    pub config: Config,
    desired: BTreeMap<Key, Want>,
    snapshot: Option<Supervised>,
    children: BTreeMap<i32, Key>,
    exits: Vec<(Key, String)>,
    problem: Option<String>,
}

impl Supervisor {
    /// A supervisor starting from a ledger loaded from `daemon.state`.
    pub fn new(config: Config, ledger: Ledger) -> Supervisor {
        Supervisor { ledger, config, ..Supervisor::default() }
    }

    /// Runs until SIGTERM or SIGINT.
    pub fn run(&mut self, host: &mut impl Host) {
        let mut next_tick = 0;
        let mut full = true;
        loop {
            let now = host.now();
            if full {
                next_tick = now + self.config.reconcile_seconds * 1000;
            }
            let plan = self.tick(host, full);
            let deadline = plan.wake_at.map_or(next_tick, |w| w.min(next_tick));
            let wake = host.wait(deadline);
            if wake.stop {
                return;
            }
            // A crash is recorded from the reaped status alone; a clean exit
            // (SIGTERM, or a lock found taken) asks `ps` who watches now.
            full = wake.exits.iter().all(|(_, s)| s == "exit 0");
            if let Some(c) = wake.config {
                (self.config, full) = (c, true);
            }
            self.reaped(wake.exits);
        }
    }

    /// Takes reaped children out of the snapshot and keeps their statuses.
    fn reaped(&mut self, exits: Vec<(i32, String)>) {
        for (pid, status) in exits {
            let Some(key) = self.children.remove(&pid) else {
                continue;
            };
            if let Some(procs) = self.snapshot.as_mut().and_then(|s| s.get_mut(&key)) {
                procs.retain(|p| p.pid != pid);
                if procs.is_empty() {
                    self.snapshot.as_mut().map(|s| s.remove(&key));
                }
            }
            self.exits.push((key, status));
        }
    }

    /// One tick; `full` reads the process table, otherwise the last one is
    /// trusted (a quick tick after a child's exit). Returns the plan.
    pub fn tick(&mut self, host: &mut impl Host, full: bool) -> Plan {
        let now = host.now();
        if full {
            match host.read_supervised() {
                Ok(s) => (self.snapshot, self.problem) = (Some(s), None),
                Err(e) => (self.snapshot, self.problem) = (None, Some(e)),
            }
        }
        host.read_desired(&mut self.desired);
        let Some(supervised) = self.snapshot.take() else {
            // The process table is unknown: spawn nothing, retire nothing.
            host.report(&[], &self.ledger, self.problem.as_deref());
            return Plan::default();
        };
        let (desired, exits) = (std::mem::take(&mut self.desired), std::mem::take(&mut self.exits));
        let obs = Observed { desired, supervised, exits };
        let policy = Policy::new(&self.config);
        let (mut plan, mut ledger) =
            reconcile::reconcile(&obs, std::mem::take(&mut self.ledger), &policy, now);
        let mut supervised = obs.supervised;
        self.desired = obs.desired;
        for (key, artifact) in plan.spawn.clone() {
            let (pid, holds) = match host.spawn(&key, &artifact) {
                Ok(Spawned::Started(pid)) => {
                    self.children.insert(pid, key.clone());
                    plan.events
                        .push(format!("spawned watcher pid {pid} for {artifact} (key {key})"));
                    (pid, None)
                }
                Ok(Spawned::Held(pid)) => (pid, Some(true)),
                Err(why) => {
                    let why = format!("spawn failed: {why}");
                    if let Some(e) = ledger.get_mut(&key) {
                        reconcile::crash(&mut plan, &key, e, why, &policy, now);
                    }
                    continue;
                }
            };
            supervised.entry(key).or_default().push(Watcher { pid, pgid: pid, holds_lock: holds });
        }
        for (key, pid, pgid) in &plan.retire {
            host.retire(key, *pid, *pgid, libc::SIGTERM);
        }
        for (key, pid, pgid) in &plan.kill {
            host.retire(key, *pid, *pgid, libc::SIGKILL);
        }
        if let Some(t) = ledger.values().filter_map(|e| e.next_retry).filter(|&t| t > now).min() {
            plan.wake(t);
        }
        host.report(&plan.events, &ledger, self.problem.as_deref());
        (self.snapshot, self.ledger) = (Some(supervised), ledger);
        plan
    }
}

#[cfg(test)]
#[path = "supervisor_tests.rs"]
mod tests;
