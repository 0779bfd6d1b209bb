use super::*;
use crate::config::Config;
use crate::reconcile::Phase;

/// A fake process table and clock.
#[derive(Default)]
struct Fake {
    now: u64,
    table: Supervised,
    desired: Desired,
    /// The desired set a fresh read finds (a change the stamp missed).
    fresh: Option<Desired>,
    ps_fails: bool,
    spawn_fails: bool,
    next_pid: i32,
    spawned: Vec<Key>,
    signals: Vec<(i32, Signal)>,
    events: Vec<String>,
    problems: Vec<Option<String>>,
    /// How often the process table was read.
    reads: u32,
    sweeps: u32,
    cleaned: Vec<Key>,
    /// What `wait` returns, last first; then a stop. `None`: never stop.
    script: Option<Vec<Wake>>,
    /// `read_desired` says nothing changed (a host that can tell).
    unchanged: bool,
    publishes: u32,
}

impl Host for Fake {
    fn now(&mut self) -> u64 {
        self.now
    }
    fn read_supervised(&mut self, how: Table, supervised: &mut Supervised) -> Result<(), String> {
        if how == Table::Reuse {
            return Ok(());
        }
        self.reads += 1;
        if self.ps_fails {
            return Err("ps timed out".into());
        }
        supervised.clone_from(&self.table);
        Ok(())
    }
    fn read_desired(&mut self, how: Store, desired: &mut Desired) -> bool {
        match (how, &self.fresh) {
            (Store::Fresh, Some(f)) => desired.clone_from(f),
            _ => desired.clone_from(&self.desired),
        }
        !self.unchanged
    }
    fn spawn(&mut self, key: &str, artifact: &str) -> Result<Spawned, String> {
        if self.spawn_fails {
            return Err("no such file".into());
        }
        self.next_pid += 1;
        let pid = 100 + self.next_pid;
        let w = Watcher { pid, holds_lock: None, artifact: artifact.into() };
        self.table.insert(key.into(), vec![w]);
        self.spawned.push(key.into());
        Ok(Spawned::Started(pid))
    }
    fn retire(&mut self, _key: &str, pid: i32, signal: Signal) {
        self.signals.push((pid, signal));
    }
    fn clean_up(&mut self, key: &str) {
        self.cleaned.push(key.into());
    }
    fn publish(&mut self, events: &[String], _ledger: &Ledger, problem: Option<&str>) {
        self.publishes += 1;
        self.events.extend_from_slice(events);
        self.problems.push(problem.map(String::from));
    }
    fn sweep(&mut self, _desired: &Desired) {
        self.sweeps += 1;
    }
    fn wait(&mut self, deadline: u64) -> Wake {
        assert!(deadline > self.now, "a wait that would spin: {deadline} <= {}", self.now);
        let wake = match self.script.as_mut() {
            Some(wakes) => wakes.pop().unwrap_or(Wake { stop: true, ..Wake::default() }),
            None => Wake::default(),
        };
        // An event wakes the loop a moment later; otherwise it sleeps to the deadline.
        let event = wake.stop || wake.policy.is_some() || !wake.exits.is_empty();
        self.now = if event { self.now + 1 } else { deadline };
        wake
    }
}

fn want(k: &str) -> Want {
    Want { artifact: format!("/a/{k}"), sessions: vec![], all_gone: false }
}

fn fake(keys: &[&str]) -> Fake {
    let desired = keys.iter().map(|k| (k.to_string(), want(k))).collect();
    Fake { now: 1_000_000, desired, ..Fake::default() }
}

fn sup() -> Supervisor {
    Supervisor::new(Policy::new(&Config::default()), Ledger::new())
}

#[test]
fn three_ticks_spawn_once_then_adopt() {
    let mut host = fake(&["k1", "k2"]);
    let mut sup = sup();
    let plan = sup.tick(&mut host, Table::Read);
    assert_eq!(plan.spawn.len(), 2);
    for _ in 0..2 {
        host.now += 1000;
        assert!(sup.tick(&mut host, Table::Read).spawn.is_empty());
    }
    assert_eq!(host.spawned, ["k1", "k2"]);
    assert!(host.events[0].starts_with("spawned watcher pid 101 for /a/k1"));
}

