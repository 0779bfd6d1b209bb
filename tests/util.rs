#![allow(dead_code)]
//! The one helper of the integration tests: a fresh home per test, the
//! real binary, waits with a deadline, and cleanup of every process a test
//! caused, by pid.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bach");

/// The one config of the daemon tests: a tick a second, short backoff and grace.
pub const FAST: &str = "daemon_reconcile_seconds = 1\nbackoff_base_seconds = 1\nbackoff_max_seconds = 2\nstray_grace_seconds = 1\nidle_seconds = 60\n";

/// A temporary `HOME` and `BACH_HOME` for one test.
pub struct Env {
    pub root: PathBuf,
    pub home: PathBuf,
    pub user_home: PathBuf,
    pub bin: PathBuf,
    children: Vec<Child>,
}

impl Env {
    pub fn new(tag: &str) -> Env {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("bach-t-{}-{n}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for d in ["home", "bin"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let root = fs::canonicalize(&root).unwrap();
        Env {
            home: root.join("bh"),
            user_home: root.join("home"),
            bin: root.join("bin"),
            root,
            children: Vec::new(),
        }
    }

    /// An artifact path inside this test's folder.
    pub fn artifact(&self, name: &str) -> String {
        self.root.join(name).to_str().unwrap().to_string()
    }

    /// The command `bach ARGS` with only this test's environment.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(BIN);
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        c.args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.user_home)
            .env("BACH_HOME", &self.home);
        c.current_dir(&self.root).stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs `bach ARGS`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{}", dump(args, &out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `bach ARGS`, asserts exit `code`, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{}", dump(args, &out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Writes the config; `discover = none` unless `text` says otherwise,
    /// so a daemon under test never registers agents that are not its
    /// test's (see `register.rs`, whose tests opt in).
    pub fn write_config(&self, text: &str) {
        fs::create_dir_all(&self.home).unwrap();
        let off = if text.contains("discover =") { "" } else { "discover = none\n" };
        fs::write(self.home.join("config"), format!("{text}{off}")).unwrap();
    }

    /// Starts `bach ARGS` in the background; it is killed when the test ends.
    pub fn spawn(&mut self, args: &[&str]) -> u32 {
        let child = self.cmd(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Starts another program in the background; it is killed when the test ends.
    pub fn spawn_cmd(&mut self, mut cmd: Command) -> u32 {
        let child =
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Takes a child started elsewhere: it is killed when the test ends.
    pub fn adopt(&mut self, child: Child) -> u32 {
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits for a child started with `spawn` and returns its exit code.
    pub fn wait_child(&mut self, pid: u32, limit: Duration) -> Option<i32> {
        let i = self.children.iter().position(|c| c.id() == pid).expect("not our child");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(st) = self.children[i].try_wait().unwrap() {
                let _ = self.children.remove(i).wait();
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Writes an executable script into this test's `bin` (first on PATH).
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.bin.join(name);
        put_exe(&p, &format!("#!/bin/sh\n{body}\n"));
        p
    }

    /// This test's home, resolved, as bach names its paths.
    pub fn h(&self) -> bach::home::Home {
        bach::home::Home::at(fs::canonicalize(&self.home).unwrap())
    }

    /// The key of an artifact in this home.
    pub fn key(&self, artifact: &str) -> String {
        self.h().key(artifact)
    }

    /// Pids of live (non-zombie) watcher processes of this test's artifacts.
    pub fn watchers(&self) -> Vec<(i32, String)> {
        let procs = bach::procs::snapshot().expect("ps works");
        let root = self.root.to_str().unwrap();
        bach::ps::watchers(&procs, bach::sys::getuid(), &bach::ps::shown_path(BIN))
            .into_iter()
            .filter(|w| w.artifact.starts_with(root))
            .map(|w| (w.pid, w.artifact))
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = bach::sys::kill(c.id() as i32, libc::SIGKILL);
            let _ = c.wait();
        }
        // Everything else this test caused runs with this test's folder on
        // its command line, or holds one of this home's locks.
        let root = self.root.to_str().unwrap().to_string();
        if let Ok(procs) = bach::procs::snapshot() {
            for p in procs
                .iter()
                .filter(|p| !p.zombie && p.uid == bach::sys::getuid() && p.command.contains(&root))
            {
                let _ = bach::sys::kill(p.pid, libc::SIGKILL);
            }
        }
        let mut locks = vec![self.home.join("daemon.lock")];
        if let Ok(dir) = fs::read_dir(self.home.join("watch")) {
            locks.extend(
                dir.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension() == Some(OsStr::new("lock"))),
            );
        }
        for l in locks {
            if let Ok(Some(pid)) = bach::lock::holder(&l) {
                let _ = bach::sys::kill(pid, libc::SIGKILL);
            }
        }
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Everything about a finished command, for a failure message.
pub fn dump(args: &[&str], out: &Output) -> String {
    format!(
        "bach {args:?}\nstatus: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Makes `to` an executable copy of `from`. The copy is written by a `cp`
/// child, never by this process: a descriptor open for writing here is held
/// by every child another test thread forks meanwhile, until it execs, and
/// running the file then fails with ETXTBSY ("Text file busy").
pub fn copy_exe(from: impl AsRef<Path>, to: &Path) {
    let from = from.as_ref();
    use std::os::unix::fs::PermissionsExt;
    let cp = Command::new("cp").arg(from).arg(to).status().unwrap();
    assert!(cp.success(), "cp {} {}", from.display(), to.display());
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Makes `to` an executable holding `contents`, written as [`copy_exe`] does.
pub fn put_exe(to: &Path, contents: &str) {
    let name = to.file_name().unwrap().to_str().unwrap();
    let draft = to.with_file_name(format!(".{name}.draft"));
    fs::write(&draft, contents).unwrap();
    copy_exe(&draft, to);
    fs::remove_file(draft).unwrap();
}

/// Polls `f` every 10 ms until it gives `Some`, or fails after `limit`
/// saying what was expected and what was seen last.
pub fn wait_until<T, S: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> Result<T, S>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(v) => return v,
            Err(seen) if Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {seen:?}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads a `key = value` file into pairs.
pub fn read_kv(path: &Path) -> Vec<(String, String)> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The holder of a key's watch lock in this test's home.
pub fn holder(env: &Env, key: &str) -> Option<i32> {
    bach::lock::holder(&env.h().lock(key)).ok().flatten()
}

/// The daemon's log so far (empty unless it is a regular file: a test may
/// put a FIFO there, which a plain open would block on).
pub fn daemon_log(env: &Env) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = env.home.join("logs/daemon.log");
    let file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path);
    let mut text = String::new();
    if let Ok(mut f) =
        file.and_then(|f| f.metadata().map(|m| (f, m))).map(|(f, m)| (f, m.is_file()))
    {
        if f.1 {
            let _ = f.0.read_to_string(&mut text);
        }
    }
    text
}

/// `daemon.state` as a map.
pub fn state(env: &Env) -> std::collections::BTreeMap<String, String> {
    read_kv(&env.home.join("daemon.state")).into_iter().collect()
}

/// Session `id` of task `t` on `artifact`, started without a watcher; its key.
pub fn session_on(env: &Env, id: &str, artifact: &str) -> String {
    let args = ["sessions", "start", "--no-watch", "--task", "t", "--id", id, "--artifact"];
    env.ok(&[&args[..], &[artifact]].concat());
    env.key(artifact)
}

/// Task `t` and sessions `s0`… on `<root>/sN.jsonl`: artifacts and keys.
pub fn sessions(env: &Env, n: usize) -> Vec<(String, String)> {
    env.ok(&["tasks", "add", "--id", "t", "work"]);
    (0..n)
        .map(|i| {
            let art = env.artifact(&format!("s{i}.jsonl"));
            (art.clone(), session_on(env, &format!("s{i}"), &art))
        })
        .collect()
}

/// A JSON value, parsed by [`json`] (the tests' own reader: no crate).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object (panics with the document otherwise).
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no member {key:?} in {self:?}")),
            _ => panic!("not an object: {self:?}"),
        }
    }

    /// Whether an object has the member `key`.
    pub fn has(&self, key: &str) -> bool {
        matches!(self, Json::Obj(m) if m.iter().any(|(k, _)| k == key))
    }

    pub fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Json::Num(n) if n.fract() == 0.0 => *n as i64,
            _ => panic!("not an integer: {self:?}"),
        }
    }

    pub fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => panic!("not an array: {self:?}"),
        }
    }

