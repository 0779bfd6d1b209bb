//! DESIGN's revision 3 hardening, one test per defect an outside review
//! found, each through the real binary, a real daemon and real watchers.
//! Every test here failed against the build that had the defect.

use crate::faults::{mkfifo, proc_state, secs, status, test_path, wait_log, watched, Daemon};
use crate::util::*;
use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// The session `id` of a `sessions list --json` document.
#[cfg(target_os = "linux")]
fn session<'a>(doc: &'a Json, id: &str) -> &'a Json {
    let all = doc.get("sessions").arr();
    all.iter().find(|s| s.get("id").str() == id).unwrap_or_else(|| panic!("{id}: {doc:?}"))
}

/// Waits until the watcher of `key` holds its lock; its pid.
fn held(env: &Env, key: &str) -> i32 {
    wait_until("a watcher holding the lock", secs(5), || holder(env, key).ok_or(daemon_log(env)))
}

#[cfg(target_os = "linux")]
fn sleeper(env: &mut Env, secs: &str) -> i32 {
    let mut c = Command::new("sleep");
    c.arg(secs);
    env.spawn_cmd(c) as i32
}

/// Review finding 1: Linux: a wall-clock step changes every process's `lstart`; an agent
/// is known by its start ticks, so its session stays live.
#[cfg(target_os = "linux")]
#[test]
fn a_clock_step_that_moves_an_agents_start_time_never_makes_it_gone() {
    let mut env = Env::new("clockstep");
    let fast = FAST.replace("idle_seconds = 60", "idle_seconds = 1");
    env.write_config(&format!("{fast}judge_timeout_seconds = 1\n"));
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let agent = sleeper(&mut env, "1000");
    let art = env.artifact("a.jsonl");
    let pid = agent.to_string();
    env.ok(&["sessions", "start", "--task", "t", "--id", "s", "--pid", &pid, "--artifact", &art]);
    let key = env.key(&art);
    let watcher = held(&env, &key);
    // From now on `ps` prints the agent's start one second off, as after an NTP step.
    let shift = r#"$2 == pid && match($0, /[0-9][0-9]:[0-9][0-9]:[0-9][0-9]/) {
        s = substr($0, RSTART + 6, 2) + 0; s = (s == 59) ? 58 : s + 1
        $0 = substr($0, 1, RSTART + 5) sprintf("%02d", s) substr($0, RSTART + 8) } { print }"#;
    let count = env.root.join("ps.count");
    env.script(
        "ps",
        &format!(
            "echo x >> '{}'\n'{}' \"$@\" | awk -v pid={agent} '{shift}'",
            count.display(),
            real_ps().display()
        ),
    );
    let _daemon = Daemon::usual(&env);
    // Past the grace a finished agent's watcher gets (2 s here), twice over.
    env.fresh_ticks(5, secs(15));
    assert_eq!(holder(&env, &key), Some(watcher), "{}", daemon_log(&env));
    assert!(!daemon_log(&env).contains("retiring"), "{}", daemon_log(&env));
    let gone_at = format!("{key}.gone_at");
    assert!(!state(&env).contains_key(&gone_at), "never seen gone: {:?}", state(&env));
    let doc = env.json(&["sessions", "list", "--json"]);
    assert_eq!(session(&doc, "s").get("state").str(), "live", "{doc:?}");
}

/// Review finding 2a: A `next_retry` stored while the wall clock ran ahead is clamped on
/// load: it never blocks a respawn for years.
#[test]
fn a_retry_stored_while_the_clock_ran_ahead_does_not_stall_the_respawn() {
    let env = Env::new("ahead");
    env.write_config(FAST);
    let arts = sessions(&env, 1);
    let (art, key) = &arts[0];
    let state = format!(
        "pid = 2147483000\nstarted = 1\n{key}.artifact = {art}\n{key}.crashes = 3\n\
         {key}.last_exit = exit 1\n{key}.next_retry = 4102444800\n"
    );
    fs::write(env.home.join("daemon.state"), state).unwrap();
    let _daemon = Daemon::usual(&env);
    // backoff_max_seconds = 2: the retry in 2100 becomes one at most 2 s away.
    watched(&env, &[key], secs(6));
}

