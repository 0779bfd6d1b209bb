//! Whom bach signals, decided in one place. Only a process that holds one of
//! this home's locks (`daemon.lock` or a `watch/KEY.lock`, found with
//! `F_GETLK`), whose pid is greater than 1, and that a fresh `ps` shows with
//! this user's uid and the expected command line: `bach daemon run`, or the
//! watcher of that key. A watcher is signalled by its pid, never its group
//! (a hand-started one may lead a shell job with other members). A judge
//! left by a watcher killed with SIGKILL is signalled by its group only when
//! `ps` shows that group's leader as the judge the watcher recorded.
//!
//! The decisions are pure functions of a process table, so "never pid -1, 0
//! or 1, never a stranger" is proven by unit tests; `sys::kill` refuses
//! those pids once more.

use crate::error::Result;
use crate::home::Home;
use crate::ps::{self, Proc};
use crate::{lock, sys};

/// Who is asking: this user, and this bach as `ps` prints its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The real uid.
    pub uid: u32,
    /// This bach's executable as `ps` prints it ([`ps::shown_path`]).
    pub shown: String,
}

impl Me {
    /// This process.
    pub fn new() -> Result<Me> {
        let exe = crate::home::exe()?;
        Ok(Me { uid: sys::getuid(), shown: ps::shown_path(&exe.to_string_lossy()) })
    }
}

/// Whether a command line as `ps` prints it is the daemon's, `PROGRAM daemon
/// run [--standby]`: PROGRAM is `bach` or a path ending in `/bach` without
/// blanks (so `python3 /x/bach daemon run` is not bach), or exactly this
/// bach's path, which may hold spaces (`/Users/a/My Tools/bach`).
pub fn is_daemon_command(command: &str, me: &Me) -> bool {
    let command = command.trim_end();
    let rest = command.strip_suffix(" --standby").unwrap_or(command);
    let Some(prog) = rest.strip_suffix(" daemon run") else { return false };
    let named = prog == "bach" || prog.ends_with("/bach");
    prog == me.shown || (named && !prog.contains(char::is_whitespace))
}

/// Whether `pid`, the holder of `daemon.lock`, may be signalled: greater
/// than 1, and shown by `ps` with this uid, not a zombie, running
/// `bach daemon run`.
pub fn may_signal_daemon(pid: i32, procs: &[Proc], me: &Me) -> bool {
    pid > 1
        && ps::find(procs, pid)
            .is_some_and(|p| p.uid == me.uid && !p.zombie && is_daemon_command(&p.command, me))
}

/// Whether `pid`, the holder of `watch/KEY.lock`, may be signalled: greater
/// than 1, and shown by `ps` with this uid, not a zombie, as the watcher of
/// exactly that key.
pub fn may_signal_watcher(pid: i32, key: &str, procs: &[Proc], me: &Me) -> bool {
    let ours = |p: &&Proc| p.uid == me.uid && !p.zombie;
    let of_key =
        |p: &Proc| ps::watcher_command(&p.command, &me.shown).is_some_and(|(k, _)| k == key);
    pid > 1 && ps::find(procs, pid).filter(ours).is_some_and(of_key)
}

/// Whether the process group `pgid` is still the judge a dead watcher
/// recorded: its leader (pid = pgid, greater than 1) shown by `ps` with this
/// uid, not a zombie, with the recorded `start` (ticks where the table has
/// them, else `lstart` seconds) and a `/bin/sh -c` command line, or the
/// judge command itself (a shell that `exec`ed it keeps pid and start).
pub fn may_signal_judge(
    pgid: i32,
    start: u64,
    procs: &[Proc],
    me: &Me,
    judge: Option<&str>,
) -> bool {
    let Some(p) = ps::find(procs, pgid).filter(|p| pgid > 1 && p.pgid == pgid) else {
        return false;
    };
    let same_start = match p.ticks {
        Some(t) => t == start,
        None => crate::time::lstart_secs(&p.start) == Some(start),
    };
    let command = p.command.starts_with("/bin/sh -c ") || judge.is_some_and(|j| p.command == j);
    p.uid == me.uid && !p.zombie && same_start && command
}