    /// The keys of an object, in order.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Json::Obj(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("not an object: {self:?}"),
        }
    }
}

/// Parses one JSON document (and nothing after it but blanks).
pub fn json(text: &str) -> Json {
    let mut p = JsonParser { b: text.as_bytes(), i: 0 };
    let v = p.value();
    p.blank();
    assert_eq!(p.i, p.b.len(), "trailing bytes after the JSON document: {text}");
    v
}

struct JsonParser<'a> {
    b: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn blank(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) {
        self.blank();
        assert_eq!(self.b.get(self.i), Some(&c), "JSON: expected {:?} at {}", c as char, self.i);
        self.i += 1;
    }

    fn value(&mut self) -> Json {
        self.blank();
        let rest = &self.b[self.i..];
        for (word, v) in
            [("null", Json::Null), ("true", Json::Bool(true)), ("false", Json::Bool(false))]
        {
            if rest.starts_with(word.as_bytes()) {
                self.i += word.len();
                return v;
            }
        }
        match rest.first() {
            Some(b'"') => Json::Str(self.string()),
            Some(b'[') => {
                self.eat(b'[');
                let mut items = Vec::new();
                self.blank();
                while self.b.get(self.i) != Some(&b']') {
                    if !items.is_empty() {
                        self.eat(b',');
                    }
                    items.push(self.value());
                    self.blank();
                }
                self.eat(b']');
                Json::Arr(items)
            }
            Some(b'{') => {
                self.eat(b'{');
                let mut members = Vec::new();
                self.blank();
                while self.b.get(self.i) != Some(&b'}') {
                    if !members.is_empty() {
                        self.eat(b',');
                    }
                    self.blank();
                    let k = self.string();
                    self.eat(b':');
                    members.push((k, self.value()));
                    self.blank();
                }
                self.eat(b'}');
                Json::Obj(members)
            }
            _ => {
                let end =
                    rest.iter().position(|c| !b"+-.eE0123456789".contains(c)).unwrap_or(rest.len());
                let n = std::str::from_utf8(&rest[..end]).unwrap();
                self.i += end;
                Json::Num(n.parse().unwrap_or_else(|_| panic!("JSON: bad number {n:?}")))
            }
        }
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = Vec::new();
        loop {
            let c = *self.b.get(self.i).expect("JSON: unterminated string");
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.b[self.i];
                    self.i += 1;
                    let ch = match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => {
                            let hex = std::str::from_utf8(&self.b[self.i..self.i + 4]).unwrap();
                            self.i += 4;
                            char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap()
                        }
                        other => other as char,
                    };
                    out.extend_from_slice(ch.to_string().as_bytes());
                }
                c => {
                    assert!(c >= 0x20, "JSON: raw control character in a string");
                    out.push(c);
                }
            }
        }
        String::from_utf8(out).unwrap()
    }
}