/// A shared library that adds the number in `$FAKE_WALL_OFFSET_FILE` to
/// the wall clock (`CLOCK_REALTIME`) of the process it is preloaded into.
#[cfg(target_os = "linux")]
const WALL_SHIFT: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int r = real(id, ts);
    const char *path = getenv("FAKE_WALL_OFFSET_FILE");
    FILE *f = (r == 0 && id == CLOCK_REALTIME && path) ? fopen(path, "r") : NULL;
    long long offset = 0;
    if (f) { if (fscanf(f, "%lld", &offset) != 1) offset = 0; fclose(f); }
    ts->tv_sec += offset;
    return r;
}
"#;

/// Review finding 2b: The loop's deadlines are monotonic: a wall clock set back an hour
/// does not stop the ticks for an hour.
#[cfg(target_os = "linux")]
#[test]
fn a_wall_clock_set_back_an_hour_does_not_stop_the_ticks() {
    let env = Env::new("setback");
    env.write_config(FAST);
    let (src, lib) = (env.root.join("shift.c"), env.root.join("shift.so"));
    fs::write(&src, WALL_SHIFT).unwrap();
    let mut gcc = Command::new("gcc");
    gcc.args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src).arg("-ldl");
    assert!(gcc.status().expect("gcc is needed for this test").success());
    let offset = env.root.join("offset");
    fs::write(&offset, "0").unwrap();
    let arts = sessions(&env, 1);
    let vars = [
        ("LD_PRELOAD", lib.to_str().unwrap()),
        ("FAKE_WALL_OFFSET_FILE", offset.to_str().unwrap()),
    ];
    let _daemon =
        Daemon::start_with(&env, std::path::Path::new(BIN), &test_path(&env), Stdio::null(), &vars);
    let first = watched(&env, &[&arts[0].1], secs(3))[0];
    // A crash: its restart is due a second from now, a deadline set before
    // the clock goes back (an event would wake the loop anyway).
    bach::sys::kill(first, libc::SIGKILL).unwrap();
    let crashes = format!("{}.crashes", arts[0].1);
    wait_until("the crash recorded", secs(3), || {
        let s = state(&env);
        (s.get(&crashes).map(String::as_str) == Some("1")).then_some(()).ok_or(s)
    });
    fs::write(&offset, "-3600").unwrap();
    wait_until("the restart after the backoff", secs(5), || {
        match bach::lock::holder(&env.h().lock(&arts[0].1)).unwrap() {
            Some(p) if p != first => Ok(()),
            other => Err(other),
        }
    });
    let (a1, k1) = (env.artifact("s1.jsonl"), env.key(&env.artifact("s1.jsonl")));
    session_on(&env, "s1", &a1);
    watched(&env, &[&k1], secs(6));
    // The shift did reach the daemon: its log now runs an hour behind. (The
    // watcher can take its lock before the daemon logs its spawn.)
    wait_log(&env, &format!("for {a1} "), secs(2));
    let log = daemon_log(&env);
    let stamp = |needle: &str| {
        let line =
            log.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {log}"));
        bach::time::lstart_secs(&iso_as_lstart(&line[..20])).unwrap()
    };
    let (first, second) = (stamp(&arts[0].0), stamp(&a1));
    assert!(first >= second + 3500, "the second spawn's time is an hour earlier: {log}");
}

/// `2026-11-25T04:31:14Z` as `ps` would print it, for `lstart_secs`.
#[cfg(target_os = "linux")]
fn iso_as_lstart(iso: &str) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month: usize = iso[5..7].parse().unwrap();
    format!("Mon {} {} {} {}", MONTHS[month - 1], &iso[8..10], &iso[11..19], &iso[..4])
}

