use super::*;
use std::collections::BTreeSet;

const S: u64 = 1000;

fn policy() -> Policy {
    Policy {
        tick: 5 * S,
        base: S,
        max: 8 * S,
        reset: 60 * S,
        stray_grace: 30 * S,
        gone_grace: 180 * S,
        kill_after: 5 * S,
        audit: 300 * S,
    }
}

fn want(artifact: &str) -> Want {
    Want { artifact: artifact.into(), sessions: vec!["s1".into()], all_gone: false }
}

fn w(pid: i32) -> Watcher {
    Watcher { pid, holds_lock: None, artifact: "/ps/shows/this".into() }
}

fn held(pid: i32, holds: bool) -> Watcher {
    Watcher { holds_lock: Some(holds), ..w(pid) }
}

/// The end of the backoff of an entry, if it is backing off.
fn retry(e: &Entry) -> Option<u64> {
    match e.phase {
        Phase::Backoff { until } => Some(until),
        _ => None,
    }
}

fn signalled(r: &[Retirement]) -> Vec<(&str, i32)> {
    r.iter().map(|r| (r.key.as_str(), r.pid)).collect()
}

fn last_exit(e: &Entry) -> Option<String> {
    e.last_exit.as_ref().map(|x| x.to_string())
}

fn obs(desired: &[&str], supervised: &[(&str, Vec<Watcher>)]) -> Observed {
    Observed {
        desired: desired.iter().map(|k| (k.to_string(), want(&format!("/a/{k}")))).collect(),
        supervised: supervised.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        exits: Vec::new(),
    }
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let p = policy();
    let delays: Vec<u64> = (1..=6).map(|n| p.delay(n)).collect();
    assert_eq!(delays, [S, 2 * S, 4 * S, 8 * S, 8 * S, 8 * S]);
    assert_eq!(p.delay(u32::MAX), 8 * S, "no overflow at absurd counts");
    assert_eq!(Policy { max: u64::MAX, ..p }.delay(200), u64::MAX, "saturates instead of wrapping");
}

#[test]
fn desired_and_unsupervised_is_spawned_at_once() {
    let (plan, led) = reconcile(&obs(&["k1"], &[]), Ledger::new(), &policy(), 0);
    assert_eq!(plan.spawn, vec![("k1".to_string(), "/a/k1".to_string())]);
    assert_eq!(led["k1"].phase, Phase::Spawned { at: 0 });
    assert_eq!(led["k1"].crashes, 0);
}

#[test]
fn supervised_key_is_never_spawned() {
    let (plan, led) = reconcile(&obs(&["k1"], &[("k1", vec![w(10)])]), Ledger::new(), &policy(), 7);
    assert!(plan.spawn.is_empty());
    assert_eq!(led["k1"].phase, Phase::Running { since: 7 });
}

#[test]
fn crash_then_backoff_then_respawn_then_reset() {
    let p = policy();
    let (_, led) = reconcile(&obs(&["k"], &[]), Ledger::new(), &p, 0);
    let (_, led) = reconcile(&obs(&["k"], &[("k", vec![w(10)])]), led, &p, 100);
    // It dies: the reaper reports its status.
    let mut o = obs(&["k"], &[]);
    o.exits.push(("k".into(), Exit::Code(1)));
    let (plan, led) = reconcile(&o, led, &p, 200);
    assert!(plan.spawn.is_empty(), "waits for the backoff");
    assert_eq!(plan.waiting, vec![("k".to_string(), 200 + S)]);
    assert_eq!(plan.wake_at, Some(200 + S));
    assert_eq!((led["k"].crashes, last_exit(&led["k"]).as_deref()), (1, Some("exit 1")));
    assert!(
        plan.events[0].contains("crashed: exit 1; crash 1, backing off 1000ms"),
        "{:?}",
        plan.events
    );
    // Not before next_retry, exactly at it.
    let (plan, led) = reconcile(&obs(&["k"], &[]), led, &p, 200 + S - 1);
    assert!(plan.spawn.is_empty());
    let (plan, led) = reconcile(&obs(&["k"], &[]), led, &p, 200 + S);
    assert_eq!(plan.spawn.len(), 1);
    // Vanishes again without a status: crash 2, twice the delay.
    let (_, led) = reconcile(&obs(&["k"], &[("k", vec![w(11)])]), led, &p, 2 * S);
    let (plan, led) = reconcile(&obs(&["k"], &[]), led, &p, 3 * S);
    assert_eq!(plan.waiting, vec![("k".to_string(), 5 * S)]);
    assert_eq!((led["k"].crashes, last_exit(&led["k"]).as_deref()), (2, Some("vanished")));
    // Respawned, stays up for `reset`: count back to zero.
    let (_, led) = reconcile(&obs(&["k"], &[]), led, &p, 5 * S);
    let (_, led) = reconcile(&obs(&["k"], &[("k", vec![w(12)])]), led, &p, 6 * S);
    let (plan, led) = reconcile(&obs(&["k"], &[("k", vec![w(12)])]), led, &p, 66 * S);
    assert_eq!((led["k"].crashes, retry(&led["k"])), (0, None));
    assert!(plan.events[0].contains("crash count reset"));
}

