//! The supervisor loop: one thread, one wait, every side effect behind the
//! `Host` trait so that a host can embed it and tests can drive it with a
//! fake process table and a fake clock.
//!
//! A tick brings, in this order, the supervised set up to date (`ps`, or
//! the table kept current between reads), then the desired set (the store,
//! so a `sessions end` between the two reads is seen as a stray, not a
//! crash), asks the pure `reconcile` for a plan, carries it out and
//! publishes. A child's exit, or the pid handle of a watcher the daemon did
//! not fork, wakes the loop at once: a crash is recorded from that alone,
//! without a `ps` scan, which is read only every `audit_seconds` (and
//! whenever the host cannot do without it).

use crate::reconcile::{self, Exit, Key, Ledger, Observed, Plan, Policy, Retirement, Watcher};
use crate::store::Want;
use std::collections::BTreeMap;

pub use crate::spawn::Spawned;

/// The supervised set: this home's watcher processes, by key.
pub type Supervised = BTreeMap<Key, Vec<Watcher>>;

/// The desired set: what the store wants watched, by key.
pub type Desired = BTreeMap<Key, Want>;

/// How a tick learns what runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Read the process table (`ps`).
    Read,
    /// Reuse the last table, kept current by reaped children and pid
    /// handles (a host that cannot keep it current reads it anyway).
    Reuse,
}

/// How a tick reads the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Only what changed since the last read (the folders' stamps say).
    Changed,
    /// Everything, now (before a watcher is retired).
    Fresh,
}

/// Which signal `retire` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ask the watcher to finish.
    Term,
    /// It outlived SIGTERM.
    Kill,
}

/// Why `wait` returned.
#[derive(Debug, Default)]
pub struct Wake {
    /// SIGTERM or SIGINT: end the loop.
    pub stop: bool,
    /// New rules (SIGHUP brought a valid configuration).
    pub policy: Option<Policy>,
    /// Watchers that ended: children reaped (pid and how each ended), and
    /// watchers the daemon did not fork whose pid handle fired
    /// ([`Exit::Vanished`]). A host also returns an empty `Wake` when
    /// anything else changed (the store, an agent's exit): the loop ticks.
    pub exits: Vec<(i32, Exit)>,
}

/// Every side effect of the loop.
pub trait Host {
    /// Now, in monotonic milliseconds (any origin): every deadline of the
    /// loop is on this clock.
    fn now(&mut self) -> u64;
    /// Brings the supervised set up to date; `Err` when what runs is unknown.
    fn read_supervised(&mut self, how: Table, supervised: &mut Supervised) -> Result<(), String>;
    /// Brings the desired set up to date (a host that knows nothing changed
    /// leaves it as it is; a store it cannot read keeps the last set).
    /// Returns whether anything it publishes may have changed (the set, or
    /// why the store cannot be read); a host that cannot tell says `true`.
    fn read_desired(&mut self, how: Store, desired: &mut Desired) -> bool;
    /// Spawns the watcher of `key` unless its lock is held.
    fn spawn(&mut self, key: &str, artifact: &str) -> Result<Spawned, String>;
    /// Sends `signal` to the watcher `pid` of `key` if it may be signalled.
    fn retire(&mut self, key: &str, pid: i32, signal: Signal);
    /// The watcher of `key` crashed: ends what it may have left running (a
    /// judge's process group), if a fresh look shows it is that.
    fn clean_up(&mut self, key: &str);
    /// Logs what was decided and publishes the state.
    fn publish(&mut self, events: &[String], ledger: &Ledger, problem: Option<&str>);
    /// Removes what is left of keys long gone (the host keeps its own pace).
    fn sweep(&mut self, desired: &Desired);
    /// Sleeps until `deadline` (monotonic ms), a signal or a child's exit.
    fn wait(&mut self, deadline: u64) -> Wake;
}

/// The loop's state: the rules, the ledger, and what it observes.
pub struct Supervisor {
    /// The rules in force.
    pub policy: Policy,
    /// The crash ledger.
    pub ledger: Ledger,
    /// What the last tick saw, kept current between ticks.
    pub seen: Observed,
    /// What keeps it from supervising now (the table is unknown).
    pub problem: Option<String>,
    children: BTreeMap<i32, Key>,
    /// Until when a tick with nothing new has nothing to do: the last plan
    /// did nothing, and this is when it wanted to wake (0: not so).
    quiet_until: u64,
}

impl Supervisor {
    /// A supervisor starting from a ledger loaded from `daemon.state`.
    pub fn new(policy: Policy, ledger: Ledger) -> Supervisor {
        let (seen, problem, children) = (Observed::default(), None, BTreeMap::new());
        Supervisor { policy, ledger, seen, problem, children, quiet_until: 0 }
    }

    /// Runs until SIGTERM or SIGINT: tick, sweep, wait until the next tick,
    /// deadline or event. The table is read at the first tick and every
    /// `policy.audit`; between, ticks reuse it.
    pub fn run(&mut self, host: &mut impl Host) {
        let (mut table, mut next_tick, mut next_audit) = (Table::Read, 0, 0);
        loop {
            let now = host.now();
            if now >= next_audit {
                table = Table::Read;
            }
            if table == Table::Read {
                next_audit = now.saturating_add(self.policy.audit);
            }
            if now >= next_tick || table == Table::Read {
                next_tick = now.saturating_add(self.policy.tick);
            }
            let plan = self.tick(host, table);
            host.sweep(&self.seen.desired);
            let due = plan.wake_at.into_iter().chain([next_tick, next_audit]).min();
            let wake = host.wait(due.unwrap_or(next_tick));
            if wake.stop {
                return;
            }
            table = self.woken(wake);
        }
    }