/// Review finding 3: A stray whose key this daemon never desired is published with the
/// artifact `ps` shows, so `daemon.state` always parses.
#[test]
fn a_stray_nobody_desired_is_published_with_its_artifact() {
    let mut env = Env::new("nostray");
    env.write_config(&FAST.replace("stray_grace_seconds = 1", "stray_grace_seconds = 600"));
    sessions(&env, 0);
    let art = env.artifact("by-hand.jsonl");
    let pid = env.spawn(&["internal", "session-watch", &art]) as i32;
    let key = env.key(&art);
    wait_until("the hand-started watcher", secs(3), || match holder(&env, &key) {
        Some(p) if p == pid => Ok(()),
        other => Err(other),
    });
    let daemon = Daemon::usual(&env);
    wait_until("the stray timer in daemon.state", secs(4), || {
        let s = state(&env);
        s.get(&format!("{key}.stray_since")).map(drop).ok_or(s)
    });
    let text = fs::read_to_string(env.home.join("daemon.state")).unwrap();
    assert!(text.lines().all(|l| !l.trim_end().ends_with('=')), "an empty value: {text}");
    assert_eq!(state(&env)[&format!("{key}.artifact")], art);
    let doc = env.json(&["daemon", "status", "--json"]);
    assert_eq!(
        (doc.get("running"), doc.get("pid").int()),
        (&Json::Bool(true), daemon.pid() as i64)
    );
    assert_eq!(doc.get("strays").arr()[0].get("pid").int(), pid as i64);
}