#[test]
fn a_watcher_that_lived_the_reset_time_since_its_spawn_restarts_the_count_when_it_crashes() {
    let p = policy();
    let mut led = Ledger::new();
    let mut e = Entry::new("/a/k");
    (e.crashes, e.phase) = (3, Phase::Backoff { until: 0 });
    led.insert("k".into(), e);
    // Spawned at 0; the table first shows it only 50 s later.
    let (_, led) = reconcile(&obs(&["k"], &[]), led, &p, 0);
    let (_, led) = reconcile(&obs(&["k"], &[("k", vec![w(5)])]), led, &p, 50 * S);
    assert_eq!(led["k"].phase, Phase::Running { since: 0 }, "counted from its spawn");
    // It crashes at 60 s, exactly `reset` after its spawn: the count starts over.
    let (plan, led) = reconcile(&obs(&["k"], &[]), led, &p, 60 * S);
    assert_eq!(led["k"].crashes, 1, "{:?}", plan.events);
    assert_eq!(plan.waiting, vec![("k".to_string(), 61 * S)], "the first delay again");
    // One that crashes before the reset time keeps counting.
    let (_, led) = reconcile(&obs(&["k"], &[]), led, &p, 61 * S);
    let (_, led) = reconcile(&obs(&["k"], &[("k", vec![w(6)])]), led, &p, 62 * S);
    let (_, led) = reconcile(&obs(&["k"], &[]), led, &p, 120 * S);
    assert_eq!(led["k"].crashes, 2);
}

#[test]
fn spawned_but_not_yet_seen_is_not_a_crash_when_seen() {
    let p = policy();
    let (_, led) = reconcile(&obs(&["k"], &[]), Ledger::new(), &p, 0);
    let (plan, led) = reconcile(&obs(&["k"], &[("k", vec![w(5)])]), led, &p, 10);
    assert!(plan.events.is_empty() && plan.spawn.is_empty());
    assert_eq!(led["k"].crashes, 0);
}

#[test]
fn stray_is_retired_after_grace_then_killed() {
    let p = policy();
    let o = obs(&[], &[("k", vec![w(40)])]);
    let (plan, led) = reconcile(&o, Ledger::new(), &p, 0);
    assert!(plan.retire.is_empty());
    assert_eq!(plan.wake_at, Some(30 * S));
    let (plan, led) = reconcile(&o, led, &p, 30 * S - 1);
    assert!(plan.retire.is_empty());
    let (plan, led) = reconcile(&o, led, &p, 30 * S);
    assert_eq!(signalled(&plan.retire), [("k", 40)]);
    let (plan, led) = reconcile(&o, led, &p, 31 * S);
    assert!(plan.retire.is_empty() && plan.kill.is_empty(), "one SIGTERM, then wait");
    let (plan, led) = reconcile(&o, led, &p, 35 * S);
    assert_eq!(signalled(&plan.kill), [("k", 40)]);
    let (plan, led) = reconcile(&o, led, &p, 36 * S);
    assert!(plan.kill.is_empty(), "SIGKILL once");
    let (_, led) = reconcile(&obs(&[], &[]), led, &p, 37 * S);
    assert!(led.is_empty(), "a gone stray leaves the ledger");
}

