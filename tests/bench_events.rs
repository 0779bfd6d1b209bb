//! Benchmarks of events, not polling (issue 13), each printed, none
//! asserted. Run one binary against another by `BACH_BENCH_BIN`; a build
//! from before events prints the same lines (its `gone_at` is read as
//! `stray_since`, which it writes at the same moment). `BACH_BENCH_SECONDS`
//! shortens the idle window (default 300).

use super::{bin, median, wait_for, Home};
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Nanoseconds on the CPU of a process's own thread (`/proc/PID/schedstat`).
fn schedstat_ns(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}

/// cutime + cstime of a process in ms: the children it reaped (`ps`).
fn children_ms(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<u64> =
        stat.rsplit_once(") ").unwrap().1.split(' ').filter_map(|x| x.parse().ok()).collect();
    (f[12] + f[13]) * 10
}

/// Voluntary context switches: how often a process went to sleep.
fn wakeups(pid: i32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = s.lines().find(|l| l.starts_with("voluntary_ctxt_switches:"));
    line.and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

/// A `PATH` whose `ps` counts its runs in `ps.count`, then runs the real one.
fn counting_path(h: &Home) -> String {
    use std::os::unix::fs::PermissionsExt;
    let dir = h.root.join("psbin");
    fs::create_dir_all(&dir).unwrap();
    let path = std::env::var("PATH").unwrap();
    let real = path.split(':').map(|d| PathBuf::from(d).join("ps")).find(|p| p.is_file()).unwrap();
    let count = h.root.join("ps.count");
    let script =
        format!("#!/bin/sh\necho x >> '{}'\nexec '{}' \"$@\"\n", count.display(), real.display());
    fs::write(dir.join("ps"), script).unwrap();
    fs::set_permissions(dir.join("ps"), fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{path}", dir.display())
}

fn ps_runs(h: &Home) -> usize {
    fs::read_to_string(h.root.join("ps.count")).map_or(0, |s| s.lines().count())
}

fn state(h: &Home) -> String {
    fs::read_to_string(h.home.join("daemon.state")).unwrap_or_default()
}

fn field(h: &Home, name: &str) -> Option<String> {
    let text = state(h);
    let line = text.lines().find(|l| l.split_once(" = ").is_some_and(|(k, _)| k == name))?;
    Some(line.split_once(" = ")?.1.to_string())
}

/// `bach daemon run` with `path`; returns once it published its first tick.
fn daemon(h: &Home, path: &str) -> Child {
    let d = h.cmd(&["daemon", "run"]).env("PATH", path).spawn().unwrap();
    let pid = format!("pid = {}\n", d.id());
    wait_for("the daemon's first tick", Duration::from_secs(10), || state(h).starts_with(&pid));
    d
}

/// A `sleep` standing in for an agent, and the record lines naming it.
struct Agent(Child);

impl Agent {
    fn new() -> Agent {
        Agent(Command::new("sleep").arg("3600").spawn().unwrap())
    }

    fn record(&self) -> String {
        let pid = self.0.id() as i32;
        let st = bach::sys::proc_stat(pid).unwrap();
        format!("pid = {pid}\npid_uid = {}\npid_ticks = {}\n", st.uid, st.start)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Puts a record in place as bach does (a temporary file, then rename).
fn put(dir: &std::path::Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, text).unwrap();
    fs::rename(tmp, dir.join(name)).unwrap();
}

fn record(artifact: &str, extra: &str) -> String {
    format!("artifact = {artifact}\ntask = t\nstate = live\nstarted = 1\n{extra}")
}

fn holder(h: &Home, artifact: &str) -> Option<i32> {
    let home = bach::home::Home::at(h.home.clone());
    bach::lock::holder(&home.lock(&home.key(artifact))).ok().flatten()
}

fn secs_env() -> u64 {
    std::env::var("BACH_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300)
}

#[test]
#[ignore]
fn idle_cpu_with_100_watchers_and_100_live_agents() {
    let h = Home::new("idlecpu");
    fs::write(h.home.join("config"), "idle_seconds = 5\n").unwrap();
    assert!(h.cmd(&["tasks", "add", "--id", "t", "bench"]).status().unwrap().success());
    let path = counting_path(&h);
    let sessions = h.home.join("sessions");
    fs::create_dir_all(&sessions).unwrap();
    let agents: Vec<Agent> = (0..100).map(|_| Agent::new()).collect();
    let arts: Vec<String> = (0..100)
        .map(|i| h.root.join(format!("a{i}.jsonl")).to_str().unwrap().to_string())
        .collect();
    for (i, (a, agent)) in arts.iter().zip(&agents).enumerate() {
        fs::write(a, "{\"type\":\"user\"}\n").unwrap();
        put(&sessions, &format!("s{i}"), &record(a, &agent.record()));
    }
    let mut d = daemon(&h, &path);
    wait_for("100 watchers", Duration::from_secs(30), || h.lock_holders() == 100);
    let watchers: Vec<i32> = arts.iter().filter_map(|a| holder(&h, a)).collect();
    // Past idle_seconds: every watcher idle, then a moment to settle.
    std::thread::sleep(Duration::from_secs(8));
    let secs = secs_env();
    let (cpu0, kids0, ps0) = (schedstat_ns(d.id()), children_ms(d.id()), ps_runs(&h));
    let woke0: u64 = watchers.iter().map(|&w| wakeups(w)).sum();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let minutes = t.elapsed().as_secs_f64() / 60.0;
    let own = (schedstat_ns(d.id()) - cpu0) as f64 / 1e6;
    let (kids, ps) = (children_ms(d.id()) - kids0, ps_runs(&h) - ps0);
    let woke: u64 = watchers.iter().map(|&w| wakeups(w)).sum::<u64>() - woke0;
    // A watcher that found no inotify instance left polls, and says so.
    let home = bach::home::Home::at(h.home.clone());
    let polling = arts.iter().filter(|a| {
        let log = fs::read_to_string(home.watch_log(&home.key(a))).unwrap_or_default();
        log.contains("following the artifact by polling")
    });
    let polling = polling.count();
    println!(
        "daemon, 100 idle watchers + 100 live agents, {secs} s: own CPU {:.2} ms/min; \
         {ps} ps runs ({:.1} per min) costing {kids} ms of child CPU ({:.1} ms each)",
        own / minutes,
        ps as f64 / minutes,
        kids as f64 / (ps.max(1) as f64)
    );
    println!(
        "watchers with an idle artifact: {:.2} wake-ups per watcher per minute \
         ({polling} of 100 polling)",
        woke as f64 / 100.0 / minutes
    );
    h.kill_all(&mut d);
}

#[test]
#[ignore]
fn sigkill_of_a_watcher_not_forked_to_its_crash_in_daemon_state() {
    let h = Home::new("vanish");
    fs::write(h.home.join("config"), "backoff_base_seconds = 1\nbackoff_max_seconds = 1\n")
        .unwrap();
    assert!(h.cmd(&["tasks", "add", "--id", "t", "bench"]).status().unwrap().success());
    let art = h.root.join("a.jsonl").to_str().unwrap().to_string();
    let sessions = h.home.join("sessions");
    fs::create_dir_all(&sessions).unwrap();
    put(&sessions, "s0", &record(&art, ""));
    let key = bach::home::Home::at(h.home.clone()).key(&art);
    let path = std::env::var("PATH").unwrap();
    // The first daemon spawns the watcher; it goes, and leaves it running.
    let mut d = daemon(&h, &path);
    wait_for("a watcher", Duration::from_secs(15), || holder(&h, &art).is_some());
    let _ = bach::sys::kill(d.id() as i32, libc::SIGTERM);
    let _ = d.wait();
    let (mut runs, mut last) = (Vec::new(), None);
    for _ in 0..20 {
        // A fresh daemon each round: the watcher is never its own child.
        let mut d = daemon(&h, &path);
        wait_for("a watcher", Duration::from_secs(15), || holder(&h, &art).is_some());
        let pid = holder(&h, &art).unwrap();
        // Its first tick adopted the watcher; a moment for the handle.
        std::thread::sleep(Duration::from_millis(200));
        let before = field(&h, &format!("{key}.crashes"));
        bach::sys::kill(pid, libc::SIGKILL).unwrap();
        let took = wait_for("the crash in daemon.state", Duration::from_secs(10), || {
            field(&h, &format!("{key}.crashes")) != before
        });
        runs.push(took.as_secs_f64() * 1e3);
        wait_for("the replacement", Duration::from_secs(15), || {
            holder(&h, &art).is_some_and(|p| p != pid)
        });
        last = field(&h, &format!("{key}.last_exit"));
        let _ = bach::sys::kill(d.id() as i32, libc::SIGTERM);
        let _ = d.wait();
    }
    println!(
        "SIGKILL of a watcher the daemon did not fork to its crash in daemon.state: \
         median {:.1} ms (last_exit {}) {runs:.1?}",
        median(runs.clone()),
        last.unwrap_or_default()
    );
    if let Some(p) = holder(&h, &art) {
        let _ = bach::sys::kill(p, libc::SIGKILL);
    }
}

#[test]
#[ignore]
fn an_agents_exit_to_its_session_gone_in_the_ledger() {
    let h = Home::new("gone");
    fs::write(h.home.join("config"), "idle_seconds = 1\njudge_timeout_seconds = 1\n").unwrap();
    assert!(h.cmd(&["tasks", "add", "--id", "t", "bench"]).status().unwrap().success());
    let sessions = h.home.join("sessions");
    fs::create_dir_all(&sessions).unwrap();
    let home = bach::home::Home::at(h.home.clone());
    let mut d = daemon(&h, &std::env::var("PATH").unwrap());
    let mut runs = Vec::new();
    for round in 0..20 {
        let art = h.root.join(format!("g{round}.jsonl")).to_str().unwrap().to_string();
        let key = home.key(&art);
        let agent = Agent::new();
        put(&sessions, &format!("g{round}"), &record(&art, &agent.record()));
        wait_for("its watcher", Duration::from_secs(15), || holder(&h, &art).is_some());
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        drop(agent);
        // A build before events has no gone_at; its stray timer starts then.
        let (gone, stray) = (format!("{key}.gone_at"), format!("{key}.stray_since"));
        wait_for("the session gone in daemon.state", Duration::from_secs(15), || {
            field(&h, &gone).is_some() || field(&h, &stray).is_some()
        });
        runs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "an agent's exit to its session gone in the ledger (gone_at): median {:.1} ms {runs:.1?}",
        median(runs.clone())
    );
    h.kill_all(&mut d);
}

#[test]
#[ignore]
fn a_new_session_record_to_its_watcher_holding_the_lock() {
    let h = Home::new("record");
    assert!(h.cmd(&["tasks", "add", "--id", "t", "bench"]).status().unwrap().success());
    let sessions = h.home.join("sessions");
    fs::create_dir_all(&sessions).unwrap();
    let mut d = daemon(&h, &std::env::var("PATH").unwrap());
    let mut runs = Vec::new();
    for round in 0..20 {
        let art = h.root.join(format!("n{round}.jsonl")).to_str().unwrap().to_string();
        // At a random phase of the daemon's 5 s tick.
        std::thread::sleep(Duration::from_millis(137 * (round % 7) as u64));
        let t = Instant::now();
        put(&sessions, &format!("n{round}"), &record(&art, ""));
        wait_for("its watcher", Duration::from_secs(15), || holder(&h, &art).is_some());
        runs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "a new session record to its watcher holding the lock: median {:.1} ms {runs:.1?}",
        median(runs.clone())
    );
    h.kill_all(&mut d);
}

#[test]
#[ignore]
fn a_line_appended_to_the_watchers_status() {
    let h = Home::new("line");
    fs::write(h.home.join("config"), "idle_seconds = 1\n").unwrap();
    let art = h.root.join("l.jsonl");
    fs::write(&art, "0\n").unwrap();
    let mut w = Command::new(bin())
        .args(["internal", "session-watch"])
        .arg(&art)
        .env_clear()
        .env("BACH_HOME", &h.home)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let home = bach::home::Home::at(h.home.clone());
    let status = home.status(&home.key(art.to_str().unwrap()));
    let read = || {
        let text = fs::read_to_string(&status).unwrap_or_default();
        bach::watcher::status::Status::parse(&text)
    };
    let lines = || read().map_or(0, |s| s.lines);
    let state = || read().map(|s| s.state.as_str().to_string()).unwrap_or_default();
    let append = |n: u64| {
        use std::io::Write;
        let mut f = fs::OpenOptions::new().append(true).open(&art).unwrap();
        f.write_all(format!("{n}\n").as_bytes()).unwrap();
    };
    let (mut changed, mut same) = (Vec::new(), Vec::new());
    let mut n = 1;
    for _ in 0..20 {
        wait_for("idle", Duration::from_secs(10), || state() == "idle");
        // Idle to active: a new state, published at once.
        let t = Instant::now();
        append(n);
        n += 1;
        wait_for("the line", Duration::from_secs(5), || lines() == n);
        changed.push(t.elapsed().as_secs_f64() * 1e3);
        // Active still: the once-a-second pace.
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        append(n);
        n += 1;
        wait_for("the line", Duration::from_secs(5), || lines() == n);
        same.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "a line appended to the watcher's status: median {:.1} ms when its state changes {changed:.1?}; \
         {:.0} ms otherwise {same:.0?}",
        median(changed.clone()),
        median(same.clone())
    );
    let _ = bach::sys::kill(w.id() as i32, libc::SIGTERM);
    let _ = w.wait();
}
