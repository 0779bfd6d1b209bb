//! `daemon stop` and `daemon logs`: only the lock holder that `ps` shows as
//! this user's `bach daemon run` is ever signalled, whatever `daemon.lock`
//! says; the last lines of the log, across a rotation.
//!
//! Tests never put -1, 0 or 1 in `daemon.lock`: that the pure decision never
//! signals those is proved by the unit tests of `lifecycle`.

use crate::util::*;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The program of the stand-in: takes the lock the real process would take
/// (`daemon.lock`, or `watch/KEY.lock` for `internal session-watch --key
/// KEY ARTIFACT`) and sleeps; ignores SIGTERM when FAKE_IGNORE_TERM is set.
const STAND_IN: &str = r#"
import fcntl, os, signal, sys, time
home = os.environ["BACH_HOME"]
if os.environ.get("FAKE_IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if sys.argv[0] == "daemon":
    path = os.path.join(home, "daemon.lock")
else:
    os.makedirs(os.path.join(home, "watch"), exist_ok=True)
    path = os.path.join(home, "watch", sys.argv[3] + ".lock")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(0)
while True:
    time.sleep(60)
"#;

/// A stand-in for `bach daemon run` and for a watcher, until the real ones
/// land: python3 through a symlink named `bach`, running the file `daemon`
/// (or `internal`) from its working directory, so that `ps` shows exactly
/// `/…/fake/bach daemon run` — what `daemon stop` looks for.
pub struct FakeBach {
    pub dir: PathBuf,
}

impl FakeBach {
    pub fn new(env: &Env) -> FakeBach {
        let dir = env.root.join("fake");
        fs::create_dir_all(&dir).unwrap();
        let out = Command::new("python3")
            .args(["-c", "import os, sys; print(os.path.realpath(sys.executable))"])
            .output()
            .expect("python3 is on PATH");
        let python = String::from_utf8(out.stdout).unwrap();
        std::os::unix::fs::symlink(python.trim(), dir.join("bach")).unwrap();
        for name in ["daemon", "internal"] {
            fs::write(dir.join(name), STAND_IN).unwrap();
        }
        FakeBach { dir }
    }

    /// What the fake service managers run as the daemon (BACH_DAEMON_CMD).
    /// With the real daemon: `format!("exec {BIN} daemon run")`.
    pub fn daemon_cmd(&self) -> String {
        let d = self.dir.display();
        format!("cd {d} && exec {d}/bach daemon run")
    }

    /// Starts the stand-in with `args` and waits until it holds `lock`.
    pub fn start(&self, env: &Env, args: &[&str], lock: &Path, ignore_term: bool) -> Running {
        fs::create_dir_all(&env.home).unwrap();
        let mut cmd = Command::new(self.dir.join("bach"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env("BACH_HOME", &env.home)
            .stdin(Stdio::null())
            .process_group(0);
        if ignore_term {
            cmd.env("FAKE_IGNORE_TERM", "1");
        }
        let running = Running(cmd.spawn().unwrap());
        let pid = running.pid();
        wait_until("the stand-in to take its lock", Duration::from_secs(5), || {
            match bach::lock::holder(lock) {
                Ok(Some(p)) if p == pid => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        running
    }

    /// Starts a stand-in daemon of `env`'s home.
    pub fn daemon(&self, env: &Env, ignore_term: bool) -> Running {
        let lock = env.home.join("daemon.lock");
        self.start(env, &["daemon", "run"], &lock, ignore_term)
    }
}

/// A process a test started; killed by its pid and reaped when dropped.
pub struct Running(pub Child);

impl Running {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Whether it still runs (it is our child, so a zombie is not running).
    pub fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    /// Waits until it has exited; returns the signal that ended it.
    pub fn wait_exit(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let status = wait_until("the process to exit", Duration::from_secs(10), || {
            self.0.try_wait().unwrap().ok_or("running")
        });
        status.signal()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.alive() {
            let _ = bach::sys::kill(self.pid(), libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// A process that holds `path` locked but is not bach (plain `python3 -c`).
pub fn stranger(env: &Env, path: &Path) -> Running {
    let prog = format!(
        "import fcntl, os, time\nfd = os.open({:?}, os.O_RDWR | os.O_CREAT)\n\
         fcntl.lockf(fd, fcntl.LOCK_EX)\nwhile True: time.sleep(60)",
        path.to_str().unwrap()
    );
    let running = Running(
        Command::new("python3")
            .args(["-c", &prog])
            .current_dir(&env.root)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = running.pid();
    wait_until(
        "the stranger to take the lock",
        Duration::from_secs(5),
        || match bach::lock::holder(path) {
            Ok(Some(p)) if p == pid => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    running
}

fn holder(env: &Env) -> Option<i32> {
    bach::lock::holder(&env.home.join("daemon.lock")).unwrap()
}

#[test]
fn stop_when_not_running_exits_zero_and_says_so() {
    let env = Env::new("stop-none");
    assert!(env.ok(&["daemon", "stop"]).contains("not running"));
}

#[test]
fn stop_never_signals_whom_daemon_lock_names() {
    let env = Env::new("stop-text");
    fs::create_dir_all(&env.home).unwrap();
    let mut sleeper = Running(Command::new("sleep").arg("30").spawn().unwrap());
    let contents = [String::new(), "garbage\n".into(), "-x".into(), format!("{}\n", sleeper.pid())];
    for text in contents {
        fs::write(env.home.join("daemon.lock"), &text).unwrap();
        let out = env.ok(&["daemon", "stop", "--timeout", "1"]);
        assert!(out.contains("not running"), "{text:?}: {out}");
        assert!(sleeper.alive(), "the process named in daemon.lock was signalled");
    }
    bach::sys::kill(sleeper.pid(), libc::SIGKILL).unwrap();
    assert_eq!(sleeper.wait_exit(), Some(libc::SIGKILL));
}

#[test]
fn stop_refuses_a_lock_holder_that_is_not_bach() {
    let env = Env::new("stop-stranger");
    fs::create_dir_all(&env.home).unwrap();
    let mut other = stranger(&env, &env.home.join("daemon.lock"));
    let err = env.fails(&["daemon", "stop", "--timeout", "1"], 1);
    assert!(err.contains(&format!("held by pid {}", other.pid())), "{err}");
    assert!(err.contains("not signalling it"), "{err}");
    assert!(other.alive());
}

#[test]
fn stop_signals_the_daemon_and_waits_until_the_lock_is_free() {
    let env = Env::new("stop-ok");
    let mut daemon = FakeBach::new(&env).daemon(&env, false);
    let out = env.ok(&["daemon", "stop"]);
    assert_eq!(out, format!("stopped (pid {})\n", daemon.pid()));
    assert_eq!(holder(&env), None);
    assert_eq!(daemon.wait_exit(), Some(libc::SIGTERM));
}

#[test]
fn stop_gives_up_at_the_timeout_and_says_what_to_do() {
    let env = Env::new("stop-stuck");
    let mut daemon = FakeBach::new(&env).daemon(&env, true);
    let pid = daemon.pid();
    let err = env.fails(&["daemon", "stop", "--timeout", "1"], 1);
    assert!(
        err.contains(&format!(
            "daemon pid {pid} did not stop within 1s; \
             try again with a longer --timeout or: kill -KILL {pid}"
        )),
        "{err}"
    );
    assert!(daemon.alive());
    assert_eq!(holder(&env), Some(pid));
}

#[test]
fn stop_watchers_retires_every_watcher_of_this_home_and_nothing_else() {
    let env = Env::new("stop-watchers");
    let fake = FakeBach::new(&env);
    fs::create_dir_all(&env.home).unwrap();
    let mut watchers: Vec<Running> = ["a.jsonl", "b.jsonl"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let artifact = env.artifact(name);
            let key = env.key(&artifact);
            let lock = env.home.join("watch").join(format!("{key}.lock"));
            let args = ["internal", "session-watch", "--key", &key, &artifact];
            // The second one ignores SIGTERM: it gets SIGKILL after 5 s.
            fake.start(&env, &args, &lock, i == 1)
        })
        .collect();
    let mut other = stranger(&env, &env.home.join("watch/0000000000000000.lock"));
    let out = env.ok(&["daemon", "stop", "--watchers"]);
    assert!(out.contains("not running"), "{out}");
    assert!(out.contains("stopped 2 watchers"), "{out}");
    assert_eq!(watchers[0].wait_exit(), Some(libc::SIGTERM));
    assert_eq!(watchers[1].wait_exit(), Some(libc::SIGKILL));
    assert!(other.alive(), "a lock holder that is no watcher was signalled");
}

fn write_log(env: &Env, name: &str, text: &str) -> PathBuf {
    let dir = env.home.join("logs");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), text).unwrap();
    dir.join(name)
}

#[test]
fn logs_print_the_last_lines_escaped() {
    let env = Env::new("logs");
    write_log(&env, "daemon.log", "one\ntwo\nthree \x1b[31mred\nfour\n");
    assert_eq!(env.ok(&["daemon", "logs", "-n", "3"]), "two\nthree \\x1b[31mred\nfour\n");
    assert_eq!(env.ok(&["daemon", "logs", "-n", "9"]).lines().count(), 4);
}

#[test]
fn logs_reach_into_the_rotated_log() {
    let env = Env::new("logs-rotated");
    let log = write_log(&env, "daemon.log", &"old line\n".repeat(600));
    assert!(bach::log::rotate_if_larger(&log, 4096));
    assert!(!log.exists());
    assert_eq!(env.ok(&["daemon", "logs", "-n", "2"]), "old line\nold line\n");
    fs::write(&log, "new line\n").unwrap();
    assert_eq!(env.ok(&["daemon", "logs", "-n", "3"]), "old line\nold line\nnew line\n");
}

#[test]
fn logs_without_a_log_say_so_and_exit_zero() {
    let env = Env::new("logs-none");
    let out = env.run(&["daemon", "logs"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no daemon log yet"), "{err}");
}

/// `bach daemon logs -f`, and its output lines as they come (a thread reads
/// them, so the test waits with a deadline instead of blocking on a read).
fn follow(env: &mut Env) -> (u32, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let (pid, stdout) = follow_raw(env);
    let out = std::io::BufReader::new(stdout);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || out.lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    (pid, rx)
}

/// `bach daemon logs -f -n 1`, killed when the test ends, and its stdout.
fn follow_raw(env: &mut Env) -> (u32, std::process::ChildStdout) {
    let mut child = env
        .cmd(["daemon", "logs", "-f", "-n", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    (env.adopt(child), stdout)
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The lines that come until `want` did, each within 5 s.
fn read_until(lines: &std::sync::mpsc::Receiver<String>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        let done = line == want;
        seen.push(line);
        if done {
            return seen;
        }
    }
    panic!("never saw {want:?} within 5 s; saw {seen:?}");
}

fn ends(env: &mut Env, pid: u32) -> Option<i32> {
    env.wait_child(pid, Duration::from_secs(3)).or_else(|| panic!("logs -f did not end in 3 s"))
}

#[test]
fn logs_follow_prints_new_lines_across_a_rotation_and_ends_on_sigint() {
    let mut env = Env::new("follow");
    let path = write_log(&env, "daemon.log", "first\nsecond\n");
    let (pid, out) = follow(&mut env);
    assert_eq!(read_until(&out, "second"), ["second"], "the last line, then what comes");
    append(&path, "third\n");
    assert_eq!(read_until(&out, "third"), ["third"]);
    fs::rename(&path, path.with_extension("log.1")).unwrap();
    append(&path.with_extension("log.1"), "late in the old file\n");
    append(&path, "fourth \x1b[31m\n");
    assert_eq!(read_until(&out, "fourth \\x1b[31m"), ["late in the old file", "fourth \\x1b[31m"]);
    bach::sys::kill(pid as i32, libc::SIGINT).unwrap();
    assert_eq!(ends(&mut env, pid), Some(0), "SIGINT ends it cleanly");
}

#[test]
fn logs_follow_ends_quietly_when_its_reader_goes() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut env = Env::new("follow-pipe");
    write_log(&env, "daemon.log", "one\n");
    let (pid, mut stdout) = follow_raw(&mut env);
    let mut fd = libc::pollfd { fd: stdout.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    assert_eq!(unsafe { libc::poll(&mut fd, 1, 5000) }, 1, "the last line within 5 s");
    let mut first = [0; 4];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"one\n");
    // The reader goes while the log is quiet: nothing more is written, yet
    // it ends (a closed pipe, not a failed write, tells it).
    drop(stdout);
    assert_eq!(ends(&mut env, pid), Some(0), "a reader gone is no failure");
}

#[cfg(target_os = "linux")]
#[test]
fn daemon_run_in_a_terminal_shows_its_log_there_too() {
    let env = Env::new("tty");
    // `script` gives the daemon a terminal as stdout and stderr.
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c", &format!("{BIN} daemon run"), "/dev/null"]);
    c.env("BACH_HOME", &env.home)
        .env("HOME", &env.user_home)
        .env("PATH", std::env::var("PATH").unwrap());
    let mut child =
        c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    assert!(first.contains("daemon pid ") && first.contains(" started (every 5s"), "{first:?}");
    let lock = env.home.join("daemon.lock");
    let pid = wait_until("the daemon's lock", Duration::from_secs(3), || {
        bach::lock::holder(&lock).ok().flatten().ok_or(())
    });
    bach::sys::kill(pid, libc::SIGTERM).unwrap();
    let code =
        wait_until("script to end", Duration::from_secs(5), || child.try_wait().unwrap().ok_or(()));
    assert_eq!(code.code(), Some(0));
    let log = fs::read_to_string(env.home.join("logs/daemon.log")).unwrap();
    assert!(log.contains(first.trim_end_matches(['\r', '\n'])), "the same line in the log: {log}");
}
