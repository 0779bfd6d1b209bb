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
}

impl Host for Fake {
    fn now(&mut self) -> u64 {
        self.now
    }
    fn read_supervised(&mut self) -> Result<Supervised, String> {
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
        Wake::default()
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
    struct Stopper(Fake, u32);
    impl Host for Stopper {
        fn now(&mut self) -> u64 {
            self.0.now()
        }
        fn read_supervised(&mut self) -> Result<Supervised, String> {
            self.0.read_supervised()
        }
        fn read_desired(&mut self, d: &mut BTreeMap<Key, Want>) {
            self.0.read_desired(d)
        }
        fn spawn(&mut self, k: &str, a: &str) -> Result<Spawned, String> {
            self.0.spawn(k, a)
        }
        fn retire(&mut self, k: &str, p: i32, g: i32, s: i32) {
            self.0.retire(k, p, g, s)
        }
        fn report(&mut self, e: &[String], l: &Ledger, p: Option<&str>) {
            self.0.report(e, l, p)
        }
        fn wait(&mut self, deadline: u64) -> Wake {
            self.1 += 1;
            self.0.now = deadline;
            Wake { stop: self.1 == 3, ..Wake::default() }
        }
    }
    let mut host = Stopper(fake(&["k"]), 0);
    Supervisor::new(Config::default(), Ledger::new()).run(&mut host);
    assert_eq!((host.1, host.0.spawned.len()), (3, 1), "three ticks, one spawn");
    assert_eq!(host.0.now, 1_000_000 + 15_000, "waits reconcile_seconds between ticks");
}

#[test]
fn a_clean_exit_asks_ps_and_a_crash_does_not() {
    struct Exits(Fake, Vec<Vec<(i32, String)>>, u32);
    impl Host for Exits {
        fn now(&mut self) -> u64 {
            self.0.now()
        }
        fn read_supervised(&mut self) -> Result<Supervised, String> {
            self.2 += 1;
            self.0.read_supervised()
        }
        fn read_desired(&mut self, d: &mut BTreeMap<Key, Want>) {
            self.0.read_desired(d)
        }
        fn spawn(&mut self, k: &str, a: &str) -> Result<Spawned, String> {
            self.0.spawn(k, a)
        }
        fn retire(&mut self, k: &str, p: i32, g: i32, s: i32) {
            self.0.retire(k, p, g, s)
        }
        fn report(&mut self, e: &[String], l: &Ledger, p: Option<&str>) {
            self.0.report(e, l, p)
        }
        fn wait(&mut self, _deadline: u64) -> Wake {
            self.0.now += 1;
            match self.1.pop() {
                Some(exits) => Wake { exits, ..Wake::default() },
                None => Wake { stop: true, ..Wake::default() },
            }
        }
    }
    for (status, reads) in [("exit 0", 2), ("signal 9", 1), ("exit 1", 1)] {
        let mut host = Exits(fake(&["k"]), vec![vec![(101, status.to_string())]], 0);
        Supervisor::new(Config::default(), Ledger::new()).run(&mut host);
        assert_eq!(host.2, reads, "after {status}");
    }
}