#[test]
fn a_reaped_child_is_a_crash_without_reading_ps() {
    let mut host = fake(&["k"]);
    let mut sup = sup();
    sup.tick(&mut host, Table::Read);
    host.ps_fails = true; // a quick tick must not need ps
    let table = sup.woken(Wake { exits: vec![(101, Exit::Signal(9))], ..Wake::default() });
    assert_eq!(table, Table::Reuse);
    host.now += 5;
    let plan = sup.tick(&mut host, table);
    assert!(plan.spawn.is_empty());
    let e = &sup.ledger["k"];
    assert_eq!((e.crashes, e.last_exit.clone()), (1, Some(Exit::Signal(9))));
    assert_eq!(e.phase, Phase::Backoff { until: host.now + 1000 });
    assert_eq!(host.reads, 1);
    assert_eq!(host.cleaned, ["k"], "what the dead watcher left is looked after");
}

#[test]
fn a_failed_spawn_is_a_crash_with_backoff_and_its_wake_up() {
    let mut host = fake(&["k"]);
    host.spawn_fails = true;
    let mut sup = sup();
    let plan = sup.tick(&mut host, Table::Read);
    let e = &sup.ledger["k"];
    assert_eq!(e.last_exit, Some(Exit::SpawnFailed("no such file".into())));
    assert_eq!(plan.wake_at, Some(host.now + 1000), "the ledger's rules set the wake-up");
    host.now += 500;
    assert!(sup.tick(&mut host, Table::Read).spawn.is_empty(), "waits out the backoff");
    host.now += 500;
    sup.tick(&mut host, Table::Read);
    assert_eq!(sup.ledger["k"].crashes, 2);
}

#[test]
fn unknown_process_table_spawns_and_retires_nothing() {
    let mut host = fake(&["k"]);
    host.ps_fails = true;
    let stray = Watcher { pid: 50, holds_lock: None, artifact: "/s".into() };
    host.table.insert("stray".into(), vec![stray]);
    let mut sup = Supervisor::new(
        Policy::new(&Config { stray_grace_seconds: 0, ..Config::default() }),
        Ledger::new(),
    );
    let plan = sup.tick(&mut host, Table::Read);
    assert_eq!(plan, Plan::default());
    assert!(host.spawned.is_empty() && host.signals.is_empty());
    assert_eq!(host.problems, [Some("ps timed out".to_string())]);
}

#[test]
fn run_stops_on_request_and_sweeps_every_turn() {
    let mut host = fake(&["k"]);
    host.script = Some(vec![Wake::default(), Wake::default()]);
    sup().run(&mut host);
    assert_eq!(host.spawned.len(), 1, "three ticks, one spawn");
    assert_eq!(host.reads, 1, "the table is read at the first tick, then kept current");
    assert_eq!(host.sweeps, 3, "the sweep is a step of every turn");
    assert_eq!(host.now, 1_000_000 + 10_000 + 1, "waits reconcile_seconds between ticks");
}

#[test]
fn the_table_is_read_every_audit_and_every_tick_when_the_audit_is_the_tick() {
    for (audit_seconds, reads) in [(10, 4), (5, 7), (300, 1)] {
        let mut host = fake(&["k"]);
        host.script = Some((0..6).map(|_| Wake::default()).collect());
        let c = Config { audit_seconds, ..Config::default() };
        Supervisor::new(Policy::new(&c), Ledger::new()).run(&mut host);
        assert_eq!(host.reads, reads, "seven ticks of 5 s, audit every {audit_seconds} s");
    }
}

#[test]
fn a_fired_handle_of_a_watcher_not_forked_is_a_crash_recorded_at_once() {
    let mut host = fake(&["k"]);
    // Adopted: running when the daemon started, so not its child.
    host.table
        .insert("k".into(), vec![Watcher { pid: 77, holds_lock: None, artifact: "/a/k".into() }]);
    let mut sup = sup();
    sup.tick(&mut host, Table::Read);
    host.ps_fails = true; // recorded without ps
    let table = sup.woken(Wake { exits: vec![(77, Exit::Vanished)], ..Wake::default() });
    assert_eq!(table, Table::Reuse);
    host.now += 3;
    sup.tick(&mut host, table);
    let e = &sup.ledger["k"];
    assert_eq!((e.crashes, e.last_exit.clone()), (1, Some(Exit::Vanished)));
    assert_eq!(host.reads, 1);
    let unknown = sup.woken(Wake { exits: vec![(78, Exit::Vanished)], ..Wake::default() });
    assert_eq!((unknown, sup.seen.exits.len()), (Table::Reuse, 0), "a pid nobody supervises");
}

