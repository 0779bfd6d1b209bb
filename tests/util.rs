#![allow(dead_code)]
//! The one helper of the integration tests: a fresh home per test, the
//! real binary, waits with a deadline, and cleanup of every process a test
//! caused, by pid.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bach");

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

    pub fn write_config(&self, text: &str) {
        fs::create_dir_all(&self.home).unwrap();
        fs::write(self.home.join("config"), text).unwrap();
    }

    /// Starts `bach ARGS` in the background; it is killed when the test ends.
    pub fn spawn(&mut self, args: &[&str]) -> u32 {
        let child = self.cmd(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
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
        use std::os::unix::fs::PermissionsExt;
        let p = self.bin.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
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

/// The daemon's log so far.
pub fn daemon_log(env: &Env) -> String {
    fs::read_to_string(env.home.join("logs/daemon.log")).unwrap_or_default()
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