#[test]
fn finished_agents_watcher_gets_the_longer_grace() {
    let p = policy();
    let mut o = obs(&["k"], &[("k", vec![w(40)])]);
    o.desired.get_mut("k").unwrap().all_gone = true;
    let (plan, led) = reconcile(&o, Ledger::new(), &p, 0);
    assert_eq!(plan.wake_at, Some(180 * S));
    let (plan, led) = reconcile(&o, led, &p, 179 * S);
    assert!(plan.retire.is_empty());
    let (plan, _) = reconcile(&o, led, &p, 180 * S);
    assert_eq!(plan.retire.len(), 1);
    assert!(plan.retire[0].why.contains("its sessions are gone"));
    let mut gone = obs(&["k"], &[]);
    gone.desired.get_mut("k").unwrap().all_gone = true;
    let (plan, _) = reconcile(&gone, Ledger::new(), &p, 0);
    assert!(plan.spawn.is_empty(), "a finished agent's artifact is never spawned");
}

#[test]
fn a_crash_counts_reset_has_its_own_wake_up() {
    let p = policy();
    let o = obs(&["k"], &[("k", vec![w(40)])]);
    let mut led = Ledger::new();
    let e = Entry { crashes: 2, phase: Phase::Running { since: 0 }, ..Entry::new("/a/k") };
    led.insert("k".into(), e);
    let (plan, led) = reconcile(&o, led, &p, 10 * S);
    assert_eq!(plan.wake_at, Some(60 * S), "when the count is due to reset");
    let (plan, led) = reconcile(&o, led, &p, 60 * S);
    assert_eq!((led["k"].crashes, plan.wake_at), (0, None));
}

#[test]
fn gone_at_is_when_every_session_was_first_seen_gone_and_clears_when_one_lives() {
    let p = policy();
    let mut o = obs(&["k"], &[("k", vec![w(40)])]);
    let (_, led) = reconcile(&o, Ledger::new(), &p, 0);
    assert_eq!(led["k"].gone_at, None);
    o.desired.get_mut("k").unwrap().all_gone = true;
    let (_, led) = reconcile(&o, led, &p, 7 * S);
    let (_, led) = reconcile(&o, led, &p, 9 * S);
    assert_eq!(led["k"].gone_at, Some(7 * S), "the first time, kept");
    o.desired.get_mut("k").unwrap().all_gone = false;
    let (_, led) = reconcile(&o, led, &p, 10 * S);
    assert_eq!(led["k"].gone_at, None, "a session lives again");
    let (_, led) = reconcile(&obs(&[], &[("k", vec![w(40)])]), led, &p, 11 * S);
    assert_eq!(led["k"].gone_at, None, "not desired at all is not gone");
}

#[test]
fn duplicates_are_left_to_exit_by_themselves() {
    let p = policy();
    let two = vec![held(7, false), held(8, true)];
    let (plan, _) = reconcile(&obs(&["k"], &[("k", two.clone())]), Ledger::new(), &p, 0);
    assert_eq!((plan.spawn.len(), plan.retire.len()), (0, 0));
    // Of a stray pair, only the lock holder is signalled.
    let (_, led) = reconcile(&obs(&[], &[("k", two.clone())]), Ledger::new(), &p, 0);
    let (plan, _) = reconcile(&obs(&[], &[("k", two)]), led, &p, 30 * S);
    assert_eq!(signalled(&plan.retire), [("k", 8)]);
    let lone_loser = vec![held(9, false)];
    let (_, led) = reconcile(&obs(&[], &[("k", lone_loser.clone())]), Ledger::new(), &p, 0);
    let (plan, _) = reconcile(&obs(&[], &[("k", lone_loser)]), led, &p, 30 * S);
    assert!(plan.retire.is_empty(), "a process that does not hold the lock is never signalled");
}

#[test]
fn desired_again_cancels_a_stray_timer() {
    let p = policy();
    let (_, led) = reconcile(&obs(&[], &[("k", vec![w(3)])]), Ledger::new(), &p, 0);
    let (plan, led) = reconcile(&obs(&["k"], &[("k", vec![w(3)])]), led, &p, 40 * S);
    assert!(plan.retire.is_empty());
    assert_eq!(led["k"].phase, Phase::Running { since: 40 * S });
}

#[test]
fn a_stray_never_desired_takes_its_artifact_from_the_table() {
    let (_, led) = reconcile(&obs(&[], &[("k", vec![w(3)])]), Ledger::new(), &policy(), 0);
    assert_eq!(led["k"].artifact, "/ps/shows/this");
}

