//! The daemon with real watchers and the real `ps`: convergence, crashes
//! and backoff, strays, adoption after a restart, signals, and the race
//! between `sessions start` and a daemon that keeps being killed.

use crate::util::*;
use std::fs;
use std::time::{Duration, Instant};

#[test]
fn twenty_sessions_get_exactly_twenty_watchers_and_killed_ones_come_back() {
    let mut env = Env::new("twenty");
    env.write_config(FAST);
    let arts = sessions(&env, 20);
    start_daemon(&mut env);
    let seen = wait_until(
        "one watcher per artifact within two ticks",
        Duration::from_millis(2500),
        || {
            let m = by_artifact(&env);
            if m.len() == 20 && m.values().all(|p| p.len() == 1) {
                Ok(m)
            } else {
                Err(m)
            }
        },
    );
    let victims: Vec<i32> = arts.iter().take(5).map(|(a, _)| seen[a][0]).collect();
    for pid in &victims {
        bach::sys::kill(*pid, libc::SIGKILL).unwrap();
    }
    wait_until("the five killed watchers to be replaced", Duration::from_secs(5), || {
        let m = by_artifact(&env);
        let back = arts
            .iter()
            .take(5)
            .all(|(a, _)| m.get(a).is_some_and(|p| p.len() == 1 && !victims.contains(&p[0])));
        if back && m.len() == 20 {
            Ok(())
        } else {
            Err(m)
        }
    });
    let log = daemon_log(&env);
    assert!(log.matches("crashed: signal 9").count() >= 5, "{log}");
}

