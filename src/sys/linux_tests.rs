use super::*;
use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A temporary folder for one test, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(tag: &str) -> Temp {
        let path = std::env::temp_dir().join(format!("bach-sys-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Temp(fs::canonicalize(&path).unwrap())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

use crate::testing::Kid;

impl Kid {
    /// Starts `cmd` and waits until its exec is complete: `spawn` returns
    /// while the kernel is still inside exec (a vfork parent is released
    /// before the new command line and name are in place).
    fn spawn(cmd: &mut Command) -> Kid {
        let kid = Kid(cmd.spawn().expect("spawn"));
        wait_until("a command line", || proc_argv(kid.pid()).map(|a| (!a.is_empty(), a)).unwrap());
        kid
    }

    /// `sh -c SCRIPT ARGS...`, blocked reading its stdin (a builtin, so no
    /// grandchild is left behind when it is killed).
    fn sh(script: &str, args: &[&str], setup: impl FnOnce(&mut Command)) -> Kid {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).args(args).stdin(Stdio::piped());
        setup(&mut cmd);
        Kid::spawn(&mut cmd)
    }
}

/// Polls `probe` every 10 ms until it says done, for at most 5 s.
fn wait_until<T: std::fmt::Debug>(what: &str, mut probe: impl FnMut() -> (bool, T)) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (done, seen) = probe();
        if done {
            return seen;
        }
        assert!(Instant::now() < deadline, "expected {what} within 5 s; last saw {seen:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A pid far above `pid_max`, so never a process.
const NO_PID: i32 = 0x7fff_fff0;

fn errno(r: io::Result<impl std::fmt::Debug>) -> Option<i32> {
    r.expect_err("an error").raw_os_error()
}

#[test]
fn proc_stat_of_ourselves_agrees_with_proc() {
    let _reaping = crate::testing::children();
    let st = proc_stat(super::super::getpid()).unwrap();
    let text = fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = text[text.rfind(')').unwrap() + 2..].split(' ').collect();
    assert_eq!(st.ppid, std::os::unix::process::parent_id() as i32);
    assert_eq!(st.start.to_string(), fields[19], "field 22 of {text}");
    assert_eq!(st.uid, fs::metadata("/proc/self").unwrap().uid());
    assert!(!st.zombie);
}

#[test]
fn proc_stat_of_a_child_with_parentheses_in_its_name_then_of_its_zombie() {
    let _reaping = crate::testing::children();
    let tmp = Temp::new("stat");
    let odd = tmp.0.join("a) b (c");
    std::os::unix::fs::symlink("/bin/sleep", &odd).unwrap();
    let mut kid = Kid::spawn(Command::new(&odd).arg("30"));
    let pid = kid.pid();
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm, "a) b (c\n", "the name under test is really in /proc/PID/stat");
    let st = proc_stat(pid).unwrap();
    let ours = proc_stat(super::super::getpid()).unwrap();
    assert_eq!((st.ppid, st.uid, st.zombie), (super::super::getpid(), ours.uid, false));
    assert!(st.start >= ours.start, "child started at {} before us at {}", st.start, ours.start);
    super::super::kill(pid, libc::SIGKILL).unwrap();
    let dead = wait_until("a zombie", || proc_stat(pid).map(|s| (s.zombie, s)).unwrap());
    assert_eq!(dead.start, st.start, "a zombie keeps its start");
    kid.0.wait().unwrap();
    assert_eq!(errno(proc_stat(pid)), Some(libc::ESRCH));
}

#[test]
fn proc_cwd_of_a_child_started_in_a_temp_folder() {
    let _reaping = crate::testing::children();
    let tmp = Temp::new("cwd");
    let kid = Kid::sh("read x", &[], |c| {
        c.current_dir(&tmp.0);
    });
    assert_eq!(proc_cwd(kid.pid()).unwrap(), tmp.0);
}

#[test]
fn proc_argv_keeps_spaces_and_non_ascii() {
    let _reaping = crate::testing::children();
    let kid = Kid::sh("read x", &["a b", "héllo ✓", ""], |_| {});
    let want = ["sh", "-c", "read x", "a b", "héllo ✓", ""];
    assert_eq!(proc_argv(kid.pid()).unwrap(), want);
}

#[test]
fn proc_env_var_of_a_child_given_a_variable() {
    let _reaping = crate::testing::children();
    let bad = OsStr::from_bytes(b"\xff\xfe");
    let kid = Kid::sh("read x", &[], |c| {
        c.env("BACH_T_VAR", "a b é=1").env("BACH_T_EMPTY", "").env("BACH_T_BAD", bad);
    });
    let pid = kid.pid();
    assert_eq!(proc_env_var(pid, "BACH_T_VAR").unwrap().as_deref(), Some("a b é=1"));
    assert_eq!(proc_env_var(pid, "BACH_T_EMPTY").unwrap().as_deref(), Some(""));
    assert_eq!(proc_env_var(pid, "BACH_T_MISSING").unwrap(), None);
    assert_eq!(proc_env_var(pid, "BACH_T").unwrap(), None);
    let err = proc_env_var(pid, "BACH_T_BAD").unwrap_err();
    assert_eq!(err.to_string(), format!("BACH_T_BAD of process {pid} is not UTF-8"));
}

#[test]
fn proc_open_files_of_a_child_holding_a_temp_file() {
    let _reaping = crate::testing::children();
    let tmp = Temp::new("open");
    let held = tmp.0.join("held file é.jsonl");
    fs::write(&held, "{}\n").unwrap();
    let kid = Kid::sh("exec 3<\"$0\"; read x", &[held.to_str().unwrap()], |_| {});
    let open = wait_until("the held file among the open files", || {
        let open = proc_open_files(kid.pid()).unwrap();
        (open.contains(&held), open)
    });
    assert!(open.iter().all(|p| p.is_absolute()), "only paths: {open:?}");
}

#[test]
fn facts_of_a_missing_process_are_esrch() {
    let _reaping = crate::testing::children();
    assert_eq!(errno(proc_stat(NO_PID)), Some(libc::ESRCH));
    assert_eq!(errno(proc_cwd(NO_PID)), Some(libc::ESRCH));
    assert_eq!(errno(proc_argv(NO_PID)), Some(libc::ESRCH));
    assert_eq!(errno(proc_env_var(NO_PID, "HOME")), Some(libc::ESRCH));
    assert_eq!(errno(proc_open_files(NO_PID)), Some(libc::ESRCH));
    assert_eq!(errno(pidfd_open(NO_PID)), Some(libc::ESRCH));
}

#[test]
fn inotify_refuses_missing_paths_and_nul_bytes() {
    let _reaping = crate::testing::children();
    let fd = inotify_init().unwrap();
    let missing = Path::new("/nonexistent/bach-test");
    assert_eq!(errno(inotify_add_watch(fd.as_fd(), missing, libc::IN_CREATE)), Some(libc::ENOENT));
    let err = inotify_add_watch(fd.as_fd(), Path::new("/tmp/a\0b"), libc::IN_CREATE).unwrap_err();
    assert_eq!(err.to_string(), "path contains a NUL byte");
    assert_eq!(errno(inotify_rm_watch(fd.as_fd(), 12345)), Some(libc::EINVAL));
}

#[test]
fn nofile_limit_is_raised_to_the_hard_limit() {
    let _reaping = crate::testing::children();
    let got = raise_nofile_limit().unwrap();
    let limits = fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (words[3], words[4]),
        (got.to_string().as_str(), got.to_string().as_str()),
        "{line}"
    );
}

#[test]
fn fsync_of_a_folder_and_a_file() {
    let _reaping = crate::testing::children();
    let tmp = Temp::new("fsync");
    let file = File::create(tmp.0.join("f")).unwrap();
    full_fsync(&file).unwrap();
    fsync_dir(&tmp.0).unwrap();
    assert_eq!(fsync_dir(&tmp.0.join("missing")).unwrap_err().kind(), io::ErrorKind::NotFound);
}

/// Runs `alarm_child` in a child copy of this test binary.
#[test]
fn alarm_ends_the_process_with_status_0() {
    let _reaping = crate::testing::children();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let out = Command::new(exe)
        .args(["--exact", "sys::linux::tests::alarm_child", "--ignored", "--nocapture"])
        .env("BACH_TEST_ALARM_CHILD", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "status {:?}, stdout {stdout}", out.status);
    assert!(stdout.contains("armed") && !stdout.contains("test result"), "stdout {stdout}");
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(10), "took {took:?}");
}

#[test]
#[ignore = "run in a child process by alarm_ends_the_process_with_status_0"]
fn alarm_child() {
    if std::env::var_os("BACH_TEST_ALARM_CHILD").is_none() {
        return;
    }
    crate::sys::exit_on_alarm(1).unwrap();
    println!("armed");
    std::thread::sleep(Duration::from_secs(30));
    panic!("the alarm did not end the process");
}

#[test]
fn start_secs_is_what_ps_prints_as_lstart() {
    let _reaping = crate::testing::children();
    let me = super::super::getpid();
    let secs = start_secs(proc_stat(me).unwrap().start).unwrap();
    let out = Command::new("ps")
        .args(["-o", "lstart=", "-p", &me.to_string()])
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout).unwrap();
    assert_eq!(crate::time::lstart(secs), shown.split_whitespace().collect::<Vec<_>>().join(" "));
}
