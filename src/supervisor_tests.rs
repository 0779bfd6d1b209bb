use super::*;
use crate::store::Want;

/// A fake process table and clock.
#[derive(Default)]
struct Fake {
    now: u64,
    table: Supervised,
    desired: BTreeMap<Key, Want>,
    ps_fails: bool,
    spawn_fails: bool,
    next_pid: i32,
    spawned: Vec<Key>,
    signals: Vec<(i32, i32)>,
    events: Vec<String>,
    problems: Vec<Option<String>>,
    /// How often the process table was read.
    reads: u32,
    /// What `wait` returns, last first; then a stop. `None`: never stop.
    script: Option<Vec<Wake>>,
}

impl Host for Fake {
    fn now(&mut self) -> u64 {
        self.now
    }
    fn read_supervised(&mut self) -> Result<Supervised, String> {
        self.reads += 1;
        if self.ps_fails {
            return Err("ps timed out".into());
        }
        Ok(self.table.clone())
    }
    fn read_desired(&mut self, desired: &mut BTreeMap<Key, Want>) {
        desired.clone_from(&self.desired);
    }
    fn spawn(&mut self, key: &str, _artifact: &str) -> Result<Spawned, String> {
        if self.spawn_fails {
            return Err("no such file".into());
        }
        self.next_pid += 1;
        let pid = 100 + self.next_pid;
        self.table.insert(key.into(), vec![Watcher { pid, pgid: pid, holds_lock: None }]);
        self.spawned.push(key.into());
        Ok(Spawned::Started(pid))
    }
    fn retire(&mut self, _key: &str, pid: i32, _pgid: i32, signal: i32) {
        self.signals.push((pid, signal));
    }
    fn wait(&mut self, deadline: u64) -> Wake {
        self.now = deadline;
        match self.script.as_mut() {
            Some(wakes) => wakes.pop().unwrap_or(Wake { stop: true, ..Wake::default() }),
            None => Wake::default(),
        }
    }
    fn report(&mut self, events: &[String], _ledger: &Ledger, problem: Option<&str>) {
        self.events.extend_from_slice(events);
        self.problems.push(problem.map(String::from));
    }
}

fn fake(keys: &[&str]) -> Fake {
    let desired = keys
        .iter()
        .map(|k| {
            (k.to_string(), Want { artifact: format!("/a/{k}"), sessions: vec![], all_gone: false })
        })
        .collect();
    Fake { now: 1_000_000, desired, ..Fake::default() }
}

#[test]
fn three_ticks_spawn_once_then_adopt() {
    let mut host = fake(&["k1", "k2"]);
    let mut sup = Supervisor::new(Config::default(), Ledger::new());
    let plan = sup.tick(&mut host, true);
    assert_eq!(plan.spawn.len(), 2);
    for _ in 0..2 {
        host.now += 1000;
        assert!(sup.tick(&mut host, true).spawn.is_empty());
    }
    assert_eq!(host.spawned, ["k1", "k2"]);
    assert!(host.events[0].starts_with("spawned watcher pid 101 for /a/k1"));
}

#[test]
fn a_reaped_child_is_a_crash_without_reading_ps() {
    let mut host = fake(&["k"]);
    let mut sup = Supervisor::new(Config::default(), Ledger::new());
    sup.tick(&mut host, true);
    host.ps_fails = true; // a quick tick must not need ps
    sup.reaped(vec![(101, "signal 9".into())]);
    host.now += 5;
    let plan = sup.tick(&mut host, false);
    assert!(plan.spawn.is_empty());
    let e = &sup.ledger["k"];
    assert_eq!((e.crashes, e.last_exit.as_deref()), (1, Some("signal 9")));
    assert_eq!(e.next_retry, Some(host.now + 1000));
}

#[test]
fn a_failed_spawn_is_a_crash_with_backoff() {
    let mut host = fake(&["k"]);
    host.spawn_fails = true;
    let mut sup = Supervisor::new(Config::default(), Ledger::new());
    let plan = sup.tick(&mut host, true);
    assert_eq!(sup.ledger["k"].last_exit.as_deref(), Some("spawn failed: no such file"));
    assert_eq!(plan.wake_at, Some(host.now + 1000));
    host.now += 500;
    assert!(sup.tick(&mut host, true).spawn.is_empty(), "waits out the backoff");
    host.now += 500;
    sup.tick(&mut host, true);
    assert_eq!(sup.ledger["k"].crashes, 2);
}

#[test]
fn unknown_process_table_spawns_and_retires_nothing() {
    let mut host = fake(&["k"]);
    host.ps_fails = true;
    host.table.insert("stray".into(), vec![Watcher { pid: 50, pgid: 50, holds_lock: None }]);
    let mut sup =
        Supervisor::new(Config { stray_grace_seconds: 0, ..Config::default() }, Ledger::new());
    let plan = sup.tick(&mut host, true);
    assert_eq!(plan, Plan::default());
    assert!(host.spawned.is_empty() && host.signals.is_empty());
    assert_eq!(host.problems, [Some("ps timed out".to_string())]);
}

#[test]
fn run_stops_on_request() {
    let mut host = fake(&["k"]);
    host.script = Some(vec![Wake::default(), Wake::default()]);
    Supervisor::new(Config::default(), Ledger::new()).run(&mut host);
    assert_eq!((host.reads, host.spawned.len()), (3, 1), "three ticks, one spawn");
    assert_eq!(host.now, 1_000_000 + 15_000, "waits reconcile_seconds between ticks");
}

#[test]
fn a_clean_exit_asks_ps_and_a_crash_does_not() {
    for (status, reads) in [("exit 0", 2), ("signal 9", 1), ("exit 1", 1)] {
        let mut host = fake(&["k"]);
        host.script = Some(vec![Wake { exits: vec![(101, status.into())], ..Wake::default() }]);
        Supervisor::new(Config::default(), Ledger::new()).run(&mut host);
        assert_eq!(host.reads, reads, "after {status}");
    }
}
