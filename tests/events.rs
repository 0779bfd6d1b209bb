//! Events, not polling: the daemon learns of watchers it did not fork and of
//! agents by pid handles, of the store by change notification, and spawns
//! the watchers of new records itself; the watcher sleeps until its artifact
//! changes. Each path is shown with `ps` runs counted (the events need none),
//! and each fallback forced with `BACH_TEST_NO_EVENTS` (the test-only switch).
//!
//! Processes and descriptors are read from `/proc`: these tests are for Linux.
#![cfg(target_os = "linux")]

use crate::faults::{secs, status, test_path, wait_log, watched, Daemon};
use crate::util::*;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `/bin/sh -c SCRIPT` with only this test's environment, as a login shell
/// would run bach.
fn shell(env: &Env, script: &str) -> Command {
    let mut sh = Command::new("/bin/sh");
    sh.args(["-c", script])
        .env_clear()
        .env("PATH", test_path(env))
        .env("HOME", &env.user_home)
        .env("BACH_HOME", &env.home)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    sh
}

/// The daemon of `env`, with change notification switched off when `polling`.
fn daemon(env: &Env, polling: bool) -> Daemon {
    let vars: &[(&str, &str)] = if polling { &[("BACH_TEST_NO_EVENTS", "1")] } else { &[] };
    Daemon::start_with(env, Path::new(BIN), &test_path(env), Stdio::null(), vars)
}

/// Waits until the daemon published its first tick.
fn first_tick(env: &Env, d: &Daemon) {
    wait_until("the daemon's first tick in daemon.state", secs(5), || {
        let s = state(env);
        (s.get("pid") == Some(&d.pid().to_string())).then_some(()).ok_or(s)
    });
}

/// Waits until `daemon.state` has `field` (`KEY.FIELD`), and returns its value.
fn wait_state(env: &Env, field: &str, limit: Duration) -> String {
    wait_until(&format!("{field} in daemon.state"), limit, || {
        let s = state(env);
        s.get(field).cloned().ok_or((s, daemon_log(env)))
    })
}

/// A process's parent, start ticks, voluntary context switches and cgroup.
fn ppid(pid: i32) -> i32 {
    bach::sys::proc_stat(pid).unwrap().ppid
}

fn wakeups(pid: i32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("voluntary_ctxt_switches:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn cgroup(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()
}

fn fds(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// Waits until process `holder` holds a pid handle (a pidfd) on `pid`.
fn wait_pidfd(holder: i32, pid: i32) {
    let has = || {
        let fds = fs::read_dir(format!("/proc/{holder}/fd")).unwrap();
        fds.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let info = fs::read_to_string(format!("/proc/{holder}/fdinfo/{name}"));
            let link = fs::read_link(e.path()).unwrap_or_default();
            let pidfd = link.to_string_lossy().contains("pidfd");
            pidfd && info.is_ok_and(|i| i.lines().any(|l| l == format!("Pid:\t{pid}")))
        })
    };
    wait_until(&format!("pid {holder} to hold a handle on {pid}"), secs(3), || {
        has().then_some(()).ok_or(())
    });
}

/// A hand-started watcher of `art` (not the daemon's child); its pid.
fn hand_started(env: &mut Env, art: &str) -> i32 {
    let pid = env.spawn(&["internal", "session-watch", art]) as i32;
    let key = env.key(art);
    wait_until("the hand-started watcher to lock", secs(5), || match holder(env, &key) {
        Some(p) if p == pid => Ok(()),
        other => Err(other),
    });
    pid
}

#[test]
fn a_watcher_the_daemon_did_not_fork_is_recorded_dead_at_once_without_ps() {
    let mut env = Env::new("vanish");
    env.write_config(FAST);
    env.count_ps();
    let arts = sessions(&env, 1);
    let (art, key) = &arts[0];
    let pid = hand_started(&mut env, art);
    let d = daemon(&env, false);
    first_tick(&env, &d);
    assert_eq!(state(&env).get("events").map(String::as_str), Some("pidfd+inotify"));
    wait_pidfd(d.pid(), pid);
    let runs = env.ps_runs();
    bach::sys::kill(pid, libc::SIGKILL).unwrap();
    assert_eq!(wait_state(&env, &format!("{key}.last_exit"), secs(2)), "vanished");
    assert_eq!(env.ps_runs(), runs, "its pid handle told, not ps");
    assert_eq!(state(&env)[&format!("{key}.crashes")], "1");
    // Replaced after the backoff, by the daemon's own child this time.
    let new = watched(&env, &[key], secs(4))[0];
    assert_ne!(new, pid);
    assert_eq!(ppid(new), d.pid());
}