/// Sends `sig` to the watcher of `key` in `home` if it may be signalled (see
/// [`may_signal_watcher`]), by its pid. Returns the pid signalled.
pub fn signal_watcher(home: &Home, key: &str, procs: &[Proc], me: &Me, sig: i32) -> Option<i32> {
    let pid = lock::holder(&home.lock(key)).ok().flatten()?;
    if !may_signal_watcher(pid, key, procs, me) {
        return None;
    }
    sys::kill(pid, sig).ok().map(|()| pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, uid: u32, zombie: bool, command: &str) -> Proc {
        let start = "Wed Nov 25 04:31:14 2026".into();
        Proc { uid, pid, ppid: 1, pgid: pid, zombie, start, command: command.into(), ticks: None }
    }

    fn me() -> Me {
        Me { uid: 501, shown: "/Users/a/My Tools/bach".into() }
    }

    #[test]
    fn only_bach_daemon_run_is_the_daemon() {
        for ok in [
            "bach daemon run",
            "/usr/local/bin/bach daemon run",
            "./bach daemon run ",
            "/Users/a/My Tools/bach daemon run",
            "/usr/local/bin/bach daemon run --standby",
            "/Users/a/My Tools/bach daemon run --standby",
        ] {
            assert!(is_daemon_command(ok, &me()), "{ok}");
        }
        for not in [
            "python3 /x/bach daemon run",
            "/usr/bin/python3 /x/bach daemon run",
            "/Users/b/My Tools/bach daemon run",
            "/x/bach  daemon run",
            "/x/bach daemon run --now",
            "/x/bach daemon run --standby --standby",
            "/x/bach daemon --standby run",
            "/x/bach daemon run  --standby",
            "/x/notbach daemon run",
            "/x/bach daemon status",
            "/x/bach internal session-watch --key 63507df7e5e672cf /a",
            "sleep 30",
            "",
        ] {
            assert!(!is_daemon_command(not, &me()), "{not}");
        }
    }

    #[test]
    fn never_signals_everyone_our_group_init_or_a_stranger() {
        let uid = 501;
        let table = [
            proc(-1, uid, false, "bach daemon run"),
            proc(0, uid, false, "bach daemon run"),
            proc(1, uid, false, "bach daemon run"),
            proc(40, uid, false, "/x/bach daemon run"),
            proc(41, uid, true, "/x/bach daemon run"),
            proc(42, 0, false, "/x/bach daemon run"),
            proc(43, uid, false, "sleep 30"),
            proc(44, uid, false, "python3 /x/bach daemon run"),
        ];
        for pid in [-1, 0, 1, i32::MIN, 41, 42, 43, 44, 45] {
            assert!(!may_signal_daemon(pid, &table, &me()), "pid {pid}");
        }
        assert!(may_signal_daemon(40, &table, &me()));
    }

    #[test]
    fn a_judge_group_is_signalled_only_while_its_leader_is_that_judge() {
        let judge = |pid: i32, pgid: i32, uid: u32, ticks: Option<u64>, command: &str| Proc {
            pgid,
            ticks,
            ..proc(pid, uid, false, command)
        };
        let table = [
            judge(70, 70, 501, Some(900), "/bin/sh -c sleep 300; true"),
            judge(71, 71, 501, Some(901), "/bin/sh -c judge"),
            judge(72, 70, 501, Some(900), "sleep 300"),
            judge(73, 73, 0, Some(903), "/bin/sh -c judge"),
            judge(74, 74, 501, Some(904), "vim notes"),
            judge(75, 75, 501, Some(905), "sleep 300"),
            judge(76, 76, 501, None, "/bin/sh -c judge"),
            Proc { zombie: true, ..judge(77, 77, 501, Some(907), "/bin/sh -c judge") },
            judge(1, 1, 501, Some(1), "/bin/sh -c judge"),
        ];
        let may = |pgid, start, command| may_signal_judge(pgid, start, &table, &me(), command);
        assert!(may(70, 900, None), "the shell that leads the group");
        assert!(!may(70, 899, None), "another process with that pid");
        assert!(!may(72, 900, None), "not a group leader");
        assert!(!may(73, 903, None), "another user's");
        assert!(!may(74, 904, Some("sleep 300")), "not a judge");
        assert!(may(75, 905, Some("sleep 300")), "a shell that exec'd the judge command");
        assert!(!may(75, 905, None));
        assert!(may(76, 1_795_581_074, None), "no ticks: the start time decides");
        assert!(!may(77, 907, None), "a zombie");
        for pgid in [-1, 0, 1, i32::MIN] {
            assert!(!may(pgid, 1, None), "pgid {pgid}");
        }
    }

    #[test]
    fn a_watcher_is_signalled_only_as_the_watcher_of_its_key() {
        let key = "63507df7e5e672cf";
        let cmd = |k: &str| format!("/x/bach internal session-watch --key {k} /a");
        let table = [
            proc(-1, 501, false, &cmd(key)),
            proc(0, 501, false, &cmd(key)),
            proc(1, 501, false, &cmd(key)),
            proc(50, 501, false, &cmd(key)),
            proc(51, 501, false, &cmd("0000000000000000")),
            proc(52, 0, false, &cmd(key)),
            proc(53, 501, true, &cmd(key)),
            proc(54, 501, false, &format!("/bin/sh -c {}", cmd(key))),
            proc(
                55,
                501,
                false,
                &format!("/Users/a/My Tools/bach internal session-watch --key {key} /a"),
            ),
        ];
        for pid in [-1, 0, 1, i32::MIN, 51, 52, 53, 54, 56] {
            assert!(!may_signal_watcher(pid, key, &table, &me()), "pid {pid}");
        }
        assert!(may_signal_watcher(50, key, &table, &me()));
        assert!(may_signal_watcher(55, key, &table, &me()), "this bach, wherever it lives");
    }
}
