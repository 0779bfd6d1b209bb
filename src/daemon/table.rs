//! The process table as the daemon reads it: `ps` run with its output and
//! the self-pipe polled together (so a signal is handled while `ps` runs),
//! killed with its group at the timeout or a stop, and turned into this
//! home's supervised set, with a pid handle on each watcher the daemon did
//! not fork. Invariant: the table is all or nothing; a `ps` that fails,
//! times out or prints a line that does not parse leaves the table
//! unknown, never partial.

use super::handles::{Handles, Opened, Whose};
use super::wait::Waiter;
use crate::home::Home;
use crate::ps::{self, Proc};
use crate::reconcile::Watcher;
use crate::supervisor::Supervised;
use crate::targets::Me;
use crate::{lock, procs};
use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::process::ChildStdout;
use std::time::Duration;

/// The last process table, while it is known.
#[derive(Default)]
pub struct Table {
    /// The processes, `None` while `ps` fails.
    pub procs: Option<Vec<Proc>>,
    /// A table was read since the loop last slept.
    pub read_this_tick: bool,
}

impl Table {
    /// Runs `ps` for at most `limit`; on success keeps its table.
    pub fn read(&mut self, wait: &mut Waiter, limit: Duration) -> Result<&[Proc], String> {
        self.procs = None;
        let procs = run(wait, limit)?;
        self.read_this_tick = true;
        Ok(self.procs.insert(procs))
    }
}

/// Runs `ps` in the one wait; kills its group unless it ended in time.
fn run(wait: &mut Waiter, limit: Duration) -> Result<Vec<Proc>, String> {
    let mut child = procs::start()?;
    let out = child.stdout.take().ok_or("ps has no output")?;
    wait.ps = Some((child.id() as i32, None));
    let deadline = wait.clock.ms().saturating_add(limit.as_millis() as u64);
    let result = collect(wait, &out, deadline, limit);
    match (result, wait.ps.take().and_then(|(_, exit)| exit)) {
        (Ok(buf), Some(exit)) => {
            procs::finish(&buf, &exit, procs::complaint(&mut child).as_deref())
        }
        (result, _) => {
            procs::kill(&child);
            Err(result.err().unwrap_or_else(|| "ps did not exit".into()))
        }
    }
}

/// Reads `ps`'s output to its end, then waits for the reaper to hand over
/// its exit; a stop or the deadline ends it early.
fn collect(
    wait: &mut Waiter,
    out: &ChildStdout,
    deadline: u64,
    limit: Duration,
) -> Result<Vec<u8>, String> {
    let (mut buf, mut end) = (Vec::new(), false);
    loop {
        if wait.stop {
            return Err("stopping".into());
        }
        end = end || procs::read_some(out, &mut buf)?;
        if end && wait.ps.as_ref().is_some_and(|(_, exit)| exit.is_some()) {
            return Ok(buf);
        }
        if wait.clock.ms() >= deadline {
            return Err(format!("ps did not finish within {}s", limit.as_secs()));
        }
        let out = [out.as_fd()];
        wait.poll(if end { &[] } else { &out }, deadline);
    }
}

/// This home's watchers in `procs`, by key: a watcher of this uid whose key
/// is desired here or has a lock file here. The lock is asked only where it
/// decides, for a key with more than one process.
pub fn supervised(procs: &[Proc], home: &Home, me: &Me, desired: &BTreeSet<String>) -> Supervised {
    let mut out = Supervised::new();
    for w in ps::watchers(procs, me.uid, &me.shown) {
        if desired.contains(&w.key) || home.lock(&w.key).exists() {
            let watcher = Watcher { pid: w.pid, holds_lock: None, artifact: w.artifact };
            out.entry(w.key).or_default().push(watcher);
        }
    }
    for (key, procs) in out.iter_mut().filter(|(_, p)| p.len() > 1) {
        let holder = lock::holder(&home.lock(key)).ok().flatten();
        for p in procs {
            p.holds_lock = Some(holder == Some(p.pid));
        }
    }
    out
}

/// A pid handle on each watcher in `supervised` that the daemon `me` did
/// not fork (its reaper hears of its children), confirmed by the start the
/// table shows; one gone by then leaves the set, so it counts as exited.
/// Handles on watchers no longer in the set are closed.
pub fn watch_watchers(supervised: &mut Supervised, procs: &mut [Proc], me: i32, h: &mut Handles) {
    let stranger = |p: &Proc| p.ppid != me;
    let strangers: BTreeSet<i32> = (supervised.values().flatten())
        .filter_map(|w| ps::find(procs, w.pid).filter(|p| stranger(p)).map(|p| p.pid))
        .collect();
    let watched = |h: &Handles, pid| matches!(h.whose(pid), Some(Whose::Watcher { .. }));
    let new = strangers.iter().copied().filter(|&p| !watched(h, p)).collect();
    procs::add_ticks(procs, &new);
    for (key, ws) in supervised.iter_mut() {
        ws.retain(|w| {
            if !strangers.contains(&w.pid) {
                return true;
            }
            let whose = Whose::Watcher { key: key.clone(), confirmed: true };
            // Opened before this table was read and not fired: that process.
            let who = match watched(h, w.pid) {
                true => None,
                false => match ps::find(procs, w.pid).and_then(procs::start_of) {
                    Some(start) => Some((ps::find(procs, w.pid).map_or(0, |p| p.uid), start)),
                    None => return false, // its start is gone: so is it
                },
            };
            h.open(w.pid, whose, who) != Opened::Gone
        });
    }
    supervised.retain(|_, ws| !ws.is_empty());
    h.keep(|pid, whose| match whose {
        Whose::Watcher { .. } => strangers.contains(&pid),
        Whose::Agent(_) => true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, uid: u32, command: &str) -> Proc {
        let start = "Wed Nov 25 04:31:14 2026".into();
        Proc {
            uid,
            pid,
            ppid: 1,
            pgid: pid,
            zombie: false,
            start,
            command: command.into(),
            ticks: None,
        }
    }

    #[test]
    fn the_supervised_set_is_this_homes_watchers_by_key() {
        let d = std::env::temp_dir().join(format!("bach-table-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("watch")).unwrap();
        let home = Home::at(d.clone());
        let me = Me { uid: 501, shown: "/opt/bach-dev".into() };
        let (desired, locked, other) = ("0000000000000001", "0000000000000002", "0000000000000003");
        std::fs::write(home.lock(locked), b"").unwrap();
        let w = |pid, key: &str| {
            proc(pid, 501, &format!("/opt/bach-dev internal session-watch --key {key} /a/{pid}"))
        };
        let procs = [
            w(10, desired),
            w(11, desired),
            w(12, locked),
            w(13, other),
            proc(14, 0, &format!("/x/bach internal session-watch --key {desired} /a")),
            proc(15, 501, "sleep 30"),
        ];
        let keys = BTreeSet::from([desired.to_string()]);
        let set = supervised(&procs, &home, &me, &keys);
        assert_eq!(
            set.keys().collect::<Vec<_>>(),
            [desired, locked],
            "another home's key is not ours"
        );
        let pids: Vec<(i32, Option<bool>)> =
            set[desired].iter().map(|w| (w.pid, w.holds_lock)).collect();
        assert_eq!(
            pids,
            [(10, Some(false)), (11, Some(false))],
            "two of one key: the lock was asked"
        );
        assert_eq!((set[locked][0].holds_lock, set[locked][0].artifact.as_str()), (None, "/a/12"));
        std::fs::remove_dir_all(d).unwrap();
    }
}
