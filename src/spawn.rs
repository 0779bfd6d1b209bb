//! Spawning a watcher: detached (`setsid`), from `/`, with a reduced
//! environment (so it behaves the same whoever spawned it), stdin from
//! `/dev/null` and its output appended to its own log. Every spawner probes
//! the key's lock first: a held lock means the artifact is watched already.

use crate::home::Home;
use crate::{lock, log, sys};
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

/// Variables a watcher keeps from its spawner's environment.
const KEEP: &[&str] = &["HOME", "USER", "LOGNAME", "SHELL", "PATH", "TMPDIR", "TZ", "LANG"];

/// What a spawn did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spawned {
    /// A new watcher runs with this pid (it leads its own session and group).
    Started(i32),
    /// The key's lock is held already, by this pid: nothing was spawned.
    Held(i32),
}

/// Spawns the watcher of `key` unless its lock is held.
pub fn watcher(
    exe: &Path,
    home: &Home,
    key: &str,
    artifact: &str,
    log_max: u64,
) -> io::Result<Spawned> {
    // A lock that cannot even be probed is the watcher's to report.
    if let Ok(Some(holder)) = lock::holder(&home.lock(key)) {
        return Ok(Spawned::Held(holder));
    }
    let path = home.watch_log(key);
    log::rotate_if_larger(&path, log_max);
    let (out, err) = match log::open(&path).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
        Err(_) => (Stdio::null(), Stdio::null()),
    };
    // The test switch that forces polling reaches the watchers too.
    let test = |k: &str| k == crate::events::NO_EVENTS;
    let keep = |k: &OsString| {
        k.to_str().is_some_and(|k| KEEP.contains(&k) || k.starts_with("LC_") || test(k))
    };
    // The parent's copies of the log are dropped with `cmd` when this returns.
    let mut cmd = Command::new(exe);
    cmd.args(["internal", "session-watch", "--key", key, artifact]).current_dir("/").env_clear();
    cmd.envs(std::env::vars_os().filter(|(k, _)| keep(k))).env("BACH_HOME", home.path());
    sys::setsid_on_exec(&mut cmd);
    let child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn()?;
    Ok(Spawned::Started(child.id() as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};

    #[test]
    fn a_watcher_starts_detached_from_slash_with_a_reduced_environment_and_its_log() {
        let _children = crate::testing::children();
        let d = std::env::temp_dir().join(format!("bach-spawn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("home")).unwrap();
        // A stand-in for bach that says what it was given, then goes.
        let exe = d.join("bach");
        let report = d.join("report");
        let script = format!(
            "#!/bin/sh\n{{ echo \"$@\"; pwd; env | sort; ps -o sid= -o pid= -p $$; }} > '{}'\necho to-the-log\n",
            report.display()
        );
        std::fs::write(&exe, script).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = Home::at(d.join("home"));
        std::env::set_var("BACH_SPAWN_TEST_SECRET", "must not pass");
        let deadline = Instant::now() + Duration::from_secs(5);
        // ETXTBSY while another test's child, forked before it execs, holds
        // the script's write descriptor: spawned again.
        let spawned = loop {
            match watcher(&exe, &home, "0123456789abcdef", "/a b", 1 << 20) {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                spawned => break spawned.unwrap(),
            }
        };
        let Spawned::Started(pid) = spawned else { panic!("nothing holds the lock") };
        while sys::reap_any().unwrap().map(|(p, _)| p) != Some(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = std::fs::read_to_string(&report).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("internal session-watch --key 0123456789abcdef /a b"));
        assert_eq!(lines.next(), Some("/"), "it runs from /");
        assert!(text.contains(&format!("BACH_HOME={}", home.as_str())), "{text}");
        assert!(!text.contains("BACH_SPAWN_TEST_SECRET"), "the environment is reduced: {text}");
        let sid_pid: Vec<&str> = text.lines().last().unwrap().split_whitespace().collect();
        assert_eq!(sid_pid[0], sid_pid[1], "it leads a session of its own: {text}");
        let log = std::fs::read_to_string(home.watch_log("0123456789abcdef")).unwrap();
        assert_eq!(log, "to-the-log\n");
        std::env::remove_var("BACH_SPAWN_TEST_SECRET");
        std::fs::remove_dir_all(d).unwrap();
    }
}