/// Runs `bach ARGS --json`-style commands and parses their stdout.
impl Env {
    pub fn json(&self, args: &[&str]) -> Json {
        json(&self.ok(args))
    }

    /// Puts a `ps` first on PATH that counts its runs in `ps.count`, then
    /// runs the real one: a test waits for ticks by counting them.
    pub fn count_ps(&self) {
        let real = real_ps();
        let count = self.root.join("ps.count");
        self.script(
            "ps",
            &format!("echo x >> '{}'\nexec '{}' \"$@\"", count.display(), real.display()),
        );
    }

    /// How often `ps` ran since [`Env::count_ps`].
    pub fn ps_runs(&self) -> usize {
        fs::read_to_string(self.root.join("ps.count")).map_or(0, |s| s.lines().count())
    }

    /// Waits until `ps` ran `n` more times than now (the daemon ticked).
    pub fn wait_ps_runs(&self, n: usize, limit: Duration) {
        let start = self.ps_runs();
        wait_until(&format!("{n} more ps runs"), limit, || {
            let now = self.ps_runs();
            if now >= start + n {
                Ok(())
            } else {
                Err(now - start)
            }
        });
    }
}

impl Env {
    /// Waits for `n` ticks of this home's daemon on a fresh table, about a
    /// second apart (the [`FAST`] interval): each time SIGHUP, which makes it
    /// read `ps` (to pass the signal on) and tick with a fresh `ps`, and the
    /// two `ps` runs that follow (needs [`Env::count_ps`]). With change
    /// notification the daemon reads `ps` only every `audit_seconds`, so
    /// this is how a test proves that nothing happened over `n` ticks.
    pub fn fresh_ticks(&self, n: usize, limit: Duration) {
        let lock = self.home.join("daemon.lock");
        let deadline = Instant::now() + limit;
        for i in 0..n {
            let pace = Instant::now() + Duration::from_secs(1);
            let pid = bach::lock::holder(&lock).ok().flatten().expect("a daemon holds the lock");
            let start = self.ps_runs();
            bach::sys::kill(pid, libc::SIGHUP).unwrap();
            wait_until(&format!("fresh tick {} of {n}", i + 1), limit, || {
                let now = self.ps_runs();
                match now >= start + 2 {
                    true => Ok(()),
                    false => Err(now - start),
                }
            });
            assert!(Instant::now() < deadline, "{n} fresh ticks took longer than {limit:?}");
            // Time passes as it would over n ticks (a grace can run out).
            if i + 1 < n {
                std::thread::sleep(pace.saturating_duration_since(Instant::now()));
            }
        }
    }
}