#[test]
fn a_fired_handle_of_a_key_no_longer_desired_is_a_retirement_not_a_crash() {
    let mut host = fake(&["k"]);
    host.table
        .insert("k".into(), vec![Watcher { pid: 77, holds_lock: None, artifact: "/a/k".into() }]);
    let mut sup = sup();
    sup.tick(&mut host, Table::Read);
    // `sessions end` wrote the record, then signalled the watcher: the store
    // is read before the exit is judged.
    host.desired.clear();
    let table = sup.woken(Wake { exits: vec![(77, Exit::Vanished)], ..Wake::default() });
    sup.tick(&mut host, table);
    assert!(!sup.ledger.contains_key("k"), "{:?}", sup.ledger);
    assert!(!host.events.iter().any(|e| e.contains("crashed")), "{:?}", host.events);
}

#[test]
fn a_clean_exit_asks_ps_and_a_crash_does_not() {
    for (exit, reads) in [(Exit::Code(0), 2), (Exit::Signal(9), 1), (Exit::Code(1), 1)] {
        let mut host = fake(&["k"]);
        host.script = Some(vec![Wake { exits: vec![(101, exit.clone())], ..Wake::default() }]);
        sup().run(&mut host);
        assert_eq!(host.reads, reads, "after {exit}");
    }
}

#[test]
fn a_stray_is_never_retired_when_a_fresh_read_finds_it_desired() {
    let mut host = fake(&[]);
    let w = Watcher { pid: 60, holds_lock: None, artifact: "/a/k".into() };
    host.table.insert("k".into(), vec![w]);
    let mut sup = Supervisor::new(
        Policy::new(&Config { stray_grace_seconds: 0, ..Config::default() }),
        Ledger::new(),
    );
    // The folders' stamp missed a new session for "k"; only a fresh read sees it.
    host.fresh = Some(Desired::from([("k".to_string(), want("k"))]));
    let plan = sup.tick(&mut host, Table::Read);
    assert!(plan.retire.is_empty() && host.signals.is_empty(), "{plan:?}");
    host.fresh = None;
    host.now += 1000;
    sup.tick(&mut host, Table::Read);
    assert_eq!(host.signals, [(60, Signal::Term)], "retired once it truly is a stray");
}

#[test]
fn new_rules_from_sighup_apply_and_ask_ps() {
    let mut sup = sup();
    let policy = Policy::new(&Config { reconcile_seconds: 1, ..Config::default() });
    let table = sup.woken(Wake { policy: Some(policy.clone()), ..Wake::default() });
    assert_eq!((table, sup.policy.tick), (Table::Read, 1000));
}

#[test]
fn a_tick_with_nothing_new_after_a_plan_that_did_nothing_is_skipped_until_its_wake_up() {
    let mut host = fake(&["k"]);
    host.unchanged = true;
    let mut sup = Supervisor::new(
        Policy::new(&Config { backoff_reset_seconds: 60, ..Config::default() }),
        Ledger::new(),
    );
    sup.tick(&mut host, Table::Read); // spawns: not quiet
    host.now += 1000;
    sup.tick(&mut host, Table::Reuse); // Spawned -> Running: nothing to do
    let published = host.publishes;
    for _ in 0..3 {
        host.now += 5000;
        let plan = sup.tick(&mut host, Table::Reuse);
        assert_eq!(plan, Plan::default(), "no wake-up was asked for");
    }
    assert_eq!(host.publishes, published, "skipped: not even published");
    host.now += 5000;
    sup.tick(&mut host, Table::Read);
    assert_eq!(host.publishes, published + 1, "a fresh table is never skipped");
    // A crash: its backoff, then the reset of its count, each a wake-up.
    let table = sup.woken(Wake { exits: vec![(101, Exit::Signal(9))], ..Wake::default() });
    host.now += 1;
    let plan = sup.tick(&mut host, table);
    let retry = plan.wake_at.unwrap();
    host.now = retry;
    sup.tick(&mut host, Table::Reuse); // respawned
    host.now += 10;
    let plan = sup.tick(&mut host, Table::Reuse);
    assert_eq!(plan.wake_at, Some(retry + 60_000), "the reset of the crash count has a wake-up");
    host.now += 30_000;
    assert_eq!(sup.tick(&mut host, Table::Reuse).wake_at, Some(retry + 60_000), "skipped, same");
    host.now = retry + 60_000;
    sup.tick(&mut host, Table::Reuse);
    assert_eq!(sup.ledger["k"].crashes, 0, "reset at its wake-up");
    assert!(host.events.iter().any(|e| e.contains("crash count reset")), "{:?}", host.events);
}
