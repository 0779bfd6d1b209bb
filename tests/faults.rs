//! Fault injection: the real daemon (`daemon_reconcile_seconds = 1`) and
//! real watchers while the world misbehaves — `ps` missing, hanging or
//! lying; a watcher binary that cannot run; garbage in the store; logs and
//! `daemon.state` that cannot be written; a broken config on SIGHUP; a daemon
//! SIGKILLed mid-tick again and again; artifacts nobody should have to read.
//! Each test proves that supervision goes on and nothing is lost.
//!
//! Several checks read `/proc` (process states, peak memory, `/proc/locks`):
//! these tests are for Linux, where CI runs them.

use crate::util::*;
use bach::watcher::status::Status;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A daemon this test started; SIGKILLed and reaped when dropped.
pub struct Daemon(pub Child);

impl Daemon {
    /// `EXE daemon run` in this test's home with `path` as its whole PATH
    /// and stderr to `err`; returns once it holds `daemon.lock`.
    pub fn start(env: &Env, exe: &Path, path: &str, err: Stdio) -> Daemon {
        Daemon::start_with(env, exe, path, err, &[])
    }

    /// The same with more variables in its environment.
    pub fn start_with(
        env: &Env,
        exe: &Path,
        path: &str,
        err: Stdio,
        vars: &[(&str, &str)],
    ) -> Daemon {
        let mut cmd = Command::new(exe);
        cmd.args(["daemon", "run"])
            .env_clear()
            .envs(vars.iter().copied())
            .env("PATH", path)
            .env("HOME", &env.user_home)
            .env("BACH_HOME", &env.home)
            .current_dir(&env.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let child = cmd.spawn().unwrap();
        let d = Daemon(child);
        wait_until("the daemon to hold daemon.lock", secs(5), || {
            match bach::lock::holder(&env.home.join("daemon.lock")) {
                Ok(Some(p)) if p == d.pid() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        d
    }

    /// The usual daemon: this bach, this test's PATH.
    pub fn usual(env: &Env) -> Daemon {
        Daemon::start(env, Path::new(BIN), &test_path(env), Stdio::null())
    }

    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = bach::sys::kill(self.pid(), libc::SIGKILL);
        let _ = self.0.wait();
    }
}

/// This test's `bin` first, then the PATH the tests run with.
pub fn test_path(env: &Env) -> String {
    format!("{}:{}", env.bin.display(), std::env::var("PATH").unwrap_or_default())
}

pub fn status(env: &Env, key: &str) -> Option<Status> {
    Status::parse(&fs::read_to_string(env.h().status(key)).ok()?)
}

/// Waits until every key has a watcher holding its lock; their pids.
pub fn watched(env: &Env, keys: &[&String], limit: Duration) -> Vec<i32> {
    wait_until("every key to be watched", limit, || {
        let h: Vec<Option<i32>> = keys.iter().map(|k| holder(env, k)).collect();
        h.iter().copied().collect::<Option<Vec<i32>>>().ok_or((h, daemon_log(env)))
    })
}

pub fn wait_log(env: &Env, what: &str, limit: Duration) {
    wait_until(&format!("'{what}' in the daemon's log"), limit, || {
        let log = daemon_log(env);
        if log.contains(what) {
            Ok(())
        } else {
            Err(log)
        }
    });
}

/// Writes `text` to `dir/name` through a rename, as a tool would.
pub fn put(dir: &Path, name: &str, text: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, text).unwrap();
    fs::rename(tmp, dir.join(name)).unwrap();
}

pub fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A process's state letter (`Z` for a zombie), `None` when gone: from `/proc`
/// on Linux, from `ps` elsewhere (where only `Z` or `S` is told).
#[cfg(not(target_os = "linux"))]
pub fn proc_state(pid: i32) -> Option<char> {
    let procs = bach::procs::snapshot().ok()?;
    bach::ps::find(&procs, pid).map(|p| if p.zombie { 'Z' } else { 'S' })
}

/// A process's state letter from `/proc` (`Z` for a zombie), `None` when gone.
#[cfg(target_os = "linux")]
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// The watcher key a live process runs for, if it watches one of this
/// test's artifacts (from `/proc`: quicker than `ps` for sampling).
#[cfg(target_os = "linux")]
fn watcher_key(pid: i32, root: &str) -> Option<String> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let command = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let (key, artifact) = bach::ps::watcher_command(command.trim_end(), "bach")?;
    (artifact.starts_with(root) && proc_state(pid)? != 'Z').then(|| key.into())
}

// 1. `ps` missing, hanging, or printing garbage.

/// Puts the real `ps` (a symlink) or a fake `script` into `dir`, the daemon's
/// whole PATH, in one rename so no tick ever runs half a script.
fn put_ps(dir: &Path, script: Option<&str>) {
    let tmp = dir.join(".ps.tmp");
    let _ = fs::remove_file(&tmp);
    match script {
        None => std::os::unix::fs::symlink(real_ps(), &tmp).unwrap(),
        Some(body) => {
            put_exe(&tmp, &format!("#!/bin/sh\nPATH=/usr/bin:/bin\n{body}\n"));
        }
    }
    fs::rename(&tmp, dir.join("ps")).unwrap();
}

/// The contract while `ps` fails: each tick spawns nothing and retires
/// nothing, the streak is logged once, `daemon status` shows `problem`, and
/// supervision resumes once `ps` works again. `fault` breaks the `ps` in
/// the daemon's PATH; the daemon must then say `problem`.
fn ps_fault(tag: &str, fault: impl Fn(&Path), problem: &str) -> Env {
    let env = Env::new(tag);
    env.write_config(FAST);
    let dir = env.root.join("psbin");
    fs::create_dir(&dir).unwrap();
    put_ps(&dir, None);
    let arts = sessions(&env, 1);
    let k0 = &arts[0].1;
    let daemon = Daemon::start(&env, Path::new(BIN), dir.to_str().unwrap(), Stdio::null());
    let w0 = watched(&env, &[k0], secs(3))[0];
    fault(&dir);
    // With change notification `ps` is read only at an audit: SIGHUP asks
    // for one now (it reads `ps` to pass the signal on, then ticks).
    bach::sys::kill(daemon.pid(), libc::SIGHUP).unwrap();
    wait_log(&env, "cannot supervise: ", secs(4));
    // While ps fails, s0 stops being desired and s1 starts.
    fs::remove_file(env.home.join("sessions/s0")).unwrap();
    let k1 = session_on(&env, "s1", &env.artifact("s1.jsonl"));
    // Two ticks and more than the stray grace: nothing may happen.
    std::thread::sleep(Duration::from_millis(2500));
    let log = daemon_log(&env);
    assert_eq!((holder(&env, k0), holder(&env, &k1)), (Some(w0), None), "{log}");
    assert!(!log.contains("retiring") && log.matches("spawned watcher").count() == 1, "{log}");
    let doc = env.json(&["daemon", "status", "--json"]);
    assert!(doc.get("problem").str().starts_with(problem), "{doc:?}");
    put_ps(&dir, None);
    wait_until("s1 watched and the stray s0 retired", secs(5), || {
        match (holder(&env, k0), holder(&env, &k1)) {
            (None, Some(_)) => Ok(()),
            other => Err((other, daemon_log(&env))),
        }
    });
    let log = daemon_log(&env);
    assert_eq!(log.matches("cannot supervise: ").count(), 1, "once per streak: {log}");
    assert!(log.contains(&format!("cannot supervise: {problem}")), "{log}");
    assert_eq!(log.matches("the process table can be read again").count(), 1, "{log}");
    assert_eq!(env.json(&["daemon", "status", "--json"]).get("problem"), &Json::Null);
    drop(daemon);
    env
}

#[test]
fn ps_missing_from_path_stops_spawning_and_retiring_until_it_is_back() {
    let remove = |dir: &Path| fs::remove_file(dir.join("ps")).unwrap();
    ps_fault("ps-missing", remove, "cannot run ps: no such file or directory");
}

#[test]
fn ps_that_fails_is_quoted_in_the_problem_with_the_procps_hint_on_linux_only() {
    let complain = |dir: &Path| put_ps(dir, Some("echo 'ps: illegal option -- o' >&2\nexit 1"));
    let env = ps_fault("ps-complains", complain, "ps failed (exit 1): ps: illegal option -- o");
    let log = daemon_log(&env);
    assert_eq!(log.contains("procps is needed"), cfg!(target_os = "linux"), "{log}");
}

#[test]
fn ps_printing_one_garbage_line_stops_spawning_and_retiring_until_it_is_fixed() {
    let real = real_ps();
    let garbage = |dir: &Path| {
        put_ps(dir, Some(&format!("'{}' \"$@\"; echo not a process", real.display())));
    };
    ps_fault("ps-garbage", garbage, "ps output: line ");
}

#[cfg(target_os = "linux")]
/// The pids a fake `ps` wrote to a file. Dropped, it kills those still
/// running its `sleep 59.75` and removes the file.
struct Recorded(std::path::PathBuf);

#[cfg(target_os = "linux")]
impl Recorded {
    fn pids(&self) -> Vec<i32> {
        let text = fs::read_to_string(&self.0).unwrap_or_default();
        text.lines().map(|l| l.parse().unwrap()).collect()
    }
}

#[cfg(target_os = "linux")]
impl Drop for Recorded {
    fn drop(&mut self) {
        for pid in self.pids() {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.windows(5).any(|w| w == b"59.75") && proc_state(pid) != Some('Z') {
                let _ = bach::sys::kill(pid, libc::SIGKILL);
            }
        }
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn ps_that_hangs_is_killed_with_its_children_at_the_timeout_and_logged_once() {
    let file = std::env::temp_dir().join(format!("bach-hang-{}.pids", std::process::id()));
    let recorded = Recorded(file.clone());
    // The fake records itself and the child it leaves hanging.
    let hang = |dir: &Path| {
        let file = file.display();
        put_ps(dir, Some(&format!("echo $$ >> {file}\nsleep 59.75 &\necho $! >> {file}\nwait")));
    };
    drop(ps_fault("ps-hang", hang, "ps did not finish within 1s"));
    let pids = recorded.pids();
    assert!(pids.len() >= 4, "the fake ran on several ticks: {pids:?}");
    // Killed children of a reaped parent stay zombies here (pid 1 does not
    // reap orphans): a zombie is dead enough.
    wait_until("every hanging ps and its child to be killed", secs(1), || {
        let alive: Vec<(i32, Option<char>)> = pids
            .iter()
            .map(|&p| (p, proc_state(p)))
            .filter(|(_, s)| s.is_some_and(|s| s != 'Z'))
            .collect();
        if alive.is_empty() {
            Ok(())
        } else {
            Err(alive)
        }
    });
}

// 2. The watcher binary cannot be executed. (A binary that vanishes or is
// replaced is an upgrade, and the daemon exits 75: tests/platform.rs.)

#[test]
fn a_watcher_binary_that_cannot_run_is_a_crash_with_backoff_until_it_is_back() {
    let env = Env::new("noexe");
    env.write_config(FAST);
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    // The daemon resolves its own path once, at start: run it from a copy.
    let exe = env.root.join("exe/bach");
    fs::create_dir(env.root.join("exe")).unwrap();
    copy_exe(BIN, &exe);
    let _daemon = Daemon::start(&env, &exe, &std::env::var("PATH").unwrap(), Stdio::null());
    wait_log(&env, "started", secs(3));
    let mode = |m| fs::set_permissions(&exe, fs::Permissions::from_mode(m)).unwrap();
    mode(0o644);
    let key = session_on(&env, "s0", &env.artifact("s0.jsonl"));
    wait_until("a second failed spawn in the ledger", secs(5), || {
        let s = state(&env);
        match s.get(&format!("{key}.crashes")) {
            Some(n) if n.parse::<u32>().unwrap() >= 2 => Ok(()),
            _ => Err(s),
        }
    });
    let why = "spawn failed: permission denied";
    assert_eq!(state(&env)[&format!("{key}.last_exit")], why);
    let log = daemon_log(&env);
    for (n, ms) in [(1, 1000), (2, 2000)] {
        let line = format!("crashed: {why}; crash {n}, backing off {ms}ms");
        assert!(log.contains(&line), "{line}: {log}");
    }
    let doc = env.json(&["daemon", "status", "--json"]);
    assert_eq!(doc.get("artifacts").arr()[0].get("last_exit").str(), why, "{doc:?}");
    assert_eq!(holder(&env, &key), None);
    mode(0o755);
    watched(&env, &[&key], secs(4));
    // The watcher can take its lock before the daemon logs the spawn.
    wait_until("the spawn in the log", secs(2), || {
        if daemon_log(&env).contains("spawned watcher pid") {
            Ok(())
        } else {
            Err(daemon_log(&env))
        }
    });
}

// 3. Garbage, half-written, deleted and replaced records.

#[test]
fn garbage_half_written_deleted_or_replaced_records_never_stop_the_others() {
    let env = Env::new("records");
    env.write_config(FAST);
    let arts = sessions(&env, 2);
    let (k0, k1) = (&arts[0].1, &arts[1].1);
    let (sdir, tdir) = (env.home.join("sessions"), env.home.join("tasks"));
    let half_art = env.artifact("half.jsonl");
    let valid = |art: &str| format!("artifact = {art}\ntask = t\nstate = live\nstarted = 1\n");
    let half_text = valid(&half_art);
    put(&sdir, "half", &half_text.as_bytes()[..half_text.find("ve\n").unwrap()]);
    put(&sdir, "junk", b"this is not a record\n");
    put(&sdir, "binary", b"artifact = /\xff\xfe\n");
    put(&sdir, "big", &vec![b'#'; 70_000]);
    mkfifo(&sdir.join("fifo"));
    std::os::unix::fs::symlink(sdir.join("s0"), sdir.join("link")).unwrap();
    put(&tdir, "bad", b"title = x\nstate = wat\ncreated = 1\n");
    let _daemon = Daemon::usual(&env);
    let w0 = watched(&env, &[k0, k1], secs(3))[0];
    let log = daemon_log(&env);
    for (name, why) in [
        ("sessions/half:3", "unknown session state 'li'"),
        ("sessions/junk:1", "no '=' in 'this is not a record'"),
        ("sessions/binary", "is not UTF-8"),
        ("sessions/big", "is larger than 65536 bytes"),
        ("sessions/fifo", "is not a regular file"),
        ("sessions/link", "is a symbolic link"),
        ("tasks/bad:2", "unknown task state 'wat'"),
    ] {
        let line = format!("skipped record {}/{name}: {why}", env.home.display());
        assert!(log.contains(&line), "{line}\n{log}");
    }
    // Session c comes, turns to garbage and goes, again and again, while
    // the daemon reads; s0 keeps its watcher throughout.
    let c_art = env.artifact("c.jsonl");
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        put(&sdir, "c", valid(&c_art).as_bytes());
        std::thread::sleep(Duration::from_millis(40));
        put(&sdir, "c", &valid(&c_art).as_bytes()[..20]);
        std::thread::sleep(Duration::from_millis(40));
        fs::remove_file(sdir.join("c")).unwrap();
        assert_eq!(holder(&env, k0), Some(w0), "{}", daemon_log(&env));
    }
    put(&sdir, "c", valid(&c_art).as_bytes());
    put(&sdir, "half", half_text.as_bytes());
    fs::remove_file(sdir.join("s1")).unwrap();
    let (kc, kh) = (env.key(&c_art), env.key(&half_art));
    watched(&env, &[&kc, &kh], secs(5));
    wait_until("the deleted session's watcher to be retired", secs(4), || {
        holder(&env, k1).map_or(Ok(()), Err)
    });
    assert_eq!(holder(&env, k0), Some(w0));
    let log = daemon_log(&env);
    assert!(log.contains(&format!("(key {k1}): not desired")), "{log}");
    assert!(!log.lines().any(|l| l.contains("crashed") && l.contains(k0.as_str())), "{log}");
}

// 4. The log and daemon.state cannot be written.

#[test]
fn unwritable_logs_and_daemon_state_never_stop_supervision() {
    let env = Env::new("unwritable");
    env.write_config(FAST);
    let arts = sessions(&env, 2);
    let (k0, k1) = (&arts[0].1, &arts[1].1);
    // A file where the logs folder should be; a folder for daemon.state.
    fs::write(env.home.join("logs"), "not a folder").unwrap();
    fs::create_dir(env.home.join("daemon.state")).unwrap();
    let err = env.root.join("daemon.err");
    let stderr = Stdio::from(fs::File::create(&err).unwrap());
    let _daemon = Daemon::start(&env, Path::new(BIN), &std::env::var("PATH").unwrap(), stderr);
    let first = watched(&env, &[k0, k1], secs(3));
    bach::sys::kill(first[0], libc::SIGKILL).unwrap();
    wait_until("a new watcher for s0", secs(4), || match holder(&env, k0) {
        Some(p) if p != first[0] => Ok(()),
        other => Err(other),
    });
    assert_eq!(holder(&env, k1), Some(first[1]));
    let said = fs::read_to_string(&err).unwrap();
    assert_eq!(said.matches("cannot be written").count(), 1, "once per streak: {said}");
    // Repaired: the next crash is logged and published again.
    fs::remove_file(env.home.join("logs")).unwrap();
    fs::remove_dir(env.home.join("daemon.state")).unwrap();
    bach::sys::kill(first[1], libc::SIGKILL).unwrap();
    wait_until("the crash in daemon.state", secs(4), || {
        state(&env).get(&format!("{k1}.crashes")).map(|_| ()).ok_or_else(|| daemon_log(&env))
    });
    wait_log(&env, "daemon.state can be written again", secs(2));
    assert!(daemon_log(&env).contains("crashed: signal 9"));
    let said = fs::read_to_string(&err).unwrap();
    assert_eq!(said.matches("works again").count(), 1, "{said}");
    watched(&env, &[k0, k1], secs(4));
}

// 5. A broken config on SIGHUP; a daemon SIGKILLed mid-tick.

#[test]
fn broken_config_on_sighup_keeps_the_old_one_and_the_watchers_and_a_good_one_applies_later() {
    let env = Env::new("badhup");
    env.write_config(FAST);
    let arts = sessions(&env, 2);
    let (k0, k1) = (&arts[0].1, &arts[1].1);
    let daemon = Daemon::usual(&env);
    let first = watched(&env, &[k0, k1], secs(3));
    // Its watchers run before the tick that spawned them is published.
    let before = wait_until("the first tick published", secs(3), || {
        let s = state(&env);
        s.contains_key("reconcile_seconds").then_some(s.clone()).ok_or(s)
    });
    env.write_config(&format!("{FAST}daemon_reconcile_second = 3\n"));
    bach::sys::kill(daemon.pid(), libc::SIGHUP).unwrap();
    wait_log(
        &env,
        "(did you mean 'daemon_reconcile_seconds'?); keeping the configuration",
        secs(3),
    );
    // Supervision goes on under the old settings: a crash is repaired.
    bach::sys::kill(first[0], libc::SIGKILL).unwrap();
    wait_until("a new watcher for s0", secs(4), || match holder(&env, k0) {
        Some(p) if p != first[0] => Ok(()),
        other => Err(other),
    });
    assert_eq!(holder(&env, k1), Some(first[1]), "the other watcher lives on");
    let settings = |s: &BTreeMap<String, String>| {
        let names = ["reconcile_seconds", "backoff_max_seconds", "stray_grace_seconds"];
        names.map(|n| s.get(n).cloned())
    };
    assert_eq!(settings(&state(&env)), settings(&before), "the old config is in force");
    // In force indeed: a new session is watched within two ticks of the old
    // interval (the default interval, 5 s, would miss that).
    let k2 = session_on(&env, "s2", &env.artifact("s2.jsonl"));
    watched(&env, &[&k2], secs(2));
    env.write_config(&FAST.replace("max_seconds = 2", "max_seconds = 9"));
    bach::sys::kill(daemon.pid(), libc::SIGHUP).unwrap();
    wait_until("the good config in daemon.state", secs(3), || {
        match state(&env).get("backoff_max_seconds") {
            Some(v) if v == "9" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let log1 = env.h().watch_log(k1);
    wait_until("the SIGHUP passed on to the watcher", secs(3), || {
        let text = fs::read_to_string(&log1).unwrap_or_default();
        if text.contains("config reloaded") {
            Ok(())
        } else {
            Err(text)
        }
    });
    assert_eq!(holder(&env, k1), Some(first[1]));
}

#[cfg(target_os = "linux")]
/// What the sampler of the kill test saw.
#[derive(Debug, Default)]
struct Seen {
    samples: u64,
    scans: u64,
    duplicates: u64,
    longest_duplicate: Duration,
    violations: Vec<String>,
}

/// Samples, until `stop`, which processes hold a write lock (`/proc/locks`:
/// unlike `F_GETLK`, it would show two holders of two files at one path) and
/// which watcher processes run, by key. Two holders of one key, or a second
/// watcher process alive for 250 ms, is a violation.
#[cfg(target_os = "linux")]
fn sample(root: &str, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let mut dup_since: BTreeMap<String, Instant> = BTreeMap::new();
    let mut next_scan = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let locks = fs::read_to_string("/proc/locks").unwrap();
        let mut holders: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for l in locks.lines().filter(|l| l.contains("WRITE") && !l.contains("->")) {
            let Some(pid) = l.split_whitespace().nth(4).and_then(|p| p.parse().ok()) else {
                continue;
            };
            if let Some(key) = watcher_key(pid, root) {
                holders.entry(key).or_default().push(pid);
            }
        }
        // /proc/locks is read in chunks and may list one lock twice when it
        // changes between them: two holders means two processes.
        for pids in holders.values_mut() {
            pids.sort_unstable();
            pids.dedup();
        }
        for (key, pids) in holders.iter().filter(|(_, p)| p.len() > 1) {
            seen.violations.push(format!("two lock holders of {key}: {pids:?}"));
        }
        seen.samples += 1;
        if Instant::now() >= next_scan {
            next_scan = Instant::now() + Duration::from_millis(20);
            seen.scans += 1;
            let mut procs: BTreeMap<String, u32> = BTreeMap::new();
            for pid in fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
            {
                if let Some(key) = watcher_key(pid, root) {
                    *procs.entry(key).or_default() += 1;
                }
            }
            dup_since.retain(|k, _| procs.get(k).is_some_and(|&n| n > 1));
            for (key, _) in procs.iter().filter(|(_, &n)| n > 1) {
                let since = *dup_since.entry(key.clone()).or_insert_with(|| {
                    seen.duplicates += 1;
                    Instant::now()
                });
                seen.longest_duplicate = seen.longest_duplicate.max(since.elapsed());
                if since.elapsed() > Duration::from_millis(250) {
                    seen.violations.push(format!("a second watcher of {key} for 250 ms"));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    seen
}

#[cfg(target_os = "linux")]
/// SIGKILLs the watcher of `key`, if any, and waits until it is gone.
fn kill_watcher(env: &Env, key: &str) {
    if let Some(p) = holder(env, key) {
        bach::sys::kill(p, libc::SIGKILL).unwrap();
        wait_until("the watcher to die", secs(2), || holder(env, key).map_or(Ok(()), Err));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn daemon_sigkilled_mid_tick_twenty_times_never_gives_two_lock_holders_and_converges() {
    let mut env = Env::new("kill20");
    env.write_config(&FAST.replace("max_seconds = 2", "max_seconds = 1"));
    let arts = sessions(&env, 4);
    let keys: Vec<&String> = arts.iter().map(|(_, k)| k).collect();
    let root = env.root.to_str().unwrap().to_string();
    let stop = AtomicBool::new(false);
    let seen = std::thread::scope(|s| {
        let sampler = s.spawn(|| sample(&root, &stop));
        // A failed assertion must stop the sampler too, or the scope waits forever.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let stopper = Stop(&stop);
        // Each round (and the last restart) has work: a watcher was lost.
        for round in 0..20 {
            kill_watcher(&env, keys[round % keys.len()]);
            let daemon = env.spawn(&["daemon", "run"]);
            // Killed 0 to 300 ms in; every other round a late watcher (as a
            // killed daemon's child still starting would be) races it.
            let ms = round as u64 * 149 % 301;
            std::thread::sleep(Duration::from_millis(ms / 2));
            if round % 2 == 1 {
                env.spawn(&["internal", "session-watch", &arts[round % arts.len()].0]);
            }
            std::thread::sleep(Duration::from_millis(ms - ms / 2));
            bach::sys::kill(daemon as i32, libc::SIGKILL).unwrap();
            env.wait_child(daemon, secs(2));
        }
        // The last restart: every artifact watched within two ticks (and a
        // moment for the daemon to start on a busy machine), then kept.
        kill_watcher(&env, keys[0]);
        kill_watcher(&env, keys[1]);
        let t = Instant::now();
        env.spawn(&["daemon", "run"]);
        let limit = Duration::from_millis(2500);
        while keys.iter().any(|k| holder(&env, k).is_none()) && t.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = t.elapsed();
        let holders = || keys.iter().map(|k| holder(&env, k)).collect::<Vec<_>>();
        let converged = holders();
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(holders(), converged, "the same watchers a second later");
        drop(stopper);
        (sampler.join().unwrap(), took)
    });
    let (seen, took) = seen;
    eprintln!("kill20: {seen:?}, converged in {took:?}");
    let v = &seen.violations;
    assert!(
        v.is_empty(),
        "{} violations: {:?}…\n{}",
        v.len(),
        &v[..v.len().min(3)],
        daemon_log(&env)
    );
    // Enough looks to mean something, however busy the machine (each reads all of /proc).
    assert!(seen.samples > 100 && seen.scans > 50, "{seen:?}");
    let held: Vec<Option<i32>> = keys.iter().map(|k| holder(&env, k)).collect();
    assert!(took < Duration::from_millis(2500), "unsupervised after the restart: {held:?}");
    let m = env.watchers();
    assert_eq!(m.len(), 4, "one watcher per artifact at the end: {m:?}");
}

// 6. Artifacts that cannot be followed, or only with care.

#[test]
fn odd_artifacts_each_keep_one_watcher_and_count_no_crash() {
    let env = Env::new("odd");
    env.write_config(FAST);
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let dir = env.artifact("dir");
    fs::create_dir(&dir).unwrap();
    let fifo = env.artifact("fifo");
    mkfifo(Path::new(&fifo));
    let looped = env.artifact("loop");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    // About 4,000 bytes, each component under 255: it exists.
    let mut deep = env.root.clone();
    while deep.as_os_str().len() < 3_800 {
        deep.push("d".repeat(200));
    }
    fs::create_dir_all(&deep).unwrap();
    let long = deep.join("s.jsonl").to_str().unwrap().to_string();
    fs::write(&long, "one\ntwo\n").unwrap();
    // Longer than PATH_MAX: the kernel refuses it.
    let too_long = format!("{}/{}", long, "e/".repeat(600));
    let too_long = too_long.trim_end_matches('/').to_string();
    let cases = [
        (dir, "unreadable", Some("the artifact is a directory")),
        (fifo, "unreadable", Some("the artifact is a FIFO")),
        (looped, "unreadable", Some("cannot open the artifact: too many levels of symbolic links")),
        (long, "active", None),
        (too_long, "unreadable", Some("cannot open the artifact: file name too long")),
    ];
    let keys: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, (art, _, _))| session_on(&env, &format!("o{i}"), art))
        .collect();
    let _daemon = Daemon::usual(&env);
    let pids = watched(&env, &keys.iter().collect::<Vec<_>>(), secs(3));
    for ((art, want, error), key) in cases.iter().zip(&keys) {
        wait_until(&format!("the status of {:.60}…", art), secs(3), || match status(&env, key) {
            Some(s) if s.state.as_str() == *want && s.error.as_deref() == *error => Ok(()),
            other => Err(Box::new(other)),
        });
    }
    assert_eq!(status(&env, &keys[3]).unwrap().lines, 2);
    // Two ticks more: the same watchers, one each, and no crash counted.
    std::thread::sleep(Duration::from_millis(2200));
    let again: Vec<Option<i32>> = keys.iter().map(|k| holder(&env, k)).collect();
    assert_eq!(again, pids.iter().map(|&p| Some(p)).collect::<Vec<_>>());
    assert_eq!(env.watchers().len(), cases.len(), "{:?}", env.watchers());
    let log = daemon_log(&env);
    assert!(!log.contains("crashed"), "{log}");
    assert!(!state(&env).keys().any(|k| k.ends_with(".crashes")), "{:?}", state(&env));
}

#[cfg(target_os = "linux")]
#[test]
fn a_watcher_reading_a_1_gib_artifact_keeps_its_memory_flat() {
    let env = Env::new("gib");
    env.write_config(FAST);
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    let art = env.artifact("big.jsonl");
    // Sparse: no disk, no time to write; the watcher reads zeros.
    fs::File::create(&art).unwrap().set_len(1 << 30).unwrap();
    let key = session_on(&env, "s0", &art);
    let _daemon = Daemon::usual(&env);
    let pid = watched(&env, &[&key], secs(3))[0];
    wait_until("256 MiB read", secs(30), || match status(&env, &key) {
        Some(s) if s.bytes >= 256 << 20 => Ok(()),
        other => Err(Box::new(other)),
    });
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hwm: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(hwm < 8 * 1024, "peak RSS {hwm} kB while reading 1 GiB");
    assert_eq!(holder(&env, &key), Some(pid));
    assert!(!daemon_log(&env).contains("crashed"), "{}", daemon_log(&env));
}