/// A small seeded generator (xorshift), so the property tests need no crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_observed(r: &mut Rng) -> Observed {
    let mut o = Observed::default();
    for k in 0..6 {
        let key = format!("k{k}");
        if r.below(2) == 0 {
            let mut wt = want(&format!("/a/{k}"));
            wt.all_gone = r.below(5) == 0;
            o.desired.insert(key.clone(), wt);
        }
        let n = [0, 0, 1, 1, 2][r.below(5) as usize];
        let procs: Vec<Watcher> = (0..n)
            .map(|i| Watcher {
                pid: 100 + k * 10 + i,
                holds_lock: [None, Some(true), Some(false)][r.below(3) as usize],
                artifact: format!("/ps/{k}"),
            })
            .collect();
        if n > 0 {
            o.supervised.insert(key.clone(), procs);
        }
        if r.below(4) == 0 {
            o.exits.push((key, Exit::Code(r.below(3) as i32)));
        }
    }
    o
}

#[test]
fn invariants_hold_over_thousands_of_random_histories() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..400 {
        let p = Policy {
            tick: 5000,
            base: 1 + r.below(3000),
            max: 3000 + r.below(20_000),
            reset: 1 + r.below(50_000),
            stray_grace: r.below(4000),
            gone_grace: r.below(9000),
            kill_after: 5000,
            audit: 300_000,
        };
        let (mut led, mut now) = (Ledger::new(), r.below(1 << 40));
        for _ in 0..30 {
            let o = random_observed(&mut r);
            let (plan, next) = reconcile(&o, led.clone(), &p, now);
            let mut seen = BTreeSet::new();
            for (k, _) in &plan.spawn {
                assert!(!o.supervised.contains_key(k), "spawned supervised {k}");
                assert!(seen.insert(k.clone()), "spawned {k} twice");
                assert!(o.desired.get(k).is_some_and(|w| !w.all_gone), "spawned undesired {k}");
                assert!(
                    led.get(k).and_then(retry).map_or(true, |t| t <= now),
                    "spawned {k} before its retry"
                );
                assert_eq!(next[k].phase, Phase::Spawned { at: now }, "spawned {k}");
            }
            for Retirement { key: k, pid, .. } in plan.retire.iter().chain(&plan.kill) {
                assert!(o.desired.get(k).map_or(true, |w| w.all_gone), "retired desired {k}");
                let procs = &o.supervised[k];
                let p = procs.iter().find(|p| p.pid == *pid).expect("retired a pid not shown");
                assert!(
                    p.holds_lock == Some(true) || (procs.len() == 1 && p.holds_lock.is_none()),
                    "retired a non-holder"
                );
            }
            for (k, t) in &plan.waiting {
                assert!(*t > now && *t - now <= p.max, "delay for {k} exceeds the cap");
            }
            for e in next.values() {
                if let Some(t) = retry(e) {
                    assert!(t <= now + p.max, "next_retry beyond the cap");
                }
            }
            if let Some(w) = plan.wake_at {
                // A wake-up at or before now would make the loop spin.
                assert!(w > now, "wake at {w} is not after now {now}: {plan:?}");
            }
            led = next;
            now += r.below(6000);
        }
    }
}

#[test]
fn policy_follows_the_config() {
    let c = Config {
        backoff_base_seconds: 2,
        backoff_max_seconds: 10,
        idle_seconds: 5,
        judge_timeout_seconds: 7,
        audit_seconds: 60,
        ..Config::default()
    };
    let p = Policy::new(&c);
    assert_eq!(p.audit, 60_000);
    assert_eq!((p.base, p.max, p.gone_grace, p.stray_grace), (2000, 10_000, 12_000, 30_000));
}

#[test]
fn wait_statuses_read_like_a_shell_says_them() {
    assert_eq!(Exit::of_status(3 << 8), Exit::Code(3));
    assert_eq!(Exit::of_status(9), Exit::Signal(9));
    for x in [
        Exit::Code(0),
        Exit::Code(127),
        Exit::Signal(9),
        Exit::Vanished,
        Exit::SpawnFailed("no such file".into()),
    ] {
        assert_eq!(Exit::parse(&x.to_string()), Some(x.clone()), "{x}");
    }
    assert_eq!(Exit::parse("exit x"), None);
    assert_eq!(Exit::parse("crashed"), None);
}