#[test]
fn an_agents_exit_makes_its_session_gone_in_the_ledger_at_once_without_ps() {
    let mut env = Env::new("agentgone");
    env.write_config(FAST);
    env.count_ps();
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let mut sleep = Command::new("sleep");
    sleep.arg("1000");
    let agent = env.spawn_cmd(sleep).to_string();
    let d = daemon(&env, false);
    first_tick(&env, &d);
    let art = env.artifact("a.jsonl");
    env.ok(&["sessions", "start", "--task", "t", "--id", "s", "--pid", &agent, "--artifact", &art]);
    let key = env.key(&art);
    let w = watched(&env, &[&key], secs(3))[0];
    // Judged by its record's pid, uid and start: a handle without `ps`.
    wait_pidfd(d.pid(), agent.parse().unwrap());
    let runs = env.ps_runs();
    bach::sys::kill(agent.parse().unwrap(), libc::SIGKILL).unwrap();
    let gone_at: u64 = wait_state(&env, &format!("{key}.gone_at"), secs(2)).parse().unwrap();
    assert_eq!(env.ps_runs(), runs, "the agent's pid handle told, not ps");
    assert!(gone_at.abs_diff(bach::time::now()) <= 2, "gone_at {gone_at}");
    // Its watcher stays for its last verdict (idle + judge timeout), unsignalled.
    assert_eq!(holder(&env, &key), Some(w));
    assert!(!daemon_log(&env).contains("retiring"), "{}", daemon_log(&env));
}

#[test]
fn a_new_record_is_watched_at_once_by_the_daemons_own_child_in_its_cgroup() {
    let env = Env::new("newrecord");
    // Ticks 30 s apart: only the store's change notification is this quick.
    env.write_config(
        &FAST.replace("daemon_reconcile_seconds = 1", "daemon_reconcile_seconds = 30"),
    );
    env.count_ps();
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let d = daemon(&env, false);
    first_tick(&env, &d);
    let runs = env.ps_runs();
    let art = env.artifact("a.jsonl");
    let t = Instant::now();
    env.ok(&["sessions", "start", "--task", "t", "--id", "s", "--artifact", &art]);
    let w = watched(&env, &[&env.key(&art)], secs(2))[0];
    eprintln!("record to lock holder: {:?}", t.elapsed());
    assert_eq!(ppid(w), d.pid(), "the daemon spawned it, not sessions start");
    assert_eq!(cgroup(w), cgroup(d.pid()), "in the service's cgroup");
    let sid = fs::read_to_string(format!("/proc/{w}/stat")).unwrap();
    let fields: Vec<&str> = sid.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!(
        (fields[2], fields[3]),
        (w.to_string().as_str(), w.to_string().as_str()),
        "own group and session"
    );
    // (The watcher can take its lock before the daemon logs its spawn.)
    wait_log(&env, &format!("spawned watcher pid {w}"), secs(2));
    assert_eq!(env.ps_runs(), runs, "the store's change notification told, not ps");
}

#[test]
fn a_watcher_started_by_sessions_start_outlives_the_process_tree_that_ran_it() {
    let env = Env::new("tree");
    env.write_config(FAST);
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let d = daemon(&env, false);
    first_tick(&env, &d);
    let art = env.artifact("a.jsonl");
    // A login shell's job: sessions start, then the shell lingers.
    let script = format!("'{BIN}' sessions start --task t --id s --artifact '{art}'; sleep 30");
    let mut sh = shell(&env, &script);
    sh.process_group(0);
    let mut sh = sh.spawn().unwrap();
    let key = env.key(&art);
    let w = watched(&env, &[&key], secs(5))[0];
    // The whole tree ends, as at a logout or a dropped SSH connection.
    bach::sys::killpg(sh.id() as i32, libc::SIGKILL).unwrap();
    sh.wait().unwrap();
    fs::write(&art, "after the tree is gone\n").unwrap();
    wait_until("the watcher to count the line", secs(3), || match status(&env, &key) {
        Some(s) if s.pid == w && s.lines == 1 => Ok(()),
        other => Err(Box::new(other)),
    });
    assert_eq!((holder(&env, &key), ppid(w)), (Some(w), d.pid()));
}

