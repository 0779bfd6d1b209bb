//! macOS-minded behaviour that any machine can show: a home whose file
//! system lacks locks or links is refused once, and a daemon whose
//! executable was replaced (an upgrade) exits 75 for its service manager to
//! restart it with the new binary, which adopts the running watchers.

use crate::faults::{secs, test_path, wait_log, watched, Daemon};
use crate::util::*;
use std::fs;
use std::process::Stdio;

#[test]
fn a_home_without_locks_or_links_is_refused_once_and_clearly() {
    for lacks in ["locks", "links"] {
        let env = Env::new(&format!("nofs-{lacks}"));
        let out = env.cmd(["daemon", "run"]).env("BACH_TEST_FS_LACKS", lacks).output().unwrap();
        // Exit 0: launchd (SuccessfulExit false) and systemd (on-failure)
        // restart only a daemon that failed; this one cannot work until moved.
        assert_eq!(out.status.code(), Some(0), "{}", dump(&["daemon", "run"], &out));
        let err = String::from_utf8_lossy(&out.stderr);
        let what = if lacks == "locks" { "fcntl locks" } else { "hard links" };
        let home = fs::canonicalize(&env.home).unwrap();
        assert!(
            err.contains(&format!("{} is on a file system without {what}", home.display()))
                && err.contains("set BACH_HOME to a folder on a local disk"),
            "{err}"
        );
        assert_eq!(holder_of(&env.home.join("daemon.lock")), None, "nothing left running");
        assert!(daemon_log(&env).contains("not supervising"), "{}", daemon_log(&env));
    }
}

fn holder_of(lock: &std::path::Path) -> Option<i32> {
    bach::lock::holder(lock).ok().flatten()
}

#[test]
fn an_upgraded_binary_makes_the_daemon_exit_75_and_the_next_one_adopts_its_watchers() {
    let env = Env::new("upgrade");
    env.write_config(FAST);
    let arts = sessions(&env, 1);
    let bin = env.root.join("cellar");
    fs::create_dir(&bin).unwrap();
    let exe = bin.join("bach");
    copy_exe(BIN, &exe);
    let mut first = Daemon::start(&env, &exe, &test_path(&env), Stdio::null());
    let watcher = watched(&env, &[&arts[0].1], secs(3))[0];
    // `brew upgrade`: a new file is put where the old one was.
    let staged = bin.join(".bach.new");
    copy_exe(BIN, &staged);
    fs::rename(&staged, &exe).unwrap();
    let code = wait_until("the daemon to exit", secs(5), || first.0.try_wait().unwrap().ok_or(()));
    assert_eq!(code.code(), Some(75), "{}", daemon_log(&env));
    wait_log(&env, "exiting 75", secs(1));
    // What a service manager does next: start the (new) binary again.
    env.count_ps();
    let _second = Daemon::start(&env, &exe, &test_path(&env), Stdio::null());
    env.fresh_ticks(2, secs(6));
    assert_eq!(
        holder(&env, &arts[0].1),
        Some(watcher),
        "adopted, not replaced: {}",
        daemon_log(&env)
    );
    let log = daemon_log(&env);
    assert_eq!(log.matches("spawned watcher").count(), 1, "{log}");
    assert!(!log.contains("crashed"), "{log}");
}