    /// Applies what woke the loop; says how the next tick learns what runs:
    /// a crash is recorded from the reaped status or the fired handle alone,
    /// but a clean exit (SIGTERM, or a lock found taken) and new rules ask
    /// `ps`. Nothing but a deadline or an event (no exit): the table is
    /// reused.
    fn woken(&mut self, wake: Wake) -> Table {
        let mut clean = false;
        for (pid, exit) in wake.exits {
            let key = match self.children.remove(&pid) {
                Some(key) => key,
                // Not our child: a watcher we know by its pid handle.
                None if exit == Exit::Vanished => match self.key_of(pid) {
                    Some(key) => key,
                    None => continue,
                },
                None => continue,
            };
            self.forget(&key, pid);
            clean |= exit.clean();
            self.seen.exits.push((key, exit));
        }
        let table = if clean || wake.policy.is_some() { Table::Read } else { Table::Reuse };
        if let Some(p) = wake.policy {
            self.policy = p;
        }
        table
    }

    /// The key whose supervised processes include `pid`.
    fn key_of(&self, pid: i32) -> Option<Key> {
        let mut keys = self.seen.supervised.iter();
        keys.find(|(_, procs)| procs.iter().any(|w| w.pid == pid)).map(|(k, _)| k.clone())
    }

    /// Takes a reaped watcher out of the supervised set.
    fn forget(&mut self, key: &str, pid: i32) {
        if let Some(procs) = self.seen.supervised.get_mut(key) {
            procs.retain(|w| w.pid != pid);
            if procs.is_empty() {
                self.seen.supervised.remove(key);
            }
        }
    }

    /// One tick. Returns the plan.
    pub fn tick(&mut self, host: &mut impl Host, table: Table) -> Plan {
        let now = host.now();
        self.problem = host.read_supervised(table, &mut self.seen.supervised).err();
        let changed = host.read_desired(Store::Changed, &mut self.seen.desired);
        if self.problem.is_some() {
            // What runs is unknown: spawn nothing, retire nothing.
            self.quiet_until = 0;
            host.publish(&[], &self.ledger, self.problem.as_deref());
            return Plan::default();
        }
        if table == Table::Reuse && !changed && self.seen.exits.is_empty() && now < self.quiet_until
        {
            // Nothing new since a plan that did nothing, before its wake-up:
            // the plan would be the same (every rule of time has a wake-up).
            return Plan {
                wake_at: Some(self.quiet_until).filter(|&t| t < u64::MAX),
                ..Plan::default()
            };
        }
        let ledger = std::mem::take(&mut self.ledger);
        let (mut plan, ledger) = reconcile::reconcile(&self.seen, ledger, &self.policy, now);
        self.ledger = ledger;
        self.seen.exits.clear();
        if !plan.retire.is_empty() || !plan.kill.is_empty() {
            self.confirm_retirements(host, &mut plan, now);
        }
        self.carry_out(host, &mut plan, now);
        host.publish(&plan.events, &self.ledger, None);
        self.quiet_until = if plan.does_nothing() { plan.wake_at.unwrap_or(u64::MAX) } else { 0 };
        plan
    }

    /// Reads the store afresh before any watcher is signalled (a folder's
    /// stamp can miss a change) and calls off the retirement of a key that
    /// turns out to be desired.
    fn confirm_retirements(&mut self, host: &mut impl Host, plan: &mut Plan, now: u64) {
        host.read_desired(Store::Fresh, &mut self.seen.desired);
        let (desired, ledger) = (&self.seen.desired, &mut self.ledger);
        let mut unwanted = |r: &Retirement| {
            let stray = desired.get(&r.key).map_or(true, |w| w.all_gone);
            if let Some(e) = ledger.get_mut(&r.key).filter(|_| !stray) {
                reconcile::call_off(e, now);
            }
            stray
        };
        plan.retire.retain(&mut unwanted);
        plan.kill.retain(&mut unwanted);
    }

    /// Spawns, retires and kills what the plan says; a spawn that fails is
    /// a crash, recorded (with its wake-up) by the ledger's rules.
    fn carry_out(&mut self, host: &mut impl Host, plan: &mut Plan, now: u64) {
        for (key, artifact) in plan.spawn.clone() {
            let (pid, holds_lock) = match host.spawn(&key, &artifact) {
                Ok(Spawned::Started(pid)) => {
                    self.children.insert(pid, key.clone());
                    plan.events
                        .push(format!("spawned watcher pid {pid} for {artifact} (key {key})"));
                    (pid, None)
                }
                Ok(Spawned::Held(pid)) => (pid, Some(true)),
                Err(why) => {
                    if let Some(e) = self.ledger.get_mut(&key) {
                        reconcile::spawn_failed(plan, &key, e, why, &self.policy, now);
                    }
                    continue;
                }
            };
            let w = Watcher { pid, holds_lock, artifact };
            self.seen.supervised.entry(key).or_default().push(w);
        }
        let signals = (plan.retire.iter().map(|r| (r, Signal::Term)))
            .chain(plan.kill.iter().map(|r| (r, Signal::Kill)));
        for (r, signal) in signals {
            plan.events.push(r.why.clone());
            host.retire(&r.key, r.pid, signal);
        }
        for key in &plan.crashed {
            host.clean_up(key);
        }
    }
}

#[cfg(test)]
#[path = "supervisor_tests.rs"]
mod tests;
