//! Benchmarks: `cargo test --release --test bench -- --ignored --nocapture`.
//! Each prints figures (medians of several runs); none asserts timing, the
//! machines are too noisy for that. `BACH_BENCH_BIN=path` measures another
//! build of the same version (the static musl one, say).

use bach::config::Config;
use bach::reconcile::{Ledger, Policy, Watcher};
use bach::store;
use bach::supervisor::{self, Desired, Host, Signal, Spawned, Supervised, Supervisor, Table, Wake};
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary measured: this build, or another one (the static musl build,
/// say) named by `BACH_BENCH_BIN`.
fn bin() -> String {
    std::env::var("BACH_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_bach").into())
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/");
const CLAUDE_REAL: &str = "claude/real-2.1.197/transcript.jsonl";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(format!("{FIXTURES}{name}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// CPU time this thread has used, to the nanosecond.
fn cpu_thread() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out pointer for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn ticks_to_duration(stat: &str) -> Duration {
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = after.split(' ').filter_map(|x| x.parse().ok()).collect();
    // utime, stime, cutime and cstime are fields 14 to 17 of /proc/PID/stat
    // (10 to 13 after the state); the last two count reaped children (`ps`).
    Duration::from_millis((f[10] + f[11] + f[12] + f[13]) * 10)
}

fn cpu_of(pid: u32) -> Duration {
    ticks_to_duration(&fs::read_to_string(format!("/proc/{pid}/stat")).unwrap())
}

fn peak_rss_kib(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

struct Home {
    root: PathBuf,
    home: PathBuf,
}

impl Home {
    fn new(tag: &str) -> Home {
        let root = std::env::temp_dir().join(format!("bach-bench-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("bh")).unwrap();
        let root = fs::canonicalize(root).unwrap();
        Home { home: root.join("bh"), root }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", &self.root)
            .env("BACH_HOME", &self.home);
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        c
    }

    fn sessions(&self, n: usize, config: &str) -> Vec<String> {
        fs::write(self.home.join("config"), config).unwrap();
        assert!(self.cmd(&["tasks", "add", "--id", "t", "bench"]).status().unwrap().success());
        let arts: Vec<String> = (0..n)
            .map(|i| self.root.join(format!("a{i}.jsonl")).to_str().unwrap().to_string())
            .collect();
        // Written directly: a thousand `sessions start` would measure process start-up instead.
        fs::create_dir_all(self.home.join("sessions")).unwrap();
        for (i, a) in arts.iter().enumerate() {
            fs::write(
                self.home.join(format!("sessions/s{i}")),
                format!("artifact = {a}\ntask = t\nstate = live\nstarted = {i}\n"),
            )
            .unwrap();
        }
        arts
    }

    fn lock_holders(&self) -> usize {
        fs::read_dir(self.home.join("watch")).map_or(0, |d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "lock"))
                .filter(|e| bach::lock::holder(&e.path()).ok().flatten().is_some())
                .count()
        })
    }

    fn kill_all(&self, daemon: &mut Child) {
        let _ = bach::sys::kill(daemon.id() as i32, libc::SIGKILL);
        let _ = daemon.wait();
        if let Ok(d) = fs::read_dir(self.home.join("watch")) {
            for e in d.flatten() {
                if let Ok(Some(pid)) = bach::lock::holder(&e.path()) {
                    let _ = bach::sys::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
    t.elapsed()
}

#[test]
#[ignore]
fn daemon_cold_start_and_peak_rss_with_100_watchers() {
    let h = Home::new("rss");
    h.sessions(100, "daemon_reconcile_seconds = 1\n");
    let mut d = h.cmd(&["daemon", "run"]).spawn().unwrap();
    let up = wait_for("100 watchers", Duration::from_secs(20), || h.lock_holders() == 100);
    println!("cold start to 100 running watchers: {:.0} ms", up.as_secs_f64() * 1e3);
    std::thread::sleep(Duration::from_secs(3));
    println!("daemon peak RSS with 100 watchers: {} KiB", peak_rss_kib(d.id()));
    let cpu0 = cpu_of(d.id());
    std::thread::sleep(Duration::from_secs(10));
    let cpu = cpu_of(d.id()) - cpu0;
    println!(
        "daemon CPU over 10 ticks of 1 s at 100 artifacts (ps included): {:.1} ms per tick",
        cpu.as_secs_f64() * 1e3 / 10.0
    );
    h.kill_all(&mut d);
}

#[test]
#[ignore]
fn crash_recorded_and_replaced_after_sigkill() {
    let h = Home::new("crash");
    h.sessions(1, "daemon_reconcile_seconds = 5\nbackoff_base_seconds = 1\n");
    let mut d = h.cmd(&["daemon", "run"]).spawn().unwrap();
    let home = bach::home::Home::at(h.home.clone());
    let key = home.key(&h.root.join("a0.jsonl").to_string_lossy());
    let lock = home.lock(&key);
    let state = h.home.join("daemon.state");
    let (mut recorded, mut replaced) = (Vec::new(), Vec::new());
    for round in 1..=5 {
        wait_for("a watcher", Duration::from_secs(10), || {
            bach::lock::holder(&lock).ok().flatten().is_some()
        });
        let pid = bach::lock::holder(&lock).unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        bach::sys::kill(pid, libc::SIGKILL).unwrap();
        let needle = format!("{key}.crashes = {round}");
        recorded.push(
            wait_for("the crash in daemon.state", Duration::from_secs(5), || {
                fs::read_to_string(&state).unwrap_or_default().contains(&needle)
            })
            .as_secs_f64()
                * 1e3,
        );
        wait_for("the replacement", Duration::from_secs(70), || {
            bach::lock::holder(&lock).ok().flatten().is_some_and(|p| p != pid)
        });
        replaced.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "SIGKILL to crash recorded in daemon.state: median {:.1} ms {recorded:.1?}",
        median(recorded.clone())
    );
    println!(
        "SIGKILL to replacement holding its lock (backoff doubles from 1 s): {replaced:.0?} ms"
    );
    h.kill_all(&mut d);
}

#[test]
#[ignore]
fn sigterm_to_exit() {
    let h = Home::new("term");
    h.sessions(10, "daemon_reconcile_seconds = 1\n");
    let mut runs = Vec::new();
    for _ in 0..5 {
        let mut d = h.cmd(&["daemon", "run"]).spawn().unwrap();
        wait_for("10 watchers", Duration::from_secs(10), || h.lock_holders() == 10);
        // Its first tick is published once its signal handlers are in place.
        let published = format!("pid = {}\n", d.id());
        wait_for("the daemon's first tick", Duration::from_secs(10), || {
            fs::read_to_string(h.home.join("daemon.state")).is_ok_and(|s| s.starts_with(&published))
        });
        let t = Instant::now();
        bach::sys::kill(d.id() as i32, libc::SIGTERM).unwrap();
        let st = d.wait().unwrap();
        runs.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(st.success());
    }
    println!("SIGTERM to daemon exit 0: median {:.2} ms {runs:.2?}", median(runs.clone()));
    let mut d = h.cmd(&["daemon", "run"]).spawn().unwrap();
    h.kill_all(&mut d);
}

/// A host over a real store and a synthetic process table: every artifact
/// supervised, so a tick measures the daemon's own work and not `ps`.
struct Synthetic {
    st: store::Store,
    table: Supervised,
    sessions: Vec<store::Session>,
    tasks: Vec<store::Task>,
    now: u64,
    /// The store was re-read: the desired set must be recomputed.
    changed: bool,
}

impl Host for Synthetic {
    fn now(&mut self) -> u64 {
        self.now
    }
    fn read_supervised(&mut self, how: Table, supervised: &mut Supervised) -> Result<(), String> {
        if how == Table::Read {
            supervised.clone_from(&self.table);
        }
        Ok(())
    }
    fn read_desired(&mut self, _how: supervisor::Store, desired: &mut Desired) -> bool {
        if self.changed {
            let home = self.st.home.as_str();
            *desired = store::desired(home, &self.sessions, &self.tasks, Some(&[]));
            self.changed = false;
        }
        true // measure the whole tick
    }
    fn spawn(&mut self, _key: &str, _artifact: &str) -> Result<Spawned, String> {
        Ok(Spawned::Started(1000))
    }
    fn retire(&mut self, _key: &str, _pid: i32, _signal: Signal) {}
    fn publish(&mut self, _events: &[String], ledger: &Ledger, _problem: Option<&str>) {
        let h =
            bach::ledger::Header { pid: 1, started: 0, reconcile_seconds: 1, ..Default::default() };
        let clock = bach::time::Clock { mono: self.now, wall: 1_700_000_000_000 };
        std::hint::black_box(bach::ledger::render(&h, &Config::default(), ledger, clock));
    }
    fn sweep(&mut self, _desired: &Desired) {}
    fn clean_up(&mut self, _key: &str) {}
    fn wait(&mut self, deadline: u64) -> Wake {
        self.now = deadline;
        Wake::default()
    }
}

fn synthetic(h: &Home, n: usize) -> Synthetic {
    let arts = h.sessions(n, "");
    let st = store::Store { home: bach::home::Home::at(h.home.clone()) };
    let table = arts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let w = Watcher { pid: 10 + i as i32, holds_lock: None, artifact: a.clone() };
            (st.home.key(a), vec![w])
        })
        .collect();
    let (sessions, _) = st.sessions().unwrap();
    let (tasks, _) = st.tasks().unwrap();
    Synthetic { st, table, sessions, tasks, now: 1_000_000, changed: true }
}

#[test]
#[ignore]
fn tick_cost_at_10_100_1000_artifacts() {
    for n in [10, 100, 1000] {
        let h = Home::new(&format!("tick{n}"));
        let mut host = synthetic(&h, n);
        let mut sup = Supervisor::new(Policy::new(&Config::default()), Ledger::new());
        sup.tick(&mut host, Table::Read);
        let (mut own, mut reread) = (Vec::new(), Vec::new());
        for _ in 0..50 {
            host.now += 1000;
            let c = cpu_thread();
            sup.tick(&mut host, Table::Read);
            own.push((cpu_thread() - c).as_secs_f64() * 1e3);
            // The same with the store re-read from disk (what a changed folder costs).
            let c = cpu_thread();
            (host.sessions, _) = host.st.sessions().unwrap();
            (host.tasks, _) = host.st.tasks().unwrap();
            host.changed = true;
            sup.tick(&mut host, Table::Read);
            reread.push((cpu_thread() - c).as_secs_f64() * 1e3);
        }
        let ps: Vec<f64> = (0..10)
            .map(|_| {
                let t = Instant::now();
                bach::procs::snapshot().unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        println!(
            "{n:>5} artifacts: own CPU per tick {:.3} ms; with the store re-read {:.3} ms; ps alone {:.2} ms wall; whole tick {:.2} ms",
            median(own.clone()),
            median(reread.clone()),
            median(ps.clone()),
            median(reread) + median(ps)
        );
    }
}

/// The watcher's memory and idle cost. Kept in its own module so that its
/// helpers stay local to it.
mod watcher {
    use bach::watcher::status::Status;
    use std::fs::{self, File};
    use std::io::{BufWriter, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// A temporary home with `idle_seconds = 1`, removed at the end.
    struct Bench {
        root: PathBuf,
        home: PathBuf,
    }

    impl Bench {
        fn new() -> Bench {
            let root = std::env::temp_dir().join(format!("bach-bench-w-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("bh")).unwrap();
            let root = fs::canonicalize(root).unwrap();
            fs::write(root.join("bh/config"), "idle_seconds = 1\n").unwrap();
            Bench { home: root.join("bh"), root }
        }

        fn watch(&self, artifact: &Path) -> Child {
            Command::new(super::bin())
                .args(["internal", "session-watch"])
                .arg(artifact)
                .env_clear()
                .env("BACH_HOME", &self.home)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        }

        /// Waits (ten minutes at most) until the watcher's status says `ok`.
        fn wait(&self, artifact: &Path, pid: u32, ok: impl Fn(&Status) -> bool) -> Status {
            let home = bach::home::Home::at(self.home.clone());
            let path = home.status(&home.key(artifact.to_str().unwrap()));
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let status = fs::read_to_string(&path).ok();
                match status.as_deref().and_then(Status::parse) {
                    Some(s) if s.pid == pid as i32 && ok(&s) => return s,
                    _ if Instant::now() > deadline => panic!("watcher {pid} never got there"),
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }

    impl Drop for Bench {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    /// A field of `/proc/PID/status` in KiB.
    fn proc_status_kib(pid: u32, field: &str) -> u64 {
        let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = s.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// utime + stime of a process, in clock ticks.
    fn cpu_ticks(pid: u32) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<u64> = after.split(' ').filter_map(|x| x.parse().ok()).collect();
        f[10] + f[11] // fields 14 and 15, counted from the state
    }

    fn clock_ticks_per_second() -> u64 {
        let out = Command::new("getconf").arg("CLK_TCK").output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        text.ok().and_then(|t| t.parse().ok()).unwrap_or(100)
    }

    /// Follows `artifact` to its end; prints the time, the peak RSS read
    /// just before SIGTERM, and (if asked) the CPU used over 10 s idle.
    fn follow(b: &Bench, what: &str, artifact: &Path, lines: u64, idle_cpu: bool) {
        let size = fs::metadata(artifact).unwrap().len();
        let t = Instant::now();
        let mut child = b.watch(artifact);
        let pid = child.id();
        let s = b.wait(artifact, pid, |s| s.bytes == size);
        let took = t.elapsed();
        assert_eq!(s.lines, lines);
        let cpu = cpu_ticks(pid) as f64 / clock_ticks_per_second() as f64;
        // The wall time is bounded below by the status's once-a-second rate.
        println!(
            "watcher, {what}: status showed all {} MiB after {took:.2?}; CPU {cpu:.2} s",
            size >> 20
        );
        if idle_cpu {
            b.wait(artifact, pid, |s| s.state.as_str() == "idle");
            let (t0, c0) = (Instant::now(), cpu_ticks(pid));
            std::thread::sleep(Duration::from_secs(10));
            let used = (cpu_ticks(pid) - c0) as f64 / clock_ticks_per_second() as f64;
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "watcher, idle: {:.3} s CPU over {secs:.1} s ({:.3}%)",
                used,
                used / secs * 100.0
            );
        }
        let hwm = proc_status_kib(pid, "VmHWM:");
        println!("watcher, {what}: peak RSS (VmHWM) {hwm} KiB");
        bach::sys::kill(pid as i32, libc::SIGTERM).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }

    #[test]
    #[ignore]
    fn watcher_memory_stays_flat_and_idle_cpu_is_near_zero() {
        if !Path::new("/proc/self/status").exists() {
            return println!("watcher bench: needs /proc (Linux)");
        }
        let b = Bench::new();
        // A real Claude Code transcript, over and over: every line is
        // classified (compare with BACH_BENCH_BIN=<a build before attention>).
        let transcript = fs::read(super::fixture(super::CLAUDE_REAL)).unwrap();
        let per = transcript.iter().filter(|&&c| c == b'\n').count() as u64;
        let big = b.root.join("big.jsonl");
        let mut w = BufWriter::new(File::create(&big).unwrap());
        let copies = (256u64 << 20).div_ceil(transcript.len() as u64);
        for _ in 0..copies {
            w.write_all(&transcript).unwrap();
        }
        drop(w);
        follow(&b, "256 MiB of Claude transcript", &big, copies * per, true);
        fs::remove_file(&big).unwrap();

        let long = b.root.join("long.jsonl");
        let mut w = BufWriter::new(File::create(&long).unwrap());
        let head = br#"{"parentUuid":null,"isSidechain":false,"type":"user","message":{"role":"user","content":""#;
        w.write_all(head).unwrap();
        let chunk = vec![b'y'; 1 << 20];
        for _ in 0..64 {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(b"\"},\"sessionId\":\"417c4de5-1034-474f-b13d-6e737d47b966\"}\n").unwrap();
        drop(w);
        follow(&b, "one Claude line of 64 MiB", &long, 1, false);
    }

    /// Appends a line and times until the watcher's status shows `want`.
    fn landed(b: &Bench, artifact: &Path, pid: u32, line: &[u8], want: &str) -> f64 {
        let mut f = fs::OpenOptions::new().append(true).open(artifact).unwrap();
        let t = Instant::now();
        f.write_all(line).unwrap();
        b.wait(artifact, pid, |s| s.saved.attention.map(|a| a.as_str()) == Some(want));
        t.elapsed().as_secs_f64() * 1e3
    }

    #[test]
    #[ignore]
    fn attention_change_published_after_the_line_is_written() {
        let b = Bench::new();
        fs::write(b.home.join("config"), "idle_seconds = 3600\n").unwrap();
        let tool = fs::read(super::fixture("claude/working-tool.jsonl")).unwrap();
        let lines: Vec<&[u8]> = tool.split_inclusive(|&c| c == b'\n').collect();
        let prompt = fs::read(super::fixture("claude/working-model.jsonl")).unwrap();
        let prompt = prompt.split_inclusive(|&c| c == b'\n').next_back().unwrap().to_vec();
        let a = b.root.join("live.jsonl");
        fs::write(&a, lines[..19].concat()).unwrap();
        let mut child = b.watch(&a);
        let pid = child.id();
        b.wait(&a, pid, |s| s.lines == 19);
        let mut ms = Vec::new();
        for i in 0..20 {
            // Land at every phase of the watcher's sleep, not just after it woke.
            std::thread::sleep(Duration::from_millis((i * 37) % 250));
            let (line, want) =
                if i % 2 == 0 { (lines[19], "tool") } else { (&prompt[..], "working") };
            ms.push(landed(&b, &a, pid, line, want));
        }
        println!(
            "attention change published after the line is written: median {:.0} ms, max {:.0} ms (20 changes)",
            super::median(ms.clone()),
            ms.iter().cloned().fold(0.0, f64::max)
        );
        bach::sys::kill(pid as i32, libc::SIGTERM).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
}

#[test]
#[ignore]
fn classifying_a_4_mib_2000_line_transcript() {
    use bach::attention::Classifier;
    use bach::lines::Splitter;
    let names = [
        "claude/compacted.jsonl",
        "claude/turn-done-with-away-summary.jsonl",
        "claude/needs-you-plan.jsonl",
        "claude/working-model.jsonl",
        CLAUDE_REAL,
    ];
    let all: Vec<Vec<u8>> = names.iter().map(|n| fs::read(fixture(n)).unwrap()).collect();
    let pool: Vec<&[u8]> =
        all.iter().flat_map(|b| b.split(|&c| c == b'\n').filter(|l| !l.is_empty())).collect();
    let (small, big): (Vec<&[u8]>, Vec<&[u8]>) = pool.iter().partition(|l| l.len() <= 12 << 10);
    // Mostly ordinary lines, and enough long tool results to make 4 MiB.
    let (mut file, mut count) = (Vec::new(), 0);
    while count < 2000 {
        let room = (4usize << 20).saturating_sub(file.len());
        let line = match count % 50 == 0 && room > (2000 - count) * 2000 {
            true => big[count / 50 % big.len()],
            false => small[count % small.len()],
        };
        file.extend_from_slice(line);
        file.push(b'\n');
        count += 1;
    }
    let mut runs = Vec::new();
    let mut end = None;
    for _ in 0..9 {
        let t = cpu_thread();
        let (mut c, mut s, mut n) = (Classifier::new(), Splitter::new(), 0);
        for chunk in file.chunks(64 << 10) {
            s.feed(chunk, |l| {
                n += 1;
                c.line(l, n);
            });
        }
        runs.push((cpu_thread() - t).as_secs_f64() * 1e3);
        end = Some((n, c.save().agent, c.save().attention));
    }
    println!(
        "classified {:?} of {:.2} MiB from scratch: median {:.2} ms CPU (9 runs, splitter included)",
        end.unwrap(),
        file.len() as f64 / (1 << 20) as f64,
        median(runs)
    );
}

#[test]
#[ignore]
fn sessions_list_with_100_sessions() {
    use bach::attention::{Agent, Attention, Saved};
    use bach::watcher::status::{Status, WatchState};
    let h = Home::new("list");
    let arts = h.sessions(100, "idle_seconds = 120\n");
    let home = bach::home::Home::at(h.home.clone());
    fs::create_dir_all(home.watch()).unwrap();
    let now = bach::time::now();
    for (i, a) in arts.iter().enumerate() {
        let saved = Saved {
            agent: Some(Agent::Claude),
            attention: Some([Attention::Working, Attention::Tool, Attention::TurnDone][i % 3]),
            reason: "tool Bash open".into(),
            tool: "Bash".into(),
            last_text: "Running the whole suite now, then the docs.".into(),
            turns: 3,
            agent_session: "417c4de5-1034-474f-b13d-6e737d47b966".into(),
            evidence: vec!["line 7: assistant tool_use Bash (toolu_01…)".into(); 5],
            ..Saved::default()
        };
        let st = Status {
            pid: 1,
            artifact: a.clone(),
            state: WatchState::Active,
            bytes: 22770,
            lines: 29,
            last_activity: Some(now - i as u64),
            saved,
            attention_since: Some(now - i as u64),
            ..Status::default()
        };
        fs::write(home.status(&home.key(a)), st.render()).unwrap();
    }
    for args in [&["sessions", "list"][..], &["sessions", "list", "--json"]] {
        let mut runs = Vec::new();
        for _ in 0..11 {
            let t = Instant::now();
            assert!(h.cmd(args).status().unwrap().success());
            runs.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "bach {} with 100 sessions: median {:.1} ms wall (ps included)",
            args.join(" "),
            median(runs)
        );
    }
    let mut ps = Vec::new();
    for _ in 0..11 {
        let t = Instant::now();
        bach::procs::snapshot().unwrap();
        ps.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("  of which ps alone: median {:.1} ms", median(ps));
}

#[test]
#[ignore]
fn sessions_wait_notices_a_status_change() {
    let h = Home::new("wait");
    let arts = h.sessions(10, "idle_seconds = 120\n");
    let home = bach::home::Home::at(h.home.clone());
    fs::create_dir_all(home.watch()).unwrap();
    let path = home.status(&home.key(&arts[0]));
    let write = |attention: &str, since: u64| {
        let text = format!("pid = 1\nartifact = {}\nstate = active\nagent = claude\nattention = {attention}\nattention_since = {since}\n", arts[0]);
        fs::write(home.watch().join(".bench.tmp"), text).unwrap();
        fs::rename(home.watch().join(".bench.tmp"), &path).unwrap();
    };
    let mut runs = Vec::new();
    for i in 0..10u64 {
        write("working", 1000 + i);
        let mut w = h.cmd(&["sessions", "wait"]).spawn().unwrap();
        // Its first look is over well within this (the look takes a few ms).
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        write("turn_done", 2000 + i);
        wait_for("the wait to end", Duration::from_secs(10), || w.try_wait().unwrap().is_some());
        runs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "sessions wait: a status change to its exit: median {:.1} ms {runs:.1?}",
        median(runs.clone())
    );
}

/// Discovery and the hook (issue 12): fake agents, real files.
mod register {
    use super::{bin, median};
    use std::fs;
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    struct World {
        root: PathBuf,
        agents: Vec<Child>,
    }

    impl Drop for World {
        fn drop(&mut self) {
            for a in &mut self.agents {
                let _ = bach::sys::kill(a.id() as i32, libc::SIGKILL);
                let _ = a.wait();
            }
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    fn world(tag: &str) -> World {
        let root = std::env::temp_dir().join(format!("bach-bench-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("bh")).unwrap();
        World { root: fs::canonicalize(root).unwrap(), agents: Vec::new() }
    }

    /// 20 fake Claude Code agents (each with its registry) in 20 project
    /// folders, and 1,000 transcripts spread over 50 folders.
    fn claudes(w: &mut World) {
        let config = w.root.join("claude");
        for n in 0..1000 {
            let dir = config.join(format!("projects/-p{}", n % 50));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(format!("{n:08x}-0000-4000-8000-000000000000.jsonl")), b"{}\n")
                .unwrap();
        }
        fs::create_dir_all(config.join("sessions")).unwrap();
        for n in 0..20 {
            let cwd = w.root.join(format!("proj{n}"));
            fs::create_dir_all(&cwd).unwrap();
            let mut c = Command::new("/bin/sleep");
            c.arg0("claude").arg("1000").current_dir(&cwd).env("CLAUDE_CONFIG_DIR", &config);
            let child = c.spawn().unwrap();
            let pid = child.id() as i32;
            let ticks = bach::procs::start_ticks(pid).unwrap();
            let reg = format!(
                "{{\"pid\":{pid},\"sessionId\":\"{n:08x}-1111-4000-8000-000000000000\",\"cwd\":\"{}\",\
                 \"startedAt\":{}000,\"procStart\":\"{ticks}\",\"status\":\"idle\"}}",
                cwd.display(),
                bach::time::now()
            );
            fs::write(config.join(format!("sessions/{pid}.json")), reg).unwrap();
            w.agents.push(child);
        }
    }

    #[test]
    #[ignore]
    fn discovery_with_20_agents_and_1000_transcripts() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return println!("discovery bench: needs /proc (Linux)");
        }
        let mut w = world("discover");
        claudes(&mut w);
        let st = bach::store::Store { home: bach::home::Home::at(w.root.join("bh")) };
        let config = bach::config::Config::default();
        let t = Instant::now();
        let procs = bach::procs::snapshot().unwrap();
        let ps = t.elapsed();
        let records = |st: &bach::store::Store| (st.sessions().unwrap().0, st.tasks().unwrap().0);
        let (s, k) = records(&st);
        let t = Instant::now();
        let first = bach::discover::pass(&st, &config, &procs, (&s, &k), false, bach::time::now());
        let first_ms = t.elapsed().as_secs_f64() * 1000.0;
        let ours =
            first.registered.iter().filter(|r| r.artifact.starts_with(w.root.to_str().unwrap()));
        assert_eq!(ours.count(), 20, "{first:?}");
        let (s, k) = records(&st);
        let passes: Vec<f64> = (0..20)
            .map(|_| {
                let t = Instant::now();
                let r =
                    bach::discover::pass(&st, &config, &procs, (&s, &k), false, bach::time::now());
                assert!(r.registered.is_empty(), "{r:?}");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        println!(
            "discovery, 20 agents, 1000 transcripts: first pass (registers 20) {first_ms:.2} ms, \
             then {:.2} ms per pass (median of 20; target 20 ms); the ps read before it {:.1} ms",
            median(passes),
            ps.as_secs_f64() * 1000.0
        );
    }

    #[test]
    #[ignore]
    fn hook_wall_time() {
        let w = world("hook");
        let run = |payload: &str| {
            let t = Instant::now();
            let mut child = Command::new(bin())
                .args(["hook", "claude"])
                .env_clear()
                .env("HOME", &w.root)
                .env("BACH_HOME", w.root.join("bh"))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(payload.as_bytes()).unwrap();
            assert!(child.wait().unwrap().success());
            t.elapsed().as_secs_f64() * 1000.0
        };
        let start = |n: u32| {
            format!(
                "{{\"session_id\":\"{n:08x}-1034-474f-b13d-6e737d47b966\",\"transcript_path\":\"{}/t{n}.jsonl\",\
                 \"cwd\":\"{}/proj\",\"hook_event_name\":\"SessionStart\",\"source\":\"startup\"}}",
                w.root.display(),
                w.root.display()
            )
        };
        let new: Vec<f64> = (0..30).map(|n| run(&start(n))).collect();
        let again: Vec<f64> = (0..30).map(|n| run(&start(n))).collect();
        let stop = start(1).replace("SessionStart", "Stop");
        let stops: Vec<f64> = (0..30).map(|_| run(&stop)).collect();
        assert_eq!(fs::read_dir(w.root.join("bh/sessions")).unwrap().count(), 30);
        println!(
            "hook, wall from start to exit (median of 30; target 20 ms): SessionStart of a new \
             session {:.2} ms, of a known one {:.2} ms, Stop {:.2} ms",
            median(new),
            median(again),
            median(stops)
        );
    }
}

#[path = "bench_events.rs"]
mod events;
