//! The watcher, driven from outside: real processes in a temporary home,
//! observed through its lock (who holds it) and its status file (what it saw).

use crate::util::*;
use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The pid holding the artifact's watcher lock.
fn holder(env: &Env, artifact: &str) -> Option<i32> {
    bach::lock::holder(&env.h().lock(&env.key(artifact))).unwrap()
}

/// Starts a watcher by hand (it re-execs itself with its key, same pid)
/// and waits until it holds the lock.
fn start_watcher(env: &mut Env, artifact: &str) -> i32 {
    let pid = env.spawn(&["internal", "session-watch", artifact]) as i32;
    wait_until("the watcher to hold its lock", secs(5), || match holder(env, artifact) {
        Some(p) if p == pid => Ok(()),
        other => Err(Box::new(other)),
    });
    pid
}

fn append(path: &str, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

/// A home whose sessions turn idle after one second, with `extra` config.
fn quick_env(tag: &str, extra: &str) -> Env {
    let env = Env::new(tag);
    env.write_config(&format!("idle_seconds = 1\n{extra}"));
    env
}

/// A task `t1` and a session `s1` on `artifact`; returns the watcher's pid.
fn start_session(env: &Env, artifact: &str) -> i32 {
    env.ok(&["tasks", "add", "--id", "t1", "the task"]);
    env.ok(&["sessions", "start", "--artifact", artifact, "--task", "t1", "--id", "s1"]);
    wait_until("sessions start to spawn a watcher", secs(5), || {
        holder(env, artifact).ok_or("no lock holder")
    })
}

#[test]
fn sessions_start_gives_exactly_one_watcher() {
    let env = quick_env("one", "");
    let a = env.artifact("s.jsonl");
    let pid = start_session(&env, &a);
    let s = wait_status(&env, &a, pid, "its first status", |_| true);
    assert_eq!((s.state.as_str(), s.artifact.as_str()), ("absent", a.as_str()));
    // A second session of the same artifact finds it watched already.
    env.ok(&["sessions", "start", "--artifact", &a, "--task", "t1"]);
    assert_eq!(env.watchers(), [(pid, a.clone())]);
    assert_eq!(holder(&env, &a), Some(pid));
}

#[test]
fn a_line_written_before_the_first_watch_is_armed_is_read_at_once() {
    let mut env = Env::new("arm-window");
    env.write_config("idle_seconds = 3600\n");
    let a = env.artifact("s.jsonl");
    fs::write(&a, b"").unwrap();
    // Its first read done and published, it waits half a second before it
    // arms its first watches: the line lands in that window.
    let mut c = env.cmd(["internal", "session-watch", &a]);
    c.env(bach::watcher::ARM_DELAY, "500");
    let pid = env.spawn_cmd(c) as i32;
    wait_status(&env, &a, pid, "the empty file read", |s| s.bytes == 0);
    append(&a, b"{\"type\":\"user\"}\n");
    let t = Instant::now();
    wait_status(&env, &a, pid, "the line written before the watches", |s| s.lines == 1);
    assert!(t.elapsed() < secs(2), "read after {:?}", t.elapsed());
}

#[test]
fn second_watcher_of_same_artifact_exits_at_once() {
    let env = quick_env("second", "");
    let a = env.artifact("s.jsonl");
    let pid = start_session(&env, &a);
    let t = Instant::now();
    let out = env.cmd(["internal", "session-watch", &a]).output().unwrap();
    assert!(t.elapsed() < secs(1), "took {:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("already watched by pid {pid}")), "{said}");
    assert_eq!(env.watchers(), [(pid, a.clone())]);
}

#[test]
fn key_that_does_not_match_the_artifact_is_a_usage_error() {
    let env = quick_env("key", "");
    let a = env.artifact("s.jsonl");
    let wrong = "0123456789abcdef";
    let err = env.fails(&["internal", "session-watch", "--key", wrong, &a], 2);
    assert!(err.contains(wrong) && err.contains(&env.key(&a)), "{err}");
    assert_eq!(holder(&env, &a), None);
}

#[test]
fn lines_are_neither_lost_nor_counted_twice_across_ten_sigkills() {
    let mut env = quick_env("sigkill", "");
    let a = env.artifact("s.jsonl");
    let mut n = 0;
    for round in 0..10 {
        let pid = start_watcher(&mut env, &a);
        // 100 lines in uneven writes; the last newline waits for the next round.
        let mut burst = String::from(if round > 0 { "\n" } else { "" });
        for _ in 0..100 {
            n += 1;
            burst.push_str(&format!("{{\"n\": {n}, \"pad\": \"{}\"}}\n", "x".repeat(n % 97)));
        }
        burst.pop();
        for chunk in burst.as_bytes().chunks(61 + 17 * round) {
            append(&a, chunk);
        }
        // Killed before it read anything, halfway, or once caught up.
        match round % 3 {
            0 => {}
            1 => drop(wait_status(&env, &a, pid, "some lines", |s| s.lines > 0)),
            _ => drop(wait_status(&env, &a, pid, "all lines", |s| s.lines == n as u64 - 1)),
        }
        bach::sys::kill(pid, libc::SIGKILL).unwrap();
        assert_eq!(env.wait_child(pid as u32, secs(5)), None, "killed by a signal");
    }
    append(&a, b"\n");
    let pid = start_watcher(&mut env, &a);
    let size = fs::metadata(&a).unwrap().len();
    let s = wait_status(&env, &a, pid, "1000 lines", |s| s.bytes == size);
    assert_eq!((s.lines, s.offset), (1000, size));
}

#[test]
fn truncation_and_replacement_are_followed() {
    let mut env = quick_env("truncate", "");
    let a = env.artifact("s.jsonl");
    append(&a, b"1\n2\n3\n");
    let pid = start_watcher(&mut env, &a);
    let first = wait_status(&env, &a, pid, "3 lines", |s| s.lines == 3);
    fs::write(&a, b"").unwrap();
    wait_status(&env, &a, pid, "the truncation", |s| s.bytes == 0);
    append(&a, b"after\n");
    wait_status(&env, &a, pid, "1 line after truncation", |s| s.lines == 1);
    let new = env.artifact("new.jsonl");
    fs::write(&new, b"x\ny\nz\nw\n").unwrap();
    fs::rename(&new, &a).unwrap();
    let s = wait_status(&env, &a, pid, "the new file's 4 lines", |s| s.lines == 4);
    assert_ne!(s.ino, first.ino);
    append(&a, b"v\n");
    wait_status(&env, &a, pid, "5 lines", |s| s.lines == 5);
}

#[test]
fn unreadable_artifact_is_reported_and_the_watcher_lives() {
    let mut env = quick_env("unreadable", "");
    let a = env.artifact("s.jsonl");
    fs::create_dir(&a).unwrap();
    let pid = start_watcher(&mut env, &a);
    let unreadable = |what: &str| {
        let want = format!("the artifact is a {what}");
        wait_status(&env, &a, pid, &want, |s| {
            s.state.as_str() == "unreadable" && s.error.as_deref() == Some(&want)
        });
    };
    unreadable("directory");
    fs::remove_dir(&a).unwrap();
    let made = Command::new("mkfifo").arg(&a).status().unwrap();
    assert!(made.success());
    unreadable("FIFO");
    fs::remove_file(&a).unwrap();
    append(&a, b"readable at last\n");
    let s = wait_status(&env, &a, pid, "one line", |s| s.lines == 1);
    assert_eq!(s.error, None);
    assert_eq!(holder(&env, &a), Some(pid));
    // Names the kernel refuses are unreadable too, with its reason.
    let looped = env.artifact("loop");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    for (artifact, why) in [
        (looped, "too many levels of symbolic links"),
        (env.artifact(&"n".repeat(300)), "file name too long"),
    ] {
        let pid = start_watcher(&mut env, &artifact);
        let want = format!("cannot open the artifact: {why}");
        wait_status(&env, &artifact, pid, &want, |s| {
            s.state.as_str() == "unreadable" && s.error.as_deref() == Some(&want)
        });
    }
}

#[test]
fn lock_that_cannot_be_taken_exits_one_and_says_why() {
    let env = quick_env("lockdir", "");
    let a = env.artifact("s.jsonl");
    fs::create_dir_all(env.h().lock(&env.key(&a))).unwrap();
    let err = env.fails(&["internal", "session-watch", &a], 1);
    assert!(err.contains(".lock: is a directory"), "{err}");
}

#[test]
fn judge_verdict_appears_in_sessions_list() {
    let env = quick_env(
        "verdict",
        "judge_command = echo \"looks done: $BACH_SESSION $BACH_TASK [$BACH_SESSIONS] \
         $(wc -c | tr -d ' ')\"; echo ignored\n",
    );
    let a = env.artifact("s.jsonl");
    let text: String = (0..10_000).map(|i| format!("line {i:05}\n")).collect();
    append(&a, text.as_bytes());
    env.ok(&["tasks", "add", "--id", "t1", "the task"]);
    let start = ["sessions", "start", "--artifact", &a, "--task", "t1", "--id"];
    env.ok(&[&start[..], &["s1", "--no-watch"]].concat());
    env.ok(&[&start[..], &["s2"]].concat());
    let pid = wait_until("a watcher", secs(5), || holder(&env, &a).ok_or(()));
    let s = wait_status(&env, &a, pid, "a verdict", |s| s.judge_exit.is_some());
    assert_eq!(s.judge_exit.as_deref(), Some("exit 0"));
    let doc = env.json(&["sessions", "list", "--json"]);
    // The newest session, its task, all sessions, and 64 KiB on stdin.
    for s in doc.get("sessions").arr() {
        assert_eq!(s.get("verdict").str(), "looks done: s2 t1 [s1 s2] 65536", "{s:?}");
        assert_eq!(s.get("watcher_pid").int(), pid as i64);
        assert_eq!(s.get("observed").str(), "idle");
    }
}

#[test]
fn hanging_flooding_judge_is_killed_at_timeout_and_counting_goes_on() {
    let mut env = Env::new("hang");
    let pids = env.root.join("judge.pid");
    env.write_config(&format!(
        "idle_seconds = 1\njudge_timeout_seconds = 1\n\
         judge_command = echo $$ > {}; echo stuck; yes flood; sleep 60\n",
        pids.display()
    ));
    let a = env.artifact("s.jsonl");
    append(&a, b"one\n");
    let pid = start_watcher(&mut env, &a);
    let s = wait_status(&env, &a, pid, "the judge's timeout", |s| s.judge_exit.is_some());
    assert_eq!(s.judge_exit.as_deref(), Some("timeout"));
    assert_eq!(s.verdict.as_deref(), Some("stuck"));
    let group: i32 = fs::read_to_string(&pids).unwrap().trim().parse().unwrap();
    // Killed members are zombies until init reaps them: allow it a moment.
    wait_until("the judge's group to be gone", secs(2), || {
        bach::sys::killpg(group, 0).map_or(Ok(()), |()| Err("still there"))
    });
    append(&a, b"two\nthree\n");
    wait_status(&env, &a, pid, "3 lines", |s| s.lines == 3);
}

#[test]
fn sigterm_exits_zero_after_publishing_what_is_left() {
    let mut env = quick_env("sigterm", "");
    let a = env.artifact("s.jsonl");
    append(&a, b"1\n2\n");
    let pid = start_watcher(&mut env, &a);
    wait_status(&env, &a, pid, "2 lines", |s| s.lines == 2);
    append(&a, b"3\n4\n5\n");
    bach::sys::kill(pid, libc::SIGTERM).unwrap();
    assert_eq!(env.wait_child(pid as u32, secs(5)), Some(0));
    let s = status(&env, &a).unwrap();
    assert_eq!((s.pid, s.lines), (pid, 5));
    assert_eq!(holder(&env, &a), None);
}

#[test]
fn watcher_outlives_a_sighup_killed_session_leader() {
    let env = quick_env("sighup", "");
    let a = env.artifact("s.jsonl");
    env.ok(&["tasks", "add", "--id", "t1", "the task"]);
    let script = format!("'{BIN}' sessions start --artifact '{a}' --task t1; sleep 30");
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", &script])
        .env("BACH_HOME", &env.home)
        .env("HOME", &env.user_home)
        .stdout(Stdio::null());
    bach::sys::setsid_on_exec(&mut cmd);
    let mut leader = cmd.spawn().unwrap();
    let pid = wait_until("the watcher", secs(5), || holder(&env, &a).ok_or("no lock holder"));
    let sh = leader.id() as i32;
    bach::sys::kill(sh, libc::SIGHUP).unwrap();
    let _ = bach::sys::killpg(sh, libc::SIGHUP);
    leader.wait().unwrap();
    append(&a, b"still here\n");
    wait_status(&env, &a, pid, "a line", |s| s.lines == 1);
    assert_eq!(holder(&env, &a), Some(pid));
}

#[test]
fn broken_config_is_reported_and_sighup_reloads_it() {
    let mut env = quick_env("config", "");
    env.write_config("idle_seconds = never\n");
    let a = env.artifact("s.jsonl");
    let pid = start_watcher(&mut env, &a);
    let defaults = |s: &bach::watcher::status::Status| {
        s.error.as_deref().is_some_and(|e| e.contains("using the defaults"))
    };
    wait_status(&env, &a, pid, "the config error", defaults);
    env.write_config("idle_seconds = 1\n");
    bach::sys::kill(pid, libc::SIGHUP).unwrap();
    wait_status(&env, &a, pid, "no error", |s| s.error.is_none());
    env.write_config("idle_seconds = 1\nidle_seconds = 2\n");
    bach::sys::kill(pid, libc::SIGHUP).unwrap();
    let s = wait_status(&env, &a, pid, "the reload error", |s| s.error.is_some());
    let e = s.error.unwrap();
    assert!(e.contains("config:2:") && e.ends_with("keeping the config in force"), "{e}");
    assert_eq!(holder(&env, &a), Some(pid));
}

#[test]
fn watcher_rotates_its_own_log_and_writes_to_the_new_one() {
    let env = quick_env("rotate", "log_max_bytes = 4096\n");
    let a = env.artifact("s.jsonl");
    let pid = start_session(&env, &a);
    let log = env.h().watch_log(&env.key(&a));
    append(log.to_str().unwrap(), &[b'#'; 5000]);
    let rotated = format!("{}.1", log.display());
    wait_until("the log to be rotated", secs(10), || {
        fs::metadata(&rotated).map_err(|e| e.to_string())
    });
    bach::sys::kill(pid, libc::SIGHUP).unwrap();
    wait_until("a line in the new log", secs(5), || {
        let text = fs::read_to_string(&log).unwrap_or_default();
        match text.contains("config reloaded") {
            true => Ok(()),
            false => Err(text),
        }
    });
    assert!(!fs::read_to_string(&rotated).unwrap().contains("config reloaded"));
}