/// Review finding 4: With its log and its stderr both failing (a full disk), no warning
/// can panic: the daemon supervises on and stops cleanly.
#[cfg(target_os = "linux")]
#[test]
fn a_daemon_whose_log_and_stderr_both_fail_supervises_on() {
    let env = Env::new("fulldisk");
    env.write_config(FAST);
    let arts = sessions(&env, 1);
    fs::write(env.home.join("logs"), "a file where the log folder should be").unwrap();
    let full = Stdio::from(fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
    let mut daemon = Daemon::start(&env, std::path::Path::new(BIN), &test_path(&env), full);
    let first = watched(&env, &[&arts[0].1], secs(3))[0];
    bach::sys::kill(first, libc::SIGKILL).unwrap();
    wait_until("the killed watcher replaced", secs(5), || match holder(&env, &arts[0].1) {
        Some(p) if p != first => Ok(()),
        other => Err(other),
    });
    bach::sys::kill(daemon.pid(), libc::SIGTERM).unwrap();
    let code = wait_until("the daemon to exit", secs(3), || daemon.0.try_wait().unwrap().ok_or(()));
    assert_eq!(code.code(), Some(0));
}

/// Review finding 5: A value with a blank at either end is refused (exit 2): records trim
/// their values, so it would come back as another artifact.
#[test]
fn values_with_a_blank_at_either_end_are_refused_and_nothing_is_written() {
    let env = Env::new("blanks");
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let padded = format!("{} ", env.artifact("a.jsonl"));
    let err = env.fails(&["sessions", "start", "--task", "t", "--artifact", &padded], 2);
    assert!(err.contains("has a blank at its start or end"), "{err}");
    let err = env.fails(&["tasks", "add", " leading"], 2);
    assert!(err.contains("title ' leading' has a blank at its start or end"), "{err}");
    let sessions = fs::read_dir(env.home.join("sessions")).map_or(0, |d| d.count());
    assert_eq!(sessions, 0);
    assert_eq!(env.json(&["tasks", "list", "--json"]).get("tasks").arr().len(), 1);
}

/// Review finding 6: A judge never outlives its watcher: when the watcher dies by SIGKILL
/// the daemon ends the judge's process group.
#[cfg(target_os = "linux")]
#[test]
fn a_judge_never_outlives_a_watcher_killed_outright() {
    let env = Env::new("judgeorphan");
    let fast = FAST.replace("idle_seconds = 60", "idle_seconds = 1");
    env.write_config(&format!("{fast}judge_command = sleep 31337 # {}\n", env.root.display()));
    let arts = sessions(&env, 1);
    let (art, key) = &arts[0];
    fs::write(art, "{}\n").unwrap();
    let _daemon = Daemon::usual(&env);
    let watcher = watched(&env, &[key], secs(3))[0];
    let pgid = wait_until("the judge to run", secs(5), || {
        status(&env, key).and_then(|s| s.judge_pgid).ok_or_else(|| Box::new(status(&env, key)))
    });
    /// Ends the judge's group whatever the test finds.
    struct Group(i32);
    impl Drop for Group {
        fn drop(&mut self) {
            let _ = bach::sys::killpg(self.0, libc::SIGKILL);
        }
    }
    let _group = Group(pgid);
    bach::sys::kill(watcher, libc::SIGKILL).unwrap();
    wait_until("every process of the judge's group gone", secs(5), || {
        let procs = bach::procs::snapshot().unwrap();
        let left: Vec<_> = procs.iter().filter(|p| p.pgid == pgid && !p.zombie).collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    wait_log(&env, &format!("ended the judge (group {pgid})"), secs(2));
    assert!(proc_state(pgid).is_none_or(|s| s == 'Z'));
}

/// Review finding 7: A bach not named exactly `bach` knows its own watchers: no false
/// "vanished" crashes, and `sessions end` stops them.
#[test]
fn a_bach_not_named_bach_knows_its_own_watchers() {
    let env = Env::new("othername");
    env.write_config(FAST);
    let arts = sessions(&env, 2);
    let tools = env.root.join("my tools");
    fs::create_dir(&tools).unwrap();
    let copy = tools.join("bach-dev");
    copy_exe(BIN, &copy);
    let _daemon = Daemon::start(&env, &copy, &test_path(&env), Stdio::null());
    let keys: Vec<&String> = arts.iter().map(|(_, k)| k).collect();
    let pids = watched(&env, &keys, secs(3));
    bach::sys::kill(pids[0], libc::SIGKILL).unwrap();
    wait_log(&env, "crashed: signal 9", secs(3));
    wait_until("the killed watcher replaced", secs(5), || match holder(&env, keys[0]) {
        Some(p) if p != pids[0] => Ok(()),
        other => Err(other),
    });
    let end = Command::new(&copy)
        .args(["sessions", "end", "s1"])
        .env_clear()
        .env("PATH", test_path(&env))
        .env("BACH_HOME", &env.home)
        .env("HOME", &env.user_home)
        .output()
        .unwrap();
    assert!(end.status.success(), "{}", dump(&["sessions", "end", "s1"], &end));
    wait_until("the ended session's watcher to go", secs(3), || match holder(&env, keys[1]) {
        None => Ok(()),
        other => Err(other),
    });
    let log = daemon_log(&env);
    assert!(!log.contains("vanished") && !log.contains("not signalling"), "{log}");
}

/// Review finding 8: A records folder that cannot be read as a whole keeps the last
/// desired set (and says so) instead of meaning "nothing desired".
#[test]
fn a_store_folder_that_cannot_be_read_keeps_every_watcher() {
    let env = Env::new("unreadable");
    env.write_config(FAST);
    env.count_ps();
    let arts = sessions(&env, 2);
    let _daemon = Daemon::usual(&env);
    let keys: Vec<&String> = arts.iter().map(|(_, k)| k).collect();
    let pids = watched(&env, &keys, secs(3));
    let (dir, away) = (env.home.join("sessions"), env.root.join("sessions.away"));
    fs::write(&away, "a file where the sessions folder was").unwrap();
    // At once: a moment without the folder would rightly mean no sessions.
    swap(&dir, &away);
    wait_until("the problem in daemon status", secs(4), || {
        let doc = env.json(&["daemon", "status", "--json"]);
        match doc.get("problem") {
            Json::Str(p) if p.contains("sessions") => Ok(()),
            other => Err(other.clone()),
        }
    });
    // Past the stray grace, twice: nothing is retired, nor even a stray.
    env.fresh_ticks(3, secs(6));
    assert!(!state(&env).keys().any(|k| k.ends_with(".stray_since")), "{:?}", state(&env));
    assert_eq!(
        keys.iter().map(|k| holder(&env, k)).collect::<Vec<_>>(),
        pids.iter().map(|&p| Some(p)).collect::<Vec<_>>()
    );
    assert!(!daemon_log(&env).contains("retiring"), "{}", daemon_log(&env));
    swap(&dir, &away);
    wait_until("the problem to clear", secs(4), || {
        let doc = env.json(&["daemon", "status", "--json"]);
        (doc.get("problem") == &Json::Null).then_some(()).ok_or(doc)
    });
}

/// Exchanges what is at `a` and `b` in one step (Linux `renameat2`); elsewhere
/// in three renames.
fn swap(a: &std::path::Path, b: &std::path::Path) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &std::path::Path| std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
        let (ca, cb) = (c(a), c(b));
        let (at, flags) = (libc::AT_FDCWD, libc::RENAME_EXCHANGE);
        // SAFETY: both paths are NUL-terminated and outlive the call.
        let r = unsafe { libc::renameat2(at, ca.as_ptr(), at, cb.as_ptr(), flags) };
        assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
    }
    #[cfg(not(target_os = "linux"))]
    {
        let tmp = b.with_extension("swap");
        fs::rename(a, &tmp).unwrap();
        fs::rename(b, a).unwrap();
        fs::rename(&tmp, b).unwrap();
    }
}

/// Review finding 9: `daemon status` says "running" from the lock alone: a missing or
/// unwritable `daemon.state` only makes the details unknown.
#[test]
fn status_says_running_whatever_daemon_state_is() {
    let env = Env::new("nostate");
    env.write_config(FAST);
    sessions(&env, 1);
    let daemon = Daemon::usual(&env);
    let state = env.home.join("daemon.state");
    wait_until("daemon.state", secs(3), || fs::metadata(&state).map(drop));
    fs::remove_file(&state).unwrap();
    let out = env.run(&["daemon", "status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", dump(&["daemon", "status"], &out));
    fs::remove_file(&state).ok();
    fs::create_dir(&state).unwrap(); // and now it cannot be written either
    let doc = env.json(&["daemon", "status", "--json"]);
    assert_eq!(
        (doc.get("running"), doc.get("pid").int()),
        (&Json::Bool(true), daemon.pid() as i64)
    );
    let text = env.ok(&["daemon", "status"]);
    assert!(text.starts_with(&format!("daemon: running (pid {}", daemon.pid())), "{text}");
}

/// Review finding 10: A FIFO where a log belongs never blocks an `open()`: the daemon
/// supervises, and SIGTERM ends it.
#[test]
fn fifos_where_logs_belong_never_hang_the_daemon() {
    let env = Env::new("fifologs");
    env.write_config(FAST);
    let arts = sessions(&env, 1);
    fs::create_dir_all(env.home.join("logs")).unwrap();
    mkfifo(&env.home.join("logs/daemon.log"));
    mkfifo(&env.h().watch_log(&arts[0].1));
    let mut daemon = Daemon::usual(&env);
    watched(&env, &[&arts[0].1], secs(3));
    bach::sys::kill(daemon.pid(), libc::SIGTERM).unwrap();
    let code = wait_until("the daemon to exit", secs(3), || daemon.0.try_wait().unwrap().ok_or(()));
    assert_eq!(code.code(), Some(0));
}

/// Review finding 11: Numbers that would overflow are malformed input, never a panic.
#[test]
fn an_absurd_timeout_is_exit_2() {
    let env = Env::new("overflow");
    let err = env.fails(&["daemon", "stop", "--timeout", "18446744073709551615"], 2);
    assert!(err.contains("--timeout must be at most 31536000 seconds"), "{err}");
}

/// Review finding 12: The folders' stamp can miss a change: the store is read afresh
/// before any watcher is retired.
#[test]
fn a_change_the_folder_stamp_misses_never_retires_a_wanted_watcher() {
    let mut env = Env::new("stamp");
    // Time to change the record before the stray grace ends.
    env.write_config(&FAST.replace("stray_grace_seconds = 1", "stray_grace_seconds = 3"));
    env.count_ps();
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let art = env.artifact("a.jsonl");
    env.ok(&["sessions", "start", "--no-watch", "--task", "t", "--id", "s", "--artifact", &art]);
    env.ok(&["sessions", "end", "s"]);
    let pid = env.spawn(&["internal", "session-watch", &art]) as i32;
    let key = env.key(&art);
    wait_until("the hand-started watcher", secs(3), || match holder(&env, &key) {
        Some(p) if p == pid => Ok(()),
        other => Err(other),
    });
    // The stamp is the fallback under test: change notification would see
    // the write it misses, so the daemon polls.
    let vars = [("BACH_TEST_NO_EVENTS", "1")];
    let (bin, path) = (std::path::Path::new(BIN), test_path(&env));
    let _daemon = Daemon::start_with(&env, bin, &path, Stdio::null(), &vars);
    wait_until("the stray timer", secs(4), || {
        let s = state(&env);
        s.get(&format!("{key}.stray_since")).map(drop).ok_or(s)
    });
    // The session lives again, in a write the folders' stamp cannot see.
    let dir = env.home.join("sessions");
    let before = fs::metadata(&dir).unwrap().modified().unwrap();
    let record = fs::read_to_string(dir.join("s")).unwrap();
    let live: String =
        record.lines().filter(|l| !l.starts_with("ended")).map(|l| format!("{l}\n")).collect();
    crate::faults::put(&dir, "s", live.replace("state = ended", "state = live").as_bytes());
    fs::File::open(&dir).unwrap().set_modified(before).unwrap();
    assert_eq!(fs::metadata(&dir).unwrap().modified().unwrap(), before);
    env.wait_ps_runs(5, secs(10));
    assert_eq!(holder(&env, &key), Some(pid), "{}", daemon_log(&env));
    assert!(!daemon_log(&env).contains("retiring"), "{}", daemon_log(&env));
}

/// Review finding 13: SIGHUP goes to each watcher by its pid: a hand-started watcher that
/// leads a job of several processes is reached alone.
#[test]
fn sighup_reaches_a_hand_started_watcher_by_its_pid_not_its_job() {
    let mut env = Env::new("hupjob");
    env.write_config(FAST);
    let arts = sessions(&env, 1);
    let (art, key) = &arts[0];
    let wlog = env.root.join("w.log");
    let mut watcher = env.cmd(["internal", "session-watch", art.as_str()]);
    watcher.process_group(0).stderr(fs::File::create(&wlog).unwrap());
    let w = watcher.spawn().unwrap();
    let wpid = w.id() as i32;
    held(&env, key);
    let mut member = Command::new("sleep");
    member.arg("1000").process_group(wpid);
    // SIGHUP kills it, even where the tests run with it ignored (nohup).
    // SAFETY: signal() is async-signal-safe; nothing else runs in the child.
    unsafe {
        member.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            Ok(())
        })
    };
    let member = env.spawn_cmd(member) as i32;
    let daemon = Daemon::usual(&env);
    bach::sys::kill(daemon.pid(), libc::SIGHUP).unwrap();
    wait_until("the watcher to reload its config", secs(4), || {
        let log = fs::read_to_string(&wlog).unwrap_or_default();
        log.contains("config reloaded").then_some(()).ok_or(log)
    });
    assert!(proc_state(member).is_some_and(|s| s != 'Z'), "the job's other member lives on");
    let _ = bach::sys::kill(wpid, libc::SIGKILL);
    drop(w);
}