#[test]
fn a_lock_holder_the_probe_finds_is_adopted_confirmed_by_ps_and_its_death_recorded() {
    let mut env = Env::new("probe");
    env.write_config(FAST);
    env.count_ps();
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let d = daemon(&env, false);
    first_tick(&env, &d);
    let art = env.artifact("a.jsonl");
    let pid = hand_started(&mut env, &art); // the daemon has no handle for it
    let runs = env.ps_runs();
    let key = session_on(&env, "s", &art); // now desired: the probe finds it
    wait_pidfd(d.pid(), pid); // at once
    wait_until("ps read to confirm the holder", secs(3), || {
        (env.ps_runs() > runs).then_some(()).ok_or(daemon_log(&env))
    });
    let runs = env.ps_runs();
    // Confirmed once `ps` ran; give the daemon a moment past the read.
    env.fresh_ticks(1, secs(3));
    let runs_after = env.ps_runs();
    bach::sys::kill(pid, libc::SIGKILL).unwrap();
    assert_eq!(wait_state(&env, &format!("{key}.last_exit"), secs(2)), "vanished");
    assert_eq!(env.ps_runs(), runs_after, "recorded from its handle");
    assert!(runs_after > runs);
    let log = daemon_log(&env);
    assert!(!log.contains(&format!("spawned watcher pid {pid}")), "adopted, not spawned: {log}");
}

#[test]
fn without_events_the_daemon_polls_says_so_and_still_records_crashes() {
    let mut env = Env::new("polling");
    env.write_config(FAST);
    env.count_ps();
    let arts = sessions(&env, 1);
    let (art, key) = &arts[0];
    let pid = hand_started(&mut env, art);
    let d = daemon(&env, true);
    first_tick(&env, &d);
    let doc = env.json(&["daemon", "status", "--json"]);
    assert_eq!(doc.get("events").str(), "polling: disabled by BACH_TEST_NO_EVENTS");
    let text = env.ok(&["daemon", "status"]);
    assert!(text.contains("\nevents: polling: disabled by BACH_TEST_NO_EVENTS\n"), "{text}");
    wait_log(&env, "learning of changes by polling: disabled by BACH_TEST_NO_EVENTS", secs(2));
    // `ps` every tick, as before events; and no busy loop in between.
    let (cpu0, t0) = (cpu_ms(d.pid()), Instant::now());
    env.wait_ps_runs(3, secs(5));
    let (cpu, wall) = (cpu_ms(d.pid()) - cpu0, t0.elapsed().as_millis() as u64);
    assert!(cpu * 4 < wall, "{cpu} ms of CPU in {wall} ms: a busy loop");
    bach::sys::kill(pid, libc::SIGKILL).unwrap();
    assert_eq!(wait_state(&env, &format!("{key}.last_exit"), secs(3)), "vanished");
    // A new record is seen by the folders' stamp at the next tick.
    let k2 = session_on(&env, "s9", &env.artifact("s9.jsonl"));
    watched(&env, &[&k2], secs(3));
    let said = daemon_log(&env).matches("learning of changes by").count();
    assert_eq!(said, 1, "said once: {}", daemon_log(&env));
}

/// utime + stime of a process, in ms (10 ms ticks).
fn cpu_ms(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<u64> =
        stat.rsplit_once(") ").unwrap().1.split(' ').filter_map(|x| x.parse().ok()).collect();
    (f[10] + f[11]) * 10
}

#[test]
fn descriptors_stay_bounded_while_a_thousand_sessions_come_and_go() {
    let env = Env::new("fds");
    env.write_config(FAST);
    let d = daemon(&env, false);
    first_tick(&env, &d);
    let base = fds(d.pid());
    let dir = env.home.join("sessions");
    let uid = bach::sys::getuid();
    let (batch, rounds) = (50, 20);
    let mut peak = 0;
    for round in 0..rounds {
        let kids: Vec<std::process::Child> =
            (0..batch).map(|_| Command::new("sleep").arg("60").spawn().unwrap()).collect();
        for (i, k) in kids.iter().enumerate() {
            let pid = k.id() as i32;
            let ticks = bach::sys::proc_stat(pid).unwrap().start;
            let record = format!(
                "artifact = /nowhere/{round}-{i}.jsonl\npid = {pid}\npid_uid = {uid}\n\
                 pid_ticks = {ticks}\nstate = live\nstarted = 1\n"
            );
            crate::faults::put(&dir, &format!("r{round}-{i}"), record.as_bytes());
        }
        wait_until("a handle per agent", secs(5), || {
            let n = fds(d.pid());
            (n >= base + batch).then_some(()).ok_or(n)
        });
        peak = peak.max(fds(d.pid()));
        // Half go by their records while their agents still run: those
        // handles close as no longer of interest; the others by the exits.
        for i in (0..batch).filter(|i| (i + round) % 2 == 0) {
            fs::remove_file(dir.join(format!("r{round}-{i}"))).unwrap();
        }
        wait_until("the handles of removed sessions closed", secs(5), || {
            let n = fds(d.pid());
            (n <= base + batch / 2).then_some(()).ok_or(n)
        });
        for mut k in kids {
            let _ = k.kill();
            let _ = k.wait();
        }
        wait_until("every handle closed", secs(5), || {
            let n = fds(d.pid());
            (n <= base).then_some(()).ok_or((n, base))
        });
    }
    eprintln!("descriptors: {base} at rest, at most {peak} with {batch} agents");
    assert!(peak <= base + batch + 2, "{peak} descriptors for {batch} agents over {base}");
}