/// The `ps` the tests' PATH finds outside their own `bin` folders.
pub fn real_ps() -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join("ps"))
        .find(|p| p.is_file() && !p.to_string_lossy().contains("bach-t-"))
        .expect("ps on PATH")
}

/// Starts `bach daemon run` and waits until it holds `daemon.lock`.
pub fn start_daemon(env: &mut Env) -> i32 {
    let pid = env.spawn(&["daemon", "run"]) as i32;
    wait_until(
        "the daemon to hold daemon.lock",
        Duration::from_secs(5),
        || match bach::lock::holder(&env.home.join("daemon.lock")) {
            Ok(Some(p)) if p == pid => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    pid
}

/// Watcher processes by artifact, as `ps` shows them.
pub fn by_artifact(env: &Env) -> BTreeMap<String, Vec<i32>> {
    let mut m: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (pid, art) in env.watchers() {
        m.entry(art).or_default().push(pid);
    }
    m
}

/// The status file of the artifact's watcher.
pub fn status(env: &Env, artifact: &str) -> Option<bach::watcher::status::Status> {
    let text = fs::read_to_string(env.h().status(&env.key(artifact))).ok()?;
    bach::watcher::status::Status::parse(&text)
}

/// Waits until the status written by `pid` satisfies `ok`.
pub fn wait_status(
    env: &Env,
    artifact: &str,
    pid: i32,
    what: &str,
    ok: impl Fn(&bach::watcher::status::Status) -> bool,
) -> bach::watcher::status::Status {
    wait_until(what, Duration::from_secs(10), || match status(env, artifact) {
        Some(s) if s.pid == pid && ok(&s) => Ok(s),
        other => Err(Box::new(other)),
    })
}