/// Review finding 14a: Records are durable: the folder is flushed after the rename or
/// link that puts a record in place.
#[cfg(target_os = "linux")]
#[test]
fn records_are_flushed_with_their_folder() {
    let env = Env::new("fsync");
    let trace = env.root.join("trace");
    let strace = |args: &[&str]| {
        let mut c = Command::new("strace");
        c.args(["-f", "-e", "trace=openat,link,linkat,rename,renameat,renameat2,fsync", "-o"])
            .arg(&trace)
            .arg(BIN)
            .args(args);
        c.env("BACH_HOME", &env.home).env("HOME", &env.user_home);
        assert!(c.status().expect("strace is needed for this test").success());
        fs::read_to_string(&trace).unwrap()
    };
    let tasks = env.home.join("tasks");
    for (args, call) in [
        (&["tasks", "add", "--id", "t1", "x"][..], "link"),
        (&["tasks", "done", "t1"][..], "rename("),
    ] {
        let text = strace(args);
        let lines: Vec<&str> = text.lines().collect();
        let put = lines
            .iter()
            .position(|l| l.contains(call) && l.contains("/tasks/t1\""))
            .unwrap_or_else(|| panic!("{call}: {text}"));
        let opened = format!("\"{}\", O_RDONLY", tasks.display());
        let dirfd = lines[put..]
            .iter()
            .find(|l| l.contains(&opened))
            .and_then(|l| l.rsplit("= ").next())
            .unwrap_or_else(|| panic!("the folder opened after {call}: {text}"));
        let synced = lines[put..].iter().any(|l| l.contains(&format!("fsync({dirfd})")));
        assert!(synced, "fsync of the folder's fd {dirfd} after {call}: {text}");
    }
}