#[test]
fn a_watcher_that_crashes_at_once_backs_off_exponentially_then_resets() {
    let mut env = Env::new("backoff");
    env.write_config("daemon_reconcile_seconds = 1\nbackoff_base_seconds = 1\nbackoff_max_seconds = 4\nbackoff_reset_seconds = 2\n");
    let arts = sessions(&env, 1);
    let key = &arts[0].1;
    // A folder where the watcher's lock file should be: it exits 1 at once.
    fs::create_dir_all(env.home.join("watch").join(format!("{key}.lock"))).unwrap();
    start_daemon(&mut env);
    wait_until("four crashes in the ledger", Duration::from_secs(12), || {
        let s = state(&env);
        match s.get(&format!("{key}.crashes")) {
            Some(n) if n.parse::<u32>().unwrap() >= 4 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(state(&env)[&format!("{key}.last_exit")], "exit 1");
    let log = daemon_log(&env);
    for (n, ms) in [(1, 1000), (2, 2000), (3, 4000), (4, 4000)] {
        assert!(
            log.contains(&format!("crashed: exit 1; crash {n}, backing off {ms}ms")),
            "crash {n}: {log}"
        );
    }
    // Let it live: the count resets after backoff_reset_seconds up.
    fs::remove_dir(env.home.join("watch").join(format!("{key}.lock"))).unwrap();
    wait_until("the crash count to reset", Duration::from_secs(10), || {
        let s = state(&env);
        if !s.contains_key(&format!("{key}.crashes")) && holder(&env, key).is_some() {
            Ok(())
        } else {
            Err(s)
        }
    });
    assert!(daemon_log(&env).contains("stayed up: crash count reset"));
}

#[test]
fn ending_a_session_or_finishing_a_task_lets_the_watcher_go() {
    let mut env = Env::new("letgo");
    env.write_config(FAST);
    env.count_ps();
    env.ok(&["tasks", "add", "--id", "t2", "other"]);
    let arts = sessions(&env, 1);
    let (a2, k2) = (env.artifact("x.jsonl"), env.key(&env.artifact("x.jsonl")));
    env.ok(&["sessions", "start", "--no-watch", "--task", "t2", "--id", "x", "--artifact", &a2]);
    start_daemon(&mut env);
    let k1 = arts[0].1.clone();
    wait_until("both watchers", Duration::from_secs(3), || {
        if holder(&env, &k1).is_some() && holder(&env, &k2).is_some() {
            Ok(())
        } else {
            Err(by_artifact(&env))
        }
    });
    env.ok(&["sessions", "end", "s0"]);
    env.ok(&["tasks", "done", "t2"]);
    wait_until("no watcher left", Duration::from_secs(3), || {
        if by_artifact(&env).is_empty() {
            Ok(())
        } else {
            Err(by_artifact(&env))
        }
    });
    // Two more ticks: nothing is restarted.
    env.fresh_ticks(2, Duration::from_secs(5));
    assert!(by_artifact(&env).is_empty(), "nothing restarted: {:?}", by_artifact(&env));
    assert!(!daemon_log(&env).contains("crashed"), "{}", daemon_log(&env));
}

#[test]
fn a_hand_started_stray_is_retired_after_the_grace() {
    let mut env = Env::new("stray");
    env.write_config(FAST);
    sessions(&env, 0);
    let art = env.artifact("stray.jsonl");
    let pid = env.spawn(&["internal", "session-watch", &art]);
    let key = env.key(&art);
    wait_until("the stray to lock", Duration::from_secs(3), || {
        if holder(&env, &key) == Some(pid as i32) {
            Ok(())
        } else {
            Err(holder(&env, &key))
        }
    });
    start_daemon(&mut env);
    let code = env.wait_child(pid, Duration::from_secs(6));
    assert_eq!(code, Some(0), "the stray exits 0 on SIGTERM");
    assert!(
        daemon_log(&env).contains(&format!("retiring watcher pid {pid}")),
        "{}",
        daemon_log(&env)
    );
}

#[test]
fn a_restarted_daemon_adopts_running_watchers_without_spawning() {
    let mut env = Env::new("adopt");
    env.write_config(FAST);
    env.count_ps();
    let arts = sessions(&env, 3);
    let d1 = start_daemon(&mut env);
    let before = wait_until("three watchers", Duration::from_secs(3), || {
        let m = by_artifact(&env);
        if m.len() == 3 {
            Ok(m)
        } else {
            Err(m)
        }
    });
    bach::sys::kill(d1, libc::SIGKILL).unwrap();
    env.wait_child(d1 as u32, Duration::from_secs(2)).map(drop).unwrap_or(());
    let spawned_before = daemon_log(&env).matches("spawned watcher").count();
    start_daemon(&mut env);
    // Three ticks of the new daemon: past "never unsupervised for two ticks".
    env.fresh_ticks(3, Duration::from_secs(6));
    assert_eq!(by_artifact(&env), before, "the same watchers, none new");
    assert_eq!(
        daemon_log(&env).matches("spawned watcher").count(),
        spawned_before,
        "{}",
        daemon_log(&env)
    );
    for (_, key) in &arts {
        let pid = holder(&env, key).expect("adopted watchers keep their locks");
        assert!(before.values().any(|p| p == &vec![pid]), "{pid} is one of {before:?}");
    }
}

#[test]
fn sighup_applies_a_new_interval_and_sigterm_exits_fast_leaving_watchers() {
    let mut env = Env::new("signals");
    env.write_config(FAST);
    sessions(&env, 2);
    let pid = start_daemon(&mut env);
    wait_until("two watchers", Duration::from_secs(3), || {
        if by_artifact(&env).len() == 2 {
            Ok(())
        } else {
            Err(by_artifact(&env))
        }
    });
    env.write_config(&FAST.replace("daemon_reconcile_seconds = 1", "daemon_reconcile_seconds = 7"));
    bach::sys::kill(pid, libc::SIGHUP).unwrap();
    wait_until("the new interval in daemon.state", Duration::from_secs(3), || {
        match state(&env).get("reconcile_seconds") {
            Some(v) if v == "7" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    env.write_config("daemon_reconcile_seconds = nonsense\n");
    bach::sys::kill(pid, libc::SIGHUP).unwrap();
    wait_until("the bad config to be logged", Duration::from_secs(3), || {
        if daemon_log(&env).contains("keeping the configuration in force") {
            Ok(())
        } else {
            Err(daemon_log(&env))
        }
    });
    let watchers = by_artifact(&env);
    bach::sys::kill(pid, libc::SIGTERM).unwrap();
    // How fast is measured in tests/bench.rs (sigterm_to_exit), not here.
    let code = env.wait_child(pid as u32, Duration::from_secs(2));
    assert_eq!(code, Some(0));
    assert_eq!(by_artifact(&env), watchers, "watchers live on");
}

#[test]
fn racing_starts_and_daemon_restarts_never_give_two_lock_holders() {
    let mut env = Env::new("race");
    env.write_config(FAST);
    env.ok(&["tasks", "add", "--id", "t", "race"]);
    let arts: Vec<String> = (0..30).map(|i| env.artifact(&format!("r{i}.jsonl"))).collect();
    let keys: Vec<String> = arts.iter().map(|a| env.key(a)).collect();
    let mut daemon = start_daemon(&mut env);
    let starters: Vec<std::process::Child> = arts
        .iter()
        .map(|a| {
            env.cmd(["sessions", "start", "--task", "t", "--artifact", a.as_str()])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(6);
    let (mut restarts, mut samples) = (0, 0);
    let mut last_kill = Instant::now();
    while Instant::now() < deadline {
        // Sample: every watcher process of one artifact beyond the first must
        // be a loser that is gone within 250 ms.
        for (a, pids) in by_artifact(&env) {
            if pids.len() > 1 {
                let k = env.key(&a);
                let t = Instant::now();
                wait_until("a duplicate watcher to leave", Duration::from_millis(250), || {
                    let now: Vec<i32> = by_artifact(&env).get(&a).cloned().unwrap_or_default();
                    if now.len() <= 1 {
                        Ok(())
                    } else {
                        Err((now, holder(&env, &k), t.elapsed()))
                    }
                });
            }
        }
        samples += 1;
        if restarts < 5 && last_kill.elapsed() > Duration::from_millis(900) {
            bach::sys::kill(daemon, libc::SIGKILL).unwrap();
            env.wait_child(daemon as u32, Duration::from_secs(2));
            daemon = start_daemon(&mut env);
            (restarts, last_kill) = (restarts + 1, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for mut c in starters {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(restarts, 5);
    wait_until("every artifact to have exactly one watcher", Duration::from_secs(4), || {
        let m = by_artifact(&env);
        let ok = arts.iter().all(|a| m.get(a).is_some_and(|p| p.len() == 1))
            && keys.iter().all(|k| holder(&env, k).is_some());
        if ok {
            Ok(())
        } else {
            Err(m)
        }
    });
    assert!(samples > 50, "sampled {samples} times");
}

#[test]
fn status_reports_running_stopped_and_killed_with_the_right_exit_codes() {
    let mut env = Env::new("status");
    env.write_config(FAST);
    let arts = sessions(&env, 2);
    // A third session whose watcher always crashes: it shows its backoff.
    let bad = env.artifact("bad.jsonl");
    env.ok(&["sessions", "start", "--no-watch", "--task", "t", "--id", "bad", "--artifact", &bad]);
    // A record written by hand with a control character is skipped, escaped.
    let record =
        format!("artifact = {}\ntask = t\nstate = live\nstarted = 1\n", env.artifact("\u{1b}[31m"));
    fs::write(env.home.join("sessions/esc"), record).unwrap();
    fs::create_dir_all(env.home.join("watch").join(format!("{}.lock", env.key(&bad)))).unwrap();
    let out = env.run(&["daemon", "status", "--json"]);
    assert_eq!(out.status.code(), Some(3), "not running yet");
    let doc = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(doc.get("running"), &Json::Bool(false));
    for field in ["pid", "started", "reconcile_seconds", "problem"] {
        assert_eq!(doc.get(field), &Json::Null, "{field} in {doc:?}");
    }
    assert_eq!(doc.get("artifacts").arr().len(), 3, "{doc:?}");
    let pid = start_daemon(&mut env);
    wait_until("both watchers and a crash", Duration::from_secs(5), || {
        let s = state(&env);
        let up = arts.iter().all(|(_, k)| holder(&env, k).is_some());
        if up && s.keys().any(|k| k.ends_with(".crashes")) {
            Ok(())
        } else {
            Err(s)
        }
    });
    let doc = env.json(&["daemon", "status", "--json"]);
    assert_eq!((doc.get("running"), doc.get("pid").int()), (&Json::Bool(true), pid as i64));
    assert!(doc.get("started").int() > 0);
    assert_eq!((doc.get("reconcile_seconds").int(), doc.get("problem")), (1, &Json::Null));
    let (a0, k0) = &arts[0];
    let w0 = holder(&env, k0).unwrap();
    let entry = |art: &str| {
        let all = doc.get("artifacts").arr();
        all.iter()
            .find(|e| e.get("artifact").str() == art)
            .unwrap_or_else(|| panic!("{art}: {doc:?}"))
            .clone()
    };
    let e0 = entry(a0);
    assert_eq!((e0.get("key").str(), e0.get("state").str()), (k0.as_str(), "supervised"));
    assert_eq!(e0.get("sessions").arr(), [Json::Str("s0".into())]);
    assert_eq!((e0.get("watcher_pid").int(), e0.get("crashes").int()), (w0 as i64, 0));
    assert_eq!((e0.get("last_exit"), e0.get("next_retry")), (&Json::Null, &Json::Null));
    let eb = entry(&bad);
    assert_eq!((eb.get("state").str(), eb.get("watcher_pid")), ("backoff", &Json::Null));
    assert!(eb.get("crashes").int() >= 1);
    assert_eq!(eb.get("last_exit").str(), "exit 1");
    assert!(eb.get("next_retry").int() > 0);
    let text = env.ok(&["daemon", "status"]);
    assert!(text.starts_with(&format!("daemon: running (pid {pid}, up ")), "{text}");
    assert!(text.contains(&format!("supervised (pid {w0}, up ")), "{text}");
    assert!(
        text.contains("waiting: crashed ") && text.contains(", last exit 1, retry in "),
        "{text}"
    );
    let err = String::from_utf8_lossy(&env.run(&["daemon", "status"]).stderr).into_owned();
    assert!(
        err.contains("sessions/esc:1: control character in 'artifact = ")
            && err.contains("\\x1b[31m'"),
        "{err}"
    );
    assert!(!text.contains('\u{1b}') && !err.contains('\u{1b}'), "never raw");
    // A stray shows as one.
    let stray = env.artifact("stray.jsonl");
    let spid = env.spawn(&["internal", "session-watch", &stray]);
    wait_until("the stray in the status", Duration::from_secs(3), || {
        let t = env.ok(&["daemon", "status"]);
        if t.contains("strays:\n") && t.contains(&spid.to_string()) {
            Ok(())
        } else {
            Err(t)
        }
    });
    // Killed: not running (exit 3), the watchers still shown as supervised.
    bach::sys::kill(pid, libc::SIGKILL).unwrap();
    env.wait_child(pid as u32, Duration::from_secs(2));
    let out = env.run(&["daemon", "status"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("daemon: not running\n")
            && text.contains(&format!("supervised (pid {w0}")),
        "{text}"
    );
    // Stopped cleanly: still 3.
    let pid = start_daemon(&mut env);
    bach::sys::kill(pid, libc::SIGTERM).unwrap();
    assert_eq!(env.wait_child(pid as u32, Duration::from_secs(2)), Some(0));
    assert_eq!(env.run(&["daemon", "status", "--json"]).status.code(), Some(3));
}

#[test]
fn files_of_keys_unused_for_a_day_are_swept_and_others_kept() {
    let mut env = Env::new("sweep");
    env.write_config(FAST);
    let arts = sessions(&env, 1);
    let (old, fresh) = ("0123456789abcdef", "fedcba9876543210");
    fs::create_dir_all(env.home.join("watch")).unwrap();
    fs::create_dir_all(env.home.join("logs")).unwrap();
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86400);
    for key in [old, fresh] {
        for f in [
            format!("watch/{key}.lock"),
            format!("watch/{key}.status"),
            format!("logs/watch-{key}.log"),
            format!("logs/watch-{key}.log.1"),
        ] {
            let file = fs::File::create(env.home.join(&f)).unwrap();
            if key == old {
                file.set_modified(two_days_ago).unwrap();
            }
        }
    }
    start_daemon(&mut env);
    wait_until("the old key's files to go", Duration::from_secs(3), || {
        let left: Vec<_> = fs::read_dir(env.home.join("watch"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().starts_with(old))
            .collect();
        if left.is_empty() && !env.home.join(format!("logs/watch-{old}.log.1")).exists() {
            Ok(())
        } else {
            Err(left)
        }
    });
    for f in [
        format!("watch/{fresh}.lock"),
        format!("watch/{fresh}.status"),
        format!("logs/watch-{fresh}.log"),
    ] {
        assert!(env.home.join(&f).exists(), "{f} is younger than a day and kept");
    }
    wait_until("the desired key's watcher, untouched by the sweep", Duration::from_secs(3), || {
        holder(&env, &arts[0].1).ok_or("no lock holder")
    });
    wait_until("the sweep in the log", Duration::from_secs(2), || {
        let log = daemon_log(&env);
        if log.contains(&format!("removed the files of key {old}")) {
            Ok(())
        } else {
            Err(log)
        }
    });
}