#[test]
fn an_idle_watcher_sleeps_through_other_files_writes_and_wakes_for_its_own() {
    let mut env = Env::new("idlewatch");
    env.write_config("idle_seconds = 1\n");
    let (art, other) = (env.artifact("a.jsonl"), env.artifact("b.jsonl"));
    fs::write(&art, "one\n").unwrap();
    // Another agent's transcript in the same folder (its creation is an entry).
    fs::write(&other, "another agent\n").unwrap();
    let pid = hand_started(&mut env, &art);
    let key = env.key(&art);
    wait_until("idle", secs(5), || match status(&env, &key) {
        Some(s) if s.state.as_str() == "idle" => Ok(()),
        other => Err(Box::new(other)),
    });
    let before = wakeups(pid);
    // That agent writing, for 1.5 s: no wake-up at all.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        fs::write(&other, "another agent\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(wakeups(pid), before, "woken while nothing of its own happened");
    fs::OpenOptions::new()
        .append(true)
        .open(&art)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"two\n"))
        .unwrap();
    wait_until("the new line", secs(2), || match status(&env, &key) {
        Some(s) if s.lines == 2 && s.state.as_str() == "active" => Ok(()),
        other => Err(Box::new(other)),
    });
    assert!(wakeups(pid) > before);
}

#[test]
fn without_events_the_watcher_polls_says_so_and_still_follows() {
    let env = Env::new("pollwatch");
    env.write_config("idle_seconds = 1\n");
    let art = env.artifact("a.jsonl");
    fs::write(&art, "one\n").unwrap();
    let mut cmd = env.cmd(["internal", "session-watch", art.as_str()]);
    cmd.env("BACH_TEST_NO_EVENTS", "1").stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let key = env.key(&art);
    wait_until("idle", secs(5), || match status(&env, &key) {
        Some(s) if s.pid == pid && s.state.as_str() == "idle" => Ok(()),
        other => Err(Box::new(other)),
    });
    let before = wakeups(pid);
    std::thread::sleep(Duration::from_millis(2100)); // two idle ticks of today's polling
    assert!(wakeups(pid) >= before + 2, "it polls: {} then {}", before, wakeups(pid));
    fs::write(&art, "one\ntwo\n").unwrap();
    wait_until("the new line", secs(3), || match status(&env, &key) {
        Some(s) if s.lines == 2 => Ok(()),
        other => Err(Box::new(other)),
    });
    bach::sys::kill(pid, libc::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    let line = "following the artifact by polling: disabled by BACH_TEST_NO_EVENTS";
    assert_eq!(said.matches(line).count(), 1, "said once: {said}");
}

#[test]
fn the_daemon_raises_its_descriptor_limit_to_the_hard_one() {
    let env = Env::new("nofile");
    env.write_config(FAST);
    // Started with a low soft limit, as a login shell might give it.
    let script = format!("ulimit -S -n 64 && exec '{BIN}' daemon run");
    let d = Daemon(shell(&env, &script).spawn().unwrap());
    first_tick(&env, &d);
    let limits = fs::read_to_string(format!("/proc/{}/limits", d.pid())).unwrap();
    let open = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let words: Vec<&str> = open.split_whitespace().collect();
    assert_eq!(words[3], words[4], "room for every handle: {open}");
    assert_ne!(words[3], "64", "{open}");
}

#[test]
fn with_a_daemon_sessions_start_only_writes_the_record() {
    let env = Env::new("onlyrecord");
    env.write_config(FAST);
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let d = daemon(&env, false);
    first_tick(&env, &d);
    // Stopped, it still holds daemon.lock but cannot spawn: who does?
    bach::sys::kill(d.pid(), libc::SIGSTOP).unwrap();
    let art = env.artifact("a.jsonl");
    env.ok(&["sessions", "start", "--task", "t", "--id", "s", "--artifact", &art]);
    let key = env.key(&art);
    assert_eq!(holder(&env, &key), None, "sessions start spawned a watcher beside the daemon");
    assert!(env.watchers().is_empty(), "{:?}", env.watchers());
    bach::sys::kill(d.pid(), libc::SIGCONT).unwrap();
    let w = watched(&env, &[&key], secs(3))[0];
    assert_eq!(ppid(w), d.pid());
}