/// Review finding 14b: The sweep removes temporary files a dead writer left, once they
/// are a day old.
#[test]
fn stale_temporary_files_are_swept_and_fresh_ones_kept() {
    let env = Env::new("temps");
    env.write_config(FAST);
    sessions(&env, 0);
    let tasks = env.home.join("tasks");
    let (old, fresh) = (tasks.join(".t9.999.0.tmp"), tasks.join(".t8.999.1.tmp"));
    for f in [&old, &fresh] {
        fs::write(f, "title = half").unwrap();
    }
    let two_days_ago = std::time::SystemTime::now() - secs(2 * 86_400);
    fs::File::options().write(true).open(&old).unwrap().set_modified(two_days_ago).unwrap();
    let _daemon = Daemon::usual(&env);
    wait_log(&env, "removed 1 stale temporary files", secs(3));
    assert!(!old.exists() && fresh.exists());
}

/// Review finding 14c: A judge's input file is named for its watcher's pid: what a killed
/// watcher left never blocks the next one's judge.
#[test]
fn a_judge_input_left_behind_never_blocks_the_next_judge() {
    let env = Env::new("judgename");
    let fast = FAST.replace("idle_seconds = 60", "idle_seconds = 1");
    env.write_config(&format!("{fast}judge_command = cat > /dev/null; echo fine\n"));
    let arts = sessions(&env, 1);
    let (art, key) = &arts[0];
    fs::write(art, "{}\n").unwrap();
    fs::create_dir_all(env.home.join("watch")).unwrap();
    // The name a first judge of an earlier watcher run had.
    fs::write(env.home.join(format!("watch/.{key}.judge.1")), "left behind").unwrap();
    let _daemon = Daemon::usual(&env);
    let s = wait_until("a verdict", secs(6), || {
        status(&env, key)
            .filter(|s| s.judge_exit.is_some())
            .ok_or_else(|| Box::new(status(&env, key)))
    });
    assert_eq!((s.judge_exit.as_deref(), s.verdict.as_deref()), (Some("exit 0"), Some("fine")));
}
